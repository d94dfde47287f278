import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { AUTH_SERVICE_TOKEN, INGEST_TOKEN, READER_TOKEN, buildTestApp, log, postJson } from '../helpers.js';
import type { LogView } from '../../server/core/log.js';

/** Elasticsearch bulk API: POST|PUT /_bulk and /<index>/_bulk. */

const NDJSON = { 'content-type': 'application/x-ndjson' };


interface BulkItemBody {
  _index: string;
  _id: string | null;
  status: number;
  result?: string;
  error?: { type: string; reason: string };
}

interface BulkReply {
  took: number;
  errors: boolean;
  items: Record<string, BulkItemBody>[];
}

/** NDJSON text of `lines`, each a value serialized as JSON or a string sent as it is, ending with a newline. */
function ndjson(lines: readonly unknown[]): string {
  return lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';
}

function bulk(
  app: FastifyInstance,
  lines: readonly unknown[] | string,
  options: { url?: string; method?: 'POST' | 'PUT'; headers?: Record<string, string> } = {},
): Promise<LightMyRequestResponse> {
  return app.inject({
    method: options.method ?? 'POST',
    url: options.url ?? '/_bulk',
    payload: typeof lines === 'string' ? lines : ndjson(lines),
    headers: { ...NDJSON, ...options.headers },
  } satisfies InjectOptions);
}

async function storedLogs(app: FastifyInstance, query = ''): Promise<LogView[]> {
  const res = await app.inject({ method: 'GET', url: `/api/logs?limit=1000${query}` });
  assert.equal(res.statusCode, 200, res.body);
  return (res.json() as { logs: LogView[] }).logs;
}

/** The one item of a bulk reply answering a single action, with its action name. */
function onlyItem(reply: BulkReply): [string, BulkItemBody] {
  assert.equal(reply.items.length, 1, JSON.stringify(reply));
  const entries = Object.entries(reply.items[0]!);
  assert.equal(entries.length, 1);
  return entries[0]!;
}

const ACTION = { create: { _index: 'app-logs' } };

/** An ECS-style document as Filebeat or Vector would send it. */
function doc(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { '@timestamp': '2024-01-15T14:29:30Z', 'log.level': 'info', 'service.name': 'auth-service', message: 'User logged in', ...overrides };
}

function basic(token: string, user = 'shipper'): string {
  return `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`;
}

/** Maps one document through POST /_bulk and returns the stored log, or the failed item. */
async function mapOne(app: FastifyInstance, source: unknown, action: unknown = ACTION): Promise<{ log?: LogView; item: BulkItemBody }> {
  const before = await storedLogs(app);
  const res = await bulk(app, [action, source]);
  assert.equal(res.statusCode, 200, res.body);
  const [, item] = onlyItem(res.json());
  const after = await storedLogs(app);
  if (item.status !== 201) {
    assert.equal(after.length, before.length, 'a failed item stores nothing');
    return { item };
  }
  const stored = after.find((l) => String(l.id) === item._id);
  assert.ok(stored, `the stored log has the id the reply named (${item._id})`);
  return { log: stored, item };
}

describe('Elasticsearch bulk API: endpoints and the reply', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildTestApp());
  });
  after(async () => {
    await app.close();
  });

  for (const method of ['POST', 'PUT'] as const) {
    test(`${method} /_bulk takes the index from each action line`, async () => {
      const res = await bulk(app, [{ index: { _index: 'first' } }, doc({ message: `${method} one` }), { create: { _index: 'second' } }, doc({ message: `${method} two` })], {
        method,
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      const reply = res.json() as BulkReply;
      assert.equal(reply.errors, false);
      assert.deepEqual(
        reply.items.map((item) => Object.entries(item).map(([action, body]) => [action, body._index, body.status, body.result])[0]),
        [
          ['index', 'first', 201, 'created'],
          ['create', 'second', 201, 'created'],
        ],
      );
      const logs = await storedLogs(app, `&q=${method}`);
      assert.deepEqual(logs.map((l) => [l.message, l.metadata?._index]).sort(), [
        [`${method} one`, 'first'],
        [`${method} two`, 'second'],
      ]);
    });

    test(`${method} /<index>/_bulk uses the path's index unless the action line names one`, async () => {
      const res = await bulk(app, [{ create: {} }, doc({ message: `${method} path one` }), { index: { _index: 'own' } }, doc({ message: `${method} path two` })], {
        method,
        url: '/from-path/_bulk',
      });
      assert.equal(res.statusCode, 200, res.body);
      const reply = res.json() as BulkReply;
      assert.deepEqual(
        reply.items.map((i) => Object.values(i)[0]!._index),
        ['from-path', 'own'],
      );
      const logs = await storedLogs(app, `&q=${method}%20path`);
      assert.deepEqual(logs.map((l) => [l.message, l.metadata?._index]).sort(), [
        [`${method} path one`, 'from-path'],
        [`${method} path two`, 'own'],
      ]);
    });
  }

  test('a stored item has exactly the shape Elasticsearch answers with, and its _id is the log id', async () => {
    const res = await bulk(app, [ACTION, doc({ message: 'exact shape' })]);
    const reply = res.json() as BulkReply;
    assert.deepEqual(Object.keys(reply), ['took', 'errors', 'items']);
    assert.ok(Number.isInteger(reply.took) && reply.took >= 0, `took is whole milliseconds: ${reply.took}`);
    const [stored] = await storedLogs(app, '&q=exact%20shape');
    assert.ok(stored);
    assert.deepEqual(reply.items, [
      {
        create: {
          _index: 'app-logs',
          _id: String(stored.id),
          _version: 1,
          result: 'created',
          _shards: { total: 1, successful: 1, failed: 0 },
          status: 201,
          _seq_no: stored.id,
          _primary_term: 1,
        },
      },
    ]);
  });

  test('a failed item has the shape Elasticsearch answers with: status 400, an error type and our validation messages', async () => {
    const res = await bulk(app, [{ index: { _index: 'app-logs' } }, doc({ message: '' })]);
    assert.equal(res.statusCode, 200);
    const reply = res.json() as BulkReply;
    assert.deepEqual(reply.items, [
      { index: { _index: 'app-logs', _id: null, status: 400, error: { type: 'document_parsing_exception', reason: "'message' must not be empty" } } },
    ]);
    assert.equal(reply.errors, true);
  });

  test('create, index, update and delete: per-item statuses in order, update and delete refused, delete without a source line', async () => {
    const res = await bulk(app, [
      { create: { _index: 'mixed' } },
      doc({ message: 'mixed one' }),
      { delete: { _index: 'mixed', _id: '17' } },
      { update: { _index: 'mixed', _id: 18 } },
      { doc: { message: 'changed' } },
      { index: { _index: 'mixed', _id: 'mine' } },
      doc({ message: 'mixed two' }),
      { index: { _index: 'mixed', _id: 'bad-one' } },
      doc({ message: 'mixed bad', '@timestamp': 'yesterday' }),
      { create: { _index: 'mixed' } },
      doc({ message: 'mixed three' }),
    ]);
    assert.equal(res.statusCode, 200, res.body);
    const reply = res.json() as BulkReply;
    assert.equal(reply.errors, true);
    const summary = reply.items.map((item) => {
      const [action, body] = Object.entries(item)[0]!;
      return { action, status: body.status, id: body._id, type: body.error?.type };
    });
    const logs = await storedLogs(app, '&q=mixed');
    const idOf = (message: string): string => String(logs.find((l) => l.message === message)!.id);
    assert.deepEqual(summary, [
      { action: 'create', status: 201, id: idOf('mixed one'), type: undefined },
      { action: 'delete', status: 400, id: '17', type: 'illegal_argument_exception' },
      { action: 'update', status: 400, id: '18', type: 'illegal_argument_exception' },
      // Our id, not the one the action line asked for: logs are numbered by the server.
      { action: 'index', status: 201, id: idOf('mixed two'), type: undefined },
      { action: 'index', status: 400, id: 'bad-one', type: 'document_parsing_exception' },
      { action: 'create', status: 201, id: idOf('mixed three'), type: undefined },
    ]);
    assert.equal(logs.length, 3);
    assert.equal(logs.some((l) => l.message === 'changed'), false, "an update's document is never stored");
    const reasons = reply.items.map((item) => Object.values(item)[0]!.error?.reason);
    assert.match(reasons[1]!, /^item 1 \(line 3\): the delete action is not supported: .*; send create or index$/);
    assert.match(reasons[2]!, /^item 2 \(line 4\): the update action is not supported: .*; send create or index$/);
    assert.match(reasons[4]!, /^item 4 \(line 9\): @timestamp "yesterday" is not an RFC 3339 date-time with an offset/);
  });

  test('refused items are counted as invalid logs, like any other', async () => {
    const before = (await app.inject({ method: 'GET', url: '/api/validation-stats' })).json() as { invalid: number; valid: number };
    await bulk(app, [{ delete: { _index: 'x', _id: '1' } }, ACTION, doc({ message: 'counted' }), ACTION, doc({ level: undefined, message: undefined })]);
    const after = (await app.inject({ method: 'GET', url: '/api/validation-stats' })).json() as { invalid: number; valid: number };
    assert.equal(after.invalid - before.invalid, 2);
    assert.equal(after.valid - before.valid, 1);
  });

  test('a byte order mark, blank lines between pairs (as rsyslog sends them), CRLF line ends and no final newline are read', async () => {
    const pair = (message: string): string => `${JSON.stringify(ACTION)}\r\n${JSON.stringify(doc({ message }))}\r\n`;
    const res = await bulk(app, `\uFEFF\n${pair('blank one')}\n\n  \t\r\n${pair('blank two')}\n${JSON.stringify(ACTION)}\n${JSON.stringify(doc({ message: 'blank three' }))}`);
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(
      (res.json() as BulkReply).items.map((i) => i.create!.status),
      [201, 201, 201],
    );
    assert.equal((await storedLogs(app, '&q=blank')).length, 3);
  });

  test('the ids in concurrent replies are the ids their logs were stored under', async () => {
    const batch = (tag: string): unknown[] => Array.from({ length: 20 }, (_, i) => [ACTION, doc({ message: `concurrent ${tag} ${i}` })]).flat();
    const replies = await Promise.all(['a', 'b', 'c'].map((tag) => bulk(app, batch(tag)).then((r) => [tag, r.json() as BulkReply] as const)));
    const logs = await storedLogs(app, '&q=concurrent');
    const byId = new Map(logs.map((l) => [String(l.id), l.message]));
    for (const [tag, reply] of replies) {
      assert.deepEqual(
        reply.items.map((i) => byId.get(i.create!._id!)),
        Array.from({ length: 20 }, (_, i) => `concurrent ${tag} ${i}`),
      );
    }
  });

  test('ES content types: application/json with a charset (rsyslog), the official clients\' versioned types, gzip', async () => {
    const types = [
      'application/json; charset=utf-8',
      'application/x-ndjson',
      'application/vnd.elasticsearch+x-ndjson; compatible-with=8',
      'application/vnd.elasticsearch+json; compatible-with=8',
    ];
    for (const type of types) {
      const res = await bulk(app, [ACTION, doc({ message: `typed ${type}` })], { headers: { 'content-type': type } });
      assert.equal(res.statusCode, 200, `${type}: ${res.body}`);
      assert.equal((res.json() as BulkReply).errors, false);
    }
    const gz = await app.inject({
      method: 'POST',
      url: '/_bulk',
      payload: gzipSync(ndjson([ACTION, doc({ message: 'gzipped one' }), ACTION, doc({ message: 'gzipped two' })])),
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    });
    assert.equal(gz.statusCode, 200, gz.body);
    assert.equal((await storedLogs(app, '&q=gzipped')).length, 2);
    assert.equal((await storedLogs(app, '&q=typed')).length, types.length);

    const plain = await bulk(app, [ACTION, doc()], { headers: { 'content-type': 'text/plain' } });
    assert.equal(plain.statusCode, 415);
    assert.equal(plain.json().code, 'UNSUPPORTED_MEDIA_TYPE');
  });

  test('the bulk parsers stay inside the plugin: /api/logs still reads JSON as JSON and NDJSON as logs', async () => {
    const one = await postJson(app, '/api/logs', log({ message: 'still json' }));
    assert.equal(one.statusCode, 201, one.body);
    assert.deepEqual(one.json(), { status: 'accepted' });
    const lines = await app.inject({ method: 'POST', url: '/api/logs', payload: ndjson([log({ message: 'still ndjson' })]), headers: NDJSON });
    assert.equal(lines.statusCode, 201, lines.body);
    assert.equal(lines.json().accepted, 1);
  });
});

describe('Elasticsearch bulk API: mapping a document to a log', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildTestApp());
  });
  after(async () => {
    await app.close();
  });

  test('an ECS document: every field mapped, everything else kept nested in metadata with the index', async () => {
    const { log: stored } = await mapOne(app, {
      '@timestamp': '2024-01-15T14:29:30.123456+02:00',
      log: { level: 'warn', logger: 'auth.login' },
      service: { name: 'auth-service', version: '1.4.2' },
      message: 'slow login',
      user: { id: 'user-42', roles: ['admin'] },
      host: { name: 'web-01', ip: ['10.0.0.1'] },
      'trace.id': 'abc123',
      labels: { env: 'prod', shard: 3 },
    });
    assert.deepEqual(stored && { ...stored, id: 0, received_at: '' }, {
      id: 0,
      received_at: '',
      pattern_id: 1,
      timestamp: '2024-01-15T14:29:30.123456+02:00',
      level: 'WARNING',
      service: 'auth-service',
      message: 'slow login',
      user_id: 'user-42',
      metadata: {
        log: { logger: 'auth.login' },
        service: { version: '1.4.2' },
        user: { roles: ['admin'] },
        host: { name: 'web-01', ip: ['10.0.0.1'] },
        'trace.id': 'abc123',
        labels: { env: 'prod', shard: 3 },
        _index: 'app-logs',
      },
    });
  });

  test('dotted keys: log.level, service.name, user.id', async () => {
    const { log: stored } = await mapOne(app, doc({ 'log.level': 'ERROR', 'service.name': 'billing', 'user.id': 'u-1', message: 'dotted' }));
    assert.deepEqual([stored?.level, stored?.service, stored?.user_id, stored?.metadata], ['ERROR', 'billing', 'u-1', { _index: 'app-logs' }]);
  });

  test('plain keys: timestamp, level and a string service', async () => {
    const { log: stored } = await mapOne(app, { timestamp: '2024-01-15T14:29:30Z', level: 'fatal', service: 'payments', message: 'plain' });
    assert.deepEqual([stored?.timestamp, stored?.level, stored?.service, stored?.metadata], ['2024-01-15T14:29:30Z', 'CRITICAL', 'payments', { _index: 'app-logs' }]);
  });

  test('@timestamp wins over timestamp, which is then kept in metadata', async () => {
    const { log: stored } = await mapOne(app, doc({ '@timestamp': '2024-01-15T14:29:30Z', timestamp: 'the other one', message: 'both stamps' }));
    assert.equal(stored?.timestamp, '2024-01-15T14:29:30Z');
    assert.equal(stored?.metadata?.timestamp, 'the other one');
  });

  test('log.level wins over level, which is then kept in metadata', async () => {
    const { log: stored } = await mapOne(app, doc({ 'log.level': 'debug', level: 'ERROR', message: 'two levels' }));
    assert.equal(stored?.level, 'DEBUG');
    assert.equal(stored?.metadata?.level, 'ERROR');
  });

  test('epoch milliseconds become an RFC 3339 UTC timestamp', async () => {
    const ms = Date.parse('2024-01-15T14:29:30.123Z');
    const { log: stored } = await mapOne(app, doc({ '@timestamp': ms, message: 'epoch' }));
    assert.equal(stored?.timestamp, '2024-01-15T14:29:30.123Z');
  });

  for (const [what, value, reason] of [
    ['a date without an offset', '2024-01-15T14:29:30', /@timestamp "2024-01-15T14:29:30" is not an RFC 3339 date-time with an offset/],
    ['a date in no format', '15/01/2024 14:29', /@timestamp "15\/01\/2024 14:29" is not an RFC 3339/],
    ['epoch milliseconds before 1970', -1000, /@timestamp -1000 is not epoch milliseconds in years 1970-9999/],
    ['epoch milliseconds past year 9999', 1e20, /@timestamp 100000000000000000000 is not epoch milliseconds/],
    ['a boolean', true, /@timestamp must be an RFC 3339 date-time .* \(got a boolean\)/],
    ['an object', { seconds: 1 }, /@timestamp must be .* \(got an object\)/],
    ['null', null, /the document has no @timestamp \(or timestamp\)/],
  ] as const) {
    test(`@timestamp as ${what} is a per-item error`, async () => {
      const { item } = await mapOne(app, doc({ '@timestamp': value }));
      assert.equal(item.status, 400);
      assert.match(item.error!.reason, /^item 0 \(line 2\): /);
      assert.match(item.error!.reason, reason);
    });
  }

  test('no timestamp at all is a per-item error that says what to send', async () => {
    const { item } = await mapOne(app, { message: 'no time', 'service.name': 'x' });
    assert.equal(item.error?.reason, 'item 0 (line 2): the document has no @timestamp (or timestamp); send an RFC 3339 date-time with an offset (e.g. 2024-01-15T14:30:00Z) or epoch milliseconds, in years 1970-9999');
  });

  test('level: missing is INFO; each alias maps; an unknown word is INFO with the word kept as metadata level', async () => {
    const cases: [unknown, string, unknown][] = [
      [undefined, 'INFO', undefined],
      ['notice', 'INFO', undefined],
      ['WARN', 'WARNING', undefined],
      ['err', 'ERROR', undefined],
      ['emerg', 'CRITICAL', undefined],
      ['trace', 'DEBUG', undefined],
      ['loud', 'INFO', 'loud'],
      [30, 'INFO', 30],
    ];
    for (const [word, level, kept] of cases) {
      const { log: stored } = await mapOne(app, doc({ 'log.level': word, message: `level ${String(word)}` }));
      assert.equal(stored?.level, level, `log.level ${String(word)}`);
      assert.equal(stored?.metadata?.level, kept, `log.level ${String(word)}`);
    }
  });

  test('service: missing is unknown_service for an unbound token; a number is its text; an object is no service', async () => {
    assert.equal((await mapOne(app, doc({ 'service.name': undefined, message: 'no service' }))).log?.service, 'unknown_service');
    assert.equal((await mapOne(app, doc({ 'service.name': 404, message: 'numeric service' }))).log?.service, '404');
    const nested = await mapOne(app, doc({ 'service.name': undefined, service: { version: '2' }, message: 'service without name' }));
    assert.equal(nested.log?.service, 'unknown_service');
    assert.deepEqual(nested.log?.metadata?.service, { version: '2' });
    const bad = await mapOne(app, doc({ 'service.name': ['a'] }));
    assert.match(bad.item.error!.reason, /^item 0 \(line 2\): service\.name must be a string \(got an array\)$/);
  });

  test('message and user.id: missing, wrong types and empty values are per-item errors with clear reasons', async () => {
    const missing = await mapOne(app, doc({ message: undefined }));
    assert.equal(missing.item.error?.reason, "'message' is a required property");
    const object = await mapOne(app, doc({ message: { text: 'x' } }));
    assert.equal(object.item.error?.reason, 'item 0 (line 2): message must be a string (got an object)');
    const user = await mapOne(app, doc({ 'user.id': { x: 1 } }));
    assert.equal(user.item.error?.reason, 'item 0 (line 2): user.id must be a string (got an object)');
    const emptyService = await mapOne(app, doc({ 'service.name': '' }));
    assert.equal(emptyService.item.error?.reason, "'service' must not be empty");
    const numericUser = await mapOne(app, doc({ 'user.id': 42, message: 'numeric user' }));
    assert.equal(numericUser.log?.user_id, '42');
  });

  test('a source line that is JSON but not an object is a per-item error', async () => {
    for (const source of [[1, 2], '"text"', 7, null]) {
      const { item } = await mapOne(app, source);
      assert.match(item.error!.reason, /^item 0 \(line 2\): the source document must be a JSON object \(got /);
    }
  });

  test('metadata past the limits is refused by the validator', async () => {
    const wide = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, i]));
    const { item } = await mapOne(app, doc(wide));
    assert.equal(item.error?.reason, "'metadata' has more than the limit of 64 keys");
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 10; i++) deep = { deeper: deep };
    const nested = await mapOne(app, doc({ deep }));
    assert.match(nested.item.error!.reason, /'metadata' nests deeper than the limit/);
  });
});

describe('Elasticsearch bulk API: bodies refused whole', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildTestApp());
  });
  after(async () => {
    await app.close();
  });

  const cases: [string, string, string, string, RegExp][] = [
    ['an action line that is not JSON', `${JSON.stringify(ACTION)}\n${JSON.stringify(doc())}\n{"create":\n{}\n`, 'INVALID_JSON', 'illegal_argument_exception', /^line 3 is not valid JSON \(/],
    ['a source line that is not JSON', `${JSON.stringify(ACTION)}\n{"message": nope}\n`, 'INVALID_JSON', 'illegal_argument_exception', /^line 2 is not valid JSON \(/],
    ['an unknown action', `${JSON.stringify(ACTION)}\n${JSON.stringify(doc())}\n{"upsert":{}}\n{}\n`, 'BULK_UNKNOWN_ACTION', 'illegal_argument_exception', /^line 3: unknown action "upsert"/],
    ['an action line naming two actions', '{"create":{},"index":{}}\n{}\n', 'BULK_MALFORMED_ACTION', 'illegal_argument_exception', /^line 1: an action line names exactly one action/],
    ['an action line that is an array', '[{"create":{}}]\n{}\n', 'BULK_MALFORMED_ACTION', 'illegal_argument_exception', /^line 1: an action line must be a JSON object naming one action \(got an array\)/],
    ['action parameters that are not an object', '{"create":"logs"}\n{}\n', 'BULK_MALFORMED_ACTION', 'illegal_argument_exception', /^line 1: the create action's parameters must be an object/],
    ['an _index that is not a string', '{"create":{"_index":["a"]}}\n{}\n', 'BULK_MALFORMED_ACTION', 'illegal_argument_exception', /^line 1: _index must be a non-empty string/],
    ['an action without an index on /_bulk', '{"create":{}}\n{}\n', 'BULK_MISSING_INDEX', 'action_request_validation_exception', /^line 1: the create action names no _index and the URL names no index/],
    ['a source line missing at the end', `${JSON.stringify(ACTION)}\n${JSON.stringify(doc())}\n\n${JSON.stringify(ACTION)}\n`, 'BULK_MISSING_SOURCE', 'action_request_validation_exception', /^line 4: the create action needs its source document on the next line, but the body ends there/],
    ['a blank line where the source belongs', `${JSON.stringify(ACTION)}\n\n${JSON.stringify(doc())}\n`, 'BULK_MISSING_SOURCE', 'action_request_validation_exception', /^line 1: the create action needs its source document on the next line, but line 2 is empty/],
    ['an empty body', '', 'EMPTY_BATCH', 'action_request_validation_exception', /^the bulk body holds no actions/],
    ['a body of blank lines', '\n\n \n', 'EMPTY_BATCH', 'action_request_validation_exception', /^the bulk body holds no actions/],
    ['a source line with __proto__', `${JSON.stringify(ACTION)}\n{"message":"x","__proto__":{"polluted":true}}\n`, 'INVALID_JSON', 'illegal_argument_exception', /^line 2 is not valid JSON/],
  ];
  for (const [what, body, code, type, reason] of cases) {
    test(`${what}: 400 in Elasticsearch's error shape with our code, naming the line; nothing stored`, async () => {
      const before = (await storedLogs(app)).length;
      const res = await bulk(app, body);
      assert.equal(res.statusCode, 400, res.body);
      assert.ok(res.headers['x-request-id']);
      const answer = res.json() as { error: { root_cause: unknown[]; type: string; reason: string }; status: number; code: string };
      assert.deepEqual(Object.keys(answer), ['error', 'status', 'code']);
      assert.equal(answer.status, 400);
      assert.equal(answer.code, code);
      assert.equal(answer.error.type, type);
      assert.match(answer.error.reason, reason);
      assert.deepEqual(answer.error.root_cause, [{ type, reason: answer.error.reason }]);
      assert.equal((await storedLogs(app)).length, before);
    });
  }

  test('an empty body with no Content-Type at all is the same 400', async () => {
    const res = await app.inject({ method: 'POST', url: '/_bulk' });
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.json().code, 'EMPTY_BATCH');
  });

  test('a body that is not UTF-8 or a broken gzip body: 4xx in the API shape, before any line is read', async () => {
    const latin1 = await app.inject({ method: 'POST', url: '/_bulk', payload: Buffer.from([0x7b, 0xe9, 0x7d, 0x0a]), headers: NDJSON });
    assert.equal(latin1.statusCode, 400);
    assert.equal(latin1.json().code, 'INVALID_UTF8');
    const broken = await app.inject({ method: 'POST', url: '/_bulk', payload: 'not gzip', headers: { ...NDJSON, 'content-encoding': 'gzip' } });
    assert.equal(broken.statusCode, 400);
    assert.equal(broken.json().code, 'BAD_ENCODING');
  });
});

describe('Elasticsearch bulk API: limits and access', () => {
  let app: FastifyInstance;
  const BOUND_PAYMENTS = 'payments-bound-token-0001';
  before(async () => {
    ({ app } = await buildTestApp({
      limits: { max_batch_items: 3 },
      auth: {
        anonymous_scopes: ['read'],
        tokens: [
          { name: 'reader', token: READER_TOKEN, scopes: ['read'] },
          { name: 'ingester', token: INGEST_TOKEN, service: '*', scopes: ['ingest'] },
          { token: AUTH_SERVICE_TOKEN, service: 'auth-service', scopes: ['ingest', 'read'] },
          { token: BOUND_PAYMENTS, service: 'payments', scopes: ['ingest'] },
        ],
      },
    }));
  });
  after(async () => {
    await app.close();
  });

  const asIngester = { authorization: basic(INGEST_TOKEN) };

  test('Basic auth with the token as the password (any user name) is accepted', async () => {
    for (const user of ['rsyslog', 'elastic']) {
      const res = await bulk(app, [ACTION, doc({ message: `basic ${user}` })], { headers: { authorization: basic(INGEST_TOKEN, user) } });
      assert.equal(res.statusCode, 200, res.body);
    }
    assert.equal((await storedLogs(app, '&q=basic')).length, 2);
  });

  test('no token, a wrong token or a read-only token: refused before anything is read', async () => {
    const anonymous = await bulk(app, [ACTION, doc()]);
    assert.equal(anonymous.statusCode, 401);
    assert.equal(anonymous.json().code, 'AUTH_REQUIRED');
    const wrong = await bulk(app, [ACTION, doc()], { headers: { authorization: basic('not-a-token') } });
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.json().code, 'AUTH_INVALID_TOKEN');
    const reader = await bulk(app, [ACTION, doc()], { headers: { authorization: basic(READER_TOKEN) } });
    assert.equal(reader.statusCode, 403);
    assert.equal(reader.json().code, 'AUTH_SCOPE');
  });

  test('more actions than limits.max_batch_items: 413, delete actions counted too, nothing stored', async () => {
    const before = (await storedLogs(app)).length;
    const lines = [ACTION, doc(), ACTION, doc(), { delete: { _index: 'x', _id: '1' } }, ACTION, doc()];
    const res = await bulk(app, lines, { headers: asIngester });
    assert.equal(res.statusCode, 413, res.body);
    assert.equal(res.json().code, 'BATCH_TOO_LARGE');
    assert.match(res.json().error, /more than 3 actions, the limit \(limits\.max_batch_items\)/);
    assert.equal((await storedLogs(app)).length, before);
    const atLimit = await bulk(app, lines.slice(0, 5), { headers: asIngester });
    assert.equal(atLimit.statusCode, 200, atLimit.body);
  });

  test('a bound token: documents without a service are stored under it, its own service is accepted', async () => {
    const res = await bulk(app, [ACTION, doc({ 'service.name': undefined, message: 'bound default' }), ACTION, doc({ 'service.name': 'payments', message: 'bound own' })], {
      headers: { authorization: basic(BOUND_PAYMENTS) },
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((res.json() as BulkReply).errors, false);
    const logs = await storedLogs(app, '&q=bound');
    assert.deepEqual(logs.map((l) => l.service), ['payments', 'payments']);
  });

  test('a bound token naming another service: 403 SERVICE_MISMATCH for the whole request, nothing stored', async () => {
    const before = (await storedLogs(app)).length;
    const res = await bulk(app, [ACTION, doc({ 'service.name': 'payments', message: 'mismatch ok' }), ACTION, doc({ service: 'auth-service', 'service.name': undefined })], {
      headers: { authorization: basic(BOUND_PAYMENTS) },
    });
    assert.equal(res.statusCode, 403, res.body);
    assert.deepEqual(Object.keys(res.json()).sort(), ['code', 'error']);
    assert.equal(res.json().code, 'SERVICE_MISMATCH');
    assert.match(res.json().error, /'payments'.*'auth-service'/);
    assert.equal((await storedLogs(app)).length, before);
  });
});
