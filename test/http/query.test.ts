import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { ADMIN_TOKEN, AUTH_SERVICE_TOKEN, INGEST_TOKEN, READER_TOKEN, auth, buildTestApp, log, postJson } from '../helpers.js';
import type { LogView } from '../../server/core/log.js';


async function get(app: FastifyInstance, url: string, headers: Record<string, string> = {}) {
  return app.inject({ method: 'GET', url, headers });
}

/** The ids GET /api/logs returns for `qs`, asserting a 200 and a consistent count. */
async function ids(app: FastifyInstance, qs: string): Promise<number[]> {
  const res = await get(app, `/api/logs${qs}`);
  assert.equal(res.statusCode, 200, `${qs}: ${res.body}`);
  const body = res.json();
  assert.equal(body.count, body.logs.length);
  return body.logs.map((l: LogView) => l.id);
}

async function expect400(app: FastifyInstance, url: string, param: string): Promise<string> {
  const res = await get(app, url);
  assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
  const body = res.json();
  assert.equal(body.code, 'INVALID_QUERY', url);
  assert.ok(body.error.includes(`'${param}'`), `${url}: error should name '${param}': ${body.error}`);
  return body.error as string;
}

/**
 * Six logs: ids 1-4 received at 14:30:00Z, ids 5-6 at 14:35:00Z.
 *   1 auth-service         INFO     14:00 u1  User logged in
 *   2 payment-service      ERROR    14:10 u2  Payment declined for order 42
 *   3 auth-service         WARNING  14:20 -   Failed login attempt
 *   4 notification-service CRITICAL 14:25 u1  SMTP relay down
 *   5 auth-service         ERROR    14:34 -   Token signature check failed
 *   6 payment-service      DEBUG    14:35 u2  Fraud score computed
 */
describe('GET /api/logs: filters', () => {
  let app: FastifyInstance;
  before(async () => {
    const built = await buildTestApp();
    app = built.app;
    const first = await postJson(app, '/api/logs', [
      log({ timestamp: '2024-01-15T14:00:00Z', level: 'INFO', service: 'auth-service', user_id: 'u1', message: 'User logged in' }),
      log({ timestamp: '2024-01-15T14:10:00Z', level: 'ERROR', service: 'payment-service', user_id: 'u2', message: 'Payment declined for order 42' }),
      log({ timestamp: '2024-01-15T14:20:00Z', level: 'WARNING', service: 'auth-service', message: 'Failed login attempt' }),
      log({ timestamp: '2024-01-15T14:25:00Z', level: 'CRITICAL', service: 'notification-service', user_id: 'u1', message: 'SMTP relay down' }),
    ]);
    assert.equal(first.statusCode, 201);
    built.clock.advance(5 * 60_000);
    const second = await postJson(app, '/api/logs', [
      log({ timestamp: '2024-01-15T14:34:00Z', level: 'ERROR', service: 'auth-service', message: 'Token signature check failed' }),
      log({ timestamp: '2024-01-15T14:35:00Z', level: 'DEBUG', service: 'payment-service', user_id: 'u2', message: 'Fraud score computed' }),
    ]);
    assert.equal(second.statusCode, 201);
  });
  after(async () => {
    await app.close();
  });

  test('no filter: newest first, reply shape {logs, count, next_cursor, next_before_id}', async () => {
    const res = await get(app, '/api/logs');
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.deepEqual(Object.keys(body).sort(), ['count', 'logs', 'next_before_id', 'next_cursor']);
    assert.equal(body.count, 6);
    assert.equal(body.next_before_id, null);
    assert.equal(body.next_cursor, null);
    assert.deepEqual(
      body.logs.map((l: LogView) => l.id),
      [6, 5, 4, 3, 2, 1],
    );
    assert.deepEqual(body.logs[0], {
      id: 6,
      timestamp: '2024-01-15T14:35:00Z',
      level: 'DEBUG',
      service: 'payment-service',
      message: 'Fraud score computed',
      user_id: 'u2',
      received_at: '2024-01-15T14:35:00.000Z',
      pattern_id: body.logs[0].pattern_id,
    });
    assert.ok(Number.isInteger(body.logs[0].pattern_id) && body.logs[0].pattern_id > 0);
    assert.equal(body.logs[2].received_at, '2024-01-15T14:30:00.000Z');
    assert.equal('user_id' in body.logs[1], false);
  });

  test('service: single, comma list and repeated', async () => {
    assert.deepEqual(await ids(app, '?service=auth-service'), [5, 3, 1]);
    assert.deepEqual(await ids(app, '?service=auth-service,payment-service'), [6, 5, 3, 2, 1]);
    assert.deepEqual(await ids(app, '?service=auth-service&service=payment-service'), [6, 5, 3, 2, 1]);
    assert.deepEqual(await ids(app, '?service=no-such-service'), []);
  });

  test('level: single, repeatable, comma list, case-insensitive', async () => {
    assert.deepEqual(await ids(app, '?level=ERROR'), [5, 2]);
    assert.deepEqual(await ids(app, '?level=error'), [5, 2]);
    assert.deepEqual(await ids(app, '?level=error&level=critical'), [5, 4, 2]);
    assert.deepEqual(await ids(app, '?level=Error,Critical'), [5, 4, 2]);
    assert.deepEqual(await ids(app, '?level=DEBUG,info&level=Warning'), [6, 3, 1]);
    const err = await expect400(app, '/api/logs?level=LOUD', 'level');
    assert.match(err, /DEBUG, INFO, WARNING, ERROR, CRITICAL/);
    await expect400(app, '/api/logs?level=ERROR,', 'level');
  });

  test('from/to filter event time, inclusive, accepting Z, offsets, naive (UTC) and dates', async () => {
    assert.deepEqual(await ids(app, '?from=2024-01-15T14:20:00Z'), [6, 5, 4, 3]);
    assert.deepEqual(await ids(app, '?to=2024-01-15T14:10:00Z'), [2, 1]);
    assert.deepEqual(await ids(app, '?from=2024-01-15T14:10:00Z&to=2024-01-15T14:25:00Z'), [4, 3, 2]);
    assert.deepEqual(await ids(app, '?from=2024-01-15T14:20:00'), [6, 5, 4, 3]);
    assert.deepEqual(await ids(app, `?from=${encodeURIComponent('2024-01-15T15:20:00+01:00')}`), [6, 5, 4, 3]);
    assert.deepEqual(await ids(app, '?from=2024-01-16'), []);
    assert.deepEqual(await ids(app, '?from=2024-01-15&to=2024-01-16'), [6, 5, 4, 3, 2, 1]);
  });

  test('received_from/received_to filter server receive time', async () => {
    assert.deepEqual(await ids(app, '?received_from=2024-01-15T14:35:00Z'), [6, 5]);
    assert.deepEqual(await ids(app, '?received_to=2024-01-15T14:30:00Z'), [4, 3, 2, 1]);
    assert.deepEqual(await ids(app, '?received_from=2024-01-15T14:31:00Z&received_to=2024-01-15T14:36:00Z'), [6, 5]);
    assert.deepEqual(await ids(app, '?received_to=2024-01-15T14:29:59Z'), []);
  });

  test('user_id matches exactly', async () => {
    assert.deepEqual(await ids(app, '?user_id=u1'), [4, 1]);
    assert.deepEqual(await ids(app, '?user_id=u2'), [6, 2]);
    assert.deepEqual(await ids(app, '?user_id=u'), []);
  });

  test('q is a case-insensitive literal substring of the message', async () => {
    assert.deepEqual(await ids(app, '?q=payment'), [2]);
    assert.deepEqual(await ids(app, '?q=FAILED'), [5, 3]);
    assert.deepEqual(await ids(app, '?q=login'), [3]);
    assert.deepEqual(await ids(app, `?q=${encodeURIComponent('order 42')}`), [2]);
    assert.deepEqual(await ids(app, `?q=${encodeURIComponent('.*')}`), []);
    assert.deepEqual(await ids(app, `?q=${encodeURIComponent('(')}`), []);
  });

  test('filters combine', async () => {
    assert.deepEqual(await ids(app, '?service=auth-service&level=ERROR'), [5]);
    assert.deepEqual(await ids(app, '?service=payment-service&user_id=u2&from=2024-01-15T14:30:00Z'), [6]);
    assert.deepEqual(await ids(app, '?level=ERROR,CRITICAL&received_to=2024-01-15T14:30:00Z&q=smtp'), [4]);
  });

  test('malformed dates are 400 naming the parameter', async () => {
    await expect400(app, '/api/logs?from=yesterday', 'from');
    await expect400(app, '/api/logs?to=2024-13-01T00:00:00Z', 'to');
    await expect400(app, '/api/logs?received_from=abc', 'received_from');
    await expect400(app, '/api/logs?received_to=2024-02-30', 'received_to');
    await expect400(app, '/api/logs?from=1700000000', 'from');
    await expect400(app, `/api/logs?to=${encodeURIComponent('2024-01-15T14:30:00+24:00')}`, 'to');
  });

  test('a repeated single-valued parameter is 400', async () => {
    for (const [qs, name] of [
      ['limit=1&limit=2', 'limit'],
      ['from=2024-01-15&from=2024-01-16', 'from'],
      ['user_id=u1&user_id=u2', 'user_id'],
      ['q=a&q=b', 'q'],
      ['before_id=3&before_id=4', 'before_id'],
    ] as const) {
      const err = await expect400(app, `/api/logs?${qs}`, name);
      assert.match(err, /more than once/);
    }
  });

  test('an unknown parameter is 400 naming it and listing the known ones', async () => {
    const err = await expect400(app, '/api/logs?foo=1', 'foo');
    assert.match(err, /known parameters: service, level, from, to, received_from, received_to, user_id, q, pattern, limit, cursor, before_id/);
    await expect400(app, '/api/logs?severity=ERROR', 'severity');
    await expect400(app, '/api/logs?__proto__=1', '__proto__');
  });

  test('an empty value is 400', async () => {
    await expect400(app, '/api/logs?q=', 'q');
    await expect400(app, '/api/logs?user_id=', 'user_id');
    await expect400(app, '/api/logs?service=', 'service');
  });
});

describe('GET /api/logs: limit and paging', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildTestApp());
    const res = await postJson(
      app,
      '/api/logs',
      Array.from({ length: 150 }, (_, i) => log({ message: `log #${i + 1}`, level: i % 3 === 0 ? 'ERROR' : 'INFO' })),
    );
    assert.equal(res.statusCode, 201);
    assert.equal(res.json().accepted, 150);
  });
  after(async () => {
    await app.close();
  });

  test('limit defaults to 100', async () => {
    const body = (await get(app, '/api/logs')).json();
    assert.equal(body.count, 100);
    assert.equal(body.logs[0].id, 150);
    assert.equal(body.logs[99].id, 51);
    assert.equal(body.next_before_id, 51);
  });

  test('limit 1 and the maximum 1000 are accepted', async () => {
    assert.deepEqual(await ids(app, '?limit=1'), [150]);
    const body = (await get(app, '/api/logs?limit=1000')).json();
    assert.equal(body.count, 150);
    assert.equal(body.next_before_id, null);
  });

  test('limit 1001, 0, -1, abc, 1.5 are each 400 naming limit', async () => {
    for (const v of ['1001', '0', '-1', 'abc', '1.5', '10e2']) {
      const err = await expect400(app, `/api/logs?limit=${v}`, 'limit');
      assert.match(err, /1 to 1000/);
    }
  });

  test('before_id paging via next_before_id covers every log exactly once', async () => {
    const seen: number[] = [];
    const pageSizes: number[] = [];
    let cursor: number | null = null;
    for (let guard = 0; guard < 20; guard++) {
      const qs: string = cursor === null ? '?limit=40' : `?limit=40&before_id=${cursor}`;
      const body = (await get(app, `/api/logs${qs}`)).json();
      pageSizes.push(body.count);
      seen.push(...body.logs.map((l: LogView) => l.id));
      cursor = body.next_before_id;
      if (cursor === null) break;
    }
    assert.equal(cursor, null);
    assert.deepEqual(pageSizes, [40, 40, 40, 30]);
    assert.deepEqual(
      seen,
      Array.from({ length: 150 }, (_, i) => 150 - i),
    );
  });

  test('paging with a filter covers every matching log exactly once', async () => {
    const seen: number[] = [];
    let cursor: number | null = null;
    for (let guard = 0; guard < 20; guard++) {
      const qs: string = `?level=ERROR&limit=7${cursor === null ? '' : `&before_id=${cursor}`}`;
      const body = (await get(app, `/api/logs${qs}`)).json();
      seen.push(...body.logs.map((l: LogView) => l.id));
      cursor = body.next_before_id;
      if (cursor === null) break;
    }
    const expected = Array.from({ length: 150 }, (_, i) => 150 - i).filter((id) => (id - 1) % 3 === 0);
    assert.equal(expected.length, 50);
    assert.deepEqual(seen, expected);
  });

  test('an exact final page has next_before_id null', async () => {
    const body = (await get(app, '/api/logs?limit=50&before_id=51')).json();
    assert.equal(body.count, 50);
    assert.equal(body.logs[49].id, 1);
    assert.equal(body.next_before_id, null);
  });

  test('before_id must be a positive whole number', async () => {
    await expect400(app, '/api/logs?before_id=0', 'before_id');
    await expect400(app, '/api/logs?before_id=abc', 'before_id');
    assert.deepEqual(await ids(app, '?before_id=1'), []);
    assert.deepEqual(await ids(app, '?before_id=3'), [2, 1]);
  });
});

describe('GET /api/logs: the ring buffer keeps the newest storage.max_logs', () => {
  test('with max_logs 5, eight logs leave ids 8..4; total_logs stays all-time', async () => {
    const { app } = await buildTestApp({ storage: { max_logs: 5 } });
    try {
      for (let i = 1; i <= 8; i++) assert.equal((await postJson(app, '/api/logs', log({ message: `m${i}` }))).statusCode, 201);
      assert.deepEqual(await ids(app, ''), [8, 7, 6, 5, 4]);
      assert.deepEqual(await ids(app, '?before_id=6&limit=10'), [5, 4]);
      const health = (await get(app, '/health')).json();
      assert.equal(health.total_logs, 8);
      assert.equal(health.current_stored, 5);
      assert.equal(health.buffer_capacity, 5);
    } finally {
      await app.close();
    }
  });
});

describe('DELETE /api/logs', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildTestApp());
    const res = await postJson(app, '/api/logs', [
      log({ timestamp: '2023-06-01T00:00:00Z', message: 'old-1' }),
      log({ timestamp: '2023-12-31T23:59:59Z', message: 'old-2' }),
      log({ timestamp: '2024-01-01T00:00:00Z', message: 'boundary' }),
      log({ timestamp: '2024-01-15T14:29:00Z', message: 'new-1' }),
      log({ timestamp: '2024-01-15T14:29:30Z', message: 'new-2' }),
    ]);
    assert.equal(res.statusCode, 201);
  });
  after(async () => {
    await app.close();
  });

  test('anonymous is 401, a reader or ingest-only token is 403; nothing deleted', async () => {
    const anon = await app.inject({ method: 'DELETE', url: '/api/logs?before=2030-01-01T00:00:00Z' });
    assert.equal(anon.statusCode, 401);
    assert.equal(anon.json().code, 'AUTH_REQUIRED');
    assert.match(anon.json().error, /admin/);
    const reader = await app.inject({ method: 'DELETE', url: '/api/logs?before=2030-01-01T00:00:00Z', headers: auth(READER_TOKEN) });
    assert.equal(reader.statusCode, 403);
    assert.equal(reader.json().code, 'AUTH_SCOPE');
    assert.match(reader.json().error, /'admin'/);
    const ingester = await app.inject({ method: 'DELETE', url: '/api/logs?before=2030-01-01T00:00:00Z', headers: auth(INGEST_TOKEN) });
    assert.equal(ingester.statusCode, 403);
    assert.equal((await ids(app, '')).length, 5);
  });

  test('a missing, malformed or unknown parameter is 400', async () => {
    const missing = await app.inject({ method: 'DELETE', url: '/api/logs', headers: auth(ADMIN_TOKEN) });
    assert.equal(missing.statusCode, 400);
    assert.equal(missing.json().code, 'INVALID_QUERY');
    assert.match(missing.json().error, /'before' is required/);
    const bad = await app.inject({ method: 'DELETE', url: '/api/logs?before=last-week', headers: auth(ADMIN_TOKEN) });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().error, /'before'/);
    const unknown = await app.inject({ method: 'DELETE', url: '/api/logs?before=2024-01-01&service=x', headers: auth(ADMIN_TOKEN) });
    assert.equal(unknown.statusCode, 400);
    assert.match(unknown.json().error, /'service'/);
    assert.equal((await ids(app, '')).length, 5);
  });

  test('admin deletes logs with event time before `before` (exclusive); they are gone from GET', async () => {
    const res = await app.inject({ method: 'DELETE', url: '/api/logs?before=2024-01-01T00:00:00Z', headers: auth(ADMIN_TOKEN) });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { deleted: 2, message: '2 log(s) deleted' });

    const remaining = (await get(app, '/api/logs')).json().logs.map((l: LogView) => l.message);
    assert.deepEqual(remaining, ['new-2', 'new-1', 'boundary']);

    const again = await app.inject({ method: 'DELETE', url: '/api/logs?before=2024-01-01T00:00:00Z', headers: auth(ADMIN_TOKEN) });
    assert.deepEqual(again.json(), { deleted: 0, message: '0 log(s) deleted' });

    const health = (await get(app, '/health')).json();
    assert.equal(health.total_logs, 5);
    assert.equal(health.current_stored, 3);
  });

  test('a service-bound admin token (Token scheme, naive before) may delete too', async () => {
    const res = await app.inject({
      method: 'DELETE',
      url: '/api/logs?before=2024-01-15T14:29:15',
      headers: { authorization: `Token ${AUTH_SERVICE_TOKEN}` },
    });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { deleted: 2, message: '2 log(s) deleted' });
    assert.deepEqual(
      (await get(app, '/api/logs')).json().logs.map((l: LogView) => l.message),
      ['new-2'],
    );
  });
});

describe('GET /api/logs: listed by event time, newest first', () => {
  /** Every page's logs, following next_cursor (or next_before_id), until the last page. */
  async function walk(app: FastifyInstance, limit: number, by: 'cursor' | 'before_id', between?: (page: number) => Promise<void>): Promise<LogView[]> {
    const seen: LogView[] = [];
    let next: string | number | null = null;
    for (let page = 0; page < 1000; page++) {
      const res = await get(app, `/api/logs?limit=${limit}${next === null ? '' : `&${by}=${next}`}`);
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      seen.push(...body.logs);
      next = by === 'cursor' ? body.next_cursor : body.next_before_id;
      if (next === null) return seen;
      await between?.(page);
    }
    throw new Error('paging did not end');
  }

  const at = (minute: number, second = 0): string => new Date(Date.parse('2024-01-15T14:00:00Z') + minute * 60_000 + second * 1000).toISOString();

  test('a late log is listed by its event time, not where it arrived; equal times by id, the later received first', async () => {
    const { app } = await buildTestApp();
    try {
      for (const [minute, message] of [[30, 'a'], [10, 'late'], [40, 'b'], [30, 'a again']] as const) {
        assert.equal((await postJson(app, '/api/logs', log({ timestamp: at(minute), message }))).statusCode, 201);
      }
      const body = (await get(app, '/api/logs')).json();
      assert.deepEqual(body.logs.map((l: LogView) => l.message), ['b', 'a again', 'a', 'late']);
      assert.deepEqual(body.logs.map((l: LogView) => l.id), [3, 4, 1, 2]);
      const dashboard = (await get(app, '/api/advanced-dashboard-data')).json();
      assert.deepEqual(dashboard.recent_logs.map((l: LogView) => l.id), [3, 4, 1, 2], 'the dashboard table lists the same way');
    } finally {
      await app.close();
    }
  });

  test('paging stays exact while logs keep arriving, early, late and tied: each log present at the start is listed once, in order', async () => {
    for (const by of ['cursor', 'before_id'] as const) {
      const { app } = await buildTestApp();
      try {
        const first = Array.from({ length: 60 }, (_, i) => log({ timestamp: at(i % 20, i % 3), message: `first ${i}` }));
        assert.equal((await postJson(app, '/api/logs', first)).statusCode, 201);
        const snapshot = (await get(app, '/api/logs?limit=1000')).json().logs as LogView[];
        let sent = 0;
        const seen = await walk(app, 7, by, async (page) => {
          // Between pages: one newer than everything, one far late, one tied with a listed time.
          const more = [log({ timestamp: at(59), message: `new ${page}` }), log({ timestamp: at(0), message: `old ${page}` }), log({ timestamp: at(page % 20, 1), message: `tie ${page}` })];
          assert.equal((await postJson(app, '/api/logs', more)).statusCode, 201);
          sent += more.length;
        });
        const ids = seen.map((l) => l.id);
        assert.equal(new Set(ids).size, ids.length, `${by}: no log listed twice`);
        const kept = new Set(ids);
        assert.deepEqual(snapshot.filter((l) => !kept.has(l.id)), [], `${by}: every log there at the start is listed`);
        const key = (l: LogView): [number, number] => [Date.parse(l.timestamp), l.id];
        for (let i = 1; i < seen.length; i++) {
          const [t0, i0] = key(seen[i - 1]!);
          const [t1, i1] = key(seen[i]!);
          assert.ok(t0 > t1 || (t0 === t1 && i0 > i1), `${by}: listed in order at ${i}`);
        }
        assert.ok(sent > 0 && seen.length > snapshot.length, `${by}: logs sent while paging that belong after the cursor are listed too`);
      } finally {
        await app.close();
      }
    }
  });

  test('a cursor that is not one, both paging parameters at once, and a before_id no longer stored are 400s that say what to do', async () => {
    const { app } = await buildTestApp();
    try {
      assert.equal((await postJson(app, '/api/logs', [log({ message: 'x' }), log({ message: 'y' })])).statusCode, 201);
      const err = await expect400(app, '/api/logs?cursor=abc', 'cursor');
      assert.match(err, /next_cursor of a previous page/);
      const both = await get(app, '/api/logs?cursor=1705329000000.2&before_id=2');
      assert.equal(both.statusCode, 400);
      assert.match(both.json().error, /cursor or before_id, not both/);
      const gone = await get(app, '/api/logs?before_id=99');
      assert.equal(gone.statusCode, 400);
      assert.match(gone.json().error, /before_id.*99.*not stored.*cursor=/);
      const page = (await get(app, '/api/logs?limit=1')).json();
      assert.equal(page.next_cursor, `${Date.parse(page.logs[0].timestamp)}.${page.logs[0].id}`);
      assert.deepEqual((await get(app, `/api/logs?cursor=${page.next_cursor}`)).json().logs.map((l: LogView) => l.message), ['x']);
    } finally {
      await app.close();
    }
  });
});
