import { test, describe, after, mock } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { DEFAULTS } from '../../server/config.js';
import { ADMIN_TOKEN, INGEST_TOKEN, READER_TOKEN, auth, buildTestApp, log } from '../helpers.js';
import { expectError, fakeDashboard } from './support.js';

/**
 * Rate limiting per caller: each token has its own budget, each client address without a
 * token its own; ingest routes and the other API routes are counted apart. Small budgets,
 * and the limiter's own clock (Date) moved by node:test's mock timers: no sleeping.
 */

const BUDGETS = { enabled: true, window_seconds: 10, token: { ingest: 3, read: 2 }, anonymous: { ingest: 4, read: 2 } };

const apps: FastifyInstance[] = [];
after(async () => {
  for (const app of apps) await app.close();
});

async function build(overrides: Record<string, unknown> = {}): Promise<FastifyInstance> {
  const { app } = await buildTestApp({ rate_limit: BUDGETS, ...overrides }, { dashboardRoot: fakeDashboard() });
  apps.push(app);
  return app;
}

function ingest(app: FastifyInstance, headers: Record<string, string> = {}, remoteAddress?: string): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: '/api/logs',
    payload: JSON.stringify(log()),
    headers: { 'content-type': 'application/json', ...headers },
    ...(remoteAddress === undefined ? {} : { remoteAddress }),
  });
}

function read(app: FastifyInstance, url: string, headers: Record<string, string> = {}, remoteAddress?: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'GET', url, headers, ...(remoteAddress === undefined ? {} : { remoteAddress }) });
}

async function totalLogs(app: FastifyInstance): Promise<number> {
  return (await read(app, '/health')).json().total_logs as number;
}

function expect429(res: LightMyRequestResponse, max: number): string {
  const message = expectError(res, 429, 'RATE_LIMITED');
  const retryAfter = Number(res.headers['retry-after']);
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 10, `Retry-After ${res.headers['retry-after']}`);
  assert.equal(res.headers['x-ratelimit-limit'], String(max));
  assert.equal(res.headers['x-ratelimit-remaining'], '0');
  assert.match(message, new RegExp(`retry after ${retryAfter} s`));
  return message;
}

describe('rate limiting', () => {
  test('a token past its ingest budget gets 429 with Retry-After and our error shape; nothing from it is stored', async () => {
    const app = await build();
    for (let i = 0; i < 3; i++) {
      const ok = await ingest(app, auth(INGEST_TOKEN));
      assert.equal(ok.statusCode, 201, ok.body);
      // No rate-limit headers on answers under the limit: nothing reads them and they cost on every request.
      assert.equal(ok.headers['x-ratelimit-limit'], undefined);
      assert.equal(ok.headers['x-ratelimit-remaining'], undefined);
    }
    const before = await totalLogs(app);
    const refused = await ingest(app, auth(INGEST_TOKEN));
    const message = expect429(refused, 3);
    assert.match(message, /^too many requests: token 'ingester' sent more than 3 ingest requests in 10 s; /);
    assert.match(message, /send logs in batches \(up to 10000 per request\)/);
    assert.match(message, /slow down and retry after \d+ s, or raise rate_limit\.token\.ingest in the server config$/);
    assert.equal(await totalLogs(app), before, 'the refused request stored nothing');
    const health = (await read(app, '/health')).json();
    assert.deepEqual(health.rate_limit, { enabled: true, refused: 1 });
  });

  test('one caller throttled does not throttle another token, anonymous callers, or another address', async () => {
    const app = await build();
    for (let i = 0; i < 3; i++) assert.equal((await ingest(app, auth(INGEST_TOKEN))).statusCode, 201);
    expect429(await ingest(app, auth(INGEST_TOKEN)), 3);
    // Another token, and anonymous callers, have budgets of their own.
    assert.equal((await ingest(app, auth(ADMIN_TOKEN))).statusCode, 201);
    for (let i = 0; i < 4; i++) assert.equal((await ingest(app, {}, '10.0.0.1')).statusCode, 201, `anonymous request ${i}`);
    const anonymous = expect429(await ingest(app, {}, '10.0.0.1'), 4);
    assert.match(anonymous, /^too many requests: anonymous client 10\.0\.0\.1 sent more than 4 ingest requests/);
    assert.match(anonymous, /send a token \(each token has its own budget\), or raise rate_limit\.anonymous\.ingest in the server config$/);
    // Anonymous callers are told apart by address.
    assert.equal((await ingest(app, {}, '10.0.0.2')).statusCode, 201);
    assert.equal((await ingest(app, {}, '2001:db8::1')).statusCode, 201);
    // The throttled ones are still throttled.
    expect429(await ingest(app, auth(INGEST_TOKEN)), 3);
    expect429(await ingest(app, {}, '10.0.0.1'), 4);
  });

  test('reads and ingests are counted apart, each against its own budget', async () => {
    const app = await build();
    for (let i = 0; i < 3; i++) assert.equal((await ingest(app, auth(ADMIN_TOKEN))).statusCode, 201);
    expect429(await ingest(app, auth(ADMIN_TOKEN)), 3);
    // The same token still reads, up to its read budget, across read routes.
    assert.equal((await read(app, '/api/stats', auth(ADMIN_TOKEN))).statusCode, 200);
    assert.equal((await read(app, '/api/logs', auth(ADMIN_TOKEN))).statusCode, 200);
    const message = expect429(await read(app, '/api/advanced-dashboard-data', auth(ADMIN_TOKEN)), 2);
    assert.match(message, /token 'admin' sent more than 2 read requests in 10 s; slow down/);
    assert.match(message, /rate_limit\.token\.read/);
    assert.doesNotMatch(message, /batches/);
    // A reader's budget is its own.
    assert.equal((await read(app, '/api/stats', auth(READER_TOKEN))).statusCode, 200);
    // Admin routes count as reads; the compatibility API's routes are limited too.
    expect429(await app.inject({ method: 'DELETE', url: '/api/logs?before=2000-01-01T00:00:00Z', headers: auth(ADMIN_TOKEN) }), 2);
    expect429(await read(app, '/stats', auth(ADMIN_TOKEN)), 2);
    // So are the scrape, and the other protocols' ingest doors.
    expect429(await read(app, '/metrics', auth(ADMIN_TOKEN)), 2);
    const push = (url: string, payload: unknown) =>
      app.inject({ method: 'POST', url, payload: JSON.stringify(payload), headers: { 'content-type': 'application/json', ...auth(ADMIN_TOKEN) } });
    expect429(await push('/loki/api/v1/push', { streams: [] }), 3);
    expect429(await push('/v1/logs', { resourceLogs: [] }), 3);
    expect429(await push('/_bulk', {}), 3);
  });

  test('/health, /api/ui-config and the dashboard files are never limited', async () => {
    const app = await build({ rate_limit: { ...BUDGETS, anonymous: { ingest: 1, read: 1 } } });
    assert.equal((await read(app, '/api/stats')).statusCode, 200);
    expect429(await read(app, '/api/stats'), 1);
    for (let i = 0; i < 20; i++) {
      for (const url of ['/health', '/api/ui-config', '/', '/index.html', '/assets/app-1234.js']) {
        const res = await read(app, url);
        assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
      }
    }
  });

  test('the window ends on the limiter clock: Retry-After counts down, then the budget is back', async () => {
    mock.timers.enable({ apis: ['Date'], now: Date.parse('2024-01-15T14:30:00Z') });
    try {
      const app = await build();
      for (let i = 0; i < 3; i++) assert.equal((await ingest(app, auth(INGEST_TOKEN))).statusCode, 201);
      assert.equal((await ingest(app, auth(INGEST_TOKEN))).headers['retry-after'], '10');
      mock.timers.tick(4_000);
      const later = await ingest(app, auth(INGEST_TOKEN));
      expect429(later, 3);
      assert.equal(later.headers['retry-after'], '6');
      mock.timers.tick(6_000);
      for (let i = 0; i < 3; i++) assert.equal((await ingest(app, auth(INGEST_TOKEN))).statusCode, 201, `after the window, request ${i}`);
      expect429(await ingest(app, auth(INGEST_TOKEN)), 3);
    } finally {
      mock.timers.reset();
    }
  });

  test('two tokens with the same name have a budget each', async () => {
    const a = 'shared-name-token-aaaaaaaa';
    const b = 'shared-name-token-bbbbbbbb';
    const app = await build({
      auth: { tokens: [{ token: a, service: 'api', scopes: ['ingest'] }, { token: b, service: 'api', scopes: ['ingest'] }] },
    });
    const send = (token: string): Promise<LightMyRequestResponse> => app.inject({
      method: 'POST',
      url: '/api/logs',
      payload: JSON.stringify(log({ service: 'api' })),
      headers: { 'content-type': 'application/json', ...auth(token) },
    });
    for (let i = 0; i < 3; i++) assert.equal((await send(a)).statusCode, 201);
    expect429(await send(a), 3);
    for (let i = 0; i < 3; i++) assert.equal((await send(b)).statusCode, 201);
  });

  test('behind a trusted proxy, anonymous callers are told apart by X-Forwarded-For', async () => {
    const app = await build({ server: { trust_proxy: true } });
    const from = (client: string): Promise<LightMyRequestResponse> => ingest(app, { 'x-forwarded-for': client }, '127.0.0.1');
    for (let i = 0; i < 4; i++) assert.equal((await from('203.0.113.7')).statusCode, 201);
    const refused = expect429(await from('203.0.113.7'), 4);
    assert.match(refused, /anonymous client 203\.0\.113\.7/);
    assert.equal((await from('203.0.113.8')).statusCode, 201);
  });

  test('rate_limit.enabled: false lets everything through', async () => {
    const app = await build({ rate_limit: { ...BUDGETS, enabled: false } });
    for (let i = 0; i < 20; i++) assert.equal((await ingest(app, auth(INGEST_TOKEN))).statusCode, 201);
    assert.deepEqual((await read(app, '/health')).json().rate_limit, { enabled: false, refused: 0 });
  });

  test('the defaults leave room for a busy shipper and a polling dashboard', async () => {
    // The test helpers turn the limiter off; on, with every other setting at its default.
    const app = await build({ rate_limit: { enabled: true } });
    const config = app.config.rate_limit;
    assert.deepEqual(config, DEFAULTS.rate_limit);
    assert.deepEqual(config, {
      enabled: true,
      window_seconds: 10,
      token: { ingest: 10_000, read: 1_000 },
      anonymous: { ingest: 10_000, read: 1_000 },
    });
    // A shipper batching every second and a dashboard tab polling three routes every 5 s use a
    // few percent of one window's budget.
    for (let i = 0; i < 10; i++) assert.equal((await ingest(app)).statusCode, 201);
    for (let i = 0; i < 6; i++) {
      for (const url of ['/api/advanced-dashboard-data', '/api/alerts?status=resolved', '/api/logs?limit=50']) {
        assert.equal((await read(app, url)).statusCode, 200);
      }
    }
  });
});
