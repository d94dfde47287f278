import { LEVELS, StoredLog, levelIndex, type LogInput } from '../core/log.js';
import { parseRfc3339 } from '../core/time.js';
import type { ChunkSummary } from '../core/log-filter.js';
import type { RawBatch } from '../core/repository.js';

/**
 * How a chunk's body is written. A chunk is one row of the `chunks` table holding the logs
 * of one `append` call (or the survivors of one, after a partial delete).
 *
 * - JSON: the request's own bytes, one JSON log object or a JSON array of them, in the
 *   client's shape. Ids are first_id, first_id + 1, ...; every log was received at
 *   min_received.
 * - NDJSON: the request's own bytes, one JSON log object per non-blank line; ids and receive
 *   time as for JSON.
 * - ROWS: written by the server, a JSON array of
 *   `[id, ts, receivedAt, timestamp, levelIndex, service, message, userId | null, metadata | null]`,
 *   ascending by id. Used when there are no request bytes (single logs, batches with rejected
 *   items) and for the survivors of a partial delete, whose ids are no longer consecutive.
 */
export const FORMAT_JSON = 0;
export const FORMAT_NDJSON = 1;
export const FORMAT_ROWS = 2;

/**
 * One row of the `chunks` table: the summary a query filter judges it by (ids, time ranges, the
 * levels present, the distinct service names as a JSON array in which `"name"` occurs
 * JSON-quoted for each), and its logs.
 */
export interface Chunk extends ChunkSummary {
  firstId: number;
  count: number;
  format: number;
  body: Buffer;
  /** Each log's pattern id, in the body's order (encodePatternIds); null when none has one. */
  patternIds: Buffer | null;
}

/**
 * The logs' pattern ids (StoredLog.patternId), in order, as little-endian 32-bit integers
 * when every id fits (the single-server ids, 1, 2, 3...), else as 64-bit floats (hashed
 * ids reach 2^52); null when no log has one. The length tells the two apart.
 */
export function encodePatternIds(logs: readonly StoredLog[]): Buffer | null {
  let any = false;
  let small = true;
  for (const l of logs) {
    if (l.patternId > 0) any = true;
    if (l.patternId > 0xffffffff) small = false;
  }
  if (!any) return null;
  const out = Buffer.allocUnsafe(logs.length * (small ? 4 : 8));
  for (let i = 0; i < logs.length; i++) {
    if (small) out.writeUInt32LE(logs[i]!.patternId, i * 4);
    else out.writeDoubleLE(logs[i]!.patternId, i * 8);
  }
  return out;
}

/** Sets each log's pattern id from `ids` (encodePatternIds of the same logs, in order); null leaves them 0. */
export function applyPatternIds(logs: readonly StoredLog[], ids: Buffer | null | undefined): void {
  if (ids === null || ids === undefined) return;
  const n = logs.length;
  if (ids.length === n * 4) for (let i = 0; i < n; i++) logs[i]!.patternId = ids.readUInt32LE(i * 4);
  else if (ids.length === n * 8) for (let i = 0; i < n; i++) logs[i]!.patternId = ids.readDoubleLE(i * 8);
  else throw new Error(`a chunk's pattern ids take ${ids.length} bytes for ${n} logs`);
}

/** Per level of one service in one chunk: how many, and the latest event and receive times. */
export interface LevelTally {
  count: number;
  lastTs: number;
  lastReceived: number;
}

/** What `encodeChunk` learned about a batch beside the row: per service, per level index. */
export type ServiceTally = Map<string, (LevelTally | undefined)[]>;

/** True when `bytes` can be what `format` says for `count` logs: a cheap check of the first character only. */
function plausible(raw: RawBatch, count: number): boolean {
  if (raw.format === 'ndjson') return true;
  const b = raw.bytes;
  let i = 0;
  // A UTF-8 byte order mark, then JSON whitespace.
  if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) i = 3;
  while (i < b.length && (b[i] === 0x20 || b[i] === 0x0a || b[i] === 0x0d || b[i] === 0x09)) i++;
  return b[i] === 0x5b /* [ */ || (b[i] === 0x7b /* { */ && count === 1);
}

/**
 * The chunk row for one batch, and the per-service tallies the counters need. `logs` must
 * not be empty. The request's bytes become the body when `raw` is given and the ids are
 * consecutive with one receive time (as ingest assigns them); otherwise the logs are
 * written as ROWS, sorted by id.
 */
export function encodeChunk(logs: readonly StoredLog[], raw?: RawBatch): { chunk: Chunk; tally: ServiceTally } {
  const first = logs[0]!;
  let minTs = first.ts;
  let maxTs = first.ts;
  let minReceived = first.receivedAt;
  let maxReceived = first.receivedAt;
  let levels = 0;
  let consecutive = true;
  let ascending = true;
  let prevId = first.id - 1;
  const tally: ServiceTally = new Map();
  for (let i = 0; i < logs.length; i++) {
    const l = logs[i]!;
    if (l.id !== prevId + 1) {
      consecutive = false;
      if (l.id <= prevId) ascending = false;
    }
    prevId = l.id;
    const ts = l.ts;
    const received = l.receivedAt;
    if (ts < minTs) minTs = ts;
    else if (ts > maxTs) maxTs = ts;
    if (received < minReceived) minReceived = received;
    else if (received > maxReceived) maxReceived = received;
    const level = levelIndex(l.level);
    if (level < 0) throw new Error(`log ${l.id} has no valid level (${String(l.level)})`);
    levels |= 1 << level;
    let perLevel = tally.get(l.service);
    if (perLevel === undefined) {
      perLevel = [undefined, undefined, undefined, undefined, undefined];
      tally.set(l.service, perLevel);
    }
    const t = perLevel[level];
    if (t === undefined) perLevel[level] = { count: 1, lastTs: ts, lastReceived: received };
    else {
      t.count++;
      if (ts > t.lastTs) t.lastTs = ts;
      if (received > t.lastReceived) t.lastReceived = received;
    }
  }
  let format: number;
  let body: Buffer;
  let ordered = logs;
  if (raw !== undefined && consecutive && minReceived === maxReceived && plausible(raw, logs.length)) {
    format = raw.format === 'json' ? FORMAT_JSON : FORMAT_NDJSON;
    body = raw.bytes;
  } else {
    if (!ascending) ordered = [...logs].sort((a, b) => a.id - b.id);
    format = FORMAT_ROWS;
    body = encodeRows(ordered);
  }
  const chunk: Chunk = {
    firstId: ordered[0]!.id,
    lastId: ordered[ordered.length - 1]!.id,
    count: logs.length,
    minTs,
    maxTs,
    minReceived,
    maxReceived,
    levels,
    services: JSON.stringify([...tally.keys()]),
    format,
    body,
    patternIds: encodePatternIds(ordered),
  };
  return { chunk, tally };
}

/** ROWS: one JSON array per log. JSON.stringify writes a lone surrogate as a `\udXXX` escape, so the bytes are valid UTF-8 and read back unchanged. */
function encodeRows(logs: readonly StoredLog[]): Buffer {
  const rows = new Array<unknown[]>(logs.length);
  for (let i = 0; i < logs.length; i++) {
    const l = logs[i]!;
    rows[i] = [l.id, l.ts, l.receivedAt, l.timestamp, levelIndex(l.level), l.service, l.message, l.userId, l.metadata];
  }
  return Buffer.from(JSON.stringify(rows));
}

/** A log object in the client's shape, as it stands in a JSON or NDJSON body. */
function fromInput(o: LogInput, id: number, receivedAt: number): StoredLog {
  return new StoredLog(
    id,
    parseRfc3339(o.timestamp),
    o.timestamp,
    LEVELS[levelIndex(o.level)]!,
    o.service,
    o.message,
    o.user_id,
    o.metadata,
    receivedAt,
  );
}

type Row = [number, number, number, string, number, string, string, string | null, Record<string, unknown> | null];

/**
 * The logs of one chunk, ascending by id, exactly as they were appended. `firstId` and
 * `receivedAt` (the row's first_id and min_received) give ids and receive time for the JSON
 * and NDJSON formats; `count` is checked, so a body that does not hold what its row says is
 * an error rather than wrong answers. `body` may be given as its text (UTF-8 decoded).
 */
export function decodeChunk(format: number, body: Buffer | string, firstId: number, receivedAt: number, count: number): StoredLog[] {
  let text = typeof body === 'string' ? body : body.toString('utf8');
  // A request body may start with a byte order mark, which the body parser drops before parsing.
  if (format !== FORMAT_ROWS && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let logs: StoredLog[];
  if (format === FORMAT_ROWS) {
    const rows = JSON.parse(text) as Row[];
    logs = new Array<StoredLog>(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      logs[i] = new StoredLog(r[0], r[1], r[3], LEVELS[r[4]]!, r[5], r[6], r[7] ?? undefined, r[8] ?? undefined, r[2]);
    }
  } else if (format === FORMAT_JSON) {
    const parsed = JSON.parse(text) as LogInput | LogInput[];
    if (Array.isArray(parsed)) {
      logs = new Array<StoredLog>(parsed.length);
      for (let i = 0; i < parsed.length; i++) logs[i] = fromInput(parsed[i]!, firstId + i, receivedAt);
    } else logs = [fromInput(parsed, firstId, receivedAt)];
  } else if (format === FORMAT_NDJSON) {
    // The lines the NDJSON body parser keeps: split on \n, blank ones skipped; JSON.parse
    // itself skips the whitespace around an object, a \r before the \n included.
    logs = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (line.trim() === '') continue;
      logs.push(fromInput(JSON.parse(line) as LogInput, firstId + logs.length, receivedAt));
    }
  } else {
    throw new Error(`chunk ${firstId} has an unknown format ${format}`);
  }
  if (logs.length !== count) throw new Error(`chunk ${firstId} holds ${logs.length} logs where its row says ${count}`);
  return logs;
}
