import assert from 'node:assert/strict';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../server/app.js';
import type { LogView } from '../../server/core/log.js';
import { SERVICE_MESSAGES } from '../../server/core/simulator.js';
import { serviceList } from '../../server/simulate/options.js';
import type { ServiceSpec, ServiceStats, ShipOptions, ShipSummary, Simulation } from '../../server/simulate/shipper.js';
import { ADMIN_TOKEN, testConfig } from '../helpers.js';

export { freePort } from '../helpers.js';

/** Shared by the simulate tests: the real server on loopback, a scripted one, polling and accounting checks. */

const dirs: string[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh temporary folder, removed when the test file ends. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'logsentinel-simulate-'));
  dirs.push(dir);
  return dir;
}

export function writeFile(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}


/** Polls `check` until it returns true, failing with `label` after `timeoutMs`. */
export async function waitFor(label: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for: ${label}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** While closed, ingest requests wait in a preHandler (body already read) until it opens again. */
export class Gate {
  private waiters: (() => void)[] = [];
  private closed = false;

  close(): void {
    this.closed = true;
  }

  open(): void {
    this.closed = false;
    for (const w of this.waiters.splice(0)) w();
  }

  /** Requests waiting at the gate right now. */
  get held(): number {
    return this.waiters.length;
  }

  pass(): Promise<void> {
    if (!this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

export interface Answer {
  /** The Authorization header the request carried. */
  authorization: string | undefined;
  contentType: string | undefined;
  status: number;
}

export interface LiveServer {
  app: FastifyInstance;
  port: number;
  base: string;
  /** The ingest URL. */
  endpoint: string;
  /** Every POST /api/logs the server answered, in order. */
  answers: Answer[];
  gate: Gate;
  /** A graceful close: requests in flight are answered first. */
  close(): Promise<void>;
}

/**
 * The real app (`buildApp(testConfig(overrides))`, system clock) listening on 127.0.0.1, with a
 * hook recording each ingest answer and a gate that can hold ingest requests. Closed when the file ends.
 */
export async function startServer(overrides: Record<string, unknown> = {}, port = 0): Promise<LiveServer> {
  const app = await buildApp(testConfig(overrides));
  const answers: Answer[] = [];
  const gate = new Gate();
  app.addHook('preHandler', async (request) => {
    if (request.method === 'POST' && request.url.startsWith('/api/logs')) await gate.pass();
  });
  app.addHook('onResponse', async (request, reply) => {
    if (request.method === 'POST' && request.url.startsWith('/api/logs')) {
      answers.push({ authorization: request.headers.authorization, contentType: request.headers['content-type'], status: reply.statusCode });
    }
  });
  await app.listen({ host: '127.0.0.1', port });
  const address = app.server.address();
  const actual = typeof address === 'object' && address !== null ? address.port : 0;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    gate.open();
    await app.close();
  };
  // At the end of the file nothing needs a graceful close: after an aborted request undici opens
  // a connection it never sends on, which a graceful close would wait out (Fastify's 72 s keep-alive).
  cleanups.push(async () => {
    if (closed) return;
    const closing = close();
    const reaper = setInterval(() => app.server.closeAllConnections(), 10);
    try {
      await closing;
    } finally {
      clearInterval(reaper);
    }
  });
  const base = `http://127.0.0.1:${actual}`;
  return { app, port: actual, base, endpoint: `${base}/api/logs`, answers, gate, close };
}

/** Aborts the simulation when the test file ends, so a failed test leaves no timers running. */
export function track(sim: Simulation): Simulation {
  cleanups.push(async () => {
    sim.abort();
    await sim.done;
  });
  return sim;
}

/** The run's summary, failing (and aborting it) when it has not ended within `limitMs`. */
export async function finish(sim: Simulation, limitMs = 20_000): Promise<ShipSummary> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, fail) => {
    timer = setTimeout(() => {
      sim.abort();
      fail(new Error(`the run did not end within ${limitMs} ms`));
    }, limitMs);
  });
  try {
    return await Promise.race([sim.done, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Registers a clean-up run when the test file ends. */
export function onExit(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

/** A log as GET /api/logs returns it. */
export type StoredLog = LogView;

/** Every log the server holds for `service` (all of them when undefined), paging GET /api/logs. */
export async function storedLogs(app: FastifyInstance, service?: string): Promise<StoredLog[]> {
  const out: StoredLog[] = [];
  let cursor: number | null = null;
  for (let pages = 0; pages < 1000; pages++) {
    const qs = new URLSearchParams({ limit: '1000' });
    if (service !== undefined) qs.set('service', service);
    if (cursor !== null) qs.set('before_id', String(cursor));
    const res = await app.inject({ method: 'GET', url: `/api/logs?${qs}`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(res.statusCode, 200, res.body);
    const page = res.json() as { logs: StoredLog[]; next_before_id: number | null };
    out.push(...page.logs);
    cursor = page.next_before_id;
    if (cursor === null) return out;
  }
  throw new Error('paging did not end');
}

/** How many logs the server holds per service. */
export async function storedCounts(app: FastifyInstance): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const l of await storedLogs(app)) counts[l.service] = (counts[l.service] ?? 0) + 1;
  return counts;
}

/** The five simulated services, or `n` of them, with no tokens. */
export function services(n = 5, tokens: Record<string, string> = {}): ServiceSpec[] {
  return serviceList(String(n)).map(({ name, kind }) => ({ name, kind, token: tokens[name] }));
}

/** Small, fast defaults for a run; `count` 50 over five services unless told otherwise. */
export function shipOptions(endpoint: string, over: Partial<ShipOptions> = {}): ShipOptions {
  return {
    endpoint,
    services: services(),
    batch: 5,
    rate: 500,
    errorRate: undefined,
    durationMs: undefined,
    count: 50,
    format: 'json',
    queueSize: 1000,
    timeoutMs: 5000,
    backoffMs: 20,
    backoffMaxMs: 200,
    flushTimeoutMs: 10_000,
    ...over,
  };
}

export function byService(summary: ShipSummary): Record<string, ServiceStats> {
  return Object.fromEntries(summary.services.map((s) => [s.service, s]));
}

const COUNTERS = ['generated', 'sent', 'accepted', 'rejected', 'retried', 'dropped', 'dropped_queue_full', 'dropped_at_exit', 'queued'] as const;

/** The identities every finished summary must satisfy, per service and in total. */
export function assertAccounting(summary: ShipSummary): void {
  for (const s of [...summary.services, summary.total]) {
    const who = 'service' in s ? String(s.service) : 'total';
    assert.equal(s.generated, s.accepted + s.rejected + s.dropped, `${who}: generated = accepted + rejected + dropped`);
    assert.equal(s.sent, s.accepted + s.rejected, `${who}: sent = accepted + rejected`);
    assert.equal(s.dropped, s.dropped_queue_full + s.dropped_at_exit, `${who}: dropped = queue_full + at_exit`);
    assert.equal(s.queued, 0, `${who}: nothing is left queued at the end`);
  }
  for (const key of COUNTERS) {
    const sum = summary.services.reduce((acc, s) => acc + s[key], 0);
    assert.equal(summary.total[key], sum, `total.${key} is the sum over the services`);
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The templates of a simulated service type as patterns, per level. */
export function templatePatterns(kind: string): Record<string, RegExp[]> {
  const messages = SERVICE_MESSAGES[kind];
  assert.ok(messages, `${kind} is a simulated service type`);
  return Object.fromEntries(
    Object.entries(messages).map(([level, list]) => [
      level,
      list.map((t) => new RegExp(`^${escape(t).replace('\\{user\\}', 'user-\\d+').replace('\\{n\\}', '\\d+')}$`)),
    ]),
  );
}

/** A stored log looks like one the simulator makes for `kind`: its level's template, user id, metadata. */
export function assertRealistic(log: StoredLog, kind: string): void {
  const patterns = templatePatterns(kind)[log.level];
  assert.ok(patterns, `unexpected level ${log.level}`);
  assert.ok(patterns.some((p) => p.test(log.message)), `"${log.message}" is a ${kind} ${log.level} message`);
  assert.match(log.user_id ?? '', /^user-\d+$/);
  if (log.message.includes('user-')) assert.ok(log.message.includes(log.user_id!), 'the message names the same user');
  const m = log.metadata ?? {};
  assert.equal(typeof m.processing_time_ms, 'number');
  assert.ok((m.processing_time_ms as number) >= 0 && (m.processing_time_ms as number) <= 500);
  assert.match(String(m.request_id), /^req-[0-9a-f]{8}$/);
  assert.match(String(m.ip_address), /^10\.\d{1,3}\.\d{1,3}\.\d{1,3}$/);
  assert.ok(Number.isFinite(Date.parse(log.timestamp)));
}

/** A log's identity for spotting duplicates. */
export function identity(log: StoredLog): string {
  return JSON.stringify([log.service, log.timestamp, log.message, log.user_id, log.metadata]);
}

export interface ScriptedRequest {
  /** When the request's body had arrived (Date.now()). */
  at: number;
  body: string;
  headers: IncomingMessage['headers'];
}

/**
 * A tiny HTTP server on loopback: request k (0-based) is answered by `answer(k, req, res)`.
 * Every request is recorded; the server and its connections are closed when the file ends.
 */
export async function scriptedServer(
  answer: (k: number, req: ScriptedRequest, res: ServerResponse) => void,
): Promise<{ endpoint: string; requests: ScriptedRequest[]; answeredAt: number[]; close: () => Promise<void> }> {
  const requests: ScriptedRequest[] = [];
  const answeredAt: number[] = [];
  const server = createHttpServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      const k = requests.length;
      const r = { at: Date.now(), body, headers: req.headers };
      requests.push(r);
      res.on('finish', () => (answeredAt[k] = Date.now()));
      answer(k, r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  cleanups.push(close);
  return { endpoint: `http://127.0.0.1:${port}/api/logs`, requests, answeredAt, close };
}

/** Answers with `status` and a JSON body (and extra headers). */
export function reply(res: ServerResponse, status: number, body: unknown = {}, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** How many logs a recorded request carried (JSON array or NDJSON). */
export function logsIn(req: ScriptedRequest): number {
  const type = String(req.headers['content-type']);
  if (type.includes('ndjson')) return req.body.split('\n').filter((l) => l.trim() !== '').length;
  return (JSON.parse(req.body) as unknown[]).length;
}
