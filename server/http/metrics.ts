import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric, type MetricValueWithName } from 'prom-client';
import type { Config } from '../config.js';
import { RULES } from '../core/alerting/types.js';
import type { LogServer } from '../core/log-server.js';
import { INGEST_PROTOCOLS } from './protocols.js';
import { ERRORS } from './schemas/common.js';
import { NO_QUERY } from './schemas/query.js';

/**
 * GET /metrics in Prometheus text format, and the request hook that feeds it.
 *
 * Each app has a registry of its own (never prom-client's global one): tests build many apps
 * in one process, and each must count only its own requests and logs. Most figures are
 * counters the core keeps anyway (logs per protocol, alerts per rule, notifications per
 * handler), copied into prom-client when Prometheus scrapes, and gauges read then: the
 * ingest path never calls prom-client. Only requests (a hook per request, into a histogram
 * kept by hand: RequestDurations) and commits (an observer per commit: its time, or its
 * failure) are observed as they happen.
 */

const PREFIX = 'logsentinel_';
/** The route label of a request no route matched: never the URL itself, which the client chooses. */
const UNMATCHED = 'unmatched';

const REQUEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const COMMIT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

let processRegistry: Registry | undefined;

/**
 * prom-client's default metrics (CPU, memory, heap, event loop lag, GC, handles), made once per
 * process in a registry of their own that every app's registry is merged with. They describe
 * the process, not an app; and what they start (an event loop delay monitor, a GC performance
 * observer) prom-client gives no way to stop, so made per app they would pile up, one more of
 * each for every app a process builds.
 */
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, prefix: PREFIX });
  }
  return processRegistry;
}

interface RequestSeries {
  labels: { method: string; route: string; status_code: number };
  /** Count per bucket of REQUEST_BUCKETS (not cumulative), then past the last. */
  buckets: Float64Array;
  sum: number;
  count: number;
}

/**
 * The request-duration histogram, kept by hand and handed to prom-client's registry as a
 * metric of its own (the shape of its Histogram's output). prom-client's Histogram.observe
 * builds a label hash, a closure and a bucket lookup in an object per call, about 2 µs a
 * request, 3 % of a single-log ingest; this is one map lookup and three additions.
 */
class RequestDurations {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, RequestSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  observe(method: string, route: string, status: number, seconds: number): void {
    const key = `${status} ${method} ${route}`;
    let s = this.series.get(key);
    if (s === undefined) {
      s = { labels: { method, route, status_code: status }, buckets: new Float64Array(REQUEST_BUCKETS.length + 1), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    let b = 0;
    while (b < REQUEST_BUCKETS.length && seconds > REQUEST_BUCKETS[b]!) b++;
    s.buckets[b]!++;
    s.sum += seconds;
    s.count++;
  }

  get(): Promise<{ name: string; help: string; type: 'histogram'; values: MetricValueWithName<string>[]; aggregator: 'sum' }> {
    const values: MetricValueWithName<string>[] = [];
    for (const s of this.series.values()) {
      let acc = 0;
      REQUEST_BUCKETS.forEach((le, b) => {
        acc += s.buckets[b]!;
        values.push({ labels: { ...s.labels, le }, value: acc, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  reset(): void {
    this.series.clear();
  }
}

type Labeled<T extends string> = readonly [Readonly<Record<T, string>>, number];

/** A counter whose value the core keeps: copied in at each scrape, so the code that counts never calls prom-client. */
function mirroredCounter<T extends string>(registry: Registry, name: string, help: string, labelNames: readonly T[], read: () => Iterable<Labeled<T>>): Counter<T> {
  return new Counter<T>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect(this: Counter<T>) {
      this.reset();
      for (const [labels, value] of read()) this.inc(labels, value);
    },
  });
}

function lazyGauge<T extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly T[],
  read: () => Iterable<Labeled<T>> | Promise<Iterable<Labeled<T>>>,
): Gauge<T> {
  return new Gauge<T>({
    name,
    help,
    labelNames,
    registers: [registry],
    async collect(this: Gauge<T>) {
      const values = await read();
      this.reset();
      for (const [labels, value] of values) this.set(labels, value);
    },
  });
}

/** Sums values that share labels (two webhooks to one host share a handler name). */
function summed<T extends string>(entries: Iterable<Labeled<T>>): Labeled<T>[] {
  const byKey = new Map<string, [Readonly<Record<T, string>>, number]>();
  for (const [labels, value] of entries) {
    const key = JSON.stringify(labels);
    const seen = byKey.get(key);
    if (seen === undefined) byKey.set(key, [labels, value]);
    else seen[1] += value;
  }
  return [...byKey.values()];
}

/** The metrics of one app, in `registry`. `close` lets go of what the app's parts hold of them. */
interface AppMetrics {
  readonly registry: Registry;
  /** One answered request: its method, route template (or UNMATCHED), status and time in milliseconds. */
  request(method: string, route: string, status: number, ms: number): void;
  close(): void;
}

function appMetrics(core: LogServer): AppMetrics {
  const registry = new Registry();

  mirroredCounter(
    registry,
    `${PREFIX}logs_ingested_total`,
    'Logs accepted (validated and stored), by the protocol they came in by.',
    ['protocol'],
    function* () {
      for (const protocol of INGEST_PROTOCOLS) yield [{ protocol }, core.pipeline.counts.peek(protocol)?.accepted ?? 0];
    },
  );
  mirroredCounter(
    registry,
    `${PREFIX}logs_rejected_total`,
    "Logs rejected by validation, by protocol and by the reason of the first problem found (required, unknown_field, type, enum, format, length, metadata, encoding, json, protocol, other).",
    ['protocol', 'reason'],
    function* () {
      for (const [protocol, counts] of core.pipeline.counts.entries()) {
        for (const [reason, value] of counts.rejected) yield [{ protocol, reason }, value];
      }
    },
  );

  const requests = new RequestDurations(
    `${PREFIX}http_request_duration_seconds`,
    `Time to answer an HTTP request, by method, route template ("${UNMATCHED}" when no route matched) and status code; refused requests (401, 413, 415, 429, 503) included.`,
  );
  registry.registerMetric(requests as unknown as Metric);

  lazyGauge(registry, `${PREFIX}buffer_logs`, 'Logs held in the in-memory recent-logs buffer.', [], () => [[{}, core.recent.size]]);
  lazyGauge(registry, `${PREFIX}buffer_capacity_logs`, 'Logs the in-memory recent-logs buffer holds at most (storage.max_logs).', [], () => [[{}, core.recent.capacity]]);
  lazyGauge(
    registry,
    `${PREFIX}buffer_bytes`,
    'Bytes of off-heap memory the recent-logs buffer holds for the texts of its logs (the rest of a log is a few typed-array columns).',
    [],
    () => [[{}, core.recent.segmentMemory]],
  );

  const repository = core.repository;
  let stopObserving = (): void => {};
  if (repository !== undefined) {
    lazyGauge(registry, `${PREFIX}db_logs`, 'Logs in the database (the durable tier).', [], async () => [[{}, await repository.count()]]);
  }
  if (core.replicaId !== undefined) {
    const shared = core.sharedState;
    mirroredCounter(
      registry,
      `${PREFIX}shared_refreshes_total`,
      "Reads of every replica's figures from the shared store (each also writes this replica's heartbeat and runtime counters), by outcome.",
      ['outcome'],
      function* () {
        yield [{ outcome: 'ok' }, shared.refreshed];
        yield [{ outcome: 'failed' }, shared.failed];
      },
    );
    lazyGauge(registry, `${PREFIX}shared_refresh_seconds`, "Time of the last read of every replica's figures.", [], () => [[{}, shared.lastRefreshSeconds]]);
    lazyGauge(registry, `${PREFIX}alert_checker`, 'Whether this replica is the one checking the alert rules (1) or not (0).', [], () => [[{}, shared.checking ? 1 : 0]]);
    lazyGauge(registry, `${PREFIX}replicas_up`, 'Replicas sharing the store that said they were up in the last minute.', [], () => [[{}, core.replicasUp().length]]);
  }
  const observeCommits = repository?.observeCommits?.bind(repository);
  if (observeCommits !== undefined) {
    const commits = new Histogram({
      name: `${PREFIX}db_commit_duration_seconds`,
      help: 'Time of one database commit (a group of batches written in one transaction).',
      buckets: COMMIT_BUCKETS,
      registers: [registry],
    });
    const failures = new Counter({
      name: `${PREFIX}db_commit_failures_total`,
      help: 'Database commits that failed; their requests were answered 503 and nothing in them was stored.',
      registers: [registry],
    });
    observeCommits({ committed: (_logs, seconds) => commits.observe(seconds), failed: () => failures.inc() });
    stopObserving = () => observeCommits(undefined);
  }

  lazyGauge(
    registry,
    `${PREFIX}alert_state_pairs`,
    'The (rule, service) pairs the alert engine keeps state for: bounded by the rules times limits.max_services (plus other, and the all-services rule).',
    [],
    () => [[{}, core.alerts.trackedPairs]],
  );
  mirroredCounter(registry, `${PREFIX}alerts_fired_total`, 'Alerts that started firing, by rule.', ['rule'], () =>
    RULES.map((rule): Labeled<'rule'> => [{ rule }, core.alerts.counters[rule].fired]),
  );
  mirroredCounter(
    registry,
    `${PREFIX}alert_notifications_total`,
    'Alert notifications (firing and resolved) by rule, handler and outcome: sent, failed (after retries), dropped (queue full or shutting down).',
    ['rule', 'handler', 'outcome'],
    () =>
      summed(
        core.dispatcher.deliveries().flatMap((d) =>
          RULES.flatMap((rule): Labeled<'rule' | 'handler' | 'outcome'>[] =>
            (['sent', 'failed', 'dropped'] as const).map((outcome) => [{ rule, handler: d.name, outcome }, d.byRule[rule][outcome]]),
          ),
        ),
      ),
  );
  lazyGauge(registry, `${PREFIX}alert_handler_queue_length`, 'Notifications waiting in a handler\'s queue (handlers that queue: webhooks).', ['handler'], () =>
    summed(core.dispatcher.deliveries().flatMap((d): Labeled<'handler'>[] => (d.queued === undefined ? [] : [[{ handler: d.name }, d.queued]]))),
  );

  lazyGauge(registry, `${PREFIX}tail_clients`, 'Live tails (GET /api/logs/tail) open now.', [], () => [[{}, core.tail.stats().active]]);
  mirroredCounter(registry, `${PREFIX}tail_events_total`, 'Log events sent to live tails.', [], () => [[{}, core.tail.stats().events]]);
  mirroredCounter(
    registry,
    `${PREFIX}tail_refused_total`,
    'Live tails refused because tail.max_clients were open.',
    [],
    () => [[{}, core.tail.stats().refused]],
  );
  mirroredCounter(
    registry,
    `${PREFIX}tail_dropped_total`,
    'Live tails dropped for reading too slowly (more than tail.max_pending_events waiting).',
    [],
    () => [[{}, core.tail.stats().dropped]],
  );

  return {
    registry,
    request(method, route, status, ms) {
      requests.observe(method, route, status, ms / 1000);
    },
    close() {
      stopObserving();
      registry.clear();
    },
  };
}

declare module 'fastify' {
  interface FastifyInstance {
    /** This app's metrics with the process's default ones; undefined when `metrics.enabled` is false. */
    metricsRegistry: Registry | undefined;
  }
}

/**
 * The request hook, registered before protection and auth so refused requests (401, 429, 503)
 * are measured too. The route itself comes later (metricsRoute), among the API routes.
 */
async function metricsPlugin(app: FastifyInstance, opts: { config: Config }): Promise<void> {
  if (!opts.config.metrics.enabled) {
    app.decorate('metricsRegistry', undefined);
    return;
  }
  const metrics = appMetrics(app.core);
  app.decorate('metricsRegistry', Registry.merge([metrics.registry, processMetrics()]));
  app.addHook('onResponse', (request, reply, done) => {
    metrics.request(request.method, request.is404 ? UNMATCHED : request.routeOptions.url!, reply.statusCode, reply.elapsedTime);
    done();
  });
  app.addHook('onClose', async () => metrics.close());
}

/**
 * GET /metrics. Registered after protection like every other read, so it is rate limited and
 * shed with them: a scrape costs about a millisecond, and with anonymous read (the shipped
 * config) or `metrics.public` anyone who reaches the port may ask.
 */
export async function metricsRoute(app: FastifyInstance): Promise<void> {
  const registry = app.metricsRegistry;
  if (registry === undefined) return;
  const access = app.config.metrics.public ? { scope: null } : { scope: 'read' as const, door: 'api' as const };
  app.get(
    '/metrics',
    {
      config: { access },
      schema: {
        summary: 'Prometheus metrics',
        description: 'Prometheus text format: logs ingested and rejected per protocol, request durations, commits, alerts, notifications, tails, process figures.',
        tags: ['operations'],
        querystring: NO_QUERY,
        response: { 200: { description: 'Prometheus text exposition format 0.0.4.', content: { 'text/plain': { schema: { type: 'string' } } } }, ...ERRORS },
      },
    },
    async (_request, reply) => {
      const text = await registry.metrics();
      return reply.type(registry.contentType).send(text);
    },
  );
}

export default fp(metricsPlugin, { name: 'metrics', fastify: '5.x' });
