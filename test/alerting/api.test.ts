import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { fingerprintOf } from '../../server/core/alerting/engine.js';
import type { AlertNotification, AlertView } from '../../server/core/alerting/types.js';
import { ADMIN_TOKEN, READER_TOKEN, auth, buildTestApp, log, postJson, type ManualClock, flushAlerts } from '../helpers.js';

function logsNow(clock: ManualClock, n: number, fields: Record<string, unknown> = {}): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => log({ timestamp: clock.iso(), message: `msg ${i}`, ...fields }));
}

async function ingest(app: FastifyInstance, logs: Record<string, unknown>[]): Promise<void> {
  const res = await postJson(app, '/api/logs', logs);
  assert.equal(res.statusCode, 201, res.body);
}

function silence(app: FastifyInstance, fingerprint: string, body: unknown, headers: Record<string, string> = auth(ADMIN_TOKEN)) {
  return postJson(app, `/api/alerts/${fingerprint}/silence`, body, headers);
}

const CONFIG = {
  alerting: {
    check_interval_seconds: 3600,
    cooldown_seconds: 300,
    min_samples: 20,
    error_rate_threshold: 0.1,
    service_down_minutes: 60,
    rules: { high_volume: false },
  },
};

describe('silences: POST /api/alerts/:fingerprint/silence', () => {
  test('access and validation: 401 anonymous, 403 reader, 404 unknown fingerprint, 400 bad durations', async () => {
    const { app, clock } = await buildTestApp(CONFIG);
    try {
      await ingest(app, logsNow(clock, 20, { level: 'ERROR', service: 'payment-service' }));
      const fp = fingerprintOf('error_rate', 'payment-service');

      const anon = await silence(app, fp, { duration: '10m' }, {});
      assert.equal(anon.statusCode, 401);
      const reader = await silence(app, fp, { duration: '10m' }, auth(READER_TOKEN));
      assert.equal(reader.statusCode, 403);
      const unknown = await silence(app, '0123456789abcdef', { duration: '10m' });
      assert.equal(unknown.statusCode, 404, unknown.body);
      // A fingerprint never seen (service_down for this service did not fire) is unknown too.
      const neverFired = await silence(app, fingerprintOf('service_down', 'payment-service'), { duration: '10m' });
      assert.equal(neverFired.statusCode, 404);

      for (const duration of ['abc', 0, -5, '40d', '', '10 minutes', 1.5, '0s', null]) {
        const res = await silence(app, fp, { duration });
        assert.equal(res.statusCode, 400, `duration ${JSON.stringify(duration)}: ${res.body}`);
      }
      const missing = await silence(app, fp, {});
      assert.equal(missing.statusCode, 400);
      const extra = await silence(app, fp, { duration: '10m', colour: 'red' });
      assert.equal(extra.statusCode, 400);

      // None of the refused requests left a silence behind.
      const list = await app.inject({ method: 'GET', url: '/api/alerts' });
      assert.deepEqual(list.json().silences, []);
      const alert = (list.json().alerts as AlertView[]).find((a) => a.fingerprint === fp);
      assert.ok(alert);
      assert.equal(alert.silenced_until, undefined);

      // Upper bound: exactly 30 days is allowed; numeric seconds work too.
      const max = await silence(app, fp, { duration: '30d' });
      assert.equal(max.statusCode, 200, max.body);
      const numeric = await silence(app, fp, { duration: 90 });
      assert.equal(numeric.statusCode, 200);
      assert.deepEqual(numeric.json(), { fingerprint: fp, silenced_until: clock.iso(90_000) });
    } finally {
      await app.close();
    }
  });

  test('a silence mutes notifications (even after the cooldown), is listed, and notifications resume when it ends', async () => {
    const got: AlertNotification[] = [];
    const { app, clock } = await buildTestApp(CONFIG, { alertHandlers: [{ name: 'recorder', handle: (n: AlertNotification) => void got.push(n) }] });
    try {
      const fired = () => got.filter((n) => n.status === 'firing' && n.alert.rule === 'error_rate' && n.alert.service === 'payment-service');
      const errors = () => ingest(app, logsNow(clock, 20, { level: 'ERROR', service: 'payment-service' }));

      await errors();
      await flushAlerts();
      assert.equal(fired().length, 1);

      const list0 = await app.inject({ method: 'GET', url: '/api/alerts?rule=error_rate&service=payment-service', headers: auth(READER_TOKEN) });
      assert.equal(list0.statusCode, 200);
      const alerts0 = list0.json().alerts as AlertView[];
      assert.equal(alerts0.length, 1);
      const fp = alerts0[0]!.fingerprint;
      assert.match(fp, /^[0-9a-f]{16}$/);
      assert.equal(fp, fingerprintOf('error_rate', 'payment-service'));

      const res = await silence(app, fp, { duration: '10m' });
      assert.equal(res.statusCode, 200, res.body);
      const until = clock.iso(10 * 60_000);
      assert.deepEqual(res.json(), { fingerprint: fp, silenced_until: until });

      const list1 = await app.inject({ method: 'GET', url: '/api/alerts' });
      const body1 = list1.json();
      assert.deepEqual(body1.silences, [{ fingerprint: fp, until }]);
      const a1 = (body1.alerts as AlertView[]).find((a) => a.fingerprint === fp);
      assert.ok(a1);
      assert.equal(a1.silenced_until, until);
      assert.equal(a1.status, 'firing');
      const dash = await app.inject({ method: 'GET', url: '/api/advanced-dashboard-data' });
      assert.equal((dash.json().active_alerts as AlertView[]).find((a) => a.fingerprint === fp)?.silenced_until, until);

      // Past the cooldown (301 s), still breached, but silenced: no notice. The unsilenced '*' alert shows the cooldown is over.
      clock.advance(301_000);
      await errors();
      await flushAlerts();
      assert.equal(fired().length, 1, 'silenced: no re-notification after the cooldown');
      assert.equal(got.filter((n) => n.status === 'firing' && n.alert.service === '*').length, 2, 'control: the unsilenced global alert re-notified');

      // One second before the silence ends: still muted.
      clock.advance(10 * 60_000 - 301_000 - 1000);
      await errors();
      await flushAlerts();
      assert.equal(fired().length, 1);

      // The silence has ended: notifications resume, and the silence is gone from the listing.
      clock.advance(1000);
      await errors();
      await flushAlerts();
      assert.equal(fired().length, 2, 'notifications resume once the silence expires');
      assert.equal(fired()[1]!.alert.silenced_until, undefined);
      const list2 = await app.inject({ method: 'GET', url: '/api/alerts' });
      assert.deepEqual(list2.json().silences, []);
      assert.equal((list2.json().alerts as AlertView[]).find((a) => a.fingerprint === fp)?.silenced_until, undefined);
    } finally {
      await app.close();
    }
  });

  test('a resolution while silenced sends no resolved notice', async () => {
    const got: AlertNotification[] = [];
    const { app, clock } = await buildTestApp(CONFIG, { alertHandlers: [{ name: 'recorder', handle: (n: AlertNotification) => void got.push(n) }] });
    try {
      await ingest(app, logsNow(clock, 20, { level: 'ERROR', service: 'orders' }));
      const fp = fingerprintOf('error_rate', 'orders');
      assert.equal((await silence(app, fp, { duration: '1h' })).statusCode, 200);
      await ingest(app, logsNow(clock, 181, { level: 'INFO', service: 'orders' }));
      await flushAlerts();
      const mine = got.filter((n) => n.alert.fingerprint === fp).map((n) => n.status);
      assert.deepEqual(mine, ['firing']);
      assert.deepEqual(
        got.filter((n) => n.alert.service === '*').map((n) => n.status),
        ['firing', 'resolved'],
        'control: the unsilenced global alert did resolve with a notice',
      );
      const resolved = await app.inject({ method: 'GET', url: '/api/alerts?status=resolved&service=orders' });
      assert.equal((resolved.json().alerts as AlertView[]).length, 1, 'it did resolve');
    } finally {
      await app.close();
    }
  });
});

describe('POST /api/simulate-errors feeds the alerting in the same request cycle', () => {
  test('50 errors for payment-service → /api/advanced-dashboard-data shows the error_rate alert with every field', async () => {
    const { app, clock } = await buildTestApp({ alerting: { check_interval_seconds: 3600 } });
    try {
      const sim = await postJson(app, '/api/simulate-errors', { count: 50, error_rate: 1.0, service: 'payment-service' });
      assert.equal(sim.statusCode, 200, sim.body);
      assert.equal(sim.json().accepted, 50);

      const res = await app.inject({ method: 'GET', url: '/api/advanced-dashboard-data' });
      assert.equal(res.statusCode, 200);
      const active = res.json().active_alerts as AlertView[];
      const a = active.find((x) => x.rule === 'error_rate' && x.service === 'payment-service');
      assert.ok(a, `active_alerts: ${JSON.stringify(active)}`);
      assert.deepEqual(Object.keys(a).sort(), [
        'fingerprint',
        'last_notified',
        'level',
        'logs_url',
        'message',
        'query',
        'rule',
        'samples',
        'service',
        'status',
        'threshold',
        'timestamp',
        'top_patterns',
        'value',
      ]);
      assert.equal(a.rule, 'error_rate');
      assert.equal(a.level, 'CRITICAL');
      assert.equal(a.service, 'payment-service');
      assert.equal(a.status, 'firing');
      assert.equal(a.value, 1);
      assert.equal(a.threshold, app.config.alerting.error_rate_threshold);
      assert.equal(a.threshold, 0.1);
      assert.match(a.message, /payment-service/);
      assert.match(a.message, /100\.0%/, 'message carries the measured value');
      assert.match(a.message, /threshold 10\.0%/, 'message carries the threshold');
      assert.match(a.message, /50 of 50 logs/);
      assert.equal(a.timestamp, clock.iso());
      assert.equal(a.last_notified, clock.iso());
      assert.match(a.fingerprint, /^[0-9a-f]{16}$/);
      assert.equal(a.fingerprint, fingerprintOf('error_rate', 'payment-service'));
    } finally {
      await app.close();
    }
  });
});
