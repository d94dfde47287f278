import assert from 'node:assert/strict';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp, type AppDeps } from '../server/app.js';
import { deepMerge, resolveConfig, type Config } from '../server/config.js';
import { seededRandom } from '../server/core/simulator.js';
import type { LogView } from '../server/api-types.js';

export { freePort } from '../scripts/free-port.js';

/** A clock tests move by hand. Starts at 2024-01-15T14:30:00Z unless told otherwise. */
export class ManualClock {
  constructor(public ms = Date.parse('2024-01-15T14:30:00Z')) {}
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
  iso(offsetMs = 0): string {
    return new Date(this.ms + offsetMs).toISOString();
  }
}

export const ADMIN_TOKEN = 'test-admin-token-000000';
export const READER_TOKEN = 'test-reader-token-00000';
export const INGEST_TOKEN = 'test-ingest-token-00000';
export const AUTH_SERVICE_TOKEN = 'auth-service-token-001';

/** The shipped defaults plus a few known tokens, silent logging, and `overrides` on top. */
export function testConfig(overrides: Record<string, unknown> = {}): Config {
  const base = {
    server: { log_level: 'silent' },
    storage: { persistence: { enabled: false } },
    // app.inject() sends from one address far faster than any client: only test/reliability/ turns the limiter on.
    rate_limit: { enabled: false },
    auth: {
      anonymous_scopes: ['ingest', 'read'],
      tokens: [
        { name: 'admin', token: ADMIN_TOKEN, scopes: ['ingest', 'read', 'admin'] },
        { name: 'reader', token: READER_TOKEN, scopes: ['read'] },
        { name: 'ingester', token: INGEST_TOKEN, service: '*', scopes: ['ingest'] },
        { token: AUTH_SERVICE_TOKEN, service: 'auth-service', scopes: ['ingest', 'read', 'admin'] },
      ],
    },
  };
  return resolveConfig(deepMerge(base, overrides));
}

export interface TestApp {
  app: FastifyInstance;
  clock: ManualClock;
}

/** The production app (same buildApp, same options) on a manual clock and seeded randomness. */
export async function buildTestApp(overrides: Record<string, unknown> = {}, deps: AppDeps = {}): Promise<TestApp> {
  const clock = new ManualClock();
  const app = await buildApp(testConfig(overrides), { now: clock.now, random: seededRandom(42), ...deps });
  await app.ready();
  return { app, clock };
}

/**
 * Lets the alert dispatcher run: it hands each notification to each handler on its own
 * setImmediate turn, so a test awaits a few turns before reading what a handler got.
 */
export async function flushAlerts(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

export function log(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    timestamp: '2024-01-15T14:29:30Z',
    level: 'INFO',
    service: 'auth-service',
    message: 'User logged in',
    ...overrides,
  };
}

/**
 * The `n` logs received last (highest ids), the last first, matching `query` (a GET /api/logs
 * query string without limit): what a test that just sent them reads back. GET /api/logs lists
 * by event time, so it pages through every match and orders by id.
 */
export async function lastReceived(app: FastifyInstance, n: number, query = ''): Promise<LogView[]> {
  const all: LogView[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 10_000; pages++) {
    const res = await app.inject({ method: 'GET', url: `/api/logs?limit=1000${query ? `&${query}` : ''}${cursor === null ? '' : `&cursor=${cursor}`}` });
    if (res.statusCode !== 200) throw new Error(`GET /api/logs: ${res.statusCode} ${res.body}`);
    const body = res.json() as { logs: LogView[]; next_cursor: string | null };
    all.push(...body.logs);
    cursor = body.next_cursor;
    if (cursor === null) return all.sort((a, b) => b.id - a.id).slice(0, n);
  }
  throw new Error('paging did not end');
}

export function postJson(app: FastifyInstance, url: string, body: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
}

export function auth(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/**
 * Polls `condition` every `intervalMs` until it gives a value other than `undefined` or `false`,
 * and resolves with that value; after `timeoutMs` it fails with "timed out after … waiting for
 * <what>". `what` may be a function, called at the failure, to tell what was seen last. A
 * condition that throws fails the wait at once (e.g. when the process it waits on has exited).
 * For waiting on real processes and sockets only: code on the injected clock is moved, not waited on.
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 10, what }: { timeoutMs?: number; intervalMs?: number; what: string | (() => string) },
): Promise<Exclude<T, undefined | false>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value !== undefined && value !== false) return value as Exclude<T, undefined | false>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Every `METHOD /path` the app registered, read from `printRoutes()`: one tree line per
 * shared prefix or path segment, four columns per level, methods in parentheses. (With
 * `commonPrefix: false` the printer drops the segment before a wildcard: `/docs/static/*`
 * prints as `/docs*`.) The parse is checked against the router itself.
 */
export function registeredRoutes(app: FastifyInstance): string[] {
  const out: string[] = [];
  const paths: string[] = [];
  for (const line of app.printRoutes().split('\n')) {
    if (line.trim() === '') continue;
    const m = /^((?:[│ ] {3})*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (m === null) throw new Error(`printRoutes line not understood: ${JSON.stringify(line)}`);
    const depth = m[1]!.length / 4;
    const path = (depth === 0 ? '' : paths[depth - 1]!) + m[2]!;
    paths.length = depth;
    paths[depth] = path;
    for (const method of m[3]?.split(', ') ?? []) out.push(`${method} ${path}`);
  }
  for (const route of out) {
    const [method, url] = route.split(' ') as [string, string];
    assert.ok(app.hasRoute({ method: method as 'GET', url }), `parsed ${route} but the app has no such route`);
  }
  return out.sort();
}
