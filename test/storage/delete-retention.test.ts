import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { enforceRetention } from '../../server/app.js';
import { ADMIN_TOKEN, AUTH_SERVICE_TOKEN, ManualClock, auth, buildTestApp, postJson } from '../helpers.js';
import { tempDb, open, getJson } from './support.js';

/** Deleting and retention remove exactly what they should, from both tiers, for good. */





/** Ids of every log GET /api/logs returns (both tiers), paging by next_cursor; each once, highest first. */
async function allIds(app: FastifyInstance, query = ''): Promise<number[]> {
  const ids: number[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 1000; pages++) {
    const page = await getJson(app, `/api/logs?limit=13${query}${cursor === null ? '' : `&cursor=${cursor}`}`);
    ids.push(...page.logs.map((l: { id: number }) => l.id));
    cursor = page.next_cursor;
    if (cursor === null) {
      assert.equal(new Set(ids).size, ids.length, 'no log on two pages');
      return ids.sort((a, b) => b - a);
    }
  }
  throw new Error('paging did not end');
}

/** Ids GET /logs returns, highest first. */
async function legacyIds(app: FastifyInstance): Promise<number[]> {
  return (await getJson(app, '/logs?limit=10000', auth(ADMIN_TOKEN))).map((l: { id: number }) => l.id).sort((a: number, b: number) => b - a);
}

/** Ingests `n` logs at the clock's current time as one batch; `ts(i)` gives each event time. */
async function ingest(app: FastifyInstance, n: number, ts: (i: number) => number, tag: string): Promise<void> {
  const logs = Array.from({ length: n }, (_, i) => ({
    timestamp: new Date(ts(i)).toISOString(),
    level: i % 4 === 0 ? 'ERROR' : 'INFO',
    service: i % 2 === 0 ? 'api' : 'worker',
    message: `${tag} ${i}`,
  }));
  const res = await postJson(app, '/api/logs', logs);
  assert.equal(res.statusCode, 201, res.body);
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const desc = (ids: number[]): number[] => [...ids].sort((a, b) => b - a);
const DAY = 86_400_000;
const HOUR = 3_600_000;

describe('DELETE by a token bound to a service', () => {
  test("deletes that service's old logs from both tiers, and nobody else's, for good", async () => {
    const path = tempDb();
    const clock = new ManualClock();
    const noon = Date.parse('2024-01-15T12:00:00Z');
    const cut = noon + 30 * 60_000;
    // auth-service and payment-service alternate in every batch, old and new alike: each chunk
    // on disk holds both services, so deleting one service's logs rewrites chunks.
    const logsOf = (b: number) =>
      Array.from({ length: 10 }, (_, i) => ({
        timestamp: new Date(noon + (((b * 10 + i) * 7) % 60) * 60_000).toISOString(),
        level: 'INFO',
        service: i % 2 === 0 ? 'auth-service' : 'payment-service',
        message: `b${b} i${i}`,
      }));
    const sent = Array.from({ length: 8 }, (_, b) => logsOf(b)).flat();
    const isGone = (l: { service: string; timestamp: string }): boolean => l.service === 'auth-service' && Date.parse(l.timestamp) < cut;
    const goneCount = sent.filter(isGone).length;
    assert.ok(goneCount > 5 && goneCount < 40, `${goneCount} to delete`);
    const messages = (logs: { message: string }[]): string[] => logs.map((l) => l.message).sort();
    const a = await open(path, clock, { max_logs: 15 });
    try {
      for (let b = 0; b < 8; b++) {
        assert.equal((await postJson(a, '/api/logs', logsOf(b))).statusCode, 201);
        clock.advance(1000);
      }
      for (const [url, headers] of [
        [`/api/logs?before=${new Date(cut).toISOString()}`, auth(AUTH_SERVICE_TOKEN)],
        [`/logs?before=${new Date(cut).toISOString().slice(0, 19)}`, auth(AUTH_SERVICE_TOKEN)],
      ] as const) {
        const res = await a.inject({ method: 'DELETE', url, headers });
        assert.equal(res.statusCode, 200, res.body);
      }
      const left = (await getJson(a, '/api/logs?limit=1000')).logs as { message: string; service: string; timestamp: string }[];
      assert.deepEqual(messages(left), messages(sent.filter((l) => !isGone(l))));
      assert.equal(await a.core.repository!.count(), sent.length - goneCount);
    } finally {
      await a.close();
    }
    const b = await open(path, clock, { max_logs: 15 });
    try {
      const left = (await getJson(b, '/api/logs?limit=1000')).logs as { message: string }[];
      assert.deepEqual(messages(left), messages(sent.filter((l) => !isGone(l))), 'after a restart');
    } finally {
      await b.close();
    }
  });

  test('the first delete answers how many of its own logs went; an unbound admin token deletes every service', async () => {
    const path = tempDb();
    const clock = new ManualClock();
    const a = await open(path, clock, { max_logs: 4 });
    try {
      const old = (service: string, i: number) => ({ timestamp: '2024-01-01T00:00:00Z', level: 'INFO', service, message: `${service} ${i}` });
      const batch = [0, 1, 2, 3, 4, 5].flatMap((i) => [old('auth-service', i), old('payment-service', i)]);
      assert.equal((await postJson(a, '/api/logs', batch)).statusCode, 201);
      const bound = await a.inject({ method: 'DELETE', url: '/api/logs?before=2024-01-02T00:00:00Z', headers: auth(AUTH_SERVICE_TOKEN) });
      assert.deepEqual(bound.json(), { deleted: 6, message: '6 log(s) deleted' });
      const all = await a.inject({ method: 'DELETE', url: '/api/logs?before=2024-01-02T00:00:00Z', headers: auth(ADMIN_TOKEN) });
      assert.deepEqual(all.json(), { deleted: 6, message: '6 log(s) deleted' });
      assert.equal(await a.core.repository!.count(), 0);
    } finally {
      await a.close();
    }
  });
});

describe('DELETE /api/logs?before=', () => {
  test('removes from both tiers exactly the logs with event time before the date, and they stay gone after a restart', async () => {
    const path = tempDb();
    const clock = new ManualClock();
    const noon = Date.parse('2024-01-15T12:00:00Z');
    const before = noon + 50 * 60_000;
    // Event times are a permutation of 100 minutes from noon: old and new logs are spread over
    // every id, so both the buffer (20 newest ids) and the database-only rows hold some to delete.
    const eventOf = (id: number): number => noon + (((id - 1) * 37) % 100) * 60_000;
    const ids = range(1, 100);
    const kept = desc(ids.filter((id) => eventOf(id) >= before));
    const gone = ids.filter((id) => eventOf(id) < before);
    assert.equal(gone.length, 50);
    assert.ok(gone.some((id) => id > 80) && gone.some((id) => id <= 80), 'some in the buffer, some only in the database');
    assert.ok(kept.some((id) => eventOf(id) === before), 'a log exactly at the date is kept');

    const a = await open(path, clock, { max_logs: 20 });
    try {
      for (let b = 0; b < 10; b++) {
        await ingest(a, 10, (i) => eventOf(b * 10 + i + 1), `batch${b}`);
        clock.advance(1000);
      }
      const statsBefore = await getJson(a, '/api/stats');
      assert.equal(statsBefore.total_logs, 100);
      const res = await a.inject({ method: 'DELETE', url: `/api/logs?before=${new Date(before).toISOString()}`, headers: auth(ADMIN_TOKEN) });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { deleted: 50, message: '50 log(s) deleted' });

      assert.deepEqual(await allIds(a), kept, 'GET /api/logs over both tiers');
      assert.deepEqual(await legacyIds(a), kept, 'GET /logs');
      assert.equal(await a.core.repository!.count(), 50);
      assert.deepEqual(await allIds(a, `&to=${encodeURIComponent(new Date(before - 1).toISOString())}`), []);
      const health = await getJson(a, '/health');
      assert.equal(health.current_stored, kept.filter((id) => id > 80).length, 'the buffer lost its deleted logs too');
      assert.deepEqual(await getJson(a, '/api/stats'), statsBefore, 'all-time counters are not reduced');
      // Nothing left to delete before that date.
      const again = await a.inject({ method: 'DELETE', url: `/api/logs?before=${new Date(before).toISOString()}`, headers: auth(ADMIN_TOKEN) });
      assert.equal(again.json().deleted, 0);
    } finally {
      await a.close();
    }

    const b = await open(path, clock, { max_logs: 20 });
    try {
      assert.deepEqual(await allIds(b), kept, 'after restart');
      assert.equal(await b.core.repository!.count(), 50);
      assert.equal((await getJson(b, '/api/stats')).total_logs, 100);
      // The compatibility API's DELETE /logs on the restarted server: the ten logs of 12:50-12:59 go.
      const res = await b.inject({ method: 'DELETE', url: '/logs?before=2024-01-15T13:00:00', headers: auth(ADMIN_TOKEN) });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { message: '10 log(s) deleted' });
    } finally {
      await b.close();
    }
    const c = await open(path, clock, { max_logs: 20 });
    try {
      const stillKept = kept.filter((id) => eventOf(id) >= noon + 60 * 60_000);
      assert.equal(stillKept.length, 40);
      assert.deepEqual(await allIds(c), stillKept);
      assert.equal(await c.core.repository!.count(), 40);
    } finally {
      await c.close();
    }
  });
});

describe('retention', () => {
  for (const batchSize of [5000, 3]) {
    test(`max_age_days: 1 deletes exactly the logs received more than a day before now, from both tiers (batch_size ${batchSize})`, async () => {
      const path = tempDb();
      const clock = new ManualClock();
      const app = await open(path, clock, { max_logs: 80, retention: { max_age_days: 1, max_rows: 0, batch_size: batchSize } });
      try {
        assert.ok(app.scheduler.existsById('retention'), 'the retention job is scheduled');
        const t0 = clock.ms;
        // Event times are unrelated to receive times: retention goes by receive time.
        await ingest(app, 30, () => t0, 'A'); // ids 1-30, received t0: 25 h old at the end
        clock.advance(HOUR - 1);
        await ingest(app, 5, () => t0, 'E'); // ids 31-35: 24 h + 1 ms old
        clock.advance(1);
        await ingest(app, 10, () => t0, 'D'); // ids 36-45: exactly 24 h old, kept
        clock.advance(12 * HOUR);
        await ingest(app, 30, () => Date.parse('2001-09-09T01:46:40Z'), 'B'); // ids 46-75: 12 h old, old event times, kept
        clock.advance(12 * HOUR);
        await ingest(app, 30, () => clock.ms, 'C'); // ids 76-105: new
        assert.equal(clock.ms - t0, DAY + HOUR);
        // The buffer (80) holds ids 26-105: ten of them are due for deletion.
        assert.equal((await getJson(app, '/health')).current_stored, 80);
        const statsBefore = await getJson(app, '/api/stats');

        if (batchSize < 35) assert.equal(await app.core.retentionStep(), batchSize, 'one step deletes at most batch_size rows');
        const deleted = await enforceRetention(app.core);
        assert.equal(deleted + (batchSize < 35 ? batchSize : 0), 35);

        const kept = desc(range(36, 105));
        assert.deepEqual(await allIds(app), kept, 'GET /api/logs over both tiers');
        assert.deepEqual(await legacyIds(app), kept, 'GET /logs');
        assert.equal(await app.core.repository!.count(), 70);
        assert.equal(await app.core.repository!.minId(), 36);
        assert.equal((await getJson(app, '/health')).current_stored, 70, 'ids 26-35 left the buffer too');
        assert.deepEqual(await getJson(app, '/api/stats'), statsBefore, 'counters are unchanged by retention');
        assert.equal(await enforceRetention(app.core), 0, 'nothing more to do');

        // An hour later, D (now 25 h old) goes too, nothing else.
        clock.advance(HOUR);
        assert.equal(await enforceRetention(app.core), 10);
        assert.deepEqual(await allIds(app), desc(range(46, 105)));
      } finally {
        await app.close();
      }
      const b = await open(path, clock, { max_logs: 80, retention: { max_age_days: 1, max_rows: 0, batch_size: batchSize } });
      try {
        assert.deepEqual(await allIds(b), desc(range(46, 105)), 'retention is durable');
        assert.equal((await getJson(b, '/api/stats')).total_logs, 105);
      } finally {
        await b.close();
      }
    });
  }

  for (const batchSize of [5000, 7, 1]) {
    test(`max_rows: 25 keeps exactly the 25 newest ids (batch_size ${batchSize}: enforceRetention loops until done)`, async () => {
      const clock = new ManualClock();
      const app = await open(tempDb(), clock, { max_logs: 40, retention: { max_age_days: 0, max_rows: 25, batch_size: batchSize } });
      try {
        for (let b = 0; b < 10; b++) {
          await ingest(app, 10, (i) => clock.ms - i * 1000, `b${b}`);
          clock.advance(60_000);
        }
        const statsBefore = await getJson(app, '/api/stats');
        assert.equal(statsBefore.total_logs, 100);
        let total = 0;
        if (batchSize < 75) {
          const step = await app.core.retentionStep();
          assert.equal(step, batchSize, 'one step deletes at most batch_size rows');
          assert.equal(await app.core.repository!.count(), 100 - batchSize);
          total += step;
        }
        total += await enforceRetention(app.core);
        assert.equal(total, 75);
        const kept = desc(range(76, 100));
        assert.deepEqual(await allIds(app), kept);
        assert.deepEqual(await legacyIds(app), kept);
        assert.equal(await app.core.repository!.count(), 25);
        assert.equal((await getJson(app, '/health')).current_stored, 25, 'ids 61-75 left the buffer');
        assert.deepEqual(await getJson(app, '/api/stats'), statsBefore);
        assert.equal(await enforceRetention(app.core), 0);
        // One more log: exactly one (the oldest) goes.
        await ingest(app, 1, () => clock.ms, 'late');
        assert.equal(await enforceRetention(app.core), 1);
        assert.deepEqual(await allIds(app), desc(range(77, 101)));
      } finally {
        await app.close();
      }
    });
  }

  test('age and row limits together, small batches: old logs go, then the newest max_rows of the rest stay', async () => {
    const clock = new ManualClock();
    const app = await open(tempDb(), clock, { max_logs: 100, retention: { max_age_days: 1, max_rows: 40, batch_size: 7 } });
    try {
      await ingest(app, 30, () => clock.ms, 'old'); // ids 1-30
      clock.advance(DAY + 1);
      for (let b = 0; b < 6; b++) {
        await ingest(app, 10, () => clock.ms, `new${b}`); // ids 31-90
        clock.advance(1000);
      }
      assert.equal(await enforceRetention(app.core), 50);
      const kept = desc(range(51, 90));
      assert.deepEqual(await allIds(app), kept);
      assert.equal(await app.core.repository!.count(), 40);
      assert.equal((await getJson(app, '/health')).current_stored, 40);
      assert.equal((await getJson(app, '/api/stats')).total_logs, 90);
    } finally {
      await app.close();
    }
  });

  test('without persistence there is no retention job and retention does nothing', async () => {
    const clock = new ManualClock();
    const { app } = await buildTestApp({ storage: { retention: { max_age_days: 1, max_rows: 1 } } }, { now: clock.now });
    try {
      assert.equal(app.scheduler.existsById('retention'), false);
      await ingest(app, 5, () => clock.ms, 'mem');
      clock.advance(2 * DAY);
      assert.equal(await enforceRetention(app.core), 0);
      assert.equal((await allIds(app)).length, 5);
    } finally {
      await app.close();
    }
  });
});
