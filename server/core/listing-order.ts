import type { StoredLog } from './log.js';

/**
 * The order every listing of logs uses (GET /api/logs, GET /logs, the dashboard's table, a
 * tail's backlog): newest event time first, and among logs of the same event time the one
 * received last (highest id) first. A cursor is a position in that order: the (time, id) of
 * the last log of a page; the next page is what comes after it. Ids are unique, so the order
 * is total and a cursor stays exact while logs keep arriving: a new log lands before or after
 * the cursor by its event time and is never listed twice or skipped over.
 */

/** A position in the listing order: the event time (epoch ms) and id of a log. */
export interface LogCursor {
  readonly ts: number;
  readonly id: number;
}

/** A log's place in a listing, decoded only when it makes the page. */
export interface Listed {
  readonly ts: number;
  readonly id: number;
  log(): StoredLog;
}

/** Whether the log (ts, id) is listed after `cursor` (and so belongs to the pages after it). */
export function listedAfter(ts: number, id: number, cursor: LogCursor): boolean {
  return ts < cursor.ts || (ts === cursor.ts && id < cursor.id);
}

/** Negative when (ts a, id a) is listed first. */
export function compareListed(aTs: number, aId: number, bTs: number, bId: number): number {
  return bTs - aTs || bId - aId;
}

/** `ts.id`, the text form of a cursor in the API (`next_cursor`, `cursor=`). */
export function formatCursor(c: LogCursor): string {
  return `${c.ts}.${c.id}`;
}

/** The cursor `formatCursor` wrote, or undefined when `text` is not one. */
export function parseCursor(text: string): LogCursor | undefined {
  const m = /^(-?\d{1,16})\.(\d{1,16})$/.exec(text);
  if (m === null) return undefined;
  const ts = Number(m[1]);
  const id = Number(m[2]);
  return Number.isSafeInteger(ts) && Number.isSafeInteger(id) ? { ts, id } : undefined;
}

/**
 * The first `k` of the items offered, in listing order: a bounded heap whose root is the
 * last kept, so an item listed after it is refused at the cost of one comparison. `floorTs`
 * lets a scan stop once nothing left can be listed before what it holds.
 */
export class FirstListed<T> {
  private readonly ts: number[] = [];
  private readonly ids: number[] = [];
  private readonly items: T[] = [];

  constructor(readonly k: number) {}

  get full(): boolean {
    return this.ts.length >= this.k;
  }

  /** Event time of the last item kept (the k-th); -Infinity until k are kept. */
  get floorTs(): number {
    return this.ts.length >= this.k ? this.ts[0]! : -Infinity;
  }

  /** Whether an item at (ts, id) would be kept: cheaper than building the item first. */
  admits(ts: number, id: number): boolean {
    if (this.ts.length < this.k) return this.k > 0;
    return compareListed(ts, id, this.ts[0]!, this.ids[0]!) < 0;
  }

  offer(ts: number, id: number, item: T): void {
    const { ts: t, ids, items } = this;
    if (t.length < this.k) {
      // Sift up: the root is the item listed last.
      let i = t.length;
      t.push(ts);
      ids.push(id);
      items.push(item);
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (compareListed(t[p]!, ids[p]!, ts, id) >= 0) break;
        t[i] = t[p]!;
        ids[i] = ids[p]!;
        items[i] = items[p]!;
        i = p;
      }
      t[i] = ts;
      ids[i] = id;
      items[i] = item;
      return;
    }
    if (this.k === 0 || compareListed(ts, id, t[0]!, ids[0]!) >= 0) return;
    // Replace the root and sift down.
    const n = t.length;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && compareListed(t[r]!, ids[r]!, t[l]!, ids[l]!) > 0 ? r : l;
      if (compareListed(t[c]!, ids[c]!, ts, id) <= 0) break;
      t[i] = t[c]!;
      ids[i] = ids[c]!;
      items[i] = items[c]!;
      i = c;
    }
    t[i] = ts;
    ids[i] = id;
    items[i] = item;
  }

  /** What is kept, in listing order. */
  sorted(): { ts: number; id: number; item: T }[] {
    const out = this.ts.map((ts, i) => ({ ts, id: this.ids[i]!, item: this.items[i]! }));
    return out.sort((a, b) => compareListed(a.ts, a.id, b.ts, b.id));
  }
}

/** The first `k` of two lists each in listing order, in listing order. */
export function mergeListed(a: readonly Listed[], b: readonly Listed[], k: number): Listed[] {
  const out: Listed[] = [];
  let i = 0;
  let j = 0;
  while (out.length < k && (i < a.length || j < b.length)) {
    if (j >= b.length || (i < a.length && compareListed(a[i]!.ts, a[i]!.id, b[j]!.ts, b[j]!.id) < 0)) out.push(a[i++]!);
    else out.push(b[j++]!);
  }
  return out;
}

/**
 * The page of `limit` logs after skipping `offset`, from the first `offset + limit + 1` listed:
 * one more than the page tells whether a next page exists; its cursor is the page's last log.
 */
export function pageOf(listed: readonly Listed[], offset: number, limit: number): { logs: StoredLog[]; next: LogCursor | null } {
  const logs = listed.slice(offset, offset + limit).map((l) => l.log());
  const last = logs[logs.length - 1];
  return { logs, next: listed.length > offset + limit && last !== undefined ? { ts: last.ts, id: last.id } : null };
}
