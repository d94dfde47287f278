import { AppError } from '../../core/errors.js';
import { UnmappableItem } from '../../core/ingest.js';
import { levelFromName, type Level, type LogInput } from '../../core/log.js';
import { isObject, kind, rfc3339FromNanos } from './shared.js';

/** Labels naming the service, in order of preference. */
export const SERVICE_LABELS = ['service', 'service_name', 'job'] as const;
/** Labels naming the level, in order of preference. */
export const LEVEL_LABELS = ['level', 'severity', 'detected_level'] as const;

/** The latest instant a log may carry (schemas/log.schema.json: years 1970-9999), in whole seconds. */
const MAX_SECONDS = BigInt(Date.UTC(10000, 0, 1) / 1000 - 1);
const NS_PER_SECOND = 1_000_000_000n;
/** More digits than any nanosecond count up to year 9999 has: refused before BigInt parses it. */
const MAX_NS_DIGITS = 21;
const DIGITS = /^[0-9]+$/;

export interface LokiMappingOptions {
  /** The service of a stream without a service label: the caller's bound service, else `unknown_service`. */
  defaultService: string;
  /** limits.max_batch_items: the whole push counts toward it. */
  maxItems: number;
  /** limits.max_metadata_keys: more labels than this could never make a valid log, so they are not copied per entry. */
  maxMetadataKeys: number;
}

/** Where an item of the flattened batch came from. */
export interface EntryPosition {
  stream: number;
  entry: number;
}

export interface LokiBatch {
  /** One item per entry, in order: a log to validate, or an UnmappableItem. */
  items: unknown[];
  /** `positions[i]` is where `items[i]` was in the push. */
  positions: EntryPosition[];
}

/** A body-level shape error: the push cannot be read at all, so nothing in it is taken. */
function invalid(path: string, problem: string): AppError {
  return new AppError(
    400,
    'INVALID_LOKI_PUSH',
    `${path} ${problem}; a Loki push is {"streams":[{"stream":{"service":"api"},"values":[["<unix epoch ns as a string>","log line"]]}]}`,
  );
}

/** `.name`, or `["odd name"]` for a label name that is not an identifier, to build a path. */
function member(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
}

/** A short rendering of a refused scalar; containers are only named. */
function show(value: unknown): string {
  if (typeof value === 'object' && value !== null) return kind(value);
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/**
 * Unix nanoseconds (a decimal string, or a JSON integer as some clients send) as an RFC 3339
 * UTC timestamp with all nine fraction digits, computed exactly: a count of 19 digits is past
 * what a double holds. The problem, in words, when it cannot be one.
 */
export function nanosToRfc3339(value: unknown): { timestamp: string } | { problem: string } {
  let ns: bigint;
  if (typeof value === 'string' && DIGITS.test(value)) {
    if (value.replace(/^0+/, '').length > MAX_NS_DIGITS) return { problem: `timestamp ${show(value)} is after the year 9999` };
    ns = BigInt(value);
  } else if (typeof value === 'number' && Number.isInteger(value) && value >= 0) {
    // Past 2^53 JSON.parse has already rounded it (to a multiple of 256 ns today): exact from there on.
    ns = BigInt(value);
  } else {
    return { problem: `timestamp must be a non-negative integer count of nanoseconds since the Unix epoch, as a decimal string (got ${show(value)})` };
  }
  const seconds = ns / NS_PER_SECOND;
  if (seconds > MAX_SECONDS) return { problem: `timestamp ${show(value)} is after the year 9999` };
  return { timestamp: rfc3339FromNanos(ns) };
}

/** The stream's labels, once per stream: service, level, and the rest kept as metadata. */
interface StreamMapping {
  service: string;
  level: Level;
  /** Labels kept as metadata (the unknown level word among them, as `level`). */
  labels: Record<string, string>;
  labelCount: number;
}

/** The first of `names` present with a non-empty value (Loki treats an empty label value as no label). */
function firstLabel(labels: Record<string, string>, names: readonly string[]): string | undefined {
  return names.find((name) => labels[name] !== undefined && labels[name] !== '');
}

function mapStream(labels: Record<string, string>, defaultService: string): StreamMapping {
  const serviceLabel = firstLabel(labels, SERVICE_LABELS);
  const levelLabel = firstLabel(labels, LEVEL_LABELS);
  const kept: Record<string, string> = {};
  let labelCount = 0;
  for (const [name, value] of Object.entries(labels)) {
    if (name === serviceLabel || name === levelLabel || value === '') continue;
    kept[name] = value;
    labelCount++;
  }
  let level: Level = 'INFO';
  if (levelLabel !== undefined) {
    const word = labels[levelLabel]!;
    const known = levelFromName(word);
    if (known !== undefined) level = known;
    else if (word.trim().toLowerCase() !== 'unknown') {
      // Loki never refuses a line for its level: keep the word so nothing is lost.
      kept.level = word;
      labelCount++;
    }
  }
  return { service: serviceLabel === undefined ? defaultService : labels[serviceLabel]!, level, labels: kept, labelCount };
}

/** One `values` item as a log, or why it cannot be one. */
function mapEntry(stream: StreamMapping, value: unknown, maxMetadataKeys: number): LogInput | string {
  if (!Array.isArray(value) || (value.length !== 2 && value.length !== 3)) {
    return `must be an array of [timestamp, line] or [timestamp, line, {structured metadata}] (got ${Array.isArray(value) ? `an array of ${value.length}` : kind(value)})`;
  }
  const time = nanosToRfc3339(value[0]);
  if ('problem' in time) return time.problem;
  const line: unknown = value[1];
  if (typeof line !== 'string') return `the line must be a string (got ${kind(line)})`;
  if (line === '') return 'the line is empty; a log needs a message';
  let metadata: Record<string, unknown> | undefined;
  if (value.length === 3) {
    const structured: unknown = value[2];
    if (!isObject(structured)) return `structured metadata must be an object of strings (got ${kind(structured)})`;
    const keys = Object.keys(structured);
    if (keys.length > maxMetadataKeys) {
      return `structured metadata has ${keys.length} keys, more than the limit of ${maxMetadataKeys} metadata keys (limits.max_metadata_keys)`;
    }
    for (const key of keys) {
      if (typeof structured[key] !== 'string') return `structured metadata ${JSON.stringify(key)} must be a string (got ${kind(structured[key])})`;
    }
    if (keys.length > 0) metadata = { ...stream.labels, ...structured };
  }
  if (metadata === undefined && stream.labelCount > 0) metadata = { ...stream.labels };
  const log: LogInput = { timestamp: time.timestamp, level: stream.level, service: stream.service, message: line };
  if (metadata !== undefined) log.metadata = metadata;
  return log;
}

interface CheckedStream {
  labels: Record<string, string>;
  values: unknown[];
}

/** The body's shape, every stream checked, before any entry is mapped: a shape error takes nothing. */
function checkShape(body: unknown): CheckedStream[] {
  if (!isObject(body)) throw invalid('the body', `must be a JSON object with a "streams" array (got ${body === undefined ? 'no body' : kind(body)})`);
  const streams = body.streams;
  if (!Array.isArray(streams)) throw invalid('streams', `must be an array (got ${streams === undefined ? 'nothing' : kind(streams)})`);
  return streams.map((stream: unknown, s) => {
    if (!isObject(stream)) throw invalid(`streams[${s}]`, `must be an object with "stream" and "values" (got ${kind(stream)})`);
    const labels = stream.stream;
    if (!isObject(labels)) throw invalid(`streams[${s}].stream`, `must be an object of label names to string values (got ${labels === undefined ? 'nothing' : kind(labels)})`);
    for (const [name, value] of Object.entries(labels)) {
      if (typeof value !== 'string') throw invalid(`streams[${s}].stream${member(name)}`, `must be a string, as every label value is (got ${kind(value)})`);
    }
    const values = stream.values;
    if (!Array.isArray(values)) throw invalid(`streams[${s}].values`, `must be an array of [timestamp, line] entries (got ${values === undefined ? 'nothing' : kind(values)})`);
    return { labels: labels as Record<string, string>, values };
  });
}

/**
 * A Loki push (`{"streams":[{"stream":{labels},"values":[[ns, line, {metadata}?]]}]}`) as
 * one flat batch for the ingest pipeline. Body-level shape errors throw a 400; an entry that
 * cannot be mapped becomes an UnmappableItem at its place, so it is rejected and counted there.
 */
export function lokiPushToBatch(body: unknown, options: LokiMappingOptions): LokiBatch {
  const streams = checkShape(body);
  const total = streams.reduce((sum, stream) => sum + stream.values.length, 0);
  if (total > options.maxItems) {
    throw new AppError(
      413,
      'BATCH_TOO_LARGE',
      `the push holds ${total} entries, more than the limit of ${options.maxItems} (limits.max_batch_items); split it into smaller pushes`,
    );
  }
  const items: unknown[] = [];
  const positions: EntryPosition[] = [];
  streams.forEach((stream, s) => {
    if (stream.values.length === 0) return;
    const mapping = mapStream(stream.labels, options.defaultService);
    const tooManyLabels =
      mapping.labelCount > options.maxMetadataKeys
        ? `the stream has ${mapping.labelCount} labels to keep as metadata, more than the limit of ${options.maxMetadataKeys} metadata keys (limits.max_metadata_keys)`
        : undefined;
    stream.values.forEach((value, e) => {
      const mapped = tooManyLabels ?? mapEntry(mapping, value, options.maxMetadataKeys);
      items.push(typeof mapped === 'string' ? new UnmappableItem(`stream ${s}, entry ${e}: ${mapped}`) : mapped);
      positions.push({ stream: s, entry: e });
    });
  });
  return { items, positions };
}
