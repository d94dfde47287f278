import { test, describe, after, mock } from 'node:test';
import assert from 'node:assert/strict';
import { getHeapStatistics } from 'node:v8';
import type { FastifyInstance } from 'fastify';
import { DEFAULTS } from '../../server/config.js';
import { ADMIN_TOKEN, AUTH_SERVICE_TOKEN, auth, buildTestApp, log, postJson } from '../helpers.js';
import { expectError, fakeDashboard } from './support.js';

/**
 * Load shedding with @fastify/under-pressure. A threshold of 1 byte makes every sample "under
 * pressure". The plugin samples once a second on a timer; the app is built under node:test's
 * mock timers and the clock moved past the first sample, so no test waits for it. The event
 * loop delay is left out there (threshold 0): its histogram fills on real time only, and the
 * plugin counts a sample with no measurement in it as infinitely late.
 */

const apps: FastifyInstance[] = [];
after(async () => {
  for (const app of apps) await app.close();
});

/** The app with `load_shedding` overrides, after one sample of the process's load. */
async function sampled(loadShedding: Record<string, unknown>): Promise<FastifyInstance> {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const { app } = await buildTestApp({ load_shedding: { max_event_loop_delay_ms: 0, ...loadShedding } }, { dashboardRoot: fakeDashboard() });
    apps.push(app);
    mock.timers.tick(1000);
    return app;
  } finally {
    mock.timers.reset();
  }
}

describe('load shedding', () => {
  test('over the heap threshold: ingest gets 503 with Retry-After and our error shape, /health still answers and says why', async () => {
    const app = await sampled({ max_heap_used_bytes: 1 });
    const res = await postJson(app, '/api/logs', log());
    const message = expectError(res, 503, 'OVERLOADED');
    assert.equal(res.headers['retry-after'], '5');
    assert.match(message, /overloaded/);
    assert.match(message, /retry after/);

    const health = await app.inject({ method: 'GET', url: '/health' });
    assert.equal(health.statusCode, 200, health.body);
    const body = health.json();
    assert.equal(body.status, 'healthy');
    assert.equal(body.total_logs, 0, 'the refused log was not stored');
    assert.equal(body.pressure.status, 'shedding');
    assert.match(body.pressure.reason, /^the heap holds \d+ MiB \(load_shedding\.max_heap_used_bytes: 0 MiB\)$/);
    assert.ok(body.pressure.heap_used_bytes > 1);
    assert.ok(body.pressure.rss_bytes > 0);
    assert.ok(body.pressure.event_loop_delay_ms === null || typeof body.pressure.event_loop_delay_ms === 'number');
    assert.deepEqual(body.pressure.limits, { max_event_loop_delay_ms: 0, max_heap_used_bytes: 1, max_rss_bytes: 0 });
    assert.equal(body.pressure.shed, 1);
  });

  test('every guarded route sheds, with or without a token; the page, its config and /health do not', async () => {
    const app = await sampled({ max_rss_bytes: 1, retry_after_seconds: 30 });
    const guarded = [
      app.inject({ method: 'GET', url: '/api/logs' }),
      app.inject({ method: 'GET', url: '/api/advanced-dashboard-data', headers: auth(ADMIN_TOKEN) }),
      app.inject({ method: 'POST', url: '/api/simulate-logs', payload: { count: 5 } }),
      app.inject({ method: 'GET', url: '/stats', headers: { authorization: `Token ${AUTH_SERVICE_TOKEN}` } }),
      postJson(app, '/api/logs', [log(), log()], auth(ADMIN_TOKEN)),
    ];
    for (const res of await Promise.all(guarded)) {
      expectError(res, 503, 'OVERLOADED');
      assert.equal(res.headers['retry-after'], '30');
    }
    for (const url of ['/health', '/api/ui-config', '/', '/assets/app-1234.js']) {
      const res = await app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
    }
    const pressure = (await app.inject({ method: 'GET', url: '/health' })).json().pressure;
    assert.match(pressure.reason, /^the process uses \d+ MiB of memory \(load_shedding\.max_rss_bytes: 0 MiB\)$/);
    assert.equal(pressure.shed, 5);
  });

  test('shedding comes before auth: an overloaded server does not even check the token', async () => {
    const app = await sampled({ max_heap_used_bytes: 1 });
    expectError(await app.inject({ method: 'GET', url: '/api/logs', headers: auth('not-a-known-token-at-all') }), 503, 'OVERLOADED');
  });

  test('load_shedding.enabled: false never sheds, and /health still reports the figures', async () => {
    const app = await sampled({ enabled: false, max_heap_used_bytes: 1, max_rss_bytes: 1 });
    assert.equal((await postJson(app, '/api/logs', log())).statusCode, 201);
    const pressure = (await app.inject({ method: 'GET', url: '/health' })).json().pressure;
    assert.equal(pressure.status, 'off');
    assert.equal(pressure.reason, undefined);
    assert.ok(pressure.heap_used_bytes > 0);
    assert.equal(pressure.shed, 0);
  });

  test('with the defaults a working server is not under pressure', async () => {
    const { app } = await buildTestApp();
    apps.push(app);
    assert.equal((await postJson(app, '/api/logs', log())).statusCode, 201);
    const pressure = (await app.inject({ method: 'GET', url: '/health' })).json().pressure;
    assert.equal(pressure.status, 'ok');
    // A second behind, 90% of V8's heap limit; RSS is not checked unless configured.
    assert.deepEqual(pressure.limits, { max_event_loop_delay_ms: 1000, max_heap_used_bytes: DEFAULTS.load_shedding.max_heap_used_bytes, max_rss_bytes: 0 });
    assert.equal(DEFAULTS.load_shedding.max_heap_used_bytes, Math.floor(getHeapStatistics().heap_size_limit * 0.9));
    assert.ok(DEFAULTS.load_shedding.max_heap_used_bytes > 2 * process.memoryUsage().heapUsed);
  });
});
