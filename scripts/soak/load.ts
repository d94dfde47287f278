/**
 * The soak run's traffic, all from this process over keep-alive connections (Node's fetch):
 * ingest loops posting 100-log JSON arrays and NDJSON, single logs and a service that goes
 * quiet now and then (for the alert rules), a dashboard poller and occasional filtered
 * queries. Every answer is booked: logs the server said it accepted, refusals (429, 503) that
 * are retried until the run ends, anything else, and socket errors.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { generateLog, seededRandom, type Random } from '../../server/core/simulator.js';
import type { LogInput } from '../../server/core/log.js';

/** Values recorded at times (seconds since the load started). */
export class Series {
  readonly t: number[] = [];
  readonly v: number[] = [];
  add(t: number, v: number): void {
    this.t.push(t);
    this.v.push(v);
  }
  /** Values with from <= t < to. */
  between(from: number, to: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.t.length; i++) if (this.t[i]! >= from && this.t[i]! < to) out.push(this.v[i]!);
    return out;
  }
  sumBetween(from: number, to: number): number {
    let s = 0;
    for (let i = 0; i < this.t.length; i++) if (this.t[i]! >= from && this.t[i]! < to) s += this.v[i]!;
    return s;
  }
}

/** Largest and smallest of many values (a spread into Math.max overflows the stack past ~100,000). */
export function maxOf(values: readonly number[]): number | null {
  let m: number | null = null;
  for (const v of values) if (m === null || v > m) m = v;
  return m;
}
export function minOf(values: readonly number[]): number | null {
  let m: number | null = null;
  for (const v of values) if (m === null || v < m) m = v;
  return m;
}

export function percentile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const bump = (m: Map<string, number>, k: string, by = 1): void => void m.set(k, (m.get(k) ?? 0) + by);

export type LatencyKind = 'ingest_batch' | 'ingest_single' | 'dashboard' | 'query_filter' | 'query_search';

export interface Book {
  /** Logs the server answered as accepted (201, or `accepted` of a 207). */
  accepted: number;
  /** Logs generated and sent at least once. */
  generated: number;
  /** Logs never acknowledged: refused until the run ended, or answered with an unexpected status. */
  notAccepted: number;
  /** Logs in requests that ended with a socket error or a timeout: the server may or may not have stored them. */
  unknownOutcome: number;
  /** Ingest requests answered (any status), and those sent again after a 429/503. */
  ingestRequests: number;
  retries: number;
  /** "503 OVERLOADED", "429 RATE_LIMITED", ... on ingest (retried) and on reads. */
  refusals: Map<string, number>;
  /** Any other answer that is not a success, by "<status> <code>" and route kind. */
  unexpected: Map<string, number>;
  unexpectedSamples: string[];
  socketErrors: Map<string, number>;
  /** Accepted logs over time, refusals over time. */
  acceptedSeries: Series;
  refusedSeries: Series;
  latency: Record<LatencyKind, Series>;
  reads: Record<'dashboard' | 'query_filter' | 'query_search', { ok: number; failed: number }>;
}

export function newBook(): Book {
  return {
    accepted: 0,
    generated: 0,
    notAccepted: 0,
    unknownOutcome: 0,
    ingestRequests: 0,
    retries: 0,
    refusals: new Map(),
    unexpected: new Map(),
    unexpectedSamples: [],
    socketErrors: new Map(),
    acceptedSeries: new Series(),
    refusedSeries: new Series(),
    latency: {
      ingest_batch: new Series(),
      ingest_single: new Series(),
      dashboard: new Series(),
      query_filter: new Series(),
      query_search: new Series(),
    },
    reads: { dashboard: { ok: 0, failed: 0 }, query_filter: { ok: 0, failed: 0 }, query_search: { ok: 0, failed: 0 } },
  };
}

/** Sleeps `ms`, or less when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

interface Answer {
  status: number;
  text: string;
  headers: Headers;
  ms: number;
}

function causeOf(e: unknown): string {
  const err = e as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError') return 'timeout';
  return err.cause?.code ?? err.code ?? err.cause?.message ?? err.message ?? String(e);
}

async function call(url: string, init: RequestInit, timeoutMs: number): Promise<Answer | { error: string; ms: number }> {
  const t = performance.now();
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    return { status: res.status, text, headers: res.headers, ms: performance.now() - t };
  } catch (e) {
    return { error: causeOf(e), ms: performance.now() - t };
  }
}

function codeOf(text: string): string {
  try {
    const code = (JSON.parse(text) as { code?: unknown }).code;
    return typeof code === 'string' ? code : '-';
  } catch {
    return '-';
  }
}

/** Spaces requests so the total stays under `rate` logs/s (no cap when null); a late loop catches up. */
export class Pacer {
  private reserved = 0;
  constructor(
    private readonly rate: number | null,
    private readonly t0: number,
  ) {}
  async take(n: number, signal: AbortSignal): Promise<void> {
    if (this.rate === null) return;
    const due = this.t0 + (this.reserved / this.rate) * 1000;
    this.reserved += n;
    await sleep(due - performance.now(), signal);
  }
}

export interface LoadContext {
  url: string;
  book: Book;
  /** performance.now() when the load started. */
  t0: number;
  /** Aborted when the run ends (deadline, crash, Ctrl-C): loops finish the request in hand and stop. */
  stop: AbortSignal;
  pacer: Pacer;
}

const elapsed = (ctx: LoadContext): number => (performance.now() - ctx.t0) / 1000;

const CONTENT_TYPE = { json: 'application/json', ndjson: 'application/x-ndjson' } as const;

function noteUnexpected(ctx: LoadContext, what: string, detail: string): void {
  bump(ctx.book.unexpected, what);
  if (ctx.book.unexpectedSamples.length < 5) ctx.book.unexpectedSamples.push(`${what}: ${detail.slice(0, 300)}`);
}

/**
 * Posts one body until the server takes it: 201/207 book the accepted count; 429 and 503 are
 * refusals, waited out (Retry-After, at most until the run ends) and sent again; anything else
 * is unexpected and its logs are not accepted; a socket error or timeout leaves the outcome
 * unknown (the server may have committed before the answer was lost), so it is not resent.
 */
async function post(ctx: LoadContext, body: string, format: 'json' | 'ndjson', n: number, single: boolean): Promise<void> {
  const { book } = ctx;
  book.generated += n;
  for (;;) {
    const r = await call(`${ctx.url}/api/logs`, { method: 'POST', headers: { 'content-type': CONTENT_TYPE[format] }, body }, 60_000);
    const t = elapsed(ctx);
    if ('error' in r) {
      bump(book.socketErrors, `ingest: ${r.error}`);
      book.unknownOutcome += n;
      return;
    }
    book.ingestRequests++;
    if (r.status === 201 || r.status === 207) {
      const accepted = single ? 1 : Number((JSON.parse(r.text) as { accepted?: unknown }).accepted);
      if (!Number.isInteger(accepted)) {
        noteUnexpected(ctx, `${r.status} without an accepted count`, r.text);
        book.unknownOutcome += n;
        return;
      }
      book.accepted += accepted;
      book.acceptedSeries.add(t, accepted);
      book.latency[single ? 'ingest_single' : 'ingest_batch'].add(t, r.ms);
      if (accepted < n) {
        noteUnexpected(ctx, `${r.status} with rejected items`, r.text);
        book.notAccepted += n - accepted;
      }
      return;
    }
    const code = codeOf(r.text);
    if (r.status === 429 || r.status === 503) {
      bump(book.refusals, `${r.status} ${code}`);
      book.refusedSeries.add(t, 1);
      if (code !== 'OVERLOADED' && code !== 'RATE_LIMITED') noteUnexpected(ctx, `ingest ${r.status} ${code}`, r.text);
      const retryAfter = Number(r.headers.get('retry-after'));
      await sleep(Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 1000, ctx.stop);
      if (ctx.stop.aborted) {
        book.notAccepted += n;
        return;
      }
      book.retries++;
      continue;
    }
    noteUnexpected(ctx, `ingest ${r.status} ${code}`, r.text);
    book.notAccepted += n;
    return;
  }
}

const SPREAD_MS = 10_000;

function makeLogs(random: Random, n: number, o: { service?: string; kind?: string; errorRate?: number } = {}): LogInput[] {
  const now = Date.now();
  return Array.from({ length: n }, () => generateLog(random, { now, spreadMs: SPREAD_MS, ...o }));
}

/** 100-log bodies, JSON arrays and NDJSON in turn, as fast as the server answers (or the pacer allows). */
export async function batchLoop(ctx: LoadContext, seed: number): Promise<void> {
  const random = seededRandom(seed);
  for (let k = 0; !ctx.stop.aborted; k++) {
    await ctx.pacer.take(100, ctx.stop);
    if (ctx.stop.aborted) return;
    const logs = makeLogs(random, 100);
    const format = k % 2 === 0 ? 'json' : 'ndjson';
    const body = format === 'json' ? JSON.stringify(logs) : logs.map((l) => JSON.stringify(l)).join('\n');
    await post(ctx, body, format, 100, false);
  }
}

/** One log per request. */
export async function singleLoop(ctx: LoadContext, seed: number): Promise<void> {
  const random = seededRandom(seed);
  while (!ctx.stop.aborted) {
    await ctx.pacer.take(1, ctx.stop);
    if (ctx.stop.aborted) return;
    await post(ctx, JSON.stringify(makeLogs(random, 1)[0]), 'json', 1, true);
  }
}

/** The service that flaps: a 100 s cycle of 20 s at half errors, 15 s clean, 65 s silent (20 logs/s while it talks). */
export const FLAP_SERVICE = 'cron-service';
export async function flapLoop(ctx: LoadContext, seed: number): Promise<void> {
  const random = seededRandom(seed);
  while (!ctx.stop.aborted) {
    const phase = elapsed(ctx) % 100;
    if (phase >= 35) {
      await sleep((100 - phase) * 1000, ctx.stop);
      continue;
    }
    const logs = makeLogs(random, 1, { service: FLAP_SERVICE, kind: 'user-service', errorRate: phase < 20 ? 0.5 : 0 });
    await post(ctx, JSON.stringify(logs[0]), 'json', 1, true);
    await sleep(50, ctx.stop);
  }
}

async function read(ctx: LoadContext, kind: 'dashboard' | 'query_filter' | 'query_search', path: string): Promise<void> {
  const { book } = ctx;
  const r = await call(`${ctx.url}${path}`, {}, 30_000);
  const t = elapsed(ctx);
  if ('error' in r) {
    bump(book.socketErrors, `${kind}: ${r.error}`);
    book.reads[kind].failed++;
    return;
  }
  if (r.status === 200) {
    book.reads[kind].ok++;
    book.latency[kind].add(t, r.ms);
    return;
  }
  book.reads[kind].failed++;
  const code = codeOf(r.text);
  if (r.status === 429 || r.status === 503) {
    bump(book.refusals, `${r.status} ${code} (${kind})`);
    book.refusedSeries.add(t, 1);
  } else noteUnexpected(ctx, `${kind} ${r.status} ${code}`, r.text);
}

/** GET /api/advanced-dashboard-data, `everyMs` apart. */
export async function dashboardLoop(ctx: LoadContext, everyMs: number): Promise<void> {
  while (!ctx.stop.aborted) {
    await read(ctx, 'dashboard', '/api/advanced-dashboard-data');
    await sleep(everyMs, ctx.stop);
  }
}

/** A filtered query and a text search in turn, `everyMs` apart. */
export async function queryLoop(ctx: LoadContext, everyMs: number): Promise<void> {
  const services = ['payment-service', 'auth-service', 'api-gateway', 'user-service', 'notification-service'];
  const words = ['declined', 'timeout', 'failed', 'unreachable'];
  for (let k = 0; !ctx.stop.aborted; k++) {
    if (k % 2 === 0) await read(ctx, 'query_filter', `/api/logs?service=${services[(k / 2) % services.length]}&level=ERROR&limit=100`);
    else await read(ctx, 'query_search', `/api/logs?q=${words[((k - 1) / 2) % words.length]}&limit=100`);
    await sleep(everyMs, ctx.stop);
  }
}

// ---------------------------------------------------------------- server samples

export interface Sample {
  /** Seconds since the load started. */
  t: number;
  /** VmRSS, and its anonymous (heap, malloc) and file-backed parts, bytes; null without /proc. */
  rss: number | null;
  rssAnon: number | null;
  rssFile: number | null;
  /** /health pressure.heap_used_bytes (the server's last one-second sample), bytes. */
  heap: number | null;
  /** /health total_logs and current_stored. */
  total: number | null;
  stored: number | null;
  capacity: number | null;
  pressure: string | null;
  /** /health pressure.event_loop_delay_ms: the mean event loop delay over the server's last one-second sample. */
  eventLoopDelayMs: number | null;
  /** CPU seconds the server and this process have used so far; null without /proc. */
  serverCpu: number | null;
  /** Seconds the server's main thread (the event loop) has so far spent runnable but waiting for a CPU (/proc schedstat); null without it. */
  serverCpuWait: number | null;
  selfCpu: number | null;
}

export function rssOf(pid: number): { rss: number | null; anon: number | null; file: number | null } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string): number | null => {
      const kb = new RegExp(`${name}:\\s*(\\d+)\\s*kB`).exec(status)?.[1];
      return kb === undefined ? null : Number(kb) * 1024;
    };
    return { rss: field('VmRSS'), anon: field('RssAnon'), file: field('RssFile') };
  } catch {
    return { rss: null, anon: null, file: null };
  }
}

let clockTicks: number | undefined;

/** Seconds a thread has waited on a run queue (the second field of /proc/<pid>/task/<tid>/schedstat, ns); null without it. */
export function runQueueWaitOf(pid: number): number | null {
  try {
    const wait = Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[1]);
    return Number.isFinite(wait) ? wait / 1e9 : null;
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) of a process, from /proc/<pid>/stat; null without /proc. */
export function cpuSecondsOf(pid: number): number | null {
  try {
    clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  } catch {
    return null;
  }
}

interface Health {
  total_logs?: number;
  current_stored?: number;
  buffer_capacity?: number;
  pressure?: { status?: string; heap_used_bytes?: number; event_loop_delay_ms?: number };
}

export async function sample(ctx: LoadContext, pid: number): Promise<Sample> {
  const mem = rssOf(pid);
  const serverCpu = cpuSecondsOf(pid);
  const serverCpuWait = runQueueWaitOf(pid);
  const selfCpu = cpuSecondsOf(process.pid);
  let h: Health = {};
  const r = await call(`${ctx.url}/health`, {}, 10_000);
  if (!('error' in r) && r.status === 200) h = JSON.parse(r.text) as Health;
  return {
    t: elapsed(ctx),
    rss: mem.rss,
    rssAnon: mem.anon,
    rssFile: mem.file,
    heap: h.pressure?.heap_used_bytes ?? null,
    total: h.total_logs ?? null,
    stored: h.current_stored ?? null,
    capacity: h.buffer_capacity ?? null,
    pressure: h.pressure?.status ?? null,
    eventLoopDelayMs: h.pressure?.event_loop_delay_ms ?? null,
    serverCpu,
    serverCpuWait,
    selfCpu,
  };
}
