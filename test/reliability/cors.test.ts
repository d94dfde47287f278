import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { resolveConfig } from '../../server/config.js';
import { buildTestApp } from '../helpers.js';

/** CORS: off unless `cors.origins` lists origins; then those (or any, with `*`) get the headers, preflights included. */

const DASHBOARD = 'https://dash.example.com';
const OTHER = 'https://evil.example.net';

const apps: FastifyInstance[] = [];
after(async () => {
  for (const app of apps) await app.close();
});

async function build(origins?: string[]): Promise<FastifyInstance> {
  const { app } = await buildTestApp(origins === undefined ? {} : { cors: { origins } });
  apps.push(app);
  return app;
}

function corsHeaders(res: LightMyRequestResponse): string[] {
  return Object.keys(res.headers).filter((h) => h.startsWith('access-control-'));
}

function preflight(app: FastifyInstance, origin: string): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'OPTIONS',
    url: '/api/logs',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
  });
}

describe('CORS', () => {
  test('off by default: no CORS header on any answer, and no preflight route', async () => {
    const app = await build();
    for (const res of [
      await app.inject({ method: 'GET', url: '/api/stats', headers: { origin: DASHBOARD } }),
      await app.inject({ method: 'POST', url: '/api/logs', headers: { origin: DASHBOARD, 'content-type': 'application/json' }, payload: '{}' }),
      await app.inject({ method: 'GET', url: '/health', headers: { origin: DASHBOARD } }),
    ]) {
      assert.deepEqual(corsHeaders(res), []);
    }
    const pre = await preflight(app, DASHBOARD);
    assert.equal(pre.statusCode, 404);
    assert.deepEqual(corsHeaders(pre), []);
  });

  test('a configured origin gets the headers on answers and errors, and its preflight is answered', async () => {
    const app = await build([DASHBOARD, 'http://localhost:8080']);
    const res = await app.inject({ method: 'GET', url: '/api/stats', headers: { origin: DASHBOARD } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['access-control-allow-origin'], DASHBOARD);
    assert.match(String(res.headers.vary), /Origin/i);
    assert.match(String(res.headers['access-control-expose-headers']), /Retry-After/);
    assert.equal(res.headers['access-control-allow-credentials'], undefined, 'tokens travel in a header, never cookies');

    // An error is readable by the page too (it can show "who are you?").
    const denied = await app.inject({ method: 'GET', url: '/api/stats', headers: { origin: DASHBOARD, authorization: 'Bearer nope-nope-nope-nope' } });
    assert.equal(denied.statusCode, 401);
    assert.equal(denied.headers['access-control-allow-origin'], DASHBOARD);

    const pre = await preflight(app, DASHBOARD);
    assert.equal(pre.statusCode, 204, pre.body);
    assert.equal(pre.headers['access-control-allow-origin'], DASHBOARD);
    assert.match(String(pre.headers['access-control-allow-methods']), /POST/);
    assert.match(String(pre.headers['access-control-allow-methods']), /DELETE/);
    assert.match(String(pre.headers['access-control-allow-headers']), /Authorization/i);
    assert.match(String(pre.headers['access-control-allow-headers']), /Content-Type/i);
    // A page resuming a live tail sends Last-Event-ID.
    assert.match(String(pre.headers['access-control-allow-headers']), /Last-Event-ID/i);
    assert.equal(pre.headers['access-control-max-age'], '600');

    const local = await app.inject({ method: 'GET', url: '/api/stats', headers: { origin: 'http://localhost:8080' } });
    assert.equal(local.headers['access-control-allow-origin'], 'http://localhost:8080');
  });

  test('an origin not listed gets no allow-origin header', async () => {
    const app = await build([DASHBOARD]);
    const res = await app.inject({ method: 'GET', url: '/api/stats', headers: { origin: OTHER } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    const pre = await preflight(app, OTHER);
    assert.equal(pre.headers['access-control-allow-origin'], undefined);
  });

  test('`*` allows any origin, explicitly', async () => {
    const app = await build(['*']);
    const res = await app.inject({ method: 'GET', url: '/api/stats', headers: { origin: OTHER } });
    assert.equal(res.headers['access-control-allow-origin'], '*');
    const pre = await preflight(app, OTHER);
    assert.equal(pre.statusCode, 204);
    assert.equal(pre.headers['access-control-allow-origin'], '*');
  });

  test('an origin must be scheme://host[:port] or *', () => {
    for (const bad of ['dash.example.com', 'https://dash.example.com/', 'https://dash.example.com/app', 'ftp://x.example', '']) {
      assert.throws(() => resolveConfig({ cors: { origins: [bad] } }), /^Error: config: cors\.origins\.0 must match pattern/, bad);
    }
    assert.throws(() => resolveConfig({ cors: { origins: 'https://dash.example.com' } }), /cors\.origins must be array/);
    assert.throws(() => resolveConfig({ cors: { origin: [] } }), /cors\.origin is not a known key/);
  });
});
