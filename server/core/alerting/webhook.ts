import { outcomesByRule, type AlertHandler, type AlertNotification, type Deliveries, type Outcomes, type RuleName } from './types.js';

export interface WebhookConfig {
  url: string;
  headers?: Readonly<Record<string, string>>;
  timeout_ms: number;
  max_retries: number;
  backoff_ms: number;
  queue_size: number;
}

/** One alert in Prometheus Alertmanager's webhook format (version 4). */
export interface AlertmanagerAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

export interface AlertmanagerPayload {
  version: '4';
  groupKey: string;
  truncatedAlerts: number;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: AlertmanagerAlert[];
}

/** Alertmanager's zero time: what endsAt holds while an alert is still firing. */
const ZERO_TIME = '0001-01-01T00:00:00Z';

export function toAlertmanager(n: AlertNotification, externalURL: string): AlertmanagerPayload {
  const { alert } = n;
  const labels: Record<string, string> = { alertname: alert.rule, rule: alert.rule, service: alert.service, severity: alert.level.toLowerCase() };
  if (alert.pattern_id !== undefined) labels.pattern_id = String(alert.pattern_id);
  // The lines behind the alert, so a receiver (Slack, a pager) shows them and not only the number.
  const annotations: Record<string, string> = {
    summary: alert.message,
    value: String(alert.value),
    threshold: String(alert.threshold),
    query: alert.query,
    logs_url: alert.logs_url,
    samples: alert.samples.map((l) => `${l.timestamp} ${l.level} ${l.service}: ${l.message}`).join('\n'),
    top_patterns: alert.top_patterns.map((p) => `${p.count} x ${p.template}`).join('\n'),
  };
  return {
    version: '4',
    groupKey: `{}:{alertname="${alert.rule}", service="${alert.service}"${alert.pattern_id === undefined ? '' : `, pattern_id="${alert.pattern_id}"`}}`,
    truncatedAlerts: 0,
    status: n.status,
    receiver: 'logsentinel',
    groupLabels: { alertname: alert.rule, service: alert.service, ...(alert.pattern_id !== undefined && { pattern_id: String(alert.pattern_id) }) },
    commonLabels: labels,
    commonAnnotations: annotations,
    externalURL,
    alerts: [
      {
        status: n.status,
        labels,
        annotations,
        startsAt: alert.timestamp,
        endsAt: n.status === 'resolved' ? (alert.resolved_at ?? ZERO_TIME) : ZERO_TIME,
        // Where the alert came from: the dashboard on the logs behind it.
        generatorURL: alert.logs_url,
        fingerprint: alert.fingerprint,
      },
    ],
  };
}

export interface WebhookCounters {
  url: string;
  queued: number;
  sent: number;
  failed: number;
  retried: number;
  dropped: number;
}

/** Waits `ms`, or less if the signal aborts first. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    timer.unref();
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * POSTs each notification to a URL in Alertmanager's webhook format. Deliveries go one at a
 * time from a bounded queue: each attempt has a timeout, failures (network, 429, 5xx) are
 * retried with exponential backoff, and a full queue drops the newest notification. All of it
 * is counted. `handle` only enqueues, so a slow receiver never holds anyone up.
 */
export class WebhookHandler implements AlertHandler {
  readonly name: string;
  private readonly queue: { payload: AlertmanagerPayload; rule: RuleName }[] = [];
  private readonly closing = new AbortController();
  private worker: Promise<void> | null = null;
  private readonly counters: WebhookCounters;
  private readonly byRule = outcomesByRule();

  constructor(
    private readonly config: WebhookConfig,
    private readonly externalURL: string,
  ) {
    this.name = `webhook ${new URL(config.url).host}`;
    this.counters = { url: config.url, queued: 0, sent: 0, failed: 0, retried: 0, dropped: 0 };
  }

  /** Counts an outcome in the totals and under the alert's rule. */
  private count(outcome: keyof Outcomes, rule: RuleName): void {
    this.counters[outcome]++;
    this.byRule[rule][outcome]++;
  }

  handle(notification: AlertNotification): void {
    const rule = notification.alert.rule;
    if (this.closing.signal.aborted || this.queue.length >= this.config.queue_size) {
      this.count('dropped', rule);
      return;
    }
    this.queue.push({ payload: toAlertmanager(notification, this.externalURL), rule });
    this.worker ??= this.drain().finally(() => {
      this.worker = null;
    });
  }

  private async drain(): Promise<void> {
    for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) {
      await this.deliver(next.payload, next.rule);
    }
  }

  private async deliver(payload: AlertmanagerPayload, rule: RuleName): Promise<void> {
    const body = JSON.stringify(payload);
    for (let attempt = 0; ; attempt++) {
      if (this.closing.signal.aborted) {
        this.count('dropped', rule);
        return;
      }
      let retryable: boolean;
      try {
        const res = await this.attempt(body);
        if (res.ok) {
          this.count('sent', rule);
          return;
        }
        retryable = res.status === 429 || res.status >= 500;
      } catch {
        if (this.closing.signal.aborted) {
          this.count('dropped', rule);
          return;
        }
        retryable = true;
      }
      if (!retryable || attempt >= this.config.max_retries) {
        this.count('failed', rule);
        return;
      }
      this.counters.retried++;
      await pause(this.config.backoff_ms * 2 ** attempt, this.closing.signal);
    }
  }

  /**
   * One POST, aborted by its timeout or by close(). The attempt gets its own controller, and
   * its listener on the long-lived shutdown signal is removed when it ends:
   * `AbortSignal.any([timeout, shutdown])` would leave an entry in the shutdown signal's list
   * of dependants for every attempt, for the life of the process (Node 20 never prunes it).
   */
  private async attempt(body: string): Promise<Response> {
    const attempt = new AbortController();
    const timer = setTimeout(() => attempt.abort(new DOMException('the webhook did not answer in time', 'TimeoutError')), this.config.timeout_ms);
    timer.unref();
    const onClose = (): void => attempt.abort(this.closing.signal.reason);
    this.closing.signal.addEventListener('abort', onClose, { once: true });
    try {
      const res = await fetch(this.config.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...this.config.headers },
        body,
        signal: attempt.signal,
      });
      // The body too is read under the timeout.
      await res.arrayBuffer().catch(() => undefined);
      return res;
    } finally {
      clearTimeout(timer);
      this.closing.signal.removeEventListener('abort', onClose);
    }
  }

  stats(): WebhookCounters {
    return { ...this.counters, queued: this.queue.length };
  }

  deliveries(): Deliveries {
    return { byRule: structuredClone(this.byRule), queued: this.queue.length };
  }

  /** Stops delivering: the attempt in flight is aborted and what is still queued is counted as dropped. */
  async close(): Promise<void> {
    this.closing.abort();
    for (const { rule } of this.queue) this.count('dropped', rule);
    this.queue.length = 0;
    await this.worker;
  }
}
