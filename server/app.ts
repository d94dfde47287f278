import fastifySchedule from '@fastify/schedule';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { AsyncTask, SimpleIntervalJob, Task } from 'toad-scheduler';
import type { ErrorBody } from './api-types.js';
import { coreOptions, storageOptions, type Config } from './config.js';
import type { AlertHandler } from './core/alerting/types.js';
import { LogServer } from './core/log-server.js';
import type { LogRepository } from './core/repository.js';
import type { Random } from './core/simulator.js';
import type { Clock } from './core/time.js';
import { withLimits } from './core/validation.js';
import authPlugin from './http/auth.js';
import { registerBodyParsers } from './http/body/parsers.js';
import { dashboardRoutes } from './http/dashboard.js';
import { registerErrorHandling } from './http/errors.js';
import metricsPlugin, { metricsRoute } from './http/metrics.js';
import { openApiRoutes, registerOpenApi } from './http/openapi.js';
import { registerProtection } from './http/protection.js';
import { RequestLog } from './http/request-log.js';
import { alertRoutes } from './http/routes/alerts.js';
import { analyticsRoutes } from './http/routes/analytics.js';
import { elasticsearchRoutes } from './http/routes/elasticsearch.js';
import { healthRoutes } from './http/routes/health.js';
import { ingestRoutes } from './http/routes/ingest.js';
import { legacyRoutes } from './http/routes/legacy.js';
import { logRoutes } from './http/routes/logs.js';
import { lokiRoutes } from './http/routes/loki.js';
import { otlpRoutes } from './http/routes/otlp.js';
import { patternRoutes } from './http/routes/patterns.js';
import { simulateRoutes } from './http/routes/simulate.js';
import { tailRoutes } from './http/routes/tail.js';
import { API_HEADERS, sendHeaders } from './http/security-headers.js';
import { registerValidation } from './http/validation.js';
import { loadSchema } from './schemas.js';
import { openRepository } from './storage/open.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The validated configuration the app was built with. */
    config: Config;
    /** Everything but HTTP: ingest, the tiers, analytics, alerts (core/log-server.ts). */
    core: LogServer;
    /** The log schema with this server's limits: what ingest checks each log against, as GET /openapi.json shows it. */
    logSchema: Record<string, unknown>;
  }
}

export interface AppDeps {
  /** Clock for everything time-dependent; the system clock by default. */
  now?: Clock;
  /** Randomness for the simulator; Math.random by default. */
  random?: Random;
  /** Alert handlers beside the configured ones (any object with the AlertHandler shape). */
  alertHandlers?: readonly AlertHandler[];
  /** The durable tier; by default the one `storage.persistence` configures. */
  repository?: LogRepository;
  /** Folder of the built dashboard; web/dist by default. */
  dashboardRoot?: string;
}

/** How often a server sharing its store reads every server's figures back: what the dashboard shows is at most this old. */
const SHARED_REFRESH_MS = 1000;

/** Retention in small batches, yielding to the event loop between them so ingestion is never held up for long. */
export async function enforceRetention(core: LogServer): Promise<number> {
  let total = 0;
  for (let deleted = await core.retentionStep(); deleted > 0; deleted = await core.retentionStep()) {
    total += deleted;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return total;
}

/** Builds the whole server from a config. Never listens: main.ts and the tests both call this. */
export async function buildApp(config: Config, deps: AppDeps = {}): Promise<FastifyInstance> {
  const { log_level: level, log_format: format } = config.server;
  const pretty = format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);
  const app = Fastify({
    logger: {
      level,
      redact: { paths: ['req.headers.authorization'], censor: '[redacted]' },
      // Readable lines for a person at a terminal; JSON lines for a collector.
      ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname,reqId' } } } : {}),
    },
    // One line a request, the routine ones at debug (http/request-log.ts).
    logController: new RequestLog(),
    bodyLimit: config.limits.max_body_bytes,
    trustProxy: config.server.trust_proxy,
    routerOptions: { ignoreTrailingSlash: true },
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // A URL the router cannot even decode (`/api/logs%zz`) is answered before any hook runs:
    // give it the same headers and {error, code} shape as every other refusal.
    frameworkErrors: (err, request, reply) => {
      const tooLong = err.code === 'FST_ERR_MAX_PARAM_LENGTH';
      const body: ErrorBody = tooLong
        ? { error: 'a path segment is longer than the router takes (100 characters); check the URL', code: 'URL_TOO_LONG' }
        : { error: 'the URL is not valid percent-encoding; encode reserved characters as %XX (e.g. %25 for a literal %)', code: 'BAD_URL' };
      void (reply as unknown as FastifyReply)
        .code(tooLong ? 414 : 400)
        .headers(API_HEADERS)
        .header('x-request-id', request.id)
        .send(body);
    },
  });

  // The repository keeps counters under the same capped service keys as memory: core exists by the first commit.
  const repository =
    deps.repository ?? (await openRepository(storageOptions(config), { service: (name) => core.services.keyOf(name), user: (id) => core.users.keyOf(id) }));
  const core: LogServer = new LogServer(coreOptions(config), { now: deps.now, logger: app.log, alertHandlers: deps.alertHandlers, repository });
  try {
    await core.open();
  } catch (e) {
    await repository?.close().catch(() => {});
    throw e;
  }
  app.decorate('config', config);
  app.decorate('core', core);
  const { $schema: _dialect, $id: _id, ...logSchema } = withLimits(loadSchema('log.schema.json'), config.limits);
  app.decorate('logSchema', logSchema);
  app.addHook('onClose', async () => core.close());

  // Fastify closes only the connections idle when shutdown starts; a keep-alive connection
  // busy at that moment would hold the process open. Answers sent while closing end their connection.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });

  // The scheduled alert check notices what ingest cannot: a service gone silent, a window slid past a burst.
  await app.register(fastifySchedule);
  app.addHook('onReady', async () => {
    const failed = (what: string) => (err: Error) => app.log.error({ err }, what);
    const { check_interval_seconds: seconds } = config.alerting;
    if (core.repository?.shared) {
      // Every server's figures and alert state; one server (whichever holds the lock) checks the rules.
      const check = new AsyncTask('alert-check', () => core.checkShared().then(() => {}), failed('alert check failed'));
      app.scheduler.addSimpleIntervalJob(new SimpleIntervalJob({ seconds }, check, { id: 'alert-check', preventOverrun: true }));
      const refresh = new AsyncTask('shared-figures', () => core.refreshShared(), failed('cannot read the shared figures'));
      app.scheduler.addSimpleIntervalJob(new SimpleIntervalJob({ milliseconds: SHARED_REFRESH_MS }, refresh, { id: 'shared-figures', preventOverrun: true }));
    } else {
      const task = new Task('alert-check', () => core.alerts.checkAll(), failed('alert check failed'));
      app.scheduler.addSimpleIntervalJob(new SimpleIntervalJob({ seconds }, task, { id: 'alert-check' }));
    }
    if (core.repository) {
      const retention = new AsyncTask('retention', () => enforceRetention(core), (err) => app.log.error({ err }, 'retention failed'));
      app.scheduler.addSimpleIntervalJob(
        new SimpleIntervalJob({ seconds: config.storage.retention.interval_seconds }, retention, { id: 'retention', preventOverrun: true }),
      );
    }
  });

  registerErrorHandling(app, config.limits.max_body_bytes);
  // JSON answers get the API's headers; the page's routes replace them with the page's (http/dashboard.ts, http/openapi.ts).
  sendHeaders(app, API_HEADERS);
  registerBodyParsers(app);
  registerValidation(app);
  // Records every route registered after it, for GET /openapi.json.
  await registerOpenApi(app);
  // Before protection and auth, so refused requests are measured too.
  await app.register(metricsPlugin, { config });
  // CORS, load shedding and rate limiting: before auth and the routes (see protection.ts for why).
  await registerProtection(app, config);
  await app.register(authPlugin, { config });
  await app.register(healthRoutes);
  await app.register(ingestRoutes);
  await app.register(logRoutes);
  await app.register(patternRoutes);
  await app.register(tailRoutes);
  await app.register(metricsRoute);
  await app.register(analyticsRoutes);
  await app.register(alertRoutes);
  await app.register(simulateRoutes, { random: deps.random ?? Math.random });
  await app.register(legacyRoutes);
  // Other shippers' protocols, each a small adapter over the same ingest path.
  await app.register(lokiRoutes);
  await app.register(otlpRoutes);
  await app.register(elasticsearchRoutes);
  await app.register(dashboardRoutes, { root: deps.dashboardRoot });
  await app.register(openApiRoutes);
  return app;
}
