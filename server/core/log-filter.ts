import type { LogCursor } from './listing-order.js';
import { levelIndex, LEVELS, type Level, type StoredLog } from './log.js';

/**
 * What a log query means, once. GET /api/logs, GET /logs, the live tail and the durable tier
 * all filter through a LogFilter, each with the evaluator its data needs: a log object (the
 * tail, a decoded chunk), the columns of the recent-logs buffer, or the summary row of a
 * stored chunk. A new filter field is a field of LogQuery and a clause in each evaluator
 * below, all in this file.
 */

/** A filter over logs, and the page wanted. Every filter field is optional; present fields must all match. */
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
  /** Only logs of this message pattern (StoredLog.patternId). */
  patternId?: number;
  /** Only logs listed after this position (the previous page's last log): core/listing-order.ts. */
  before?: LogCursor;
  /** Only logs with an id below this: what a tier below the buffer adds to it. */
  idBelow?: number;
  limit: number;
  /** Matches to skip before the page starts (GET /logs' `offset`). */
  offset?: number;
}

/** The filter fields of a query: what a live tail, which has no pages, takes. */
export type LogFilterFields = Omit<LogQuery, 'limit' | 'before' | 'idBelow' | 'offset'>;

/** A page of a listing: newest event time first (core/listing-order.ts). */
export interface LogPage {
  logs: StoredLog[];
  /** Pass as `before` to get the next page; null when this page is the last. */
  next: LogCursor | null;
}

/** The recent-logs buffer's columns, by slot (core/recent-logs.ts): what the per-slot evaluator reads. */
export interface LogColumns {
  readonly times: Float64Array;
  readonly received: Float64Array;
  /** Index in LEVELS. */
  readonly levels: Uint8Array;
  readonly services: readonly string[];
  readonly users: readonly (string | undefined)[];
  /** Pattern ids (0: none). */
  readonly patterns: Float64Array;
  /** The message of the log in `slot`, decoded only when asked. */
  message(slot: number): string;
}

/** What a stored chunk's summary row says about the logs in it (storage/sqlite-repository.ts). */
export interface ChunkSummary {
  lastId: number;
  minTs: number;
  maxTs: number;
  minReceived: number;
  maxReceived: number;
  /** Bit `levelIndex(l)` set for each level present. */
  levels: number;
  /** The services present, as the text of a JSON array of strings. */
  services: string;
}

const MIN = Number.MIN_SAFE_INTEGER;
const MAX = Number.MAX_SAFE_INTEGER;
const ALL_LEVELS = (1 << LEVELS.length) - 1;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A compiled LogQuery: its fields normalized once, so evaluation does no per-log setup. */
export class LogFilter {
  /** Inclusive bounds; open ends are the safe-integer limits (what SQL parameters can carry). */
  readonly from: number;
  readonly to: number;
  readonly receivedFrom: number;
  readonly receivedTo: number;
  /** Bit `levelIndex(l)` set for each level asked for; every bit when none was. */
  readonly levelMask: number;
  readonly services: ReadonlySet<string> | undefined;
  readonly userId: string | undefined;
  readonly patternId: number | undefined;
  private readonly text: RegExp | undefined;
  /** The services as they appear quoted in a chunk's JSON list of services. */
  private readonly serviceNeedles: string[] | undefined;
  private readonly userNeedle: string | undefined;

  constructor(q: LogFilterFields) {
    this.from = q.from ?? MIN;
    this.to = q.to ?? MAX;
    this.receivedFrom = q.receivedFrom ?? MIN;
    this.receivedTo = q.receivedTo ?? MAX;
    this.levelMask = q.levels && q.levels.length > 0 ? q.levels.reduce((m, l) => m | (1 << levelIndex(l)), 0) : ALL_LEVELS;
    if (q.services && q.services.length > 0) {
      this.services = new Set(q.services);
      this.serviceNeedles = q.services.map((s) => JSON.stringify(s));
    }
    this.userId = q.userId;
    this.patternId = q.patternId;
    if (q.userId !== undefined) this.userNeedle = JSON.stringify(q.userId);
    // The one meaning of `q`: a case-insensitive substring of the message.
    if (q.text) this.text = new RegExp(escapeRegExp(q.text), 'i');
  }

  private matchesText(message: string): boolean {
    return this.text === undefined || this.text.test(message);
  }

  /** Per log: the tail, and logs decoded from a stored chunk. Paging (the cursor) is the listing's business. */
  matches(log: StoredLog): boolean {
    return (
      (this.services === undefined || this.services.has(log.service)) &&
      ((this.levelMask >> levelIndex(log.level)) & 1) === 1 &&
      log.ts >= this.from &&
      log.ts <= this.to &&
      log.receivedAt >= this.receivedFrom &&
      log.receivedAt <= this.receivedTo &&
      (this.userId === undefined || log.userId === this.userId) &&
      (this.patternId === undefined || log.patternId === this.patternId) &&
      this.matchesText(log.message)
    );
  }

  /** Per slot of the recent-logs buffer: columns first, the message decoded only for slots that pass the rest. */
  slotMatcher(cols: LogColumns): (slot: number) => boolean {
    const { services, levelMask, from, to, receivedFrom, receivedTo, userId, patternId, text } = this;
    const { times, received, levels, patterns } = cols;
    return (slot) =>
      (services === undefined || services.has(cols.services[slot]!)) &&
      ((levelMask >> levels[slot]!) & 1) === 1 &&
      times[slot]! >= from &&
      times[slot]! <= to &&
      received[slot]! >= receivedFrom &&
      received[slot]! <= receivedTo &&
      (userId === undefined || cols.users[slot] === userId) &&
      (patternId === undefined || patterns[slot] === patternId) &&
      (text === undefined || text.test(cols.message(slot)));
  }

  /** Whether deciding needs each log (user id, message, pattern): a chunk's summary does not hold them. */
  get readsText(): boolean {
    return this.userId !== undefined || this.text !== undefined || this.patternId !== undefined;
  }

  /**
   * Per stored chunk, from its summary: false only when no log in it can match. The ranges
   * and levels are also what the SQL scan bounds its rows by (the fields above).
   */
  chunkMayMatch(c: ChunkSummary): boolean {
    if (c.maxTs < this.from || c.minTs > this.to || c.maxReceived < this.receivedFrom || c.minReceived > this.receivedTo) return false;
    if ((c.levels & this.levelMask) === 0) return false;
    const needles = this.serviceNeedles;
    if (needles === undefined) return true;
    for (const n of needles) if (c.services.includes(n)) return true;
    return false;
  }

  /**
   * Per stored chunk, from its body's JSON text: false only when no log in it can match the
   * user id or text filters. A text without a backslash has no escapes, so every string in it
   * (each message, each user id) stands in it literally: a message the search matches makes
   * the search match the body (it is a substring test), and a user id shows as its JSON
   * quote. With escapes, the logs are decoded and matched one by one.
   */
  bodyMayMatch(body: string): boolean {
    if (body.includes('\\')) return true;
    if (this.userNeedle !== undefined && !body.includes(this.userNeedle)) return false;
    return this.matchesText(body);
  }
}
