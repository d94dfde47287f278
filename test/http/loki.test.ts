import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { UnmappableItem } from '../../server/core/ingest.js';
import { lokiPushToBatch, nanosToRfc3339 } from '../../server/http/adapters/loki.js';
import { AUTH_SERVICE_TOKEN, INGEST_TOKEN, READER_TOKEN, buildTestApp, postJson } from '../helpers.js';
import type { LogView } from '../../server/core/log.js';

const PUSH = '/loki/api/v1/push';
/** 2024-01-15T14:30:00.123456789Z in Unix nanoseconds. */
const NS = '1705329000123456789';
const ISO = '2024-01-15T14:30:00.123456789Z';


type Labels = Record<string, unknown>;

function stream(labels: Labels, ...values: unknown[]): Record<string, unknown> {
  return { stream: labels, values };
}

function push(app: FastifyInstance, streams: unknown[], headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return postJson(app, PUSH, { streams }, headers);
}

async function stored(app: FastifyInstance, query = ''): Promise<LogView[]> {
  const res = await app.inject({ method: 'GET', url: `/api/logs?limit=1000${query}`, headers: { authorization: `Bearer ${READER_TOKEN}` } });
  assert.equal(res.statusCode, 200, res.body);
  return (res.json() as { logs: LogView[] }).logs;
}

/** The stored log whose message is `message`: exactly one. */
async function storedOne(app: FastifyInstance, message: string): Promise<Omit<LogView, 'id' | 'received_at'>> {
  const logs = (await stored(app)).filter((l) => l.message === message);
  assert.equal(logs.length, 1, `one log with message ${JSON.stringify(message)}, got ${JSON.stringify(logs)}`);
  const { id: _id, received_at: _received, pattern_id, ...rest } = logs[0]!;
  assert.ok(Number.isInteger(pattern_id) && pattern_id! > 0, `a Loki log gets a pattern like any other (pattern_id ${pattern_id})`);
  return rest;
}

function assertNoContent(res: LightMyRequestResponse): void {
  assert.equal(res.statusCode, 204, res.body);
  assert.equal(res.body, '');
}

function basic(token: string, user = 'loki'): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}` };
}

describe('nanosToRfc3339: Unix nanoseconds to an exact RFC 3339 timestamp', () => {
  const cases: [unknown, string][] = [
    [NS, ISO],
    ['0', '1970-01-01T00:00:00.000000000Z'],
    ['1', '1970-01-01T00:00:00.000000001Z'],
    ['999999999', '1970-01-01T00:00:00.999999999Z'],
    ['1000000000', '1970-01-01T00:00:01.000000000Z'],
    // Leap day, and the last nanosecond of a leap year.
    ['1709164800000000000', '2024-02-29T00:00:00.000000000Z'],
    ['1735689599999999999', '2024-12-31T23:59:59.999999999Z'],
    // Leading zeros are still a decimal count.
    ['0001705329000123456789', ISO],
    // The last nanosecond a log may carry.
    ['253402300799999999999', '9999-12-31T23:59:59.999999999Z'],
    // A JSON integer: exact while safe, and exact from the double JSON.parse produced beyond.
    [1705329000123456, '1970-01-20T17:42:09.000123456Z'],
    [1705329000123456768, '2024-01-15T14:30:00.123456768Z'],
    [0, '1970-01-01T00:00:00.000000000Z'],
  ];
  for (const [input, expected] of cases) {
    test(`${JSON.stringify(input)} → ${expected}`, () => {
      assert.deepEqual(nanosToRfc3339(input), { timestamp: expected });
    });
  }

  test('digits past what a double holds are kept: no float rounding to microseconds', () => {
    for (let i = 0; i < 1000; i++) {
      const fraction = String(i * 999_983).padStart(9, '0').slice(-9);
      assert.deepEqual(nanosToRfc3339(`1705329000${fraction}`), { timestamp: `2024-01-15T14:30:00.${fraction}Z` });
    }
  });

  const refused: [unknown, RegExp][] = [
    ['-1', /non-negative integer count of nanoseconds/],
    [-1, /non-negative integer/],
    ['1.5', /non-negative integer/],
    [1.5, /non-negative integer/],
    ['1e18', /non-negative integer/],
    [' 1705329000000000000', /non-negative integer/],
    ['', /non-negative integer/],
    ['0x10', /non-negative integer/],
    [null, /got null/],
    [true, /got true/],
    [{}, /got an object/],
    ['253402300800000000000', /after the year 9999/],
    ['9'.repeat(5000), /after the year 9999/],
    [1e300, /after the year 9999/],
  ];
  for (const [input, problem] of refused) {
    test(`${JSON.stringify(input)?.slice(0, 40)} is refused`, () => {
      const result = nanosToRfc3339(input);
      assert.ok('problem' in result, JSON.stringify(result));
      assert.match(result.problem, problem);
    });
  }
});

describe('lokiPushToBatch: the pure mapping', () => {
  const options = { defaultService: 'unknown_service', maxItems: 100, maxMetadataKeys: 64 };

  test('entries are flattened in order with their stream/entry positions', () => {
    const batch = lokiPushToBatch(
      { streams: [stream({ service: 'a' }, [NS, 'a0'], [NS, 'a1']), stream({ service: 'b' }), stream({ job: 'c' }, [NS, 'c0'])] },
      options,
    );
    assert.deepEqual(batch.positions, [
      { stream: 0, entry: 0 },
      { stream: 0, entry: 1 },
      { stream: 2, entry: 0 },
    ]);
    assert.deepEqual(
      batch.items.map((i) => (i as { message: string }).message),
      ['a0', 'a1', 'c0'],
    );
  });

  test('an entry that cannot be mapped is an UnmappableItem at its place, naming stream and entry', () => {
    const batch = lokiPushToBatch({ streams: [stream({ service: 'a' }, [NS, 'ok'], ['soon', 'bad time'])] }, options);
    assert.equal(batch.items.length, 2);
    assert.ok(batch.items[1] instanceof UnmappableItem);
    assert.match(batch.items[1].message, /^stream 0, entry 1: timestamp must be/);
  });

  test('a stream with more labels than metadata may hold is refused per entry without copying them', () => {
    const labels: Labels = { service: 'a' };
    for (let i = 0; i < 65; i++) labels[`l${i}`] = 'v';
    const batch = lokiPushToBatch({ streams: [stream(labels, [NS, 'x'], [NS, 'y'])] }, options);
    assert.equal(batch.items.length, 2);
    for (const [e, item] of batch.items.entries()) {
      assert.ok(item instanceof UnmappableItem);
      assert.equal(item.message, `stream 0, entry ${e}: the stream has 65 labels to keep as metadata, more than the limit of 64 metadata keys (limits.max_metadata_keys)`);
    }
  });
});

describe('POST /loki/api/v1/push: mapping', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildTestApp());
  });
  after(async () => {
    await app.close();
  });

  test('the first of service, service_name, job names the service; the other labels become metadata', async () => {
    assertNoContent(
      await push(app, [
        stream({ service: 'svc-a', service_name: 'svc-b', job: 'svc-c', env: 'prod' }, [NS, 'service wins']),
        stream({ service_name: 'svc-b', job: 'svc-c' }, [NS, 'service_name wins']),
        stream({ job: 'svc-c', host: 'web-1' }, [NS, 'job wins']),
        // An empty label value is no label, as in Loki: the next one is used, and it is not kept.
        stream({ service: '', service_name: 'svc-b', env: '' }, [NS, 'empty service skipped']),
      ]),
    );
    assert.deepEqual(await storedOne(app, 'service wins'), {
      timestamp: ISO,
      level: 'INFO',
      service: 'svc-a',
      message: 'service wins',
      metadata: { service_name: 'svc-b', job: 'svc-c', env: 'prod' },
    });
    assert.deepEqual(await storedOne(app, 'service_name wins'), {
      timestamp: ISO,
      level: 'INFO',
      service: 'svc-b',
      message: 'service_name wins',
      metadata: { job: 'svc-c' },
    });
    assert.deepEqual(await storedOne(app, 'job wins'), { timestamp: ISO, level: 'INFO', service: 'svc-c', message: 'job wins', metadata: { host: 'web-1' } });
    assert.deepEqual(await storedOne(app, 'empty service skipped'), { timestamp: ISO, level: 'INFO', service: 'svc-b', message: 'empty service skipped' });
  });

  test('level, severity, detected_level (first present) map through the level aliases, case-insensitively', async () => {
    const cases: [Labels, string][] = [
      [{ level: 'debug' }, 'DEBUG'],
      [{ level: 'TRACE' }, 'DEBUG'],
      [{ level: 'info' }, 'INFO'],
      [{ level: 'Notice' }, 'INFO'],
      [{ level: 'warn' }, 'WARNING'],
      [{ level: 'warning' }, 'WARNING'],
      [{ level: 'WARN' }, 'WARNING'],
      [{ level: 'err' }, 'ERROR'],
      [{ level: 'error' }, 'ERROR'],
      [{ level: 'critical' }, 'CRITICAL'],
      [{ level: 'crit' }, 'CRITICAL'],
      [{ level: 'fatal' }, 'CRITICAL'],
      [{ level: 'PANIC' }, 'CRITICAL'],
      [{ severity: 'error' }, 'ERROR'],
      [{ detected_level: 'warn' }, 'WARNING'],
      [{ level: 'error', severity: 'debug', detected_level: 'info' }, 'ERROR'],
      [{ severity: 'fatal', detected_level: 'debug' }, 'CRITICAL'],
      [{ level: '', severity: 'warn' }, 'WARNING'],
    ];
    assertNoContent(await push(app, cases.map(([labels], i) => stream({ service: 'levels', ...labels }, [NS, `level case ${i}`]))));
    for (const [i, [labels, level]] of cases.entries()) {
      const log = await storedOne(app, `level case ${i}`);
      assert.equal(log.level, level, JSON.stringify(labels));
      const used = ['level', 'severity', 'detected_level'].find((name) => typeof labels[name] === 'string' && labels[name] !== '');
      const rest = Object.fromEntries(Object.entries(labels).filter(([name, value]) => name !== used && value !== ''));
      assert.deepEqual(log.metadata ?? {}, rest, `the level labels not used stay as metadata: ${JSON.stringify(labels)}`);
    }
  });

  test("no level label and Loki's 'unknown' are INFO; a word no alias knows is INFO with the word kept", async () => {
    assertNoContent(
      await push(app, [
        stream({ service: 'lv' }, [NS, 'no level']),
        stream({ service: 'lv', level: 'unknown' }, [NS, 'unknown level']),
        stream({ service: 'lv', detected_level: 'UNKNOWN' }, [NS, 'UNKNOWN detected level']),
        stream({ service: 'lv', level: 'loud' }, [NS, 'loud level']),
        stream({ service: 'lv', severity: 'Shouty' }, [NS, 'shouty severity']),
      ]),
    );
    assert.deepEqual(await storedOne(app, 'no level'), { timestamp: ISO, level: 'INFO', service: 'lv', message: 'no level' });
    assert.deepEqual(await storedOne(app, 'unknown level'), { timestamp: ISO, level: 'INFO', service: 'lv', message: 'unknown level' });
    assert.deepEqual(await storedOne(app, 'UNKNOWN detected level'), { timestamp: ISO, level: 'INFO', service: 'lv', message: 'UNKNOWN detected level' });
    assert.deepEqual(await storedOne(app, 'loud level'), { timestamp: ISO, level: 'INFO', service: 'lv', message: 'loud level', metadata: { level: 'loud' } });
    assert.deepEqual(await storedOne(app, 'shouty severity'), {
      timestamp: ISO,
      level: 'INFO',
      service: 'lv',
      message: 'shouty severity',
      metadata: { level: 'Shouty' },
    });
  });

  test('timestamps keep every nanosecond; a JSON integer is taken too', async () => {
    assertNoContent(
      await push(app, [
        stream(
          { service: 'ts' },
          ['1705329000000000001', 'one ns past'],
          ['1705329000999999999', 'one ns short of a second'],
          ['1705329000000000000', 'whole second'],
          [1705329000123456768, 'json integer'],
        ),
      ]),
    );
    assert.equal((await storedOne(app, 'one ns past')).timestamp, '2024-01-15T14:30:00.000000001Z');
    assert.equal((await storedOne(app, 'one ns short of a second')).timestamp, '2024-01-15T14:30:00.999999999Z');
    assert.equal((await storedOne(app, 'whole second')).timestamp, '2024-01-15T14:30:00.000000000Z');
    assert.equal((await storedOne(app, 'json integer')).timestamp, '2024-01-15T14:30:00.123456768Z');
    // The event-time filter sees the millisecond the nanoseconds fall in.
    const inRange = await stored(app, '&service=ts&from=2024-01-15T14:30:00.999Z&to=2024-01-15T14:30:00.999Z');
    assert.deepEqual(
      inRange.map((l) => l.message),
      ['one ns short of a second'],
    );
  });

  test('structured metadata joins the labels in metadata; it wins where both name a key', async () => {
    assertNoContent(
      await push(app, [
        stream(
          { service: 'sm', env: 'prod', region: 'eu' },
          [NS, 'with structured metadata', { trace_id: 'abc123', region: 'eu-west-1' }],
          [NS, 'with empty structured metadata', {}],
          [NS, 'without structured metadata'],
        ),
        stream({ service: 'sm' }, [NS, 'structured metadata only', { user: 'u-1' }]),
      ]),
    );
    assert.deepEqual((await storedOne(app, 'with structured metadata')).metadata, { env: 'prod', region: 'eu-west-1', trace_id: 'abc123' });
    assert.deepEqual((await storedOne(app, 'with empty structured metadata')).metadata, { env: 'prod', region: 'eu' });
    assert.deepEqual((await storedOne(app, 'without structured metadata')).metadata, { env: 'prod', region: 'eu' });
    assert.deepEqual((await storedOne(app, 'structured metadata only')).metadata, { user: 'u-1' });
  });

  test('a gzip body is accepted', async () => {
    const body = JSON.stringify({ streams: [stream({ service: 'gz', level: 'warn' }, [NS, 'sent gzipped'], [NS, 'also gzipped'])] });
    const res = await app.inject({
      method: 'POST',
      url: PUSH,
      payload: gzipSync(body),
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    });
    assertNoContent(res);
    assert.deepEqual(await storedOne(app, 'sent gzipped'), { timestamp: ISO, level: 'WARNING', service: 'gz', message: 'sent gzipped' });
    assert.equal((await storedOne(app, 'also gzipped')).level, 'WARNING');
  });

  test('a stream without a service label, from a token bound to no service, is unknown_service', async () => {
    assertNoContent(await push(app, [stream({ env: 'dev' }, [NS, 'who sent this'])], { authorization: `Bearer ${INGEST_TOKEN}` }));
    assertNoContent(await push(app, [stream({}, [NS, 'anonymous and unlabelled'])]));
    assert.equal((await storedOne(app, 'who sent this')).service, 'unknown_service');
    assert.equal((await storedOne(app, 'anonymous and unlabelled')).service, 'unknown_service');
  });

  test('empty streams, and streams without entries, are a 204 storing nothing', async () => {
    const before = (await stored(app)).length;
    assertNoContent(await push(app, []));
    assertNoContent(await push(app, [stream({ service: 'empty' }), stream({ service: 'empty' })]));
    assert.equal((await stored(app)).length, before);
  });

  test('the stored logs are read back through GET /api/logs with the usual filters', async () => {
    assertNoContent(
      await push(app, [
        stream({ service: 'readback', level: 'error' }, ['1705329001000000000', 'readback error 1'], ['1705329002000000000', 'readback error 2']),
        stream({ service: 'readback', level: 'info' }, ['1705329003000000000', 'readback info']),
      ]),
    );
    const errors = await stored(app, '&service=readback&level=ERROR');
    assert.deepEqual(
      errors.map((l) => [l.message, l.timestamp]),
      [
        ['readback error 2', '2024-01-15T14:30:02.000000000Z'],
        ['readback error 1', '2024-01-15T14:30:01.000000000Z'],
      ],
    );
    assert.deepEqual(
      (await stored(app, '&service=readback&q=info')).map((l) => l.level),
      ['INFO'],
    );
  });
});

describe('POST /loki/api/v1/push: partial rejection', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildTestApp({ limits: { max_message_length: 20 } }));
  });
  after(async () => {
    await app.close();
  });

  test('valid entries are stored; 400 says how many were and lists the rest by stream and entry', async () => {
    const res = await push(app, [
      stream({ service: 'partial' }, [NS, 'kept 0'], ['yesterday', 'bad time'], [NS, 'kept 1']),
      stream({ service: 'partial', level: 'error' }, [NS, ''], [NS, 42], [NS]),
      stream({ service: 'partial' }, [NS, 'x'.repeat(21)], [NS, 'numeric metadata', { n: 1 }], 'not an array', [NS, 'kept 2', { ok: 'yes' }]),
      stream({ service: 'partial' }, ['-5', 'negative'], [NS, 'four', {}, 'items'], [NS, 'array metadata', ['a']]),
    ]);
    assert.equal(res.statusCode, 400, res.body);
    const body = res.json();
    assert.deepEqual(Object.keys(body), ['error', 'code', 'status', 'accepted', 'rejected', 'rejected_items']);
    assert.equal(body.code, 'LOKI_ENTRIES_REJECTED');
    assert.match(body.error, /^10 of 13 entries were rejected and 3 stored; do not resend this push/);
    assert.equal(body.status, 'partial');
    assert.equal(body.accepted, 3);
    assert.equal(body.rejected, 10);
    const items = body.rejected_items as { index: number; stream: number; entry: number; errors: string[] }[];
    assert.deepEqual(
      items.map(({ index, stream: s, entry }) => [index, s, entry]),
      [
        [1, 0, 1],
        [3, 1, 0],
        [4, 1, 1],
        [5, 1, 2],
        [6, 2, 0],
        [7, 2, 1],
        [8, 2, 2],
        [10, 3, 0],
        [11, 3, 1],
        [12, 3, 2],
      ],
    );
    const errors = items.map((i) => i.errors.join('; '));
    assert.match(errors[0]!, /^stream 0, entry 1: timestamp must be a non-negative integer count of nanoseconds .*\(got "yesterday"\)$/);
    assert.equal(errors[1], 'stream 1, entry 0: the line is empty; a log needs a message');
    assert.equal(errors[2], 'stream 1, entry 1: the line must be a string (got a number)');
    assert.equal(errors[3], 'stream 1, entry 2: must be an array of [timestamp, line] or [timestamp, line, {structured metadata}] (got an array of 1)');
    // Mapped, then refused by the log schema like any other log: stream and entry are in the item.
    assert.equal(errors[4], "'message' is longer than the limit of 20 characters");
    assert.equal(errors[5], 'stream 2, entry 1: structured metadata "n" must be a string (got a number)');
    assert.equal(errors[6], 'stream 2, entry 2: must be an array of [timestamp, line] or [timestamp, line, {structured metadata}] (got a string)');
    assert.match(errors[7]!, /^stream 3, entry 0: timestamp must be .*\(got "-5"\)$/);
    assert.equal(errors[8], 'stream 3, entry 1: must be an array of [timestamp, line] or [timestamp, line, {structured metadata}] (got an array of 4)');
    assert.equal(errors[9], 'stream 3, entry 2: structured metadata must be an object of strings (got an array)');

    const logs = await stored(app, '&service=partial');
    assert.deepEqual(logs.map((l) => l.message).sort(), ['kept 0', 'kept 1', 'kept 2']);
  });

  test('every entry rejected: 400 with status invalid and nothing stored', async () => {
    const res = await push(app, [stream({ service: 'none-kept' }, ['later', 'a'], [NS, ''])]);
    assert.equal(res.statusCode, 400, res.body);
    const body = res.json();
    assert.equal(body.status, 'invalid');
    assert.equal(body.accepted, 0);
    assert.equal(body.rejected, 2);
    assert.deepEqual(await stored(app, '&service=none-kept'), []);
  });

  test('rejected entries are counted in the validation stats', async () => {
    const before = (await app.inject({ method: 'GET', url: '/api/validation-stats' })).json();
    await push(app, [stream({ service: 'stats' }, ['nope', 'a'], [NS, 'fine'])]);
    const afterStats = (await app.inject({ method: 'GET', url: '/api/validation-stats' })).json();
    assert.equal(afterStats.total - before.total, 2);
    assert.equal(afterStats.invalid - before.invalid, 1);
    assert.equal(afterStats.valid - before.valid, 1);
  });
});

describe('POST /loki/api/v1/push: auth', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildTestApp({ auth: { anonymous_scopes: ['read'] } }));
  });
  after(async () => {
    await app.close();
  });

  test('Basic auth with the token as the password (what Loki clients send) is accepted', async () => {
    assertNoContent(await push(app, [stream({ service: 'basic' }, [NS, 'basic auth'])], basic(INGEST_TOKEN)));
    assertNoContent(await push(app, [stream({ service: 'basic' }, [NS, 'bearer auth'])], { authorization: `Bearer ${INGEST_TOKEN}` }));
    assert.equal((await stored(app, '&service=basic')).length, 2);
  });

  test('no token where anonymous callers may not ingest: 401; a token without ingest: 403', async () => {
    const anonymous = await push(app, [stream({ service: 'basic' }, [NS, 'anonymous'])]);
    assert.equal(anonymous.statusCode, 401);
    assert.equal(anonymous.json().code, 'AUTH_REQUIRED');
    const wrong = await push(app, [stream({ service: 'basic' }, [NS, 'wrong'])], basic('not-a-configured-token-000'));
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.json().code, 'AUTH_INVALID_TOKEN');
    const reader = await push(app, [stream({ service: 'basic' }, [NS, 'reader'])], basic(READER_TOKEN));
    assert.equal(reader.statusCode, 403);
    assert.equal(reader.json().code, 'AUTH_SCOPE');
    assert.equal((await stored(app, '&q=anonymous')).length + (await stored(app, '&q=reader')).length, 0);
  });

  test('a bound token: a stream without a service label ships for the bound service', async () => {
    assertNoContent(await push(app, [stream({ env: 'prod' }, [NS, 'bound, unlabelled'])], basic(AUTH_SERVICE_TOKEN)));
    assertNoContent(await push(app, [stream({ service: 'auth-service' }, [NS, 'bound, labelled'])], basic(AUTH_SERVICE_TOKEN)));
    assert.deepEqual(await storedOne(app, 'bound, unlabelled'), {
      timestamp: ISO,
      level: 'INFO',
      service: 'auth-service',
      message: 'bound, unlabelled',
      metadata: { env: 'prod' },
    });
    assert.equal((await storedOne(app, 'bound, labelled')).service, 'auth-service');
  });

  test('a bound token naming another service in any label alias: 403 SERVICE_MISMATCH and nothing stored', async () => {
    for (const label of ['service', 'service_name', 'job']) {
      const res = await push(
        app,
        [stream({ service: 'auth-service' }, [NS, `mismatch ok part ${label}`]), stream({ [label]: 'payment-service' }, [NS, `mismatch ${label}`])],
        basic(AUTH_SERVICE_TOKEN),
      );
      assert.equal(res.statusCode, 403, res.body);
      const body = res.json();
      assert.equal(body.code, 'SERVICE_MISMATCH');
      assert.match(body.error, /'auth-service'.*'payment-service'/);
    }
    assert.deepEqual(await stored(app, '&q=mismatch'), []);
  });
});

describe('POST /loki/api/v1/push: refused bodies', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildTestApp({ limits: { max_batch_items: 4 } }));
  });
  after(async () => {
    await app.close();
  });

  const valid = stream({ service: 'shape' }, [NS, 'must not be stored']);
  const shapes: [string, unknown, string][] = [
    ['an array body', [valid], 'the body must be a JSON object with a "streams" array (got an array)'],
    ['a string body', 'streams', 'the body must be a JSON object with a "streams" array (got a string)'],
    ['no streams', { stream: {} }, 'streams must be an array (got nothing)'],
    ['streams not an array', { streams: { a: valid } }, 'streams must be an array (got an object)'],
    ['a stream that is not an object', { streams: [valid, valid, 'x'] }, 'streams[2] must be an object with "stream" and "values" (got a string)'],
    ['a stream that is null', { streams: [null] }, 'streams[0] must be an object with "stream" and "values" (got null)'],
    ['no stream labels', { streams: [valid, { values: [] }] }, 'streams[1].stream must be an object of label names to string values (got nothing)'],
    ['labels as a string (the old push format)', { streams: [{ stream: '{job="x"}', values: [] }] }, 'streams[0].stream must be an object of label names to string values (got a string)'],
    ['a label value that is a number', { streams: [stream({ service: 'a', port: 8080 })] }, 'streams[0].stream.port must be a string, as every label value is (got a number)'],
    ['a label value that is an object', { streams: [stream({ 'app.kubernetes.io/name': {} })] }, 'streams[0].stream["app.kubernetes.io/name"] must be a string, as every label value is (got an object)'],
    ['no values', { streams: [valid, valid, { stream: { service: 'a' } }] }, 'streams[2].values must be an array of [timestamp, line] entries (got nothing)'],
    ['values not an array', { streams: [valid, valid, { stream: { service: 'a' }, values: { 0: [NS, 'x'] } }] }, 'streams[2].values must be an array of [timestamp, line] entries (got an object)'],
  ];
  for (const [name, body, message] of shapes) {
    test(`${name}: 400 INVALID_LOKI_PUSH naming the path, nothing stored`, async () => {
      const res = await postJson(app, PUSH, body);
      assert.equal(res.statusCode, 400, res.body);
      const reply = res.json();
      assert.deepEqual(Object.keys(reply).sort(), ['code', 'error']);
      assert.equal(reply.code, 'INVALID_LOKI_PUSH');
      assert.ok(reply.error.startsWith(`${message}; a Loki push is {"streams":`), reply.error);
      assert.deepEqual(await stored(app, '&service=shape'), []);
    });
  }

  test('no body at all: 400 INVALID_LOKI_PUSH', async () => {
    const res = await app.inject({ method: 'POST', url: PUSH });
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.json().code, 'INVALID_LOKI_PUSH');
    assert.match(res.json().error, /^the body must be a JSON object with a "streams" array \(got no body\)/);
  });

  test('broken JSON is 400 INVALID_JSON', async () => {
    const res = await app.inject({ method: 'POST', url: PUSH, payload: '{"streams":[', headers: { 'content-type': 'application/json' } });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, 'INVALID_JSON');
  });

  test('protobuf (Promtail, Alloy) is 415 naming the JSON push and the clients that send it', async () => {
    const res = await app.inject({
      method: 'POST',
      url: PUSH,
      payload: Buffer.from([0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59]),
      headers: { 'content-type': 'application/x-protobuf' },
    });
    assert.equal(res.statusCode, 415, res.body);
    const body = res.json();
    assert.equal(body.code, 'UNSUPPORTED_MEDIA_TYPE');
    assert.match(body.error, /protobuf push .*Promtail, Grafana Alloy/);
    assert.match(body.error, /Loki's JSON push \(Content-Type: application\/json, optionally gzip-compressed\)/);
    assert.match(body.error, /pino-loki/);
  });

  test('any other Content-Type, NDJSON included, is 415 with the same advice', async () => {
    for (const type of ['text/plain', 'application/x-ndjson', 'application/octet-stream']) {
      const res = await app.inject({ method: 'POST', url: PUSH, payload: '{"streams":[]}', headers: { 'content-type': type } });
      assert.equal(res.statusCode, 415, `${type}: ${res.body}`);
      assert.match(res.json().error, new RegExp(`^Content-Type ${type.replace('/', '\\/')} is not accepted on /loki/api/v1/push; this server takes Loki's JSON push`));
    }
  });

  test('the protobuf refusal is this route only: /api/logs keeps its own 415', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/logs', payload: 'x', headers: { 'content-type': 'application/x-protobuf' } });
    assert.equal(res.statusCode, 415);
    assert.doesNotMatch(res.json().error, /Loki/);
  });

  test('the whole push counts toward limits.max_batch_items: 413, nothing stored', async () => {
    const res = await push(app, [
      stream({ service: 'limit' }, [NS, 'a'], [NS, 'b'], [NS, 'c']),
      stream({ service: 'limit' }),
      stream({ service: 'limit' }, [NS, 'd'], 'broken entries count too'),
    ]);
    assert.equal(res.statusCode, 413, res.body);
    assert.deepEqual(res.json(), {
      error: 'the push holds 5 entries, more than the limit of 4 (limits.max_batch_items); split it into smaller pushes',
      code: 'BATCH_TOO_LARGE',
    });
    assert.deepEqual(await stored(app, '&service=limit'), []);
    assertNoContent(await push(app, [stream({ service: 'limit' }, [NS, 'a'], [NS, 'b']), stream({ service: 'limit' }, [NS, 'c'], [NS, 'd'])]));
    assert.equal((await stored(app, '&service=limit')).length, 4);
  });
});
