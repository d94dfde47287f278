import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../../server/app.js';
import { fingerprintOf } from '../../server/core/alerting/engine.js';
import type { AlertNotification, AlertView, RuleName } from '../../server/core/alerting/types.js';
import { buildTestApp, log, postJson, type ManualClock, flushAlerts } from '../helpers.js';

// The real scheduled check must never run by itself during these tests: they call checkAll by hand.
const QUIET = { check_interval_seconds: 3600 };

function recorder(name = 'recorder'): { handler: { name: string; handle(n: AlertNotification): void }; got: AlertNotification[] } {
  const got: AlertNotification[] = [];
  return { handler: { name, handle: (n: AlertNotification) => void got.push(n) }, got };
}

/** Lets the dispatcher's setImmediate deliveries (and any promise they start) run. */
function logsNow(clock: ManualClock, n: number, fields: Record<string, unknown> = {}): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => log({ timestamp: clock.iso(), message: `msg ${i}`, ...fields }));
}

async function ingest(app: FastifyInstance, logs: Record<string, unknown>[]): Promise<void> {
  const res = await postJson(app, '/api/logs', logs);
  assert.equal(res.statusCode, 201, res.body);
}

function notices(got: readonly AlertNotification[], status: 'firing' | 'resolved', rule: RuleName, service: string): AlertNotification[] {
  return got.filter((n) => n.status === status && n.alert.rule === rule && n.alert.service === service);
}

function activeOf(app: FastifyInstance, rule: RuleName, service: string): AlertView | undefined {
  return app.core.alerts.activeAlerts().find((a) => a.rule === rule && a.service === service);
}

async function withApp(
  overrides: Record<string, unknown>,
  fn: (app: FastifyInstance, clock: ManualClock, got: AlertNotification[]) => Promise<void>,
  deps: AppDeps = {},
): Promise<void> {
  const rec = recorder();
  const { app, clock } = await buildTestApp(overrides, { alertHandlers: [rec.handler], ...deps });
  try {
    await fn(app, clock, rec.got);
  } finally {
    await app.close();
  }
}

const ERR = { alerting: { ...QUIET, error_rate_threshold: 0.1, min_samples: 20, high_volume_threshold: 10_000, service_down_minutes: 60 } };

describe('error_rate rule: per service', () => {
  test('19 logs, all errors, stay below min_samples (20): no alert; the 20th log fires', async () => {
    await withApp(ERR, async (app, clock, got) => {
      await ingest(app, logsNow(clock, 19, { level: 'ERROR', service: 'orders' }));
      await flushAlerts();
      assert.equal(activeOf(app, 'error_rate', 'orders'), undefined);
      assert.equal(activeOf(app, 'error_rate', '*'), undefined);
      assert.equal(got.length, 0);

      await ingest(app, logsNow(clock, 1, { level: 'ERROR', service: 'orders' }));
      await flushAlerts();
      const a = activeOf(app, 'error_rate', 'orders');
      assert.ok(a, 'error_rate for orders fires at 20 samples');
      assert.equal(a.value, 1);
      assert.equal(notices(got, 'firing', 'error_rate', 'orders').length, 1);
    });
  });

  test('20 logs with exactly the threshold share of errors (2/20 = 0.10) fire', async () => {
    await withApp(ERR, async (app, clock, got) => {
      await ingest(app, [...logsNow(clock, 18, { level: 'INFO', service: 'orders' }), ...logsNow(clock, 2, { level: 'ERROR', service: 'orders' })]);
      await flushAlerts();
      const a = activeOf(app, 'error_rate', 'orders');
      assert.ok(a, 'rate == threshold must fire (>=)');
      assert.equal(a.value, 0.1);
      assert.equal(a.threshold, 0.1);
      assert.equal(a.level, 'CRITICAL');
      assert.equal(a.status, 'firing');
      assert.equal(a.fingerprint, fingerprintOf('error_rate', 'orders'));
      const fired = notices(got, 'firing', 'error_rate', 'orders');
      assert.equal(fired.length, 1);
      assert.equal(fired[0]!.alert.value, 0.1);
    });
  });

  test('just below the threshold (2 errors of 21 = 0.0952) does not fire; one more error does', async () => {
    await withApp(ERR, async (app, clock, got) => {
      await ingest(app, [...logsNow(clock, 19, { level: 'INFO', service: 'orders' }), ...logsNow(clock, 2, { level: 'ERROR', service: 'orders' })]);
      await flushAlerts();
      assert.equal(activeOf(app, 'error_rate', 'orders'), undefined);
      assert.equal(activeOf(app, 'error_rate', '*'), undefined);
      assert.equal(got.length, 0);

      await ingest(app, logsNow(clock, 1, { level: 'CRITICAL', service: 'orders' }));
      await flushAlerts();
      assert.ok(activeOf(app, 'error_rate', 'orders'), 'CRITICAL counts as an error: 3/22 fires');
      assert.equal(notices(got, 'firing', 'error_rate', 'orders').length, 1);
    });
  });
});

describe("error_rate rule: all services together ('*')", () => {
  const SERVICES = ['a-svc', 'b-svc', 'c-svc', 'd-svc'];
  /** `total` logs round-robin over 4 services, the first `errors` of them ERROR: no single service reaches min_samples. */
  function spread(clock: ManualClock, total: number, errors: number): Record<string, unknown>[] {
    return Array.from({ length: total }, (_, i) =>
      log({ timestamp: clock.iso(), service: SERVICES[i % SERVICES.length], level: i < errors ? 'ERROR' : 'INFO', message: `m${i}` }),
    );
  }

  test('20 logs over 4 services with 2 errors fire the global alert only', async () => {
    await withApp(ERR, async (app, clock, got) => {
      await ingest(app, spread(clock, 20, 2));
      await flushAlerts();
      const g = activeOf(app, 'error_rate', '*');
      assert.ok(g, 'global error_rate fires at exactly the threshold');
      assert.equal(g.value, 0.1);
      assert.equal(g.fingerprint, fingerprintOf('error_rate', '*'));
      assert.match(g.message, /all services/);
      for (const s of SERVICES) assert.equal(activeOf(app, 'error_rate', s), undefined, `${s} has only 5 samples`);
      assert.equal(notices(got, 'firing', 'error_rate', '*').length, 1);
      assert.equal(got.length, 1);
    });
  });

  test('19 logs, all errors, over 4 services do not fire the global alert', async () => {
    await withApp(ERR, async (app, clock, got) => {
      await ingest(app, spread(clock, 19, 19));
      await flushAlerts();
      assert.equal(activeOf(app, 'error_rate', '*'), undefined);
      assert.equal(got.length, 0);
    });
  });

  test('21 logs over 4 services with 2 errors (just below) do not fire the global alert', async () => {
    await withApp(ERR, async (app, clock, got) => {
      await ingest(app, spread(clock, 21, 2));
      await flushAlerts();
      assert.equal(activeOf(app, 'error_rate', '*'), undefined);
      assert.equal(got.length, 0);
    });
  });
});

describe('high_volume rule (per minute, per service)', () => {
  const HV = { alerting: { ...QUIET, high_volume_threshold: 50, service_down_minutes: 60 } };

  test('49 logs in one minute do not fire; the 50th does', async () => {
    await withApp(HV, async (app, clock, got) => {
      await ingest(app, logsNow(clock, 49, { service: 'search' }));
      await flushAlerts();
      assert.equal(activeOf(app, 'high_volume', 'search'), undefined);
      assert.equal(got.length, 0);

      await ingest(app, logsNow(clock, 1, { service: 'search' }));
      await flushAlerts();
      const a = activeOf(app, 'high_volume', 'search');
      assert.ok(a, 'high_volume fires when a minute reaches the threshold');
      assert.equal(a.value, 50);
      assert.equal(a.threshold, 50);
      assert.equal(a.level, 'WARNING');
      assert.match(a.message, /50 logs in one minute \(2024-01-15T14:30\), threshold 50 per minute/);
      assert.equal(notices(got, 'firing', 'high_volume', 'search').length, 1);
      assert.equal(activeOf(app, 'high_volume', '*'), undefined, 'there is no global volume alert');
    });
  });

  test('50 logs spread over two minutes (25 + 25) do not fire: the threshold is per minute, not a sum', async () => {
    await withApp(HV, async (app, clock, got) => {
      const prev = Array.from({ length: 25 }, (_, i) => log({ timestamp: clock.iso(-30_000), service: 'search', message: `p${i}` }));
      const cur = logsNow(clock, 25, { service: 'search' });
      await ingest(app, [...prev, ...cur]);
      await flushAlerts();
      // All 50 are inside the window:
      const w = app.core.analytics.serviceWindow('search', app.config.alerting.window_minutes);
      assert.equal(w.total, 50);
      assert.equal(w.peakCount, 25);
      assert.equal(activeOf(app, 'high_volume', 'search'), undefined);
      assert.equal(got.length, 0);
    });
  });
});

describe('service_down rule', () => {
  const SD = { alerting: { ...QUIET, service_down_minutes: 2 } };

  test('silent for service_down_minutes fires; one second less does not; a new log resolves it', async () => {
    await withApp(SD, async (app, clock, got) => {
      await ingest(app, logsNow(clock, 1, { service: 'billing' }));
      clock.advance(2 * 60_000 - 1000);
      app.core.alerts.checkAll();
      await flushAlerts();
      assert.equal(activeOf(app, 'service_down', 'billing'), undefined, 'silent 119 s < 120 s');
      assert.equal(got.length, 0);

      clock.advance(1000);
      app.core.alerts.checkAll();
      await flushAlerts();
      const a = activeOf(app, 'service_down', 'billing');
      assert.ok(a, 'silent 120 s fires');
      assert.equal(a.value, 120);
      assert.equal(a.threshold, 120);
      assert.equal(a.level, 'CRITICAL');
      assert.equal(notices(got, 'firing', 'service_down', 'billing').length, 1);

      await ingest(app, logsNow(clock, 1, { service: 'billing' }));
      await flushAlerts();
      assert.equal(activeOf(app, 'service_down', 'billing'), undefined);
      const resolved = notices(got, 'resolved', 'service_down', 'billing');
      assert.equal(resolved.length, 1);
      assert.equal(resolved[0]!.alert.resolved_at, clock.iso());
    });
  });
});

describe('cooldown', () => {
  const CD = { alerting: { ...QUIET, cooldown_seconds: 300, min_samples: 20, error_rate_threshold: 0.1, service_down_minutes: 60, rules: { high_volume: false } } };

  test('50 concurrent ingests above the threshold give exactly one firing notice per alert; re-notify only after the cooldown', async () => {
    await withApp(CD, async (app, clock, got) => {
      const firstFire = clock.iso();
      const replies = await Promise.all(
        Array.from({ length: 50 }, () => postJson(app, '/api/logs', logsNow(clock, 20, { level: 'ERROR', service: 'payment-service' }))),
      );
      for (const r of replies) assert.equal(r.statusCode, 201);
      await flushAlerts();
      assert.equal(notices(got, 'firing', 'error_rate', 'payment-service').length, 1);
      assert.equal(notices(got, 'firing', 'error_rate', '*').length, 1);
      assert.equal(got.length, 2, JSON.stringify(got.map((n) => [n.status, n.alert.rule, n.alert.service])));
      assert.equal(app.core.alertLog.notifications.length, 2, 'the memory handler saw the same two');
      assert.deepEqual(app.core.alerts.counters.error_rate, { fired: 2, notified: 2 });

      // One second before the cooldown ends: still breached, nothing new.
      clock.advance(299_000);
      await ingest(app, logsNow(clock, 20, { level: 'ERROR', service: 'payment-service' }));
      await flushAlerts();
      assert.equal(notices(got, 'firing', 'error_rate', 'payment-service').length, 1);

      // Cooldown over: a second firing notice, same episode (same start time).
      clock.advance(1000);
      await ingest(app, logsNow(clock, 20, { level: 'ERROR', service: 'payment-service' }));
      await flushAlerts();
      const fired = notices(got, 'firing', 'error_rate', 'payment-service');
      assert.equal(fired.length, 2);
      assert.equal(fired[1]!.alert.timestamp, firstFire);
      assert.equal(fired[1]!.alert.last_notified, clock.iso());
      assert.equal(notices(got, 'resolved', 'error_rate', 'payment-service').length, 0);
    });
  });
});

describe('resolution', () => {
  const RS = { alerting: { ...QUIET, cooldown_seconds: 300, min_samples: 20, error_rate_threshold: 0.1, service_down_minutes: 60, rules: { high_volume: false } } };

  test('INFO logs bringing the rate under the threshold resolve it: notice, gone from active, listed as resolved', async () => {
    await withApp(RS, async (app, clock, got) => {
      await ingest(app, logsNow(clock, 20, { level: 'ERROR', service: 'orders' }));
      await flushAlerts();
      const fp = fingerprintOf('error_rate', 'orders');
      assert.ok(activeOf(app, 'error_rate', 'orders'));

      clock.advance(30_000);
      // 20 / 199 = 0.1005: still breached.
      await ingest(app, logsNow(clock, 179, { level: 'INFO', service: 'orders' }));
      await flushAlerts();
      assert.ok(activeOf(app, 'error_rate', 'orders'));
      assert.equal(notices(got, 'resolved', 'error_rate', 'orders').length, 0);

      // 20 / 201 = 0.0995: clear.
      await ingest(app, logsNow(clock, 2, { level: 'INFO', service: 'orders' }));
      await flushAlerts();
      assert.equal(activeOf(app, 'error_rate', 'orders'), undefined);
      const resolved = notices(got, 'resolved', 'error_rate', 'orders');
      assert.equal(resolved.length, 1);
      assert.equal(resolved[0]!.alert.status, 'resolved');
      assert.equal(resolved[0]!.alert.resolved_at, clock.iso());
      assert.equal(resolved[0]!.alert.fingerprint, fp);

      const res = await app.inject({ method: 'GET', url: '/api/alerts?status=resolved' });
      assert.equal(res.statusCode, 200);
      const listed = (res.json().alerts as AlertView[]).filter((a) => a.fingerprint === fp);
      assert.equal(listed.length, 1);
      assert.equal(listed[0]!.status, 'resolved');
      assert.equal(listed[0]!.resolved_at, clock.iso());
      assert.equal(listed[0]!.timestamp, clock.iso(-30_000));

      const firing = await app.inject({ method: 'GET', url: '/api/alerts?status=firing' });
      assert.equal((firing.json().alerts as AlertView[]).some((a) => a.fingerprint === fp), false);
      const dash = await app.inject({ method: 'GET', url: '/api/advanced-dashboard-data' });
      assert.equal((dash.json().active_alerts as AlertView[]).some((a) => a.fingerprint === fp), false);
    });
  });

  test('the window sliding past the errors resolves it at the scheduled check', async () => {
    await withApp(RS, async (app, clock, got) => {
      await ingest(app, logsNow(clock, 20, { level: 'ERROR', service: 'orders' }));
      // 14:34:59: the 14:30 minute is still in the 5-minute window.
      clock.advance(5 * 60_000 - 1000);
      app.core.alerts.checkAll();
      await flushAlerts();
      assert.ok(activeOf(app, 'error_rate', 'orders'));
      assert.equal(notices(got, 'resolved', 'error_rate', 'orders').length, 0);

      clock.advance(1000);
      app.core.alerts.checkAll();
      await flushAlerts();
      assert.equal(activeOf(app, 'error_rate', 'orders'), undefined);
      assert.equal(activeOf(app, 'error_rate', '*'), undefined);
      assert.equal(notices(got, 'resolved', 'error_rate', 'orders').length, 1);
      assert.equal(notices(got, 'resolved', 'error_rate', '*').length, 1);
      const res = await app.inject({ method: 'GET', url: '/api/alerts?status=resolved&service=orders' });
      const listed = res.json().alerts as AlertView[];
      assert.equal(listed.length, 1);
      assert.equal(listed[0]!.resolved_at, clock.iso());
    });
  });

  test('a flapping alert notifies firing once per cooldown, and never sends resolved for an un-notified firing', async () => {
    await withApp(RS, async (app, clock, got) => {
      const fp = fingerprintOf('error_rate', 'orders');
      await ingest(app, logsNow(clock, 20, { level: 'ERROR', service: 'orders' })); // fire (notified)
      await ingest(app, logsNow(clock, 181, { level: 'INFO', service: 'orders' })); // 20/201: resolve (notified)
      clock.advance(10_000);
      await ingest(app, logsNow(clock, 2, { level: 'ERROR', service: 'orders' })); // 22/203: fires again, inside cooldown
      await flushAlerts();
      const again = activeOf(app, 'error_rate', 'orders');
      assert.ok(again, 'the second episode is active');
      assert.equal(again.last_notified, null, 'held back by the cooldown');
      assert.equal(again.timestamp, clock.iso());

      clock.advance(10_000);
      await ingest(app, logsNow(clock, 18, { level: 'INFO', service: 'orders' })); // 22/221: resolves again
      await flushAlerts();
      assert.equal(activeOf(app, 'error_rate', 'orders'), undefined);
      assert.equal(notices(got, 'firing', 'error_rate', 'orders').length, 1, 'flapping must not re-notify within the cooldown');
      assert.equal(notices(got, 'resolved', 'error_rate', 'orders').length, 1, 'no resolved for the un-notified second firing');

      const res = await app.inject({ method: 'GET', url: `/api/alerts?status=resolved&service=orders` });
      const history = (res.json().alerts as AlertView[]).filter((a) => a.fingerprint === fp);
      assert.equal(history.length, 2, 'both episodes are in the history');
      assert.equal(history[0]!.last_notified, null, 'newest first: the un-notified one');
      assert.notEqual(history[1]!.last_notified, null);

      // After the cooldown a new episode notifies again.
      clock.advance(300_000);
      await ingest(app, logsNow(clock, 20, { level: 'ERROR', service: 'orders' }));
      await flushAlerts();
      assert.equal(notices(got, 'firing', 'error_rate', 'orders').length, 2);
    });
  });
});

describe('rules can be turned off one by one', () => {
  const scenarios: { rule: RuleName; service: string; run: (app: FastifyInstance, clock: ManualClock) => Promise<void> }[] = [
    {
      rule: 'error_rate',
      service: 'payment-service',
      run: async (app, clock) => ingest(app, logsNow(clock, 20, { level: 'ERROR', service: 'payment-service' })),
    },
    {
      rule: 'high_volume',
      service: 'payment-service',
      run: async (app, clock) => ingest(app, logsNow(clock, 20, { level: 'INFO', service: 'payment-service' })),
    },
    {
      rule: 'service_down',
      service: 'payment-service',
      run: async (app, clock) => {
        await ingest(app, logsNow(clock, 1, { level: 'INFO', service: 'payment-service' }));
        clock.advance(3 * 60_000);
        app.core.alerts.checkAll();
      },
    },
  ];
  const base = { ...QUIET, min_samples: 20, error_rate_threshold: 0.1, high_volume_threshold: 20, service_down_minutes: 2 };

  for (const s of scenarios) {
    test(`${s.rule}: fires when on, never when off (same input)`, async () => {
      await withApp({ alerting: base }, async (app, clock, got) => {
        await s.run(app, clock);
        await flushAlerts();
        assert.ok(activeOf(app, s.rule, s.service), `control: ${s.rule} fires when enabled`);
        assert.equal(notices(got, 'firing', s.rule, s.service).length, 1);
      });
      await withApp({ alerting: { ...base, rules: { [s.rule]: false } } }, async (app, clock, got) => {
        await s.run(app, clock);
        await flushAlerts();
        assert.equal(
          app.core.alerts.activeAlerts().some((a) => a.rule === s.rule),
          false,
          `${s.rule} must not fire when alerting.rules.${s.rule} is false`,
        );
        assert.equal(got.some((n) => n.alert.rule === s.rule), false);
        assert.deepEqual(app.core.alerts.counters[s.rule], { fired: 0, notified: 0 });
        const res = await app.inject({ method: 'GET', url: `/api/alerts?rule=${s.rule}` });
        assert.deepEqual(res.json().alerts, []);
      });
    });
  }

  test('error_rate off: the global (*) error rate alert is off too, while other rules still work', async () => {
    await withApp({ alerting: { ...base, rules: { error_rate: false } } }, async (app, clock, got) => {
      await ingest(app, logsNow(clock, 20, { level: 'ERROR', service: 'payment-service' }));
      await flushAlerts();
      assert.equal(activeOf(app, 'error_rate', '*'), undefined);
      assert.equal(activeOf(app, 'error_rate', 'payment-service'), undefined);
      assert.ok(activeOf(app, 'high_volume', 'payment-service'), 'high_volume (threshold 20) still fires');
      assert.deepEqual(
        got.map((n) => n.alert.rule),
        ['high_volume'],
      );
    });
  });
});
