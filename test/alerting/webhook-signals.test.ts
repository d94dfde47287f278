import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AlertNotification } from '../../server/core/alerting/types.js';
import { WebhookHandler, type WebhookConfig } from '../../server/core/alerting/webhook.js';

/**
 * A webhook handler lives as long as the server, and so does the signal that close() aborts.
 * Every delivery attempt must leave nothing attached to it: a listener or a dependant signal
 * per attempt is memory that grows with every alert ever sent. (`AbortSignal.any([timeout,
 * shutdown])` did exactly that: Node 20 keeps an entry per call in the shutdown signal's
 * dependants, found by the soak run's code review and measured at ~60-100 bytes an attempt.)
 */

function notification(i: number): AlertNotification {
  return {
    status: i % 2 === 0 ? 'firing' : 'resolved',
    alert: {
      rule: 'high_volume',
      level: 'WARNING',
      service: `svc-${i % 7}`,
      message: `svc-${i % 7} sent 500 logs in one minute, threshold 50 per minute`,
      timestamp: '2024-01-15T14:30:00.000Z',
      last_notified: '2024-01-15T14:30:00.000Z',
      status: i % 2 === 0 ? 'firing' : 'resolved',
      value: 500,
      threshold: 50,
      fingerprint: `fp-${i % 7}`,
      query: `service=svc-${i % 7}`,
      logs_url: `http://localhost:5000/?service=svc-${i % 7}&alert=fp-${i % 7}#logs`,
      samples: [],
      top_patterns: [],
    },
  };
}

/** What hangs off the handler's shutdown signal: 'abort' listeners, and the signals Node keeps as its dependants (AbortSignal.any). */
function attachments(handler: WebhookHandler): { listeners: number; dependants: number } {
  const signal = (Reflect.get(handler, 'closing') as AbortController).signal;
  const key = Object.getOwnPropertySymbols(signal).find((s) => s.description === 'kDependantSignals');
  const dependants = key === undefined ? 0 : ((signal as unknown as Record<symbol, Set<unknown> | undefined>)[key]?.size ?? 0);
  return { listeners: getEventListeners(signal, 'abort').length, dependants };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise<void>((r) => setTimeout(r, 5));
  }
}

const config = (url: string, extra: Partial<WebhookConfig> = {}): WebhookConfig => ({ url, timeout_ms: 5000, max_retries: 2, backoff_ms: 0, queue_size: 1000, ...extra });

describe('webhook handler: nothing stays attached to the shutdown signal', () => {
  test('after 300 deliveries (some retried after a 500), the shutdown signal holds no listener and no dependant', async () => {
    let requests = 0;
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        requests++;
        res.writeHead(requests % 3 === 0 ? 500 : 200).end();
      });
    });
    const handler = new WebhookHandler(config(await listen(server)), 'http://localhost:5000');
    try {
      for (let i = 0; i < 300; i++) handler.handle(notification(i));
      await waitFor(() => handler.stats().sent + handler.stats().failed === 300, '300 deliveries to end');
      const stats = handler.stats();
      assert.equal(stats.sent, 300, JSON.stringify(stats));
      assert.ok(stats.retried > 0, 'some attempts were retried');
      assert.deepEqual(attachments(handler), { listeners: 0, dependants: 0 }, `after ${requests} attempts`);
    } finally {
      await handler.close();
      await closeServer(server);
    }
  });

  test('attempts that time out leave nothing attached either, and still count as failed', async () => {
    const server = createServer((req) => req.resume()); // never answers
    const handler = new WebhookHandler(config(await listen(server), { timeout_ms: 50, max_retries: 1 }), 'http://localhost:5000');
    try {
      for (let i = 0; i < 3; i++) handler.handle(notification(i));
      await waitFor(() => handler.stats().failed === 3, 'three deliveries to fail');
      assert.deepEqual({ ...handler.stats(), url: '' }, { url: '', queued: 0, sent: 0, failed: 3, retried: 3, dropped: 0 });
      assert.deepEqual(attachments(handler), { listeners: 0, dependants: 0 });
    } finally {
      await handler.close();
      await closeServer(server);
    }
  });

  test('close() still aborts the attempt in flight at once and counts it dropped', async () => {
    let arrived = 0;
    const server = createServer((req) => {
      arrived++;
      req.resume();
    }); // never answers
    const handler = new WebhookHandler(config(await listen(server), { timeout_ms: 60_000 }), 'http://localhost:5000');
    try {
      handler.handle(notification(0));
      handler.handle(notification(1));
      await waitFor(() => arrived === 1, 'the first attempt to arrive');
      const t = performance.now();
      await handler.close();
      assert.ok(performance.now() - t < 1000, 'close() did not wait for the 60 s timeout');
      assert.deepEqual({ ...handler.stats(), url: '' }, { url: '', queued: 0, sent: 0, failed: 0, retried: 0, dropped: 2 });
    } finally {
      await closeServer(server);
    }
  });
});
