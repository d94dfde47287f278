/** The key that client-chosen values fold into once a map reaches its cap. */
export const OTHER = 'other';

/**
 * Admits at most `cap` distinct client-chosen keys (service names, user ids). Past the cap,
 * a new key resolves to OTHER and the fold is counted, so memory stays bounded whatever
 * clients send. Admitted keys are also interned: every log of a service shares one string.
 */
export class KeyCap {
  private readonly known = new Map<string, string>();
  /** How many values were folded into OTHER because the cap was reached. */
  folded = 0;

  constructor(readonly cap: number) {}

  /**
   * Admits `key` if there is room, counts a fold if not (ingest calls it once per accepted
   * log, through admitKey). Returns the interned string for an admitted key, `key` itself otherwise.
   */
  admit(key: string): string {
    const counted = this.admitKey(key);
    return counted === OTHER ? key : counted;
  }

  /**
   * `admit` for a value that also needs its counting key: the interned string when admitted
   * (which is then also the key), else OTHER (and the caller keeps its own string).
   */
  admitKey(key: string): string {
    const interned = this.known.get(key);
    if (interned !== undefined) return interned;
    if (this.known.size < this.cap) {
      this.known.set(key, key);
      return key;
    }
    this.folded++;
    return OTHER;
  }

  /** The map key to count `key` under: itself once admitted, OTHER otherwise. Never counts. */
  keyOf(key: string): string {
    return this.known.has(key) ? key : OTHER;
  }

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
