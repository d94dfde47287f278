import { SPAN_INTS, jsonSpans, ndjsonSpans, scanObjects } from './json-spans.js';
import { LogFilter, type LogColumns, type LogFilterFields, type LogPage, type LogQuery } from './log-filter.js';
import { compareListed, pageOf, type Listed } from './listing-order.js';
import { LEVELS, StoredLog, levelIndex } from './log.js';

/**
 * The request bytes an accepted batch was parsed from, so the buffer can keep each log as the
 * bytes it came in: the body as decoded, its format, how many items it held, and for each
 * accepted log, in order, the index of its item. Only ingest (core/ingest.ts) makes one, and
 * only this buffer reads it.
 */
export interface BatchOrigin {
  bytes: Buffer;
  format: 'json' | 'ndjson';
  itemCount: number;
  items: Int32Array;
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
  metadata?: Record<string, unknown> | undefined;
}

/**
 * A body is kept whole, its logs found in it on first read, when it holds at most this many
 * bytes per stored log; a body mostly made of refused items or padding is cut into its logs
 * at once instead, so it cannot keep large bytes alive for a few logs.
 */
const WHOLE_BODY_BYTES_PER_LOG = 2048;

/** `offsets` of a log kept inside a whole body whose place in it is not known yet. */
const UNRESOLVED = -1;

const FORMAT_JSON = 0;
const FORMAT_NDJSON = 1;

/**
 * Slots per block. Each block keeps its logs sorted by listing order (core/listing-order.ts)
 * once asked, so a listing in time order reads each block from its cursor's place on.
 */
const BLOCK_SHIFT = 10;
const BLOCK_SLOTS = 1 << BLOCK_SHIFT;

/** Each byte with ASCII letters folded to lower case. */
const FOLD = Uint8Array.from({ length: 256 }, (_, c) => (c >= 0x41 && c <= 0x5a ? c | 0x20 : c));

const BACKSLASH = 0x5c;

/**
 * A text search as bytes, ASCII letters folded to lower case, when it can be decided on a
 * message's stored bytes: when it is all ASCII. log-filter.ts makes `q` a RegExp with the `i`
 * flag and without `u`, whose case folding (ECMAScript's Canonicalize: upper case, except
 * that a non-ASCII character never becomes an ASCII one) makes an ASCII character equal only
 * to itself and to the other case of an ASCII letter: never to ſ, K (Kelvin), İ or any other
 * non-ASCII character. In UTF-8 a byte below 0x80 is only ever that ASCII character. So up to
 * its first backslash (where a JSON escape may start) a message's bytes hold an ASCII search,
 * folded byte for byte, exactly where its decoded text does (searchBytes).
 */
function asciiSearch(text: string | undefined): Uint8Array | undefined {
  if (!text) return undefined;
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) return undefined;
    out[i] = FOLD[c]!;
  }
  return out;
}

const FOUND = 1;
const ABSENT = 0;
/** A backslash came before any match: the text must be decoded to decide. */
const UNDECIDED = -1;

/** Whether `needle` (asciiSearch) is in the JSON string text `b[start, end)`: FOUND, ABSENT or UNDECIDED. */
function searchBytes(b: Uint8Array, start: number, end: number, needle: Uint8Array): number {
  const m = needle.length;
  const first = needle[0]!;
  const lastStart = end - m;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c === BACKSLASH) return UNDECIDED;
    if (FOLD[c] === first && i <= lastStart) {
      let j = 1;
      while (j < m && FOLD[b[i + j]!] === needle[j]) j++;
      if (j === m) return FOUND;
    }
  }
  return ABSENT;
}

/**
 * A message's digest: 64 bits, as two 32-bit words, with a bit set for each pair of
 * neighbouring bytes in its JSON string text, ASCII letters folded (pairBit). An ASCII search
 * (asciiSearch) held by a message stands in its text byte for byte, so each of its pairs' bits
 * (searchPairs) is set in the message's digest; a message whose digest lacks one does not
 * hold it. A text with a backslash (an escape may stand for any character), and a message
 * whose place in its JSON is not known, have every bit set: always read.
 */
const DIGEST_WORDS = 2;

/**
 * At most this many blocks have their digests made by one query (a few tenths of a millisecond
 * each, for 1,024 logs): the first text search over a large buffer, or one after heavy ingest,
 * reads the other blocks' messages instead, and is not held up making them all.
 */
const DIGESTS_PER_QUERY = 32;

/** The bit, 0 to 63, of a pair of folded bytes. */
function pairBit(a: number, b: number): number {
  return Math.imul((a << 8) | b, 0x9e3779b1) >>> 26;
}

/** Writes the digest of the JSON string text `b[start, end)` at `out[at]`, `out[at + 1]`. */
function digestInto(b: Uint8Array, start: number, end: number, out: Int32Array, at: number): void {
  let lo = 0;
  let hi = 0;
  let prev = start < end ? FOLD[b[start]!]! : 0;
  if (prev === BACKSLASH) lo = hi = -1;
  // Until every bit is set: more pairs cannot change it.
  for (let i = start + 1; i < end && (lo & hi) !== -1; i++) {
    const c = FOLD[b[i]!]!;
    if (c === BACKSLASH) {
      lo = hi = -1;
      break;
    }
    // Branch-free: bit 5 of the pair's bit picks the word, the low five bits the bit in it.
    const bit = pairBit(prev, c);
    const high = -(bit >>> 5);
    lo |= (1 << bit) & ~high;
    hi |= (1 << bit) & high;
    prev = c;
  }
  out[at] = lo;
  out[at + 1] = hi;
}

/** What a digest must hold for a message to hold `needle` (asciiSearch): its pairs' bits, as two words. */
function searchPairs(needle: Uint8Array): [number, number] {
  let lo = 0;
  let hi = 0;
  for (let j = 1; j < needle.length; j++) {
    const bit = pairBit(needle[j - 1]!, needle[j]!);
    if (bit < 32) lo |= 1 << bit;
    else hi |= 1 << (bit - 32);
  }
  return [lo, hi];
}

/**
 * The recent-logs buffer, the in-memory tier: the most recent `capacity` logs, in id order,
 * queried newest first.
 *
 * Laid out to keep logs off the V8 heap, which is what ingest and every garbage collection
 * pay for (BENCHMARKS.md, "Young generation"): numbers and the level live in typed-array
 * columns of a ring; service and user are references to the interned strings the cardinality
 * caps hand out; and the rest of each log (timestamp text, message, metadata) stays as JSON
 * bytes in off-heap segments. A batch that came with its request bytes is copied in whole,
 * in one piece, and each log remembers only its body and its item number there: where the
 * log sits in the body is found (json-spans.ts) the first time one of the body's logs is
 * read, for all of them at once. A log without bytes (another protocol's adapter, a restart's
 * reload) is encoded here. A log is decoded only when a query returns it; a text search
 * reads the message's bytes, and decodes just the message when they cannot decide (matcher).
 *
 * Logs are held in arrival (id) order but listed by event time: each block of slots keeps, once
 * asked, its logs sorted by listing order, so a query reads the blocks a time window at a time,
 * newest first, until the page is full. A text search also has each block keep a 64-bit digest
 * of each message in that order (digestInto), and reads only the messages whose digest holds
 * every pair of neighbouring characters of the search.
 */
export class RecentLogs {
  readonly capacity: number;
  private head = 0;
  private count = 0;
  private readonly ids: Float64Array;
  private readonly times: Float64Array;
  private readonly received: Float64Array;
  private readonly levels: Uint8Array;
  private readonly services: string[];
  private readonly users: (string | undefined)[];
  /** Pattern ids (core/patterns/): up to 2^53, hence floats. */
  private readonly patterns: Float64Array;
  /** What a filter's per-slot evaluator reads (core/log-filter.ts). */
  private readonly columns: LogColumns;
  /** Where each log's JSON text is: segment number, offset and length in it. */
  private readonly segOf: Int32Array;
  private readonly offsets: Int32Array;
  private readonly lengths: Int32Array;
  /** The message's text between its quotes, relative to the log's offset; -1 when the JSON must be parsed to find it. */
  private readonly msgStarts: Int32Array;
  private readonly msgEnds: Int32Array;
  /** For a log kept inside a whole body: the body's offset, length, format, item count, and the log's item number. */
  private readonly bodyOffsets: Int32Array;
  private readonly bodyLengths: Int32Array;
  private readonly bodyFormats: Uint8Array;
  private readonly bodyItems: Int32Array;
  private readonly itemOf: Int32Array;
  private readonly segments = new Map<number, Segment>();
  private readonly spare: Buffer[] = [];
  private current: Segment | undefined;
  private currentSeq = -1;
  private readonly segmentBytes: number;
  private readonly scratch = new Int32Array(SPAN_INTS);
  /** Per block: its held slots in listing order, while they are known (sortedBlock). */
  private readonly sorted: (Uint16Array | undefined)[];
  /** Per block, once a text search asked and while its order holds: the digest of each message, in that order (digestBlock). */
  private readonly digests: (Int32Array | undefined)[];
  /** A block's digests by slot, while digestBlock puts them in order. */
  private readonly digestScratch = new Int32Array(BLOCK_SLOTS * DIGEST_WORDS);
  /** The largest event time of a log overwritten here: a bound on what only the tier below holds. */
  private evictedMax = -Infinity;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
    this.capacity = capacity;
    this.ids = new Float64Array(capacity);
    this.times = new Float64Array(capacity);
    this.received = new Float64Array(capacity);
    this.levels = new Uint8Array(capacity);
    this.services = new Array<string>(capacity).fill('');
    this.users = new Array<string | undefined>(capacity).fill(undefined);
    this.patterns = new Float64Array(capacity);
    this.segOf = new Int32Array(capacity);
    this.offsets = new Int32Array(capacity);
    this.lengths = new Int32Array(capacity);
    this.msgStarts = new Int32Array(capacity);
    this.msgEnds = new Int32Array(capacity);
    this.bodyOffsets = new Int32Array(capacity);
    this.bodyLengths = new Int32Array(capacity);
    this.bodyFormats = new Uint8Array(capacity);
    this.bodyItems = new Int32Array(capacity);
    this.itemOf = new Int32Array(capacity);
    // About 64 bytes of segment per slot, between 64 KiB and 8 MiB: small buffers stay small.
    this.segmentBytes = Math.min(8 << 20, Math.max(64 << 10, capacity * 64));
    const blocks = ((capacity - 1) >> BLOCK_SHIFT) + 1;
    this.sorted = new Array<Uint16Array | undefined>(blocks).fill(undefined);
    this.digests = new Array<Int32Array | undefined>(blocks).fill(undefined);
    const { times, received, levels, services, users, patterns } = this;
    this.columns = { times, received, levels, services, users, patterns, message: (slot) => this.message(slot) };
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

  /** Adds an accepted batch; with its `origin`, each log is kept as its own bytes of the request. */
  append(logs: readonly StoredLog[], origin?: BatchOrigin): void {
    const n = logs.length;
    if (n === 0) return;
    let whole: Segment | undefined;
    let wholeSeq = -1;
    let wholeOffset = 0;
    let spans: Int32Array | undefined;
    if (origin !== undefined) {
      if (origin.bytes.length <= n * WHOLE_BODY_BYTES_PER_LOG) {
        wholeOffset = this.place(origin.bytes, 0, origin.bytes.length);
        wholeSeq = this.currentSeq;
        whole = this.current!;
        // Pinned while the batch is stored: a segment holding none of the held logs yet must not be freed.
        whole.live++;
      } else spans = origin.format === 'ndjson' ? ndjsonSpans(origin.bytes, origin.itemCount) : jsonSpans(origin.bytes, origin.itemCount);
    }
    const format = origin?.format === 'ndjson' ? FORMAT_NDJSON : FORMAT_JSON;
    for (let j = 0; j < n; j++) {
      const log = logs[j]!;
      let slot: number;
      if (this.count < this.capacity) slot = this.slot(this.count++);
      else {
        slot = this.head;
        if (this.times[slot]! > this.evictedMax) this.evictedMax = this.times[slot]!;
        this.release(slot);
        this.head = this.head + 1 === this.capacity ? 0 : this.head + 1;
      }
      this.ids[slot] = log.id;
      this.times[slot] = log.ts;
      // The block's order (and its digests) no longer hold.
      this.sorted[slot >> BLOCK_SHIFT] = undefined;
      this.digests[slot >> BLOCK_SHIFT] = undefined;
      this.received[slot] = log.receivedAt;
      this.levels[slot] = levelIndex(log.level);
      this.services[slot] = log.service;
      this.users[slot] = log.userId;
      this.patterns[slot] = log.patternId;
      if (whole !== undefined) {
        this.offsets[slot] = UNRESOLVED;
        this.bodyOffsets[slot] = wholeOffset;
        this.bodyLengths[slot] = origin!.bytes.length;
        this.bodyFormats[slot] = format;
        this.bodyItems[slot] = origin!.itemCount;
        this.itemOf[slot] = origin!.items[j]!;
        this.segOf[slot] = wholeSeq;
        whole.live++;
        continue;
      }
      const at = spans === undefined ? -1 : origin!.items[j]! * SPAN_INTS;
      if (at >= 0 && spans![at]! >= 0) this.copyIn(slot, origin!.bytes, spans!, at);
      else this.encode(slot, log);
      this.segOf[slot] = this.currentSeq;
      this.current!.live++;
    }
    if (whole !== undefined && --whole.live === 0 && wholeSeq !== this.currentSeq) this.drop(wholeSeq, whole);
  }

  /** Copies the log at `spans[at..]` in `src` into the current segment. */
  private copyIn(slot: number, src: Buffer, spans: Int32Array, at: number): void {
    this.setSpan(slot, this.place(src, spans[at]!, spans[at + 1]!), spans, at);
  }

  /** The slot's log is the one `spans[at..]` places in its body, found at `offset` of its segment. */
  private setSpan(slot: number, offset: number, spans: Int32Array, at: number): void {
    const start = spans[at]!;
    this.offsets[slot] = offset;
    this.lengths[slot] = spans[at + 1]! - start;
    const m = spans[at + 2]!;
    this.msgStarts[slot] = m < 0 ? -1 : m - start;
    this.msgEnds[slot] = m < 0 ? -1 : spans[at + 3]! - start;
  }

  /**
   * Finds, in the body kept whole that holds the log at logical index `i`, where each of the
   * body's held logs sits (they are neighbours in the ring); done once per body.
   */
  private resolve(i: number): void {
    const slot = this.slot(i);
    if (this.offsets[slot] !== UNRESOLVED) return;
    const seq = this.segOf[slot]!;
    const base = this.bodyOffsets[slot]!;
    const buf = this.segments.get(seq)!.buf;
    const body = buf.subarray(base, base + this.bodyLengths[slot]!);
    const count = this.bodyItems[slot]!;
    const spans = this.bodyFormats[slot] === FORMAT_NDJSON ? ndjsonSpans(body, count) : jsonSpans(body, count);
    const sameBody = (s: number): boolean => this.offsets[s] === UNRESOLVED && this.segOf[s] === seq && this.bodyOffsets[s] === base;
    let first = i;
    while (first > 0 && sameBody(this.slot(first - 1))) first--;
    for (let k = first; k < this.count; k++) {
      const s = this.slot(k);
      if (!sameBody(s)) break;
      const at = this.itemOf[s]! * SPAN_INTS;
      if (spans !== undefined && spans[at]! >= 0) this.setSpan(s, base + spans[at]!, spans, at);
      else this.rescue(s, body);
    }
  }

  /**
   * A log whose place the scan could not give (never expected: JSON.parse accepted the body):
   * parsed out of its body the slow way and encoded on its own, so it is never lost.
   */
  private rescue(slot: number, body: Buffer): void {
    const text = body.toString();
    const item = this.itemOf[slot]!;
    let value: unknown;
    if (this.bodyFormats[slot] === FORMAT_NDJSON) {
      const lines = text.replace(/^\uFEFF/, '').split('\n').filter((l) => !/^[ \t\r]*$/.test(l));
      value = JSON.parse(lines[item]!);
    } else {
      const parsed: unknown = JSON.parse(text.replace(/^\uFEFF/, ''));
      value = Array.isArray(parsed) ? parsed[item] : parsed;
    }
    const fields = value as TextOnly;
    const seq = this.segOf[slot]!;
    const old = this.segments.get(seq)!;
    this.encode(slot, { timestamp: fields.timestamp, message: fields.message, metadata: fields.metadata });
    this.segOf[slot] = this.currentSeq;
    this.current!.live++;
    if (--old.live === 0 && seq !== this.currentSeq) this.drop(seq, old);
  }

  /** A log that came without its bytes (another protocol's adapter, a restart's reload): its texts encoded as JSON here. */
  private encode(slot: number, log: TextOnly): void {
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

  /** The logical index of `slot` (0 = the oldest held). */
  private indexOf(slot: number): number {
    return slot >= this.head ? slot - this.head : slot + this.capacity - this.head;
  }

  /** The log at logical index `i`, decoded. */
  private read(i: number): StoredLog {
    this.resolve(i);
    const slot = this.slot(i);
    const seg = this.segments.get(this.segOf[slot]!)!;
    const offset = this.offsets[slot]!;
    const text = JSON.parse(seg.buf.toString('utf8', offset, offset + this.lengths[slot]!)) as TextOnly;
    const log = new StoredLog(
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
    log.patternId = this.patterns[slot]!;
    return log;
  }

  /** The message of the log in `slot`, decoding only its bytes when their place is known. */
  private message(slot: number): string {
    this.resolve(this.indexOf(slot));
    const buf = this.segments.get(this.segOf[slot]!)!.buf;
    const offset = this.offsets[slot]!;
    const start = this.msgStarts[slot]!;
    if (start < 0) return (JSON.parse(buf.toString('utf8', offset, offset + this.lengths[slot]!)) as TextOnly).message;
    const raw = buf.toString('utf8', offset + start, offset + this.msgEnds[slot]!);
    return raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
  }

  /** Logical index of the oldest log with id > `id` (ids ascend with the index); `count` when none. */
  private firstAbove(id: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ids[this.slot(mid)]! > id) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Id of the oldest log held, or undefined when empty. */
  oldestId(): number | undefined {
    return this.count === 0 ? undefined : this.ids[this.head];
  }

  /**
   * A bound on the event times of the logs that left this buffer by being overwritten (the
   * ones only a durable tier still holds): -Infinity when none has.
   */
  evictedMaxTs(): number {
    return this.evictedMax;
  }

  /** The event time of the log with this id, when it is held. */
  timeOf(id: number): number | undefined {
    const i = this.firstAbove(id - 1);
    if (i === this.count) return undefined;
    const slot = this.slot(i);
    return this.ids[slot] === id ? this.times[slot] : undefined;
  }

  /**
   * The held slots of block `b` in listing order (as offsets from its first slot), sorted
   * once and kept until a write into the block or a removal makes them stale.
   */
  private sortedBlock(b: number): Uint16Array {
    const cached = this.sorted[b];
    if (cached !== undefined) return cached;
    const first = b << BLOCK_SHIFT;
    const last = Math.min(first + BLOCK_SLOTS, this.capacity);
    const end1 = Math.min(this.head + this.count, this.capacity);
    const end2 = this.head + this.count - this.capacity;
    const held: number[] = [];
    for (let slot = Math.max(first, this.head); slot < Math.min(last, end1); slot++) held.push(slot - first);
    for (let slot = first; slot < Math.min(last, end2); slot++) held.push(slot - first);
    const { times, ids } = this;
    held.sort((x, y) => compareListed(times[first + x]!, ids[first + x]!, times[first + y]!, ids[first + y]!));
    const out = Uint16Array.from(held);
    this.sorted[b] = out;
    return out;
  }

  /**
   * Makes the digests (digestInto) of the messages of block `b`, in the order sortedBlock gives
   * (`order`), kept as long as that order is: a text search passes over a log whose digest
   * lacks a pair of it without reading the log.
   */
  private digestBlock(b: number, order: Uint16Array): Int32Array {
    const first = b << BLOCK_SHIFT;
    const { offsets, segOf, msgStarts, msgEnds, segments } = this;
    // Read in slot order (the order the bytes lie in), then put in listing order.
    const bySlot = this.digestScratch;
    const held = Uint16Array.from(order).sort();
    let seq = -1;
    let buf: Buffer | undefined;
    for (const off of held) {
      const slot = first + off;
      if (offsets[slot] === UNRESOLVED) this.resolve(this.indexOf(slot));
      const start = msgStarts[slot]!;
      const at = off * DIGEST_WORDS;
      if (start < 0) {
        bySlot[at] = bySlot[at + 1] = -1;
        continue;
      }
      if (segOf[slot] !== seq) {
        seq = segOf[slot]!;
        buf = segments.get(seq)!.buf;
      }
      digestInto(buf!, offsets[slot]! + start, offsets[slot]! + msgEnds[slot]!, bySlot, at);
    }
    const out = new Int32Array(order.length * DIGEST_WORDS);
    for (let pos = 0; pos < order.length; pos++) {
      const at = order[pos]! * DIGEST_WORDS;
      out[pos * DIGEST_WORDS] = bySlot[at]!;
      out[pos * DIGEST_WORDS + 1] = bySlot[at + 1]!;
    }
    this.digests[b] = out;
    return out;
  }

  /**
   * The first `k` logs matching `q` in listing order (after `q.before`), each decoded only
   * when asked. Each block keeps its logs sorted by listing order (sortedBlock); from the
   * cursor's position in each, the blocks are read a time window at a time, newest first.
   */
  listed(q: LogQuery, k: number): Listed[] {
    const filter = new LogFilter(q);
    const needle = asciiSearch(q.text);
    const match = this.matcher(q, needle);
    const { times, ids } = this;
    // A text search in ASCII of two characters or more passes over the logs whose digest lacks one of its pairs.
    const [needLo, needHi] = needle !== undefined && needle.length >= 2 ? searchPairs(needle) : [0, 0];
    const digested = needLo !== 0 || needHi !== 0;
    let digestBudget = DIGESTS_PER_QUERY;
    const cursorTs = q.before?.ts ?? Infinity;
    const cursorId = q.before?.id ?? Infinity;
    const hiTs = Math.min(cursorTs, filter.to);
    const loTs = filter.from;
    const idBelow = q.idBelow ?? Infinity;
    // Whether the log in `slot` is at or after where the listing starts (monotone along a block's order).
    const started = (slot: number): boolean => {
      const ts = times[slot]!;
      return ts < hiTs || (ts === hiTs && (hiTs < cursorTs || ids[slot]! < cursorId));
    };
    interface Head {
      first: number;
      order: Uint16Array;
      pos: number;
      digests: Int32Array | undefined;
    }
    const heads: Head[] = [];
    for (let b = 0; b < this.sorted.length; b++) {
      const order = this.sortedBlock(b);
      const first = b << BLOCK_SHIFT;
      let a = 0;
      let z = order.length;
      while (a < z) {
        const mid = (a + z) >>> 1;
        if (started(first + order[mid]!)) z = mid;
        else a = mid + 1;
      }
      // A block with nothing from the cursor on, or only logs older than the range, is left out.
      if (a < order.length && times[first + order[a]!]! >= loTs) {
        let digests = digested ? this.digests[b] : undefined;
        if (digested && digests === undefined && digestBudget > 0) {
          digestBudget--;
          digests = this.digestBlock(b, order);
        }
        heads.push({ first, order, pos: a, digests });
      }
    }
    // Time windows, newest first: each takes from every block the logs with an event time in
    // it (a run of the block's order, read in place), until the matches reach `k` or nothing is
    // left. Every log at or above a window's bottom has then been seen, and everything unseen is
    // below it, so the first `k` matches in listing order are among those found.
    let top = -Infinity;
    let bottom = Infinity;
    for (const h of heads) {
      const first = times[h.first + h.order[h.pos]!]!;
      const last = times[h.first + h.order[h.order.length - 1]!]!;
      if (first > top) top = first;
      if (last < bottom) bottom = last;
    }
    const found: number[] = [];
    let width = Math.max(1, ((top - bottom + 1) * Math.max(k, 16)) / Math.max(1, this.count));
    let floor = top;
    while (heads.length > 0) {
      floor = floor - width < bottom ? -Infinity : floor - width;
      const low = Math.max(floor, loTs);
      for (let i = 0; i < heads.length; i++) {
        const h = heads[i]!;
        const { first, order, digests } = h;
        let pos = h.pos;
        for (; pos < order.length; pos++) {
          const slot = first + order[pos]!;
          if (times[slot]! < low) break;
          if (digests !== undefined && ((digests[pos * DIGEST_WORDS]! & needLo) !== needLo || (digests[pos * DIGEST_WORDS + 1]! & needHi) !== needHi)) continue;
          if (ids[slot]! < idBelow && match(slot)) found.push(slot);
        }
        h.pos = pos;
        if (pos === order.length || times[first + order[pos]!]! < loTs) {
          heads[i] = heads[heads.length - 1]!;
          heads.pop();
          i--;
        }
      }
      if (found.length >= k || low <= loTs) break;
      // The next window from the matches per millisecond so far: what is still missing, a fifth
      // more; at most sixteen times as wide (four when nothing matched yet).
      const spanned = top - floor;
      const grow = found.length === 0 ? 4 : Math.min(16, Math.max(1, ((k - found.length) * 1.2) / found.length));
      width = spanned * grow;
    }
    found.sort((x, y) => compareListed(times[x]!, ids[x]!, times[y]!, ids[y]!));
    if (found.length > k) found.length = k;
    return found.map((slot) => ({ ts: times[slot]!, id: ids[slot]!, log: () => this.read(this.indexOf(slot)) }));
  }

  /**
   * Whether the log in a slot matches `q`: the filter's per-slot evaluator (core/log-filter.ts),
   * except that a text search in ASCII is decided on the message's stored bytes (asciiSearch),
   * the message decoded only when they cannot decide: an escape before any match, or a message
   * whose place in its JSON is not known.
   */
  private matcher(q: LogFilterFields, needle = asciiSearch(q.text)): (slot: number) => boolean {
    if (needle === undefined) return new LogFilter(q).slotMatcher(this.columns);
    const { text, ...others } = q;
    const rest = new LogFilter(others).slotMatcher(this.columns);
    const decoded = new LogFilter({ text }).slotMatcher(this.columns);
    const { offsets, segOf, msgStarts, msgEnds, segments } = this;
    // Neighbours in a block mostly share a segment: the last one found is kept.
    let seq = -1;
    let buf: Buffer | undefined;
    return (slot) => {
      if (!rest(slot)) return false;
      if (offsets[slot] === UNRESOLVED) this.resolve(this.indexOf(slot));
      const start = msgStarts[slot]!;
      if (start < 0) return decoded(slot);
      if (segOf[slot] !== seq) {
        seq = segOf[slot]!;
        buf = segments.get(seq)!.buf;
      }
      const at = offsets[slot]!;
      const found = searchBytes(buf!, at + start, at + msgEnds[slot]!, needle);
      return found === UNDECIDED ? decoded(slot) : found === FOUND;
    };
  }

  /** A page in listing order (core/listing-order.ts), from this buffer alone. */
  query(q: LogQuery): LogPage {
    return pageOf(this.listed(q, (q.offset ?? 0) + q.limit + 1), q.offset ?? 0, q.limit);
  }

  /** The logs matching `q` (filters only) with an id above `id`, in arrival order: what a resuming tail missed. */
  arrivedAfter(id: number, q: Omit<LogQuery, 'limit'>): StoredLog[] {
    const match = this.matcher(q);
    const out: StoredLog[] = [];
    for (let i = this.firstAbove(id); i < this.count; i++) if (match(this.slot(i))) out.push(this.read(i));
    return out;
  }

  /** Removes logs whose event time is before `ts` (of `service` alone, when given); returns how many. */
  deleteBefore(ts: number, service?: string): number {
    const { times, services } = this;
    if (service === undefined) return this.removeWhere((slot) => times[slot]! < ts);
    return this.removeWhere((slot) => times[slot]! < ts && services[slot] === service);
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
    // Logs moved between blocks: every block's order is stale.
    if (write !== kept) {
      this.sorted.fill(undefined);
      this.digests.fill(undefined);
    }
    return kept - write;
  }

  private move(from: number, to: number): void {
    this.ids[to] = this.ids[from]!;
    this.times[to] = this.times[from]!;
    this.received[to] = this.received[from]!;
    this.levels[to] = this.levels[from]!;
    this.services[to] = this.services[from]!;
    this.users[to] = this.users[from];
    this.patterns[to] = this.patterns[from]!;
    this.segOf[to] = this.segOf[from]!;
    this.offsets[to] = this.offsets[from]!;
    this.lengths[to] = this.lengths[from]!;
    this.msgStarts[to] = this.msgStarts[from]!;
    this.msgEnds[to] = this.msgEnds[from]!;
    this.bodyOffsets[to] = this.bodyOffsets[from]!;
    this.bodyLengths[to] = this.bodyLengths[from]!;
    this.bodyFormats[to] = this.bodyFormats[from]!;
    this.bodyItems[to] = this.bodyItems[from]!;
    this.itemOf[to] = this.itemOf[from]!;
  }
}
