import { AppError } from '../../core/errors.js';
import { UnmappableItem, type IngestResult } from '../../core/ingest.js';
import { levelFromName, levelFromSeverityNumber, type Level } from '../../core/log.js';
import { UNKNOWN_SERVICE, isObject, rfc3339FromNanos } from './shared.js';

/**
 * OTLP/JSON logs (an ExportLogsServiceRequest, proto3 JSON mapping) to our logs. Pure: the route
 * hands in the parsed body and the caller's bound service and gets the batch to ingest.
 *
 * What is wrong around the records (the resourceLogs/scopeLogs/logRecords arrays, a resource, a
 * scope) refuses the whole request, as no record under it can be read with confidence; what is
 * wrong inside one record rejects that record only, counted in the partial success.
 */


/** How many rejected records the partial success names before summing up the rest. */
const NAMED_REJECTIONS = 3;

export interface OtlpOptions {
  /** The only service the caller may ship for: the service of records whose resource names none. */
  boundService: string | undefined;
  /** limits.max_batch_items: more records than this is a 413, as for every other door. */
  maxItems: number;
  /** limits.max_metadata_depth: how deep attribute values may nest. */
  maxDepth: number;
}

export interface OtlpBatch {
  /** One entry per log record, in request order: a log to validate, or an UnmappableItem. */
  items: unknown[];
  /** Where each item came from (`resourceLogs[0].scopeLogs[1].logRecords[2]`), for the partial success message. */
  paths: string[];
}

/** A plain JSON value converted from an AnyValue. */
type Plain = string | number | boolean | null | Plain[] | { [key: string]: Plain };

/** A record-level mapping failure; the message starts with the field's path inside the record. */
class RecordProblem extends Error {}

function invalid(path: string, what: string): AppError {
  return new AppError(
    400,
    'INVALID_OTLP',
    `${path} ${what}; the body must be an OTLP/JSON ExportLogsServiceRequest: {"resourceLogs":[{"resource":{...},"scopeLogs":[{"scope":{...},"logRecords":[...]}]}]}`,
  );
}

function kindOf(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
}

/** A short rendering of a refused value: a scalar's JSON cut to 60 characters, else its kind. */
function show(value: unknown): string {
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return kindOf(value);
  const json = JSON.stringify(value);
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}

/** A repeated field: absent and null are the empty list (proto3 JSON omits empty lists). */
function list(value: unknown, path: string, fail: (path: string, what: string) => Error): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw fail(path, `must be an array (got ${kindOf(value)})`);
  return value;
}

/** A message field: absent and null are the empty message. */
function message(value: unknown, path: string, fail: (path: string, what: string) => Error): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw fail(path, `must be an object (got ${kindOf(value)})`);
  return value;
}

/** A string field: absent and null are the empty string. */
function text(value: unknown, path: string, fail: (path: string, what: string) => Error): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw fail(path, `must be a string (got ${kindOf(value)})`);
  return value;
}

/**
 * Sets a key without ever touching a prototype, refusing the keys the JSON body parser refuses
 * (`__proto__`, and `constructor` holding a `prototype`): metadata is merged and serialized
 * downstream, and an attribute key must not be a way around that check.
 */
function put(target: { [key: string]: Plain }, key: string, value: Plain, path: string, fail: (path: string, what: string) => Error): void {
  if (key === '__proto__' || (key === 'constructor' && isObject(value) && Object.hasOwn(value, 'prototype'))) {
    throw fail(path, `uses the key '${key}', which is refused as a prototype-poisoning attempt; rename it`);
  }
  target[key] = value;
}

const INT = /^[+-]?\d{1,20}$/;

function intValue(value: unknown, path: string, fail: (path: string, what: string) => Error): Plain {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && INT.test(value)) {
    const n = Number(value);
    // Beyond 2^53 a number would round: the digits are kept as they came.
    return Number.isSafeInteger(n) ? n : value;
  }
  throw fail(path, `must be an integer, as a decimal string or a JSON number (got ${show(value)})`);
}

function doubleValue(value: unknown, path: string, fail: (path: string, what: string) => Error): Plain {
  if (typeof value === 'number') return value;
  // proto3 JSON spells the values JSON has no number for as strings; they stay strings here.
  if (value === 'NaN' || value === 'Infinity' || value === '-Infinity') return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  throw fail(path, `must be a number (got ${show(value)})`);
}

const KINDS = ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'arrayValue', 'kvlistValue', 'bytesValue'] as const;

/**
 * An AnyValue as plain JSON: kvlists become objects, arrays arrays, intValues numbers when
 * they are safe integers. `levels` is how many more containers may nest: the depth limit keeps
 * a hostile body from nesting deep enough to exhaust the stack here.
 */
function plain(value: unknown, path: string, levels: number, fail: (path: string, what: string) => Error): Plain {
  if (value === undefined || value === null) return null;
  if (!isObject(value)) throw fail(path, `must be an AnyValue object such as {"stringValue":"..."} (got ${kindOf(value)})`);
  const set = KINDS.filter((k) => value[k] !== undefined && value[k] !== null);
  if (set.length === 0) return null;
  if (set.length > 1) throw fail(path, `sets ${set.join(' and ')}; an AnyValue holds exactly one of them`);
  const kind = set[0]!;
  const inner = value[kind];
  const at = `${path}.${kind}`;
  switch (kind) {
    case 'stringValue':
    case 'bytesValue':
      return text(inner, at, fail);
    case 'boolValue':
      if (typeof inner !== 'boolean') throw fail(at, `must be true or false (got ${kindOf(inner)})`);
      return inner;
    case 'intValue':
      return intValue(inner, at, fail);
    case 'doubleValue':
      return doubleValue(inner, at, fail);
    case 'arrayValue':
    case 'kvlistValue': {
      if (levels <= 0) throw fail(path, 'nests deeper than limits.max_metadata_depth allows; flatten it');
      const values = list(message(inner, at, fail).values, `${at}.values`, fail);
      if (kind === 'arrayValue') return values.map((v, i) => plain(v, `${at}.values[${i}]`, levels - 1, fail));
      return attributes(values, `${at}.values`, levels - 1, fail);
    }
  }
}

/** A list of KeyValue as an object (a repeated key keeps its last value, as a map would). */
function attributes(values: unknown[], path: string, levels: number, fail: (path: string, what: string) => Error): { [key: string]: Plain } {
  const out: { [key: string]: Plain } = {};
  for (let i = 0; i < values.length; i++) {
    const at = `${path}[${i}]`;
    const kv = message(values[i], at, fail);
    const key = text(kv.key, `${at}.key`, fail);
    put(out, key, plain(kv.value, `${at}.value`, levels, fail), at, fail);
  }
  return out;
}

const MAX_FIXED64 = 2n ** 64n - 1n;
const DIGITS = /^\d{1,20}$/;

/** A fixed64 nanosecond time: a decimal string per proto3 JSON, or a JSON integer. 0n when unset. */
function nanos(value: unknown, path: string): bigint {
  if (value === undefined || value === null) return 0n;
  let n: bigint | undefined;
  if (typeof value === 'string' && DIGITS.test(value)) n = BigInt(value);
  else if (typeof value === 'number' && Number.isInteger(value) && value >= 0) n = BigInt(value);
  if (n === undefined || n > MAX_FIXED64) {
    throw new RecordProblem(`${path} must be nanoseconds since the Unix epoch as a decimal string, e.g. "1705329000123456789" (got ${show(value)})`);
  }
  return n;
}


/** The SeverityNumber enum's names (proto3 JSON may send an enum by name). */
const SEVERITY_NAMES: ReadonlyMap<string, number> = new Map([
  ['SEVERITY_NUMBER_UNSPECIFIED', 0],
  ...['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'].flatMap((name, i) =>
    [0, 1, 2, 3].map((k) => [`SEVERITY_NUMBER_${name}${k === 0 ? '' : k + 1}`, i * 4 + k + 1] as const),
  ),
]);

/** The level a severityNumber names; undefined when unset, 0, or a number or name outside the enum. */
function levelOfSeverityNumber(value: unknown, path: string): Level | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number') return levelFromSeverityNumber(value);
  if (typeof value === 'string') {
    const n = SEVERITY_NAMES.get(value.trim().toUpperCase());
    return n === undefined ? undefined : levelFromSeverityNumber(n);
  }
  throw new RecordProblem(`${path} must be a number 1-24 or a SeverityNumber name such as "SEVERITY_NUMBER_WARN" (got ${kindOf(value)})`);
}

/** A value as a single line of text: strings as they are, everything else as JSON. */
function textOf(value: Plain): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

const USER_KEYS = ['enduser.id', 'user.id'] as const;

/** What every record of one resource and scope shares. */
interface Context {
  service: string;
  resource: { [key: string]: Plain };
  scope: { [key: string]: Plain };
}

const problem = (path: string, what: string): Error => new RecordProblem(`${path} ${what}`);

function mapRecord(record: Record<string, unknown>, ctx: Context, maxDepth: number): Record<string, unknown> {
  let ns = nanos(record.timeUnixNano, 'timeUnixNano');
  if (ns === 0n) ns = nanos(record.observedTimeUnixNano, 'observedTimeUnixNano');
  if (ns === 0n) throw new RecordProblem('has neither timeUnixNano nor observedTimeUnixNano; set one of them (nanoseconds since the Unix epoch)');

  const body = plain(record.body, 'body', maxDepth, problem);
  const messageText = body === null ? '' : textOf(body);
  if (messageText === '') throw new RecordProblem('has no body, or an empty one; the body is the log message');

  const severityText = text(record.severityText, 'severityText', problem);
  const textLevel = severityText === '' ? undefined : levelFromName(severityText);
  const level = levelOfSeverityNumber(record.severityNumber, 'severityNumber') ?? textLevel ?? 'INFO';

  // Attribute values nest at most maxDepth - 1 levels, so the metadata around them stays within maxDepth.
  const own = attributes(list(record.attributes, 'attributes', problem), 'attributes', maxDepth - 1, problem);
  let userId: string | undefined;
  let userFrom: { [key: string]: Plain } | undefined;
  let userKey = '';
  for (const source of [own, ctx.resource]) {
    for (const key of USER_KEYS) {
      const value = source[key];
      if (userId === undefined && value !== undefined && value !== null && textOf(value) !== '') {
        [userId, userFrom, userKey] = [textOf(value), source, key];
      }
    }
  }

  const metadata: { [key: string]: Plain } = {};
  for (const source of [ctx.resource, own]) {
    for (const [key, value] of Object.entries(source)) {
      // Keys were checked as the attributes were read.
      if (!(source === userFrom && key === userKey)) metadata[key] = value;
    }
  }
  const traceId = text(record.traceId, 'traceId', problem);
  if (traceId !== '') metadata.trace_id = traceId;
  const spanId = text(record.spanId, 'spanId', problem);
  if (spanId !== '') metadata.span_id = spanId;
  const eventName = text(record.eventName, 'eventName', problem);
  if (eventName !== '') metadata['event.name'] = eventName;
  if (severityText !== '' && textLevel === undefined) metadata.severity_text = severityText;
  Object.assign(metadata, ctx.scope);

  const log: Record<string, unknown> = {
    timestamp: rfc3339FromNanos(ns),
    level,
    service: ctx.service,
    message: messageText,
  };
  if (userId !== undefined) log.user_id = userId;
  if (Object.keys(metadata).length > 0) log.metadata = metadata;
  return log;
}

/** The record count, checked against the limit before any record is mapped. */
function countRecords(resourceLogs: unknown[]): number {
  let count = 0;
  for (let i = 0; i < resourceLogs.length; i++) {
    const rl = message(resourceLogs[i], `resourceLogs[${i}]`, invalid);
    const scopeLogs = list(rl.scopeLogs, `resourceLogs[${i}].scopeLogs`, invalid);
    for (let j = 0; j < scopeLogs.length; j++) {
      const sl = message(scopeLogs[j], `resourceLogs[${i}].scopeLogs[${j}]`, invalid);
      count += list(sl.logRecords, `resourceLogs[${i}].scopeLogs[${j}].logRecords`, invalid).length;
    }
  }
  return count;
}

/** Maps an OTLP/JSON ExportLogsServiceRequest; throws 400 INVALID_OTLP for a body of the wrong shape and 413 for too many records. */
export function mapExportLogsRequest(body: unknown, opts: OtlpOptions): OtlpBatch {
  if (!isObject(body)) throw invalid('the body', `must be a JSON object (got ${body === undefined ? 'no body' : kindOf(body)})`);
  if (body.resourceLogs === undefined || body.resourceLogs === null) throw invalid('resourceLogs', 'is missing');
  const resourceLogs = list(body.resourceLogs, 'resourceLogs', invalid);
  const count = countRecords(resourceLogs);
  if (count > opts.maxItems) {
    throw new AppError(
      413,
      'BATCH_TOO_LARGE',
      `the request holds ${count} log records, more than the limit of ${opts.maxItems} (limits.max_batch_items); export smaller batches (the SDK's maxExportBatchSize, the Collector batch processor's send_batch_max_size)`,
    );
  }
  const items: unknown[] = [];
  const paths: string[] = [];
  for (let i = 0; i < resourceLogs.length; i++) {
    const rlPath = `resourceLogs[${i}]`;
    const rl = message(resourceLogs[i], rlPath, invalid);
    const resource = message(rl.resource, `${rlPath}.resource`, invalid);
    const resourceAttrs = attributes(list(resource.attributes, `${rlPath}.resource.attributes`, invalid), `${rlPath}.resource.attributes`, opts.maxDepth - 1, invalid);
    const named = resourceAttrs['service.name'];
    delete resourceAttrs['service.name'];
    const serviceName = named === undefined || named === null ? '' : textOf(named);
    const service = serviceName !== '' ? serviceName : (opts.boundService ?? UNKNOWN_SERVICE);
    const scopeLogs = list(rl.scopeLogs, `${rlPath}.scopeLogs`, invalid);
    for (let j = 0; j < scopeLogs.length; j++) {
      const slPath = `${rlPath}.scopeLogs[${j}]`;
      const sl = message(scopeLogs[j], slPath, invalid);
      const scope = message(sl.scope, `${slPath}.scope`, invalid);
      const scopeMeta: { [key: string]: Plain } = {};
      const scopeName = text(scope.name, `${slPath}.scope.name`, invalid);
      const scopeVersion = text(scope.version, `${slPath}.scope.version`, invalid);
      if (scopeName !== '') scopeMeta['otel.scope.name'] = scopeName;
      if (scopeVersion !== '') scopeMeta['otel.scope.version'] = scopeVersion;
      const ctx: Context = { service, resource: resourceAttrs, scope: scopeMeta };
      const records = list(sl.logRecords, `${slPath}.logRecords`, invalid);
      for (let k = 0; k < records.length; k++) {
        const path = `${slPath}.logRecords[${k}]`;
        const record = message(records[k], path, invalid);
        paths.push(path);
        try {
          items.push(mapRecord(record, ctx, opts.maxDepth));
        } catch (e) {
          if (!(e instanceof RecordProblem)) throw e;
          items.push(new UnmappableItem(`${path}: ${e.message}`));
        }
      }
    }
  }
  return { items, paths };
}

export interface ExportLogsResponse {
  partialSuccess?: { rejectedLogRecords: string; errorMessage: string };
}

/**
 * The OTLP answer: `{}` when every record was accepted, else a partial success counting the
 * rejected records (int64, so a string in proto3 JSON) and naming the first few and why.
 */
export function exportLogsResponse(result: IngestResult, batch: OtlpBatch): ExportLogsResponse {
  const { rejected } = result;
  if (rejected.length === 0) return {};
  const named = rejected.slice(0, NAMED_REJECTIONS).map(({ index, errors }) => {
    // An unmappable item's message already starts with its path.
    const reason = errors.join('; ');
    return batch.items[index] instanceof UnmappableItem ? reason : `${batch.paths[index]}: ${reason}`;
  });
  const more = rejected.length - named.length;
  const total = batch.items.length;
  return {
    partialSuccess: {
      rejectedLogRecords: String(rejected.length),
      errorMessage: `${rejected.length} of ${total} log records rejected: ${named.join(' | ')}${more > 0 ? ` | and ${more} more` : ''}`,
    },
  };
}
