import fastifyCors from '@fastify/cors';
import fastifyRateLimit, { normalizeIP } from '@fastify/rate-limit';
import fastifyUnderPressure from '@fastify/under-pressure';
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import type { Config, RateBudget } from '../config.js';
import { AppError } from '../core/errors.js';
import type { Principal } from './auth.js';

/**
 * What stands between a client and the routes: CORS (off unless origins are configured),
 * load shedding (503 while the process is overloaded) and rate limiting per caller (429).
 *
 * Only the API is guarded: routes with an access rule (every /api route that needs a scope,
 * and the compatibility API's /logs and /stats). `/health`, `/api/ui-config`, the dashboard's files and
 * CORS preflights are never shed nor limited, so an orchestrator and the page can always
 * tell what is going on. `/health` reports the pressure and the refusals.
 *
 * Cost per request: nothing while CORS is off; a comparison per threshold for shedding; for
 * the limiter, attached to guarded routes only, an LRU lookup and a few awaits (about 1.5 µs
 * measured on its own).
 */

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Set on every route at registration: whether load shedding and rate limiting apply to it. */
    guarded?: boolean;
  }
  interface FastifyInstance {
    /** The load measurements and refusal counts GET /health reports (routes/health.ts). */
    protectionReport(): ProtectionReport;
  }
}

export interface ProtectionReport {
  pressure: {
    status: 'off' | 'ok' | 'shedding';
    reason?: string;
    event_loop_delay_ms: number | null;
    heap_used_bytes: number;
    rss_bytes: number;
    limits: { max_event_loop_delay_ms: number; max_heap_used_bytes: number; max_rss_bytes: number };
    shed: number;
  };
  rate_limit: { enabled: boolean; refused: number };
}

type RateClass = keyof RateBudget;

/** Keys whose bucket a limiter keeps at most, least recently seen dropped first: memory stays bounded whatever clients send. */
const LIMITER_KEYS = 10_000;

export interface ProtectionState {
  /** Requests answered 503 by load shedding since start. */
  shed: number;
  /** Requests answered 429 by the rate limiter since start. */
  rateLimited: number;
}

function isGuarded(route: RouteOptions): boolean {
  const access = route.config?.access;
  return access !== undefined && access.scope !== null;
}

/** A route's hooks of one kind as an array (routes may give none, one, or several). */
function hooksOf<T>(hooks: T | T[] | undefined): T[] {
  return hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks];
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/**
 * Registers CORS, load shedding and the limiter, and tags routes registered afterwards. Call
 * before the auth plugin and the routes: hooks run in registration order, so CORS headers are
 * on every answer (errors included), shedding comes before any work, and the limiter, attached
 * to each guarded route, runs after auth has set `request.principal`.
 */
export async function registerProtection(app: FastifyInstance, config: Config): Promise<ProtectionState> {
  const state: ProtectionState = { shed: 0, rateLimited: 0 };
  const limiters = config.rate_limit.enabled ? await rateLimiters(app, config, state) : undefined;

  app.addHook('onRoute', (route) => {
    const guarded = isGuarded(route);
    route.config = { ...route.config, guarded };
    if (guarded && limiters !== undefined) {
      route.onRequest = [...hooksOf(route.onRequest), limiters[route.config.access!.scope === 'ingest' ? 'ingest' : 'read']];
    }
  });

  app.decorate('protectionReport', () => healthReport(app, config, state));

  if (config.cors.origins.length > 0) {
    const origins = config.cors.origins;
    await app.register(fastifyCors, {
      origin: origins.includes('*') ? '*' : [...origins],
      methods: ['GET', 'HEAD', 'POST', 'DELETE'],
      // Last-Event-ID: a page resuming a live tail (GET /api/logs/tail) sends it.
      allowedHeaders: ['Authorization', 'Content-Type', 'Last-Event-ID'],
      exposedHeaders: ['Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'],
      // Tokens travel in the Authorization header, never in cookies.
      credentials: false,
      maxAge: 600,
    });
  }

  await loadShedding(app, config, state);
  return state;
}

/** The pressure measurements and refusal counts /health reports. */
function healthReport(app: FastifyInstance, config: Config, state: ProtectionState): ProtectionReport {
  const ls = config.load_shedding;
  const m = app.memoryUsage();
  const reason = ls.enabled ? pressureReason(config, m.eventLoopDelay, m.heapUsed, m.rssBytes) : undefined;
  return {
    pressure: {
      status: !ls.enabled ? 'off' : reason === undefined ? 'ok' : 'shedding',
      ...(reason === undefined ? {} : { reason }),
      // null: no measurement in the last sample (the plugin counts that as infinitely late).
      event_loop_delay_ms: Number.isFinite(m.eventLoopDelay) ? Math.round(m.eventLoopDelay * 10) / 10 : null,
      heap_used_bytes: m.heapUsed,
      rss_bytes: m.rssBytes,
      limits: {
        max_event_loop_delay_ms: ls.max_event_loop_delay_ms,
        max_heap_used_bytes: ls.max_heap_used_bytes,
        max_rss_bytes: ls.max_rss_bytes,
      },
      shed: state.shed,
    },
    rate_limit: { enabled: config.rate_limit.enabled, refused: state.rateLimited },
  };
}

/** Which threshold the last sample is over, in words; undefined when none. Same order as under-pressure checks them. */
function pressureReason(config: Config, eventLoopDelay: number, heapUsed: number, rss: number): string | undefined {
  const ls = config.load_shedding;
  if (ls.max_event_loop_delay_ms > 0 && eventLoopDelay > ls.max_event_loop_delay_ms) {
    const behind = Number.isFinite(eventLoopDelay) ? `${Math.round(eventLoopDelay)} ms behind` : 'too busy to be measured';
    return `the event loop is ${behind} (load_shedding.max_event_loop_delay_ms: ${ls.max_event_loop_delay_ms})`;
  }
  if (ls.max_heap_used_bytes > 0 && heapUsed > ls.max_heap_used_bytes) {
    return `the heap holds ${mib(heapUsed)} (load_shedding.max_heap_used_bytes: ${mib(ls.max_heap_used_bytes)})`;
  }
  if (ls.max_rss_bytes > 0 && rss > ls.max_rss_bytes) {
    return `the process uses ${mib(rss)} of memory (load_shedding.max_rss_bytes: ${mib(ls.max_rss_bytes)})`;
  }
  return undefined;
}

/**
 * @fastify/under-pressure samples the event loop delay, heap and RSS every second; while a
 * sample is over a threshold, guarded routes answer 503 before any work. It is registered
 * even when shedding is off (all thresholds 0: no hook), so /health still reports the figures.
 */
async function loadShedding(app: FastifyInstance, config: Config, state: ProtectionState): Promise<void> {
  const ls = config.load_shedding;
  const retryAfter = String(ls.retry_after_seconds);
  let lastWarnAt = -Infinity;
  await app.register(fastifyUnderPressure, {
    maxEventLoopDelay: ls.enabled ? ls.max_event_loop_delay_ms : 0,
    maxHeapUsedBytes: ls.enabled ? ls.max_heap_used_bytes : 0,
    maxRssBytes: ls.enabled ? ls.max_rss_bytes : 0,
    // Called only while under pressure; returning nothing lets the request through.
    pressureHandler: (request) => {
      if (request.routeOptions.config.guarded !== true) return undefined;
      state.shed++;
      const m = app.memoryUsage();
      const reason = pressureReason(config, m.eventLoopDelay, m.heapUsed, m.rssBytes) ?? 'a load threshold is exceeded';
      const now = Date.now();
      if (now - lastWarnAt >= 10_000) {
        lastWarnAt = now;
        app.log.warn({ shed: state.shed }, `shedding load: ${reason}`);
      }
      return Promise.reject(
        new AppError(
          503,
          'OVERLOADED',
          `the server is overloaded (${reason}); nothing in this request was processed: retry after ${retryAfter} s. If this persists, reduce the load or raise load_shedding.* in the server config`,
          { 'retry-after': retryAfter },
        ),
      );
    },
  });
}

/** One limiter per class of route, each with its own counters, keyed by token or by client address. */
async function rateLimiters(app: FastifyInstance, config: Config, state: ProtectionState): Promise<Record<RateClass, ReturnType<FastifyInstance['rateLimit']>>> {
  const rl = config.rate_limit;
  const windowMs = rl.window_seconds * 1000;
  // No X-RateLimit-* headers on answers under the limit: they cost on every request and nothing here reads them.
  await app.register(fastifyRateLimit, {
    global: false,
    addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
  });

  // Each token its own budget, whatever its name (two tokens may share one).
  const tokenKeys = new WeakMap<Principal, string>();
  let tokens = 0;
  const keyOf = (request: FastifyRequest): string => {
    const p = request.principal;
    if (p.anonymous) return `ip ${normalizeIP(request.ip)}`;
    let key = tokenKeys.get(p);
    if (key === undefined) tokenKeys.set(p, (key = `token ${++tokens}`));
    return key;
  };

  const limiter = (cls: RateClass): ReturnType<FastifyInstance['rateLimit']> => {
    let lastWarnAt = -Infinity;
    let refusedSinceWarn = 0;
    // The handler is attached to each guarded route's onRequest hooks by the onRoute hook above.
    return app.rateLimit({
      timeWindow: windowMs,
      cache: LIMITER_KEYS,
      keyGenerator: keyOf,
      max: (request) => (request.principal.anonymous ? rl.anonymous[cls] : rl.token[cls]),
      onExceeded: (request) => {
        state.rateLimited++;
        refusedSinceWarn++;
        const now = Date.now();
        if (now - lastWarnAt < windowMs) return;
        lastWarnAt = now;
        app.log.warn({ caller: who(request), routes: cls, refused: refusedSinceWarn }, 'rate limit reached');
        refusedSinceWarn = 0;
      },
      errorResponseBuilder: (request, context) => {
        const anonymous = request.principal.anonymous;
        const key = `rate_limit.${anonymous ? 'anonymous' : 'token'}.${cls}`;
        const seconds = Math.max(1, Math.ceil(context.ttl / 1000));
        const batch = cls === 'ingest' ? `send logs in batches (up to ${config.limits.max_batch_items} per request), ` : '';
        const own = anonymous ? ', send a token (each token has its own budget)' : '';
        return new AppError(
          429,
          'RATE_LIMITED',
          `too many requests: ${who(request)} sent more than ${context.max} ${cls} requests in ${rl.window_seconds} s; ${batch}slow down and retry after ${seconds} s${own}, or raise ${key} in the server config`,
        );
      },
    });
  };
  return { ingest: limiter('ingest'), read: limiter('read') };
}

function who(request: FastifyRequest): string {
  return request.principal.anonymous ? `anonymous client ${request.ip}` : `token '${request.principal.name}'`;
}
