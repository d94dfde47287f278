import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { rfc3339FromNanos } from '../../server/http/adapters/shared.js';
import { parseRfc3339 } from '../../server/core/time.js';
import { AUTH_SERVICE_TOKEN, INGEST_TOKEN, READER_TOKEN, buildTestApp, postJson } from '../helpers.js';
import type { LogView } from '../../server/core/log.js';

const ENDPOINT = '/v1/logs';
/** 2024-01-15T14:30:00.123456789Z in Unix nanoseconds. */
const NS = '1705329000123456789';
const ISO = '2024-01-15T14:30:00.123456789Z';


type Json = Record<string, unknown>;

const str = (stringValue: string): Json => ({ stringValue });
const kv = (key: string, value: unknown): Json => ({ key, value });
const attrs = (values: Record<string, unknown>): Json[] => Object.entries(values).map(([k, v]) => kv(k, v));

/** A record with a time and a body, and `fields` on top. */
function record(message: string, fields: Json = {}): Json {
  return { timeUnixNano: NS, body: str(message), ...fields };
}

interface Shape {
  /** Resource attributes as AnyValues; service.name checkout unless given. */
  resource?: Record<string, unknown>;
  scope?: Json;
}

function request(records: unknown[], shape: Shape = {}): Json {
  const resource = shape.resource ?? { 'service.name': str('checkout') };
  return { resourceLogs: [{ resource: { attributes: attrs(resource) }, scopeLogs: [{ scope: shape.scope ?? {}, logRecords: records }] }] };
}

function post(app: FastifyInstance, body: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return postJson(app, ENDPOINT, body, headers);
}

async function stored(app: FastifyInstance): Promise<LogView[]> {
  const res = await app.inject({ method: 'GET', url: '/api/logs?limit=1000', headers: { authorization: `Bearer ${READER_TOKEN}` } });
  assert.equal(res.statusCode, 200, res.body);
  return (res.json() as { logs: LogView[] }).logs.sort((a, b) => a.id - b.id);
}

/** The stored logs without id and receive time, in the order they were sent. */
async function storedLogs(app: FastifyInstance): Promise<Omit<LogView, 'id' | 'received_at'>[]> {
  return (await stored(app)).map(({ id: _id, received_at: _received, pattern_id, ...rest }) => {
    assert.ok(Number.isInteger(pattern_id) && pattern_id! > 0, `an OTLP record gets a pattern like any other log (pattern_id ${pattern_id})`);
    return rest;
  });
}

async function withApp(t: { after: (fn: () => Promise<void>) => void }, overrides: Record<string, unknown> = {}): Promise<FastifyInstance> {
  const { app } = await buildTestApp(overrides);
  t.after(() => app.close());
  return app;
}

/** Posts records and returns what was stored of them, asserting every one was accepted. */
async function roundTrip(app: FastifyInstance, records: unknown[], shape: Shape = {}): Promise<Omit<LogView, 'id' | 'received_at'>[]> {
  const before = (await stored(app)).length;
  const res = await post(app, request(records, shape));
  assert.equal(res.statusCode, 200, res.body);
  assert.deepEqual(res.json(), {});
  return (await storedLogs(app)).slice(before);
}

function assertOtlpError(res: LightMyRequestResponse, status: number, code: string, pattern: RegExp): void {
  assert.equal(res.statusCode, status, res.body);
  const body = res.json() as { error: string; code: string };
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error']);
  assert.equal(body.code, code);
  assert.match(body.error, pattern);
}

function basic(token: string, user = 'otel'): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}` };
}

describe('rfc3339FromNanos: exact nanosecond timestamps', () => {
  test('known values', () => {
    const cases: [bigint, string][] = [
      [BigInt(NS), ISO],
      [0n, '1970-01-01T00:00:00.000000000Z'],
      [1n, '1970-01-01T00:00:00.000000001Z'],
      [1705329000000000000n, '2024-01-15T14:30:00.000000000Z'],
      [1705329000999999999n, '2024-01-15T14:30:00.999999999Z'],
      // The largest fixed64.
      [2n ** 64n - 1n, '2554-07-21T23:34:33.709551615Z'],
    ];
    for (const [ns, iso] of cases) assert.equal(rfc3339FromNanos(ns), iso, String(ns));
  });

  test('every fixed64 maps to a timestamp that reads back to the same second and nanoseconds', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (ns) => {
        const iso = rfc3339FromNanos(ns);
        const ms = parseRfc3339(iso);
        assert.equal(BigInt(Math.floor(ms / 1000)), ns / 1_000_000_000n, iso);
        assert.equal(iso.slice(20, 29), (ns % 1_000_000_000n).toString().padStart(9, '0'), iso);
      }),
    );
  });
});

describe('POST /v1/logs: mapping OTLP/JSON log records', () => {
  test('a full record: every field where it belongs, the success body {}', async (t) => {
    const app = await withApp(t);
    const res = await post(
      app,
      request(
        [
          {
            timeUnixNano: NS,
            observedTimeUnixNano: '1705329001000000000',
            severityNumber: 17,
            severityText: 'ERROR',
            body: str('payment declined'),
            attributes: attrs({ 'enduser.id': str('user-42'), 'http.status_code': { intValue: '402' }, retry: { boolValue: false } }),
            traceId: '5b8efff798038103d269b633813fc60c',
            spanId: 'eee19b7ec3c1b174',
            flags: 1,
          },
        ],
        {
          resource: { 'service.name': str('checkout'), 'deployment.environment': str('prod'), 'host.name': str('web-1') },
          scope: { name: 'checkout.payments', version: '1.4.0' },
        },
      ),
    );
    assert.equal(res.statusCode, 200, res.body);
    // No charset: the Collector's otlphttp exporter parses a response only under this exact type.
    assert.equal(res.headers['content-type'], 'application/json');
    assert.deepEqual(res.json(), {});
    assert.deepEqual(await storedLogs(app), [
      {
        timestamp: ISO,
        level: 'ERROR',
        service: 'checkout',
        message: 'payment declined',
        user_id: 'user-42',
        metadata: {
          'deployment.environment': 'prod',
          'host.name': 'web-1',
          'http.status_code': 402,
          retry: false,
          trace_id: '5b8efff798038103d269b633813fc60c',
          span_id: 'eee19b7ec3c1b174',
          'otel.scope.name': 'checkout.payments',
          'otel.scope.version': '1.4.0',
        },
      },
    ]);
  });

  test('a bare record: no metadata at all, INFO, no user', async (t) => {
    const app = await withApp(t);
    assert.deepEqual(await roundTrip(app, [record('bare')]), [{ timestamp: ISO, level: 'INFO', service: 'checkout', message: 'bare' }]);
  });

  test('timeUnixNano keeps every nanosecond, as a string or a JSON integer', async (t) => {
    const app = await withApp(t);
    const logs = await roundTrip(app, [
      record('ns', { timeUnixNano: '1705329000000000001' }),
      record('us', { timeUnixNano: '1705329000123456000' }),
      record('ms', { timeUnixNano: '1705329000123000000' }),
      record('whole', { timeUnixNano: '1705329000000000000' }),
      // A multiple of 4096, so the double JSON.parse makes of it is exact.
      record('integer', { timeUnixNano: 1705329000000000000 }),
      record('max', { timeUnixNano: '18446744073709551615' }),
    ]);
    assert.deepEqual(
      logs.map((l) => [l.message, l.timestamp]),
      [
        ['ns', '2024-01-15T14:30:00.000000001Z'],
        ['us', '2024-01-15T14:30:00.123456000Z'],
        ['ms', '2024-01-15T14:30:00.123000000Z'],
        ['whole', '2024-01-15T14:30:00.000000000Z'],
        ['integer', '2024-01-15T14:30:00.000000000Z'],
        ['max', '2554-07-21T23:34:33.709551615Z'],
      ],
    );
  });

  test('observedTimeUnixNano stands in when timeUnixNano is 0 or absent; neither makes the record unmappable', async (t) => {
    const app = await withApp(t);
    const observed = '1705329005000000007';
    const res = await post(
      app,
      request([
        { body: str('absent'), observedTimeUnixNano: observed },
        { body: str('zero'), timeUnixNano: '0', observedTimeUnixNano: observed },
        { body: str('zero integer'), timeUnixNano: 0, observedTimeUnixNano: observed },
        { body: str('neither') },
        { body: str('both zero'), timeUnixNano: '0', observedTimeUnixNano: '0' },
      ]),
    );
    assert.equal(res.statusCode, 200, res.body);
    const partial = res.json().partialSuccess;
    assert.equal(partial.rejectedLogRecords, '2');
    assert.match(partial.errorMessage, /logRecords\[3\]: has neither timeUnixNano nor observedTimeUnixNano/);
    assert.match(partial.errorMessage, /logRecords\[4\]: has neither timeUnixNano nor observedTimeUnixNano/);
    assert.deepEqual(
      (await storedLogs(app)).map((l) => [l.message, l.timestamp]),
      [
        ['absent', '2024-01-15T14:30:05.000000007Z'],
        ['zero', '2024-01-15T14:30:05.000000007Z'],
        ['zero integer', '2024-01-15T14:30:05.000000007Z'],
      ],
    );
  });

  test('a timestamp that is not a fixed64 count of nanoseconds rejects its record', async (t) => {
    const app = await withApp(t);
    const bad = ['-1', '1.7e18', '18446744073709551616', 'yesterday', '', -5, 1.5, true];
    const res = await post(app, request(bad.map((timeUnixNano, i) => record(`bad ${i}`, { timeUnixNano }))));
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().partialSuccess.rejectedLogRecords, String(bad.length));
    assert.match(res.json().partialSuccess.errorMessage, /logRecords\[0\]: timeUnixNano must be nanoseconds since the Unix epoch as a decimal string.*\(got "-1"\)/);
    assert.deepEqual(await stored(app), []);
  });

  test('severityNumber by the OpenTelemetry ranges, as a number or an enum name', async (t) => {
    const app = await withApp(t);
    const expected = (n: number): string => (n <= 8 ? 'DEBUG' : n <= 12 ? 'INFO' : n <= 16 ? 'WARNING' : n <= 20 ? 'ERROR' : 'CRITICAL');
    const numbers = Array.from({ length: 24 }, (_, i) => i + 1);
    const names: [string, string][] = [
      ['SEVERITY_NUMBER_TRACE', 'DEBUG'],
      ['SEVERITY_NUMBER_TRACE4', 'DEBUG'],
      ['SEVERITY_NUMBER_DEBUG2', 'DEBUG'],
      ['SEVERITY_NUMBER_INFO', 'INFO'],
      ['SEVERITY_NUMBER_INFO3', 'INFO'],
      ['SEVERITY_NUMBER_WARN', 'WARNING'],
      ['SEVERITY_NUMBER_WARN4', 'WARNING'],
      ['SEVERITY_NUMBER_ERROR', 'ERROR'],
      ['SEVERITY_NUMBER_ERROR2', 'ERROR'],
      ['SEVERITY_NUMBER_FATAL', 'CRITICAL'],
      ['SEVERITY_NUMBER_FATAL4', 'CRITICAL'],
    ];
    const logs = await roundTrip(app, [
      ...numbers.map((n) => record(`number ${n}`, { severityNumber: n })),
      ...names.map(([name]) => record(name, { severityNumber: name })),
    ]);
    assert.deepEqual(
      logs.map((l) => [l.message, l.level]),
      [...numbers.map((n) => [`number ${n}`, expected(n)]), ...names],
    );
    for (const l of logs) assert.equal(l.metadata, undefined, 'a known severity leaves no metadata');
  });

  test('severityText decides when severityNumber is 0, absent or outside the enum; an unknown text is INFO and kept', async (t) => {
    const app = await withApp(t);
    const logs = await roundTrip(app, [
      record('text warn', { severityText: 'warn' }),
      record('text Error with 0', { severityNumber: 0, severityText: 'Error' }),
      record('unspecified name', { severityNumber: 'SEVERITY_NUMBER_UNSPECIFIED', severityText: 'fatal' }),
      record('out of range', { severityNumber: 30, severityText: 'debug' }),
      record('unknown name', { severityNumber: 'SEVERITY_NUMBER_LOUD', severityText: 'crit' }),
      record('unknown text', { severityText: 'AUDIT' }),
      record('number wins, odd text kept', { severityNumber: 13, severityText: 'Attention' }),
      record('number wins over a known text', { severityNumber: 21, severityText: 'info' }),
      record('nothing'),
    ]);
    assert.deepEqual(
      logs.map((l) => [l.message, l.level, l.metadata?.severity_text]),
      [
        ['text warn', 'WARNING', undefined],
        ['text Error with 0', 'ERROR', undefined],
        ['unspecified name', 'CRITICAL', undefined],
        ['out of range', 'DEBUG', undefined],
        ['unknown name', 'CRITICAL', undefined],
        ['unknown text', 'INFO', 'AUDIT'],
        ['number wins, odd text kept', 'WARNING', 'Attention'],
        ['number wins over a known text', 'CRITICAL', undefined],
        ['nothing', 'INFO', undefined],
      ],
    );
  });

  test('a severity of the wrong type rejects its record', async (t) => {
    const app = await withApp(t);
    const res = await post(app, request([record('ok'), record('bool', { severityNumber: true }), record('text', { severityText: 5 })]));
    const partial = res.json().partialSuccess;
    assert.equal(partial.rejectedLogRecords, '2');
    assert.match(partial.errorMessage, /logRecords\[1\]: severityNumber must be a number 1-24 or a SeverityNumber name/);
    assert.match(partial.errorMessage, /logRecords\[2\]: severityText must be a string \(got number\)/);
  });

  test('a body of any other AnyValue kind becomes its text or JSON text', async (t) => {
    const app = await withApp(t);
    const bodies: [unknown, string][] = [
      [{ intValue: '42' }, '42'],
      [{ intValue: -7 }, '-7'],
      [{ intValue: '12345678901234567890' }, '12345678901234567890'],
      [{ doubleValue: 1.5 }, '1.5'],
      [{ doubleValue: 'NaN' }, 'NaN'],
      [{ boolValue: false }, 'false'],
      [{ bytesValue: 'aGVsbG8=' }, 'aGVsbG8='],
      [{ arrayValue: { values: [{ intValue: '1' }, str('two'), { boolValue: true }, {}] } }, '[1,"two",true,null]'],
      [{ kvlistValue: { values: [kv('event', str('login')), kv('attempt', { intValue: '3' }), kv('geo', { kvlistValue: { values: [kv('cc', str('DE'))] } })] } }, '{"event":"login","attempt":3,"geo":{"cc":"DE"}}'],
      [{ kvlistValue: {} }, '{}'],
      [{ arrayValue: {} }, '[]'],
    ];
    const logs = await roundTrip(app, bodies.map(([body], i) => ({ timeUnixNano: NS, body, attributes: attrs({ i: { intValue: i } }) })));
    assert.deepEqual(
      logs.map((l) => l.message),
      bodies.map(([, message]) => message),
    );
  });

  test('an absent, empty or malformed body rejects its record, naming it and the reason', async (t) => {
    const app = await withApp(t);
    const res = await post(
      app,
      request([
        { timeUnixNano: NS },
        { timeUnixNano: NS, body: {} },
        { timeUnixNano: NS, body: str('') },
        { timeUnixNano: NS, body: null },
        { timeUnixNano: NS, body: { stringValue: 'a', intValue: '1' } },
        { timeUnixNano: NS, body: 'plain string' },
        { timeUnixNano: NS, body: { intValue: 'twelve' } },
        record('the one good record'),
      ]),
    );
    assert.equal(res.statusCode, 200, res.body);
    const partial = res.json().partialSuccess;
    assert.equal(partial.rejectedLogRecords, '7');
    assert.match(
      partial.errorMessage,
      /^7 of 8 log records rejected: resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords\[0\]: has no body, or an empty one; the body is the log message \| resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords\[1\]: has no body.* \| resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords\[2\]: has no body.* \| and 4 more$/,
    );
    assert.deepEqual(
      (await storedLogs(app)).map((l) => l.message),
      ['the one good record'],
    );
  });

  test('AnyValue attributes become plain JSON in metadata', async (t) => {
    const app = await withApp(t);
    const [log] = await roundTrip(app, [
      record('attributes', {
        attributes: [
          kv('s', str('text')),
          kv('int string', { intValue: '-12' }),
          kv('int number', { intValue: 12 }),
          kv('int unsafe', { intValue: '9007199254740993' }),
          kv('double', { doubleValue: 2.5 }),
          kv('double string', { doubleValue: '2.5' }),
          kv('double infinity', { doubleValue: 'Infinity' }),
          kv('bool', { boolValue: true }),
          kv('bytes', { bytesValue: 'AAEC' }),
          kv('array', { arrayValue: { values: [str('a'), { intValue: '2' }, { arrayValue: { values: [{ boolValue: false }] } }] } }),
          kv('kvlist', { kvlistValue: { values: [kv('x', { intValue: '1' }), kv('nested', { kvlistValue: { values: [kv('y', str('z'))] } })] } }),
          kv('empty', {}),
          kv('absent value', undefined),
          kv('repeated', str('first')),
          kv('repeated', str('last')),
        ],
      }),
    ]);
    assert.deepEqual(log!.metadata, {
      s: 'text',
      'int string': -12,
      'int number': 12,
      'int unsafe': '9007199254740993',
      double: 2.5,
      'double string': 2.5,
      'double infinity': 'Infinity',
      bool: true,
      bytes: 'AAEC',
      array: ['a', 2, [false]],
      kvlist: { x: 1, nested: { y: 'z' } },
      empty: null,
      'absent value': null,
      repeated: 'last',
    });
  });

  test('a malformed attribute rejects its record, naming the attribute', async (t) => {
    const app = await withApp(t);
    const res = await post(
      app,
      request([
        record('bool as string', { attributes: [kv('ok', str('x')), kv('flag', { boolValue: 'yes' })] }),
        record('attributes not a list', { attributes: { a: 1 } }),
        record('key not a string', { attributes: [{ key: 5, value: str('x') }] }),
      ]),
    );
    const partial = res.json().partialSuccess;
    assert.equal(partial.rejectedLogRecords, '3');
    assert.match(partial.errorMessage, /logRecords\[0\]: attributes\[1\]\.value\.boolValue must be true or false \(got string\)/);
    assert.match(partial.errorMessage, /logRecords\[1\]: attributes must be an array \(got object\)/);
    assert.match(partial.errorMessage, /logRecords\[2\]: attributes\[0\]\.key must be a string \(got number\)/);
  });

  test('resource and record attributes merge into metadata, the record winning a shared key', async (t) => {
    const app = await withApp(t);
    const [log] = await roundTrip(app, [record('merged', { attributes: attrs({ region: str('eu-west-1'), 'code.function': str('pay') }) })], {
      resource: { 'service.name': str('checkout'), region: str('eu'), 'service.version': str('2.0.1') },
    });
    assert.deepEqual(log, {
      timestamp: ISO,
      level: 'INFO',
      service: 'checkout',
      message: 'merged',
      metadata: { region: 'eu-west-1', 'service.version': '2.0.1', 'code.function': 'pay' },
    });
  });

  test('user_id: enduser.id, then user.id, from the record first, then the resource; the others stay in metadata', async (t) => {
    const app = await withApp(t);
    const resource = { 'service.name': str('checkout'), 'enduser.id': str('resource-enduser'), 'user.id': str('resource-user') };
    const logs = await roundTrip(
      app,
      [
        record('record enduser.id', { attributes: attrs({ 'enduser.id': str('rec-enduser'), 'user.id': str('rec-user') }) }),
        record('record user.id', { attributes: attrs({ 'user.id': str('rec-user') }) }),
        record('resource only'),
        record('integer id', { attributes: attrs({ 'enduser.id': { intValue: '1001' } }) }),
        record('empty id falls through', { attributes: attrs({ 'enduser.id': str('') }) }),
      ],
      { resource },
    );
    assert.deepEqual(
      logs.map((l) => [l.message, l.user_id, l.metadata]),
      [
        ['record enduser.id', 'rec-enduser', { 'enduser.id': 'resource-enduser', 'user.id': 'rec-user' }],
        ['record user.id', 'rec-user', { 'enduser.id': 'resource-enduser', 'user.id': 'resource-user' }],
        ['resource only', 'resource-enduser', { 'user.id': 'resource-user' }],
        ['integer id', '1001', { 'user.id': 'resource-user', 'enduser.id': 'resource-enduser' }],
        ['empty id falls through', 'resource-enduser', { 'user.id': 'resource-user', 'enduser.id': '' }],
      ],
    );
  });

  test('traceId and spanId only when non-empty; scope name and version only when set', async (t) => {
    const app = await withApp(t);
    const logs = await roundTrip(app, [record('empty ids', { traceId: '', spanId: '' }), record('trace only', { traceId: 'abc123' })], {
      scope: { name: 'only-a-name' },
    });
    assert.deepEqual(
      logs.map((l) => l.metadata),
      [{ 'otel.scope.name': 'only-a-name' }, { trace_id: 'abc123', 'otel.scope.name': 'only-a-name' }],
    );
  });

  test('service.name: absent or empty gives unknown_service; any other value kind is its text', async (t) => {
    const app = await withApp(t);
    const none = await roundTrip(app, [record('no service')], { resource: {} });
    const empty = await roundTrip(app, [record('empty service')], { resource: { 'service.name': str('') } });
    const int = await roundTrip(app, [record('int service')], { resource: { 'service.name': { intValue: '7' } } });
    assert.deepEqual([...none, ...empty, ...int].map((l) => l.service), ['unknown_service', 'unknown_service', '7']);
    const res = await post(app, { resourceLogs: [{ scopeLogs: [{ logRecords: [record('no resource at all')] }] }] });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((await storedLogs(app)).at(-1)!.service, 'unknown_service');
  });

  test('records across several resources and scopes keep their own service, scope and order', async (t) => {
    const app = await withApp(t);
    const res = await post(app, {
      resourceLogs: [
        {
          resource: { attributes: attrs({ 'service.name': str('api') }) },
          scopeLogs: [
            { scope: { name: 'http' }, logRecords: [record('api http 1'), record('api http 2')] },
            { scope: { name: 'db', version: '3' }, logRecords: [record('api db')] },
          ],
        },
        { resource: { attributes: attrs({ 'service.name': str('worker') }) }, scopeLogs: [{ logRecords: [record('worker')] }] },
        { resource: { attributes: attrs({ 'service.name': str('idle') }) } },
      ],
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(
      (await storedLogs(app)).map((l) => [l.service, l.message, l.metadata]),
      [
        ['api', 'api http 1', { 'otel.scope.name': 'http' }],
        ['api', 'api http 2', { 'otel.scope.name': 'http' }],
        ['api', 'api db', { 'otel.scope.name': 'db', 'otel.scope.version': '3' }],
        ['worker', 'worker', undefined],
      ],
    );
  });

  test('an empty request is a success that stores nothing', async (t) => {
    const app = await withApp(t);
    for (const body of [{ resourceLogs: [] }, { resourceLogs: [{}] }, { resourceLogs: [{ scopeLogs: [{}] }] }]) {
      const res = await post(app, body);
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), {});
    }
    assert.deepEqual(await stored(app), []);
  });

  test('unknown fields are ignored, as OTLP/JSON receivers must', async (t) => {
    const app = await withApp(t);
    const body = request([record('extra fields', { droppedAttributesCount: 2, somethingNew: { x: 1 } })]);
    (body as { futureField?: unknown }).futureField = true;
    const res = await post(app, body);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((await storedLogs(app))[0]!.message, 'extra fields');
  });

  test('eventName is kept as metadata event.name', async (t) => {
    const app = await withApp(t);
    const [log] = await roundTrip(app, [record('an event', { eventName: 'session.start' })]);
    assert.deepEqual(log!.metadata, { 'event.name': 'session.start' });
  });
});

describe('POST /v1/logs: rejected records and partial success', () => {
  test('the partial success counts rejected records as an int64 string and names them', async (t) => {
    const app = await withApp(t, { limits: { max_message_length: 20 } });
    const res = await post(app, request([record('fine'), record('this message is longer than twenty'), { timeUnixNano: NS }, record('also fine')]));
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.deepEqual(res.json(), {
      partialSuccess: {
        rejectedLogRecords: '2',
        errorMessage:
          "2 of 4 log records rejected: resourceLogs[0].scopeLogs[0].logRecords[1]: 'message' is longer than the limit of 20 characters | " +
          'resourceLogs[0].scopeLogs[0].logRecords[2]: has no body, or an empty one; the body is the log message',
      },
    });
    assert.deepEqual((await storedLogs(app)).map((l) => l.message), ['fine', 'also fine']);
  });

  test('every record rejected is still a 200 partial success, and rejections are counted in validation stats', async (t) => {
    const app = await withApp(t);
    const res = await post(app, request([{ timeUnixNano: NS }, { body: str('no time') }]));
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().partialSuccess.rejectedLogRecords, '2');
    assert.deepEqual(await stored(app), []);
    const stats = await app.inject({ method: 'GET', url: '/api/validation-stats' });
    assert.deepEqual(stats.json(), { total: 2, valid: 0, invalid: 2, error_types: { protocol: 2 } });
  });

  test('more than 64 attributes: the record is rejected by the metadata key limit', async (t) => {
    const app = await withApp(t);
    const many = Array.from({ length: 65 }, (_, i) => kv(`k${i}`, str('v')));
    const res = await post(app, request([record('too many', { attributes: many }), record('ok')]));
    assert.match(res.json().partialSuccess.errorMessage, /logRecords\[0\]: 'metadata' has more than the limit of 64 keys/);
    assert.deepEqual((await storedLogs(app)).map((l) => l.message), ['ok']);
  });

  test('attribute values nesting past limits.max_metadata_depth reject their record, however deep', async (t) => {
    const app = await withApp(t, { limits: { max_metadata_depth: 3 } });
    const nest = (levels: number): unknown => {
      let value: unknown = str('leaf');
      for (let i = 0; i < levels; i++) value = { kvlistValue: { values: [kv('n', value)] } };
      return value;
    };
    // Written as text: JSON.stringify itself would run out of stack on the hostile value.
    const levels = 20_000;
    const hostile = `${'{"kvlistValue":{"values":[{"key":"n","value":'.repeat(levels)}{"stringValue":"leaf"}${'}]}}'.repeat(levels)}`;
    // Metadata is level 1, so an attribute may nest two more levels.
    const body = request([record('two levels', { attributes: [kv('a', nest(2))] }), record('three levels', { attributes: [kv('a', nest(3))] }), record('hostile', { attributes: [kv('a', 'HOSTILE')] })]);
    const res = await app.inject({ method: 'POST', url: ENDPOINT, payload: JSON.stringify(body).replace('"HOSTILE"', hostile), headers: { 'content-type': 'application/json' } });
    assert.equal(res.statusCode, 200, res.body);
    const partial = res.json().partialSuccess;
    assert.equal(partial.rejectedLogRecords, '2');
    assert.match(partial.errorMessage, /logRecords\[1\]: attributes\[0\]\.value\.kvlistValue\.values\[0\]\.value\.kvlistValue\.values\[0\]\.value nests deeper than limits\.max_metadata_depth allows/);
    assert.deepEqual((await storedLogs(app)).map((l) => [l.message, l.metadata]), [['two levels', { a: { n: { n: 'leaf' } } }]]);
  });

  test('an attribute key that could poison a prototype rejects its record', async (t) => {
    const app = await withApp(t);
    const res = await post(
      app,
      request([
        record('proto', { attributes: [kv('__proto__', { kvlistValue: { values: [kv('polluted', { boolValue: true })] } })] }),
        record('nested proto', { attributes: [kv('a', { kvlistValue: { values: [kv('__proto__', str('x'))] } })] }),
        record('constructor', { attributes: [kv('constructor', { kvlistValue: { values: [kv('prototype', str('x'))] } })] }),
        record('harmless constructor', { attributes: [kv('constructor', str('new'))] }),
      ]),
    );
    const partial = res.json().partialSuccess;
    assert.equal(partial.rejectedLogRecords, '3');
    assert.match(partial.errorMessage, /logRecords\[0\]: attributes\[0\] uses the key '__proto__'/);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.deepEqual((await storedLogs(app)).map((l) => [l.message, l.metadata]), [['harmless constructor', { constructor: 'new' }]]);
  });
});

describe('POST /v1/logs: a body that is not OTLP at all', () => {
  const cases: [string, unknown, RegExp][] = [
    ['an array', [record('x')], /^the body must be a JSON object \(got an array\)/],
    ['no resourceLogs', { logs: [] }, /^resourceLogs is missing/],
    ['resourceLogs not an array', { resourceLogs: { scopeLogs: [] } }, /^resourceLogs must be an array \(got object\)/],
    ['a resourceLogs entry not an object', { resourceLogs: [{}, 'x'] }, /^resourceLogs\[1\] must be an object \(got string\)/],
    ['scopeLogs not an array', { resourceLogs: [{}, { scopeLogs: 'x' }] }, /^resourceLogs\[1\]\.scopeLogs must be an array \(got string\)/],
    ['logRecords not an array', { resourceLogs: [{ scopeLogs: [{ logRecords: 5 }] }] }, /^resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords must be an array \(got number\)/],
    ['a record not an object', { resourceLogs: [{ scopeLogs: [{ logRecords: [record('x'), []] }] }] }, /^resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords\[1\] must be an object \(got an array\)/],
    ['a resource not an object', { resourceLogs: [{ resource: 'checkout' }] }, /^resourceLogs\[0\]\.resource must be an object/],
    [
      'a malformed resource attribute',
      { resourceLogs: [{ resource: { attributes: [kv('service.name', { intValue: 'x' })] }, scopeLogs: [{ logRecords: [record('x')] }] }] },
      /^resourceLogs\[0\]\.resource\.attributes\[0\]\.value\.intValue must be an integer/,
    ],
    ['a scope name not a string', { resourceLogs: [{ scopeLogs: [{ scope: { name: 1 } }] }] }, /^resourceLogs\[0\]\.scopeLogs\[0\]\.scope\.name must be a string/],
  ];
  for (const [name, body, pattern] of cases) {
    test(`${name}: 400 INVALID_OTLP naming the path, nothing stored`, async (t) => {
      const app = await withApp(t);
      const res = await post(app, body);
      assertOtlpError(res, 400, 'INVALID_OTLP', pattern);
      assert.match(res.json().error, /the body must be an OTLP\/JSON ExportLogsServiceRequest/);
      assert.deepEqual(await stored(app), []);
    });
  }

  test('no body at all, or JSON that is not an object: 400', async (t) => {
    const app = await withApp(t);
    const none = await app.inject({ method: 'POST', url: ENDPOINT });
    assertOtlpError(none, 400, 'INVALID_OTLP', /^the body must be a JSON object \(got no body\)/);
    assertOtlpError(await post(app, 'text'), 400, 'INVALID_OTLP', /got string/);
    const broken = await app.inject({ method: 'POST', url: ENDPOINT, payload: '{"resourceLogs": [', headers: { 'content-type': 'application/json' } });
    assertOtlpError(broken, 400, 'INVALID_JSON', /not valid JSON/);
  });
});

describe('POST /v1/logs: encodings, limits and content types', () => {
  test('a gzip body is accepted', async (t) => {
    const app = await withApp(t);
    const res = await app.inject({
      method: 'POST',
      url: ENDPOINT,
      payload: gzipSync(JSON.stringify(request([record('gzipped one'), record('gzipped two')]))),
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), {});
    assert.deepEqual((await storedLogs(app)).map((l) => l.message), ['gzipped one', 'gzipped two']);
  });

  test('protobuf gets 415 saying how to send JSON', async (t) => {
    const app = await withApp(t);
    for (const type of ['application/x-protobuf', 'application/protobuf']) {
      const res = await app.inject({ method: 'POST', url: ENDPOINT, payload: Buffer.from([0x0a, 0x02, 0x08, 0x01]), headers: { 'content-type': type } });
      assertOtlpError(res, 415, 'UNSUPPORTED_MEDIA_TYPE', /JSON encoding only.*OTEL_EXPORTER_OTLP_LOGS_PROTOCOL=http\/json.*encoding: json/);
    }
    const text = await app.inject({ method: 'POST', url: ENDPOINT, payload: 'hello', headers: { 'content-type': 'text/plain' } });
    assertOtlpError(text, 415, 'UNSUPPORTED_MEDIA_TYPE', /send Content-Type: application\/json/);
    // The parser is this route's alone: the rest of the API still answers protobuf with its own message.
    const api = await app.inject({ method: 'POST', url: '/api/logs', payload: Buffer.from([1]), headers: { 'content-type': 'application/x-protobuf' } });
    assertOtlpError(api, 415, 'UNSUPPORTED_MEDIA_TYPE', /one log object/);
    assert.doesNotMatch(api.json().error, /OTLP/);
  });

  test('more records than limits.max_batch_items: 413, counted over every resource and scope, nothing stored', async (t) => {
    const app = await withApp(t, { limits: { max_batch_items: 3 } });
    const scope = (...messages: string[]): Json => ({ logRecords: messages.map((m) => record(m)) });
    const four = { resourceLogs: [{ scopeLogs: [scope('a', 'b'), scope('c')] }, { scopeLogs: [scope('d')] }] };
    assertOtlpError(await post(app, four), 413, 'BATCH_TOO_LARGE', /holds 4 log records, more than the limit of 3 \(limits\.max_batch_items\)/);
    assert.deepEqual(await stored(app), []);
    const three = { resourceLogs: [{ scopeLogs: [scope('a', 'b'), scope('c')] }] };
    assert.equal((await post(app, three)).statusCode, 200);
    assert.equal((await stored(app)).length, 3);
  });
});

describe('POST /v1/logs: auth and bound tokens', () => {
  const closedConfig = { auth: { anonymous_scopes: ['read'] } };

  test('Basic with the token as the password, and Bearer, are accepted; no token is 401 when anonymous may not ingest', async (t) => {
    const app = await withApp(t, closedConfig);
    assert.equal((await post(app, request([record('basic')]), basic(INGEST_TOKEN))).statusCode, 200);
    assert.equal((await post(app, request([record('bearer')]), { authorization: `Bearer ${INGEST_TOKEN}` })).statusCode, 200);
    assertOtlpError(await post(app, request([record('anonymous')])), 401, 'AUTH_REQUIRED', /needs a token with the 'ingest' scope/);
    assertOtlpError(await post(app, request([record('reader')]), basic(READER_TOKEN)), 403, 'AUTH_SCOPE', /lacks the 'ingest' scope/);
    assert.deepEqual((await storedLogs(app)).map((l) => l.message), ['basic', 'bearer']);
  });

  test('a bound token: records without service.name get its service', async (t) => {
    const app = await withApp(t, closedConfig);
    const res = await post(app, request([record('bound, unnamed')], { resource: { 'host.name': str('web-1') } }), basic(AUTH_SERVICE_TOKEN));
    assert.equal(res.statusCode, 200, res.body);
    const named = await post(app, request([record('bound, named')], { resource: { 'service.name': str('auth-service') } }), basic(AUTH_SERVICE_TOKEN));
    assert.equal(named.statusCode, 200, named.body);
    assert.deepEqual(
      (await storedLogs(app)).map((l) => [l.service, l.message]),
      [
        ['auth-service', 'bound, unnamed'],
        ['auth-service', 'bound, named'],
      ],
    );
  });

  test('a bound token naming another service: 403 SERVICE_MISMATCH for the whole request, nothing stored', async (t) => {
    const app = await withApp(t, closedConfig);
    const body = {
      resourceLogs: [
        { resource: { attributes: attrs({ 'service.name': str('auth-service') }) }, scopeLogs: [{ logRecords: [record('mine')] }] },
        { resource: { attributes: attrs({ 'service.name': str('payment-service') }) }, scopeLogs: [{ logRecords: [record('theirs')] }] },
      ],
    };
    const res = await post(app, body, { authorization: `Bearer ${AUTH_SERVICE_TOKEN}` });
    assertOtlpError(res, 403, 'SERVICE_MISMATCH', /may only ship logs for service 'auth-service', but a log names service 'payment-service'/);
    assert.deepEqual(await stored(app), []);
  });

  test('an unbound token without service.name stores unknown_service', async (t) => {
    const app = await withApp(t, closedConfig);
    await post(app, request([record('unbound')], { resource: {} }), basic(INGEST_TOKEN));
    assert.deepEqual((await storedLogs(app)).map((l) => l.service), ['unknown_service']);
  });
});
