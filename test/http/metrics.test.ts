import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { AlertHandler } from '../../server/core/alerting/types.js';
import { UnmappableItem } from '../../server/core/ingest.js';
import type { SqliteRepository } from '../../server/storage/sqlite-repository.js';
import { ADMIN_TOKEN, INGEST_TOKEN, READER_TOKEN, auth, buildTestApp, log, postJson, type ManualClock } from '../helpers.js';

/** GET /metrics: every family, exact counts after known traffic, access, and one registry per app. */

interface Sample {
  value?: string;
  labels?: Record<string, string>;
  buckets?: Record<string, string>;
  count?: string;
  sum?: string;
}
interface Family {
  name: string;
  help: string;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  metrics: Sample[];
}

// The parser ships no type declarations: its output is described by Family above.
const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[];

/** A scrape: its families as the parser reads them, and the text (for the series of labeled histograms). */
interface Families extends Map<string, Family> {
  text?: string;
}

const apps: FastifyInstance[] = [];
const dirs: string[] = [];
after(async () => {
  for (const app of apps) await app.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function build(overrides: Record<string, unknown> = {}, deps: Parameters<typeof buildTestApp>[1] = {}): Promise<{ app: FastifyInstance; clock: ManualClock }> {
  const built = await buildTestApp(overrides, deps);
  apps.push(built.app);
  return built;
}

async function scrape(app: FastifyInstance, headers: Record<string, string> = {}): Promise<Families> {
  const res = await app.inject({ method: 'GET', url: '/metrics', headers });
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  const families: Families = new Map(parsePrometheus(res.body).map((f) => [f.name, f]));
  families.text = res.body;
  return families;
}

function family(families: Families, name: string): Family {
  const f = families.get(name);
  assert.ok(f, `no ${name} in the scrape; families: ${[...families.keys()].join(', ')}`);
  return f;
}

function sameLabels(sample: Sample, labels: Record<string, string>): boolean {
  const have = sample.labels ?? {};
  return Object.keys(have).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => have[k] === v);
}

/** The value of the counter or gauge sample with exactly `labels`; undefined when there is none. */
function valueOf(families: Families, name: string, labels: Record<string, string> = {}): number | undefined {
  const sample = family(families, name).metrics.find((s) => sameLabels(s, labels));
  return sample === undefined ? undefined : Number(sample.value);
}

/** Every (labels → value) of a counter or gauge family, as `k=v,k=v` strings, for exact comparisons. */
function seriesOf(families: Families, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of family(families, name).metrics) {
    const key = Object.entries(s.labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    out[key] = Number(s.value);
  }
  return out;
}

/**
 * The samples named `sample` (`x_count`, `x_sum`, `x_bucket`) of a histogram. The parser folds
 * every series of a labeled histogram into one, so its lines are read as a family of their own.
 */
function histogramSamples(families: Families, sample: string): Sample[] {
  const lines = families.text!.split('\n').filter((line) => line.startsWith(`${sample}{`) || line.startsWith(`${sample} `));
  return parsePrometheus(`# TYPE ${sample} untyped\n${lines.join('\n')}\n`)[0]?.metrics ?? [];
}

/** Observations in the histogram series with exactly `labels` (0 when the series does not exist). */
function countOf(families: Families, name: string, labels: Record<string, string>): number {
  assert.equal(family(families, name).type, 'HISTOGRAM');
  const count = histogramSamples(families, `${name}_count`).find((s) => sameLabels(s, labels));
  if (count === undefined) return 0;
  const inf = histogramSamples(families, `${name}_bucket`).find((s) => sameLabels(s, { ...labels, le: '+Inf' }));
  assert.equal(inf?.value, count.value, 'the +Inf bucket holds every observation');
  const buckets = histogramSamples(families, `${name}_bucket`)
    .filter((s) => s.labels?.le !== '+Inf' && sameLabels({ ...s, labels: Object.fromEntries(Object.entries(s.labels ?? {}).filter(([k]) => k !== 'le')) }, labels))
    .map((s) => [Number(s.labels!.le), Number(s.value)] as const)
    .sort((a, b) => a[0] - b[0]);
  assert.ok(buckets.length > 0, 'every finite bucket is listed');
  buckets.forEach(([le, value], i) => {
    assert.ok(value >= (buckets[i - 1]?.[1] ?? 0) && value <= Number(count.value), `bucket le=${le} is cumulative (${value})`);
  });
  return Number(count.value);
}

function sumOf(families: Families, name: string, labels: Record<string, string>): number {
  return Number(histogramSamples(families, `${name}_sum`).find((s) => sameLabels(s, labels))?.value);
}

const REQUESTS = 'logsentinel_http_request_duration_seconds';

describe('GET /metrics: families', () => {
  test('every family, with its type and help, all named logsentinel_*', async () => {
    const { app } = await build();
    const families = await scrape(app);
    const expected: Record<string, Family['type']> = {
      logsentinel_logs_ingested_total: 'COUNTER',
      logsentinel_logs_rejected_total: 'COUNTER',
      [REQUESTS]: 'HISTOGRAM',
      logsentinel_buffer_logs: 'GAUGE',
      logsentinel_buffer_capacity_logs: 'GAUGE',
      logsentinel_buffer_bytes: 'GAUGE',
      logsentinel_alert_state_pairs: 'GAUGE',
      logsentinel_alerts_fired_total: 'COUNTER',
      logsentinel_alert_notifications_total: 'COUNTER',
      logsentinel_alert_handler_queue_length: 'GAUGE',
      logsentinel_tail_clients: 'GAUGE',
      logsentinel_tail_events_total: 'COUNTER',
      logsentinel_tail_refused_total: 'COUNTER',
      logsentinel_tail_dropped_total: 'COUNTER',
      // prom-client's process metrics, under the same prefix.
      logsentinel_process_cpu_seconds_total: 'COUNTER',
      logsentinel_process_start_time_seconds: 'GAUGE',
      logsentinel_nodejs_heap_size_used_bytes: 'GAUGE',
      logsentinel_nodejs_eventloop_lag_seconds: 'GAUGE',
      logsentinel_nodejs_gc_duration_seconds: 'HISTOGRAM',
    };
    for (const [name, type] of Object.entries(expected)) assert.equal(family(families, name).type, type, name);
    for (const f of families.values()) {
      assert.match(f.name, /^logsentinel_[a-z0-9_]+$/);
      assert.ok(f.help.length > 0, `${f.name} has a HELP text`);
      if (f.type === 'COUNTER') assert.match(f.name, /_total$/, `counter ${f.name} ends in _total`);
    }
    // Every protocol has its series from the start, so rate() works from the first log.
    assert.deepEqual(seriesOf(families, 'logsentinel_logs_ingested_total'), {
      'protocol=api': 0,
      'protocol=legacy': 0,
      'protocol=simulate': 0,
      'protocol=loki': 0,
      'protocol=otlp': 0,
      'protocol=elasticsearch': 0,
    });
    assert.deepEqual(seriesOf(families, 'logsentinel_alerts_fired_total'), { 'rule=error_rate': 0, 'rule=high_volume': 0, 'rule=service_down': 0, 'rule=new_pattern': 0 });
    // Persistence is off in the test config: no database families.
    assert.equal(families.has('logsentinel_db_logs'), false);
    assert.equal(families.has('logsentinel_db_commit_duration_seconds'), false);
  });

  test('a query parameter is a 400 that names it', async () => {
    const { app } = await build();
    const res = await app.inject({ method: 'GET', url: '/metrics?name=x' });
    assert.equal(res.statusCode, 400, res.body);
    assert.match(res.json().error, /'name'/);
  });
});

describe('GET /metrics: logs by protocol and reason', () => {
  test('exact counts after /api/logs (JSON and NDJSON), /logs, /api/simulate-logs and an adapter item that cannot be mapped', async () => {
    const { app } = await build();
    const batch = [
      log(),
      log({ message: 'second' }),
      { timestamp: '2024-01-15T14:29:30Z', level: 'INFO', service: 'auth-service' },
      log({ level: 'LOUD' }),
      log({ timestamp: 'yesterday' }),
      log({ colour: 'red' }),
      log({ message: '' }),
      log({ metadata: 'not an object' }),
    ];
    const res = await postJson(app, '/api/logs', batch);
    assert.equal(res.statusCode, 207, res.body);
    assert.equal(res.json().accepted, 2);

    const single = await postJson(app, '/api/logs', log({ level: 'LOUD' }));
    assert.equal(single.statusCode, 400, single.body);

    const ndjson = `${JSON.stringify(log())}\n{not json\n${JSON.stringify(log())}\n`;
    const nd = await app.inject({ method: 'POST', url: '/api/logs', payload: ndjson, headers: { 'content-type': 'application/x-ndjson' } });
    assert.equal(nd.statusCode, 207, nd.body);

    const legacy = await postJson(
      app,
      '/logs',
      [
        { timestamp: '2024-01-15T14:29:30', service: 'auth-service', severity: 'INFO', message: 'legacy' },
        { timestamp: '2024-01-15T14:29:30', service: 'auth-service', severity: 'LOUD', message: 'legacy' },
      ],
      auth(INGEST_TOKEN),
    );
    assert.equal(legacy.statusCode, 207, legacy.body);

    const simulated = await postJson(app, '/api/simulate-logs', { count: 7 });
    assert.equal(simulated.statusCode, 200, simulated.body);
    assert.equal(simulated.json().accepted, 7);

    // What an adapter puts in the batch for an entry it cannot map.
    const mapped = await app.core.pipeline.ingest([log(), new UnmappableItem('the record has no body')], { protocol: 'otlp' });
    assert.equal(mapped.accepted, 1);

    const families = await scrape(app);
    assert.deepEqual(seriesOf(families, 'logsentinel_logs_ingested_total'), {
      'protocol=api': 4,
      'protocol=legacy': 1,
      'protocol=simulate': 7,
      'protocol=loki': 0,
      'protocol=otlp': 1,
      'protocol=elasticsearch': 0,
    });
    assert.deepEqual(seriesOf(families, 'logsentinel_logs_rejected_total'), {
      'protocol=api,reason=required': 1,
      'protocol=api,reason=enum': 2,
      'protocol=api,reason=format': 1,
      'protocol=api,reason=unknown_field': 1,
      'protocol=api,reason=length': 1,
      'protocol=api,reason=type': 1,
      'protocol=api,reason=json': 1,
      'protocol=legacy,reason=enum': 1,
      'protocol=otlp,reason=protocol': 1,
    });
    // The same logs /api/validation-stats counts.
    const stats = (await app.inject({ method: 'GET', url: '/api/validation-stats' })).json();
    assert.equal(stats.valid, 13);
    assert.equal(stats.invalid, 10);
  });

  test('a batch refused whole (a token bound to another service) counts no log, only the request', async () => {
    const { app } = await build();
    const res = await postJson(app, '/api/logs', [log({ service: 'payment-service' })], { authorization: 'Bearer auth-service-token-001' });
    assert.equal(res.statusCode, 403, res.body);
    const families = await scrape(app);
    assert.equal(valueOf(families, 'logsentinel_logs_ingested_total', { protocol: 'api' }), 0);
    assert.deepEqual(seriesOf(families, 'logsentinel_logs_rejected_total'), {});
    assert.equal(countOf(families, REQUESTS, { method: 'POST', route: '/api/logs', status_code: '403' }), 1);
  });
});

describe('GET /metrics: request latency', () => {
  test('by route template, method and status, refused requests included; unmatched URLs under one label', async () => {
    const { app } = await build({ auth: { anonymous_scopes: [] } });
    const ingest = { ...auth(INGEST_TOKEN), 'content-type': 'application/json' };
    for (let i = 0; i < 3; i++) assert.equal((await app.inject({ method: 'POST', url: '/api/logs', payload: JSON.stringify(log()), headers: ingest })).statusCode, 201);
    assert.equal((await postJson(app, '/api/logs', log())).statusCode, 401, 'no token');
    const text = await app.inject({ method: 'POST', url: '/api/logs', payload: 'hello', headers: { ...auth(INGEST_TOKEN), 'content-type': 'text/plain' } });
    assert.equal(text.statusCode, 415, text.body);
    assert.equal((await app.inject({ method: 'GET', url: '/no/such/page-12345', headers: auth(READER_TOKEN) })).statusCode, 404);
    assert.equal((await app.inject({ method: 'GET', url: '/api/logs?service=auth-service', headers: auth(READER_TOKEN) })).statusCode, 200);
    const silence = await postJson(app, '/api/alerts/0123456789abcdef/silence', { duration: '5m' }, auth(ADMIN_TOKEN));
    assert.equal(silence.statusCode, 404, silence.body);

    const families = await scrape(app, auth(READER_TOKEN));
    assert.equal(countOf(families, REQUESTS, { method: 'POST', route: '/api/logs', status_code: '201' }), 3);
    assert.equal(countOf(families, REQUESTS, { method: 'POST', route: '/api/logs', status_code: '401' }), 1);
    assert.equal(countOf(families, REQUESTS, { method: 'POST', route: '/api/logs', status_code: '415' }), 1);
    assert.equal(countOf(families, REQUESTS, { method: 'GET', route: '/api/logs', status_code: '200' }), 1);
    assert.equal(countOf(families, REQUESTS, { method: 'GET', route: 'unmatched', status_code: '404' }), 1);
    assert.equal(countOf(families, REQUESTS, { method: 'POST', route: '/api/alerts/:fingerprint/silence', status_code: '404' }), 1);
    // Route templates only: never a raw URL (its path, its query) in a label.
    const routes = new Set(histogramSamples(families, `${REQUESTS}_count`).map((s) => s.labels?.route));
    assert.deepEqual([...routes].sort(), ['/api/alerts/:fingerprint/silence', '/api/logs', 'unmatched']);

    // The scrape itself is measured too, once answered.
    const again = await scrape(app, auth(READER_TOKEN));
    assert.equal(countOf(again, REQUESTS, { method: 'GET', route: '/metrics', status_code: '200' }), 1);
    assert.ok(sumOf(again, REQUESTS, { method: 'POST', route: '/api/logs', status_code: '201' }) > 0, 'the sum of the times is kept');
  });
});

describe('GET /metrics: buffer and database', () => {
  test('buffer fill: logs held, capacity, and the bytes their texts take; alert state pairs', async () => {
    const { app } = await build({ storage: { max_logs: 5 } });
    let families = await scrape(app);
    assert.equal(valueOf(families, 'logsentinel_buffer_bytes'), 0, 'nothing held, nothing allocated');
    assert.equal(valueOf(families, 'logsentinel_alert_state_pairs'), 0);
    assert.equal((await postJson(app, '/api/logs', Array.from({ length: 3 }, () => log()))).statusCode, 201);
    families = await scrape(app);
    assert.equal(valueOf(families, 'logsentinel_buffer_logs'), 3);
    assert.equal(valueOf(families, 'logsentinel_buffer_capacity_logs'), 5);
    // One segment of the smallest size (64 KiB) holds the texts of a small buffer.
    assert.equal(valueOf(families, 'logsentinel_buffer_bytes'), 64 * 1024);
    // One service seen: its three rules, and the error rate over all services.
    assert.equal(valueOf(families, 'logsentinel_alert_state_pairs'), 4);
    assert.equal((await postJson(app, '/api/logs', Array.from({ length: 4 }, () => log()))).statusCode, 201);
    families = await scrape(app);
    assert.equal(valueOf(families, 'logsentinel_buffer_logs'), 5);
  });

  test('with persistence on: logs in the database, commits timed, a failed commit counted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'logsentinel-'));
    dirs.push(dir);
    const { app } = await build({ storage: { persistence: { enabled: true, path: join(dir, 'logs.db') } } });
    // Awaited one after the other: two commits.
    assert.equal((await postJson(app, '/api/logs', [log(), log(), log()])).statusCode, 201);
    assert.equal((await postJson(app, '/api/logs', [log(), log()])).statusCode, 201);
    let families = await scrape(app);
    assert.equal(family(families, 'logsentinel_db_logs').type, 'GAUGE');
    assert.equal(valueOf(families, 'logsentinel_db_logs'), 5);
    assert.equal(family(families, 'logsentinel_db_commit_duration_seconds').type, 'HISTOGRAM');
    assert.equal(countOf(families, 'logsentinel_db_commit_duration_seconds', {}), 2);
    assert.equal(valueOf(families, 'logsentinel_db_commit_failures_total'), 0);

    // The file cannot grow: the next commit fails.
    const handle = (app.core.repository as SqliteRepository).handle;
    handle.pragma('max_page_count = 1');
    const lost = await postJson(app, '/api/logs', log({ message: 'x'.repeat(12_000) }));
    assert.equal(lost.statusCode, 503, lost.body);
    families = await scrape(app);
    assert.equal(valueOf(families, 'logsentinel_db_commit_failures_total'), 1);
    assert.equal(countOf(families, 'logsentinel_db_commit_duration_seconds', {}), 2, 'a failed commit is not a timed commit');
    assert.equal(valueOf(families, 'logsentinel_db_logs'), 5);
    assert.equal(valueOf(families, 'logsentinel_logs_ingested_total', { protocol: 'api' }), 5, 'logs of a failed commit are not counted ingested');
    assert.equal(countOf(families, REQUESTS, { method: 'POST', route: '/api/logs', status_code: '503' }), 1);
    handle.pragma('max_page_count = 1000000');
  });
});

/** A real HTTP receiver on 127.0.0.1 that answers `status`, or never when null. */
async function receiver(status: number | null): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      if (status !== null) res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Bounded poll for a real network outcome. */
async function waitFor(cond: () => Promise<boolean>, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise<void>((r) => setTimeout(r, 5));
  }
}

// high_volume at 5 logs a minute, INFO only: one alert per service, nothing else fires.
const VOLUME_RULES = { check_interval_seconds: 3600, service_down_minutes: 60, high_volume_threshold: 5 };

function burst(clock: ManualClock, service: string): Record<string, unknown>[] {
  return Array.from({ length: 5 }, (_, i) => log({ timestamp: clock.iso(), service, message: `burst ${i}` }));
}

describe('GET /metrics: alerts and notifications', () => {
  test('alerts fired by rule; notifications sent and failed per rule and handler, a webhook failing included', async () => {
    const rx = await receiver(500);
    try {
      const recorded: string[] = [];
      const recorder: AlertHandler = { name: 'recorder', handle: (n) => void recorded.push(n.alert.service) };
      const broken: AlertHandler = {
        name: 'broken',
        handle: () => {
          throw new Error('cannot deliver');
        },
      };
      const { app, clock } = await build(
        { alerting: { ...VOLUME_RULES, handlers: { log: false, webhooks: [{ url: rx.url, timeout_ms: 5000, max_retries: 0, backoff_ms: 1, queue_size: 10 }] } } },
        { alertHandlers: [recorder, broken] },
      );
      assert.equal((await postJson(app, '/api/logs', [...burst(clock, 'search'), ...burst(clock, 'billing')])).statusCode, 201);
      await settle();
      assert.deepEqual(recorded.sort(), ['billing', 'search']);
      const webhook = app.core.webhooks[0]!.name;
      const notified = async (): Promise<Families> => scrape(app);
      await waitFor(async () => valueOf(await notified(), 'logsentinel_alert_notifications_total', { rule: 'high_volume', handler: webhook, outcome: 'failed' }) === 2, 'both webhook deliveries to fail');

      const families = await scrape(app);
      assert.deepEqual(seriesOf(families, 'logsentinel_alerts_fired_total'), { 'rule=error_rate': 0, 'rule=high_volume': 2, 'rule=service_down': 0, 'rule=new_pattern': 0 });
      // Every (rule, handler, outcome) has its series; only high_volume fired, twice.
      const fired: Record<string, Record<string, number>> = {
        memory: { sent: 2 },
        [webhook]: { failed: 2 },
        recorder: { sent: 2 },
        broken: { failed: 2 },
      };
      const expected: Record<string, number> = {};
      for (const rule of ['error_rate', 'high_volume', 'service_down', 'new_pattern']) {
        for (const handler of ['memory', webhook, 'recorder', 'broken']) {
          for (const outcome of ['sent', 'failed', 'dropped']) {
            expected[`rule=${rule},handler=${handler},outcome=${outcome}`] = rule === 'high_volume' ? (fired[handler]![outcome] ?? 0) : 0;
          }
        }
      }
      assert.deepEqual(seriesOf(families, 'logsentinel_alert_notifications_total'), expected);
      assert.deepEqual(seriesOf(families, 'logsentinel_alert_handler_queue_length'), { [`handler=${webhook}`]: 0 });
    } finally {
      await rx.close();
    }
  });

  test('a full webhook queue: its length, and the notification dropped', async () => {
    // A receiver that never answers: the first notification stays in flight, the second waits, the third is dropped.
    const rx = await receiver(null);
    let app: FastifyInstance | undefined;
    try {
      let clock: ManualClock;
      ({ app, clock } = await buildTestApp({
        alerting: { ...VOLUME_RULES, handlers: { log: false, webhooks: [{ url: rx.url, timeout_ms: 30_000, max_retries: 0, backoff_ms: 1, queue_size: 1 }] } },
      }));
      assert.equal((await postJson(app, '/api/logs', [...burst(clock, 'a'), ...burst(clock, 'b'), ...burst(clock, 'c')])).statusCode, 201);
      await settle();
      const webhook = app.core.webhooks[0]!.name;
      const families = await scrape(app);
      assert.equal(valueOf(families, 'logsentinel_alerts_fired_total', { rule: 'high_volume' }), 3);
      assert.equal(valueOf(families, 'logsentinel_alert_handler_queue_length', { handler: webhook }), 1);
      assert.equal(valueOf(families, 'logsentinel_alert_notifications_total', { rule: 'high_volume', handler: webhook, outcome: 'dropped' }), 1);
      assert.equal(valueOf(families, 'logsentinel_alert_notifications_total', { rule: 'high_volume', handler: webhook, outcome: 'sent' }), 0);
    } finally {
      await app?.close();
      await rx.close();
    }
  });
});

describe('GET /metrics: configuration and access', () => {
  test('metrics.enabled false: 404, as for any unknown route', async () => {
    const { app } = await build({ metrics: { enabled: false } });
    const res = await app.inject({ method: 'GET', url: '/metrics', headers: auth(ADMIN_TOKEN) });
    assert.equal(res.statusCode, 404, res.body);
    assert.equal(app.hasRoute({ method: 'GET', url: '/metrics' }), false);
  });

  test('metrics.public true: no token needed, even when anonymous callers may read nothing', async () => {
    const { app } = await build({ metrics: { public: true }, auth: { anonymous_scopes: [] } });
    await scrape(app);
    assert.equal((await app.inject({ method: 'GET', url: '/api/stats' })).statusCode, 401, 'the rest of the API still needs a token');
  });

  test('metrics.public false with no anonymous scopes: 401 without a token, 403 without read, 200 with a read token (Bearer or Basic)', async () => {
    const { app } = await build({ metrics: { public: false }, auth: { anonymous_scopes: [] } });
    const anonymous = await app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(anonymous.statusCode, 401, anonymous.body);
    assert.equal(anonymous.json().code, 'AUTH_REQUIRED');
    assert.equal(anonymous.headers['www-authenticate'], 'Bearer realm="logsentinel"');
    const ingestOnly = await app.inject({ method: 'GET', url: '/metrics', headers: auth(INGEST_TOKEN) });
    assert.equal(ingestOnly.statusCode, 403, ingestOnly.body);
    await scrape(app, auth(READER_TOKEN));
    await scrape(app, { authorization: `Basic ${Buffer.from(`prometheus:${READER_TOKEN}`).toString('base64')}` });
    // The refusals are measured like any other request.
    const families = await scrape(app, auth(READER_TOKEN));
    assert.equal(countOf(families, REQUESTS, { method: 'GET', route: '/metrics', status_code: '401' }), 1);
    assert.equal(countOf(families, REQUESTS, { method: 'GET', route: '/metrics', status_code: '403' }), 1);
  });
});

describe('GET /metrics: one registry per app', () => {
  test('two apps in one process count apart; closing one leaves the other whole', async () => {
    const { app: a } = await buildTestApp();
    const { app: b } = await build();
    try {
      assert.equal((await postJson(a, '/api/logs', [log(), log(), log()])).statusCode, 201);
      assert.equal((await postJson(b, '/api/logs', [log(), log({ level: 'LOUD' })])).statusCode, 207);
      const fa = await scrape(a);
      const fb = await scrape(b);
      assert.equal(valueOf(fa, 'logsentinel_logs_ingested_total', { protocol: 'api' }), 3);
      assert.equal(valueOf(fb, 'logsentinel_logs_ingested_total', { protocol: 'api' }), 1);
      assert.deepEqual(seriesOf(fa, 'logsentinel_logs_rejected_total'), {});
      assert.deepEqual(seriesOf(fb, 'logsentinel_logs_rejected_total'), { 'protocol=api,reason=enum': 1 });
      assert.equal(countOf(fa, REQUESTS, { method: 'POST', route: '/api/logs', status_code: '201' }), 1);
      assert.equal(countOf(fb, REQUESTS, { method: 'POST', route: '/api/logs', status_code: '201' }), 0);
      assert.equal(countOf(fb, REQUESTS, { method: 'POST', route: '/api/logs', status_code: '207' }), 1);
    } finally {
      await a.close();
    }
    const after = await scrape(b);
    assert.equal(valueOf(after, 'logsentinel_logs_ingested_total', { protocol: 'api' }), 1);
    assert.ok(after.has('logsentinel_process_cpu_seconds_total'), "the process metrics outlive any one app");
  });
});
