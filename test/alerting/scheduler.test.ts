import { test, describe, mock } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import type { AlertNotification } from '../../server/core/alerting/types.js';
import { buildTestApp, log, postJson, type ManualClock, flushAlerts } from '../helpers.js';

async function ingestOne(app: FastifyInstance, clock: ManualClock, service: string): Promise<void> {
  const res = await postJson(app, '/api/logs', log({ timestamp: clock.iso(), service }));
  assert.equal(res.statusCode, 201, res.body);
}

describe("the scheduled 'alert-check' job (toad-scheduler on mocked timers)", () => {
  test('a silent service fires service_down from the scheduled check alone, and a new log resolves it', async () => {
    // Before buildTestApp, so the SimpleIntervalJob's setInterval is the mocked one.
    mock.timers.enable({ apis: ['setInterval', 'setTimeout'] });
    let app: FastifyInstance | undefined;
    try {
      const got: AlertNotification[] = [];
      const built = await buildTestApp(
        { alerting: { service_down_minutes: 2, check_interval_seconds: 30, cooldown_seconds: 300 } },
        { alertHandlers: [{ name: 'recorder', handle: (n: AlertNotification) => void got.push(n) }] },
      );
      app = built.app;
      const { clock } = built;
      const interval = app.config.alerting.check_interval_seconds * 1000;
      const down = () => got.filter((n) => n.alert.rule === 'service_down' && n.alert.service === 'billing');

      await ingestOne(app, clock, 'billing');
      clock.advance(2 * 60_000);
      await flushAlerts();
      assert.equal(down().length, 0, 'nothing evaluates service_down until the job runs');

      mock.timers.tick(interval - 1);
      await flushAlerts();
      assert.equal(down().length, 0, 'the job has not run yet');

      mock.timers.tick(1);
      await flushAlerts();
      assert.equal(down().length, 1, 'the scheduled check fired service_down without any ingest');
      const n = down()[0]!;
      assert.equal(n.status, 'firing');
      assert.equal(n.alert.value, 120);
      assert.equal(n.alert.timestamp, clock.iso());
      assert.ok(app.core.alerts.activeAlerts().some((a) => a.rule === 'service_down' && a.service === 'billing'));

      // Another run inside the cooldown: still down, no second notice.
      clock.advance(interval);
      mock.timers.tick(interval);
      await flushAlerts();
      assert.equal(down().length, 1);

      await ingestOne(app, clock, 'billing');
      await flushAlerts();
      const statuses = down().map((x) => x.status);
      assert.deepEqual(statuses, ['firing', 'resolved']);
      assert.equal(down()[1]!.alert.resolved_at, clock.iso());
      assert.equal(app.core.alerts.activeAlerts().some((a) => a.rule === 'service_down'), false);

      // And the next scheduled run does not fire it again while the service is talking.
      mock.timers.tick(interval);
      await flushAlerts();
      assert.equal(down().length, 2);
    } finally {
      await app?.close();
      mock.timers.reset();
    }
  });
});
