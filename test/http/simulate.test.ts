import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { AUTH_SERVICE_TOKEN, READER_TOKEN, auth, buildTestApp, lastReceived, postJson, type ManualClock } from '../helpers.js';
import type { LogView } from '../../server/core/log.js';


const LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'];
const SERVICES = ['auth-service', 'payment-service', 'notification-service', 'api-gateway', 'user-service'];

async function totalLogs(app: FastifyInstance): Promise<number> {
  return (await app.inject({ method: 'GET', url: '/health' })).json().total_logs as number;
}

async function allLogs(app: FastifyInstance, qs = ''): Promise<LogView[]> {
  const res = await app.inject({ method: 'GET', url: `/api/logs?limit=1000${qs}` });
  assert.equal(res.statusCode, 200);
  return res.json().logs as LogView[];
}

function expectBadBody(res: { statusCode: number; json: () => any }, ...mentions: RegExp[]): void {
  assert.equal(res.statusCode, 400);
  const body = res.json();
  assert.equal(typeof body.error, 'string');
  assert.equal(typeof body.code, 'string');
  for (const m of mentions) assert.match(body.error, m);
}

describe('POST /api/simulate-logs and /api/simulate-errors: the documented curl examples', () => {
  let app: FastifyInstance;
  let clock: ManualClock;
  before(async () => {
    ({ app, clock } = await buildTestApp());
  });
  after(async () => {
    await app.close();
  });

  test('simulate-logs {"count": 200} → 200 simulated, 200 stored, spread over the last 5 minutes', async () => {
    const res = await postJson(app, '/api/simulate-logs', { count: 200 });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'simulated', requested: 200, accepted: 200 });
    assert.equal(await totalLogs(app), 200);
    const logs = await allLogs(app);
    assert.equal(logs.length, 200);
    const now = clock.ms;
    for (const l of logs) {
      assert.ok(LEVELS.includes(l.level), l.level);
      assert.ok(SERVICES.includes(l.service), l.service);
      assert.ok(l.message.length > 0);
      assert.match(l.user_id ?? '', /^user-\d+$/);
      assert.deepEqual(Object.keys(l.metadata ?? {}).sort(), ['ip_address', 'processing_time_ms', 'request_id']);
      const ts = Date.parse(l.timestamp);
      assert.ok(ts <= now && ts >= now - 5 * 60_000, l.timestamp);
      assert.equal(l.received_at, clock.iso());
    }
    assert.ok(new Set(logs.map((l) => l.service)).size >= 3);
  });

  test('simulate-errors {"count": 50, "error_rate": 0.8} → 50 logs, mostly errors, over the last 2 minutes; alerts fire', async () => {
    const before = await totalLogs(app);
    const res = await postJson(app, '/api/simulate-errors', { count: 50, error_rate: 0.8 });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'simulated', requested: 50, accepted: 50 });
    assert.equal(await totalLogs(app), before + 50);
    const logs = await lastReceived(app, 50);
    const errors = logs.filter((l) => l.level === 'ERROR' || l.level === 'CRITICAL').length;
    assert.ok(errors >= 30 && errors <= 50, `errors ${errors}`);
    for (const l of logs) {
      const ts = Date.parse(l.timestamp);
      assert.ok(ts <= clock.ms && ts >= clock.ms - 2 * 60_000, l.timestamp);
    }
    const dash = (await app.inject({ method: 'GET', url: '/api/advanced-dashboard-data' })).json();
    assert.ok(Array.isArray(dash.active_alerts));
    assert.ok(dash.active_alerts.length > 0, 'injecting errors triggers alerts');
  });

  test('simulate-errors {"count": 30, "error_rate": 1.0, "service": "payment-service"} → 30 ERROR/CRITICAL payment-service logs', async () => {
    const before = (await allLogs(app, '&service=payment-service&level=ERROR,CRITICAL')).length;
    const res = await postJson(app, '/api/simulate-errors', { count: 30, error_rate: 1.0, service: 'payment-service' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'simulated', requested: 30, accepted: 30 });
    const newest = await lastReceived(app, 30);
    assert.ok(newest.every((l) => l.service === 'payment-service'));
    assert.ok(newest.every((l) => l.level === 'ERROR' || l.level === 'CRITICAL'));
    assert.equal((await allLogs(app, '&service=payment-service&level=ERROR,CRITICAL')).length, before + 30);
    const health = (await app.inject({ method: 'GET', url: '/api/advanced-dashboard-data' })).json().service_health;
    assert.equal(health['payment-service'].status, 'critical');
  });
});

describe('simulation parameters', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildTestApp());
  });
  after(async () => {
    await app.close();
  });

  test('count is capped at 1000 for simulate-logs and 500 for simulate-errors; requested reports the capped value', async () => {
    const logs = await postJson(app, '/api/simulate-logs', { count: 5000 });
    assert.equal(logs.statusCode, 200);
    assert.deepEqual(logs.json(), { status: 'simulated', requested: 1000, accepted: 1000 });
    const errs = await postJson(app, '/api/simulate-errors', { count: 501 });
    assert.equal(errs.statusCode, 200);
    assert.deepEqual(errs.json(), { status: 'simulated', requested: 500, accepted: 500 });
    assert.equal(await totalLogs(app), 1500);
  });

  test('no body means the defaults (100 logs, 50 errors)', async () => {
    const before = await totalLogs(app);
    const logs = await app.inject({ method: 'POST', url: '/api/simulate-logs' });
    assert.equal(logs.statusCode, 200);
    assert.deepEqual(logs.json(), { status: 'simulated', requested: 100, accepted: 100 });
    const errs = await app.inject({ method: 'POST', url: '/api/simulate-errors' });
    assert.equal(errs.statusCode, 200);
    assert.deepEqual(errs.json(), { status: 'simulated', requested: 50, accepted: 50 });
    const empty = await postJson(app, '/api/simulate-errors', {});
    assert.deepEqual(empty.json(), { status: 'simulated', requested: 50, accepted: 50 });
    assert.equal(await totalLogs(app), before + 200);
  });

  test('error_rate 0 produces no errors', async () => {
    const res = await postJson(app, '/api/simulate-errors', { count: 40, error_rate: 0, service: 'user-service' });
    assert.equal(res.statusCode, 200);
    const newest = await lastReceived(app, 40);
    assert.ok(newest.every((l) => l.service === 'user-service'));
    assert.ok(newest.every((l) => l.level !== 'ERROR' && l.level !== 'CRITICAL'));
  });

  test('wrong types, out-of-range values and unknown keys are 400 naming the field, never 500; nothing stored', async () => {
    const before = await totalLogs(app);
    expectBadBody(await postJson(app, '/api/simulate-logs', { count: '50' }), /'count' must be of type integer/);
    expectBadBody(await postJson(app, '/api/simulate-logs', { count: 0 }), /'count'/);
    expectBadBody(await postJson(app, '/api/simulate-logs', { count: -5 }), /'count'/);
    expectBadBody(await postJson(app, '/api/simulate-logs', { count: 1.5 }), /'count'/);
    expectBadBody(await postJson(app, '/api/simulate-logs', { count: null }), /'count'/);
    expectBadBody(await postJson(app, '/api/simulate-logs', { count: 10, error_rate: 0.5 }), /'error_rate' is not an allowed property/);
    expectBadBody(await postJson(app, '/api/simulate-errors', { count: '50' }), /'count'/);
    expectBadBody(await postJson(app, '/api/simulate-errors', { error_rate: 2 }), /'error_rate'/);
    expectBadBody(await postJson(app, '/api/simulate-errors', { error_rate: -0.1 }), /'error_rate'/);
    expectBadBody(await postJson(app, '/api/simulate-errors', { error_rate: 'x' }), /'error_rate' must be of type number/);
    expectBadBody(await postJson(app, '/api/simulate-errors', { service: 5 }), /'service' must be of type string/);
    expectBadBody(await postJson(app, '/api/simulate-errors', { service: '' }), /'service'/);
    expectBadBody(await postJson(app, '/api/simulate-errors', { service: 's'.repeat(129) }), /'service'/);
    expectBadBody(await postJson(app, '/api/simulate-errors', { count: 5, services: 'x' }), /'services' is not an allowed property/);
    const all = await postJson(app, '/api/simulate-errors', { count: '50', error_rate: 2, service: 5, foo: 1 });
    expectBadBody(all, /'foo'/, /'count'/, /'error_rate'/, /'service'/);
    assert.equal(await totalLogs(app), before);
  });

  test('non-object bodies (array, string, number) are 400, never 500', async () => {
    const before = await totalLogs(app);
    for (const url of ['/api/simulate-logs', '/api/simulate-errors']) {
      expectBadBody(await postJson(app, url, [{ count: 5 }]), /object/);
      expectBadBody(await postJson(app, url, 'count=5'), /object/);
      expectBadBody(await postJson(app, url, 5), /object/);
      const broken = await app.inject({ method: 'POST', url, payload: '{"count":', headers: { 'content-type': 'application/json' } });
      assert.equal(broken.statusCode, 400);
      const text = await app.inject({ method: 'POST', url, payload: 'count=5', headers: { 'content-type': 'text/plain' } });
      assert.equal(text.statusCode, 415);
    }
    assert.equal(await totalLogs(app), before);
  });
});

describe('simulation and auth', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildTestApp());
  });
  after(async () => {
    await app.close();
  });

  test('a read-only token cannot simulate (403); a wrong token is 401', async () => {
    const reader = await postJson(app, '/api/simulate-logs', { count: 5 }, auth(READER_TOKEN));
    assert.equal(reader.statusCode, 403);
    assert.equal(reader.json().code, 'AUTH_SCOPE');
    const wrong = await postJson(app, '/api/simulate-errors', { count: 5 }, auth('nope'));
    assert.equal(wrong.statusCode, 401);
    assert.equal(await totalLogs(app), 0);
  });

  test('a service-bound token simulates only its own service', async () => {
    const res = await postJson(app, '/api/simulate-logs', { count: 25 }, { authorization: `Token ${AUTH_SERVICE_TOKEN}` });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'simulated', requested: 25, accepted: 25 });
    const logs = await allLogs(app);
    assert.equal(logs.length, 25);
    assert.ok(logs.every((l) => l.service === 'auth-service'));

    const other = await postJson(app, '/api/simulate-errors', { count: 5, service: 'payment-service' }, auth(AUTH_SERVICE_TOKEN));
    assert.equal(other.statusCode, 403);
    assert.match(other.json().error, /auth-service/);
    assert.match(other.json().error, /payment-service/);
    assert.equal(await totalLogs(app), 25);
  });

  test('with anonymous_scopes [] anonymous simulation is 401', async () => {
    const { app: closed } = await buildTestApp({ auth: { anonymous_scopes: [] } });
    try {
      const res = await postJson(closed, '/api/simulate-logs', { count: 5 });
      assert.equal(res.statusCode, 401);
      assert.equal(typeof res.json().error, 'string');
    } finally {
      await closed.close();
    }
  });
});

describe('simulation.enabled false', () => {
  test('both simulation routes are 404; the rest of the API still works', async () => {
    const { app } = await buildTestApp({ simulation: { enabled: false } });
    try {
      for (const url of ['/api/simulate-logs', '/api/simulate-errors']) {
        const res = await postJson(app, url, { count: 5 });
        assert.equal(res.statusCode, 404, url);
        assert.equal(res.json().code, 'SIMULATION_DISABLED');
        assert.match(res.json().error, /simulation\.enabled/);
        const noBody = await app.inject({ method: 'POST', url });
        assert.equal(noBody.statusCode, 404, url);
      }
      assert.equal(await totalLogs(app), 0);
      const ingest = await postJson(app, '/api/logs', { timestamp: '2024-01-15T14:29:30Z', level: 'INFO', service: 's', message: 'm' });
      assert.equal(ingest.statusCode, 201);
    } finally {
      await app.close();
    }
  });
});
