import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { AlertDispatcher } from '../../server/core/alerting/dispatcher.js';
import { LogHandler, MemoryHandler } from '../../server/core/alerting/handlers.js';
import type { AlertNotification } from '../../server/core/alerting/types.js';
import { buildTestApp, log, flushAlerts } from '../helpers.js';

function notification(status: 'firing' | 'resolved', service = 'search'): AlertNotification {
  return {
    status,
    alert: {
      rule: 'high_volume',
      level: 'WARNING',
      service,
      message: `${service} sent 5 logs in one minute`,
      timestamp: '2024-01-15T14:30:00.000Z',
      last_notified: '2024-01-15T14:30:00.000Z',
      status,
      value: 5,
      threshold: 5,
      fingerprint: '0123456789abcdef',
      query: `service=${service}`,
      logs_url: `http://localhost:5000/?service=${service}&alert=0123456789abcdef#logs`,
      samples: [],
      top_patterns: [],
    },
  };
}

describe('handlers run off the ingest path', () => {
  test('no handler is called before the ingest call returns; they run on the next turns', async () => {
    const got: AlertNotification[] = [];
    const { app, clock } = await buildTestApp(
      { alerting: { check_interval_seconds: 3600, service_down_minutes: 60, high_volume_threshold: 5 } },
      { alertHandlers: [{ name: 'recorder', handle: (n: AlertNotification) => void got.push(n) }] },
    );
    try {
      const items = Array.from({ length: 5 }, (_, i) => log({ timestamp: clock.iso(), service: 'search', message: `m${i}` }));
      const result = await app.core.pipeline.ingest(items);
      assert.equal(result.accepted, 5);
      // The engine has the alert already (synchronously), but no handler has run yet.
      assert.equal(app.core.alerts.activeAlerts().length, 1);
      assert.equal(got.length, 0, 'handlers must not run inside the ingest call');
      assert.equal(app.core.alertLog.notifications.length, 0);
      await flushAlerts();
      assert.equal(got.length, 1);
      assert.equal(app.core.alertLog.notifications.length, 1);
    } finally {
      await app.close();
    }
  });

  test('the dispatcher defers every handler, isolates a throwing one and counts per handler', async () => {
    const order: string[] = [];
    const errors: string[] = [];
    const dispatcher = new AlertDispatcher(
      [
        { name: 'a', handle: (n) => void order.push(`a:${n.alert.service}`) },
        {
          name: 'b',
          handle: () => {
            throw new Error('b failed');
          },
        },
        { name: 'c', handle: async (n) => void order.push(`c:${n.alert.service}`) },
      ],
      (handler) => void errors.push(handler),
    );
    dispatcher.dispatch(notification('firing', 's1'));
    dispatcher.dispatch(notification('firing', 's2'));
    assert.deepEqual(order, [], 'dispatch returns before any handler runs');
    await flushAlerts();
    assert.deepEqual(order, ['a:s1', 'c:s1', 'a:s2', 'c:s2']);
    assert.deepEqual(errors, ['b', 'b']);
    assert.deepEqual(dispatcher.stats(), [
      { name: 'a', delivered: 2, failed: 0 },
      { name: 'b', delivered: 0, failed: 2 },
      { name: 'c', delivered: 2, failed: 0 },
    ]);
  });
});

describe('built-in handlers', () => {
  test('LogHandler writes firing as warn and resolved as info', () => {
    const lines: { level: string; obj: object; msg: string }[] = [];
    const h = new LogHandler({
      warn: (obj, msg) => void lines.push({ level: 'warn', obj, msg }),
      info: (obj, msg) => void lines.push({ level: 'info', obj, msg }),
    });
    h.handle(notification('firing'));
    h.handle(notification('resolved'));
    assert.equal(lines.length, 2);
    assert.equal(lines[0]!.level, 'warn');
    assert.equal(lines[0]!.msg, 'alert firing: search sent 5 logs in one minute');
    assert.deepEqual(lines[0]!.obj, { alert: { rule: 'high_volume', service: 'search', level: 'WARNING', value: 5, fingerprint: '0123456789abcdef' } });
    assert.equal(lines[1]!.level, 'info');
    assert.equal(lines[1]!.msg, 'alert resolved: search sent 5 logs in one minute');
  });

  test('MemoryHandler keeps the newest notifications up to its capacity', () => {
    const h = new MemoryHandler(3);
    for (const s of ['s1', 's2', 's3', 's4', 's5']) h.handle(notification('firing', s));
    assert.deepEqual(
      h.notifications.map((n) => n.alert.service),
      ['s3', 's4', 's5'],
    );
  });
});
