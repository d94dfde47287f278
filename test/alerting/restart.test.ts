import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import type { AlertNotification } from '../../server/core/alerting/types.js';
import { ADMIN_TOKEN, ManualClock, auth, buildTestApp, flushAlerts, log, postJson } from '../helpers.js';
import { getJson, tempDb } from '../storage/support.js';

/**
 * Alert state across a restart: one app on a database file is closed, the next opens the same
 * file on the same (manual) clock. What was paged is not paged again inside its cooldown;
 * replayed minutes never fire high_volume; a restart alone never makes a service down; the
 * counters no stored log can give back come back as they were.
 * (test/alerting/restart-process.test.ts does the same with real processes.)
 */

interface Run {
  app: FastifyInstance;
  got: AlertNotification[];
}

const ALERTING = { error_rate_threshold: 0.5, min_samples: 5, cooldown_seconds: 120, window_minutes: 5, service_down_minutes: 2, high_volume_threshold: 100 };

async function start(path: string, clock: ManualClock, alerting: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<Run> {
  const got: AlertNotification[] = [];
  const { app } = await buildTestApp(
    { storage: { persistence: { enabled: true, path } }, alerting: { ...ALERTING, ...alerting }, ...extra },
    { now: clock.now, alertHandlers: [{ name: 'recorder', handle: (n: AlertNotification) => void got.push(n) }] },
  );
  return { app, got };
}

async function ingest(app: FastifyInstance, clock: ManualClock, service: string, n: number, level = 'ERROR'): Promise<void> {
  const batch = Array.from({ length: n }, (_, i) => log({ timestamp: clock.iso(), service, level, message: `${service} ${level} ${i}` }));
  const res = await postJson(app, '/api/logs', batch);
  assert.equal(res.statusCode, 201, res.body);
  await flushAlerts();
}

/** One scheduler tick, and the handlers' turn to receive what it fired. */
async function check(app: FastifyInstance): Promise<void> {
  app.core.alerts.checkAll();
  await flushAlerts();
}

function firing(run: Run, rule: string, service: string): AlertNotification[] {
  return run.got.filter((n) => n.status === 'firing' && n.alert.rule === rule && n.alert.service === service);
}

async function alerts(app: FastifyInstance): Promise<any> {
  return getJson(app, '/api/alerts');
}

describe('alert state survives a restart', () => {
  test('a still-true error-rate alert is not paged again inside its cooldown, and is once the cooldown is over', async () => {
    const path = tempDb();
    const clock = new ManualClock();
    const a = await start(path, clock);
    await ingest(a.app, clock, 'pay', 10);
    assert.equal(firing(a, 'error_rate', 'pay').length, 1);
    const before = (await alerts(a.app)).alerts.find((x: any) => x.rule === 'error_rate' && x.service === 'pay');
    await a.app.close();

    clock.advance(60_000);
    const b = await start(path, clock);
    await check(b.app);
    await ingest(b.app, clock, 'pay', 1);
    assert.deepEqual(b.got, [], 'nothing is paged again: the firing was notified 60 s ago, the cooldown is 120 s');
    const after = (await alerts(b.app)).alerts.find((x: any) => x.rule === 'error_rate' && x.service === 'pay');
    assert.equal(after.status, 'firing');
    assert.equal(after.timestamp, before.timestamp, 'it started when it started, not at the restart');
    assert.equal(after.last_notified, before.last_notified);
    assert.equal(after.fingerprint, before.fingerprint);

    clock.advance(60_000);
    await check(b.app);
    assert.equal(firing(b, 'error_rate', 'pay').length, 1, 'the cooldown since the last page is over: one reminder');
    assert.equal(firing(b, 'error_rate', 'pay')[0]!.alert.timestamp, before.timestamp);
    await b.app.close();
  });

  test('the resolved history and a silence survive; the silence still mutes a new episode', async () => {
    const path = tempDb();
    const clock = new ManualClock();
    const a = await start(path, clock);
    await ingest(a.app, clock, 'pay', 10);
    await ingest(a.app, clock, 'pay', 40, 'INFO');
    const resolved = (await getJson(a.app, '/api/alerts?status=resolved')).alerts;
    assert.deepEqual(resolved.map((x: any) => x.service).sort(), ['*', 'pay'], 'the service and the all-services alert resolved');
    const pay = resolved.find((x: any) => x.service === 'pay');
    const silenced = await postJson(a.app, `/api/alerts/${pay.fingerprint}/silence`, { duration: '1h' }, auth(ADMIN_TOKEN));
    assert.equal(silenced.statusCode, 200, silenced.body);
    await a.app.close();

    clock.advance(3 * 60_000); // past the cooldown (120 s) since the last page, inside the silence (1 h)
    const b = await start(path, clock);
    const state = await alerts(b.app);
    assert.deepEqual(
      state.alerts.map((x: any) => [x.rule, x.service, x.status, x.timestamp, x.resolved_at]),
      resolved.map((x: any) => [x.rule, x.service, x.status, x.timestamp, x.resolved_at]),
    );
    assert.deepEqual(state.silences, [{ fingerprint: pay.fingerprint, until: silenced.json().silenced_until }]);
    await ingest(b.app, clock, 'pay', 60);
    const active = (await getJson(b.app, '/api/alerts?status=firing')).alerts;
    assert.deepEqual(active.map((x: any) => `${x.rule} ${x.service}`).sort(), ['error_rate *', 'error_rate pay'], 'a new episode fires');
    assert.deepEqual(b.got.map((n) => n.alert.service), ['*'], '... and pay is not notified: its silence outlived the restart');
    await b.app.close();
  });

  test('the resolved history kept on disk is bounded by alerting.history_size', async () => {
    const path = tempDb();
    const clock = new ManualClock();
    const a = await start(path, clock, { history_size: 2 });
    for (const service of ['a', 'b', 'c']) {
      await ingest(a.app, clock, service, 10);
      await ingest(a.app, clock, service, 40, 'INFO');
    }
    const kept = (await getJson(a.app, '/api/alerts?status=resolved')).alerts;
    assert.deepEqual(kept.map((x: any) => x.service), ['c', 'b']);
    await a.app.close();
    const b = await start(path, clock, { history_size: 2 });
    assert.deepEqual((await getJson(b.app, '/api/alerts?status=resolved')).alerts, kept);
    await b.app.close();
  });

  test('minutes replayed at start-up never fire high_volume; logs arriving after it do', async () => {
    const path = tempDb();
    const clock = new ManualClock();
    const a = await start(path, clock, { high_volume_threshold: 1000 });
    await ingest(a.app, clock, 'burst', 150, 'INFO');
    assert.deepEqual(a.got, []);
    await a.app.close();

    clock.advance(10_000);
    // The same minute, now over the threshold this run has: judged by the run that received it.
    const b = await start(path, clock, { high_volume_threshold: 100 });
    await check(b.app);
    await ingest(b.app, clock, 'burst', 10, 'INFO');
    assert.deepEqual((await alerts(b.app)).alerts, []);
    assert.deepEqual(b.got, []);

    clock.advance(60_000);
    await ingest(b.app, clock, 'burst', 100, 'INFO');
    assert.equal(firing(b, 'high_volume', 'burst').length, 1, 'a burst this run received fires');
    assert.match(firing(b, 'high_volume', 'burst')[0]!.alert.message, /^burst sent 100 logs in one minute \(2024-01-15T14:31\)/);
    await b.app.close();
  });

  test('a high_volume alert firing at the restart keeps firing on the replayed minute, unpaged', async () => {
    const path = tempDb();
    const clock = new ManualClock();
    const a = await start(path, clock);
    await ingest(a.app, clock, 'burst', 150, 'INFO');
    assert.equal(firing(a, 'high_volume', 'burst').length, 1);
    await a.app.close();

    clock.advance(30_000);
    const b = await start(path, clock);
    await check(b.app);
    const active = (await getJson(b.app, '/api/alerts?status=firing')).alerts;
    assert.deepEqual(active.map((x: any) => [x.rule, x.service, x.value]), [['high_volume', 'burst', 150]]);
    assert.deepEqual(b.got, []);
    await b.app.close();
  });

  test('a restart alone never makes a service down; silence counts from the last log actually received', async () => {
    const path = tempDb();
    const clock = new ManualClock();
    const a = await start(path, clock);
    await ingest(a.app, clock, 'pay', 1, 'INFO');
    await ingest(a.app, clock, 'auth', 1, 'INFO');
    const lastSeen = clock.now();
    await a.app.close();

    // Down for ten minutes, five times the service_down threshold.
    clock.advance(10 * 60_000);
    const b = await start(path, clock);
    await check(b.app);
    clock.advance(60_000);
    await check(b.app);
    assert.deepEqual((await alerts(b.app)).alerts, [], 'nobody could send while the server was away');

    clock.advance(60_000);
    await ingest(b.app, clock, 'auth', 1, 'INFO');
    await check(b.app);
    const down = b.got.filter((n) => n.alert.rule === 'service_down');
    assert.deepEqual(
      down.map((n) => [n.alert.service, n.alert.value]),
      [['pay', (clock.now() - lastSeen) / 1000]],
      'up for the threshold and still nothing from pay: down, silent since its last log before the restart',
    );
    await b.app.close();
  });

  test('a service down before the restart stays down, unpaged inside the cooldown', async () => {
    const path = tempDb();
    const clock = new ManualClock();
    const a = await start(path, clock);
    await ingest(a.app, clock, 'pay', 1, 'INFO');
    clock.advance(3 * 60_000);
    await check(a.app);
    assert.equal(firing(a, 'service_down', 'pay').length, 1);
    await a.app.close();

    clock.advance(30_000);
    const b = await start(path, clock);
    await check(b.app);
    const active = (await getJson(b.app, '/api/alerts?status=firing')).alerts;
    assert.deepEqual(active.map((x: any) => [x.rule, x.service, x.value]), [['service_down', 'pay', 210]]);
    assert.deepEqual(b.got, []);
    await b.app.close();
  });
});

describe('counters no stored log can give back survive a restart', () => {
  test('validation statistics, folded cardinality and out_of_window', async () => {
    const path = tempDb();
    const clock = new ManualClock();
    const limits = { limits: { max_services: 2, max_users: 1 } };
    const a = await start(path, clock, {}, limits);
    const batch = ['s1', 's2', 's3', 's4'].map((service, i) => log({ timestamp: clock.iso(), service, level: 'INFO', user_id: `u${i}` }));
    assert.equal((await postJson(a.app, '/api/logs', batch)).statusCode, 201);
    assert.equal((await postJson(a.app, '/api/logs', log({ timestamp: '2001-01-01T00:00:00Z' }))).statusCode, 201);
    assert.equal((await postJson(a.app, '/api/logs', { level: 'INFO' })).statusCode, 400);
    assert.equal((await postJson(a.app, '/api/logs', log({ level: 'LOUD' }))).statusCode, 400);
    const validation = await getJson(a.app, '/api/validation-stats');
    const stats = await getJson(a.app, '/api/stats');
    assert.equal(validation.invalid, 2);
    assert.ok(stats.cardinality.services.folded > 0 && stats.cardinality.users.folded > 0 && stats.out_of_window === 1, JSON.stringify(stats));
    await a.app.close();

    const b = await start(path, clock, {}, limits);
    assert.deepEqual(await getJson(b.app, '/api/validation-stats'), validation);
    const restored = await getJson(b.app, '/api/stats');
    assert.deepEqual(
      [restored.cardinality.services.folded, restored.cardinality.users.folded, restored.out_of_window],
      [stats.cardinality.services.folded, stats.cardinality.users.folded, stats.out_of_window],
    );
    await b.app.close();
  });
});
