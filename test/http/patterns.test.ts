import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { AlertView, LogView } from '../../server/api-types.js';
import type { PatternSummary } from '../../server/core/patterns/pattern-stats.js';
import { ADMIN_TOKEN, buildTestApp, flushAlerts, lastReceived, ManualClock, postJson } from '../helpers.js';
import { tempDb } from '../storage/support.js';

async function patterns(app: FastifyInstance, query = ''): Promise<PatternSummary[]> {
  const res = await app.inject({ method: 'GET', url: `/api/patterns${query}` });
  assert.equal(res.statusCode, 200, res.body);
  return res.json().patterns as PatternSummary[];
}

async function send(app: FastifyInstance, logs: Record<string, unknown>[]): Promise<void> {
  const res = await postJson(app, '/api/logs', logs);
  assert.equal(res.statusCode, 201, res.body);
}

/** `n` logs of the login event (one shape, varying user and address) at `iso`. */
function logins(n: number, iso: string, level = 'INFO', service = 'auth'): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => ({ timestamp: iso, level, service, message: `user u${i} logged in from 10.0.${i}.7 port ${40000 + i}` }));
}

function timeouts(n: number, iso: string, service = 'db'): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => ({ timestamp: iso, level: 'ERROR', service, message: `query ${i * 7} timed out after ${100 + i} ms on shard-${i % 3}` }));
}

describe('GET /api/patterns', () => {
  test('every log is counted in its pattern: exact counts, levels, minutes, sample, new', async () => {
    const { app, clock } = await buildTestApp();
    try {
      await send(app, [...logins(30, clock.iso(-120_000)), ...logins(12, clock.iso(), 'WARNING'), ...timeouts(5, clock.iso(-60_000))]);
      const list = await patterns(app);
      assert.equal(list.length, 2);
      const [login, timeout] = list;
      assert.equal(login!.service, 'auth');
      assert.equal(login!.template, 'user <*> logged in from <*> port <*>');
      assert.equal(login!.count, 42);
      assert.equal(login!.total, 42);
      assert.deepEqual(login!.levels, { INFO: 30, WARNING: 12 });
      assert.equal(login!.first_seen, clock.iso(-120_000));
      assert.equal(login!.last_seen, clock.iso());
      assert.equal(login!.sample, 'user u11 logged in from 10.0.11.7 port 40011', 'the newest log of the latest event time');
      assert.equal(login!.new, true);
      // The analytics window (60 minutes) up to the clock's minute, oldest first.
      assert.equal(login!.per_minute.length, 60);
      assert.deepEqual(login!.per_minute.slice(-3), [30, 0, 12]);
      assert.equal(timeout!.template, 'query <*> timed out after <*> ms on shard-<*>');
      assert.deepEqual(timeout!.levels, { ERROR: 5 });
      assert.deepEqual(timeout!.per_minute.slice(-3), [0, 5, 0]);

      // Every log's pattern_id names its pattern, and ?pattern= lists exactly its logs.
      const logs = await lastReceived(app, 100);
      assert.equal(logs.length, 47);
      for (const l of logs) assert.equal(l.pattern_id, l.service === 'auth' ? login!.id : timeout!.id);
      const only = await app.inject({ method: 'GET', url: `/api/logs?pattern=${timeout!.id}&limit=100` });
      assert.deepEqual(
        (only.json().logs as LogView[]).map((l) => l.message).sort(),
        timeouts(5, '').map((l) => l.message).sort(),
      );
    } finally {
      await app.close();
    }
  });

  test('service, level, from/to and limit narrow it; a range before a pattern leaves it out or not new', async () => {
    const { app, clock } = await buildTestApp();
    try {
      await send(app, [...logins(3, clock.iso(-600_000)), ...logins(4, clock.iso(), 'ERROR'), ...timeouts(5, clock.iso())]);
      assert.deepEqual((await patterns(app, '?service=db')).map((p) => p.count), [5]);
      const errorsOnly = await patterns(app, '?level=error');
      assert.deepEqual(
        errorsOnly.map((p) => [p.service, p.count, p.levels]),
        [
          ['db', 5, { ERROR: 5 }],
          ['auth', 4, { ERROR: 4 }],
        ],
      );
      assert.equal(errorsOnly[1]!.total, 7, 'the all-time count beside the range count');
      assert.deepEqual((await patterns(app, '?limit=1')).map((p) => p.service), ['auth']);
      const recent = await patterns(app, `?from=${clock.iso(-300_000)}&service=auth`);
      assert.equal(recent[0]!.count, 4);
      assert.equal(recent[0]!.new, false, 'first seen before the range');
      assert.equal(recent[0]!.per_minute.length, 6);
      const early = await patterns(app, `?from=${clock.iso(-900_000)}&to=${clock.iso(-500_000)}`);
      assert.deepEqual(
        early.map((p) => [p.service, p.count]),
        [['auth', 3]],
      );
      assert.deepEqual(await patterns(app, `?from=${clock.iso()}&to=${clock.iso(-60_000)}`), [], "a 'from' after 'to' holds nothing, as in GET /api/logs");
      const bad = await app.inject({ method: 'GET', url: '/api/patterns?pattern=1' });
      assert.equal(bad.statusCode, 400);
    } finally {
      await app.close();
    }
  });

  test('past patterns.max_per_service, new shapes of a service fold into its <other> pattern, counted', async () => {
    const { app, clock } = await buildTestApp({ patterns: { max_per_service: 2 } });
    try {
      const shapes = ['disk full on /var', 'cache warmed in 12 ms', 'leader elected: node-3', 'config reloaded by admin'];
      await send(
        app,
        shapes.map((message) => ({ timestamp: clock.iso(), level: 'INFO', service: 'ops', message })),
      );
      const list = await patterns(app);
      assert.deepEqual(list.map((p) => [p.template, p.count]).sort(), [
        ['<other>', 2],
        ['cache warmed in <*> ms', 1],
        ['disk full on <*>', 1],
      ]);
    } finally {
      await app.close();
    }
  });

  test('patterns.enabled: false mines nothing: no pattern_id, and GET /api/patterns says how to turn it on', async () => {
    const { app, clock } = await buildTestApp({ patterns: { enabled: false } });
    try {
      await send(app, logins(2, clock.iso()));
      assert.equal((await lastReceived(app, 1))[0]!.pattern_id, undefined);
      const res = await app.inject({ method: 'GET', url: '/api/patterns' });
      assert.equal(res.statusCode, 404);
      assert.match(res.json().error, /patterns\.enabled: true/);
    } finally {
      await app.close();
    }
  });
});

describe('patterns on SQLite survive a restart', () => {
  test('ids, templates, all-time counts and the window come back; new logs join their old pattern', async () => {
    const path = tempDb();
    const clock = new ManualClock();
    const config = { storage: { max_logs: 10, persistence: { enabled: true, path } } };
    let built = await buildTestApp(config, { now: clock.now });
    let before: PatternSummary[];
    try {
      await send(built.app, [...logins(20, clock.iso(-60_000)), ...timeouts(3, clock.iso())]);
      before = await patterns(built.app);
    } finally {
      await built.app.close();
    }
    clock.advance(30_000);
    built = await buildTestApp(config, { now: clock.now });
    try {
      assert.deepEqual(await patterns(built.app), before, 'counts, levels, minutes and samples as before the restart');
      await send(built.app, logins(1, clock.iso()));
      const after = await patterns(built.app, '?service=auth');
      assert.equal(after[0]!.id, before.find((p) => p.service === 'auth')!.id);
      assert.equal(after[0]!.count, 21);
      assert.equal(after[0]!.total, 21);
      // Logs stored before the restart, most of them only in the file (the buffer holds 10), keep their pattern.
      const res = await built.app.inject({ method: 'GET', url: `/api/logs?pattern=${after[0]!.id}&limit=100` });
      assert.equal(res.json().count, 21);
    } finally {
      await built.app.close();
    }
  });
});

describe('the new_pattern rule', () => {
  const config = { alerting: { check_interval_seconds: 3600, rules: { error_rate: false, high_volume: false, service_down: false } } };

  test('fires once per pattern: first seen in the window with new_pattern_min_logs errors, after the warm-up; resolves once not new', async () => {
    const { app, clock } = await buildTestApp(config);
    try {
      // The first window is a warm-up: every pattern is new then.
      await send(app, timeouts(6, clock.iso(), 'db'));
      await flushAlerts();
      assert.equal(app.core.alertLog.notifications.length, 0);

      clock.advance(6 * 60_000);
      const failures = (n: number) =>
        Array.from({ length: n }, (_, i) => ({ timestamp: clock.iso(), level: 'ERROR', service: 'pay', message: `card issuer unreachable: acquirer ${i} returned 503` }));
      await send(app, failures(4));
      await flushAlerts();
      assert.equal(app.core.alertLog.notifications.length, 0, 'under alerting.new_pattern_min_logs (5)');
      await send(app, failures(1));
      await flushAlerts();
      const fired = app.core.alertLog.notifications;
      assert.equal(fired.length, 1);
      const a = fired[0]!.alert;
      assert.equal(a.rule, 'new_pattern');
      assert.equal(a.level, 'WARNING');
      assert.equal(a.service, 'pay');
      assert.match(a.message, /^New pattern in pay since .*: "card issuer unreachable: acquirer <\*> returned <\*>" \(5 ERROR\/CRITICAL logs in the last 5 min\), threshold 5$/);
      const pay = (await patterns(app, '?service=pay'))[0]!;
      assert.equal(a.pattern_id, pay.id);
      assert.deepEqual(a.top_patterns, [{ id: pay.id, template: pay.template, count: 5 }]);
      assert.equal(a.samples.length, 5);
      const behind = await app.inject({ method: 'GET', url: `/api/logs?${a.query}&limit=100` });
      assert.equal(behind.json().count, 5);
      assert.match(a.query, new RegExp(`pattern=${pay.id}`));

      await send(app, failures(10));
      app.core.alerts.checkAll();
      await flushAlerts();
      assert.equal(app.core.alertLog.notifications.length, 1, 'once per pattern');

      clock.advance(6 * 60_000);
      await send(app, failures(2));
      await flushAlerts();
      assert.equal(app.core.alertLog.notifications.length, 1, 'no longer new, but ingest only evaluates new patterns: the scheduled check resolves it');
      app.core.alerts.checkAll();
      await flushAlerts();
      const resolved = app.core.alertLog.notifications;
      assert.deepEqual(
        resolved.map((n) => [n.status, n.alert.rule]),
        [
          ['firing', 'new_pattern'],
          ['resolved', 'new_pattern'],
        ],
      );
      await send(app, failures(10));
      app.core.alerts.checkAll();
      await flushAlerts();
      assert.equal(app.core.alertLog.notifications.length, 2, 'no longer new: it never fires again');
    } finally {
      await app.close();
    }
  });

  test('a firing new_pattern alert comes back after a restart with its pattern, and does not page again', async () => {
    const path = tempDb();
    const clock = new ManualClock();
    const persisted = { ...config, storage: { persistence: { enabled: true, path } } };
    let built = await buildTestApp(persisted, { now: clock.now });
    let fired: AlertView;
    try {
      await send(built.app, logins(1, clock.iso()));
      clock.advance(6 * 60_000);
      await send(built.app, timeouts(6, clock.iso(), 'db'));
      await flushAlerts();
      assert.equal(built.app.core.alertLog.notifications.length, 1);
      fired = built.app.core.alertLog.notifications[0]!.alert;
      assert.equal(fired.rule, 'new_pattern');
    } finally {
      await built.app.close();
    }
    clock.advance(60_000);
    built = await buildTestApp(persisted, { now: clock.now });
    try {
      const res = await built.app.inject({ method: 'GET', url: '/api/alerts?status=firing' });
      const again = (res.json().alerts as AlertView[]).find((a) => a.rule === 'new_pattern');
      assert.ok(again, res.body);
      assert.equal(again.pattern_id, fired.pattern_id);
      assert.equal(again.fingerprint, fired.fingerprint);
      assert.equal(again.query, fired.query);
      assert.equal(again.samples.length, 5);
      await send(built.app, timeouts(3, clock.iso(), 'db'));
      built.app.core.alerts.checkAll();
      await flushAlerts();
      assert.equal(built.app.core.alertLog.notifications.length, 0, 'already paged before the restart');
    } finally {
      await built.app.close();
    }
  });

  test("a service's <other> pattern never fires it: shapes past patterns.max_per_service are not news", async () => {
    const { app, clock } = await buildTestApp({ ...config, patterns: { max_per_service: 1 } });
    try {
      await send(app, logins(1, clock.iso(), 'INFO', 'ops'));
      clock.advance(6 * 60_000);
      await send(app, Array.from({ length: 8 }, (_, i) => ({ timestamp: clock.iso(), level: 'ERROR', service: 'ops', message: `disk ${i} failed` })));
      await flushAlerts();
      assert.deepEqual((await patterns(app, '?service=ops&level=ERROR')).map((p) => [p.template, p.count]), [['<other>', 8]]);
      assert.equal(app.core.alertLog.notifications.length, 0);
    } finally {
      await app.close();
    }
  });

  test('INFO and WARNING patterns never fire it; alerting.rules.new_pattern: false turns it off', async () => {
    for (const [extra, level, expected] of [
      [{}, 'WARNING', 0],
      [{ alerting: { rules: { new_pattern: false } } }, 'ERROR', 0],
      [{}, 'CRITICAL', 1],
    ] as const) {
      const { app, clock } = await buildTestApp({ ...config, ...extra, alerting: { ...config.alerting, ...(extra as { alerting?: object }).alerting } });
      try {
        await send(app, logins(1, clock.iso()));
        clock.advance(6 * 60_000);
        await send(
          app,
          Array.from({ length: 8 }, (_, i) => ({ timestamp: clock.iso(), level, service: 'pay', message: `ledger row ${i} failed checksum` })),
        );
        await flushAlerts();
        assert.equal(app.core.alertLog.notifications.length, expected, `${level} ${JSON.stringify(extra)}`);
      } finally {
        await app.close();
      }
    }
  });
});

describe('alerts carry the logs behind them', () => {
  test('GET /api/alerts: query returns exactly the counted logs; samples newest first; top patterns with their counts', async () => {
    const { app, clock } = await buildTestApp({ alerting: { check_interval_seconds: 3600, rules: { high_volume: false, new_pattern: false } } });
    try {
      // Errors outside the window and of another service must stay out of the alert's logs.
      await send(app, timeouts(4, clock.iso(-10 * 60_000), 'pay'));
      clock.advance(1000);
      await send(app, [
        ...logins(30, clock.iso(-30_000), 'INFO', 'pay'),
        ...timeouts(12, clock.iso(-20_000), 'pay'),
        ...logins(3, clock.iso(-10_000), 'CRITICAL', 'pay'),
        ...timeouts(3, clock.iso(), 'other'),
      ]);
      const res = await app.inject({ method: 'GET', url: '/api/alerts?service=pay' });
      const alert = (res.json().alerts as AlertView[]).find((a) => a.rule === 'error_rate');
      assert.ok(alert, res.body);
      assert.match(alert.message, /\(15 of 45 logs\)/);
      assert.match(alert.query, /^service=pay&level=ERROR,CRITICAL&from=.*&to=.*$/);
      assert.equal(alert.logs_url, `http://localhost:5000/?${alert.query}&alert=${alert.fingerprint}#logs`);
      const behind = (await app.inject({ method: 'GET', url: `/api/logs?${alert.query}&limit=1000` })).json().logs as LogView[];
      assert.equal(behind.length, 15, 'exactly the logs the rule counted');
      assert.deepEqual(alert.samples, behind.slice(0, 5), 'the newest five of them');
      assert.deepEqual(
        alert.samples.map((l) => l.level),
        ['CRITICAL', 'CRITICAL', 'CRITICAL', 'ERROR', 'ERROR'],
      );
      const counts = new Map<number, number>();
      for (const l of behind) counts.set(l.pattern_id!, (counts.get(l.pattern_id!) ?? 0) + 1);
      assert.deepEqual(
        alert.top_patterns.map((p) => [p.template, p.count, counts.get(p.id)]),
        [
          ['query <*> timed out after <*> ms on shard-<*>', 12, 12],
          ['user <*> logged in from <*> port <*>', 3, 3],
        ],
      );

      // A log arriving, or logs deleted, shows in the next answer: nothing stale is served.
      await send(app, [{ timestamp: clock.iso(), level: 'ERROR', service: 'pay', message: 'a fresh failure' }]);
      const again = ((await app.inject({ method: 'GET', url: '/api/alerts?service=pay' })).json().alerts as AlertView[]).find((a) => a.rule === 'error_rate')!;
      assert.equal(again.samples[0]!.message, 'a fresh failure');
      const del = await app.inject({ method: 'DELETE', url: `/api/logs?before=${encodeURIComponent(clock.iso(1))}`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      assert.equal(del.statusCode, 200, del.body);
      const gone = ((await app.inject({ method: 'GET', url: '/api/alerts?service=pay' })).json().alerts as AlertView[]).find((a) => a.rule === 'error_rate')!;
      assert.deepEqual(gone.samples, []);
    } finally {
      await app.close();
    }
  });
});
