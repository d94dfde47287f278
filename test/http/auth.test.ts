import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { ADMIN_TOKEN, AUTH_SERVICE_TOKEN, INGEST_TOKEN, READER_TOKEN, auth, buildTestApp, log, postJson } from '../helpers.js';

async function totalLogs(app: FastifyInstance): Promise<number> {
  return (await app.inject({ method: 'GET', url: '/health' })).json().total_logs as number;
}

function expect401(res: LightMyRequestResponse, code: string): void {
  assert.equal(res.statusCode, 401, res.body);
  const body = res.json();
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error']);
  assert.equal(body.code, code);
  assert.match(body.error, /Who are you\?/);
  assert.match(String(res.headers['www-authenticate']), /^Bearer /);
}

describe('auth: schemes and tokens', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildTestApp());
  });
  after(async () => {
    await app.close();
  });

  test('`Authorization: Token x` and `Bearer x` both work, case-insensitively', async () => {
    for (const header of [`Token ${INGEST_TOKEN}`, `Bearer ${INGEST_TOKEN}`, `token ${INGEST_TOKEN}`, `BEARER  ${INGEST_TOKEN}`]) {
      const res = await postJson(app, '/api/logs', log({ message: header }), { authorization: header });
      assert.equal(res.statusCode, 201, header);
    }
    for (const header of [`Token ${READER_TOKEN}`, `Bearer ${READER_TOKEN}`]) {
      const res = await app.inject({ method: 'GET', url: '/api/logs', headers: { authorization: header } });
      assert.equal(res.statusCode, 200, header);
    }
    const seed000 = await postJson(app, '/api/logs', log({ service: 'auth-service' }), { authorization: `Token ${AUTH_SERVICE_TOKEN}` });
    assert.equal(seed000.statusCode, 201);
  });

  test('a wrong token is 401 even on routes anonymous callers may use', async () => {
    const before = await totalLogs(app);
    const wrong = { authorization: 'Bearer not-a-real-token' };
    expect401(await app.inject({ method: 'GET', url: '/api/logs', headers: wrong }), 'AUTH_INVALID_TOKEN');
    expect401(await postJson(app, '/api/logs', log(), wrong), 'AUTH_INVALID_TOKEN');
    expect401(await app.inject({ method: 'GET', url: '/api/stats', headers: wrong }), 'AUTH_INVALID_TOKEN');
    expect401(await app.inject({ method: 'GET', url: '/api/time-series', headers: wrong }), 'AUTH_INVALID_TOKEN');
    expect401(await app.inject({ method: 'GET', url: '/api/advanced-dashboard-data', headers: wrong }), 'AUTH_INVALID_TOKEN');
    expect401(await app.inject({ method: 'GET', url: '/api/validation-stats', headers: wrong }), 'AUTH_INVALID_TOKEN');
    expect401(await postJson(app, '/api/simulate-logs', { count: 5 }, wrong), 'AUTH_INVALID_TOKEN');
    // A near miss of a real token is still wrong.
    expect401(await app.inject({ method: 'GET', url: '/api/logs', headers: auth(`${ADMIN_TOKEN}x`) }), 'AUTH_INVALID_TOKEN');
    expect401(await app.inject({ method: 'GET', url: '/api/logs', headers: auth(ADMIN_TOKEN.toUpperCase()) }), 'AUTH_INVALID_TOKEN');
    assert.equal(await totalLogs(app), before);
  });

  test('a malformed Authorization header is 401', async () => {
    for (const header of ['Basic dXNlcg==', 'Basic dXNlcjo=', 'Bearer', 'Token', `Token ${INGEST_TOKEN} extra`, INGEST_TOKEN, 'Bearer: abc']) {
      expect401(await app.inject({ method: 'GET', url: '/api/logs', headers: { authorization: header } }), 'AUTH_MALFORMED');
      expect401(await postJson(app, '/api/logs', log(), { authorization: header }), 'AUTH_MALFORMED');
    }
  });

  test('Basic carries the token as its password, with any user name; Bearer and Token work the same', async () => {
    const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
    for (const headers of [basic('any-user', INGEST_TOKEN), basic('', INGEST_TOKEN), { authorization: `Bearer ${INGEST_TOKEN}` }, { authorization: `token ${INGEST_TOKEN}` }]) {
      assert.equal((await postJson(app, '/api/logs', log(), headers)).statusCode, 201, headers.authorization);
    }
    // A reader's token as the password has the reader's scopes, not more.
    const reader = await postJson(app, '/api/logs', log(), basic('x', READER_TOKEN));
    assert.equal(reader.statusCode, 403);
    assert.equal(reader.json().code, 'AUTH_SCOPE');
    expect401(await app.inject({ method: 'GET', url: '/api/logs', headers: basic(INGEST_TOKEN, 'wrong') }), 'AUTH_INVALID_TOKEN');
  });

  test('the 401 does not echo the token sent', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/logs', headers: auth('secret-guess-123') });
    assert.equal(res.statusCode, 401);
    assert.equal(res.body.includes('secret-guess-123'), false);
  });

  test('a token bound to auth-service posting a payment-service log is 403 naming both; nothing stored', async () => {
    const before = await totalLogs(app);
    const single = await postJson(app, '/api/logs', log({ service: 'payment-service' }), auth(AUTH_SERVICE_TOKEN));
    assert.equal(single.statusCode, 403);
    assert.equal(single.json().code, 'SERVICE_MISMATCH');
    assert.match(single.json().error, /'auth-service'/);
    assert.match(single.json().error, /'payment-service'/);

    const mixed = await postJson(app, '/api/logs', [log({ service: 'auth-service' }), log({ service: 'payment-service' })], auth(AUTH_SERVICE_TOKEN));
    assert.equal(mixed.statusCode, 403);
    assert.match(mixed.json().error, /payment-service/);

    const nd = await app.inject({
      method: 'POST',
      url: '/api/logs',
      payload: `${JSON.stringify(log({ service: 'auth-service' }))}\n${JSON.stringify(log({ service: 'payment-service' }))}\n`,
      headers: { 'content-type': 'application/x-ndjson', ...auth(AUTH_SERVICE_TOKEN) },
    });
    assert.equal(nd.statusCode, 403);

    assert.equal(await totalLogs(app), before);
    const stored = (await app.inject({ method: 'GET', url: '/api/logs?service=payment-service' })).json();
    assert.equal(stored.count, 0);
  });

  test('an unbound ingest token may ship any service', async () => {
    const res = await postJson(app, '/api/logs', [log({ service: 'payment-service' }), log({ service: 'billing' })], auth(INGEST_TOKEN));
    assert.equal(res.statusCode, 201);
    assert.equal(res.json().accepted, 2);
  });

  test('scopes: a reader token cannot ingest (403), an ingest-only token cannot read (403)', async () => {
    const before = await totalLogs(app);
    const reader = await postJson(app, '/api/logs', log(), auth(READER_TOKEN));
    assert.equal(reader.statusCode, 403);
    assert.equal(reader.json().code, 'AUTH_SCOPE');
    assert.match(reader.json().error, /'ingest'/);
    assert.equal(await totalLogs(app), before);

    for (const url of ['/api/logs', '/api/stats', '/api/time-series', '/api/advanced-dashboard-data', '/api/validation-stats']) {
      const res = await app.inject({ method: 'GET', url, headers: auth(INGEST_TOKEN) });
      assert.equal(res.statusCode, 403, url);
      assert.match(res.json().error, /'read'/);
    }
  });

  test('/health is public and ignores the Authorization header', async () => {
    const anon = await app.inject({ method: 'GET', url: '/health' });
    assert.equal(anon.statusCode, 200);
    assert.equal(anon.json().status, 'healthy');
    const reader = await app.inject({ method: 'GET', url: '/health', headers: auth(READER_TOKEN) });
    assert.equal(reader.statusCode, 200);
  });
});

describe('auth: anonymous_scopes', () => {
  test('with anonymous_scopes [] anonymous callers get 401 on /api, tokens still work, /health stays public', async () => {
    const { app } = await buildTestApp({ auth: { anonymous_scopes: [] } });
    try {
      expect401(await app.inject({ method: 'GET', url: '/api/logs' }), 'AUTH_REQUIRED');
      expect401(await postJson(app, '/api/logs', log()), 'AUTH_REQUIRED');
      expect401(await app.inject({ method: 'GET', url: '/api/stats' }), 'AUTH_REQUIRED');
      expect401(await app.inject({ method: 'GET', url: '/api/advanced-dashboard-data' }), 'AUTH_REQUIRED');
      const health = await app.inject({ method: 'GET', url: '/health' });
      assert.equal(health.statusCode, 200);
      assert.equal(health.json().total_logs, 0);

      assert.equal((await postJson(app, '/api/logs', log(), auth(INGEST_TOKEN))).statusCode, 201);
      const read = await app.inject({ method: 'GET', url: '/api/logs', headers: auth(READER_TOKEN) });
      assert.equal(read.statusCode, 200);
      assert.equal(read.json().count, 1);
    } finally {
      await app.close();
    }
  });

  test('with anonymous_scopes [read] anonymous callers may read but not ingest', async () => {
    const { app } = await buildTestApp({ auth: { anonymous_scopes: ['read'] } });
    try {
      expect401(await postJson(app, '/api/logs', log()), 'AUTH_REQUIRED');
      assert.equal((await app.inject({ method: 'GET', url: '/api/logs' })).statusCode, 200);
      assert.equal((await app.inject({ method: 'GET', url: '/api/stats' })).statusCode, 200);
      assert.equal(await totalLogs(app), 0);
    } finally {
      await app.close();
    }
  });

  test('with the default anonymous scopes (the shipped config), anonymous ingest and read work but delete needs admin', async () => {
    const { app } = await buildTestApp();
    try {
      assert.equal((await postJson(app, '/api/logs', log())).statusCode, 201);
      assert.equal((await app.inject({ method: 'GET', url: '/api/logs' })).statusCode, 200);
      expect401(await app.inject({ method: 'DELETE', url: '/api/logs?before=2030-01-01' }), 'AUTH_REQUIRED');
      const admin = await app.inject({ method: 'DELETE', url: '/api/logs?before=2030-01-01', headers: auth(ADMIN_TOKEN) });
      assert.equal(admin.statusCode, 200);
      assert.deepEqual(admin.json(), { deleted: 1, message: '1 log(s) deleted' });
    } finally {
      await app.close();
    }
  });

  test('an empty Authorization header counts as no token', async () => {
    const { app } = await buildTestApp();
    try {
      assert.equal((await app.inject({ method: 'GET', url: '/api/logs', headers: { authorization: '' } })).statusCode, 200);
    } finally {
      await app.close();
    }
  });
});
