import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { parse as parseYaml } from 'yaml';
import { buildApp } from '../../server/app.js';
import { deepMerge, resolveConfig } from '../../server/config.js';
import { ADMIN_TOKEN, AUTH_SERVICE_TOKEN, INGEST_TOKEN, READER_TOKEN, ManualClock, auth, buildTestApp, log, postJson } from '../helpers.js';

const AUTH_TOKEN = 'auth-service-token-001';
const PAYMENT_TOKEN = 'payment-service-token-002';
const NOTIFICATION_TOKEN = 'notification-service-token-003';

const NAIVE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/;

function token(t: string): Record<string, string> {
  return { authorization: `Token ${t}` };
}

function post(app: FastifyInstance, body: unknown, t: string): Promise<LightMyRequestResponse> {
  return postJson(app, '/logs', body, token(t));
}

function getLogs(app: FastifyInstance, qs: string, t: string = AUTH_TOKEN): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'GET', url: `/logs${qs}`, headers: token(t) });
}

/** The app as the shipped config.yaml configures it (its demo tokens), logging silenced. */
async function buildFromShippedConfig(clock: ManualClock): Promise<FastifyInstance> {
  const raw = parseYaml(readFileSync(new URL('../../config.yaml', import.meta.url), 'utf8')) as unknown;
  const config = resolveConfig(deepMerge(raw, { server: { log_level: 'silent' }, storage: { persistence: { enabled: false } } }));
  const app = await buildApp(config, { now: clock.now });
  await app.ready();
  return app;
}

describe('the compatibility API: every documented curl example against the shipped config.yaml', () => {
  let app: FastifyInstance;
  // The receive time of the documented example response.
  const clock = new ManualClock(Date.parse('2025-04-01T12:00:01Z'));
  before(async () => {
    app = await buildFromShippedConfig(clock);
  });
  after(async () => {
    await app.close();
  });

  test('POST /logs, single log with severity and a naive timestamp → 201 {"message":"Log(s) saved successfully"}', async () => {
    const res = await post(
      app,
      {
        timestamp: '2025-04-01T12:00:00',
        service: 'auth-service',
        severity: 'ERROR',
        message: 'Failed login attempt for user ghost@example.com',
      },
      AUTH_TOKEN,
    );
    assert.equal(res.statusCode, 201);
    assert.deepEqual(res.json(), { message: 'Log(s) saved successfully' });
  });

  test('POST /logs, batch → 201 {"message":"Log(s) saved successfully"}', async () => {
    const res = await post(
      app,
      [
        { timestamp: '2025-04-01T12:00:00', service: 'auth-service', severity: 'INFO', message: 'User logged in successfully' },
        { timestamp: '2025-04-01T12:00:05', service: 'auth-service', severity: 'DEBUG', message: 'Session token generated' },
      ],
      AUTH_TOKEN,
    );
    assert.equal(res.statusCode, 201);
    assert.deepEqual(res.json(), { message: 'Log(s) saved successfully' });
  });

  test('quick reference: send a single log', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/logs',
      headers: { authorization: 'Token auth-service-token-001', 'content-type': 'application/json' },
      payload: '{"timestamp":"2025-04-01T10:00:00","service":"auth-service","severity":"INFO","message":"User login successful"}',
    });
    assert.equal(res.statusCode, 201);
    assert.deepEqual(res.json(), { message: 'Log(s) saved successfully' });
  });

  test('the other services ship their own logs with their own tokens', async () => {
    const payment = await post(
      app,
      { timestamp: '2025-04-01T12:00:00', service: 'payment-service', severity: 'WARNING', message: 'Transaction timeout for order #8821 — retrying...' },
      PAYMENT_TOKEN,
    );
    assert.equal(payment.statusCode, 201);
    const notification = await post(
      app,
      { timestamp: '2025-04-01T11:59:00', service: 'notification-service', severity: 'INFO', message: 'Email sent' },
      NOTIFICATION_TOKEN,
    );
    assert.equal(notification.statusCode, 201);
    const crossed = await post(app, { timestamp: '2025-04-01T12:00:00', service: 'auth-service', severity: 'INFO', message: 'x' }, PAYMENT_TOKEN);
    assert.equal(crossed.statusCode, 403);
  });

  test('GET /logs?severity=ERROR&service=auth-service → the documented array shape', async () => {
    const res = await getLogs(app, '?severity=ERROR&service=auth-service');
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), [
      {
        id: 1,
        timestamp: '2025-04-01T12:00:00',
        service: 'auth-service',
        severity: 'ERROR',
        message: 'Failed login attempt for user ghost@example.com',
        received_at: '2025-04-01T12:00:01',
      },
    ]);
  });

  test('GET /logs?severity=ERROR → every ERROR log', async () => {
    const res = await app.inject({ method: 'GET', url: '/logs?severity=ERROR', headers: { authorization: 'Token auth-service-token-001' } });
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.ok(Array.isArray(body));
    assert.deepEqual(
      body.map((l: { id: number }) => l.id),
      [1],
    );
  });

  test('GET /logs without filters returns every log in the compatibility API\'s shape', async () => {
    const res = await getLogs(app, '', NOTIFICATION_TOKEN);
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.equal(body.length, 6);
    for (const l of body) {
      assert.deepEqual(Object.keys(l).sort(), ['id', 'message', 'received_at', 'service', 'severity', 'timestamp']);
      assert.match(l.timestamp, NAIVE);
      assert.match(l.received_at, NAIVE);
    }
  });

  test('GET /stats → {logs_per_service, logs_per_severity, last_log_per_service} with naive times', async () => {
    const res = await app.inject({ method: 'GET', url: '/stats', headers: { authorization: 'Token auth-service-token-001' } });
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.deepEqual(Object.keys(body).sort(), ['last_log_per_service', 'logs_per_service', 'logs_per_severity']);
    assert.deepEqual(body.logs_per_service, { 'auth-service': 4, 'payment-service': 1, 'notification-service': 1 });
    assert.equal(body.logs_per_severity.INFO, 3);
    assert.equal(body.logs_per_severity.DEBUG, 1);
    assert.equal(body.logs_per_severity.ERROR, 1);
    assert.equal(body.logs_per_severity.WARNING, 1);
    assert.deepEqual(body.last_log_per_service, {
      'auth-service': '2025-04-01T12:00:05',
      'payment-service': '2025-04-01T12:00:00',
      'notification-service': '2025-04-01T11:59:00',
    });
  });

  test('DELETE /logs?before=2025-01-01T00:00:00 → {"message":"n log(s) deleted"}; a service-bound token deletes its own service\'s, and they are gone', async () => {
    const old = await post(
      app,
      [
        { timestamp: '2024-12-31T23:59:59', service: 'payment-service', severity: 'INFO', message: 'old 1' },
        { timestamp: '2024-06-01T00:00:00', service: 'payment-service', severity: 'ERROR', message: 'old 2' },
      ],
      PAYMENT_TOKEN,
    );
    assert.equal(old.statusCode, 201);
    assert.equal((await post(app, { timestamp: '2024-03-01T00:00:00', service: 'auth-service', severity: 'INFO', message: 'old 3' }, AUTH_TOKEN)).statusCode, 201);
    assert.equal((await getLogs(app, '')).json().length, 9);

    // The shipped tokens are bound to a service: each deletes its own service's logs, never another's.
    const auth = await app.inject({ method: 'DELETE', url: '/logs?before=2025-01-01T00:00:00', headers: { authorization: 'Token auth-service-token-001' } });
    assert.equal(auth.statusCode, 200);
    assert.deepEqual(auth.json(), { message: '1 log(s) deleted' });
    assert.equal((await getLogs(app, '')).json().length, 8, "payment-service's old logs are still there");

    const res = await app.inject({ method: 'DELETE', url: '/logs?before=2025-01-01T00:00:00', headers: token(PAYMENT_TOKEN) });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { message: '2 log(s) deleted' });

    const left = (await getLogs(app, '')).json();
    assert.equal(left.length, 6);
    assert.ok(left.every((l: { timestamp: string }) => l.timestamp >= '2025-01-01T00:00:00'));

    const again = await app.inject({ method: 'DELETE', url: '/logs?before=2025-01-01T00:00:00', headers: token(AUTH_TOKEN) });
    assert.deepEqual(again.json(), { message: '0 log(s) deleted' });
  });
});

describe('compatibility API routes: authentication', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildTestApp());
  });
  after(async () => {
    await app.close();
  });

  const routes: Array<{ method: 'GET' | 'POST' | 'DELETE'; url: string; body?: unknown }> = [
    { method: 'POST', url: '/logs', body: { timestamp: '2025-04-01T12:00:00', service: 'auth-service', severity: 'INFO', message: 'm' } },
    { method: 'GET', url: '/logs' },
    { method: 'GET', url: '/stats' },
    { method: 'DELETE', url: '/logs?before=2030-01-01T00:00:00' },
  ];

  function send(r: (typeof routes)[number], headers: Record<string, string>): Promise<LightMyRequestResponse> {
    if (r.body === undefined) return app.inject({ method: r.method, url: r.url, headers });
    return postJson(app, r.url, r.body, headers);
  }

  test('a missing token is 401 with an `error` field, even though anonymous may use /api', async () => {
    for (const r of routes) {
      const res = await send(r, {});
      assert.equal(res.statusCode, 401, `${r.method} ${r.url}`);
      assert.equal(typeof res.json().error, 'string');
      assert.ok(res.json().error.length > 0);
      assert.equal(res.json().code, 'AUTH_REQUIRED');
    }
    assert.equal((await app.inject({ method: 'GET', url: '/health' })).json().total_logs, 0);
  });

  test('a wrong or malformed token is 401 with an `error` field', async () => {
    for (const r of routes) {
      for (const header of ['Token wrong-token-999', 'Bearer wrong-token-999', 'Basic abc', 'auth-service-token-001']) {
        const res = await send(r, { authorization: header });
        assert.equal(res.statusCode, 401, `${r.method} ${r.url} with ${header}`);
        assert.equal(typeof res.json().error, 'string');
      }
    }
    assert.equal((await app.inject({ method: 'GET', url: '/health' })).json().total_logs, 0);
  });

  test('scopes: reader reads, cannot post or delete; ingest-only cannot read', async () => {
    assert.equal((await getLogs(app, '', READER_TOKEN)).statusCode, 200);
    assert.equal((await app.inject({ method: 'GET', url: '/stats', headers: auth(READER_TOKEN) })).statusCode, 200);
    const p = await postJson(app, '/logs', { timestamp: '2025-04-01T12:00:00', service: 's', severity: 'INFO', message: 'm' }, auth(READER_TOKEN));
    assert.equal(p.statusCode, 403);
    assert.equal(typeof p.json().error, 'string');
    const d = await app.inject({ method: 'DELETE', url: '/logs?before=2030-01-01', headers: auth(READER_TOKEN) });
    assert.equal(d.statusCode, 403);
    assert.equal((await getLogs(app, '', INGEST_TOKEN)).statusCode, 403);
  });

  test('a bound token posting another service is 403 naming both; nothing stored', async () => {
    const res = await post(app, [{ timestamp: '2025-04-01T12:00:00', service: 'payment-service', severity: 'INFO', message: 'm' }], AUTH_SERVICE_TOKEN);
    assert.equal(res.statusCode, 403);
    assert.match(res.json().error, /auth-service/);
    assert.match(res.json().error, /payment-service/);
    assert.equal((await app.inject({ method: 'GET', url: '/health' })).json().total_logs, 0);
  });
});

describe('compatibility API routes: validation and filters', () => {
  let app: FastifyInstance;
  let clock: ManualClock;
  before(async () => {
    ({ app, clock } = await buildTestApp());
    // ids 1-3 received at 2024-01-15T14:30:00, ids 4-5 at 14:40:00.
    const first = await post(
      app,
      [
        { timestamp: '2024-01-15T14:00:00', service: 'auth-service', severity: 'INFO', message: 'a1' },
        { timestamp: '2024-01-15T14:10:00', service: 'auth-service', severity: 'error', message: 'a2' },
        { timestamp: '2024-01-15T14:20:00Z', service: 'auth-service', severity: 'WARNING', message: 'a3' },
      ],
      AUTH_SERVICE_TOKEN,
    );
    assert.equal(first.statusCode, 201);
    clock.advance(10 * 60_000);
    const second = await post(
      app,
      [
        { timestamp: '2024-01-15T14:35:00', service: 'payment-service', severity: 'ERROR', message: 'p1' },
        { timestamp: '2024-01-15T14:39:00.750', service: 'payment-service', severity: 'DEBUG', message: 'p2' },
      ],
      ADMIN_TOKEN,
    );
    assert.equal(second.statusCode, 201);
  });
  after(async () => {
    await app.close();
  });

  async function messages(qs: string): Promise<string[]> {
    const res = await getLogs(app, qs, ADMIN_TOKEN);
    assert.equal(res.statusCode, 200, `${qs}: ${res.body}`);
    return res.json().map((l: { message: string }) => l.message);
  }

  test('severity is case-insensitive on the way in and in filters', async () => {
    const logs = (await getLogs(app, '?severity=error', ADMIN_TOKEN)).json();
    assert.deepEqual(
      logs.map((l: { message: string; severity: string }) => `${l.message}:${l.severity}`).sort(),
      ['a2:ERROR', 'p1:ERROR'],
    );
  });

  test('timestamp_start / timestamp_end filter event time (YYYY-MM-DDTHH:MM:SS, inclusive)', async () => {
    assert.deepEqual((await messages('?timestamp_start=2024-01-15T14:10:00')).sort(), ['a2', 'a3', 'p1', 'p2']);
    assert.deepEqual((await messages('?timestamp_end=2024-01-15T14:10:00')).sort(), ['a1', 'a2']);
    assert.deepEqual((await messages('?timestamp_start=2024-01-15T14:05:00&timestamp_end=2024-01-15T14:36:00')).sort(), ['a2', 'a3', 'p1']);
  });

  test('received_at_start / received_at_end filter receive time', async () => {
    assert.deepEqual((await messages('?received_at_start=2024-01-15T14:35:00')).sort(), ['p1', 'p2']);
    assert.deepEqual((await messages('?received_at_end=2024-01-15T14:30:00')).sort(), ['a1', 'a2', 'a3']);
    assert.deepEqual(await messages('?received_at_start=2024-01-15T14:31:00&received_at_end=2024-01-15T14:39:59'), []);
  });

  test('service and severity combine with time filters', async () => {
    assert.deepEqual(await messages('?service=payment-service&severity=ERROR&timestamp_start=2024-01-15T14:00:00'), ['p1']);
    assert.deepEqual(await messages('?service=auth-service&severity=WARNING&received_at_end=2024-01-15T14:30:00'), ['a3']);
  });

  test('times render as YYYY-MM-DDTHH:MM:SS in UTC', async () => {
    const logs = (await getLogs(app, '?service=payment-service', ADMIN_TOKEN)).json();
    const p2 = logs.find((l: { message: string }) => l.message === 'p2');
    assert.equal(p2.timestamp, '2024-01-15T14:39:00');
    assert.equal(p2.received_at, '2024-01-15T14:40:00');
    const stats = (await app.inject({ method: 'GET', url: '/stats', headers: auth(ADMIN_TOKEN) })).json();
    assert.deepEqual(stats.last_log_per_service, { 'auth-service': '2024-01-15T14:20:00', 'payment-service': '2024-01-15T14:39:00' });
    assert.deepEqual(stats.logs_per_service, { 'auth-service': 3, 'payment-service': 2 });
  });

  test('malformed or unknown query parameters are 400 naming them', async () => {
    for (const [qs, name] of [
      ['?timestamp_start=yesterday', 'timestamp_start'],
      ['?timestamp_end=2024-02-30T00:00:00', 'timestamp_end'],
      ['?received_at_start=abc', 'received_at_start'],
      ['?received_at_end=12:00', 'received_at_end'],
      ['?severity=LOUD', 'severity'],
      ['?level=ERROR', 'level'],
      ['?timestamp_start=2024-01-15&timestamp_start=2024-01-16', 'timestamp_start'],
    ] as const) {
      const res = await getLogs(app, qs, ADMIN_TOKEN);
      assert.equal(res.statusCode, 400, qs);
      assert.ok(res.json().error.includes(`'${name}'`), `${qs}: ${res.json().error}`);
    }
  });

  test('invalid logs: single 400 and mixed 207 with an `error` and the rejected items', async () => {
    const before = (await app.inject({ method: 'GET', url: '/health' })).json().total_logs as number;
    const bad = await post(app, { timestamp: '2024-01-15T14:00:00', service: 'auth-service', message: 'no severity' }, AUTH_SERVICE_TOKEN);
    assert.equal(bad.statusCode, 400);
    const b = bad.json();
    assert.equal(typeof b.error, 'string');
    assert.equal(b.accepted, 0);
    assert.equal(b.rejected, 1);
    assert.equal(b.rejected_items.length, 1);
    assert.equal(b.rejected_items[0].index, 0);
    assert.equal(b.rejected_items[0].errors.length, 1);

    const mixed = await post(
      app,
      [
        { timestamp: '2024-01-15T14:29:00', service: 'auth-service', severity: 'INFO', message: 'good' },
        { timestamp: 'not-a-time', service: 'auth-service', severity: 'INFO', message: 'bad' },
      ],
      AUTH_SERVICE_TOKEN,
    );
    assert.equal(mixed.statusCode, 207);
    assert.match(mixed.json().error, /1 of 2/);
    assert.equal(mixed.json().accepted, 1);
    assert.equal(mixed.json().rejected_items[0].index, 1);
    assert.match(mixed.json().rejected_items[0].errors[0], /'timestamp'/);
    assert.equal((await app.inject({ method: 'GET', url: '/health' })).json().total_logs, before + 1);

    const shape = await post(app, 'a string', AUTH_SERVICE_TOKEN);
    assert.equal(shape.statusCode, 400);
    assert.equal(typeof shape.json().error, 'string');
    const empty = await post(app, [], AUTH_SERVICE_TOKEN);
    assert.equal(empty.statusCode, 400);
    const ct = await app.inject({ method: 'POST', url: '/logs', payload: 'x', headers: { 'content-type': 'text/plain', ...token(AUTH_SERVICE_TOKEN) } });
    assert.equal(ct.statusCode, 415);
  });

  test('error messages on POST /logs name the compatibility API\'s field `severity`, not the internal `level`', async () => {
    const missing = await post(app, { timestamp: '2024-01-15T14:00:00', service: 'auth-service', message: 'no severity' }, AUTH_SERVICE_TOKEN);
    assert.equal(missing.statusCode, 400);
    const missingErrors: string[] = missing.json().rejected_items[0].errors;
    assert.ok(
      missingErrors.some((e) => e.includes("'severity'")),
      `a compatibility-API client omitting severity is told: ${JSON.stringify(missingErrors)}`,
    );
    const wrong = await post(app, { timestamp: '2024-01-15T14:00:00', service: 'auth-service', severity: 'LOUD', message: 'bad severity' }, AUTH_SERVICE_TOKEN);
    assert.equal(wrong.statusCode, 400);
    const wrongErrors: string[] = wrong.json().rejected_items[0].errors;
    assert.ok(
      wrongErrors.some((e) => e.includes("'severity'")),
      `a compatibility-API client sending severity LOUD is told: ${JSON.stringify(wrongErrors)}`,
    );
  });

  test('DELETE /logs needs `before`', async () => {
    const res = await app.inject({ method: 'DELETE', url: '/logs', headers: token(AUTH_SERVICE_TOKEN) });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().error, /'before'/);
    const bad = await app.inject({ method: 'DELETE', url: '/logs?before=soon', headers: token(AUTH_SERVICE_TOKEN) });
    assert.equal(bad.statusCode, 400);
  });
});

describe('the compatibility API and /api share one store', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildTestApp());
  });
  after(async () => {
    await app.close();
  });

  test('a log sent via POST /logs shows in GET /api/logs with level = severity and a Z timestamp', async () => {
    const res = await post(app, { timestamp: '2025-04-01T12:00:00', service: 'auth-service', severity: 'WARNING', message: 'via legacy' }, AUTH_SERVICE_TOKEN);
    assert.equal(res.statusCode, 201);
    const list = (await app.inject({ method: 'GET', url: '/api/logs?q=via%20legacy' })).json();
    assert.equal(list.count, 1);
    assert.deepEqual(list.logs[0], {
      id: list.logs[0].id,
      timestamp: '2025-04-01T12:00:00Z',
      level: 'WARNING',
      service: 'auth-service',
      message: 'via legacy',
      received_at: '2024-01-15T14:30:00.000Z',
      pattern_id: 1,
    });
  });

  test('a log sent via POST /api/logs shows in GET /logs with severity and naive UTC times', async () => {
    const res = await postJson(app, '/api/logs', log({ timestamp: '2024-01-15T16:29:30.123+02:00', level: 'CRITICAL', service: 'api-gateway', message: 'via api', user_id: 'u9' }));
    assert.equal(res.statusCode, 201);
    const list = (await getLogs(app, '?service=api-gateway', ADMIN_TOKEN)).json();
    assert.equal(list.length, 1);
    assert.equal(list[0].timestamp, '2024-01-15T14:29:30');
    assert.equal(list[0].severity, 'CRITICAL');
    assert.equal(list[0].message, 'via api');
    assert.equal(list[0].received_at, '2024-01-15T14:30:00');
    assert.equal('level' in list[0], false);
    const filtered = (await getLogs(app, '?severity=CRITICAL&timestamp_start=2024-01-15T14:29:30', ADMIN_TOKEN)).json();
    assert.deepEqual(
      filtered.map((l: { message: string }) => l.message),
      ['via api'],
    );
  });

  test('DELETE /logs and DELETE /api/logs act on the same store', async () => {
    // A token bound to auth-service does not delete api-gateway's log.
    const bound = await app.inject({ method: 'DELETE', url: '/logs?before=2025-01-01T00:00:00', headers: token(AUTH_SERVICE_TOKEN) });
    assert.deepEqual(bound.json(), { message: '0 log(s) deleted' });
    const del = await app.inject({ method: 'DELETE', url: '/logs?before=2025-01-01T00:00:00', headers: token(ADMIN_TOKEN) });
    assert.deepEqual(del.json(), { message: '1 log(s) deleted' });
    const list = (await app.inject({ method: 'GET', url: '/api/logs' })).json();
    assert.deepEqual(
      list.logs.map((l: { message: string }) => l.message),
      ['via legacy'],
    );
  });
});
