import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../server/app.js';
import { READER_TOKEN, ManualClock, auth, buildTestApp, log, testConfig } from '../helpers.js';

/** Signs of a leaked stack trace or internal path in a reply body. */
function assertNoStack(res: LightMyRequestResponse, what: string): void {
  const body = res.body;
  assert.doesNotMatch(body, /\n\s+at\s/, `${what}: stack frame in body`);
  assert.doesNotMatch(body, /\bat [\w.<>]+ \(/, `${what}: stack frame in body`);
  assert.doesNotMatch(body, /"stack"/, `${what}: stack property in body`);
  assert.doesNotMatch(body, /\.(?:ts|js|mjs):\d+/, `${what}: source location in body`);
  assert.doesNotMatch(body, /node_modules|\/work\/|server\/core/, `${what}: internal path in body`);
}

function assertErrorBody(res: LightMyRequestResponse, status: number, what: string): { error: string; code: string } {
  assert.equal(res.statusCode, status, `${what}: ${res.body.slice(0, 300)}`);
  assert.match(String(res.headers['content-type']), /^application\/json/, what);
  const body = res.json();
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error'], what);
  assert.equal(typeof body.error, 'string', what);
  assert.ok(body.error.length > 0, what);
  assert.match(body.code, /^[A-Z_]+$/, what);
  assertNoStack(res, what);
  return body;
}

describe('unknown routes', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildTestApp());
  });
  after(async () => {
    await app.close();
  });

  test('are 404 JSON {error, code: NOT_FOUND} naming the method and path', async () => {
    const cases: Array<[InjectOptions['method'], string]> = [
      ['GET', '/nope'],
      ['GET', '/api/nope'],
      ['GET', '/api/logs/123'],
      ['POST', '/api/stats'],
      ['PUT', '/api/logs'],
      ['PATCH', '/logs'],
      ['DELETE', '/stats'],
      ['GET', '/api/simulate-logs'],
      ['POST', '/health'],
    ];
    for (const [method, url] of cases) {
      const res = await app.inject({ method, url: `${url}?x=1` });
      const body = assertErrorBody(res, 404, `${method} ${url}`);
      assert.equal(body.code, 'NOT_FOUND');
      assert.ok(body.error.includes(`${method} ${url}`), body.error);
      assert.equal(body.error.includes('x=1'), false);
    }
  });

  test('a trailing slash still reaches the route', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/api/stats/' })).statusCode, 200);
    assert.equal((await app.inject({ method: 'GET', url: '/health/' })).statusCode, 200);
  });
});

describe('client errors never leak internals', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildTestApp({ limits: { max_body_bytes: 4096, max_batch_items: 3 } }));
  });
  after(async () => {
    await app.close();
  });

  test('every kind of error reply is {error, code} JSON with no stack trace', async () => {
    const json = { 'content-type': 'application/json' };
    const cases: Array<[string, InjectOptions, number]> = [
      ['broken JSON', { method: 'POST', url: '/api/logs', payload: '{"a":', headers: json }, 400],
      ['__proto__', { method: 'POST', url: '/api/logs', payload: '{"__proto__":{}}', headers: json }, 400],
      ['empty JSON body', { method: 'POST', url: '/api/logs', payload: '', headers: json }, 400],
      ['non-object body', { method: 'POST', url: '/api/logs', payload: '42', headers: json }, 400],
      ['empty batch', { method: 'POST', url: '/api/logs', payload: '[]', headers: json }, 400],
      ['415', { method: 'POST', url: '/api/logs', payload: 'hi', headers: { 'content-type': 'text/plain' } }, 415],
      ['413 body', { method: 'POST', url: '/api/logs', payload: JSON.stringify(log({ message: 'x'.repeat(5000) })), headers: json }, 413],
      ['413 batch', { method: 'POST', url: '/api/logs', payload: JSON.stringify([log(), log(), log(), log()]), headers: json }, 413],
      ['bad limit', { method: 'GET', url: '/api/logs?limit=abc' }, 400],
      ['unknown param', { method: 'GET', url: '/api/logs?foo=bar' }, 400],
      ['bad minutes', { method: 'GET', url: '/api/time-series?minutes=999' }, 400],
      ['bad minutes (dashboard)', { method: 'GET', url: '/api/advanced-dashboard-data?minutes=x' }, 400],
      ['delete without before', { method: 'DELETE', url: '/api/logs', headers: auth('test-admin-token-000000') }, 400],
      ['wrong token', { method: 'GET', url: '/api/logs', headers: auth('nope') }, 401],
      ['malformed auth', { method: 'GET', url: '/api/logs', headers: { authorization: 'Basic x' } }, 401],
      ['anonymous delete', { method: 'DELETE', url: '/api/logs?before=2024-01-01' }, 401],
      ['reader ingest', { method: 'POST', url: '/api/logs', payload: JSON.stringify(log()), headers: { ...json, ...auth(READER_TOKEN) } }, 403],
      ['bound service mismatch', { method: 'POST', url: '/api/logs', payload: JSON.stringify(log({ service: 'x' })), headers: { ...json, ...auth('auth-service-token-001') } }, 403],
      ['simulate bad type', { method: 'POST', url: '/api/simulate-errors', payload: '{"count":"50"}', headers: json }, 400],
      ['simulate array', { method: 'POST', url: '/api/simulate-logs', payload: '[]', headers: json }, 400],
      ['legacy no token', { method: 'GET', url: '/logs' }, 401],
      ['legacy bad filter', { method: 'GET', url: '/logs?timestamp_start=x', headers: auth('auth-service-token-001') }, 400],
    ];
    for (const [what, opts, status] of cases) assertErrorBody(await app.inject(opts), status, what);
  });

  test('validation failures (the single-log shape) carry no stack either', async () => {
    const single = await app.inject({ method: 'POST', url: '/api/logs', payload: JSON.stringify({ level: 'INFO' }), headers: { 'content-type': 'application/json' } });
    assert.equal(single.statusCode, 400);
    assert.equal(single.json().status, 'invalid');
    assertNoStack(single, 'single invalid');
    const batch = await app.inject({ method: 'POST', url: '/api/logs', payload: '{"x":\n{broken', headers: { 'content-type': 'application/x-ndjson' } });
    assert.equal(batch.statusCode, 400);
    assertNoStack(batch, 'ndjson invalid');
  });
});

describe('server errors', () => {
  test('an unexpected error is a 500 {error, code: INTERNAL} quoting the request id, without the message or stack', async () => {
    const clock = new ManualClock();
    const app = await buildApp(testConfig(), { now: clock.now });
    try {
      app.get('/test-only/boom', async () => {
        throw new Error('secret detail: db password is hunter2');
      });
      app.get('/test-only/type-error', async () => {
        const missing = undefined as unknown as { deref: () => string };
        return missing.deref();
      });
      await app.ready();
      for (const url of ['/test-only/boom', '/test-only/type-error']) {
        const res = await app.inject({ method: 'GET', url });
        const body = assertErrorBody(res, 500, url);
        assert.equal(body.code, 'INTERNAL');
        assert.match(body.error, /request id \S+/);
        assert.equal(res.body.includes('hunter2'), false);
        assert.equal(res.body.includes('deref'), false);
      }
    } finally {
      await app.close();
    }
  });
});
