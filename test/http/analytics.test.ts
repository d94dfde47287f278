import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { AUTH_SERVICE_TOKEN, auth, buildTestApp, log, postJson, type ManualClock } from '../helpers.js';

interface Point {
  time: string;
  total: number;
  errors: number;
}

async function getJson(app: FastifyInstance, url: string): Promise<any> {
  const res = await app.inject({ method: 'GET', url });
  assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
  return res.json();
}

async function expect400(app: FastifyInstance, url: string, param: string): Promise<void> {
  const res = await app.inject({ method: 'GET', url });
  assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
  assert.equal(res.json().code, 'INVALID_QUERY');
  assert.ok(res.json().error.includes(`'${param}'`), `${url}: ${res.json().error}`);
}

/** `count` logs of `service` at the clock's time, the first `errors` of them ERROR. */
function burst(clock: ManualClock, service: string, count: number, errors: number): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => log({ service, timestamp: clock.iso(), level: i < errors ? 'ERROR' : 'INFO' }));
}

/** Minute keys `from`..`to` (inclusive) on 2024-01-15, hours:minutes as numbers of minutes after 14:00. */
function minutes(from: number, to: number): string[] {
  const out: string[] = [];
  for (let m = from; m <= to; m++) {
    const h = 14 + Math.floor(m / 60);
    out.push(`2024-01-15T${String(h).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`);
  }
  return out;
}

describe('GET /health', () => {
  test('reports status, counters and uptime from the injected clock; public', async () => {
    const { app, clock } = await buildTestApp();
    try {
      // pressure and rate_limit (figures that move with the process) are checked in test/reliability/.
      const { pressure, rate_limit: rateLimit, ...health } = await getJson(app, '/health');
      assert.equal(pressure.status, 'ok');
      assert.deepEqual(rateLimit, { enabled: false, refused: 0 });
      assert.deepEqual(health, {
        status: 'healthy',
        total_logs: 0,
        current_stored: 0,
        buffer_capacity: 100_000,
        uptime_seconds: 0,
        out_of_window: 0,
        cardinality: { services: { tracked: 0, cap: 1000, folded: 0 }, users: { tracked: 0, cap: 10_000, folded: 0 } },
        storage: { engine: 'memory', status: 'ok' },
      });
      assert.equal((await postJson(app, '/api/logs', [log(), log({ user_id: 'u1' })])).statusCode, 201);
      clock.advance(90_500);
      const h = await getJson(app, '/health');
      assert.equal(h.status, 'healthy');
      assert.equal(h.total_logs, 2);
      assert.equal(h.current_stored, 2);
      assert.equal(h.uptime_seconds, 90);
      assert.deepEqual(h.cardinality.users, { tracked: 1, cap: 10_000, folded: 0 });
      clock.advance(3600_000);
      assert.equal((await getJson(app, '/health')).uptime_seconds, 3690);
    } finally {
      await app.close();
    }
  });
});

describe('GET /api/stats', () => {
  test('empty server: zero counters, every level present', async () => {
    const { app } = await buildTestApp();
    try {
      assert.deepEqual(await getJson(app, '/api/stats'), {
        total_logs: 0,
        logs_per_service: {},
        logs_per_level: { DEBUG: 0, INFO: 0, WARNING: 0, ERROR: 0, CRITICAL: 0 },
        last_log_per_service: {},
        out_of_window: 0,
        cardinality: { services: { tracked: 0, cap: 1000, folded: 0 }, users: { tracked: 0, cap: 10_000, folded: 0 } },
      });
    } finally {
      await app.close();
    }
  });

  test('counts per service and level; last log per service is the latest event time even when sent out of order', async () => {
    const { app } = await buildTestApp();
    try {
      const res = await postJson(app, '/api/logs', [
        log({ service: 'auth-service', level: 'INFO', timestamp: '2024-01-15T14:20:00Z' }),
        log({ service: 'auth-service', level: 'ERROR', timestamp: '2024-01-15T14:25:00Z' }),
        log({ service: 'auth-service', level: 'DEBUG', timestamp: '2024-01-15T14:10:00Z' }),
        log({ service: 'payment-service', level: 'CRITICAL', timestamp: '2024-01-15T14:29:59.250+00:00' }),
        log({ service: 'payment-service', level: 'WARNING', timestamp: '2024-01-15T16:00:00+02:00' }),
      ]);
      assert.equal(res.statusCode, 201);
      const stats = await getJson(app, '/api/stats');
      assert.equal(stats.total_logs, 5);
      assert.deepEqual(stats.logs_per_service, { 'auth-service': 3, 'payment-service': 2 });
      assert.deepEqual(stats.logs_per_level, { DEBUG: 1, INFO: 1, WARNING: 1, ERROR: 1, CRITICAL: 1 });
      assert.deepEqual(stats.last_log_per_service, {
        'auth-service': '2024-01-15T14:25:00.000Z',
        'payment-service': '2024-01-15T14:29:59.250Z',
      });
      assert.equal(stats.out_of_window, 0);
    } finally {
      await app.close();
    }
  });
});

describe('GET /api/time-series', () => {
  let app: FastifyInstance;
  let clock: ManualClock;
  before(async () => {
    ({ app, clock } = await buildTestApp());
  });
  after(async () => {
    await app.close();
  });

  test('default: 30 consecutive minutes, oldest first, ending at the clock minute, zeros when empty', async () => {
    const points: Point[] = await getJson(app, '/api/time-series');
    assert.equal(points.length, 30);
    assert.deepEqual(
      points.map((p) => p.time),
      minutes(1, 30),
    );
    assert.ok(points.every((p) => p.total === 0 && p.errors === 0));
  });

  test('?minutes=5 buckets logs by event minute and counts ERROR and CRITICAL as errors', async () => {
    const res = await postJson(app, '/api/logs', [
      log({ timestamp: '2024-01-15T14:29:30Z', level: 'INFO' }),
      log({ timestamp: '2024-01-15T14:29:00Z', level: 'INFO' }),
      log({ timestamp: '2024-01-15T14:29:59.999Z', level: 'ERROR' }),
      log({ timestamp: '2024-01-15T14:27:10Z', level: 'CRITICAL' }),
      log({ timestamp: '2024-01-15T14:30:00Z', level: 'WARNING' }),
      log({ timestamp: '2024-01-15T16:26:00+02:00', level: 'DEBUG' }),
    ]);
    assert.equal(res.statusCode, 201);
    assert.deepEqual(await getJson(app, '/api/time-series?minutes=5'), [
      { time: '2024-01-15T14:26', total: 1, errors: 0 },
      { time: '2024-01-15T14:27', total: 1, errors: 1 },
      { time: '2024-01-15T14:28', total: 0, errors: 0 },
      { time: '2024-01-15T14:29', total: 3, errors: 1 },
      { time: '2024-01-15T14:30', total: 1, errors: 0 },
    ]);
  });

  test('the window follows the clock: advancing two minutes shifts the series', async () => {
    clock.advance(2 * 60_000);
    assert.deepEqual(await getJson(app, '/api/time-series?minutes=5'), [
      { time: '2024-01-15T14:28', total: 0, errors: 0 },
      { time: '2024-01-15T14:29', total: 3, errors: 1 },
      { time: '2024-01-15T14:30', total: 1, errors: 0 },
      { time: '2024-01-15T14:31', total: 0, errors: 0 },
      { time: '2024-01-15T14:32', total: 0, errors: 0 },
    ]);
    const sixty: Point[] = await getJson(app, '/api/time-series?minutes=60');
    assert.equal(sixty.length, 60);
    assert.equal(sixty[0]!.time, '2024-01-15T13:33');
    assert.equal(sixty[59]!.time, '2024-01-15T14:32');
    assert.equal(
      sixty.reduce((s, p) => s + p.total, 0),
      6,
    );
  });

  test('after an hour of silence every bucket is empty again', async () => {
    clock.advance(61 * 60_000);
    const points: Point[] = await getJson(app, '/api/time-series?minutes=60');
    assert.equal(points.length, 60);
    assert.equal(points[59]!.time, '2024-01-15T15:33');
    assert.equal(
      points.reduce((s, p) => s + p.total, 0),
      0,
    );
  });

  test('minutes outside 1..60, not a whole number, repeated, or an unknown parameter is 400', async () => {
    for (const v of ['0', '61', 'abc', '-1', '1.5', '']) await expect400(app, `/api/time-series?minutes=${v}`, 'minutes');
    await expect400(app, '/api/time-series?minutes=5&minutes=6', 'minutes');
    await expect400(app, '/api/time-series?hours=1', 'hours');
  });
});

describe('GET /api/advanced-dashboard-data', () => {
  let app: FastifyInstance;
  let clock: ManualClock;
  before(async () => {
    ({ app, clock } = await buildTestApp());
  });
  after(async () => {
    await app.close();
  });

  test('empty server: exactly the documented keys, zeros and nulls', async () => {
    const d = await getJson(app, '/api/advanced-dashboard-data');
    assert.deepEqual(Object.keys(d).sort(), [
      'active_alerts',
      'error_trends',
      'levels_per_minute',
      'most_active_services',
      'recent_logs',
      'service_health',
      'summary',
      'time_series',
      'user_activity',
      'validation_stats',
    ]);
    assert.deepEqual(d.summary, {
      total_logs: 0,
      total_errors: 0,
      error_rate: 0,
      active_services: 0,
      time_range: { first: null, last: null },
    });
    assert.equal(d.time_series.length, 30);
    assert.equal(d.error_trends.length, 30);
    assert.deepEqual(d.service_health, {});
    assert.deepEqual(d.most_active_services, []);
    assert.deepEqual(d.user_activity, []);
    assert.deepEqual(d.recent_logs, []);
    assert.deepEqual(d.active_alerts, []);
    assert.deepEqual(d.validation_stats, { total: 0, valid: 0, invalid: 0, error_types: {} });
  });

  test('with data: summary, series, trends, health, top services and users, 20 most recent logs', async () => {
    const logs: Record<string, unknown>[] = [];
    for (let i = 0; i < 12; i++) logs.push(log({ service: 'api-gateway', timestamp: '2024-01-15T14:28:10Z', user_id: 'user-3', level: i < 3 ? 'ERROR' : 'INFO', message: `gw ${i}` }));
    for (let i = 0; i < 8; i++) logs.push(log({ service: 'auth-service', timestamp: '2024-01-15T14:29:10Z', user_id: i < 5 ? 'user-7' : 'user-3', level: 'INFO', message: `auth ${i}` }));
    for (let i = 0; i < 5; i++) logs.push(log({ service: 'payment-service', timestamp: '2024-01-15T14:30:00Z', level: i === 0 ? 'CRITICAL' : 'DEBUG', message: `pay ${i}` }));
    const res = await postJson(app, '/api/logs', logs);
    assert.equal(res.statusCode, 201);
    assert.equal((await postJson(app, '/api/logs', { level: 'INFO' })).statusCode, 400);

    const d = await getJson(app, '/api/advanced-dashboard-data');
    assert.deepEqual(Object.keys(d.summary).sort(), ['active_services', 'error_rate', 'time_range', 'total_errors', 'total_logs']);
    assert.deepEqual(d.summary, {
      total_logs: 25,
      total_errors: 4,
      error_rate: 0.16,
      active_services: 3,
      time_range: { first: '2024-01-15T14:28', last: '2024-01-15T14:30' },
    });
    assert.equal(d.time_series.length, 30);
    assert.deepEqual(d.time_series.slice(-3), [
      { time: '2024-01-15T14:28', total: 12, errors: 3 },
      { time: '2024-01-15T14:29', total: 8, errors: 0 },
      { time: '2024-01-15T14:30', total: 5, errors: 1 },
    ]);
    assert.deepEqual(d.error_trends.slice(-3), [
      { time: '2024-01-15T14:28', error_rate: 0.25 },
      { time: '2024-01-15T14:29', error_rate: 0 },
      { time: '2024-01-15T14:30', error_rate: 0.2 },
    ]);
    assert.deepEqual(
      d.error_trends.map((p: { time: string }) => p.time),
      d.time_series.map((p: Point) => p.time),
    );
    assert.deepEqual(d.most_active_services, [
      { service: 'api-gateway', count: 12 },
      { service: 'auth-service', count: 8 },
      { service: 'payment-service', count: 5 },
    ]);
    assert.deepEqual(d.user_activity, [
      { user_id: 'user-3', count: 15 },
      { user_id: 'user-7', count: 5 },
    ]);
    assert.deepEqual(Object.keys(d.service_health).sort(), ['api-gateway', 'auth-service', 'payment-service']);
    assert.deepEqual(d.service_health['auth-service'], {
      status: 'too_few_logs',
      last_seen: '2024-01-15T14:30:00.000Z',
      log_count: 8,
      error_rate: 0,
    });
    assert.equal(d.recent_logs.length, 20);
    assert.deepEqual(
      d.recent_logs.map((l: { id: number }) => l.id),
      Array.from({ length: 20 }, (_, i) => 25 - i),
    );
    assert.equal(d.recent_logs[0].message, 'pay 4');
    assert.ok(Array.isArray(d.active_alerts));
    for (const a of d.active_alerts) {
      for (const key of ['rule', 'level', 'service', 'message', 'timestamp']) assert.ok(key in a, `alert lacks ${key}: ${JSON.stringify(a)}`);
    }
    assert.deepEqual(d.validation_stats, { total: 26, valid: 25, invalid: 1, error_types: { required: 1 } });
  });

  test('?minutes narrows the series; invalid minutes or unknown parameters are 400', async () => {
    const d = await getJson(app, '/api/advanced-dashboard-data?minutes=2');
    assert.deepEqual(d.time_series, [
      { time: '2024-01-15T14:29', total: 8, errors: 0 },
      { time: '2024-01-15T14:30', total: 5, errors: 1 },
    ]);
    assert.deepEqual(d.most_active_services, [
      { service: 'auth-service', count: 8 },
      { service: 'payment-service', count: 5 },
    ]);
    await expect400(app, '/api/advanced-dashboard-data?minutes=0', 'minutes');
    await expect400(app, '/api/advanced-dashboard-data?minutes=61', 'minutes');
    await expect400(app, '/api/advanced-dashboard-data?verbose=1', 'verbose');
  });

  test('summary.active_services drops services that went down', async () => {
    clock.advance(3 * 60_000);
    assert.equal((await postJson(app, '/api/logs', log({ service: 'auth-service', timestamp: clock.iso() }))).statusCode, 201);
    const d = await getJson(app, '/api/advanced-dashboard-data');
    assert.equal(d.summary.active_services, 1);
    assert.equal(d.service_health['auth-service'].status, 'too_few_logs');
    assert.equal(d.service_health['api-gateway'].status, 'down');
    assert.equal(d.service_health['payment-service'].status, 'down');
  });
});

describe('GET /api/validation-stats', () => {
  test('counts valid/invalid and error types by schema keyword', async () => {
    const { app } = await buildTestApp();
    try {
      assert.deepEqual(await getJson(app, '/api/validation-stats'), { total: 0, valid: 0, invalid: 0, error_types: {} });
      const codes = [
        (await postJson(app, '/api/logs', log())).statusCode,
        (await postJson(app, '/api/logs', { timestamp: '2024-01-15T14:29:30Z', service: 's', message: 'm' })).statusCode,
        (await postJson(app, '/api/logs', log({ level: 'LOUD' }))).statusCode,
        (await postJson(app, '/api/logs', log({ timestamp: '2024-01-15T14:29:30' }))).statusCode,
        (await postJson(app, '/api/logs', log({ extra: true }))).statusCode,
        (
          await app.inject({
            method: 'POST',
            url: '/api/logs',
            payload: `${JSON.stringify(log())}\n{broken\n`,
            headers: { 'content-type': 'application/x-ndjson' },
          })
        ).statusCode,
        (await postJson(app, '/api/logs', { timestamp: '2024-01-15T14:29:30Z', service: 's', level: 'nope' })).statusCode,
      ];
      assert.deepEqual(codes, [201, 400, 400, 400, 400, 207, 400]);
      // Requests rejected before validation do not count.
      assert.equal((await postJson(app, '/api/logs', 5)).statusCode, 400);
      assert.equal((await postJson(app, '/api/logs', [])).statusCode, 400);
      assert.equal((await postJson(app, '/api/logs', log({ service: 'payment-service' }), auth(AUTH_SERVICE_TOKEN))).statusCode, 403);

      assert.deepEqual(await getJson(app, '/api/validation-stats'), {
        total: 8,
        valid: 2,
        invalid: 6,
        error_types: { required: 2, enum: 2, format: 1, additionalProperties: 1, json: 1 },
      });
    } finally {
      await app.close();
    }
  });
});

describe('service health from receive time', () => {
  test('a service silent longer than alerting.service_down_minutes is down; exactly that long is not', async () => {
    const { app, clock } = await buildTestApp();
    try {
      assert.equal((await postJson(app, '/api/logs', [log({ service: 'svc-a' }), log({ service: 'svc-b' })])).statusCode, 201);
      clock.advance(2 * 60_000);
      let h = (await getJson(app, '/api/advanced-dashboard-data')).service_health;
      assert.equal(h['svc-a'].status, 'too_few_logs');
      assert.equal(h['svc-b'].status, 'too_few_logs');

      assert.equal((await postJson(app, '/api/logs', log({ service: 'svc-b', timestamp: clock.iso() }))).statusCode, 201);
      clock.advance(1000);
      h = (await getJson(app, '/api/advanced-dashboard-data')).service_health;
      assert.deepEqual(h['svc-a'], { status: 'down', last_seen: '2024-01-15T14:30:00.000Z', log_count: 1, error_rate: 0 });
      assert.deepEqual(h['svc-b'], { status: 'too_few_logs', last_seen: '2024-01-15T14:32:00.000Z', log_count: 2, error_rate: 0 });
    } finally {
      await app.close();
    }
  });

  test('service_down_minutes is taken from config', async () => {
    const { app, clock } = await buildTestApp({ alerting: { service_down_minutes: 10 } });
    try {
      assert.equal((await postJson(app, '/api/logs', log({ service: 'svc-a' }))).statusCode, 201);
      clock.advance(9 * 60_000);
      assert.equal((await getJson(app, '/api/advanced-dashboard-data')).service_health['svc-a'].status, 'too_few_logs');
      clock.advance(60_001);
      assert.equal((await getJson(app, '/api/advanced-dashboard-data')).service_health['svc-a'].status, 'down');
    } finally {
      await app.close();
    }
  });

  test('error rate at or over the threshold with >= min_samples logs is critical, as the alert rule says; fewer samples is too_few_logs, not healthy', async () => {
    const { app, clock } = await buildTestApp();
    try {
      const batch = [
        ...burst(clock, 'svc-warn', 20, 3), // 15% of 20
        ...burst(clock, 'svc-few', 19, 19), // 100% but only 19 samples
        ...burst(clock, 'svc-low', 20, 1), // 5%
      ];
      assert.equal((await postJson(app, '/api/logs', batch)).statusCode, 201);
      const h = (await getJson(app, '/api/advanced-dashboard-data')).service_health;
      assert.deepEqual(h['svc-warn'], { status: 'critical', last_seen: '2024-01-15T14:30:00.000Z', log_count: 20, error_rate: 0.15 });
      assert.equal(h['svc-few'].status, 'too_few_logs', 'no verdict at 19 logs, rather than healthy at 100 % errors');
      assert.equal(h['svc-few'].error_rate, 1);
      assert.equal(h['svc-low'].status, 'healthy');
      assert.equal(h['svc-low'].error_rate, 0.05);

      // One more error tips svc-few over min_samples.
      assert.equal((await postJson(app, '/api/logs', log({ service: 'svc-few', level: 'CRITICAL', timestamp: clock.iso() }))).statusCode, 201);
      assert.equal((await getJson(app, '/api/advanced-dashboard-data')).service_health['svc-few'].status, 'critical');
      const fired = (await getJson(app, '/api/alerts?status=firing')).alerts.filter((a: { rule: string }) => a.rule === 'error_rate').map((a: { service: string }) => a.service);
      assert.deepEqual(fired.filter((x: string) => x !== '*').sort(), ['svc-few', 'svc-warn'], 'critical exactly where an error_rate alert fires');

      // Silence beats critical.
      clock.advance(3 * 60_000);
      assert.equal((await getJson(app, '/api/advanced-dashboard-data')).service_health['svc-warn'].status, 'down');
    } finally {
      await app.close();
    }
  });

  test('threshold and min_samples come from config', async () => {
    const { app, clock } = await buildTestApp({ alerting: { error_rate_threshold: 0.5, min_samples: 5 } });
    try {
      assert.equal((await postJson(app, '/api/logs', [...burst(clock, 'svc-x', 5, 3), ...burst(clock, 'svc-y', 5, 2), ...burst(clock, 'svc-z', 4, 4)])).statusCode, 201);
      const h = (await getJson(app, '/api/advanced-dashboard-data')).service_health;
      assert.equal(h['svc-x'].status, 'critical');
      assert.equal(h['svc-y'].status, 'healthy');
      assert.equal(h['svc-z'].status, 'too_few_logs');
    } finally {
      await app.close();
    }
  });

  test('errors outside the recent window no longer make a service critical', async () => {
    const { app, clock } = await buildTestApp();
    try {
      assert.equal((await postJson(app, '/api/logs', burst(clock, 'svc-w', 20, 20))).statusCode, 201);
      assert.equal((await getJson(app, '/api/advanced-dashboard-data')).service_health['svc-w'].status, 'critical');
      for (let i = 0; i < 6; i++) {
        clock.advance(60_000);
        assert.equal((await postJson(app, '/api/logs', log({ service: 'svc-w', timestamp: clock.iso() }))).statusCode, 201);
      }
      const h = (await getJson(app, '/api/advanced-dashboard-data')).service_health['svc-w'];
      assert.equal(h.status, 'too_few_logs');
      assert.equal(h.error_rate, 0);
      assert.equal(h.log_count, 26);
    } finally {
      await app.close();
    }
  });

  test('a log with a timestamp far in the future does not keep a silent service alive', async () => {
    const { app, clock } = await buildTestApp();
    try {
      assert.equal((await postJson(app, '/api/logs', log({ service: 'svc-future', timestamp: '2030-01-01T00:00:00Z' }))).statusCode, 201);
      assert.equal((await postJson(app, '/api/logs', log({ service: 'svc-future', timestamp: clock.iso(100_000) }))).statusCode, 201);
      clock.advance(3 * 60_000);
      assert.equal((await postJson(app, '/api/logs', log({ service: 'svc-live', timestamp: clock.iso() }))).statusCode, 201);
      const d = await getJson(app, '/api/advanced-dashboard-data');
      assert.deepEqual(d.service_health['svc-future'], { status: 'down', last_seen: '2024-01-15T14:30:00.000Z', log_count: 2, error_rate: 0 });
      assert.equal(d.service_health['svc-live'].status, 'too_few_logs');
      assert.equal(d.summary.active_services, 1);
      // The event time is still what /api/stats reports as the last log.
      assert.equal((await getJson(app, '/api/stats')).last_log_per_service['svc-future'], '2030-01-01T00:00:00.000Z');
    } finally {
      await app.close();
    }
  });

  test('every service counted in /api/stats appears in service_health, whatever its name', async () => {
    const { app, clock } = await buildTestApp();
    try {
      for (const service of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
        const res = await postJson(app, '/api/logs', log({ service, timestamp: clock.iso() }));
        assert.equal(res.statusCode, 201, service);
      }
      const stats = await getJson(app, '/api/stats');
      assert.deepEqual(Object.keys(stats.logs_per_service).sort(), ['__proto__', 'constructor', 'hasOwnProperty', 'toString']);
      const d = await getJson(app, '/api/advanced-dashboard-data');
      assert.deepEqual(Object.keys(d.service_health).sort(), ['__proto__', 'constructor', 'hasOwnProperty', 'toString']);
      assert.equal(d.summary.active_services, 4);
    } finally {
      await app.close();
    }
  });
});

describe('cardinality caps', () => {
  test('with limits.max_services=3, further services fold into "other"; the fold is visible in /health', async () => {
    const { app, clock } = await buildTestApp({ limits: { max_services: 3 } });
    try {
      for (const service of ['svc-a', 'svc-b', 'svc-c', 'svc-d', 'svc-e']) {
        assert.equal((await postJson(app, '/api/logs', log({ service, timestamp: clock.iso() }))).statusCode, 201);
      }
      assert.equal((await postJson(app, '/api/logs', log({ service: 'svc-a', timestamp: clock.iso() }))).statusCode, 201);

      const stats = await getJson(app, '/api/stats');
      assert.equal(stats.total_logs, 6);
      assert.deepEqual(stats.logs_per_service, { 'svc-a': 2, 'svc-b': 1, 'svc-c': 1, other: 2 });
      assert.deepEqual(stats.cardinality.services, { tracked: 3, cap: 3, folded: 2 });

      const health = await getJson(app, '/health');
      assert.deepEqual(health.cardinality.services, { tracked: 3, cap: 3, folded: 2 });

      const d = await getJson(app, '/api/advanced-dashboard-data');
      assert.deepEqual(Object.keys(d.service_health).sort(), ['other', 'svc-a', 'svc-b', 'svc-c']);
      assert.equal(d.service_health.other.log_count, 2);
      // Ties rank by name, so the order does not depend on arrival.
      assert.deepEqual(d.most_active_services.slice(0, 2), [
        { service: 'other', count: 2 },
        { service: 'svc-a', count: 2 },
      ]);

      // The stored logs keep their real service names.
      const list = await getJson(app, '/api/logs?service=svc-e');
      assert.equal(list.count, 1);
      assert.equal(list.logs[0].service, 'svc-e');
    } finally {
      await app.close();
    }
  });

  test('with limits.max_users=2, further users fold into "other" in user_activity', async () => {
    const { app, clock } = await buildTestApp({ limits: { max_users: 2 } });
    try {
      const res = await postJson(app, '/api/logs', [
        log({ user_id: 'u1', timestamp: clock.iso() }),
        log({ user_id: 'u1', timestamp: clock.iso() }),
        log({ user_id: 'u2', timestamp: clock.iso() }),
        log({ user_id: 'u3', timestamp: clock.iso() }),
        log({ user_id: 'u4', timestamp: clock.iso() }),
        log({ user_id: 'u5', timestamp: clock.iso() }),
      ]);
      assert.equal(res.statusCode, 201);
      const d = await getJson(app, '/api/advanced-dashboard-data');
      assert.deepEqual(d.user_activity, [
        { user_id: 'other', count: 3 },
        { user_id: 'u1', count: 2 },
        { user_id: 'u2', count: 1 },
      ]);
      assert.deepEqual((await getJson(app, '/health')).cardinality.users, { tracked: 2, cap: 2, folded: 3 });
    } finally {
      await app.close();
    }
  });
});

describe('GET /api/advanced-dashboard-data: levels_per_minute', () => {
  test('the same minutes as time_series, each counted by level, adding up to its total and errors', async () => {
    const { app, clock } = await buildTestApp();
    try {
      const batch = [
        ...['DEBUG', 'INFO', 'INFO', 'WARNING', 'ERROR', 'CRITICAL', 'CRITICAL'].map((level) => log({ level, timestamp: clock.iso() })),
        log({ level: 'ERROR', timestamp: clock.iso(-60_000) }),
      ];
      assert.equal((await postJson(app, '/api/logs', batch)).statusCode, 201);
      const d = await getJson(app, '/api/advanced-dashboard-data?minutes=5');
      assert.deepEqual(d.levels_per_minute.map((p: { time: string }) => p.time), d.time_series.map((p: { time: string }) => p.time));
      assert.deepEqual(d.levels_per_minute.at(-1), { time: '2024-01-15T14:30', counts: { DEBUG: 1, INFO: 2, WARNING: 1, ERROR: 1, CRITICAL: 2 } });
      assert.deepEqual(d.levels_per_minute.at(-2).counts, { DEBUG: 0, INFO: 0, WARNING: 0, ERROR: 1, CRITICAL: 0 });
      d.levels_per_minute.forEach((p: { counts: Record<string, number> }, i: number) => {
        const sum = Object.values(p.counts).reduce((a, b) => a + b, 0);
        assert.equal(sum, d.time_series[i].total);
        assert.equal(p.counts.ERROR! + p.counts.CRITICAL!, d.time_series[i].errors);
      });
    } finally {
      await app.close();
    }
  });
});
