import { RingBuffer } from './ring-buffer.js';
import type { Level, LogSink, StoredLog } from './log.js';

/** A filter over logs. Every field is optional; present fields must all match. */
export interface LogQuery {
  services?: readonly string[];
  levels?: readonly Level[];
  /** Event time range, epoch ms, inclusive. */
  from?: number;
  to?: number;
  /** Receive time range, epoch ms, inclusive. */
  receivedFrom?: number;
  receivedTo?: number;
  userId?: string;
  /** Case-insensitive substring of the message. */
  text?: string;
  /** Only logs with id below this (the cursor of the previous page). */
  beforeId?: number;
  limit: number;
  /** Matches to skip before the page starts (seed 000's paging). */
  offset?: number;
}

export interface LogPage {
  logs: StoredLog[];
  /** Pass as beforeId to get the next page; null when this page is the last. */
  nextBeforeId: number | null;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Case-insensitive substring test, the one meaning of `q` in every tier. */
export function textMatcher(text: string): (message: string) => boolean {
  const re = new RegExp(escapeRegExp(text), 'i');
  return (message) => re.test(message);
}

/** Builds one predicate for a query so the scan does no per-log setup; live tails (tail.ts) match with it too. */
export function compileFilter(q: LogQuery): (log: StoredLog) => boolean {
  const services = q.services && q.services.length > 0 ? new Set(q.services) : undefined;
  const levels = q.levels && q.levels.length > 0 ? new Set<string>(q.levels) : undefined;
  const text = q.text ? textMatcher(q.text) : undefined;
  const { from, to, receivedFrom, receivedTo, userId } = q;
  return (log) =>
    (services === undefined || services.has(log.service)) &&
    (levels === undefined || levels.has(log.level)) &&
    (from === undefined || log.ts >= from) &&
    (to === undefined || log.ts <= to) &&
    (receivedFrom === undefined || log.receivedAt >= receivedFrom) &&
    (receivedTo === undefined || log.receivedAt <= receivedTo) &&
    (userId === undefined || log.userId === userId) &&
    (text === undefined || text(log.message));
}

/** The in-memory tier: the most recent `capacity` logs, in id order, queried newest first. */
export class LogStore implements LogSink {
  private readonly buffer: RingBuffer<StoredLog>;

  constructor(capacity: number) {
    this.buffer = new RingBuffer<StoredLog>(capacity);
  }

  get size(): number {
    return this.buffer.size;
  }

  get capacity(): number {
    return this.buffer.capacity;
  }

  append(logs: readonly StoredLog[]): void {
    for (const log of logs) this.buffer.push(log);
  }

  /** Logical index of the newest log with id < beforeId (ids ascend with the index). */
  private startIndex(beforeId: number | undefined): number {
    const last = this.buffer.size - 1;
    if (beforeId === undefined) return last;
    let lo = 0;
    let hi = last;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.buffer.at(mid)!.id < beforeId) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** Id of the oldest log held, or undefined when empty. */
  oldestId(): number | undefined {
    return this.buffer.at(0)?.id;
  }

  /**
   * Newest first. Stops as soon as the page is full, so a narrow page of a large buffer is
   * cheap. `skipped` says how much of `offset` the buffer used up, for a tier below to go on.
   */
  query(q: LogQuery): LogPage & { skipped: number } {
    const match = compileFilter(q);
    const logs: StoredLog[] = [];
    let skip = q.offset ?? 0;
    for (let i = this.startIndex(q.beforeId); i >= 0; i--) {
      const log = this.buffer.at(i)!;
      if (!match(log)) continue;
      if (skip > 0) {
        skip--;
        continue;
      }
      if (logs.length === q.limit) return { logs, nextBeforeId: logs[logs.length - 1]!.id, skipped: q.offset ?? 0 };
      logs.push(log);
    }
    return { logs, nextBeforeId: null, skipped: (q.offset ?? 0) - skip };
  }

  /** The `n` newest logs, newest first. */
  recent(n: number): StoredLog[] {
    const out: StoredLog[] = [];
    for (let i = this.buffer.size - 1; i >= 0 && out.length < n; i--) out.push(this.buffer.at(i)!);
    return out;
  }

  /** Removes logs whose event time is before `ts`; returns how many. */
  deleteBefore(ts: number): number {
    return this.buffer.removeWhere((log) => log.ts < ts);
  }

  removeWhere(predicate: (log: StoredLog) => boolean): number {
    return this.buffer.removeWhere(predicate);
  }
}
