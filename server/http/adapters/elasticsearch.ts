import { AppError } from '../../core/errors.js';
import { UnmappableItem, type IngestResult } from '../../core/ingest.js';
import { levelFromName } from '../../core/log.js';
import { parseRfc3339 } from '../../core/time.js';
import { parseJsonText } from '../body/json.js';
import { isObject, kind } from './shared.js';

/** The actions of Elasticsearch's bulk API; only `create` and `index` store anything here. */
export const BULK_ACTIONS = ['create', 'index', 'update', 'delete'] as const;
export type BulkAction = (typeof BULK_ACTIONS)[number];


export interface BulkOptions {
  /** The `<index>` of `/<index>/_bulk`: the index of every action line that names none. */
  pathIndex: string | undefined;
  /** The service of a document that names none: the caller's bound service, else `unknown_service`. */
  defaultService: string;
  /** limits.max_batch_items: every action counts toward it. */
  maxItems: number;
}

/** One action of the bulk body, in order. */
export interface BulkOperation {
  action: BulkAction;
  index: string;
  /** The `_id` the action line asked for: echoed for an item that failed, as Elasticsearch does. */
  requestedId: string | null;
}

export interface BulkBatch {
  operations: BulkOperation[];
  /** `items[i]` is what `operations[i]` gives the ingest pipeline: a log to validate, or an UnmappableItem. */
  items: unknown[];
}

/**
 * A body Elasticsearch would refuse whole (a line that is not JSON, an action it does not
 * know, an action without its source line): nothing in it is taken. `type` is the
 * Elasticsearch exception name shippers log.
 */
export class BulkBodyError extends Error {
  constructor(
    readonly code: string,
    readonly type: 'illegal_argument_exception' | 'action_request_validation_exception',
    message: string,
  ) {
    super(message);
    this.name = 'BulkBodyError';
  }
}

/** Elasticsearch's error body for a request refused whole, plus our stable `code`. */
export function bulkErrorBody(err: BulkBodyError): {
  error: { root_cause: { type: string; reason: string }[]; type: string; reason: string };
  status: 400;
  code: string;
} {
  const cause = { type: err.type, reason: err.message };
  return { error: { root_cause: [cause], ...cause }, status: 400, code: err.code };
}

type Json = Record<string, unknown>;

/** A value as it may appear in a message: short, and never a container serialized whole. */
function show(value: unknown): string {
  if (typeof value === 'object' && value !== null) return kind(value);
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * A line of nothing but JSON whitespace other than newline (after a byte order mark, which
 * the JSON parser skips too): skipped where an action is expected, as Elasticsearch skips it.
 */
function isBlank(line: string): boolean {
  for (let i = line.charCodeAt(0) === 0xfeff ? 1 : 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13) return false;
  }
  return true;
}

const EXAMPLE = 'e.g. {"create":{"_index":"logs"}} then {"@timestamp":"2024-01-15T14:30:00Z","message":"..."} on the next line';

function parseLine(text: string, line: number): unknown {
  try {
    return parseJsonText(text);
  } catch (e) {
    throw new BulkBodyError(
      'INVALID_JSON',
      'illegal_argument_exception',
      `line ${line} is not valid JSON (${(e as Error).message}); a bulk body is one JSON object per line: an action, then (except for delete) its source document, ${EXAMPLE}`,
    );
  }
}

function malformed(line: number, problem: string): BulkBodyError {
  return new BulkBodyError('BULK_MALFORMED_ACTION', 'illegal_argument_exception', `line ${line}: ${problem}; ${EXAMPLE}`);
}

/** The action a line names, checked as Elasticsearch checks it: one known action whose parameters are an object. */
function readAction(value: unknown, line: number, pathIndex: string | undefined): BulkOperation {
  if (!isObject(value)) throw malformed(line, `an action line must be a JSON object naming one action (got ${kind(value)})`);
  const keys = Object.keys(value);
  if (keys.length !== 1) {
    const got = keys.length === 0 ? 'none' : keys.slice(0, 5).map(show).join(', ');
    throw malformed(line, `an action line names exactly one action, create, index, update or delete (got ${got})`);
  }
  const name = keys[0]!;
  if (!(BULK_ACTIONS as readonly string[]).includes(name)) {
    throw new BulkBodyError(
      'BULK_UNKNOWN_ACTION',
      'illegal_argument_exception',
      `line ${line}: unknown action ${show(name)}; the bulk API's actions are create, index, update and delete, and LogSentinel stores create and index; ${EXAMPLE}`,
    );
  }
  const action = name as BulkAction;
  const params = value[name];
  if (!isObject(params)) throw malformed(line, `the ${action} action's parameters must be an object (got ${kind(params)})`);
  // Other parameters (_type from older shippers, routing, pipeline...) mean nothing here and are ignored.
  const named = params._index;
  if (named !== undefined && (typeof named !== 'string' || named === '')) {
    throw malformed(line, `_index must be a non-empty string (got ${show(named)})`);
  }
  const index = named ?? pathIndex;
  if (index === undefined) {
    throw new BulkBodyError(
      'BULK_MISSING_INDEX',
      'action_request_validation_exception',
      `line ${line}: the ${action} action names no _index and the URL names no index; send to /<index>/_bulk or put "_index" in the action line`,
    );
  }
  const id = params._id;
  if (id !== undefined && id !== null && typeof id !== 'string' && typeof id !== 'number') {
    throw malformed(line, `_id must be a string (got ${show(id)})`);
  }
  return { action, index, requestedId: id === undefined || id === null ? null : String(id) };
}

/**
 * A bulk body as operations and the items the ingest pipeline takes, paired as Elasticsearch
 * pairs them: every action but delete is followed by its source line; blank lines where an
 * action is expected are skipped. A problem with the body itself throws a BulkBodyError
 * naming the line; a document that cannot be mapped becomes an UnmappableItem at its place.
 */
export function parseBulk(text: string, options: BulkOptions): BulkBatch {
  const lines = text.split('\n');
  const operations: BulkOperation[] = [];
  const items: unknown[] = [];
  let i = 0;
  while (i < lines.length) {
    const actionLine = i + 1;
    const actionText = lines[i++]!;
    if (isBlank(actionText)) continue;
    const operation = readAction(parseLine(actionText, actionLine), actionLine, options.pathIndex);
    if (operations.length === options.maxItems) {
      throw new AppError(
        413,
        'BATCH_TOO_LARGE',
        `the bulk request holds more than ${options.maxItems} actions, the limit (limits.max_batch_items); split it into smaller bulk requests`,
      );
    }
    const position = operations.length;
    operations.push(operation);
    if (operation.action === 'delete') {
      items.push(unsupported(operation, position, actionLine));
      continue;
    }
    const sourceLine = i + 1;
    if (i >= lines.length || isBlank(lines[i]!)) {
      const where = lines.slice(i).every(isBlank) ? 'the body ends there' : `line ${sourceLine} is empty`;
      throw new BulkBodyError(
        'BULK_MISSING_SOURCE',
        'action_request_validation_exception',
        `line ${actionLine}: the ${operation.action} action needs its source document on the next line, but ${where}; ${EXAMPLE}`,
      );
    }
    const source = parseLine(lines[i++]!, sourceLine);
    if (operation.action === 'update') {
      items.push(unsupported(operation, position, actionLine));
      continue;
    }
    const mapped = isObject(source)
      ? mapDocument(source, operation.index, options.defaultService)
      : `the source document must be a JSON object (got ${kind(source)})`;
    items.push(typeof mapped === 'string' ? new UnmappableItem(`item ${position} (line ${sourceLine}): ${mapped}`) : mapped);
  }
  if (operations.length === 0) {
    throw new BulkBodyError('EMPTY_BATCH', 'action_request_validation_exception', `the bulk body holds no actions; ${EXAMPLE}`);
  }
  return { operations, items };
}

function unsupported(operation: BulkOperation, position: number, line: number): UnmappableItem {
  return new UnmappableItem(
    `item ${position} (line ${line}): the ${operation.action} action is not supported: LogSentinel keeps every log as it arrived and changes or removes none through this API; send create or index`,
  );
}

interface Taken {
  found: boolean;
  value: unknown;
}

/**
 * Takes `parent.child` out of `rest`, given as a dotted key (`"log.level"`) or nested
 * (`{"log":{"level":...}}`), the dotted key first. A nested parent keeps its other fields,
 * and goes when it is left empty. A null counts as absent, as Elasticsearch indexes it.
 */
function take(rest: Json, parent: string, child: string): Taken {
  const dotted = `${parent}.${child}`;
  if (Object.hasOwn(rest, dotted)) {
    const value = rest[dotted];
    delete rest[dotted];
    return { found: value !== null, value };
  }
  const nested = rest[parent];
  if (isObject(nested) && Object.hasOwn(nested, child)) {
    const { [child]: value, ...others } = nested;
    if (Object.keys(others).length === 0) delete rest[parent];
    else rest[parent] = others;
    return { found: value !== null, value };
  }
  return { found: false, value: undefined };
}

function takeTop(rest: Json, key: string): Taken {
  if (!Object.hasOwn(rest, key)) return { found: false, value: undefined };
  const value = rest[key];
  delete rest[key];
  return { found: value !== null, value };
}

/** A keyword field as Elasticsearch coerces it: a string, or a number or boolean as its text; undefined for anything else. */
function keyword(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean') return String(value);
  return undefined;
}

const TIMESTAMP_FORMS = 'an RFC 3339 date-time with an offset (e.g. 2024-01-15T14:30:00Z) or epoch milliseconds, in years 1970-9999';

/** `@timestamp` (or `timestamp`): an RFC 3339 string the validator takes is kept as sent; epoch milliseconds become RFC 3339 UTC. */
function timestampOf(rest: Json): string | { problem: string } {
  const field = Object.hasOwn(rest, '@timestamp') ? '@timestamp' : 'timestamp';
  const { found, value } = takeTop(rest, field);
  if (!found) return { problem: `the document has no @timestamp (or timestamp); send ${TIMESTAMP_FORMS}` };
  if (typeof value === 'string') {
    return Number.isNaN(parseRfc3339(value)) ? { problem: `${field} ${show(value)} is not ${TIMESTAMP_FORMS}` } : value;
  }
  if (typeof value === 'number' && Number.isFinite(value)) {
    const date = new Date(value);
    const iso = Number.isNaN(date.getTime()) ? undefined : date.toISOString();
    return iso === undefined || Number.isNaN(parseRfc3339(iso)) ? { problem: `${field} ${show(value)} is not epoch milliseconds in years 1970-9999` } : iso;
  }
  return { problem: `${field} must be ${TIMESTAMP_FORMS} (got ${kind(value)})` };
}

/**
 * One source document as a log: `@timestamp`/`timestamp`, `log.level`/`level`,
 * `service.name`/`service`, `message` and `user.id` become the log's fields (dotted or nested),
 * everything else its metadata with its structure kept, plus the index as `_index`. The
 * validator checks the result; a string is why the document cannot be mapped at all.
 */
export function mapDocument(doc: Json, index: string, defaultService: string): Json | string {
  const rest: Json = { ...doc };
  const timestamp = timestampOf(rest);
  if (typeof timestamp !== 'string') return timestamp.problem;

  const metadata: Json = {};
  let levelTaken = take(rest, 'log', 'level');
  if (!levelTaken.found) levelTaken = takeTop(rest, 'level');
  const level = levelTaken.found && typeof levelTaken.value === 'string' ? levelFromName(levelTaken.value) : undefined;
  // A level word we do not know is kept, so nothing the shipper sent is lost.
  if (levelTaken.found && level === undefined) metadata.level = levelTaken.value;

  let serviceTaken = take(rest, 'service', 'name');
  if (!serviceTaken.found && typeof rest.service === 'string') serviceTaken = takeTop(rest, 'service');
  const service = serviceTaken.found ? keyword(serviceTaken.value) : defaultService;
  if (service === undefined) return `service.name must be a string (got ${kind(serviceTaken.value)})`;

  const messageTaken = takeTop(rest, 'message');
  const message = messageTaken.found ? keyword(messageTaken.value) : undefined;
  if (messageTaken.found && message === undefined) return `message must be a string (got ${kind(messageTaken.value)})`;

  const userTaken = take(rest, 'user', 'id');
  const userId = userTaken.found ? keyword(userTaken.value) : undefined;
  if (userTaken.found && userId === undefined) return `user.id must be a string (got ${kind(userTaken.value)})`;

  const log: Json = { timestamp, level: level ?? 'INFO', service };
  if (message !== undefined) log.message = message;
  if (userId !== undefined) log.user_id = userId;
  log.metadata = { ...rest, ...metadata, _index: index };
  return log;
}

interface Shards {
  total: number;
  successful: number;
  failed: number;
}

/** One item of the bulk reply, under its action's name. */
export type BulkItem = Partial<
  Record<
    BulkAction,
    | { _index: string; _id: string; _version: 1; result: 'created'; _shards: Shards; status: 201; _seq_no: number; _primary_term: 1 }
    | { _index: string; _id: string | null; status: 400; error: { type: string; reason: string } }
  >
>;

export interface BulkResponse {
  took: number;
  errors: boolean;
  items: BulkItem[];
}

/**
 * Elasticsearch's bulk reply: one item per action, in order. A stored item is `created` (201)
 * with our log id as `_id`; a refused one is 400 with our validation messages as the reason,
 * which is what rsyslog, Filebeat, Vector and Fluent Bit read to tell the failed items.
 * `firstId` is the id of the first accepted item; the accepted ones hold consecutive ids.
 */
export function bulkResponse(batch: BulkBatch, result: IngestResult, firstId: number, took: number): BulkResponse {
  const reasons = new Map(result.rejected.map((r) => [r.index, r.errors.join('; ')]));
  let nextId = firstId;
  const items = batch.operations.map((op, i): BulkItem => {
    const reason = reasons.get(i);
    if (reason === undefined) {
      const id = nextId++;
      return {
        [op.action]: {
          _index: op.index,
          _id: String(id),
          _version: 1,
          result: 'created',
          _shards: { total: 1, successful: 1, failed: 0 },
          status: 201,
          _seq_no: id,
          _primary_term: 1,
        },
      };
    }
    const type = op.action === 'create' || op.action === 'index' ? 'document_parsing_exception' : 'illegal_argument_exception';
    return { [op.action]: { _index: op.index, _id: op.requestedId, status: 400, error: { type, reason } } };
  });
  return { took, errors: reasons.size > 0, items };
}
