import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { ADMIN_TOKEN, auth, buildTestApp, log, postJson, type ManualClock, lastReceived } from '../helpers.js';

const JSON_CT = { 'content-type': 'application/json' };
const NDJSON_CT = { 'content-type': 'application/x-ndjson' };

async function totalLogs(app: FastifyInstance): Promise<number> {
  const res = await app.inject({ method: 'GET', url: '/health' });
  assert.equal(res.statusCode, 200);
  return res.json().total_logs as number;
}

function postRaw(app: FastifyInstance, payload: string, headers: Record<string, string>) {
  return app.inject({ method: 'POST', url: '/api/logs', payload, headers });
}

describe('POST /api/logs: single object (the documented shapes)', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildTestApp());
  });
  after(async () => {
    await app.close();
  });

  test('the README\'s example body is accepted with exactly {"status":"accepted"} and stored as sent', async () => {
    const body = {
      timestamp: '2024-01-15T14:30:00+00:00',
      level: 'ERROR',
      service: 'auth-service',
      message: 'Authentication failed',
      user_id: 'user-5',
      metadata: { processing_time_ms: 142.5, request_id: 'req-1234' },
    };
    const res = await postJson(app, '/api/logs', body);
    assert.equal(res.statusCode, 201);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.deepEqual(res.json(), { status: 'accepted' });

    const list = await app.inject({ method: 'GET', url: '/api/logs?q=Authentication%20failed' });
    assert.equal(list.statusCode, 200);
    const logs = list.json().logs;
    assert.equal(logs.length, 1);
    assert.deepEqual(logs[0], {
      id: logs[0].id,
      timestamp: '2024-01-15T14:30:00+00:00',
      level: 'ERROR',
      service: 'auth-service',
      message: 'Authentication failed',
      user_id: 'user-5',
      metadata: { processing_time_ms: 142.5, request_id: 'req-1234' },
      received_at: '2024-01-15T14:30:00.000Z',
      pattern_id: 1,
    });
    assert.equal(typeof logs[0].id, 'number');
  });

  test('missing level gives the documented error shape', async () => {
    const res = await postJson(app, '/api/logs', { timestamp: '2024-01-15T14:30:00+00:00', service: 'auth-service', message: 'x' });
    assert.equal(res.statusCode, 400);
    assert.deepEqual(res.json(), { status: 'invalid', errors: ["'level' is a required property"] });
  });

  test('every problem of an invalid log is listed in readable words', async () => {
    const before = await totalLogs(app);
    const res = await postJson(app, '/api/logs', {
      timestamp: 'yesterday',
      level: 'LOUD',
      service: '',
      message: 'm',
      colour: 'red',
    });
    assert.equal(res.statusCode, 400);
    const body = res.json();
    assert.equal(body.status, 'invalid');
    assert.deepEqual(Object.keys(body).sort(), ['errors', 'status']);
    const errors: string[] = body.errors;
    assert.equal(errors.length, 4, JSON.stringify(errors));
    for (const e of errors) assert.equal(typeof e, 'string');
    assert.ok(errors.some((e) => /'timestamp'.*RFC 3339.*yesterday/.test(e)), JSON.stringify(errors));
    assert.ok(errors.some((e) => /'level' must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL \(got "LOUD"\)/.test(e)), JSON.stringify(errors));
    assert.ok(errors.some((e) => /'service' must not be empty/.test(e)), JSON.stringify(errors));
    assert.ok(errors.some((e) => /'colour' is not an allowed property/.test(e)), JSON.stringify(errors));
    assert.equal(await totalLogs(app), before);
  });

  test('wrong field types are named', async () => {
    const res = await postJson(app, '/api/logs', log({ message: 42, metadata: [1, 2] }));
    assert.equal(res.statusCode, 400);
    const errors: string[] = res.json().errors;
    assert.ok(errors.includes("'message' must be of type string (got number)"), JSON.stringify(errors));
    assert.ok(errors.includes("'metadata' must be of type object (got array)"), JSON.stringify(errors));
  });

  test('a naive timestamp (no offset) is rejected on /api/logs', async () => {
    const before = await totalLogs(app);
    const res = await postJson(app, '/api/logs', log({ timestamp: '2024-01-15T14:29:30' }));
    assert.equal(res.statusCode, 400);
    const body = res.json();
    assert.equal(body.status, 'invalid');
    assert.equal(body.errors.length, 1);
    assert.match(body.errors[0], /'timestamp' must be an RFC 3339 date-time with an offset/);
    assert.match(body.errors[0], /2024-01-15T14:29:30/);
    assert.equal(await totalLogs(app), before);
  });

  test('impossible dates and years before 1970 are rejected', async () => {
    for (const timestamp of ['2024-02-30T10:00:00Z', '1969-12-31T23:59:59Z', '2024-01-15T25:00:00Z', '2024-01-15T14:30:00+24:00']) {
      const res = await postJson(app, '/api/logs', log({ timestamp }));
      assert.equal(res.statusCode, 400, timestamp);
      assert.match(res.json().errors[0], /'timestamp'/, timestamp);
    }
  });

  test('field length limits are enforced with the limit named', async () => {
    const long = await postJson(app, '/api/logs', log({ service: 's'.repeat(129) }));
    assert.equal(long.statusCode, 400);
    assert.deepEqual(long.json().errors, ["'service' is longer than the limit of 128 characters"]);

    const meta: Record<string, number> = {};
    for (let i = 0; i < 65; i++) meta[`k${i}`] = i;
    const many = await postJson(app, '/api/logs', log({ metadata: meta }));
    assert.equal(many.statusCode, 400);
    assert.deepEqual(many.json().errors, ["'metadata' has more than the limit of 64 keys"]);

    const emptyUser = await postJson(app, '/api/logs', log({ user_id: '' }));
    assert.equal(emptyUser.statusCode, 400);
    assert.deepEqual(emptyUser.json().errors, ["'user_id' must not be empty"]);
  });

  test('non-object bodies are 400 with a message naming the accepted shapes', async () => {
    const before = await totalLogs(app);
    for (const [body, got] of [
      [42, 'number'],
      ['a log', 'string'],
      [null, 'null'],
      [true, 'boolean'],
    ] as const) {
      const res = await postJson(app, '/api/logs', body);
      assert.equal(res.statusCode, 400, JSON.stringify(body));
      const b = res.json();
      assert.equal(b.code, 'BAD_BODY_SHAPE');
      assert.match(b.error, /one log object/);
      assert.match(b.error, /JSON array/);
      assert.match(b.error, /NDJSON/);
      assert.match(b.error, new RegExp(`got ${got}$`));
    }
    assert.equal(await totalLogs(app), before);
  });

  test('a POST with no body at all is 400', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/logs' });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, 'BAD_BODY_SHAPE');
    assert.match(res.json().error, /got no body/);
  });

  test('an empty JSON body is 400', async () => {
    const res = await postRaw(app, '', JSON_CT);
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, 'EMPTY_BODY');
  });

  test('broken JSON is 400 INVALID_JSON', async () => {
    for (const payload of ['{"timestamp":', '{level: INFO}', "{'a':1}", '[1,2,']) {
      const res = await postRaw(app, payload, JSON_CT);
      assert.equal(res.statusCode, 400, payload);
      assert.equal(res.json().code, 'INVALID_JSON', payload);
      assert.match(res.json().error, /not valid JSON/);
    }
  });

  test('wrong Content-Type is 415 naming the accepted types', async () => {
    const before = await totalLogs(app);
    const cases: Array<[string, Record<string, string>]> = [
      [JSON.stringify(log()), { 'content-type': 'text/plain' }],
      ['timestamp=2024-01-15T14:29:30Z&level=INFO', { 'content-type': 'application/x-www-form-urlencoded' }],
      [JSON.stringify(log()), { 'content-type': 'application/xml' }],
    ];
    for (const [payload, headers] of cases) {
      const res = await postRaw(app, payload, headers);
      assert.equal(res.statusCode, 415, headers['content-type']);
      const b = res.json();
      assert.equal(b.code, 'UNSUPPORTED_MEDIA_TYPE');
      assert.match(b.error, /application\/json/);
      assert.match(b.error, /application\/x-ndjson/);
    }
    assert.equal(await totalLogs(app), before);
  });

  test('a `__proto__` key is 400 and nothing is stored', async () => {
    const before = await totalLogs(app);
    const payloads = [
      '{"timestamp":"2024-01-15T14:29:30Z","level":"INFO","service":"s","message":"m","__proto__":{"admin":true}}',
      '{"timestamp":"2024-01-15T14:29:30Z","level":"INFO","service":"s","message":"m","metadata":{"__proto__":{"x":1}}}',
      '[{"timestamp":"2024-01-15T14:29:30Z","level":"INFO","service":"s","message":"m","__proto__":{}}]',
      '{"timestamp":"2024-01-15T14:29:30Z","level":"INFO","service":"s","message":"m","constructor":{"prototype":{"x":1}}}',
      // The same keys spelled with escapes: the quick pre-check must still send these to the scan.
      '{"timestamp":"2024-01-15T14:29:30Z","level":"INFO","service":"s","message":"m","\\u005f_proto__":{"admin":true}}',
      '{"timestamp":"2024-01-15T14:29:30Z","level":"INFO","service":"s","message":"m","metadata":{"__\\u0070roto__":{}}}',
      '{"timestamp":"2024-01-15T14:29:30Z","level":"INFO","service":"s","message":"m","metadata":{"\\u0063onstructor":{"prototype":{}}}}',
    ];
    for (const payload of payloads) {
      const res = await postRaw(app, payload, JSON_CT);
      assert.equal(res.statusCode, 400, payload);
      assert.equal(res.json().code, 'INVALID_JSON', payload);
    }
    assert.equal(await totalLogs(app), before);
    assert.equal(({} as Record<string, unknown>).admin, undefined);
  });

  test('the words __proto__ and constructor as values, and other escapes, are fine', async () => {
    // Escapes as a Python shipper sends them (json.dumps escapes everything outside ASCII).
    const payload = JSON.stringify({ ...log({ message: 'constructor of __proto__ ' }), metadata: { note: 'constructor', text: '' } })
      .replace('__proto__ "', '__proto__ \\u00e9"')
      .replace('"text":""', '"text":"\\u2028"');
    assert.match(payload, /\\u00e9.*\\u2028/);
    const res = await postRaw(app, payload, JSON_CT);
    assert.equal(res.statusCode, 201, res.body);
    const [stored] = await lastReceived(app, 1);
    assert.equal(stored!.message, 'constructor of __proto__ \u00e9');
    assert.equal((stored!.metadata as { text: string }).text, '\u2028');
  });

  test('a body starting with a byte order mark is parsed', async () => {
    const res = await postRaw(app, `\ufeff${JSON.stringify(log({ message: 'after a BOM' }))}`, JSON_CT);
    assert.equal(res.statusCode, 201, res.body);
  });
});

describe('POST /api/logs: JSON arrays', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildTestApp());
  });
  after(async () => {
    await app.close();
  });

  test('all good is 201 with counts', async () => {
    const before = await totalLogs(app);
    const res = await postJson(app, '/api/logs', [log({ message: 'a' }), log({ message: 'b' }), log({ message: 'c' })]);
    assert.equal(res.statusCode, 201);
    assert.deepEqual(res.json(), { status: 'accepted', accepted: 3, rejected: 0, rejected_items: [] });
    assert.equal(await totalLogs(app), before + 3);
  });

  test('mixed is 207 with the rejected items by index; the good ones are stored', async () => {
    const before = await totalLogs(app);
    const res = await postJson(app, '/api/logs', [
      log({ message: 'mixed-good-0' }),
      { timestamp: '2024-01-15T14:29:30Z', level: 'INFO', service: 'auth-service' },
      log({ message: 'mixed-good-2' }),
      log({ level: 'NOTICE' }),
    ]);
    assert.equal(res.statusCode, 207);
    assert.deepEqual(res.json(), {
      status: 'partial',
      accepted: 2,
      rejected: 2,
      rejected_items: [
        { index: 1, errors: ["'message' is a required property"] },
        { index: 3, errors: ['\'level\' must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (got "NOTICE")'] },
      ],
    });
    assert.equal(await totalLogs(app), before + 2);
    const list = await app.inject({ method: 'GET', url: '/api/logs?q=mixed-good' });
    assert.deepEqual(
      list.json().logs.map((l: { message: string }) => l.message),
      ['mixed-good-2', 'mixed-good-0'],
    );
  });

  test('all bad is 400 with every item listed', async () => {
    const before = await totalLogs(app);
    const res = await postJson(app, '/api/logs', [log({ level: 'nope' }), 5, null, 'text', [log()]]);
    assert.equal(res.statusCode, 400);
    const body = res.json();
    assert.equal(body.status, 'invalid');
    assert.equal(body.accepted, 0);
    assert.equal(body.rejected, 5);
    assert.deepEqual(
      body.rejected_items.map((r: { index: number }) => r.index),
      [0, 1, 2, 3, 4],
    );
    assert.deepEqual(body.rejected_items[1].errors, ['the value must be of type object (got number)']);
    assert.deepEqual(body.rejected_items[2].errors, ['the value must be of type object (got null)']);
    assert.deepEqual(body.rejected_items[3].errors, ['the value must be of type object (got string)']);
    assert.deepEqual(body.rejected_items[4].errors, ['the value must be of type object (got array)']);
    assert.equal(await totalLogs(app), before);
  });

  test('an empty array is 400 EMPTY_BATCH', async () => {
    const res = await postJson(app, '/api/logs', []);
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, 'EMPTY_BATCH');
    assert.match(res.json().error, /no logs/);
  });
});

describe('POST /api/logs: NDJSON', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildTestApp());
  });
  after(async () => {
    await app.close();
  });

  test('blank lines are skipped; a broken line is rejected by index while the rest are accepted', async () => {
    const before = await totalLogs(app);
    const payload = [
      JSON.stringify(log({ message: 'nd-1' })),
      '',
      '   ',
      '{"timestamp": "2024-01-15T14:29:30Z", "level":',
      JSON.stringify(log({ message: 'nd-2' })),
      '',
    ].join('\n');
    const res = await postRaw(app, payload, NDJSON_CT);
    assert.equal(res.statusCode, 207);
    const body = res.json();
    assert.equal(body.status, 'partial');
    assert.equal(body.accepted, 2);
    assert.equal(body.rejected, 1);
    assert.equal(body.rejected_items.length, 1);
    assert.equal(body.rejected_items[0].index, 1);
    assert.equal(body.rejected_items[0].errors.length, 1);
    assert.match(body.rejected_items[0].errors[0], /^line 4 is not valid JSON/);
    assert.equal(await totalLogs(app), before + 2);
    const list = await app.inject({ method: 'GET', url: '/api/logs?q=nd-' });
    assert.deepEqual(
      list.json().logs.map((l: { message: string }) => l.message),
      ['nd-2', 'nd-1'],
    );
  });

  test('all good NDJSON (CRLF line ends, application/ndjson alias) is 201', async () => {
    const payload = `${JSON.stringify(log({ message: 'crlf-1' }))}\r\n${JSON.stringify(log({ message: 'crlf-2' }))}\r\n`;
    const res = await postRaw(app, payload, NDJSON_CT);
    assert.equal(res.statusCode, 201);
    assert.deepEqual(res.json(), { status: 'accepted', accepted: 2, rejected: 0, rejected_items: [] });
    const alias = await postRaw(app, JSON.stringify(log()), { 'content-type': 'application/ndjson' });
    assert.equal(alias.statusCode, 201);
    assert.equal(alias.json().accepted, 1);
  });

  test('an NDJSON line that is valid JSON but not a valid log is rejected by its index', async () => {
    const payload = [JSON.stringify(log()), JSON.stringify({ level: 'INFO' }), '42'].join('\n');
    const res = await postRaw(app, payload, NDJSON_CT);
    assert.equal(res.statusCode, 207);
    const body = res.json();
    assert.deepEqual(
      body.rejected_items.map((r: { index: number }) => r.index),
      [1, 2],
    );
    assert.ok(body.rejected_items[0].errors.includes("'timestamp' is a required property"));
    assert.deepEqual(body.rejected_items[1].errors, ['the value must be of type object (got number)']);
  });

  test('an NDJSON line with `__proto__` is rejected, the others accepted', async () => {
    const payload = `${JSON.stringify(log({ message: 'before-proto' }))}\n{"__proto__":{"polluted":true}}\n`;
    const res = await postRaw(app, payload, NDJSON_CT);
    assert.equal(res.statusCode, 207);
    assert.equal(res.json().accepted, 1);
    assert.equal(res.json().rejected_items[0].index, 1);
    assert.match(res.json().rejected_items[0].errors[0], /line 2 is not valid JSON/);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('NDJSON: an escaped __proto__ key is rejected on its line; CRLF and indented blank lines are fine', async () => {
    const payload = `${JSON.stringify(log({ message: 'crlf-1' }))}\r\n  \r\n{"\\u005f_proto__":{"polluted":true}}\r\n\t${JSON.stringify(log({ message: 'crlf-2' }))}\r\n`;
    const res = await postRaw(app, payload, NDJSON_CT);
    assert.equal(res.statusCode, 207, res.body);
    assert.equal(res.json().accepted, 2);
    assert.equal(res.json().rejected_items[0].index, 1);
    assert.match(res.json().rejected_items[0].errors[0], /line 3 is not valid JSON/);
  });

  test('an NDJSON body of only blank lines is 400 EMPTY_BATCH; all-broken is 400 invalid', async () => {
    const blank = await postRaw(app, '\n\n   \n', NDJSON_CT);
    assert.equal(blank.statusCode, 400);
    assert.equal(blank.json().code, 'EMPTY_BATCH');
    const broken = await postRaw(app, '{nope\n[oops\n', NDJSON_CT);
    assert.equal(broken.statusCode, 400);
    assert.equal(broken.json().status, 'invalid');
    assert.equal(broken.json().rejected, 2);
  });
});

describe('POST /api/logs: size limits', () => {
  test('a body over limits.max_body_bytes is 413 naming the limit (configured 2048)', async () => {
    const { app } = await buildTestApp({ limits: { max_body_bytes: 2048 } });
    try {
      const small = await postJson(app, '/api/logs', log({ message: 'x'.repeat(1500) }));
      assert.equal(small.statusCode, 201);
      const res = await postJson(app, '/api/logs', log({ message: 'x'.repeat(3000) }));
      assert.equal(res.statusCode, 413);
      assert.equal(res.json().code, 'BODY_TOO_LARGE');
      assert.match(res.json().error, /2048 bytes/);
      assert.match(res.json().error, /max_body_bytes/);
      const nd = await postRaw(app, `${JSON.stringify(log({ message: 'y'.repeat(1500) }))}\n`.repeat(2), NDJSON_CT);
      assert.equal(nd.statusCode, 413);
      assert.equal(nd.json().code, 'BODY_TOO_LARGE');
      assert.equal(await totalLogs(app), 1);
    } finally {
      await app.close();
    }
  });

  test('a body over the default 10 MiB limit is 413', async () => {
    const { app } = await buildTestApp();
    try {
      const res = await postRaw(app, JSON.stringify([log({ message: 'z'.repeat(10 * 1024 * 1024) })]), JSON_CT);
      assert.equal(res.statusCode, 413);
      assert.equal(res.json().code, 'BODY_TOO_LARGE');
      assert.match(res.json().error, /10485760 bytes/);
      assert.equal(await totalLogs(app), 0);
    } finally {
      await app.close();
    }
  });

  test('a batch over limits.max_batch_items is 413 naming the limit; nothing stored', async () => {
    const { app } = await buildTestApp({ limits: { max_batch_items: 5 } });
    try {
      const ok = await postJson(app, '/api/logs', Array.from({ length: 5 }, () => log()));
      assert.equal(ok.statusCode, 201);
      assert.equal(ok.json().accepted, 5);
      const res = await postJson(app, '/api/logs', Array.from({ length: 6 }, () => log()));
      assert.equal(res.statusCode, 413);
      assert.equal(res.json().code, 'BATCH_TOO_LARGE');
      assert.match(res.json().error, /6 logs/);
      assert.match(res.json().error, /limit of 5/);
      assert.match(res.json().error, /max_batch_items/);
      const nd = await postRaw(app, Array.from({ length: 6 }, () => JSON.stringify(log())).join('\n'), NDJSON_CT);
      assert.equal(nd.statusCode, 413);
      assert.equal(nd.json().code, 'BATCH_TOO_LARGE');
      assert.equal(await totalLogs(app), 5);
    } finally {
      await app.close();
    }
  });

  test('the default max_batch_items of 10000 is enforced', async () => {
    const { app } = await buildTestApp();
    try {
      const res = await postJson(app, '/api/logs', Array.from({ length: 10_001 }, () => ({})));
      assert.equal(res.statusCode, 413);
      assert.match(res.json().error, /limit of 10000/);
      assert.equal(await totalLogs(app), 0);
    } finally {
      await app.close();
    }
  });
});

describe('POST /api/logs: event time outside the analytics window', () => {
  let app: FastifyInstance;
  let clock: ManualClock;
  before(async () => {
    ({ app, clock } = await buildTestApp());
  });
  after(async () => {
    await app.close();
  });

  test('an old (2001) timestamp is accepted, counted in total_logs and out_of_window, absent from the time series', async () => {
    const h0 = (await app.inject({ method: 'GET', url: '/health' })).json();
    const res = await postJson(app, '/api/logs', log({ timestamp: '2001-09-09T01:46:40Z', level: 'ERROR', message: 'ancient' }));
    assert.equal(res.statusCode, 201);
    assert.deepEqual(res.json(), { status: 'accepted' });

    const h1 = (await app.inject({ method: 'GET', url: '/health' })).json();
    assert.equal(h1.total_logs, h0.total_logs + 1);
    assert.equal(h1.current_stored, h0.current_stored + 1);
    assert.equal(h1.out_of_window, h0.out_of_window + 1);

    const stats = (await app.inject({ method: 'GET', url: '/api/stats' })).json();
    assert.equal(stats.out_of_window, 1);
    assert.equal(stats.logs_per_level.ERROR, 1);

    const ts = await app.inject({ method: 'GET', url: '/api/time-series?minutes=60' });
    assert.equal(ts.statusCode, 200);
    const points: Array<{ time: string; total: number; errors: number }> = ts.json();
    assert.equal(points.length, 60);
    assert.equal(points.reduce((s, p) => s + p.total, 0), 0);
    assert.ok(points.every((p) => !p.time.startsWith('2001')));

    const list = (await app.inject({ method: 'GET', url: '/api/logs?q=ancient' })).json();
    assert.equal(list.count, 1);
    assert.equal(list.logs[0].timestamp, '2001-09-09T01:46:40Z');
  });

  test('an event time within the future skew is bucketed; beyond it is out_of_window', async () => {
    const before = (await app.inject({ method: 'GET', url: '/health' })).json().out_of_window as number;
    const near = await postJson(app, '/api/logs', log({ timestamp: clock.iso(60_000), message: 'near future' }));
    assert.equal(near.statusCode, 201);
    const far = await postJson(app, '/api/logs', log({ timestamp: clock.iso(60 * 60_000), message: 'far future' }));
    assert.equal(far.statusCode, 201);
    assert.equal((await app.inject({ method: 'GET', url: '/health' })).json().out_of_window, before + 1);
    clock.advance(60_000);
    const points: Array<{ time: string; total: number }> = (await app.inject({ method: 'GET', url: '/api/time-series?minutes=1' })).json();
    assert.deepEqual(points, [{ time: '2024-01-15T14:31', total: 1, errors: 0 }]);
  });
});

describe('POST /api/logs: rejected input leaves the counters alone', () => {
  test('after many kinds of rejection /health total_logs and current_stored are unchanged', async () => {
    const { app } = await buildTestApp();
    try {
      assert.equal((await postJson(app, '/api/logs', log())).statusCode, 201);
      const rejected = [
        await postJson(app, '/api/logs', { level: 'INFO' }),
        await postJson(app, '/api/logs', [{ level: 'INFO' }, 7]),
        await postJson(app, '/api/logs', 'str'),
        await postJson(app, '/api/logs', []),
        await postRaw(app, '{', JSON_CT),
        await postRaw(app, 'x', { 'content-type': 'text/plain' }),
        await postRaw(app, '{"__proto__":{}}', JSON_CT),
      ];
      assert.deepEqual(
        rejected.map((r) => r.statusCode),
        [400, 400, 400, 400, 400, 415, 400],
      );
      const health = (await app.inject({ method: 'GET', url: '/health' })).json();
      assert.equal(health.total_logs, 1);
      assert.equal(health.current_stored, 1);
      const list = (await app.inject({ method: 'GET', url: '/api/logs' })).json();
      assert.equal(list.count, 1);
    } finally {
      await app.close();
    }
  });
});

describe('POST /api/logs: hostile but well-formed logs must not break reads', () => {
  test('a log with deeply nested metadata is either rejected or readable afterwards (never a 500 on reads)', async () => {
    const { app } = await buildTestApp();
    try {
      const depth = 100_000;
      const deep = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
      const payload = `{"timestamp":"2024-01-15T14:29:30Z","level":"INFO","service":"s","message":"deep","metadata":${deep}}`;
      const post = await postRaw(app, payload, JSON_CT);
      assert.ok(post.statusCode === 201 || post.statusCode === 400, `POST status ${post.statusCode}`);
      const list = await app.inject({ method: 'GET', url: '/api/logs' });
      assert.equal(list.statusCode, 200, `GET /api/logs after a deeply nested log: ${list.body.slice(0, 200)}`);
      const dash = await app.inject({ method: 'GET', url: '/api/advanced-dashboard-data' });
      assert.equal(dash.statusCode, 200, `GET /api/advanced-dashboard-data: ${dash.body.slice(0, 200)}`);
      const legacy = await app.inject({ method: 'GET', url: '/logs', headers: { authorization: 'Token auth-service-token-001' } });
      assert.equal(legacy.statusCode, 200, `GET /logs: ${legacy.body.slice(0, 200)}`);
    } finally {
      await app.close();
    }
  });
});

describe('POST /api/logs: compressed bodies (Content-Encoding)', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildTestApp());
  });
  after(async () => {
    await app.close();
  });

  const compressors = { gzip: gzipSync, 'x-gzip': gzipSync, deflate: deflateSync, br: brotliCompressSync } as const;
  for (const [encoding, compress] of Object.entries(compressors)) {
    test(`a ${encoding} JSON array and a ${encoding} NDJSON body are decoded and stored`, async () => {
      const tag = `enc-${encoding}`;
      const array = [log({ message: `${tag} a0` }), log({ message: `${tag} a1` })];
      const resArray = await app.inject({
        method: 'POST',
        url: '/api/logs',
        payload: compress(JSON.stringify(array)),
        headers: { ...JSON_CT, 'content-encoding': encoding.toUpperCase() },
      });
      assert.equal(resArray.statusCode, 201, resArray.body);
      const ndjson = `${JSON.stringify(log({ message: `${tag} n0` }))}\n{"broken"\n`;
      const resNd = await app.inject({ method: 'POST', url: '/api/logs', payload: compress(ndjson), headers: { ...NDJSON_CT, 'content-encoding': encoding } });
      assert.equal(resNd.statusCode, 207, resNd.body);
      assert.match(resNd.json().rejected_items[0].errors[0], /line 2 is not valid JSON/);
      const stored = await app.inject({ method: 'GET', url: `/api/logs?q=${encodeURIComponent(tag)}` });
      assert.deepEqual(stored.json().logs.map((l: { message: string }) => l.message).sort(), [`${tag} a0`, `${tag} a1`, `${tag} n0`]);
    });
  }

  test('the decompressed size is held to limits.max_body_bytes, not the compressed size', async () => {
    const { app: small } = await buildTestApp({ limits: { max_body_bytes: 4096 } });
    try {
      const items = Array.from({ length: 40 }, (_, i) => log({ message: `bomb ${i} ${'x'.repeat(100)}` }));
      const packed = gzipSync(JSON.stringify(items));
      assert.ok(packed.length < 4096, 'the compressed body fits the limit');
      const res = await small.inject({ method: 'POST', url: '/api/logs', payload: packed, headers: { ...JSON_CT, 'content-encoding': 'gzip' } });
      assert.equal(res.statusCode, 413, res.body);
      assert.equal(res.json().code, 'BODY_TOO_LARGE');
      assert.match(res.json().error, /the gzip body expands past the limit of 4096 bytes \(limits\.max_body_bytes\)/);
      assert.equal((await small.inject({ method: 'GET', url: '/health' })).json().total_logs, 0);
    } finally {
      await small.close();
    }
  });
});

describe('POST /api/logs: service and user_id hold no control characters', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildTestApp());
  });
  after(async () => {
    await app.close();
  });

  test('a NUL, a line break, a tab, DEL or a C1 control in service or user_id is a 400 naming the field; nothing is stored', async () => {
    const before = await totalLogs(app);
    for (const bad of ['a\u0000b', 'line\nbreak', 'tab\there', 'cr\r', 'del\u007f', 'c1\u0085', '\u001b[31mred']) {
      for (const field of ['service', 'user_id'] as const) {
        const res = await postJson(app, '/api/logs', log({ [field]: bad }));
        assert.equal(res.statusCode, 400, `${field} ${JSON.stringify(bad)}: ${res.body}`);
        const errors = res.json().errors as string[];
        assert.equal(errors.length, 1, res.body);
        assert.match(errors[0]!, new RegExp(`^'${field}' must not contain control characters`), errors[0]);
      }
    }
    assert.equal(await totalLogs(app), before);
  });

  test('in a batch only the item with the control character is refused; messages and metadata may hold line breaks', async () => {
    const res = await postJson(app, '/api/logs', [
      log({ message: 'a stack trace\n  at f (x.js:1:1)\n\ttab' }),
      log({ service: 'bad\u0000service' }),
      log({ metadata: { note: 'line\nbreak' } }),
    ]);
    assert.equal(res.statusCode, 207, res.body);
    const body = res.json();
    assert.equal(body.accepted, 2);
    assert.deepEqual(
      body.rejected_items.map((r: { index: number }) => r.index),
      [1],
    );
    // What a service name may be otherwise is untouched: spaces, dots, non-Latin letters.
    assert.equal((await postJson(app, '/api/logs', log({ service: 'Zahlungsdienst ü.v2 – 决', user_id: 'user 1' }))).statusCode, 201);
  });

  test('the other doors refuse them too: POST /logs, Loki labels, simulate-errors', async () => {
    const legacy = await postJson(app, '/logs', { timestamp: '2024-01-15T14:00:00', service: 'x\ny', severity: 'INFO', message: 'm' }, auth(ADMIN_TOKEN));
    assert.equal(legacy.statusCode, 400, legacy.body);
    assert.match(JSON.stringify(legacy.json()), /'service' must not contain control characters/);
    const loki = await postJson(app, '/loki/api/v1/push', { streams: [{ stream: { service: 'a\u0000b' }, values: [['1705329000000000000', 'line']] }] });
    assert.equal(loki.statusCode, 400, loki.body);
    assert.match(JSON.stringify(loki.json()), /'service' must not contain control characters/);
    const sim = await postJson(app, '/api/simulate-errors', { count: 5, service: 'bell\u0007' });
    assert.equal(sim.statusCode, 400, sim.body);
    assert.equal(sim.json().code, 'INVALID_BODY');
    assert.match(sim.json().error, /'service' must not contain control characters/);
  });
});
