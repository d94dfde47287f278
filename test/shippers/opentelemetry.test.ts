import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../server/app.js';
import { AUTH_SERVICE_TOKEN, INGEST_TOKEN, READER_TOKEN, testConfig } from '../helpers.js';
import type { LogView } from '../../server/core/log.js';
import { recordRequests } from './support.js';

/**
 * The OpenTelemetry JS SDK (LoggerProvider + OTLPLogExporter, which sends OTLP/JSON) against
 * the real server on a loopback port: what an application instrumented with OpenTelemetry
 * ships arrives mapped, and our answers (success, partial success, refusal) are read by the
 * exporter as the OTLP spec means them.
 */

const INSTALL_HINT = 'npm install -D @opentelemetry/api @opentelemetry/api-logs @opentelemetry/sdk-logs @opentelemetry/exporter-logs-otlp-http @opentelemetry/resources';

async function loadSdk() {
  try {
    const [api, apiLogs, sdkLogs, exporter, resources] = await Promise.all([
      import('@opentelemetry/api'),
      import('@opentelemetry/api-logs'),
      import('@opentelemetry/sdk-logs'),
      import('@opentelemetry/exporter-logs-otlp-http'),
      import('@opentelemetry/resources'),
    ]);
    return { api, apiLogs, sdkLogs, exporter, resources };
  } catch (e) {
    return `the OpenTelemetry JS SDK is not installed (${INSTALL_HINT}): ${(e as Error).message}`;
  }
}

const sdk = await loadSdk();
const skip = typeof sdk === 'string' ? sdk : false;
if (skip) process.stdout.write(`# OpenTelemetry shipper tests skipped: ${skip}\n`);
const otel = typeof sdk === 'string' ? undefined : sdk;

type Sdk = NonNullable<typeof otel>;
type LogRecordExporter = import('@opentelemetry/sdk-logs').LogRecordExporter;
type ExportResult = Parameters<Parameters<LogRecordExporter['export']>[1]>[0];
type ExporterConfig = NonNullable<ConstructorParameters<Sdk['exporter']['OTLPLogExporter']>[0]>;

/** ExportResultCode in @opentelemetry/core: SUCCESS 0, FAILED 1. */
const SUCCESS = 0;
const FAILED = 1;


/** What the server saw of one POST /v1/logs. */
interface SeenRequest {
  contentType: string | undefined;
  contentEncoding: string | undefined;
  authorization: string | undefined;
  records?: number;
  status?: number;
}

interface Server {
  app: FastifyInstance;
  url: string;
  requests: SeenRequest[];
}

/** The real app (system clock, no persistence) on an ephemeral loopback port, recording every POST /v1/logs. */
async function startServer(t: TestContext, overrides: Record<string, unknown> = {}): Promise<Server> {
  const app = await buildApp(testConfig(overrides));
  const { requests } = recordRequests<SeenRequest>(
    app,
    (request) =>
      request.method !== 'POST' || request.routeOptions.url !== '/v1/logs'
        ? undefined
        : { contentType: request.headers['content-type'], contentEncoding: request.headers['content-encoding'], authorization: request.headers.authorization },
    {
      parsed: (entry, body) => {
        const otlp = body as { resourceLogs?: { scopeLogs?: { logRecords?: unknown[] }[] }[] };
        entry.records = otlp.resourceLogs?.flatMap((r) => r.scopeLogs ?? []).reduce((n, s) => n + (s.logRecords?.length ?? 0), 0);
      },
    },
  );
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => app.close());
  return { app, url, requests };
}

async function storedLogs(app: FastifyInstance): Promise<Omit<LogView, 'id' | 'received_at'>[]> {
  const res = await app.inject({ method: 'GET', url: '/api/logs?limit=1000', headers: { authorization: `Bearer ${READER_TOKEN}` } });
  assert.equal(res.statusCode, 200, res.body);
  return (res.json() as { logs: LogView[] }).logs
    .sort((a, b) => a.id - b.id)
    .map(({ id: _id, received_at: _received, pattern_id, ...rest }) => {
      assert.ok(Number.isInteger(pattern_id) && pattern_id! > 0, `an OTLP record gets a pattern like any other log (pattern_id ${pattern_id})`);
      return rest;
    });
}

interface Shipper {
  logger: ReturnType<InstanceType<Sdk['sdkLogs']['LoggerProvider']>['getLogger']>;
  provider: InstanceType<Sdk['sdkLogs']['LoggerProvider']>;
  /** Every export result the exporter reported, in order. */
  results: ExportResult[];
}

/**
 * A LoggerProvider exporting through OTLPLogExporter to the server, with the exporter wrapped
 * so each export's result is recorded. Batching: everything emitted before a flush is one request.
 */
function startShipper(t: TestContext, sdk: Sdk, server: Server, attributes: Record<string, string>, config: ExporterConfig = {}): Shipper {
  const exporter = new sdk.exporter.OTLPLogExporter({ url: `${server.url}/v1/logs`, ...config });
  const results: ExportResult[] = [];
  const recording: LogRecordExporter = {
    export: (logs, done) =>
      exporter.export(logs, (result) => {
        results.push(result);
        done(result);
      }),
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush(),
  };
  const provider = new sdk.sdkLogs.LoggerProvider({
    resource: sdk.resources.resourceFromAttributes(attributes),
    // A long delay: nothing leaves before forceFlush, so each test's records share one request.
    processors: [new sdk.sdkLogs.BatchLogRecordProcessor({ exporter: recording, scheduledDelayMillis: 60_000 })],
  });
  t.after(() => provider.shutdown());
  return { logger: provider.getLogger('checkout.payments', '1.4.0'), provider, results };
}

/** Nanoseconds as the RFC 3339 text the server should store for them. */
function isoOf([seconds, nanos]: [number, number]): string {
  return `${new Date(seconds * 1000).toISOString().slice(0, 19)}.${String(nanos).padStart(9, '0')}Z`;
}

describe('the OpenTelemetry JS SDK exporting logs over OTLP/HTTP JSON', { skip }, () => {
  test('records with severities, attributes, a span context and exact timestamps arrive mapped', async (t) => {
    const { api, apiLogs } = otel!;
    // Anonymous callers may only read here: nothing arrives unless the token is sent.
    const server = await startServer(t, { auth: { anonymous_scopes: ['read'] } });
    const shipper = startShipper(t, otel!, server, { 'service.name': 'checkout', 'deployment.environment': 'prod' }, { headers: { Authorization: `Bearer ${INGEST_TOKEN}` } });
    const second = Math.floor(Date.now() / 1000) - 60;
    const at = (nanos: number): [number, number] => [second, nanos];
    const spanContext = { traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', traceFlags: api.TraceFlags.SAMPLED };
    const { SeverityNumber } = apiLogs;

    shipper.logger.emit({ timestamp: at(1), severityNumber: SeverityNumber.TRACE, body: 'cache probe' });
    shipper.logger.emit({ timestamp: at(123_456_789), severityNumber: SeverityNumber.DEBUG2, body: 'cart loaded', attributes: { 'cart.items': 3 } });
    shipper.logger.emit({
      timestamp: at(500_000_000),
      severityNumber: SeverityNumber.INFO,
      severityText: 'INFO',
      body: 'user logged in',
      attributes: { 'enduser.id': 'user-42', 'http.route': '/login', latency_ms: 12.5, retry: false, tags: ['web', 'eu'] },
      context: api.trace.setSpanContext(api.ROOT_CONTEXT, spanContext),
    });
    shipper.logger.emit({ timestamp: at(999_999_999), severityNumber: SeverityNumber.WARN3, body: 'slow payment provider' });
    shipper.logger.emit({ timestamp: at(2), severityText: 'error', body: 'payment declined', attributes: { 'user.id': 'user-7' } });
    shipper.logger.emit({ timestamp: at(3), severityNumber: SeverityNumber.FATAL, body: { event: 'crash', code: 137 } });
    shipper.logger.emit({ timestamp: at(4), severityText: 'AUDIT', body: 'refund approved' });
    await shipper.provider.forceFlush();

    const scope = { 'otel.scope.name': 'checkout.payments', 'otel.scope.version': '1.4.0' };
    const base = { service: 'checkout' };
    const meta = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ 'deployment.environment': 'prod', ...extra, ...scope });
    assert.deepEqual(await storedLogs(server.app), [
      { ...base, timestamp: isoOf(at(1)), level: 'DEBUG', message: 'cache probe', metadata: meta() },
      { ...base, timestamp: isoOf(at(123_456_789)), level: 'DEBUG', message: 'cart loaded', metadata: meta({ 'cart.items': 3 }) },
      {
        ...base,
        timestamp: isoOf(at(500_000_000)),
        level: 'INFO',
        message: 'user logged in',
        user_id: 'user-42',
        metadata: meta({ 'http.route': '/login', latency_ms: 12.5, retry: false, tags: ['web', 'eu'], trace_id: spanContext.traceId, span_id: spanContext.spanId }),
      },
      { ...base, timestamp: isoOf(at(999_999_999)), level: 'WARNING', message: 'slow payment provider', metadata: meta() },
      { ...base, timestamp: isoOf(at(2)), level: 'ERROR', message: 'payment declined', user_id: 'user-7', metadata: meta() },
      { ...base, timestamp: isoOf(at(3)), level: 'CRITICAL', message: '{"event":"crash","code":137}', metadata: meta() },
      { ...base, timestamp: isoOf(at(4)), level: 'INFO', message: 'refund approved', metadata: meta({ severity_text: 'AUDIT' }) },
    ]);
    assert.deepEqual(
      server.requests.map((r) => ({ ...r })),
      [{ contentType: 'application/json', contentEncoding: undefined, authorization: `Bearer ${INGEST_TOKEN}`, records: 7, status: 200 }],
    );
    assert.deepEqual(shipper.results.map((r) => r.code), [SUCCESS]);
  });

  test('a partial success is logged by the exporter and still reported as SUCCESS', async (t) => {
    const { api, apiLogs } = otel!;
    const warnings: string[] = [];
    const collect = (...args: unknown[]): void => void warnings.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
    api.diag.setLogger({ error: collect, warn: collect, info: () => {}, debug: () => {}, verbose: () => {} }, api.DiagLogLevel.WARN);
    t.after(() => api.diag.disable());
    const server = await startServer(t);
    const shipper = startShipper(t, otel!, server, { 'service.name': 'checkout' });

    shipper.logger.emit({ severityNumber: apiLogs.SeverityNumber.INFO, body: 'kept one' });
    // No body: the server cannot make a log of it.
    shipper.logger.emit({ severityNumber: apiLogs.SeverityNumber.ERROR, attributes: { 'error.type': 'timeout' } });
    shipper.logger.emit({ severityNumber: apiLogs.SeverityNumber.INFO, body: 'kept two' });
    await shipper.provider.forceFlush();

    assert.deepEqual((await storedLogs(server.app)).map((l) => l.message), ['kept one', 'kept two']);
    assert.deepEqual(shipper.results.map((r) => r.code), [SUCCESS]);
    const partial = warnings.find((w) => w.startsWith('Received Partial Success response:'));
    assert.ok(partial, `the exporter should log the partial success; it logged: ${JSON.stringify(warnings)}`);
    const reported = JSON.parse(partial.slice('Received Partial Success response:'.length)) as { rejectedLogRecords: string; errorMessage: string };
    assert.equal(reported.rejectedLogRecords, '1');
    assert.match(reported.errorMessage, /^1 of 3 log records rejected: resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords\[1\]: has no body/);
  });

  test('gzip compression and Basic auth with the token as the password', async (t) => {
    const server = await startServer(t, { auth: { anonymous_scopes: ['read'] } });
    const basic = `Basic ${Buffer.from(`otel:${INGEST_TOKEN}`).toString('base64')}`;
    const gzip = 'gzip' as ExporterConfig['compression'];
    const shipper = startShipper(t, otel!, server, { 'service.name': 'inventory' }, { headers: { Authorization: basic }, compression: gzip });
    for (let i = 0; i < 50; i++) shipper.logger.emit({ severityNumber: otel!.apiLogs.SeverityNumber.INFO, body: `stock level checked #${i}` });
    await shipper.provider.forceFlush();

    const logs = await storedLogs(server.app);
    assert.equal(logs.length, 50);
    assert.deepEqual(new Set(logs.map((l) => l.service)), new Set(['inventory']));
    assert.deepEqual(
      server.requests.map((r) => ({ ...r })),
      [{ contentType: 'application/json', contentEncoding: 'gzip', authorization: basic, records: 50, status: 200 }],
    );
    assert.deepEqual(shipper.results.map((r) => r.code), [SUCCESS]);
  });

  test('a token bound to a service: records without service.name take it; another service is refused whole', async (t) => {
    const server = await startServer(t, { auth: { anonymous_scopes: ['read'] } });
    const headers = { Authorization: `Bearer ${AUTH_SERVICE_TOKEN}` };
    const unnamed = startShipper(t, otel!, server, { 'host.name': 'web-1' }, { headers });
    unnamed.logger.emit({ body: 'no service.name on the resource' });
    await unnamed.provider.forceFlush();
    const logs = await storedLogs(server.app);
    assert.equal(logs.length, 1, JSON.stringify(logs));
    const { timestamp, ...mapped } = logs[0]!;
    // No timestamp given: the SDK stamps the emit time, to the nanosecond.
    assert.match(timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    assert.ok(Math.abs(Date.parse(timestamp) - Date.now()) < 60_000, timestamp);
    assert.deepEqual(mapped, {
      level: 'INFO',
      service: 'auth-service',
      message: 'no service.name on the resource',
      metadata: { 'host.name': 'web-1', 'otel.scope.name': 'checkout.payments', 'otel.scope.version': '1.4.0' },
    });
    assert.deepEqual(unnamed.results.map((r) => r.code), [SUCCESS]);

    const other = startShipper(t, otel!, server, { 'service.name': 'payment-service' }, { headers });
    other.logger.emit({ body: 'a service this token may not ship' });
    await other.provider.forceFlush();
    assert.equal((await storedLogs(server.app)).length, 1, 'nothing more stored');
    assert.deepEqual(other.results.map((r) => r.code), [FAILED]);
    assert.match(String(other.results[0]!.error?.message), /Forbidden/);
    assert.deepEqual(server.requests.map((r) => r.status), [200, 403]);
  });
});
