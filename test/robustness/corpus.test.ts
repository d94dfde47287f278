/**
 * A corpus of malformed requests, one table row each: what is sent, the status (or statuses)
 * expected, and a pattern the error text must match, so it names the problem.
 *
 * For every row: a 4xx (never a 5xx), one of the documented error shapes, and nothing
 * stored or counted (`/api/stats` total, the logs `GET /api/logs` lists, `/health`
 * current_stored are the same before and after). Rows whose batch is partly valid (207) are a
 * class of their own: exactly the valid items are stored. After the whole corpus, a valid
 * ingest and a read still succeed. The corpus runs on an in-memory server and again on one
 * backed by a SQLite file, both with small limits so the enormous cases are cheap.
 *
 * A row with `knownBug` is a defect whose fix lies outside the route and core files: it runs as
 * a todo test (reported, not failing) until the fix lands, then the marker goes.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { ADMIN_TOKEN, READER_TOKEN, buildTestApp } from '../helpers.js';

// ---------------------------------------------------------------------------------------------
// Small limits: every "over the limit" case is a few bytes past one.

const LIMITS = {
  max_body_bytes: 1_048_576, // room for 100,000 levels of nesting, and still cheap to exceed
  max_batch_items: 5,
  max_service_length: 16,
  max_user_id_length: 16,
  max_message_length: 64,
  max_metadata_keys: 4,
  max_metadata_depth: 3,
};

const CONFIG = {
  limits: LIMITS,
  rate_limit: { enabled: false },
  load_shedding: { enabled: false },
};

const JSON_CT = { 'content-type': 'application/json' };
const NDJSON_CT = { 'content-type': 'application/x-ndjson' };
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` };
const LEGACY = { authorization: `Token ${ADMIN_TOKEN}` };

/** A valid log within the small limits. */
function valid(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    timestamp: '2024-01-15T14:29:30Z',
    level: 'INFO',
    service: 'auth-service',
    message: 'corpus',
    user_id: 'u-1',
    metadata: { request_id: 'r-1' },
    ...overrides,
  };
}

/** A valid log as JSON text, with `field`'s value replaced by the raw JSON text `raw`. */
function withRaw(field: string, raw: string, base: Record<string, unknown> = valid()): string {
  const marker = '"@@RAW@@"';
  return JSON.stringify({ ...base, [field]: '@@RAW@@' }).replace(marker, raw);
}

function without(field: string): Record<string, unknown> {
  const out = valid();
  delete out[field];
  return out;
}

// ---------------------------------------------------------------------------------------------
// The table.

/**
 * The documented error shapes:
 * - `error`: `{error, code}`, every error reply but the two below;
 * - `invalid`: POST /api/logs' one-log reply `{status: "invalid", errors: [...]}`;
 * - `batch`: the batch reply with nothing accepted, `{status: "invalid", accepted: 0, rejected, rejected_items}`;
 * - `legacy`: the batch reply of POST /logs, the batch reply plus `error`.
 */
type Shape = 'error' | 'invalid' | 'batch' | 'legacy';

interface Row {
  name: string;
  req: InjectOptions;
  /** The status, or the acceptable statuses. */
  status: number | readonly number[];
  /** What the error text (every message in it) must match: the problem, named. */
  match: RegExp;
  shape?: Shape;
  /** The `code` of an `error`-shaped reply, when one code is the only right one. */
  code?: string;
  /** A defect to fix outside the files this corpus may change: the row runs as a todo. */
  knownBug?: string;
}

/** A batch with some valid items: exactly those are stored. Messages carry a row-unique tag. */
interface PartialRow {
  name: string;
  req: InjectOptions;
  /** Tag every message of this row contains (searched with `q`). */
  tag: string;
  /** Messages of the items that must be stored. */
  stored: string[];
  /** Indexes of the rejected items. */
  rejected: number[];
  /** What each rejected item's errors must match. */
  match: RegExp;
  /** POST /logs answers in its own shape. */
  legacy?: boolean;
  /** A defect to fix outside the files this corpus may change: the row runs as a todo. */
  knownBug?: string;
}

const rows: Row[] = [];

function add(name: string, req: InjectOptions, status: Row['status'], match: RegExp, extra: Partial<Row> = {}): void {
  rows.push({ name, req, status, match, ...extra });
}

function postLogs(payload: string | Buffer, headers: Record<string, string> = JSON_CT, url = '/api/logs'): InjectOptions {
  return { method: 'POST', url, payload, headers };
}

/** POST /logs, the compatibility API's door, with a token. */
function postLegacy(payload: string, headers: Record<string, string> = JSON_CT): InjectOptions {
  return postLogs(payload, { ...headers, ...LEGACY }, '/logs');
}

/** A log in the compatibility API's words (`severity`, a naive timestamp). */
function legacyLog(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { timestamp: '2025-04-01T10:00:00', service: 's', severity: 'INFO', message: 'm', ...overrides };
}

function get(url: string, headers: Record<string, string> = {}): InjectOptions {
  return { method: 'GET', url, headers };
}

const BAD_JSON = /not valid JSON/;
const TS = /'timestamp' must be an RFC 3339 date-time with an offset/;
const LEVEL = /'level' must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL/;
const UNSUPPORTED = /unsupported Content-Type.*application\/json.*application\/x-ndjson/;
const PROTO = /not valid JSON \(.*forbidden prototype property/;
const VALID_TEXT = JSON.stringify(valid());

// --- broken JSON, many shapes ----------------------------------------------------------------
const brokenJson: Array<[string, string]> = [
  ['lone open brace', '{'],
  ['lone close brace', '}'],
  ['lone open bracket', '['],
  ['close brackets', ']]'],
  ['lone quote', '"'],
  ['unterminated key', '{"a"'],
  ['missing value', '{"a":}'],
  ['missing colon', '{"a" 1}'],
  ['double colon', '{"a"::1}'],
  ['trailing comma in object', '{"a":1,}'],
  ['trailing comma in array', '[1,]'],
  ['leading comma', '{,"a":1}'],
  ['empty member', '{,}'],
  ['single-quoted strings', "{'a':1}"],
  ['unquoted keys', '{level: INFO}'],
  ['unquoted value', '{"level":INFO}'],
  ['NaN literal', '{"a":NaN}'],
  ['Infinity literal', '{"a":Infinity}'],
  ['undefined literal', '{"a":undefined}'],
  ['bare undefined', 'undefined'],
  ['misspelt null', 'nul'],
  ['misspelt true', '{"a":tru}'],
  ['leading zero', '{"a":01}'],
  ['leading dot', '{"a":.5}'],
  ['trailing dot', '{"a":1.}'],
  ['plus sign', '{"a":+1}'],
  ['hex number', '{"a":0x10}'],
  ['exponent without digits', '{"a":1e}'],
  ['\\x escape', '{"a":"\\x41"}'],
  ['short \\u escape', '{"a":"\\u12"}'],
  ['bad escape letter', '{"a":"\\q"}'],
  ['unterminated string', '{"a":"unterminated}'],
  ['two objects', '{"a":1}{"b":2}'],
  ['object then garbage', `${VALID_TEXT} x`],
  ['line comment', `// a log\n${VALID_TEXT}`],
  ['block comment', '{"a":1 /* c */}'],
  ['unclosed array in object', '{"a":[}'],
  ['mismatched brackets', '{"a":[1}]'],
  ['non-breaking space as whitespace', `\u00a0${VALID_TEXT}`],
  ['two byte order marks', `\ufeff\ufeff${VALID_TEXT}`],
  ['whitespace only', '   \n\t '],
  ['two logs on two lines sent as application/json', `${VALID_TEXT}\n${VALID_TEXT}`],
  ['XML', '<log level="INFO">hi</log>'],
  ['YAML', 'timestamp: 2024-01-15T14:29:30Z\nlevel: INFO'],
  ['form-encoded text as JSON', 'timestamp=2024-01-15T14:29:30Z&level=INFO'],
];
for (const [name, payload] of brokenJson) add(`broken JSON: ${name}`, postLogs(payload), 400, BAD_JSON, { code: 'INVALID_JSON' });
add('broken JSON: empty body', postLogs(''), 400, /body is empty/, { code: 'EMPTY_BODY' });
add('broken JSON: on the legacy door', postLegacy('{"severity":'), 400, BAD_JSON, { code: 'INVALID_JSON' });
add('broken JSON: on simulate-logs', postLogs('{"count":'), 400, BAD_JSON, { code: 'INVALID_JSON' });
add(
  'broken JSON: on a silence',
  { ...postLogs('{"duration":', { ...JSON_CT, ...ADMIN }), url: '/api/alerts/x/silence' },
  400,
  BAD_JSON,
  { code: 'INVALID_JSON' },
);

// --- truncated bodies: a valid log cut at many points ----------------------------------------
{
  const full = JSON.stringify(valid({ metadata: { request_id: 'r-1', ms: 12.5, tags: ['a', 'b'] } }));
  const cuts = new Set<number>();
  for (let at = 2; at < full.length; at += 7) cuts.add(at);
  for (const ch of [':', ',', '"', '[', '{']) cuts.add(full.lastIndexOf(ch) + 1);
  cuts.add(full.length - 1);
  for (const at of [...cuts].sort((a, b) => a - b)) {
    add(`truncated JSON object at byte ${at} of ${full.length}`, postLogs(full.slice(0, at)), 400, BAD_JSON, { code: 'INVALID_JSON' });
  }
  const batch = JSON.stringify([valid({ message: 'first' }), valid({ message: 'second' })]);
  for (const at of [2, batch.indexOf('},{') + 2, batch.length - 2, batch.length - 1]) {
    add(`truncated JSON array at byte ${at} of ${batch.length}`, postLogs(batch.slice(0, at)), 400, BAD_JSON, { code: 'INVALID_JSON' });
  }
  for (const at of [1, 20, full.length - 1]) {
    add(`truncated NDJSON line at byte ${at}`, postLogs(full.slice(0, at), NDJSON_CT), 400, /^line 1 is not valid JSON/m, { shape: 'batch' });
  }
}

// --- wrong types in every field --------------------------------------------------------------
const wrongValues: Array<[string, string, string]> = [
  ['a number', '42', 'number'],
  ['a float', '1.5', 'number'],
  ['a boolean', 'true', 'boolean'],
  ['null', 'null', 'null'],
  ['an empty array', '[]', 'array'],
  ['an array of strings', '["x"]', 'array'],
  ['an empty object', '{}', 'object'],
  ['a nested object', '{"a":{"b":[1]}}', 'object'],
];
for (const field of ['timestamp', 'level', 'service', 'message', 'user_id']) {
  for (const [what, raw, got] of wrongValues) {
    add(
      `wrong type: ${field} is ${what}`,
      postLogs(withRaw(field, raw)),
      400,
      new RegExp(`'${field}' must be of type string \\(got ${got}\\)`),
      { shape: 'invalid' },
    );
  }
}
for (const [what, raw, got] of [...wrongValues.filter(([, , g]) => g !== 'object'), ['a string', '"x"', 'string'] as [string, string, string]]) {
  add(
    `wrong type: metadata is ${what}`,
    postLogs(withRaw('metadata', raw)),
    400,
    new RegExp(`'metadata' must be of type object \\(got ${got}\\)`),
    { shape: 'invalid' },
  );
}
add(
  'wrong type: every field at once',
  postLogs('{"timestamp":1,"level":2,"service":3,"message":4,"user_id":5,"metadata":6}'),
  400,
  /'timestamp'.*\n?.*'metadata' must be of type object/s,
  { shape: 'invalid' },
);
add(
  'wrong type: in a batch, every item bad',
  postLogs(JSON.stringify([valid({ level: 3 }), valid({ message: null })])),
  400,
  /must be of type string/,
  { shape: 'batch' },
);
for (const field of ['timestamp', 'level', 'service', 'message']) {
  add(`missing required: ${field}`, postLogs(JSON.stringify(without(field))), 400, new RegExp(`'${field}' is a required property`), { shape: 'invalid' });
}
add('missing everything: an empty object', postLogs('{}'), 400, /'timestamp' is a required property/, { shape: 'invalid' });
add(
  'unknown property',
  postLogs(JSON.stringify(valid({ colour: 'red' }))),
  400,
  /'colour' is not an allowed property; allowed: timestamp, level/,
  { shape: 'invalid' },
);
add('unknown property: id supplied by the client', postLogs(JSON.stringify(valid({ id: 1 }))), 400, /'id' is not an allowed property/, { shape: 'invalid' });
add(
  'unknown property: severity on /api/logs',
  postLogs(JSON.stringify(valid({ severity: 'INFO' }))),
  400,
  /'severity' is not an allowed property/,
  { shape: 'invalid' },
);
for (const [body, got] of [
  ['42', 'number'],
  ['"a log"', 'string'],
  ['null', 'null'],
  ['true', 'boolean'],
] as const) {
  add(
    `body is not a log: ${got}`,
    postLogs(body),
    400,
    new RegExp(`one log object, a JSON array of log objects, or NDJSON.*got ${got}$`),
    { code: 'BAD_BODY_SHAPE' },
  );
}
add('body is not a log: an array of numbers', postLogs('[1,2]'), 400, /the value must be of type object \(got number\)/, { shape: 'batch' });
add('body is not a log: an array of arrays', postLogs('[[]]'), 400, /the value must be of type object \(got array\)/, { shape: 'batch' });

// --- empty strings ---------------------------------------------------------------------------
add('empty string: timestamp', postLogs(JSON.stringify(valid({ timestamp: '' }))), 400, TS, { shape: 'invalid' });
add('empty string: level', postLogs(JSON.stringify(valid({ level: '' }))), 400, LEVEL, { shape: 'invalid' });
for (const field of ['service', 'message', 'user_id']) {
  add(`empty string: ${field}`, postLogs(JSON.stringify(valid({ [field]: '' }))), 400, new RegExp(`'${field}' must not be empty`), { shape: 'invalid' });
}

// --- unknown levels --------------------------------------------------------------------------
for (const level of ['info', 'warn', 'WARN', 'FATAL', 'Error', 'TRACE', 'NOTICE', 'ERR', 'CRIT', ' INFO', 'INFO ', 'I NFO', 'WARNING\n', 'İNFO', '1']) {
  add(`unknown level ${JSON.stringify(level)}`, postLogs(JSON.stringify(valid({ level }))), 400, LEVEL, { shape: 'invalid' });
}

// --- invalid and absurd dates ----------------------------------------------------------------
const badDates: string[] = [
  '0000-01-01T00:00:00Z',
  '0-01-01T00:00:00Z',
  '1969-12-31T23:59:59Z',
  '1970-01-01T00:59:59+01:00', // before 1970 in UTC, through the offset
  '9999-12-31T23:59:59-00:01', // after 9999 in UTC, through the offset
  '10000-01-01T00:00:00Z',
  '99999-12-31T00:00:00Z',
  '+002024-01-15T14:30:00Z',
  '-000001-01-01T00:00:00Z',
  '2024-13-01T00:00:00Z',
  '2024-00-10T00:00:00Z',
  '2024-01-00T00:00:00Z',
  '2024-01-32T00:00:00Z',
  '2024-02-30T00:00:00Z',
  '2023-02-29T00:00:00Z', // not a leap year
  '2100-02-29T00:00:00Z', // a century that is not a leap year
  '2024-04-31T00:00:00Z',
  '2024-01-15T24:00:00Z',
  '2024-01-15T25:00:00Z',
  '2024-01-15T14:60:00Z',
  '2024-01-15T14:30:61Z',
  '2024-01-15T14:30:60Z', // a leap second, but not at 23:59 UTC
  '2016-12-31T23:59:60+01:00', // 22:59:60 UTC
  '2016-12-31T23:58:60Z',
  '2016-12-31T00:00:60Z',
  '2024-01-15T14:30:00+25:00',
  '2024-01-15T14:30:00+24:00',
  '2024-01-15T14:30:00-24:00',
  '2024-01-15T14:30:00+23:60',
  '2024-01-15T14:30:00+0100',
  '2024-01-15T14:30:00+01',
  '2024-01-15T14:30:00+1:00',
  '2024-01-15T14:30:00', // no offset
  '2024-01-15T14:30:00.000',
  '2024-01-15T14:30:00.1234567890Z', // a fraction of 10 digits
  '2024-01-15T14:30:00.Z',
  '2024-01-15T14:30:00,5Z',
  '２０２４-01-15T14:30:00Z', // fullwidth digits
  '٢٠٢٤-٠١-١٥T14:30:00Z', // Arabic-Indic digits
  '2024-01-15T１4:30:00Z',
  '2024-01-15T14:30:00+０1:00',
  '2024-01-15',
  '14:30:00Z',
  '2024-01-15T14:30Z',
  '2024-1-15T14:30:00Z',
  '2024/01/15T14:30:00Z',
  '2024-01-15_14:30:00Z',
  '2024-01-15x14:30:00Z',
  '2024-01-15TT14:30:00Z',
  '2024-01-15T14:30:00ZZ',
  '2024-01-15T14:30:00+00:00Z',
  '2024-01-15T14:30:00z+01:00',
  ' 2024-01-15T14:30:00Z',
  '2024-01-15T14:30:00Z ',
  '2024-01-15T14:30:00Z\n',
  '2024-01-15T14:30:00 Z',
  '2024-01-15T14:30:00\u0000Z',
  '1705329000',
  'Mon, 15 Jan 2024 14:30:00 GMT',
  '2024-W03-1T14:30:00Z',
  '2024-015T14:30:00Z',
  'yesterday',
];
for (const timestamp of badDates) {
  add(`bad date ${JSON.stringify(timestamp)}`, postLogs(JSON.stringify(valid({ timestamp }))), 400, TS, { shape: 'invalid' });
}
add('bad date: 100 kB of digits', postLogs(JSON.stringify(valid({ timestamp: '2'.repeat(100_000) }))), 400, TS, { shape: 'invalid' });
add(
  'bad date: naive timestamp on the legacy door with an impossible day',
  postLegacy(JSON.stringify([legacyLog({ timestamp: '2025-02-30T10:00:00' })])),
  400,
  /'timestamp' must be an RFC 3339 date-time/,
  { shape: 'legacy' },
);

// --- enormous strings ------------------------------------------------------------------------
for (const [field, limit] of [
  ['service', LIMITS.max_service_length],
  ['message', LIMITS.max_message_length],
  ['user_id', LIMITS.max_user_id_length],
] as const) {
  const over = new RegExp(`'${field}' is longer than the limit of ${limit} characters`);
  add(`too long: ${field} one past the limit`, postLogs(JSON.stringify(valid({ [field]: 'x'.repeat(limit + 1) }))), 400, over, { shape: 'invalid' });
  add(`too long: ${field} in multi-byte characters`, postLogs(JSON.stringify(valid({ [field]: 'é'.repeat(limit + 1) }))), 400, over, { shape: 'invalid' });
  add(
    `too long: ${field} in emoji (one code point each)`,
    postLogs(JSON.stringify(valid({ [field]: '🙂'.repeat(limit + 1) }))),
    400,
    over,
    { shape: 'invalid' },
  );
  add(`too long: ${field} of 500 kB`, postLogs(JSON.stringify(valid({ [field]: 'y'.repeat(500_000) }))), 400, over, { shape: 'invalid' });
}
add('too long: level of 100 kB', postLogs(JSON.stringify(valid({ level: 'I'.repeat(100_000) }))), 400, LEVEL, { shape: 'invalid' });
add(
  'too long: an unknown key of 100 kB',
  postLogs(JSON.stringify(valid({ ['k'.repeat(100_000)]: 1 }))),
  400,
  /is not an allowed property/,
  { shape: 'invalid' },
);

// --- metadata: depth and key count -----------------------------------------------------------
const DEPTH = new RegExp(`'metadata' nests deeper than the limit of ${LIMITS.max_metadata_depth} levels`);
add('metadata one level too deep (objects)', postLogs(JSON.stringify(valid({ metadata: { a: { b: { c: {} } } } }))), 400, DEPTH, { shape: 'invalid' });
add('metadata one level too deep (arrays)', postLogs(JSON.stringify(valid({ metadata: { a: [[[1]]] } }))), 400, DEPTH, { shape: 'invalid' });
add(
  'metadata too deep beside shallow keys',
  postLogs(JSON.stringify(valid({ metadata: { x: 1, y: 'z', a: { b: [{ c: 1 }] } } }))),
  400,
  DEPTH,
  { shape: 'invalid' },
);
{
  const depth = 100_000;
  const deepObject = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  const deepArray = `${'['.repeat(depth)}${']'.repeat(depth)}`;
  add('metadata 100,000 levels of objects', postLogs(withRaw('metadata', deepObject)), 400, DEPTH, { shape: 'invalid' });
  add('metadata 100,000 levels of arrays', postLogs(withRaw('metadata', `{"a":${deepArray}}`)), 400, DEPTH, { shape: 'invalid' });
  add(
    'metadata 100,000 levels, with an escape that makes the parser scan for __proto__',
    postLogs(withRaw('metadata', deepObject, valid({ message: 'caf\\u00e9' })).replace('caf\\\\u00e9', 'caf\\u00e9')),
    400,
    DEPTH,
    { shape: 'invalid' },
  );
  add(
    'metadata 100,000 levels with a __proto__ key at the bottom',
    postLogs(withRaw('metadata', `${'{"a":'.repeat(depth)}{"__proto__":{}}${'}'.repeat(depth)}`)),
    400,
    PROTO,
    { code: 'INVALID_JSON' },
  );
  add('an unknown key 100,000 levels deep', postLogs(withRaw('extra', deepObject)), 400, /'extra' is not an allowed property/, { shape: 'invalid' });
  add(
    'message as 100,000 levels of arrays',
    postLogs(withRaw('message', deepArray)),
    400,
    /'message' must be of type string \(got array\)/,
    { shape: 'invalid' },
  );
  add('the whole body 100,000 levels of arrays', postLogs(deepArray), 400, /the value must be of type object \(got array\)/, { shape: 'batch' });
  add('the whole body 100,000 levels of objects', postLogs(deepObject), 400, /'a' is not an allowed property/, { shape: 'invalid' });
  add('an NDJSON line 100,000 levels deep', postLogs(withRaw('metadata', deepObject), NDJSON_CT), 400, DEPTH, { shape: 'batch' });
  add('100,000 unclosed brackets', postLogs('['.repeat(depth)), 400, BAD_JSON, { code: 'INVALID_JSON' });
  add(
    'legacy door: severity 100,000 levels deep',
    postLegacy(JSON.stringify([legacyLog({ severity: '@@' })]).replace('"@@"', deepArray)),
    400,
    /'severity' must be of type string/,
    { shape: 'legacy' },
  );
}
const KEYS = new RegExp(`'metadata' has more than the limit of ${LIMITS.max_metadata_keys} keys`);
add('metadata one key too many', postLogs(JSON.stringify(valid({ metadata: { a: 1, b: 2, c: 3, d: 4, e: 5 } }))), 400, KEYS, { shape: 'invalid' });
add(
  'metadata 10,000 keys',
  postLogs(JSON.stringify(valid({ metadata: Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, i])) }))),
  400,
  KEYS,
  { shape: 'invalid' },
);

// --- __proto__ and constructor keys ----------------------------------------------------------
const poisoned: Array<[string, string]> = [
  ['__proto__ at the top', '{"timestamp":"2024-01-15T14:29:30Z","level":"INFO","service":"s","message":"m","__proto__":{"admin":true}}'],
  ['__proto__ in metadata', withRaw('metadata', '{"__proto__":{"admin":true}}')],
  ['__proto__ deep in metadata', withRaw('metadata', '{"a":{"b":{"__proto__":{"x":1}}}}')],
  ['__proto__ inside an array in metadata', withRaw('metadata', '{"a":[{"__proto__":{}}]}')],
  ['__proto__ as null', withRaw('metadata', '{"__proto__":null}')],
  ['__proto__ in a batch item', `[${VALID_TEXT},{"__proto__":{"admin":true}}]`],
  ['\\u005f_proto__ (escaped) at the top', '{"timestamp":"2024-01-15T14:29:30Z","level":"INFO","service":"s","message":"m","\\u005f_proto__":{"admin":true}}'],
  ['\\u005F\\u005Fproto__ (upper-case escapes) in metadata', withRaw('metadata', '{"\\u005F\\u005Fproto__":{}}')],
  ['__\\u0070roto__ in metadata', withRaw('metadata', '{"__\\u0070roto__":{}}')],
  ['every letter of __proto__ escaped', withRaw('metadata', `{"${[...'__proto__'].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}":{}}`)],
  ['constructor.prototype at the top', '{"timestamp":"2024-01-15T14:29:30Z","level":"INFO","service":"s","message":"m","constructor":{"prototype":{"admin":true}}}'],
  ['constructor.prototype in metadata', withRaw('metadata', '{"constructor":{"prototype":{"x":1}}}')],
  ['constructor.prototype deep in metadata', withRaw('metadata', '{"a":[{"constructor":{"prototype":{}}}]}')],
  ['\\u0063onstructor.prototype (escaped) in metadata', withRaw('metadata', '{"\\u0063onstructor":{"prototype":{}}}')],
  ['constructor.\\u0070rototype (escaped) in metadata', withRaw('metadata', '{"constructor":{"\\u0070rototype":{}}}')],
];
for (const [name, payload] of poisoned) {
  add(`JSON ${name}`, postLogs(payload), 400, PROTO, { code: 'INVALID_JSON' });
  if (!payload.startsWith('[')) {
    add(`NDJSON ${name}`, postLogs(payload, NDJSON_CT), 400, /^line 1 is not valid JSON \(.*forbidden prototype property/m, { shape: 'batch' });
  }
}
add(
  'legacy door: __proto__ in an item',
  postLegacy('[{"timestamp":"2025-04-01T10:00:00","service":"s","severity":"INFO","message":"m","__proto__":{}}]'),
  400,
  PROTO,
  { code: 'INVALID_JSON' },
);
add('simulate-logs: __proto__ in the body', postLogs('{"__proto__":{"count":5}}', JSON_CT, '/api/simulate-logs'), 400, PROTO, { code: 'INVALID_JSON' });
add(
  'silence: constructor.prototype in the body',
  { ...postLogs('{"duration":"5m","constructor":{"prototype":{}}}', { ...JSON_CT, ...ADMIN }), url: '/api/alerts/x/silence' },
  400,
  PROTO,
  { code: 'INVALID_JSON' },
);
add(
  'constructor (no prototype) at the top is just an unknown property',
  postLogs(JSON.stringify(valid({ constructor: {} }))),
  400,
  /'constructor' is not an allowed property/,
  { shape: 'invalid' },
);

// --- control characters and NUL bytes --------------------------------------------------------
for (const [name, ch] of [
  ['NUL', '\u0000'],
  ['SOH', '\u0001'],
  ['backspace', '\b'],
  ['tab', '\t'],
  ['line feed', '\n'],
  ['vertical tab', '\u000b'],
  ['form feed', '\f'],
  ['carriage return', '\r'],
  ['escape', '\u001b'],
  ['unit separator', '\u001f'],
] as const) {
  add(`raw control character in a string: ${name}`, postLogs(withRaw('message', `"a${ch}b"`)), 400, BAD_JSON, { code: 'INVALID_JSON' });
}
add('NUL byte between tokens', postLogs(`{"timestamp":\u0000"2024-01-15T14:29:30Z"}`), 400, BAD_JSON, { code: 'INVALID_JSON' });
add('NUL byte after the body', postLogs(`${VALID_TEXT}\u0000`), 400, BAD_JSON, { code: 'INVALID_JSON' });
add('NUL bytes only', postLogs('\u0000\u0000'), 400, BAD_JSON, { code: 'INVALID_JSON' });
add('raw control character in an NDJSON line', postLogs(withRaw('message', '"a\u0001b"'), NDJSON_CT), 400, /^line 1 is not valid JSON/m, { shape: 'batch' });
add(
  'NUL in service via escape is still a service over its limit when long',
  postLogs(JSON.stringify(valid({ service: '\u0000'.repeat(17) }))),
  400,
  /'service' is longer than the limit of 16/,
  { shape: 'invalid' },
);

// --- invalid UTF-8 (Buffer payloads) ---------------------------------------------------------
function bytesIn(field: string, bytes: number[]): Buffer {
  const [head, tail] = withRaw(field, '"@@"').split('@@') as [string, string];
  return Buffer.concat([Buffer.from(head), Buffer.from('x'), Buffer.from(bytes), Buffer.from(tail)]);
}
const INVALID_UTF8 = /UTF-8/;
for (const [name, bytes] of [
  ['0xff', [0xff]],
  ['a lone continuation byte', [0x80]],
  ['an overlong NUL (0xc0 0x80)', [0xc0, 0x80]],
  ['a truncated 3-byte sequence', [0xe2, 0x82]],
  ['an encoded surrogate (CESU-8)', [0xed, 0xa0, 0x80]],
  ['a code point past U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
] as const) {
  add(`invalid UTF-8 in message: ${name}`, postLogs(bytesIn('message', [...bytes])), [400, 415], INVALID_UTF8);
}
add('invalid UTF-8 in service', postLogs(bytesIn('service', [0xfe])), [400, 415], INVALID_UTF8);
add('invalid UTF-8 in user_id', postLogs(bytesIn('user_id', [0xc3])), [400, 415], INVALID_UTF8);
add('invalid UTF-8 in an NDJSON line', postLogs(bytesIn('message', [0xff]), NDJSON_CT), [400, 415], INVALID_UTF8);
add(
  'invalid UTF-8 between tokens',
  postLogs(Buffer.concat([Buffer.from('{'), Buffer.from([0xff]), Buffer.from(VALID_TEXT.slice(1))])),
  400,
  /not valid JSON|not valid UTF-8/,
);
add(
  'a UTF-16 body (with its byte order mark)',
  postLogs(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(VALID_TEXT, 'utf16le')])),
  400,
  /not valid JSON|not valid UTF-8/,
);

// --- lone surrogates -------------------------------------------------------------------------
const SURROGATE = /unpaired UTF-16 surrogate/;
for (const field of ['service', 'message', 'user_id']) {
  for (const [name, escape] of [
    ['a high surrogate alone', '\\ud800'],
    ['a low surrogate alone', '\\udc00'],
    ['a high surrogate then a letter', '\\ud83dx'],
    ['a reversed pair', '\\ude00\\ud83d'],
  ] as const) {
    add(`lone surrogate in ${field}: ${name}`, postLogs(withRaw(field, `"a${escape}"`)), 400, SURROGATE, { shape: 'invalid' });
  }
}
add('lone surrogate in an NDJSON line', postLogs(withRaw('message', '"\\ud800"'), NDJSON_CT), 400, SURROGATE, { shape: 'batch' });
add('lone surrogate on the legacy door', postLegacy(`[${withRaw('message', '"\\udfff"', legacyLog())}]`), 400, SURROGATE, { shape: 'legacy' });

// --- batches: too many, empty ----------------------------------------------------------------
const TOO_MANY = new RegExp(`holds \\d+ logs, more than the limit of ${LIMITS.max_batch_items} \\(limits.max_batch_items\\)`);
const six = Array.from({ length: LIMITS.max_batch_items + 1 }, (_, i) => valid({ message: `six-${i}` }));
add('too many items: a JSON array one past the limit', postLogs(JSON.stringify(six)), 413, TOO_MANY, { code: 'BATCH_TOO_LARGE' });
add('too many items: 10,000 empty objects', postLogs(JSON.stringify(Array.from({ length: 10_000 }, () => ({})))), 413, TOO_MANY, { code: 'BATCH_TOO_LARGE' });
add('too many items: NDJSON one past the limit', postLogs(six.map((l) => JSON.stringify(l)).join('\n'), NDJSON_CT), 413, TOO_MANY, { code: 'BATCH_TOO_LARGE' });
add(
  'too many items: NDJSON with blank lines between (still too many)',
  postLogs(six.map((l) => JSON.stringify(l)).join('\n\n  \n'), NDJSON_CT),
  413,
  TOO_MANY,
  { code: 'BATCH_TOO_LARGE' },
);
add('too many items: NDJSON of broken lines', postLogs('{\n'.repeat(6), NDJSON_CT), 413, TOO_MANY, { code: 'BATCH_TOO_LARGE' });
add('too many items: on the legacy door', postLegacy(JSON.stringify(six)), 413, TOO_MANY, { code: 'BATCH_TOO_LARGE' });
add('empty JSON array', postLogs('[]'), 400, /the batch holds no logs/, { code: 'EMPTY_BATCH' });
add('empty JSON array on the legacy door', postLegacy('[]'), 400, /the batch holds no logs/, { code: 'EMPTY_BATCH' });
add('empty NDJSON body', postLogs('', NDJSON_CT), 400, /the batch holds no logs/, { code: 'EMPTY_BATCH' });
add('NDJSON of blank lines only', postLogs('\n\n   \n', NDJSON_CT), 400, /the batch holds no logs/, { code: 'EMPTY_BATCH' });
add('NDJSON of CRLF and tab blank lines only', postLogs('\r\n\t\r\n \r\n', NDJSON_CT), 400, /the batch holds no logs/, { code: 'EMPTY_BATCH' });

// --- NDJSON: broken lines --------------------------------------------------------------------
add('NDJSON: every line broken', postLogs('{nope\n[oops\n"unterminated', NDJSON_CT), 400, /line [123] is not valid JSON/, { shape: 'batch' });
add('NDJSON: broken lines between blank ones', postLogs('\n{\n\n}\n', NDJSON_CT), 400, /line [24] is not valid JSON/, { shape: 'batch' });
add(
  'NDJSON: a pretty-printed object (more lines than the batch limit)',
  postLogs(JSON.stringify(valid(), null, 2), NDJSON_CT),
  413,
  TOO_MANY,
  { code: 'BATCH_TOO_LARGE' },
);
add('NDJSON: a pretty-printed small object', postLogs('{\n"a": 1\n}', NDJSON_CT), 400, /line [123] is not valid JSON/, { shape: 'batch' });
add(
  'NDJSON: a JSON array of logs on one line',
  postLogs(JSON.stringify([valid()]), NDJSON_CT),
  400,
  /the value must be of type object \(got array\)/,
  { shape: 'batch' },
);
add(
  'NDJSON: lines that are scalars',
  postLogs('null\n42\n"text"\ntrue', NDJSON_CT),
  400,
  /the value must be of type object \(got (null|number|string|boolean)\)/,
  { shape: 'batch' },
);
add(
  'NDJSON: classic Mac line ends (CR only) join two logs on one line',
  postLogs(`${VALID_TEXT}\r${VALID_TEXT}`, NDJSON_CT),
  400,
  /^line 1 is not valid JSON/m,
  { shape: 'batch' },
);
add('NDJSON: two logs on one line', postLogs(`${VALID_TEXT}${VALID_TEXT}`, NDJSON_CT), 400, /^line 1 is not valid JSON/m, { shape: 'batch' });
add(
  'NDJSON: lines of invalid logs',
  postLogs([JSON.stringify(valid({ level: 'warn' })), JSON.stringify(valid({ timestamp: '2024-02-30T00:00:00Z' }))].join('\n'), NDJSON_CT),
  400,
  /'level' must be one of|'timestamp' must be an RFC 3339/,
  { shape: 'batch' },
);

// --- Content-Type --------------------------------------------------------------------------
for (const [name, headers] of [
  ['text/plain', { 'content-type': 'text/plain' }],
  ['text/plain with charset', { 'content-type': 'text/plain; charset=utf-8' }],
  ['form-urlencoded', { 'content-type': 'application/x-www-form-urlencoded' }],
  ['multipart', { 'content-type': 'multipart/form-data; boundary=x' }],
  ['application/xml', { 'content-type': 'application/xml' }],
  ['text/json', { 'content-type': 'text/json' }],
  ['application/x-json', { 'content-type': 'application/x-json' }],
  ['application/json5', { 'content-type': 'application/json5' }],
  ['application/merge-patch+json', { 'content-type': 'application/merge-patch+json' }],
  ['application/octet-stream', { 'content-type': 'application/octet-stream' }],
  ['*/*', { 'content-type': '*/*' }],
  ['application/*', { 'content-type': 'application/*' }],
  ['a bogus type', { 'content-type': 'bogus' }],
  ['only punctuation', { 'content-type': ';;;' }],
  ['none at all', {}],
] as const) {
  const payload = name === 'form-urlencoded' ? 'timestamp=2024-01-15T14:29:30Z&level=INFO' : VALID_TEXT;
  add(`Content-Type ${name} on /api/logs`, postLogs(payload, headers), 415, UNSUPPORTED, { code: 'UNSUPPORTED_MEDIA_TYPE' });
}
add(
  'Content-Type text/plain on the legacy door',
  postLegacy(VALID_TEXT, { 'content-type': 'text/plain' }),
  415,
  UNSUPPORTED,
  { code: 'UNSUPPORTED_MEDIA_TYPE' },
);
add(
  'Content-Type text/plain on simulate-logs',
  postLogs('{"count":1}', { 'content-type': 'text/plain' }, '/api/simulate-logs'),
  415,
  UNSUPPORTED,
  { code: 'UNSUPPORTED_MEDIA_TYPE' },
);
add(
  'Content-Type form on simulate-errors',
  postLogs('count=1', { 'content-type': 'application/x-www-form-urlencoded' }, '/api/simulate-errors'),
  415,
  UNSUPPORTED,
  { code: 'UNSUPPORTED_MEDIA_TYPE' },
);
add(
  'Content-Type text/plain on a silence',
  { ...postLogs('30m', { 'content-type': 'text/plain', ...ADMIN }), url: '/api/alerts/x/silence' },
  415,
  UNSUPPORTED,
  { code: 'UNSUPPORTED_MEDIA_TYPE' },
);
add(
  'Content-Type application/json; charset=latin1 with a Latin-1 é',
  postLogs(Buffer.from(JSON.stringify(valid({ message: 'café' })), 'latin1'), { 'content-type': 'application/json; charset=latin1' }),
  415,
  /charset/,
  {},
);
add(
  'Content-Type application/json; charset=utf-16',
  postLogs(Buffer.from(VALID_TEXT, 'utf16le'), { 'content-type': 'application/json; charset=utf-16' }),
  [400, 415],
  /charset|not valid JSON/,
  {},
);
add(
  'Content-Type application/x-ndjson; charset=iso-8859-1',
  postLogs(Buffer.from(JSON.stringify(valid({ message: 'naïve' })), 'latin1'), { 'content-type': 'application/x-ndjson; charset=iso-8859-1' }),
  415,
  /charset/,
  {},
);
// Compressed bodies are decoded (test/http/ingest.test.ts); these are the ones that cannot be.
add(
  'Content-Encoding compress (not one the server decodes)',
  postLogs(VALID_TEXT, { ...JSON_CT, 'content-encoding': 'compress' }),
  415,
  /Content-Encoding compress is not supported; send gzip, deflate, br or an uncompressed body/,
  { code: 'UNSUPPORTED_MEDIA_TYPE' },
);
add(
  'Content-Encoding gzip, br (two layers)',
  postLogs(brotliCompressSync(gzipSync(VALID_TEXT)), { ...JSON_CT, 'content-encoding': 'gzip, br' }),
  415,
  /Content-Encoding gzip, br is not supported/,
  { code: 'UNSUPPORTED_MEDIA_TYPE' },
);
for (const [encoding, compress] of [
  ['gzip', gzipSync],
  ['deflate', deflateSync],
  ['br', brotliCompressSync],
] as const) {
  add(
    `Content-Encoding ${encoding} on a body that is not ${encoding} data`,
    postLogs(VALID_TEXT, { ...JSON_CT, 'content-encoding': encoding }),
    400,
    new RegExp(`the body is not valid ${encoding} data`),
    { code: 'BAD_ENCODING' },
  );
  add(
    `Content-Encoding ${encoding}, truncated`,
    postLogs(compress(`[${VALID_TEXT},${VALID_TEXT}]`).subarray(0, 20), { ...JSON_CT, 'content-encoding': encoding }),
    400,
    new RegExp(`the body is not valid ${encoding} data`),
    { code: 'BAD_ENCODING' },
  );
  add(
    `Content-Encoding ${encoding} expanding past the body limit (a compression bomb)`,
    postLogs(compress(Buffer.alloc(LIMITS.max_body_bytes * 4, 0x20)), { ...JSON_CT, 'content-encoding': encoding }),
    413,
    new RegExp(`the ${encoding} body expands past the limit of ${LIMITS.max_body_bytes} bytes`),
    { code: 'BODY_TOO_LARGE' },
  );
}
add(
  'Content-Encoding gzip around bytes that are not UTF-8',
  postLogs(gzipSync(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d])), { ...JSON_CT, 'content-encoding': 'gzip' }),
  400,
  /not valid UTF-8/,
  { code: 'INVALID_UTF8' },
);
// An NDJSON body sent to routes that take one JSON object.
add(
  'simulate-logs with an NDJSON body',
  postLogs('{"count":1}', NDJSON_CT, '/api/simulate-logs'),
  415,
  /application\/json/,
  { code: 'UNSUPPORTED_MEDIA_TYPE' },
);
add(
  'simulate-errors with an NDJSON body',
  postLogs('{"count":1}\n{"count":2}', NDJSON_CT, '/api/simulate-errors'),
  415,
  /application\/json/,
  { code: 'UNSUPPORTED_MEDIA_TYPE' },
);
add(
  'a silence with an NDJSON body',
  { ...postLogs('{"duration":"5m"}', { ...NDJSON_CT, ...ADMIN }), url: '/api/alerts/x/silence' },
  415,
  /application\/json/,
  { code: 'UNSUPPORTED_MEDIA_TYPE' },
);

// --- bodies over max_body_bytes ----------------------------------------------------------------
const BODY_LIMIT = new RegExp(`larger than the limit of ${LIMITS.max_body_bytes} bytes \\(limits.max_body_bytes\\)`);
const huge = JSON.stringify(valid({ message: 'z'.repeat(LIMITS.max_body_bytes) }));
add('body over the limit: one JSON log', postLogs(huge), 413, BODY_LIMIT, { code: 'BODY_TOO_LARGE' });
add(
  'body over the limit: by one byte',
  postLogs(`${' '.repeat(LIMITS.max_body_bytes - VALID_TEXT.length + 1)}${VALID_TEXT}`),
  413,
  BODY_LIMIT,
  { code: 'BODY_TOO_LARGE' },
);
add('body over the limit: NDJSON', postLogs(huge, NDJSON_CT), 413, BODY_LIMIT, { code: 'BODY_TOO_LARGE' });
add(
  'body over the limit: broken JSON (the size is checked first)',
  postLogs(`{${'x'.repeat(LIMITS.max_body_bytes)}`),
  413,
  BODY_LIMIT,
  { code: 'BODY_TOO_LARGE' },
);
add('body over the limit: legacy door', postLegacy(huge), 413, BODY_LIMIT, { code: 'BODY_TOO_LARGE' });
add(
  'body over the limit: simulate-logs',
  postLogs(`{"count":1,"pad":"${'p'.repeat(LIMITS.max_body_bytes)}"}`, JSON_CT, '/api/simulate-logs'),
  413,
  BODY_LIMIT,
  { code: 'BODY_TOO_LARGE' },
);

// --- GET /api/logs query strings -------------------------------------------------------------
const Q = (param: string): RegExp => new RegExp(`query parameter '${param.replace(/[[\]]/g, '\\$&')}'`);
for (const param of ['from', 'to', 'received_from', 'received_to']) {
  for (const value of ['x', '2024-13-01', '2024-02-30', '0000-01-01', '99999-01-01', '2024-01-15T25:00:00Z', '2024-01-15T14:30:00%2B25:00', 'now', '1705329000']) {
    add(
      `GET /api/logs ${param}=${value}`,
      get(`/api/logs?${param}=${value}`),
      400,
      new RegExp(`${Q(param).source} must be a date-time`),
      { code: 'INVALID_QUERY' },
    );
  }
}
add('GET /api/logs from with a fraction of 10 digits', get('/api/logs?from=2024-01-15T14:30:00.1234567890Z'), 400, Q('from'), { code: 'INVALID_QUERY' });
add(
  'GET /api/logs from with an unencoded + in the offset',
  get('/api/logs?from=2024-01-15T14:30:00+01:00'),
  400,
  /query parameter 'from'.*%2B/,
  { code: 'INVALID_QUERY' },
);
add(
  'GET /api/logs to with an unencoded + in the offset',
  get('/api/logs?to=2024-01-15T14:30:00.5+05:30'),
  400,
  /query parameter 'to'.*%2B/,
  { code: 'INVALID_QUERY' },
);
for (const value of ['-1', '0', '1001', '1e3', 'abc', '1.5', '99999999999999999999', '%205', '+5', '0x10', '5%00', 'ten']) {
  add(
    `GET /api/logs limit=${value}`,
    get(`/api/logs?limit=${value}`),
    400,
    /query parameter 'limit' must (be a whole number from 1 to 1000|be from 1 to 1000)/,
    { code: 'INVALID_QUERY' },
  );
}
for (const value of ['0', '-1', 'abc', '1.5', '9007199254740993', '1e5']) {
  add(`GET /api/logs before_id=${value}`, get(`/api/logs?before_id=${value}`), 400, Q('before_id'), { code: 'INVALID_QUERY' });
}
for (const qs of ['limit=5&limit=6', 'before_id=3&before_id=3', 'q=a&q=b', 'user_id=u&user_id=v', 'from=2024-01-01&from=2024-01-02', 'received_to=2024-01-01&received_to=2024-01-01']) {
  const param = qs.split('=')[0]!;
  add(`GET /api/logs repeated ${param}`, get(`/api/logs?${qs}`), 400, new RegExp(`${Q(param).source} was given more than once`), { code: 'INVALID_QUERY' });
}
for (const param of ['limit', 'q', 'user_id', 'before_id', 'from', 'service', 'level']) {
  add(
    `GET /api/logs ${param} empty`,
    get(`/api/logs?${param}=`),
    400,
    new RegExp(`${Q(param).source} (is empty|has an empty item)`),
    { code: 'INVALID_QUERY' },
  );
}
add('GET /api/logs limit with no = at all', get('/api/logs?limit'), 400, /query parameter 'limit' is empty/, { code: 'INVALID_QUERY' });
for (const name of ['foo', 'LIMIT', 'Level', 'offset', 'limit[]', 'service[0]', '__proto__', 'constructor', 'toString', 'q ', 'before']) {
  add(
    `GET /api/logs unknown parameter ${name}`,
    get(`/api/logs?${encodeURIComponent(name)}=1`),
    400,
    new RegExp(`${Q(name).source} is not known here; known parameters: service, level`),
    { code: 'INVALID_QUERY' },
  );
}
add('GET /api/logs an empty parameter name', get('/api/logs?=1'), 400, /query parameter '' is not known here/, { code: 'INVALID_QUERY' });
for (const value of ['WARN', 'FATAL', 'TRACE', 'info,warn', 'INFO,,ERROR', 'INFO,', ',INFO', '%20', 'INFO;ERROR', 'ERR']) {
  add(
    `GET /api/logs level=${value}`,
    get(`/api/logs?level=${value}`),
    400,
    /query parameter 'level' (must be one or more of DEBUG, INFO, WARNING, ERROR, CRITICAL|has an empty item)/,
    { code: 'INVALID_QUERY' },
  );
}
add(
  'GET /api/logs level repeated with a bad one',
  get('/api/logs?level=INFO&level=LOUD'),
  400,
  /query parameter 'level' must be one or more of/,
  { code: 'INVALID_QUERY' },
);
for (const value of ['a,,b', ',', 'a,', '%20,x']) {
  add(`GET /api/logs service=${value}`, get(`/api/logs?service=${value}`), 400, /query parameter 'service' has an empty item/, { code: 'INVALID_QUERY' });
}

// --- DELETE /api/logs and the legacy DELETE /logs ---------------------------------------------
for (const [door, url, headers] of [
  ['DELETE /api/logs', '/api/logs', ADMIN],
  ['DELETE /logs', '/logs', LEGACY],
] as const) {
  const del = (qs: string): InjectOptions => ({ method: 'DELETE', url: `${url}${qs}`, headers });
  add(`${door} without before`, del(''), 400, /query parameter 'before' is required/, { code: 'INVALID_QUERY' });
  for (const value of ['x', '2024-02-30', '2024-01-15T14:30:00%2B24:00', '0000-01-01', '10000-01-01', 'now', '-1']) {
    add(`${door} before=${value}`, del(`?before=${value}`), 400, /query parameter 'before' must be a date-time/, { code: 'INVALID_QUERY' });
  }
  add(`${door} before empty`, del('?before='), 400, /query parameter 'before' is empty/, { code: 'INVALID_QUERY' });
  add(
    `${door} before repeated`,
    del('?before=2024-01-01&before=2025-01-01'),
    400,
    /query parameter 'before' was given more than once/,
    { code: 'INVALID_QUERY' },
  );
  add(
    `${door} unknown parameter`,
    del('?before=1971-01-01&service=auth-service'),
    400,
    /query parameter 'service' is not known here/,
    { code: 'INVALID_QUERY' },
  );
  add(`${door} with an unencoded + in the offset`, del('?before=2024-01-15T14:30:00+01:00'), 400, /query parameter 'before'.*%2B/, { code: 'INVALID_QUERY' });
}
add('DELETE /api/logs anonymously', { method: 'DELETE', url: '/api/logs?before=2030-01-01' }, 401, /Who are you\?.*admin/, { code: 'AUTH_REQUIRED' });
add(
  'DELETE /api/logs with a read-only token',
  { method: 'DELETE', url: '/api/logs?before=2030-01-01', headers: { authorization: `Bearer ${READER_TOKEN}` } },
  403,
  /lacks the 'admin' scope/,
  { code: 'AUTH_SCOPE' },
);

// --- legacy /logs and /stats ---------------------------------------------------------------------
const legacyGet = (qs: string, path = '/logs'): InjectOptions => get(`${path}${qs}`, LEGACY);
for (const [qs, param] of [
  ['?timestamp_start=x', 'timestamp_start'],
  ['?timestamp_end=2024-02-30T00:00:00', 'timestamp_end'],
  ['?received_at_start=0000-01-01', 'received_at_start'],
  ['?received_at_end=2024-01-15T14:30:00%2B25:00', 'received_at_end'],
  ['?limit=0', 'limit'],
  ['?limit=10001', 'limit'],
  ['?limit=-5', 'limit'],
  ['?offset=-1', 'offset'],
  ['?offset=abc', 'offset'],
  ['?offset=1.5', 'offset'],
  ['?offset=99999999999999999999', 'offset'],
  ['?limit=5&limit=6', 'limit'],
  ['?severity=warn', 'severity'],
  ['?severity=INFO,,ERROR', 'severity'],
  ['?service=', 'service'],
  ['?level=INFO', 'level'],
  ['?before_id=1', 'before_id'],
  ['?q=x', 'q'],
] as const) {
  add(`GET /logs ${qs}`, legacyGet(qs), 400, Q(param), { code: 'INVALID_QUERY' });
}
add('GET /logs without a token', get('/logs'), 401, /Who are you\?/, { code: 'AUTH_REQUIRED' });
add(
  'GET /logs with a malformed Authorization header',
  get('/logs', { authorization: 'Basic abc' }),
  401,
  /must be 'Token <token>', 'Bearer <token>' or Basic with the token as the password/,
  { code: 'AUTH_MALFORMED' },
);
add(
  'GET /stats with an unknown parameter',
  legacyGet('?service=auth-service', '/stats'),
  400,
  /query parameter 'service' is not known here; this route takes no query parameters/,
  { code: 'INVALID_QUERY' },
);
add(
  'POST /logs severity lower-case unknown',
  postLegacy(JSON.stringify([legacyLog({ severity: 'warn' })])),
  400,
  /'severity' must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL/,
  { shape: 'legacy' },
);
add(
  'POST /logs severity of the wrong type',
  postLegacy(JSON.stringify(legacyLog({ severity: 3 }))),
  400,
  /'severity' must be of type string/,
  { shape: 'legacy' },
);
add(
  'POST /logs missing severity',
  postLegacy(JSON.stringify(legacyLog({ severity: undefined }))),
  400,
  /'severity' is a required property/,
  { shape: 'legacy' },
);
add('POST /logs a scalar body', postLegacy('"log"'), 400, /one log object.*got string/, { code: 'BAD_BODY_SHAPE' });
add('POST /logs with an NDJSON body of invalid lines', postLegacy('{\n{', NDJSON_CT), 400, /line [12] is not valid JSON/, { shape: 'legacy' });

// --- /api/alerts and silences ------------------------------------------------------------------
for (const [qs, param] of [
  ['?status=x', 'status'],
  ['?status=FIRING', 'status'],
  ['?status=', 'status'],
  ['?status=firing&status=resolved', 'status'],
  ['?rule=bogus', 'rule'],
  ['?rule=error_rate,,high_volume', 'rule'],
  ['?service=a,,b', 'service'],
  ['?fingerprint=x', 'fingerprint'],
] as const) {
  add(`GET /api/alerts${qs}`, get(`/api/alerts${qs}`), 400, Q(param), { code: 'INVALID_QUERY' });
}
const silence = (body: string, fingerprint = 'no-such-alert'): InjectOptions => ({
  method: 'POST',
  url: `/api/alerts/${fingerprint}/silence`,
  payload: body,
  headers: { ...JSON_CT, ...ADMIN },
});
for (const [body, match] of [
  ['{}', /'duration' is a required property/],
  ['{"duration":""}', /'duration' must be seconds or text like 90s/],
  ['{"duration":"abc"}', /'duration' must be seconds or text like 90s/],
  ['{"duration":"5w"}', /'duration' must be seconds or text like 90s/],
  ['{"duration":"-5m"}', /'duration' must be seconds or text like 90s/],
  ['{"duration":"1.5h"}', /'duration' must be seconds or text like 90s/],
  ['{"duration":"0s"}', /'duration' must be from 1 s to 30 days/],
  ['{"duration":"31d"}', /'duration' must be from 1 s to 30 days/],
  ['{"duration":"99999999999999999999999d"}', /'duration' must be from 1 s to 30 days/],
  ['{"duration":2592001}', /'duration' must be from 1 s to 30 days/],
  ['{"duration":1e300}', /'duration' must be from 1 s to 30 days/],
  ['{"duration":0}', /'duration' must be >= 1/],
  ['{"duration":-1}', /'duration' must be >= 1/],
  ['{"duration":1.5}', /'duration' must be of type integer/],
  ['{"duration":true}', /'duration' must be of type integer/],
  ['{"duration":null}', /'duration' must be of type integer/],
  ['{"duration":[]}', /'duration' must be of type integer/],
  ['{"duration":{}}', /'duration' must be of type integer/],
  ['{"duration":"5m","until":"tomorrow"}', /'until' is not an allowed property; allowed: duration/],
  ['[]', /the value must be of type object \(got array\)/],
  ['"30m"', /the value must be of type object \(got string\)/],
  ['30', /the value must be of type object \(got number\)/],
] as const) {
  add(`silence ${body}`, silence(body), 400, match, { code: 'INVALID_BODY' });
}
add('silence of an unknown alert', silence('{"duration":"5m"}'), 404, /no alert with fingerprint 'no-such-alert'/, { code: 'ALERT_NOT_FOUND' });
add('silence without a token', { ...silence('{"duration":"5m"}'), headers: JSON_CT }, 401, /Who are you\?.*'admin' scope/, { code: 'AUTH_REQUIRED' });
add(
  'silence: a malformed percent-encoding in the fingerprint',
  silence('{"duration":"5m"}', '%zz'),
  400,
  /percent-encoding/,
  { code: 'BAD_URL' },
);
add('silence: a fingerprint of 200 characters', silence('{"duration":"5m"}', 'f'.repeat(200)), [404, 414], /fingerprint|longer than/);

// --- simulate routes ---------------------------------------------------------------------------
for (const [route, body, match] of [
  ['simulate-logs', '{"count":0}', /'count' must be >= 1/],
  ['simulate-logs', '{"count":-1}', /'count' must be >= 1/],
  ['simulate-logs', '{"count":1.5}', /'count' must be of type integer/],
  ['simulate-logs', '{"count":"50"}', /'count' must be of type integer/],
  ['simulate-logs', '{"count":true}', /'count' must be of type integer/],
  ['simulate-logs', '{"count":null}', /'count' must be of type integer/],
  ['simulate-logs', '{"count":[5]}', /'count' must be of type integer/],
  ['simulate-logs', '{"count":5,"service":"x"}', /'service' is not an allowed property; allowed: count/],
  ['simulate-logs', '[]', /the value must be of type object \(got array\)/],
  ['simulate-logs', '"100"', /the value must be of type object \(got string\)/],
  ['simulate-logs', '100', /the value must be of type object \(got number\)/],
  ['simulate-errors', '{"error_rate":2}', /'error_rate' must be <= 1/],
  ['simulate-errors', '{"error_rate":-0.1}', /'error_rate' must be >= 0/],
  ['simulate-errors', '{"error_rate":"0.5"}', /'error_rate' must be of type number/],
  ['simulate-errors', '{"count":0}', /'count' must be >= 1/],
  ['simulate-errors', '{"service":""}', /'service' must not be empty/],
  ['simulate-errors', `{"service":"${'s'.repeat(LIMITS.max_service_length + 1)}"}`, /'service' is longer than the limit of 16 characters/],
  ['simulate-errors', '{"service":42}', /'service' must be of type string/],
  ['simulate-errors', '{"service":"\\ud800"}', /'service' holds an unpaired UTF-16 surrogate/],
  ['simulate-errors', '{"service":"pay\\udfffment"}', /'service' holds an unpaired UTF-16 surrogate/],
  ['simulate-errors', '{"count":5,"rate":1}', /'rate' is not an allowed property/],
  ['simulate-errors', '{"count":"5","error_rate":"x","service":1}', /'count'.*'error_rate'.*'service'|'count'/],
] as const) {
  add(`${route} ${body.length > 60 ? `${body.slice(0, 57)}...` : body}`, postLogs(body, JSON_CT, `/api/${route}`), 400, match, { code: 'INVALID_BODY' });
}

// --- analytics `minutes`, stats ----------------------------------------------------------------
for (const route of ['/api/time-series', '/api/advanced-dashboard-data']) {
  for (const value of ['0', '-1', '61', 'abc', '1.5', '1e1', '%205', '99999999999999999999']) {
    add(
      `GET ${route}?minutes=${value}`,
      get(`${route}?minutes=${value}`),
      400,
      /query parameter 'minutes' must (be a whole number from 1 to 60|be from 1 to 60)/,
      { code: 'INVALID_QUERY' },
    );
  }
  add(`GET ${route} minutes empty`, get(`${route}?minutes=`), 400, /query parameter 'minutes' is empty/, { code: 'INVALID_QUERY' });
  add(
    `GET ${route} minutes repeated`,
    get(`${route}?minutes=5&minutes=10`),
    400,
    /query parameter 'minutes' was given more than once/,
    { code: 'INVALID_QUERY' },
  );
  add(
    `GET ${route} unknown parameter`,
    get(`${route}?minute=5`),
    400,
    /query parameter 'minute' is not known here; known parameters: minutes/,
    { code: 'INVALID_QUERY' },
  );
}
add(
  'GET /api/stats with an unknown parameter',
  get('/api/stats?service=auth-service'),
  400,
  /query parameter 'service' is not known here; this route takes no query parameters/,
  { code: 'INVALID_QUERY' },
);
add(
  'GET /api/validation-stats with an unknown parameter',
  get('/api/validation-stats?since=2024-01-01'),
  400,
  /query parameter 'since' is not known here; this route takes no query parameters/,
  { code: 'INVALID_QUERY' },
);

// --- authentication headers that are malformed -----------------------------------------------
add(
  'POST /api/logs with a Basic Authorization header without a password',
  postLogs(VALID_TEXT, { ...JSON_CT, authorization: `Basic ${Buffer.from('user').toString('base64')}` }),
  401,
  /must be 'Token <token>', 'Bearer <token>' or Basic with the token as the password/,
  { code: 'AUTH_MALFORMED' },
);
add(
  'POST /api/logs with Basic and an unknown password',
  postLogs(VALID_TEXT, { ...JSON_CT, authorization: `Basic ${Buffer.from('user:pass').toString('base64')}` }),
  401,
  /not one the server knows/,
  { code: 'AUTH_INVALID_TOKEN' },
);
add(
  'POST /api/logs with an empty Bearer',
  postLogs(VALID_TEXT, { ...JSON_CT, authorization: 'Bearer ' }),
  401,
  /must be 'Token <token>', 'Bearer <token>' or Basic with the token as the password/,
  { code: 'AUTH_MALFORMED' },
);
add(
  'POST /api/logs with an unknown token',
  postLogs(VALID_TEXT, { ...JSON_CT, authorization: 'Bearer not-a-known-token-000' }),
  401,
  /not one the server knows/,
  { code: 'AUTH_INVALID_TOKEN' },
);

// ---------------------------------------------------------------------------------------------
// Partly valid batches (207), and one edge body that is entirely valid: exactly the valid items are stored.

const partials: PartialRow[] = [];
{
  const m = (tag: string, i: number): string => `${tag}${i}]`;
  const row = (
    name: string,
    tag: string,
    items: Array<{ ok: boolean; log: Record<string, unknown> | string }>,
    match: RegExp,
    format: 'json' | 'ndjson' | 'legacy' = 'json',
    extra: { prefix?: string; knownBug?: string } = {},
  ): void => {
    const texts = items.map((it) => (typeof it.log === 'string' ? it.log : JSON.stringify(it.log)));
    const payload = (extra.prefix ?? '') + (format === 'ndjson' ? texts.join('\n') : `[${texts.join(',')}]`);
    const headers = format === 'ndjson' ? NDJSON_CT : format === 'legacy' ? { ...JSON_CT, ...LEGACY } : JSON_CT;
    partials.push({
      name,
      req: postLogs(payload, headers, format === 'legacy' ? '/logs' : '/api/logs'),
      tag,
      stored: items.flatMap((it, i) => (it.ok ? [m(tag, i)] : [])),
      rejected: items.flatMap((it, i) => (it.ok ? [] : [i])),
      match,
      legacy: format === 'legacy',
      knownBug: extra.knownBug,
    });
  };
  const ok = (tag: string, i: number, o: Record<string, unknown> = {}) => ({ ok: true, log: valid({ message: m(tag, i), ...o }) });
  const bad = (tag: string, i: number, o: Record<string, unknown>) => ({ ok: false, log: valid({ message: m(tag, i), ...o }) });

  row('a wrong level between two valid logs', '[pa', [ok('[pa', 0), bad('[pa', 1, { level: 'WARN' }), ok('[pa', 2)], LEVEL);
  row('leap seconds at the right time, lowercase t and z', '[pb', [
    ok('[pb', 0, { timestamp: '2016-12-31T23:59:60Z' }),
    ok('[pb', 1, { timestamp: '2016-12-31t23:59:60z' }),
    ok('[pb', 2, { timestamp: '2017-01-01T00:59:60+01:00' }),
    ok('[pb', 3, { timestamp: '2016-12-31T18:59:60-05:00' }),
    bad('[pb', 4, { timestamp: '2016-12-31T23:59:60+01:00' }),
  ], TS);
  row('leap days, a space separator, 9 fraction digits', '[pc', [
    ok('[pc', 0, { timestamp: '2024-02-29T12:00:00Z' }),
    ok('[pc', 1, { timestamp: '2000-02-29T00:00:00Z' }),
    ok('[pc', 2, { timestamp: '2024-01-15 14:30:00Z' }),
    ok('[pc', 3, { timestamp: '2024-01-15T14:30:00.123456789Z' }),
    bad('[pc', 4, { timestamp: '2023-02-29T12:00:00Z' }),
  ], TS);
  row('the bounds of the year range and of offsets', '[pd', [
    ok('[pd', 0, { timestamp: '1970-01-01T00:00:00Z' }),
    ok('[pd', 1, { timestamp: '9999-12-31T23:59:59.999Z' }),
    ok('[pd', 2, { timestamp: '2024-01-15T14:30:00-00:00' }),
    ok('[pd', 3, { timestamp: '2024-01-15T14:30:00+23:59' }),
    bad('[pd', 4, { timestamp: '2024-01-15T14:30:00+24:00' }),
  ], TS);
  row('lengths exactly at each limit, then one over', '[pe', [
    ok('[pe', 0, { service: 's'.repeat(LIMITS.max_service_length), user_id: 'u'.repeat(LIMITS.max_user_id_length) }),
    { ok: true, log: valid({ message: `${m('[pe', 1)}${'m'.repeat(LIMITS.max_message_length - m('[pe', 1).length)}` }) },
    ok('[pe', 2, { metadata: { a: 1, b: 2, c: 3, d: 4 } }),
    ok('[pe', 3, { metadata: { a: { b: [1] } } }),
    bad('[pe', 4, { user_id: 'u'.repeat(LIMITS.max_user_id_length + 1) }),
  ], /longer than the limit/);
  row(
    'NDJSON with a broken line and a __proto__ line',
    '[pf',
    [ok('[pf', 0), { ok: false, log: '{"timestamp":' }, ok('[pf', 2), { ok: false, log: '{"__proto__":{"x":1}}' }],
    /line \d+ is not valid JSON/,
    'ndjson',
  );
  row('escaped NUL and control characters are fine beside a raw one', '[pg', [
    ok('[pg', 0, { metadata: { note: 'a\u0000b\u001f\n' } }),
    { ok: true, log: valid({ message: `${m('[pg', 1)}\u0000\t\r\n` }) },
    { ok: false, log: withRaw('message', `"${m('[pg', 2)}\u0001"`) },
  ], /line 3 is not valid JSON/, 'ndjson');
  row('hostile but valid names: __proto__ and constructor as values', '[ph', [
    ok('[ph', 0, { service: '__proto__', user_id: 'constructor' }),
    ok('[ph', 1, { service: 'hasOwnProperty', user_id: 'toString', metadata: { constructor: 1, valueOf: 'x' } }),
    bad('[ph', 2, { service: '\ud800' }),
  ], SURROGATE);
  row('NDJSON starting with a byte order mark: every line is a log', '[pj', [ok('[pj', 0), ok('[pj', 1)], /^$/, 'ndjson', {
    prefix: '\ufeff',
  });
  row('legacy door: a partly valid batch', '[pi', [
    { ok: true, log: { timestamp: '2025-04-01T10:00:00', service: 'auth-service', severity: 'info', message: m('[pi', 0) } },
    { ok: false, log: { timestamp: '2025-04-01T10:00:00', service: 'auth-service', severity: 'LOUD', message: m('[pi', 1) } },
  ], /'severity' must be one of/, 'legacy');
}

// ---------------------------------------------------------------------------------------------
// Running it.

interface Snapshot {
  total: number;
  listed: number;
  newest: number | null;
  stored: number;
}

async function snapshot(app: FastifyInstance): Promise<Snapshot> {
  const stats = await app.inject({ method: 'GET', url: '/api/stats' });
  assert.equal(stats.statusCode, 200, stats.body);
  const list = await app.inject({ method: 'GET', url: '/api/logs?limit=1000' });
  assert.equal(list.statusCode, 200, list.body);
  const health = await app.inject({ method: 'GET', url: '/health' });
  assert.equal(health.statusCode, 200, health.body);
  const logs = list.json().logs as Array<{ id: number }>;
  return { total: stats.json().total_logs, listed: logs.length, newest: logs[0]?.id ?? null, stored: health.json().current_stored };
}

/** Every message in a reply of the given shape, after checking the shape. */
function errorText(res: LightMyRequestResponse, shape: Shape): string {
  const body = res.json() as Record<string, unknown>;
  const keys = Object.keys(body).sort();
  const itemErrors = (): string[] => {
    assert.equal(body.status, 'invalid');
    assert.equal(body.accepted, 0);
    const items = body.rejected_items as Array<{ index: number; errors: string[] }>;
    assert.equal(body.rejected, items.length);
    assert.deepEqual(
      items.map((i) => i.index),
      items.map((_, i) => i),
      'every item is rejected, in order',
    );
    return items.flatMap((i) => {
      assert.ok(i.errors.length > 0);
      return i.errors;
    });
  };
  switch (shape) {
    case 'error':
      assert.deepEqual(keys, ['code', 'error'], res.body.slice(0, 300));
      assert.match(body.code as string, /^[A-Z][A-Z0-9_]*$/);
      assert.ok((body.error as string).length > 0);
      return body.error as string;
    case 'invalid':
      assert.deepEqual(keys, ['errors', 'status'], res.body.slice(0, 300));
      assert.equal(body.status, 'invalid');
      assert.ok((body.errors as string[]).length > 0);
      return (body.errors as string[]).join('\n');
    case 'batch':
      assert.deepEqual(keys, ['accepted', 'rejected', 'rejected_items', 'status'], res.body.slice(0, 300));
      return itemErrors().join('\n');
    case 'legacy':
      assert.deepEqual(keys, ['accepted', 'error', 'rejected', 'rejected_items', 'status'], res.body.slice(0, 300));
      return [body.error as string, ...itemErrors()].join('\n');
  }
}

/** Logs that must survive every row: one at each end of the year range, so a DELETE that wrongly runs shows. */
const SEED = [
  valid({ timestamp: '1970-01-01T00:00:01Z', message: 'seed-first' }),
  valid({ timestamp: '2000-01-01T00:00:00Z', message: 'seed-2000' }),
  valid({ message: 'seed-now' }),
  valid({ timestamp: '9999-12-31T23:59:59Z', message: 'seed-last' }),
];

for (const storage of ['memory', 'sqlite'] as const) {
  describe(`malformed-request corpus (${storage})`, () => {
    let app: FastifyInstance;
    let dir: string | undefined;
    const statuses = new Map<number, number>();
    const bugStatuses = new Map<number, number>();
    let fiveHundreds = 0;
    let tried = 0;

    before(async () => {
      let overrides: Record<string, unknown> = CONFIG;
      if (storage === 'sqlite') {
        dir = mkdtempSync(join(tmpdir(), 'logsentinel-corpus-'));
        overrides = { ...CONFIG, storage: { persistence: { enabled: true, path: join(dir, 'logs.db') } } };
      }
      ({ app } = await buildTestApp(overrides));
      const seeded = await app.inject(postLogs(JSON.stringify(SEED)));
      assert.equal(seeded.statusCode, 201, seeded.body);
    });
    after(async () => {
      await app.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test(`the corpus holds at least 200 distinct cases (${rows.length} malformed, ${partials.length} partly valid)`, () => {
      assert.ok(rows.length >= 200, `${rows.length} rows`);
      assert.equal(new Set(rows.map((r) => r.name)).size, rows.length, 'row names are distinct');
      const payload = (r: Row): string => (Buffer.isBuffer(r.req.payload) ? r.req.payload.toString('hex') : String(r.req.payload));
      const requests = rows.map((r) => `${r.req.method} ${r.req.url} ${JSON.stringify(r.req.headers)} ${payload(r)}`);
      const seen = new Map<string, string>();
      for (const [i, r] of requests.entries()) {
        assert.equal(seen.get(r), undefined, `${rows[i]!.name} repeats ${seen.get(r)}`);
        seen.set(r, rows[i]!.name);
      }
    });

    for (const row of rows) {
      test(row.name, row.knownBug ? { todo: row.knownBug } : {}, async () => {
        const snap = await snapshot(app);
        const res = await app.inject(row.req);
        tried++;
        (row.knownBug ? bugStatuses : statuses).set(res.statusCode, ((row.knownBug ? bugStatuses : statuses).get(res.statusCode) ?? 0) + 1);
        if (res.statusCode >= 500) fiveHundreds++;
        assert.ok(res.statusCode < 500, `5xx: ${res.statusCode} ${res.body.slice(0, 300)}`);
        const allowed = typeof row.status === 'number' ? [row.status] : row.status;
        assert.ok(allowed.includes(res.statusCode), `status ${res.statusCode}, expected ${allowed.join(' or ')}: ${res.body.slice(0, 300)}`);
        assert.match(String(res.headers['content-type']), /^application\/json/);
        const text = errorText(res, row.shape ?? 'error');
        if (row.code !== undefined) assert.equal(res.json().code, row.code, res.body.slice(0, 300));
        assert.match(text, row.match);
        assert.deepEqual(await snapshot(app), snap, 'nothing stored or counted');
      });
    }

    for (const row of partials) {
      test(`partly valid: ${row.name}`, row.knownBug ? { todo: row.knownBug } : {}, async () => {
        const snap = await snapshot(app);
        const res = await app.inject(row.req);
        tried++;
        const counts = row.knownBug ? bugStatuses : statuses;
        counts.set(res.statusCode, (counts.get(res.statusCode) ?? 0) + 1);
        if (res.statusCode >= 500) fiveHundreds++;
        const all = row.rejected.length === 0;
        assert.equal(res.statusCode, all ? 201 : 207, res.body.slice(0, 500));
        const body = res.json();
        assert.deepEqual(
          Object.keys(body).sort(),
          row.legacy ? ['accepted', 'error', 'rejected', 'rejected_items', 'status'] : ['accepted', 'rejected', 'rejected_items', 'status'],
        );
        assert.equal(body.status, all ? 'accepted' : 'partial');
        assert.equal(body.accepted, row.stored.length);
        assert.equal(body.rejected, row.rejected.length);
        assert.deepEqual(
          body.rejected_items.map((i: { index: number }) => i.index),
          row.rejected,
        );
        for (const item of body.rejected_items as Array<{ errors: string[] }>) assert.match(item.errors.join('\n'), row.match);
        const after = await snapshot(app);
        assert.equal(after.total, snap.total + row.stored.length, 'stats total moves by the accepted count');
        assert.equal(after.stored, snap.stored + row.stored.length);
        const found = await app.inject(get(`/api/logs?q=${encodeURIComponent(row.tag)}`));
        assert.equal(found.statusCode, 200);
        assert.deepEqual(
          (found.json().logs as Array<{ message: string }>).map((l) => l.message.slice(0, row.tag.length + 2)).sort(),
          row.stored.map((s) => s.slice(0, row.tag.length + 2)).sort(),
          'exactly the valid items are stored',
        );
      });
    }

    test('after the corpus the server still ingests and serves', async () => {
      const ingest = await app.inject(postLogs(JSON.stringify(valid({ message: 'after-corpus' }))));
      assert.equal(ingest.statusCode, 201, ingest.body);
      const read = await app.inject(get('/api/logs?q=after-corpus'));
      assert.equal(read.statusCode, 200);
      assert.equal(read.json().count, 1);
      for (const url of ['/api/stats', '/api/advanced-dashboard-data', '/api/alerts', '/api/validation-stats', '/health']) {
        assert.equal((await app.inject(get(url))).statusCode, 200, url);
      }
      assert.equal((await app.inject(get('/logs', LEGACY))).statusCode, 200);
      const seeds = await app.inject(get('/api/logs?q=seed-'));
      assert.equal(seeds.json().count, SEED.length, 'no row deleted anything');
      assert.equal(({} as Record<string, unknown>).admin, undefined, 'no prototype was polluted');
    });

    test('summary', (t) => {
      const fmt = (m: Map<number, number>): string =>
        [...m.entries()]
          .sort(([a], [b]) => a - b)
          .map(([s, n]) => `${s}: ${n}`)
          .join(', ');
      const fourxx = new Map([...statuses].filter(([s]) => s >= 400 && s < 500));
      const partial = statuses.get(207) ?? 0;
      const bugs = [...bugStatuses.values()].reduce((a, b) => a + b, 0);
      t.diagnostic(
        `corpus (${storage}): ${tried} cases tried (${rows.length} malformed, ${partials.length} valid or partly valid); 4xx by status {${fmt(fourxx)}}; 207 partial: ${partial}; 5xx seen: ${fiveHundreds}; known bugs still open (todo): ${bugs}${bugs ? `, answered {${fmt(bugStatuses)}}` : ''}`,
      );
      assert.equal(fiveHundreds, 0);
    });
  });
}
