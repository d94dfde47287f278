import { SPAN_INTS, scanObjects } from './json-spans.js';
import { LEVELS, StoredLog, levelIndex, type BatchOrigin, type Level, type LogSink } from './log.js';

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

/** A block of off-heap memory holding log texts back to back; freed once no held log is in it. */
class Segment {
  used = 0;
  live = 0;
  constructor(readonly buf: Buffer) {}
}

/** Segments of the standard size kept for reuse instead of freed: two cover a buffer that keeps turning over. */
const SPARE_SEGMENTS = 2;

interface TextOnly {
  timestamp: string;
  message: string;
  metadata?: Record<string, unknown>;
}

/**
 * The in-memory tier: the most recent `capacity` logs, in id order, queried newest first.
 *
 * Laid out to keep logs off the V8 heap, which is what ingest and every garbage collection
 * pay for (BENCHMARKS.md, "Young generation"): numbers and the level live in typed-array
 * columns of a ring; service and user are references to the interned strings the cardinality
 * caps hand out; and the rest of each log (timestamp text, message, metadata) stays as JSON
 * bytes in off-heap segments: the log's own bytes from the request when the batch came with
 * them (found by `bodySpans`, copied in one piece per batch), else encoded here. A log is
 * decoded only when a query returns it; a text search decodes just the message, whose place
 * in the bytes was noted at append.
 */
export class LogStore implements LogSink {
  readonly capacity: number;
  private head = 0;
  private count = 0;
  private readonly ids: Float64Array;
  private readonly times: Float64Array;
  private readonly received: Float64Array;
  private readonly levels: Uint8Array;
  private readonly services: string[];
  private readonly users: (string | undefined)[];
  /** Where each log's JSON text is: segment number, offset and length in it. */
  private readonly segOf: Int32Array;
  private readonly offsets: Int32Array;
  private readonly lengths: Int32Array;
  /** The message's text between its quotes, relative to the log's offset; -1 when the JSON must be parsed to find it. */
  private readonly msgStarts: Int32Array;
  private readonly msgEnds: Int32Array;
  private readonly segments = new Map<number, Segment>();
  private readonly spare: Buffer[] = [];
  private current: Segment | undefined;
  private currentSeq = -1;
  private readonly segmentBytes: number;
  private readonly scratch = new Int32Array(SPAN_INTS);

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
    this.capacity = capacity;
    this.ids = new Float64Array(capacity);
    this.times = new Float64Array(capacity);
    this.received = new Float64Array(capacity);
    this.levels = new Uint8Array(capacity);
    this.services = new Array<string>(capacity).fill('');
    this.users = new Array<string | undefined>(capacity).fill(undefined);
    this.segOf = new Int32Array(capacity);
    this.offsets = new Int32Array(capacity);
    this.lengths = new Int32Array(capacity);
    this.msgStarts = new Int32Array(capacity);
    this.msgEnds = new Int32Array(capacity);
    // About 64 bytes of segment per slot, between 64 KiB and 8 MiB: small buffers stay small.
    this.segmentBytes = Math.min(8 << 20, Math.max(64 << 10, capacity * 64));
  }

  get size(): number {
    return this.count;
  }

  /** Bytes of off-heap segments held (the texts of the logs held, plus the free end of the newest segment). */
  get segmentMemory(): number {
    let total = 0;
    for (const s of this.segments.values()) total += s.buf.length;
    return total;
  }

  private slot(i: number): number {
    const s = this.head + i;
    return s >= this.capacity ? s - this.capacity : s;
  }

  append(logs: readonly StoredLog[], origin?: BatchOrigin): void {
    const n = logs.length;
    if (n === 0) return;
    const spans = origin?.spans;
    // The batch's bytes, from its first stored log to its last, copied in one piece when they fit a segment.
    let regionOffset = -1;
    let regionStart = 0;
    let regionSeq = -1;
    let region: Segment | undefined;
    if (spans !== undefined) {
      const first = spans[origin!.items[0]! * SPAN_INTS]!;
      const last = spans[origin!.items[n - 1]! * SPAN_INTS + 1]!;
      if (first >= 0 && last > first && last - first <= this.segmentBytes) {
        regionOffset = this.place(origin!.bytes, first, last);
        regionStart = first;
        regionSeq = this.currentSeq;
        region = this.current!;
        // Pinned while the batch is stored: a log encoded on the way may open a new segment, and this one must not be freed empty.
        region.live++;
      }
    }
    for (let j = 0; j < n; j++) {
      const log = logs[j]!;
      let slot: number;
      if (this.count < this.capacity) slot = this.slot(this.count++);
      else {
        slot = this.head;
        this.release(slot);
        this.head = this.head + 1 === this.capacity ? 0 : this.head + 1;
      }
      this.ids[slot] = log.id;
      this.times[slot] = log.ts;
      this.received[slot] = log.receivedAt;
      this.levels[slot] = levelIndex(log.level);
      this.services[slot] = log.service;
      this.users[slot] = log.userId;
      const at = spans === undefined ? -1 : origin!.items[j]! * SPAN_INTS;
      const start = at < 0 ? -1 : spans![at]!;
      if (start >= 0) {
        const end = spans![at + 1]!;
        this.lengths[slot] = end - start;
        const m = spans![at + 2]!;
        this.msgStarts[slot] = m < 0 ? -1 : m - start;
        this.msgEnds[slot] = m < 0 ? -1 : spans![at + 3]! - start;
        if (region !== undefined) {
          this.offsets[slot] = regionOffset + (start - regionStart);
          this.segOf[slot] = regionSeq;
          region.live++;
          continue;
        }
        this.offsets[slot] = this.place(origin!.bytes, start, end);
      } else this.encode(slot, log);
      this.segOf[slot] = this.currentSeq;
      this.current!.live++;
    }
    if (region !== undefined && --region.live === 0 && regionSeq !== this.currentSeq) this.drop(regionSeq, region);
  }

  /** A log that came without its bytes (another protocol's adapter, a restart's reload): its texts encoded as JSON here. */
  private encode(slot: number, log: StoredLog): void {
    const text: TextOnly = { timestamp: log.timestamp, message: log.message };
    if (log.metadata !== undefined) text.metadata = log.metadata;
    const bytes = Buffer.from(JSON.stringify(text));
    const found = scanObjects(bytes, 0, bytes.length, 0, this.scratch, 0);
    this.offsets[slot] = this.place(bytes, 0, bytes.length);
    this.lengths[slot] = bytes.length;
    this.msgStarts[slot] = found === 1 ? this.scratch[2]! : -1;
    this.msgEnds[slot] = found === 1 ? this.scratch[3]! : -1;
  }

  /** Copies `src[start, end)` into the current segment (a new one when it does not fit); returns its offset there. */
  private place(src: Buffer, start: number, end: number): number {
    const size = end - start;
    let seg = this.current;
    if (seg === undefined || seg.used + size > seg.buf.length) seg = this.openSegment(size);
    const offset = seg.used;
    src.copy(seg.buf, offset, start, end);
    seg.used += size;
    return offset;
  }

  private openSegment(atLeast: number): Segment {
    const old = this.current;
    if (old !== undefined && old.live === 0) this.drop(this.currentSeq, old);
    const buf = atLeast <= this.segmentBytes ? (this.spare.pop() ?? Buffer.allocUnsafeSlow(this.segmentBytes)) : Buffer.allocUnsafeSlow(atLeast);
    const seg = new Segment(buf);
    this.currentSeq++;
    this.segments.set(this.currentSeq, seg);
    this.current = seg;
    return seg;
  }

  /** The slot's log leaves: its segment is freed once it holds no log (and is not being written). */
  private release(slot: number): void {
    const seq = this.segOf[slot]!;
    const seg = this.segments.get(seq)!;
    if (--seg.live === 0 && seq !== this.currentSeq) this.drop(seq, seg);
    this.users[slot] = undefined;
  }

  private drop(seq: number, seg: Segment): void {
    this.segments.delete(seq);
    if (seg.buf.length === this.segmentBytes && this.spare.length < SPARE_SEGMENTS) this.spare.push(seg.buf);
  }

  /** The log in `slot`, decoded. */
  private read(slot: number): StoredLog {
    const seg = this.segments.get(this.segOf[slot]!)!;
    const offset = this.offsets[slot]!;
    const text = JSON.parse(seg.buf.toString('utf8', offset, offset + this.lengths[slot]!)) as TextOnly;
    return new StoredLog(
      this.ids[slot]!,
      this.times[slot]!,
      text.timestamp,
      LEVELS[this.levels[slot]!]!,
      this.services[slot]!,
      text.message,
      this.users[slot],
      text.metadata,
      this.received[slot]!,
    );
  }

  /** The message of the log in `slot`, decoding only its bytes when their place is known. */
  private message(slot: number): string {
    const buf = this.segments.get(this.segOf[slot]!)!.buf;
    const offset = this.offsets[slot]!;
    const start = this.msgStarts[slot]!;
    if (start < 0) return (JSON.parse(buf.toString('utf8', offset, offset + this.lengths[slot]!)) as TextOnly).message;
    const raw = buf.toString('utf8', offset + start, offset + this.msgEnds[slot]!);
    return raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
  }

  /** The filter of `q` over slots: columns first, the message decoded only for logs that pass the rest. */
  private compile(q: LogQuery): (slot: number) => boolean {
    const services = q.services && q.services.length > 0 ? new Set(q.services) : undefined;
    let levelMask = 0;
    for (const level of q.levels ?? []) levelMask |= 1 << levelIndex(level);
    const text = q.text ? textMatcher(q.text) : undefined;
    const { from, to, receivedFrom, receivedTo, userId } = q;
    const { times, received, levels } = this;
    return (slot) =>
      (services === undefined || services.has(this.services[slot]!)) &&
      (levelMask === 0 || ((levelMask >> levels[slot]!) & 1) === 1) &&
      (from === undefined || times[slot]! >= from) &&
      (to === undefined || times[slot]! <= to) &&
      (receivedFrom === undefined || received[slot]! >= receivedFrom) &&
      (receivedTo === undefined || received[slot]! <= receivedTo) &&
      (userId === undefined || this.users[slot] === userId) &&
      (text === undefined || text(this.message(slot)));
  }

  /** Logical index of the newest log with id < beforeId (ids ascend with the index). */
  private startIndex(beforeId: number | undefined): number {
    const last = this.count - 1;
    if (beforeId === undefined) return last;
    let lo = 0;
    let hi = last;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ids[this.slot(mid)]! < beforeId) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** Id of the oldest log held, or undefined when empty. */
  oldestId(): number | undefined {
    return this.count === 0 ? undefined : this.ids[this.head];
  }

  /**
   * Newest first. Stops as soon as the page is full, so a narrow page of a large buffer is
   * cheap. `skipped` says how much of `offset` the buffer used up, for a tier below to go on.
   */
  query(q: LogQuery): LogPage & { skipped: number } {
    const match = this.compile(q);
    const logs: StoredLog[] = [];
    let skip = q.offset ?? 0;
    for (let i = this.startIndex(q.beforeId); i >= 0; i--) {
      const slot = this.slot(i);
      if (!match(slot)) continue;
      if (skip > 0) {
        skip--;
        continue;
      }
      if (logs.length === q.limit) return { logs, nextBeforeId: logs[logs.length - 1]!.id, skipped: q.offset ?? 0 };
      logs.push(this.read(slot));
    }
    return { logs, nextBeforeId: null, skipped: (q.offset ?? 0) - skip };
  }

  /** The `n` newest logs, newest first. */
  recent(n: number): StoredLog[] {
    const out: StoredLog[] = [];
    for (let i = this.count - 1; i >= 0 && out.length < n; i--) out.push(this.read(this.slot(i)));
    return out;
  }

  /** Removes logs whose event time is before `ts`; returns how many. */
  deleteBefore(ts: number): number {
    const { times } = this;
    return this.removeWhere((slot) => times[slot]! < ts);
  }

  /** Removes logs with an id below `minId` or received before `receivedBefore` (retention); returns how many. */
  removeExpired(minId: number, receivedBefore: number): number {
    const { ids, received } = this;
    return this.removeWhere((slot) => ids[slot]! < minId || received[slot]! < receivedBefore);
  }

  /** Removes every log whose slot matches, keeping order; returns how many went. O(size). */
  private removeWhere(gone: (slot: number) => boolean): number {
    let write = 0;
    const kept = this.count;
    for (let read = 0; read < kept; read++) {
      const from = this.slot(read);
      if (gone(from)) {
        this.release(from);
        continue;
      }
      if (write !== read) this.move(from, this.slot(write));
      write++;
    }
    for (let i = write; i < kept; i++) {
      const slot = this.slot(i);
      this.services[slot] = '';
      this.users[slot] = undefined;
    }
    this.count = write;
    return kept - write;
  }

  private move(from: number, to: number): void {
    this.ids[to] = this.ids[from]!;
    this.times[to] = this.times[from]!;
    this.received[to] = this.received[from]!;
    this.levels[to] = this.levels[from]!;
    this.services[to] = this.services[from]!;
    this.users[to] = this.users[from];
    this.segOf[to] = this.segOf[from]!;
    this.offsets[to] = this.offsets[from]!;
    this.lengths[to] = this.lengths[from]!;
    this.msgStarts[to] = this.msgStarts[from]!;
    this.msgEnds[to] = this.msgEnds[from]!;
  }
}
