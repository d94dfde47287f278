import { gzipSync } from 'node:zlib';
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { ADMIN_TOKEN, AUTH_SERVICE_TOKEN, ManualClock, auth, log, postJson } from '../helpers.js';
import { tempDb, open, getJson } from './support.js';
import type { SqliteRepository } from '../../server/storage/sqlite-repository.js';

/** Restart: what one app stored on a file, the next app on the same file answers identically. */

async function post(app: FastifyInstance, url: string, body: unknown, headers: Record<string, string> = {}): Promise<void> {
  const res = await postJson(app, url, body, headers);
  assert.equal(res.statusCode, 201, `${url}: ${res.body}`);
}

/** Every log GET /api/logs returns, in listing order, following next_before_id with pages of `limit`. */
async function pageAll(app: FastifyInstance, limit: number): Promise<any[]> {
  const out: any[] = [];
  let cursor: number | null | undefined;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = await getJson(app, `/api/logs?limit=${limit}${cursor ? `&before_id=${cursor}` : ''}`);
    out.push(...page.logs);
    cursor = page.next_before_id;
    if (cursor === null) return out;
  }
  throw new Error('paging did not end');
}

const SERVICES = ['api', 'auth-service', 'payment-service', 'worker'];
const LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'];

/** A varied batch: four services, every level, some user ids, some nested metadata, event times over the last minutes. */
function mixedBatch(clock: ManualClock, n: number, tag: string): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => {
    const entry: Record<string, unknown> = {
      timestamp: clock.iso(-(n - i) * 20_000),
      level: LEVELS[i % LEVELS.length],
      service: SERVICES[i % SERVICES.length],
      message: `${tag} message ${i} – ünïcødé ✓`,
    };
    if (i % 3 === 0) entry.user_id = `user-${i % 7}`;
    if (i % 2 === 1) entry.metadata = { request_id: `${tag}-${i}`, nested: { list: [1, 'two', null, true, { deep: i * 1.5 }], empty: {} }, 'clé': 'çødé', n: -i };
    return entry;
  });
}

/** Everything a client can see of the app's state that a restart must keep. */
async function snapshot(app: FastifyInstance): Promise<{
  logs: any[];
  legacy: any[];
  stats: any;
  series: any;
  dashboard: any;
  health: any;
}> {
  const page = await getJson(app, '/api/logs?limit=1000');
  assert.equal(page.next_before_id, null);
  return {
    logs: page.logs,
    legacy: await getJson(app, '/logs?limit=10000', auth(ADMIN_TOKEN)),
    stats: await getJson(app, '/api/stats'),
    series: await getJson(app, '/api/time-series?minutes=60'),
    dashboard: await getJson(app, '/api/advanced-dashboard-data?minutes=60'),
    health: await getJson(app, '/health'),
  };
}

/** Ingests the mix of test 1 through every door; returns how many logs were accepted. */
async function ingestMix(app: FastifyInstance, clock: ManualClock): Promise<number> {
  let n = 0;
  const first = mixedBatch(clock, 60, 'first');
  await post(app, '/api/logs', first);
  n += first.length;
  clock.advance(15_000);
  await post(app, '/api/logs', log({ timestamp: '2001-09-09T01:46:40Z', level: 'WARNING', service: 'archive', message: 'a log from 2001', user_id: 'old-user', metadata: { year: 2001 } }));
  await post(app, '/api/logs', log({ timestamp: '2024-01-15T16:29:45.123+02:00', level: 'ERROR', service: 'payment-service', message: 'offset timestamp kept as sent' }));
  n += 2;
  clock.advance(30_000);
  // The compatibility API's door, with a service-bound token from the config's token list: severity, naive timestamp.
  await post(app, '/logs', { timestamp: '2024-01-15T14:30:10', service: 'auth-service', severity: 'error', message: 'legacy-door failure', user_id: 'user-legacy', metadata: { ip: '10.0.0.1' } }, auth(AUTH_SERVICE_TOKEN));
  n += 1;
  const ndjson = mixedBatch(clock, 5, 'ndjson').map((l) => JSON.stringify(l)).join('\n');
  const res = await app.inject({ method: 'POST', url: '/api/logs', payload: ndjson, headers: { 'content-type': 'application/x-ndjson' } });
  assert.equal(res.statusCode, 201, res.body);
  n += 5;
  clock.advance(61_000);
  const last = mixedBatch(clock, 20, 'last');
  await post(app, '/api/logs', last);
  n += last.length;
  clock.advance(7_000);
  return n;
}

describe('restart on the same database file', () => {
  test('logs, counters and analytics come back identical; ids continue; the buffer refills to max_logs', async () => {
    const path = tempDb();
    const clock = new ManualClock();
    const a = await open(path, clock);
    let before: Awaited<ReturnType<typeof snapshot>>;
    let accepted: number;
    try {
      accepted = await ingestMix(a, clock);
      before = await snapshot(a);
    } finally {
      await a.close();
    }

    // The data is what the test means it to be (so "identical" below compares something).
    assert.equal(before.logs.length, accepted);
    assert.equal(before.stats.total_logs, accepted);
    const byMessage = new Map(before.logs.map((l) => [l.message, l]));
    assert.equal(byMessage.get('a log from 2001')?.timestamp, '2001-09-09T01:46:40Z');
    assert.equal(byMessage.get('offset timestamp kept as sent')?.timestamp, '2024-01-15T16:29:45.123+02:00');
    assert.equal(byMessage.get('legacy-door failure')?.timestamp, '2024-01-15T14:30:10Z');
    assert.equal(byMessage.get('legacy-door failure')?.level, 'ERROR');
    assert.deepEqual(byMessage.get('first message 1 – ünïcødé ✓')?.metadata, {
      request_id: 'first-1',
      nested: { list: [1, 'two', null, true, { deep: 1.5 }], empty: {} },
      'clé': 'çødé',
      n: -1,
    });
    assert.ok(before.series.some((p: { total: number }) => p.total > 0));
    assert.ok(Object.keys(before.dashboard.service_health).length >= 5);
    assert.equal(before.health.current_stored, accepted);

    // B: same file, same clock, a buffer smaller than what is stored.
    const maxLogs = 10;
    const b = await open(path, clock, { max_logs: maxLogs });
    try {
      const after = await snapshot(b);
      assert.deepEqual(after.logs, before.logs, 'GET /api/logs: same logs, same order, same fields');
      assert.deepEqual(await pageAll(b, 7), before.logs, 'paging by next_before_id over both tiers');
      assert.deepEqual(after.legacy, before.legacy, 'GET /logs');
      for (const field of ['total_logs', 'logs_per_service', 'logs_per_level', 'last_log_per_service']) {
        assert.deepEqual(after.stats[field], before.stats[field], `/api/stats ${field}`);
      }
      assert.deepEqual(after.series, before.series, '/api/time-series');
      for (const field of ['service_health', 'time_series', 'error_trends', 'most_active_services', 'user_activity', 'summary']) {
        assert.deepEqual(after.dashboard[field], before.dashboard[field], `dashboard ${field}`);
      }
      assert.equal(after.health.total_logs, accepted);
      assert.equal(after.health.current_stored, maxLogs, 'the buffer holds exactly max_logs');
      assert.equal(after.health.buffer_capacity, maxLogs);
      assert.deepEqual(
        after.dashboard.recent_logs,
        before.logs.slice(0, 20),
        'the dashboard lists the 20 newest by event time, over both tiers',
      );

      const maxId = Math.max(...before.logs.map((l) => l.id as number));
      await post(b, '/api/logs', log({ message: 'after restart', timestamp: clock.iso() }));
      const newest = (await getJson(b, '/api/logs?limit=1')).logs[0];
      assert.equal(newest.message, 'after restart');
      assert.ok(newest.id > maxId, `next id ${newest.id} must exceed every stored id (max ${maxId})`);
      assert.equal((await getJson(b, '/api/stats')).total_logs, accepted + 1);
    } finally {
      await b.close();
    }
  });

  test('a restart with the buffer as large as before restores the whole buffer and every dashboard figure', async () => {
    const path = tempDb();
    const clock = new ManualClock();
    const a = await open(path, clock);
    let before: Awaited<ReturnType<typeof snapshot>>;
    try {
      await ingestMix(a, clock);
      before = await snapshot(a);
    } finally {
      await a.close();
    }
    const b = await open(path, clock);
    try {
      const after = await snapshot(b);
      assert.deepEqual(after.logs, before.logs);
      assert.deepEqual(after.dashboard.recent_logs, before.dashboard.recent_logs);
      assert.equal(after.health.current_stored, before.health.current_stored);
      assert.deepEqual(after.dashboard.service_health, before.dashboard.service_health);
      assert.deepEqual(after.series, before.series);
    } finally {
      await b.close();
    }
  });

  // docs/storage.md: the all-time counters and out_of_window are exact across restarts; the
  // tracked users are re-admitted from the analytics window.
  test('the all-time /api/stats counters and out_of_window are exact across a restart, late logs included', async () => {
    const path = tempDb();
    const clock = new ManualClock();
    const a = await open(path, clock);
    let before: any;
    try {
      await post(a, '/api/logs', [
        log({ timestamp: clock.iso(-5_000), user_id: 'recent-user' }),
        log({ timestamp: '2001-09-09T01:46:40Z', message: 'late', user_id: 'late-user' }),
      ]);
      before = await getJson(a, '/api/stats');
    } finally {
      await a.close();
    }
    assert.equal(before.out_of_window, 1);
    assert.equal(before.cardinality.users.tracked, 2);
    const b = await open(path, clock);
    try {
      const after = await getJson(b, '/api/stats');
      assert.equal(after.total_logs, 2);
      for (const key of ['total_logs', 'logs_per_service', 'logs_per_level', 'last_log_per_service']) {
        assert.deepEqual(after[key], before[key], `/api/stats ${key} after restart`);
      }
      assert.equal(after.out_of_window, 1, 'out_of_window is kept beside the counters');
      assert.deepEqual(after.cardinality.users, { tracked: 1, cap: 10_000, folded: 0 }, 'only the user seen in the analytics window is re-admitted');
      assert.deepEqual(after.cardinality.services, before.cardinality.services);
    } finally {
      await b.close();
    }
  });

  test('logs sent after a restart add to the restored counters of their service, not to a new record', async () => {
    const path = tempDb();
    const clock = new ManualClock();
    const a = await open(path, clock);
    try {
      await post(a, '/api/logs', [log({ timestamp: clock.iso(-5_000) }), log({ timestamp: clock.iso(-4_000), service: 'svc-b' })]);
    } finally {
      await a.close();
    }
    const b = await open(path, clock);
    try {
      clock.advance(60_000);
      await post(b, '/api/logs', [log({ timestamp: clock.iso(-1_000) }), log({ timestamp: clock.iso(-500) })]);
      const stats = await getJson(b, '/api/stats');
      assert.deepEqual(stats.logs_per_service, { 'auth-service': 3, 'svc-b': 1 });
      assert.equal(stats.last_log_per_service['auth-service'], clock.iso(-500));
      assert.equal(stats.total_logs, 4);
    } finally {
      await b.close();
    }
  });

  // README: a log further in the future than analytics.future_skew_seconds "never creates or
  // evicts a minute bucket", and after a restart "the dashboard shows what it showed before".
  test('a log too far in the future when it arrived stays out of the time series after a restart', async () => {
    const path = tempDb();
    const clock = new ManualClock();
    const a = await open(path, clock);
    let series: any;
    try {
      await post(a, '/api/logs', [log({ timestamp: clock.iso(-1000), message: 'now' }), log({ timestamp: clock.iso(5 * 60_000), message: 'five minutes ahead' })]);
      assert.equal((await getJson(a, '/api/stats')).out_of_window, 1);
      clock.advance(10 * 60_000);
      series = await getJson(a, '/api/time-series?minutes=30');
      assert.equal(series.reduce((n: number, p: { total: number }) => n + p.total, 0), 1, 'only the first log is in a bucket');
    } finally {
      await a.close();
    }
    const b = await open(path, clock);
    try {
      const nonZero = (points: { time: string; total: number }[]): { time: string; total: number }[] => points.filter((p) => p.total > 0);
      const after = await getJson(b, '/api/time-series?minutes=30');
      assert.deepEqual(nonZero(after), nonZero(series), 'minutes with logs in /api/time-series after restart');
      assert.deepEqual(after, series);
    } finally {
      await b.close();
    }
  });

  // Ids are the cursor of GET /api/logs and what the dashboard's live table tails on
  // (web/src/logs-table.ts keeps rows with id > newestId): a reused id is never shown there.
  test('ids are never reused: deleting the newest logs and restarting does not hand their ids out again', async () => {
    const path = tempDb();
    const clock = new ManualClock();
    const a = await open(path, clock);
    let maxId: number;
    try {
      await post(a, '/api/logs', Array.from({ length: 5 }, (_, i) => log({ message: `m${i}`, timestamp: clock.iso(-1000 * i) })));
      maxId = Math.max(...(await getJson(a, '/api/logs?limit=10')).logs.map((l: { id: number }) => l.id));
      const del = await a.inject({ method: 'DELETE', url: '/api/logs?before=2100-01-01T00:00:00Z', headers: auth(ADMIN_TOKEN) });
      assert.equal(del.statusCode, 200, del.body);
      assert.equal(del.json().deleted, 5);
      // Within one process the numbering goes on.
      await post(a, '/api/logs', log({ message: 'same process' }));
      const same = (await getJson(a, '/api/logs?limit=1')).logs[0];
      assert.equal(same.id, maxId + 1);
      await a.inject({ method: 'DELETE', url: '/api/logs?before=2100-01-01T00:00:00Z', headers: auth(ADMIN_TOKEN) });
      maxId = same.id;
    } finally {
      await a.close();
    }
    const b = await open(path, clock);
    try {
      await post(b, '/api/logs', log({ message: 'after restart' }));
      const newest = (await getJson(b, '/api/logs?limit=1')).logs[0];
      assert.ok(newest.id > maxId, `id ${newest.id} after restart was already given to a log before it (max id ever was ${maxId})`);
    } finally {
      await b.close();
    }
  });

  test('every body shape reads back identically after a restart: arrays, NDJSON with CRLF and blank lines, single objects, a byte order mark, gzip, partial batches', async () => {
    const path = tempDb();
    const clock = new ManualClock();
    const a = await open(path, clock);
    let before: any[];
    try {
      const batch = mixedBatch(clock, 14, 'shape');
      const send = async (payload: string | Buffer, type: string, want: number, encoding?: string): Promise<void> => {
        const headers: Record<string, string> = { 'content-type': type };
        if (encoding !== undefined) headers['content-encoding'] = encoding;
        const res = await a.inject({ method: 'POST', url: '/api/logs', payload, headers });
        assert.equal(res.statusCode, want, res.body);
        clock.advance(250);
      };
      await send(JSON.stringify(batch.slice(0, 3)), 'application/json', 201);
      await send(` \r\n${JSON.stringify(batch.slice(3, 5), null, 2)}\n`, 'application/json', 201);
      await send(batch.slice(5, 8).map((l) => JSON.stringify(l)).join('\r\n\r\n  \r\n') + '\r\n', 'application/x-ndjson', 201);
      await send(JSON.stringify(batch[8]), 'application/json', 201);
      await send(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify([batch[9]]))]), 'application/json', 201);
      // Invalid UTF-8 is refused whole: decoding it would store the log altered.
      await send(Buffer.concat([Buffer.from('{"timestamp":"' + clock.iso() + '","level":"INFO","service":"api","message":"bad '), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]), 'application/json', 400);
      // Partial: the rejected line is not stored, the others are, under consecutive ids.
      await send(`${JSON.stringify(batch[10])}\n{"level":"nope"}\n${JSON.stringify(batch[11])}\n`, 'application/x-ndjson', 207);
      // A compressed body is kept decompressed.
      await send(gzipSync(batch.slice(12, 14).map((l) => JSON.stringify(l)).join('\n')), 'application/x-ndjson', 201, 'gzip');
      before = await pageAll(a, 100);
      assert.equal(before.length, 14);
      // Whole batches are kept as the bytes they came in (JSON 0, NDJSON 1); the partial one as rows the server wrote (2).
      const chunks = (a.core.repository as SqliteRepository).handle.prepare('SELECT format, count FROM chunks ORDER BY first_id').all();
      assert.deepEqual(chunks.map((c: any) => `${c.format}:${c.count}`), ['0:3', '0:2', '1:3', '0:1', '0:1', '2:2', '1:2']);
    } finally {
      await a.close();
    }
    const b = await open(path, clock, { max_logs: 1 });
    try {
      // With a one-log buffer, every read but the newest comes from the file.
      assert.deepEqual(await pageAll(b, 5), before);
    } finally {
      await b.close();
    }
  });
});
