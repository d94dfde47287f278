import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../server/app.js';
import { PROJECT_ROOT } from '../../server/schemas.js';
import { StorageError } from '../../server/core/repository.js';
import { ADMIN_TOKEN, AUTH_SERVICE_TOKEN, ManualClock, READER_TOKEN, auth, buildTestApp, log, testConfig } from '../helpers.js';

/**
 * Error answers say what the caller needs and nothing about the server's insides: no stack,
 * no file path, no internal message. A 5xx quotes a request id (body and `x-request-id`) and
 * the details go to the server log under that id.
 */

interface LogLine {
  level: number;
  msg: string;
  reqId?: string;
  err?: { message?: string; stack?: string; type?: string };
  [key: string]: unknown;
}

/** Points the app's pino logger (and so every request's child logger) at an array instead of stdout. */
function captureLogs(app: FastifyInstance): { lines: () => LogLine[]; raw: () => string } {
  const streamSym = Object.getOwnPropertySymbols(app.log).find((s) => s.description === 'pino.stream');
  assert.ok(streamSym, "pino keeps its destination under Symbol('pino.stream')");
  const chunks: string[] = [];
  (app.log as unknown as Record<symbol, unknown>)[streamSym] = { write: (chunk: string) => void chunks.push(chunk) };
  return {
    raw: () => chunks.join(''),
    lines: () => chunks.join('').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as LogLine),
  };
}

const TEMP = tmpdir();

/** Signs of a stack trace, a source location or a server path in an answer. */
function assertNoLeak(res: LightMyRequestResponse, what: string): void {
  const body = res.body;
  assert.doesNotMatch(body, /\n\s+at\s/, `${what}: stack frame`);
  assert.doesNotMatch(body, /\bat [\w.<>$]+ \(/, `${what}: stack frame`);
  assert.doesNotMatch(body, /"stack"/, `${what}: stack property`);
  assert.doesNotMatch(body, /\.(?:ts|js|mjs|cjs|node):\d+/, `${what}: source location`);
  assert.doesNotMatch(body, /node_modules|file:\/\//, `${what}: module path`);
  assert.equal(body.includes(PROJECT_ROOT), false, `${what}: the project's absolute path`);
  assert.equal(body.includes(TEMP), false, `${what}: a temporary path`);
  assert.doesNotMatch(body, /(?:^|[\s'"(=:])\/(?:home|root|usr|var|etc|tmp|work|srv|opt|app|data|proc)\/[\w.-]/, `${what}: an absolute path`);
}

function assertErrorReply(res: LightMyRequestResponse, status: number, what: string): { error: string; code: string } {
  assert.equal(res.statusCode, status, `${what}: ${res.body.slice(0, 300)}`);
  assert.match(String(res.headers['content-type']), /^application\/json/, what);
  const body = res.json() as { error: string; code: string };
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error'], what);
  assert.match(body.code, /^[A-Z_]+$/, what);
  assert.ok(res.headers['x-request-id'], `${what}: x-request-id`);
  assertNoLeak(res, what);
  return body;
}

const SECRET = 'hunter2-db-password';
const INTERNAL_PATH = join(PROJECT_ROOT, 'data', 'secret.db');

describe('internal errors: a generic 500 quoting the request id, the details logged under it', () => {
  let app: FastifyInstance;
  let logs: ReturnType<typeof captureLogs>;
  before(async () => {
    app = await buildApp(testConfig({ server: { log_level: 'info' } }), { now: new ManualClock().now });
    logs = captureLogs(app);
    app.get('/test-only/throw', async () => {
      throw new Error(`ENOENT: no such file or directory, open '${INTERNAL_PATH}' (password ${SECRET})`);
    });
    app.get('/test-only/reject-later', async () => {
      await new Promise((resolve) => setImmediate(resolve));
      const missing = undefined as unknown as { deref: () => string };
      return missing.deref();
    });
    app.get('/test-only/throw-with-5xx-status', async () => {
      throw Object.assign(new Error(`upstream ${INTERNAL_PATH} failed: ${SECRET}`), { statusCode: 503, code: 'EUPSTREAM' });
    });
    app.get('/test-only/throw-a-string', async () => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error
      throw `raw ${INTERNAL_PATH} ${SECRET}`;
    });
    await app.ready();
  });
  after(() => app.close());

  const routes = ['/test-only/throw', '/test-only/reject-later', '/test-only/throw-with-5xx-status', '/test-only/throw-a-string'];
  for (const url of routes) {
    test(`GET ${url}: 500 INTERNAL, no message, path or stack; logged at error with the request id`, async () => {
      const res = await app.inject({ method: 'GET', url, headers: auth(ADMIN_TOKEN) });
      const body = assertErrorReply(res, 500, url);
      assert.equal(body.code, 'INTERNAL');
      assert.equal(res.body.includes(SECRET), false);
      assert.equal(res.body.includes('deref'), false);
      assert.equal(res.body.includes('ENOENT'), false);
      const id = String(res.headers['x-request-id']);
      assert.equal(body.error, `internal error; quote request id ${id} when reporting it`);

      const logged = logs.lines().filter((l) => l.reqId === id && l.level === 50);
      assert.equal(logged.length, 1, `one error line for ${id}: ${logs.raw()}`);
      const line = logged[0]!;
      assert.equal(line.msg, 'request failed');
      const detail = JSON.stringify(line.err);
      assert.ok(detail.includes(url.endsWith('later') ? 'deref' : SECRET), `the log has what the answer left out: ${detail}`);
      if (url !== '/test-only/throw-a-string') assert.match(String(line.err?.stack), /\n\s+at /, 'the log has the stack');
    });
  }

  test('a core method that throws (stubbed query) behind a real route is the same generic 500', async () => {
    const original = app.core.query.bind(app.core);
    app.core.query = () => {
      throw new Error(`SQLITE_CORRUPT: ${INTERNAL_PATH} is malformed`);
    };
    try {
      for (const url of ['/api/logs', '/logs']) {
        const res = await app.inject({ method: 'GET', url, headers: auth(ADMIN_TOKEN) });
        const body = assertErrorReply(res, 500, url);
        assert.equal(body.code, 'INTERNAL');
        assert.equal(res.body.includes('SQLITE'), false);
        const id = String(res.headers['x-request-id']);
        assert.ok(body.error.includes(id));
        assert.ok(logs.lines().some((l) => l.reqId === id && l.level === 50 && l.err?.message?.includes('SQLITE_CORRUPT')), 'logged with the request id');
      }
    } finally {
      app.core.query = original;
    }
  });

  test('every request gets its own id', async () => {
    const a = await app.inject({ method: 'GET', url: '/test-only/throw' });
    const b = await app.inject({ method: 'GET', url: '/test-only/throw' });
    assert.notEqual(a.headers['x-request-id'], b.headers['x-request-id']);
  });

  test('a client cannot choose the request id (no request-id header is trusted)', async () => {
    const res = await app.inject({ method: 'GET', url: '/test-only/throw', headers: { 'x-request-id': 'forged\n{"level":60}', 'request-id': 'forged' } });
    assert.ok(!String(res.headers['x-request-id']).includes('forged'));
    assert.equal(logs.raw().includes('forged'), false);
  });

  test('tokens never reach the log (Authorization is redacted, never echoed)', async () => {
    const wrong = 'guessed-token-never-logged-1234';
    await app.inject({ method: 'GET', url: '/api/stats', headers: auth(READER_TOKEN) });
    await app.inject({ method: 'GET', url: '/api/stats', headers: auth(wrong) });
    await app.inject({ method: 'GET', url: '/test-only/throw', headers: auth(READER_TOKEN) });
    const raw = logs.raw();
    assert.ok(raw.length > 0);
    for (const token of [READER_TOKEN, ADMIN_TOKEN, wrong]) assert.equal(raw.includes(token), false, `${token} in the log`);
  });
});

describe('known server-side failures (5xx with a code) keep the code, not the details', () => {
  test('storage failing: 503 STORAGE_UNAVAILABLE with Retry-After, no database path or driver message; the log has both', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'logsentinel-sec-'));
    const path = join(dir, 'logs.db');
    const { app } = await buildTestApp({ server: { log_level: 'info' }, storage: { persistence: { enabled: true, path } } });
    const logs = captureLogs(app);
    try {
      const repository = app.core.repository as unknown as { append: (logs: unknown) => Promise<void> };
      repository.append = async () => {
        throw new StorageError(`cannot write to the log database ${path}: database or disk is full`);
      };
      for (const [url, body, headers] of [
        ['/api/logs', log(), {}],
        ['/logs', { timestamp: '2024-01-15T14:29:00', service: 'auth-service', severity: 'INFO', message: 'x' }, auth(AUTH_SERVICE_TOKEN)],
      ] as const) {
        const res = await app.inject({ method: 'POST', url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
        const reply = assertErrorReply(res, 503, url);
        assert.equal(reply.code, 'STORAGE_UNAVAILABLE');
        assert.equal(res.headers['retry-after'], '5');
        assert.equal(reply.error.includes('disk is full'), false);
        const id = String(res.headers['x-request-id']);
        assert.match(reply.error, /nothing in this request was stored/);
        assert.ok(reply.error.includes(id), reply.error);
        const line = logs.lines().find((l) => l.reqId === id && l.level === 50);
        assert.ok(line !== undefined && JSON.stringify(line).includes(path) && JSON.stringify(line).includes('disk is full'), logs.raw());
      }
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('dashboard not built: 503 DASHBOARD_NOT_BUILT without the folder it looked in', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'logsentinel-sec-'));
    const { app } = await buildTestApp({}, { dashboardRoot: dir });
    try {
      const res = await app.inject({ method: 'GET', url: '/' });
      const body = assertErrorReply(res, 503, 'dashboard not built');
      assert.equal(body.code, 'DASHBOARD_NOT_BUILT');
      assert.equal(res.body.includes(dir), false);
      assert.match(body.error, /npm run build/);
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('client errors (4xx) carry no stack trace and no server path', () => {
  let app: FastifyInstance;
  before(async () => {
    app = await buildApp(testConfig({ limits: { max_body_bytes: 4096, max_batch_items: 3 } }), { now: new ManualClock().now });
    app.get('/test-only/library-400', async () => {
      // A library's client error whose message carries a location: the caller gets the status text.
      throw Object.assign(new Error(`invalid input at /usr/lib/node_modules/x/index.js:12:5\n    at parse (${INTERNAL_PATH}:3:1)`), { statusCode: 400 });
    });
    app.get('/test-only/library-429', async () => {
      // ... and one whose message is plain keeps it (what @fastify/rate-limit throws by default).
      throw Object.assign(new Error('Rate limit exceeded, retry in 1 minute'), { statusCode: 429 });
    });
    await app.ready();
  });
  after(() => app.close());

  const json = { 'content-type': 'application/json' };
  const admin = auth(ADMIN_TOKEN);
  const cases: Array<[string, InjectOptions, number]> = [
    ['broken JSON', { method: 'POST', url: '/api/logs', payload: '{"timestamp":', headers: json }, 400],
    ['JSON with a control character', { method: 'POST', url: '/api/logs', payload: '{"a":"\u0001"}', headers: json }, 400],
    ['__proto__ key', { method: 'POST', url: '/api/logs', payload: '{"__proto__":{"x":1}}', headers: json }, 400],
    ['constructor.prototype', { method: 'POST', url: '/api/logs', payload: '{"constructor":{"prototype":{"x":1}}}', headers: json }, 400],
    ['empty body', { method: 'POST', url: '/api/logs', payload: '', headers: json }, 400],
    ['wrong Content-Length', { method: 'POST', url: '/api/logs', payload: '{"a":1}', headers: { ...json, 'content-length': '3' } }, 400],
    ['body over max_body_bytes', { method: 'POST', url: '/api/logs', payload: JSON.stringify(log({ message: 'x'.repeat(5000) })), headers: json }, 413],
    ['NDJSON over max_body_bytes', { method: 'POST', url: '/api/logs', payload: `${JSON.stringify(log())}\n`.repeat(60), headers: { 'content-type': 'application/x-ndjson' } }, 413],
    ['batch over max_batch_items', { method: 'POST', url: '/api/logs', payload: JSON.stringify([log(), log(), log(), log()]), headers: json }, 413],
    ['unsupported Content-Type', { method: 'POST', url: '/api/logs', payload: 'a=b', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415],
    ['unknown route', { method: 'GET', url: '/api/nothing-here' }, 404],
    ['path traversal', { method: 'GET', url: '/assets/../../package.json' }, 404],
    ['encoded path traversal', { method: 'GET', url: '/assets/%2e%2e/%2e%2e/server/app.ts' }, 404],
    ['unknown method', { method: 'PUT', url: '/api/logs' }, 404],
    ['bad limit', { method: 'GET', url: '/api/logs?limit=-1' }, 400],
    ['unknown query parameter', { method: 'GET', url: '/api/logs?where=1' }, 400],
    ['repeated query parameter', { method: 'GET', url: '/api/logs?limit=1&limit=2' }, 400],
    ['bad date-time', { method: 'GET', url: '/api/logs?from=yesterday' }, 400],
    ['bad level', { method: 'GET', url: '/api/logs?level=LOUD' }, 400],
    ['bad minutes', { method: 'GET', url: '/api/time-series?minutes=100000' }, 400],
    ['bad alert status', { method: 'GET', url: '/api/alerts?status=maybe' }, 400],
    ['delete without before', { method: 'DELETE', url: '/api/logs', headers: admin }, 400],
    ['legacy bad filter', { method: 'GET', url: '/logs?timestamp_start=x', headers: auth(AUTH_SERVICE_TOKEN) }, 400],
    ['legacy bad offset', { method: 'GET', url: '/logs?offset=-5', headers: auth(AUTH_SERVICE_TOKEN) }, 400],
    ['silence bad duration', { method: 'POST', url: '/api/alerts/abc/silence', payload: '{"duration":"forever"}', headers: { ...json, ...admin } }, 400],
    ['silence unknown alert', { method: 'POST', url: '/api/alerts/abc/silence', payload: '{"duration":"5m"}', headers: { ...json, ...admin } }, 404],
    ['simulate wrong type', { method: 'POST', url: '/api/simulate-errors', payload: '{"count":"many"}', headers: json }, 400],
    ['simulate unknown key', { method: 'POST', url: '/api/simulate-logs', payload: '{"path":"/etc/passwd"}', headers: json }, 400],
    ['range past the end of an asset', { method: 'GET', url: '/favicon.svg', headers: { range: 'bytes=999999-' } }, 416],
    ['a library 400 with a path in its message', { method: 'GET', url: '/test-only/library-400' }, 400],
    ['a library 429', { method: 'GET', url: '/test-only/library-429' }, 429],
  ];
  for (const [what, opts, status] of cases) {
    test(`${what}: ${status} {error, code} with x-request-id, nothing internal`, async () => {
      const res = await app.inject(opts);
      const body = assertErrorReply(res, status, what);
      if (what === 'a library 429') assert.equal(body.error, 'Rate limit exceeded, retry in 1 minute');
      if (what === 'a library 400 with a path in its message') assert.equal(body.error, 'Bad Request');
    });
  }

  test('a single invalid log and a broken NDJSON line: the validation shape, nothing internal', async () => {
    const single = await app.inject({ method: 'POST', url: '/api/logs', payload: JSON.stringify({ level: 'INFO' }), headers: json });
    assert.equal(single.statusCode, 400);
    assert.equal(single.json().status, 'invalid');
    assertNoLeak(single, 'single invalid');
    const nd = await app.inject({ method: 'POST', url: '/api/logs', payload: '{"x":\n{broken\n', headers: { 'content-type': 'application/x-ndjson' } });
    assert.equal(nd.statusCode, 400);
    assertNoLeak(nd, 'ndjson invalid');
  });

  test('a URL that is not valid percent-encoding is a 400 with nothing internal', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/logs%zz' });
    assert.equal(res.statusCode, 400);
    assertNoLeak(res, 'bad URL');
  });

  test('a URL that is not valid percent-encoding gets the {error, code} shape and the security headers', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/logs%zz' });
    assertErrorReply(res, 400, 'bad URL');
    assert.equal(res.json().code, 'BAD_URL');
    assert.match(res.json().error, /percent-encoding/);
    assert.ok(res.headers['content-security-policy']);
  });
});
