import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { HandlerCounters } from '../../server/core/alerting/dispatcher.js';
import { fingerprintOf } from '../../server/core/alerting/engine.js';
import type { AlertHandler, AlertNotification, AlertView } from '../../server/core/alerting/types.js';
import type { AlertmanagerPayload, WebhookCounters } from '../../server/core/alerting/webhook.js';
import { buildTestApp, log, postJson, type ManualClock, flushAlerts } from '../helpers.js';
import { startReceiver } from './receiver.js';

function answer(status: number): (req: IncomingMessage, res: ServerResponse) => void {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(status < 300 ? 'ok' : 'nope');
  };
}

/** Bounded poll for network outcomes (real I/O, not rule logic). */
async function waitFor(cond: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise<void>((r) => setTimeout(r, 5));
  }
}

function logsNow(clock: ManualClock, n: number, fields: Record<string, unknown> = {}): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => log({ timestamp: clock.iso(), message: `msg ${i}`, ...fields }));
}

async function ingest(app: FastifyInstance, logs: Record<string, unknown>[]): Promise<void> {
  const res = await postJson(app, '/api/logs', logs);
  assert.equal(res.statusCode, 201, res.body);
}

function hook(url: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { url, timeout_ms: 200, max_retries: 2, backoff_ms: 5, queue_size: 3, ...extra };
}

async function alertsApi(app: FastifyInstance): Promise<{ alerts: AlertView[]; handlers: HandlerCounters[]; webhooks: WebhookCounters[] }> {
  const res = await app.inject({ method: 'GET', url: '/api/alerts' });
  assert.equal(res.statusCode, 200);
  return res.json();
}

const ZERO_TIME = '0001-01-01T00:00:00Z';
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;

describe('webhook handler: Alertmanager webhook format over real HTTP', () => {
  test('firing then resolved payloads, field by field, with the configured headers', async () => {
    const rx = await startReceiver(answer(200));
    let app: FastifyInstance | undefined;
    try {
      const built = await buildTestApp({
        alerting: {
          check_interval_seconds: 3600,
          service_down_minutes: 60,
          external_url: 'http://logsentinel.example:8080',
          rules: { high_volume: false },
          // A generous timeout: this test is about the payload, and a cold first connection on a busy machine can take > 200 ms.
          handlers: { webhooks: [hook(`${rx.url}/hooks/am`, { timeout_ms: 5000, headers: { 'x-api-key': 'k-123', authorization: 'Bearer hook-secret' } })] },
        },
      });
      app = built.app;
      const { clock } = built;
      const firedAt = clock.iso();
      await ingest(app, logsNow(clock, 20, { level: 'ERROR', service: 'payment-service' }));
      await waitFor(() => (app!.core.webhooks[0]?.stats().sent ?? 0) >= 2, 'two firing payloads (payment-service and *) delivered');
      assert.equal(rx.received.length, 2);

      for (const r of rx.received) {
        assert.equal(r.method, 'POST');
        assert.equal(r.url, '/hooks/am');
        assert.equal(r.headers['x-api-key'], 'k-123');
        assert.equal(r.headers.authorization, 'Bearer hook-secret');
        assert.match(String(r.headers['content-type']), /^application\/json/);
      }
      const payloads = rx.received.map((r) => JSON.parse(r.body) as AlertmanagerPayload);
      const p = payloads.find((x) => x.alerts[0]?.labels.service === 'payment-service');
      assert.ok(p, 'a payload for payment-service');
      const fp = fingerprintOf('error_rate', 'payment-service');
      const active = (await alertsApi(app)).alerts.find((a) => a.fingerprint === fp);
      assert.ok(active);

      assert.equal(p.version, '4');
      assert.equal(p.status, 'firing');
      assert.equal(p.receiver, 'logsentinel');
      assert.equal(p.groupKey, '{}:{alertname="error_rate", service="payment-service"}');
      assert.equal(p.truncatedAlerts, 0);
      assert.deepEqual(p.groupLabels, { alertname: 'error_rate', service: 'payment-service' });
      assert.equal(p.externalURL, 'http://logsentinel.example:8080');
      assert.equal(p.alerts.length, 1);
      const a = p.alerts[0]!;
      assert.equal(a.status, 'firing');
      assert.deepEqual(a.labels, { alertname: 'error_rate', rule: 'error_rate', service: 'payment-service', severity: 'critical' });
      assert.deepEqual(p.commonLabels, a.labels);
      const query = 'service=payment-service&level=ERROR,CRITICAL&from=2024-01-15T14:26:00.000Z&to=2024-01-15T14:30:59.999Z';
      const logsUrl = `http://logsentinel.example:8080/?${query}&alert=${fp}#logs`;
      assert.deepEqual(a.annotations, {
        summary: active.message,
        value: '1',
        threshold: '0.1',
        query,
        logs_url: logsUrl,
        // The lines behind the alert, newest first (one event time: the later id first).
        samples: [19, 18, 17, 16, 15].map((i) => `${firedAt} ERROR payment-service: msg ${i}`).join('\n'),
        top_patterns: '20 x msg <*>',
      });
      // The query returns exactly the logs the alert counted.
      const behind = await app.inject({ method: 'GET', url: `/api/logs?${query}&limit=1000` });
      assert.equal(behind.json().count, 20);
      assert.deepEqual(p.commonAnnotations, a.annotations);
      assert.match(a.annotations.summary!, /100\.0%.*threshold 10\.0%/);
      assert.match(a.startsAt, ISO);
      assert.equal(a.startsAt, firedAt);
      assert.equal(a.endsAt, ZERO_TIME);
      assert.match(a.fingerprint, /^[0-9a-f]{16}$/);
      assert.equal(a.fingerprint, fp);
      assert.equal(a.generatorURL, logsUrl);

      const g = payloads.find((x) => x.alerts[0]?.labels.service === '*');
      assert.ok(g, 'a payload for the global alert');
      assert.equal(g.alerts[0]!.fingerprint, fingerprintOf('error_rate', '*'));
      assert.equal(g.groupKey, '{}:{alertname="error_rate", service="*"}');

      // Resolve: 20 errors of 201 logs.
      clock.advance(45_000);
      const resolvedAt = clock.iso();
      await ingest(app, logsNow(clock, 181, { level: 'INFO', service: 'payment-service' }));
      await waitFor(() => (app!.core.webhooks[0]?.stats().sent ?? 0) >= 4, 'two resolved payloads delivered');
      assert.equal(rx.received.length, 4);
      const later = rx.received.slice(2).map((r) => JSON.parse(r.body) as AlertmanagerPayload);
      const rp = later.find((x) => x.alerts[0]?.labels.service === 'payment-service');
      assert.ok(rp);
      assert.equal(rp.status, 'resolved');
      assert.equal(rp.version, '4');
      const ra = rp.alerts[0]!;
      assert.equal(ra.status, 'resolved');
      assert.equal(ra.startsAt, firedAt);
      assert.equal(ra.endsAt, resolvedAt);
      assert.notEqual(ra.endsAt, ZERO_TIME);
      assert.equal(ra.fingerprint, fp);
      assert.equal(ra.annotations.value, '0.0995');

      const { webhooks } = await alertsApi(app);
      assert.deepEqual(webhooks, [{ url: `${rx.url}/hooks/am`, queued: 0, sent: 4, failed: 0, retried: 0, dropped: 0 }]);
    } finally {
      await app?.close();
      await rx.close();
    }
  });
});

describe('webhook handler: failures', () => {
  // high_volume with a threshold of 5 and INFO logs gives exactly one notification (no global alert).
  const ONE_ALERT = { check_interval_seconds: 3600, service_down_minutes: 60, high_volume_threshold: 5 };

  test('a receiver answering 500 is retried max_retries times and counted failed', async () => {
    const rx = await startReceiver(answer(500));
    let app: FastifyInstance | undefined;
    try {
      const built = await buildTestApp({ alerting: { ...ONE_ALERT, handlers: { webhooks: [hook(rx.url, { timeout_ms: 5000 })] } } });
      app = built.app;
      await ingest(app, logsNow(built.clock, 5, { service: 'search' }));
      await waitFor(() => (app!.core.webhooks[0]?.stats().failed ?? 0) >= 1, 'the delivery to fail');
      assert.equal(rx.received.length, 3, '1 attempt + max_retries (2) retries');
      for (const r of rx.received) assert.equal(r.body, rx.received[0]!.body, 'each retry sends the same payload');
      const { webhooks, handlers } = await alertsApi(app);
      assert.deepEqual(webhooks, [{ url: rx.url, queued: 0, sent: 0, failed: 1, retried: 2, dropped: 0 }]);
      const host = new URL(rx.url).host;
      assert.deepEqual(
        handlers.map((h) => h.name),
        ['memory', 'log', `webhook ${host}`],
      );
      assert.equal(handlers.find((h) => h.name === 'memory')?.delivered, 1);
    } finally {
      await app?.close();
      await rx.close();
    }
  });

  test('a receiver answering 400 is not retried (client error) and counted failed', async () => {
    const rx = await startReceiver(answer(400));
    let app: FastifyInstance | undefined;
    try {
      const built = await buildTestApp({ alerting: { ...ONE_ALERT, handlers: { webhooks: [hook(rx.url, { timeout_ms: 5000 })] } } });
      app = built.app;
      await ingest(app, logsNow(built.clock, 5, { service: 'search' }));
      await waitFor(() => (app!.core.webhooks[0]?.stats().failed ?? 0) >= 1, 'the delivery to fail');
      assert.equal(rx.received.length, 1);
      assert.deepEqual(app.core.webhooks[0]!.stats(), { url: rx.url, queued: 0, sent: 0, failed: 1, retried: 0, dropped: 0 });
    } finally {
      await app?.close();
      await rx.close();
    }
  });

  test('a hanging receiver blocks neither ingestion nor the other handlers; timeouts and a full queue are counted', async () => {
    const rx = await startReceiver(null);
    let app: FastifyInstance | undefined;
    const got: AlertNotification[] = [];
    try {
      const built = await buildTestApp(
        { alerting: { ...ONE_ALERT, handlers: { webhooks: [hook(rx.url)] } } },
        { alertHandlers: [{ name: 'recorder', handle: (n: AlertNotification) => void got.push(n) }] },
      );
      app = built.app;
      const { clock } = built;
      const wh = app.core.webhooks[0]!;
      // Six services at the volume threshold in one batch: six firing notifications in one evaluation.
      const services = ['s1', 's2', 's3', 's4', 's5', 's6'];
      await ingest(app, services.flatMap((s) => logsNow(clock, 5, { service: s })));
      await flushAlerts();
      // One delivery in flight, queue_size (3) queued, the other two dropped.
      assert.deepEqual(wh.stats(), { url: rx.url, queued: 3, sent: 0, failed: 0, retried: 0, dropped: 2 });

      await waitFor(() => rx.pending >= 1, 'the receiver to hold a request open');
      // Ingestion answers at once while the webhook hangs.
      const t0 = performance.now();
      const res = await postJson(app, '/api/logs', logsNow(clock, 1, { service: 'other' }));
      const elapsed = performance.now() - t0;
      assert.equal(res.statusCode, 201);
      assert.ok(elapsed < 200, `ingest took ${elapsed.toFixed(0)} ms while the webhook hangs`);
      assert.equal(wh.stats().failed, 0, 'the hanging delivery had not finished when ingest answered');
      assert.equal(wh.stats().sent, 0);

      // The memory handler and the custom handler got all six, webhook or not.
      assert.equal(app.core.alertLog.notifications.length, 6);
      assert.deepEqual(
        app.core.alertLog.notifications.map((n) => n.alert.service).sort(),
        services,
      );
      assert.equal(got.length, 6);

      // Each attempt times out (200 ms): 1 + 2 retries, then failed. Wait for the first delivery.
      await waitFor(() => wh.stats().failed >= 1, 'the first delivery to time out');
      const s1 = wh.stats();
      assert.ok(s1.retried >= 2, `retried ${s1.retried}`);
      assert.equal(s1.sent, 0);

      // All four accepted deliveries time out in the end.
      await waitFor(() => wh.stats().failed === 4, 'all four deliveries to time out', 15_000);
      const { webhooks, handlers } = await alertsApi(app);
      assert.deepEqual(webhooks, [{ url: rx.url, queued: 0, sent: 0, failed: 4, retried: 8, dropped: 2 }]);
      // Every attempt is counted above; how many reached the receiver before timing out depends on the machine's speed.
      assert.ok(rx.received.length >= 4 && rx.received.length <= 12, `receiver saw ${rx.received.length} attempts`);
      const byName = new Map(handlers.map((h) => [h.name, h]));
      assert.deepEqual(byName.get('memory'), { name: 'memory', delivered: 6, failed: 0 });
      assert.deepEqual(byName.get('log'), { name: 'log', delivered: 6, failed: 0 });
      assert.deepEqual(byName.get('recorder'), { name: 'recorder', delivered: 6, failed: 0 });
      assert.ok(byName.has(`webhook ${new URL(rx.url).host}`));
    } finally {
      await app?.close();
      await rx.close();
    }
  });

  test('closing the app aborts a hanging delivery and counts what was still queued as dropped', async () => {
    const rx = await startReceiver(null);
    let app: FastifyInstance | undefined;
    try {
      const built = await buildTestApp({
        alerting: { ...ONE_ALERT, handlers: { webhooks: [hook(rx.url, { timeout_ms: 60_000 })] } },
      });
      app = built.app;
      await ingest(app, ['s1', 's2', 's3'].flatMap((s) => logsNow(built.clock, 5, { service: s })));
      await flushAlerts();
      await waitFor(() => rx.pending >= 1, 'the receiver to hold a request open');
      const wh = app.core.webhooks[0]!;
      assert.deepEqual(wh.stats(), { url: rx.url, queued: 2, sent: 0, failed: 0, retried: 0, dropped: 0 });
      const t0 = performance.now();
      await app.close();
      app = undefined;
      assert.ok(performance.now() - t0 < 2000, 'close does not wait for the 60 s timeout');
      assert.deepEqual(wh.stats(), { url: rx.url, queued: 0, sent: 0, failed: 0, retried: 0, dropped: 3 });
    } finally {
      await app?.close();
      await rx.close();
    }
  });
});

describe('custom handlers', () => {
  test('a throwing (or rejecting) handler does not stop the others and is counted failed', async () => {
    const got: AlertNotification[] = [];
    // Plain object literals: any object with {name, handle} is a handler.
    const throwing = {
      name: 'throws',
      handle(): void {
        throw new Error('handler exploded');
      },
    };
    const rejecting = {
      name: 'rejects',
      async handle(): Promise<void> {
        throw new Error('async handler exploded');
      },
    };
    const counting: AlertHandler = { name: 'counting', handle: (n) => void got.push(n) };
    const { app, clock } = await buildTestApp(
      { alerting: { check_interval_seconds: 3600, service_down_minutes: 60, high_volume_threshold: 5 } },
      { alertHandlers: [throwing, rejecting, counting] },
    );
    try {
      const res = await postJson(app, '/api/logs', logsNow(clock, 5, { service: 'search' }));
      assert.equal(res.statusCode, 201, 'the throw never reaches ingestion');
      await flushAlerts();
      assert.equal(got.length, 1, 'the handler after the throwing ones still got the notification');
      assert.equal(got[0]!.alert.rule, 'high_volume');
      assert.equal(app.core.alertLog.notifications.length, 1);

      const { handlers } = await alertsApi(app);
      assert.deepEqual(handlers, [
        { name: 'memory', delivered: 1, failed: 0 },
        { name: 'log', delivered: 1, failed: 0 },
        { name: 'throws', delivered: 0, failed: 1 },
        { name: 'rejects', delivered: 0, failed: 1 },
        { name: 'counting', delivered: 1, failed: 0 },
      ]);
      // The server still works afterwards.
      const again = await postJson(app, '/api/logs', logsNow(clock, 1, { service: 'search' }));
      assert.equal(again.statusCode, 201);
    } finally {
      await app.close();
    }
  });
});
