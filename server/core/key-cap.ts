/** The key that client-chosen values fold into once a map reaches its cap. */
export const OTHER = 'other';

/** Turns the indexes a KeyCap hands out back into keys: what counters kept in arrays by index are named by. */
export interface KeyNames {
  keyAt(index: number): string;
}

/**
 * Admits at most `cap` distinct client-chosen keys (service names, user ids). Past the cap,
 * a new key resolves to OTHER and the fold is counted, so memory stays bounded whatever
 * clients send. Admitted keys are also interned: every log of a service shares one string.
 */
export class KeyCap implements KeyNames {
  /** Admitted keys, each with its index in `keys`. */
  private readonly known = new Map<string, number>();
  /** The admitted keys by index, interned; then OTHER, once a value is counted under it and no client's own "other" was admitted. */
  private readonly keys: string[] = [];
  private foldIndex = -1;
  /** How many values were folded into OTHER because the cap was reached. */
  folded = 0;

  constructor(readonly cap: number) {}

  /** The index of `key`, admitting it if there is room; -1 (and a fold counted) past the cap. */
  private lookup(key: string): number {
    const index = this.known.get(key);
    if (index !== undefined) return index;
    if (this.known.size < this.cap) {
      // Folding starts only once the cap is reached, so no admitted key comes after OTHER's fold index.
      this.known.set(key, this.keys.length);
      this.keys.push(key);
      return this.keys.length - 1;
    }
    this.folded++;
    return -1;
  }

  /**
   * Admits `key` if there is room, counts a fold if not (the start-up restore admits the
   * services it reloads). Returns the interned string for an admitted key, `key` itself otherwise.
   */
  admit(key: string): string {
    const index = this.lookup(key);
    return index < 0 ? key : this.keys[index]!;
  }

  /**
   * Admits `key` like `admit` (ingest calls it once per accepted log) and returns the index of
   * its counting key, for counters kept in arrays: `keyAt` of it is the interned key, or OTHER
   * past the cap. Equal counting keys get equal indexes, OTHER included.
   */
  admitIndex(key: string): number {
    const index = this.lookup(key);
    return index < 0 ? this.otherIndex() : index;
  }

  /** The index whose key is OTHER: a client's own "other" if admitted, else one kept for folded values. */
  otherIndex(): number {
    const own = this.known.get(OTHER);
    if (own !== undefined) return own;
    if (this.foldIndex < 0) {
      this.foldIndex = this.keys.length;
      this.keys.push(OTHER);
    }
    return this.foldIndex;
  }

  /** The counting key of an index from admitIndex or otherIndex. */
  keyAt(index: number): string {
    const key = this.keys[index];
    if (key === undefined) throw new RangeError(`no key has index ${index}`);
    return key;
  }

  /** `keyOf` as an index: the index of `key` once admitted, OTHER's otherwise. Never counts. */
  indexOf(key: string): number {
    return this.known.get(key) ?? this.otherIndex();
  }

  /** The map key to count `key` under: itself once admitted, OTHER otherwise. Never counts. */
  keyOf(key: string): string {
    return this.known.has(key) ? key : OTHER;
  }

  /** Admitted keys (OTHER's fold index is not one). */
  get size(): number {
    return this.known.size;
  }
}

/** Increments counts in a map; returns the new count. */
export function bump<K>(map: Map<K, number>, key: K, by = 1): number {
  const next = (map.get(key) ?? 0) + by;
  map.set(key, next);
  return next;
}

/** The `n` largest entries of a count map, largest first, ties by key. O(size · log n). */
export function topN<K>(counts: Iterable<[K, number]>, n: number): [K, number][] {
  const ranksBefore = (a: [K, number], b: [K, number]): boolean => a[1] > b[1] || (a[1] === b[1] && String(a[0]) < String(b[0]));
  const top: [K, number][] = [];
  for (const entry of counts) {
    if (top.length === n && !ranksBefore(entry, top[n - 1]!)) continue;
    let i = top.length;
    while (i > 0 && ranksBefore(entry, top[i - 1]!)) i--;
    top.splice(i, 0, entry);
    if (top.length > n) top.pop();
  }
  return top;
}
