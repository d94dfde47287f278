/**
 * `npm run soak`: the real server under sustained load for a few minutes, then the questions a
 * short benchmark cannot answer. Does memory level off once the recent-logs buffer is full? Does a
 * slow, failing alert receiver hold anything up? Is every log the server acknowledged still
 * there after a SIGTERM and a restart?
 *
 *   npm run soak [-- --minutes 3] [--rate LOGS_PER_S] [--json FILE] [--loops 4] [--interval 15] [--max-logs N] [--keep]
 *
 * Starts dist/server/main.js (like `npm run bench`: generated config in a temporary folder,
 * loopback only, pinned to CPU 0 where possible, this process on CPU 1) with persistence on
 * (a new SQLite file in that folder), the default limits, the rate limiter on with budgets
 * raised far past the load, and alerting set to fire often, with one webhook pointing at a
 * receiver this script runs: slow (200 ms to 3 s per request) and failing (a third answered
 * 500, one in ten dropped, one in twenty hung past the sender's timeout). RELIABILITY.md
 * describes the run and how to read it.
 *
 * Exit status 0 when nothing was lost, the server never crashed and exited 0 on both
 * SIGTERMs, memory levelled off, and no request got an answer it should not have; 1
 * otherwise; 2 for a bad flag; 130 when interrupted.
 */
import { setMaxListeners } from 'node:events';
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { killAll } from '../bench/lib/server.js';
import { machineInfo, pinSelf } from '../bench/lib/machine.js';
import { DEFAULTS } from '../server/config.js';
import {
  batchLoop,
  dashboardLoop,
  FLAP_SERVICE,
  flapLoop,
  maxOf,
  minOf,
  newBook,
  Pacer,
  percentile,
  queryLoop,
  sample,
  singleLoop,
  sleep,
  type Book,
  type LoadContext,
  type Sample,
  type Series,
} from './soak/load.js';
import { startReceiver, type Receiver, type ReceiverCounts, type ReceiverOptions } from './soak/receiver.js';
import { startSoakServer, type LiveMemory, type SoakServer, type StopResult } from './soak/server.js';

// ---------------------------------------------------------------- options

interface Options {
  minutes: number;
  /** Logs/s across all ingest loops; null: as fast as the server answers. */
  rate: number | null;
  json: string | undefined;
  loops: number;
  interval: number;
  maxLogs: number;
  keep: boolean;
}

const HELP = `npm run soak [-- --minutes 3] [--rate N] [--json FILE] [--loops 4] [--interval 15] [--max-logs N] [--keep]
  --minutes   how long the load runs (3; fractions allowed, at least 0.25)
  --rate      cap on logs/s sent, all ingest loops together (default: as fast as the server answers)
  --json      also write the figures to FILE
  --loops     concurrent 100-log batch loops (4), besides one single-log loop and one flapping service
  --interval  seconds per row of the RSS-over-time table (15)
  --max-logs  storage.max_logs, the recent-logs buffer (default ${DEFAULTS.storage.max_logs}); lower it for a low --rate so it fills early
  --keep      keep the temporary folder (config, database) instead of removing it
`;

function parseOptions(argv: readonly string[]): Options {
  const o: Options = { minutes: 3, rate: null, json: undefined, loops: 4, interval: 15, maxLogs: DEFAULTS.storage.max_logs, keep: false };
  const number = (flag: string, v: string | undefined, min: number): number => {
    const x = Number(v);
    if (v === undefined || !Number.isFinite(x) || x < min) throw new Error(`${flag} needs a number ≥ ${min}`);
    return x;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    if (a === '--keep') {
      o.keep = true;
      continue;
    }
    if (a === '--help' || a === '-h') {
      process.stdout.write(HELP);
      process.exit(0);
    }
    if (a === '--minutes') o.minutes = number(a, v, 0.25);
    else if (a === '--rate') o.rate = number(a, v, 1);
    else if (a === '--loops') o.loops = Math.floor(number(a, v, 1));
    else if (a === '--interval') o.interval = number(a, v, 2);
    else if (a === '--max-logs') o.maxLogs = Math.floor(number(a, v, 1));
    else if (a === '--json') {
      if (!v) throw new Error('--json needs a file name');
      o.json = v;
    } else throw new Error(`unknown argument ${a} (try --help)`);
    i++;
  }
  return o;
}

let opts: Options;
try {
  opts = parseOptions(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------- set-up

const GRACE_S = DEFAULTS.server.shutdown_grace_seconds;
const RECEIVER: ReceiverOptions = { seed: 7, minDelayMs: 200, maxDelayMs: 3000, failShare: 1 / 3, dropShare: 0.1, hangShare: 0.05, hangMs: 7000 };
const WEBHOOK = { timeout_ms: 5000, max_retries: 3, backoff_ms: 500, queue_size: 200 };
const RAISED = { ingest: 10_000_000, read: 1_000_000 };
const ALERTING = {
  error_rate_threshold: 0.05,
  high_volume_threshold: 50,
  service_down_minutes: 0.5,
  cooldown_seconds: 1,
  window_minutes: 1,
  check_interval_seconds: 1,
};
const DASHBOARD_EVERY_MS = 250;
const QUERY_EVERY_MS = 1000;
const SAMPLE_EVERY_MS = 1000;
const SLOW_MS = 250;

const out = (s = ''): void => void process.stdout.write(`${s}\n`);
const n = (x: number): string => Math.round(x).toLocaleString('en-US');
const mb = (b: number | null | undefined): string => (b === null || b === undefined ? '-' : (b / 2 ** 20).toFixed(1));
const ms = (x: number | null): string => (x === null ? '-' : x < 10 ? x.toFixed(2) : x.toFixed(1));

pinSelf();
const machine = machineInfo();
const loadBefore = loadavg();
const dir = mkdtempSync(join(tmpdir(), 'logsentinel-soak-'));
const dbPath = join(dir, 'soak.db');

let server: SoakServer | null = null;
let receiver: Receiver | null = null;
const stop = new AbortController();
// Every loop's sleep listens on it (a dozen at once): not a leak, each is removed when the sleep ends.
setMaxListeners(64, stop.signal);
let interrupted = false;

function removeDir(): void {
  if (!opts.keep) rmSync(dir, { recursive: true, force: true });
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) {
      process.stderr.write(`\n${signal} again: killing the server and removing ${dir}\n`);
      killAll();
      removeDir();
      process.exit(130);
    }
    interrupted = true;
    process.stderr.write(`\n${signal}: stopping the load and the server (again to give up at once)\n`);
    stop.abort();
    if (server !== null && server.exit === null) server.child.kill('SIGTERM');
  });
}

function serverConfig(receiverUrl: string): Record<string, unknown> {
  return {
    storage: { max_logs: opts.maxLogs, persistence: { enabled: true, path: dbPath }, retention: { max_rows: 0 } },
    alerting: { ...ALERTING, handlers: { log: true, webhooks: [{ url: receiverUrl, ...WEBHOOK }] } },
    // Every request comes from one loopback address: raise the budgets so the load is not refused, keep the limiter running.
    rate_limit: { enabled: true, token: RAISED, anonymous: RAISED },
  };
}

// ---------------------------------------------------------------- figures

interface Row {
  until_s: number;
  rss_mb: number | null;
  heap_mb: number | null;
  stored: number | null;
  logs_per_s: number;
  ingest_batch_p50_ms: number | null;
  ingest_batch_p99_ms: number | null;
  ingest_single_p99_ms: number | null;
  dashboard_p50_ms: number | null;
  dashboard_p99_ms: number | null;
  query_p99_ms: number | null;
  refused: number;
  server_cpu_pct: number | null;
  /** Share of the interval the server's event loop thread was ready to run but waited for a CPU (other processes on it). */
  cpu_wait_pct: number | null;
  /** Largest one-second mean event loop delay the server reported in the interval. */
  loop_delay_max_ms: number | null;
}

function lastSampleBefore(samples: readonly Sample[], t: number): Sample | undefined {
  let found: Sample | undefined;
  for (const s of samples) if (s.t <= t) found = s;
  return found;
}

function row(book: Book, samples: readonly Sample[], from: number, to: number): Row {
  const s = lastSampleBefore(samples, to);
  const s0 = lastSampleBefore(samples, from) ?? samples[0];
  const lat = (series: Series, q: number): number | null => percentile(series.between(from, to), q);
  const queries = [...book.latency.query_filter.between(from, to), ...book.latency.query_search.between(from, to)];
  const cpu =
    s && s0 && s.serverCpu !== null && s0.serverCpu !== null && s.t > s0.t ? Math.round(((s.serverCpu - s0.serverCpu) / (s.t - s0.t)) * 100) : null;
  return {
    until_s: Math.round(to),
    rss_mb: s?.rss == null ? null : s.rss / 2 ** 20,
    heap_mb: s?.heap == null ? null : s.heap / 2 ** 20,
    stored: s?.total ?? null,
    logs_per_s: book.acceptedSeries.sumBetween(from, to) / (to - from),
    ingest_batch_p50_ms: lat(book.latency.ingest_batch, 0.5),
    ingest_batch_p99_ms: lat(book.latency.ingest_batch, 0.99),
    ingest_single_p99_ms: lat(book.latency.ingest_single, 0.99),
    dashboard_p50_ms: lat(book.latency.dashboard, 0.5),
    dashboard_p99_ms: lat(book.latency.dashboard, 0.99),
    query_p99_ms: percentile(queries, 0.99),
    refused: book.refusedSeries.sumBetween(from, to),
    server_cpu_pct: cpu,
    cpu_wait_pct:
      s && s0 && s.serverCpuWait !== null && s0.serverCpuWait !== null && s.t > s0.t ? Math.round(((s.serverCpuWait - s0.serverCpuWait) / (s.t - s0.t)) * 100) : null,
    loop_delay_max_ms: maxOf(samples.filter((x) => x.t > from && x.t <= to && x.eventLoopDelayMs !== null).map((x) => x.eventLoopDelayMs!)),
  };
}

const TABLE_HEAD =
  '|   t s | RSS MB | heap MB | logs stored | logs/s | batch p50/p99 ms | single p99 ms | dashboard p50/p99 ms | query p99 ms | refused | server cpu % | cpu wait % | loop delay max ms |\n' +
  '|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|';

function formatRow(r: Row): string {
  const f = (x: number | null, digits = 1): string => (x === null ? '-' : x.toFixed(digits));
  return `| ${String(r.until_s).padStart(5)} | ${f(r.rss_mb)} | ${f(r.heap_mb)} | ${r.stored === null ? '-' : n(r.stored)} | ${n(r.logs_per_s)} | ${ms(r.ingest_batch_p50_ms)} / ${ms(r.ingest_batch_p99_ms)} | ${ms(r.ingest_single_p99_ms)} | ${ms(r.dashboard_p50_ms)} / ${ms(r.dashboard_p99_ms)} | ${ms(r.query_p99_ms)} | ${n(r.refused)} | ${r.server_cpu_pct ?? '-'} | ${r.cpu_wait_pct ?? '-'} | ${ms(r.loop_delay_max_ms)} |`;
}

const median = (xs: readonly number[]): number | null => percentile(xs, 0.5);

interface Third {
  from_s: number;
  to_s: number;
  samples: number;
  rss_median_mb: number | null;
  rss_min_mb: number | null;
  rss_max_mb: number | null;
  heap_median_mb: number | null;
  rss_anon_median_mb: number | null;
  rss_file_median_mb: number | null;
}

function third(samples: readonly Sample[], from: number, to: number): Third {
  const inside = samples.filter((s) => s.t >= from && s.t <= to);
  const rss = inside.map((s) => s.rss).filter((x): x is number => x !== null);
  const heap = inside.map((s) => s.heap).filter((x): x is number => x !== null);
  const m = (x: number | null): number | null => (x === null ? null : x / 2 ** 20);
  return {
    from_s: from,
    to_s: to,
    samples: rss.length,
    rss_median_mb: m(median(rss)),
    rss_min_mb: m(minOf(rss)),
    rss_max_mb: m(maxOf(rss)),
    heap_median_mb: m(median(heap)),
    rss_anon_median_mb: m(median(inside.map((s) => s.rssAnon).filter((x): x is number => x !== null))),
    rss_file_median_mb: m(median(inside.map((s) => s.rssFile).filter((x): x is number => x !== null))),
  };
}

/** Live memory (after a full GC) at a moment of the run. */
interface LivePoint extends LiveMemory {
  t: number;
  /** How long the probe's two full collections held the server, roughly (the round trip). */
  pause_ms: number;
}

const live = (p: LiveMemory): number => p.heapUsed + p.external;

interface MemoryVerdict {
  peak_rss_bytes: number | null;
  buffer_full_at_s: number | null;
  thirds: [Third, Third, Third];
  /** Median RSS of the middle third minus the first's, and of the last minus the middle's. */
  growth_middle_mb: number | null;
  growth_last_mb: number | null;
  tolerance_mb: number;
  /** Heap used + external after a full GC at the end of each third, and the growth over the last third. */
  live_points: LivePoint[];
  live_growth_last_mb: number | null;
  live_tolerance_mb: number | null;
  conclusive: boolean;
  levelled: boolean;
  text: string;
}

/**
 * Whether memory levelled off. The heap saws up and down by ~100 MB every few seconds under
 * this load (evicted logs become garbage in bulk), so single RSS samples or a slope fitted over
 * a third are mostly noise: each third is summed up by its median RSS, and the growth from one
 * third to the next is the difference of medians. Levelled when the last third's growth is
 * within 16 MB or 10% of the middle third's median, and the live memory after a full GC (heap
 * used + external, through the benchmark's probe) grew by at most 8 MB or 5% over the last third.
 */
function memoryVerdict(samples: readonly Sample[], seconds: number, points: readonly LivePoint[]): MemoryVerdict {
  const rss = samples.map((s) => s.rss).filter((x): x is number => x !== null);
  const peak = maxOf(rss);
  const full = samples.find((s) => s.stored !== null && s.capacity !== null && s.stored >= s.capacity);
  const a = seconds / 3;
  const b = (2 * seconds) / 3;
  const thirds: [Third, Third, Third] = [third(samples, 0, a), third(samples, a, b), third(samples, b, seconds)];
  const [t1, t2, t3] = thirds;
  const diff = (x: number | null, y: number | null): number | null => (x === null || y === null ? null : x - y);
  const gMid = diff(t2.rss_median_mb, t1.rss_median_mb);
  const gLast = diff(t3.rss_median_mb, t2.rss_median_mb);
  const tolerance = Math.max(16, 0.1 * (t2.rss_median_mb ?? 0));
  const [, p2, p3] = points;
  const liveLast = p2 && p3 ? (live(p3) - live(p2)) / 2 ** 20 : null;
  const liveTolerance = p2 ? Math.max(8, (0.05 * live(p2)) / 2 ** 20) : null;
  const conclusive = full !== undefined && full.t <= a && gLast !== null && t2.samples >= 5 && t3.samples >= 5 && liveLast !== null;
  const levelled = conclusive && gLast! <= tolerance && liveLast! <= liveTolerance!;
  const f = (x: number | null): string => (x === null ? '-' : x.toFixed(1));
  const sign = (x: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(1)}`;
  const span = (t: Third): string => `${t.from_s.toFixed(0)}-${t.to_s.toFixed(0)} s`;
  let text: string;
  if (full === undefined) text = `not conclusive: the recent-logs buffer (${n(samples.at(-1)?.capacity ?? opts.maxLogs)} logs) never filled; lower --max-logs or raise --rate`;
  else if (full.t > a) text = `not conclusive: the recent-logs buffer filled only at ${full.t.toFixed(0)} s, after the first third; lower --max-logs or run longer`;
  else if (!conclusive) text = 'not conclusive: too few samples, or the memory probe did not answer';
  else
    text =
      `${levelled ? 'yes' : 'NO'}: median RSS ${f(t1.rss_median_mb)} / ${f(t2.rss_median_mb)} / ${f(t3.rss_median_mb)} MB over the three thirds (${span(t1)}, ${span(t2)}, ${span(t3)}), ` +
      `so ${sign(gMid!)} MB into the middle third and ${sign(gLast!)} MB into the last (tolerance ${tolerance.toFixed(1)} MB); ` +
      `range ${f(t2.rss_min_mb)}-${f(t2.rss_max_mb)} MB then ${f(t3.rss_min_mb)}-${f(t3.rss_max_mb)} MB (anonymous ${f(t2.rss_anon_median_mb)} then ${f(t3.rss_anon_median_mb)}, file-backed ${f(t2.rss_file_median_mb)} then ${f(t3.rss_file_median_mb)} MB, medians); ` +
      `live after a full GC (heap used + external) ${points.map((p) => `${f(live(p) / 2 ** 20)} MB at ${p.t.toFixed(0)} s`).join(', ')}: ${sign(liveLast!)} MB over the last third (tolerance ${liveTolerance!.toFixed(1)} MB); ` +
      `recent-logs buffer full at ${full.t.toFixed(0)} s`;
  return {
    peak_rss_bytes: peak,
    buffer_full_at_s: full?.t ?? null,
    thirds,
    growth_middle_mb: gMid,
    growth_last_mb: gLast,
    tolerance_mb: tolerance,
    live_points: [...points],
    live_growth_last_mb: liveLast,
    live_tolerance_mb: liveTolerance,
    conclusive,
    levelled,
    text,
  };
}

async function getJson<T>(url: string, timeoutMs = 30_000): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: (await res.json()) as T };
}

interface Paging {
  count: number;
  pages: number;
  ordered: boolean;
  complete: boolean;
  seconds: number;
  /** 429/503 answers while paging (waited out and asked again), by status and code, and when the last came (s after the start of paging). */
  refused: Record<string, number>;
  last_refusal_s: number | null;
  first_refusal: string | null;
}

/** Reads every log back through GET /api/logs, 1000 a page, checking ids strictly fall (no duplicate); 429/503 are waited out. */
async function countByPaging(url: string, limitMs: number): Promise<Paging> {
  const t = performance.now();
  const p: Paging = { count: 0, pages: 0, ordered: true, complete: false, seconds: 0, refused: {}, last_refusal_s: null, first_refusal: null };
  let before: number | null = null;
  let previous = Infinity;
  for (;;) {
    p.seconds = (performance.now() - t) / 1000;
    if (interrupted || p.seconds * 1000 > limitMs) return p;
    const res = await fetch(`${url}/api/logs?limit=1000${before === null ? '' : `&before_id=${before}`}`, { signal: AbortSignal.timeout(60_000) });
    const text = await res.text();
    if (res.status === 429 || res.status === 503) {
      const key = `${res.status} ${(JSON.parse(text) as { code?: string }).code ?? '-'}`;
      p.refused[key] = (p.refused[key] ?? 0) + 1;
      p.last_refusal_s = (performance.now() - t) / 1000;
      p.first_refusal ??= text.slice(0, 400);
      const after = Number(res.headers.get('retry-after'));
      await sleep(Math.min(Number.isFinite(after) && after > 0 ? after * 1000 : 1000, 1000));
      continue;
    }
    if (res.status !== 200) throw new Error(`GET /api/logs answered ${res.status} while counting: ${text.slice(0, 300)}`);
    const page = JSON.parse(text) as { logs: { id: number }[]; next_before_id: number | null };
    p.pages++;
    for (const log of page.logs) {
      if (!(log.id < previous)) p.ordered = false;
      previous = log.id;
    }
    p.count += page.logs.length;
    if (page.next_before_id === null) {
      p.complete = true;
      p.seconds = (performance.now() - t) / 1000;
      return p;
    }
    before = page.next_before_id;
  }
}

/** Logs in the database file, read directly (schema 3: one row per request with its count), after the server stopped. */
function countInFile(path: string): { chunks_sum: number; meta_log_count: number } | { error: string } {
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      const chunks = db.prepare('SELECT coalesce(sum(count), 0) FROM chunks').pluck().get() as number;
      const meta = db.prepare("SELECT value FROM meta WHERE key = 'log_count'").pluck().get() as number;
      return { chunks_sum: chunks, meta_log_count: meta };
    } finally {
      db.close();
    }
  } catch (e) {
    return { error: (e as Error).message };
  }
}

// ---------------------------------------------------------------- the run

interface AlertsReply {
  rules: Record<string, { fired: number; notified: number }>;
  handlers: { name: string; delivered: number; failed: number }[];
  webhooks: { url: string; queued: number; sent: number; failed: number; retried: number; dropped: number }[];
  alerts: { status: string }[];
}

interface HealthReply {
  total_logs: number;
  current_stored: number;
  buffer_capacity: number;
  pressure?: { status: string; shed: number };
  rate_limit?: { enabled: boolean; refused: number };
}

async function run(): Promise<number> {
  const failures: string[] = [];
  const seconds = opts.minutes * 60;
  let free = '';
  try {
    const fs = statfsSync(dir);
    free = `, ${(Number(fs.bavail) * Number(fs.bsize) / 2 ** 30).toFixed(0)} GB free there`;
  } catch {
    // not reported
  }
  out(`soak: ${opts.minutes} min of load, ${opts.rate === null ? 'as fast as the server answers' : `capped at ${n(opts.rate)} logs/s`}`);
  out(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGB} GB RAM, Node ${machine.node}, ${machine.platform}; load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')} before the run`);
  out(`pinning: ${machine.pinning}`);
  out(`folder: ${dir}${free}${opts.keep ? ' (kept)' : ' (removed at the end)'}`);

  receiver = await startReceiver(RECEIVER);
  const config = serverConfig(receiver.url);
  out(
    `server: dist/server/main.js, embedded defaults plus: persistence on (${dbPath}), storage.max_logs ${n(opts.maxLogs)}, retention.max_rows 0 (off, so every log stays to be counted), ` +
      `rate limiter ON with budgets raised to ${n(RAISED.ingest)} ingest / ${n(RAISED.read)} read requests per ${DEFAULTS.rate_limit.window_seconds} s per caller (default ${n(DEFAULTS.rate_limit.anonymous.ingest)} / ${n(DEFAULTS.rate_limit.anonymous.read)}), ` +
      `load shedding on (defaults), limits at their defaults, shutdown grace ${GRACE_S} s`,
  );
  out(
    `alerting: high_volume_threshold ${ALERTING.high_volume_threshold}/min, error_rate_threshold ${ALERTING.error_rate_threshold}, window ${ALERTING.window_minutes} min, service_down ${ALERTING.service_down_minutes} min, ` +
      `cooldown ${ALERTING.cooldown_seconds} s, check every ${ALERTING.check_interval_seconds} s; one webhook (timeout ${WEBHOOK.timeout_ms} ms, ${WEBHOOK.max_retries} retries from ${WEBHOOK.backoff_ms} ms, queue ${WEBHOOK.queue_size})`,
  );
  out(
    `receiver: ${receiver.url}, each request waits ${RECEIVER.minDelayMs}-${RECEIVER.maxDelayMs} ms, then ${Math.round(RECEIVER.failShare * 100)}% answered 500, ${Math.round(RECEIVER.dropShare * 100)}% dropped, ` +
      `${Math.round(RECEIVER.hangShare * 100)}% held ${RECEIVER.hangMs} ms (past the timeout), the rest 200`,
  );
  out(
    `load: ${opts.loops} loops of 100-log bodies (JSON arrays and NDJSON in turn), 1 single-log loop, ${FLAP_SERVICE} (20 logs/s, half errors then clean then silent, a 100 s cycle), ` +
      `the dashboard every ${DASHBOARD_EVERY_MS} ms, a filtered query or a text search every ${QUERY_EVERY_MS} ms; logs from the simulator's generateLog`,
  );

  server = await startSoakServer({ name: 'soak', dir, config, startTimeoutMs: 60_000, probe: true });
  const first = server;
  out(`server up in ${(first.startMs / 1000).toFixed(2)} s, pid ${first.pid}`);
  out();

  // ---- load
  const book = newBook();
  const samples: Sample[] = [];
  const t0 = performance.now();
  const ctx: LoadContext = { url: first.url, book, t0, stop: stop.signal, pacer: new Pacer(opts.rate, t0) };
  let crashed = false;
  void first.exited.then((exit) => {
    if (stop.signal.aborted) return;
    crashed = true;
    process.stderr.write(`\nthe server exited during the load (code ${exit.code}, signal ${exit.signal})\n${first.output.tail()}\n`);
    stop.abort();
  });
  const loops = [
    ...Array.from({ length: opts.loops }, (_, i) => batchLoop(ctx, 101 + i)),
    singleLoop(ctx, 201),
    flapLoop(ctx, 301),
    dashboardLoop(ctx, DASHBOARD_EVERY_MS),
    queryLoop(ctx, QUERY_EVERY_MS),
  ];
  const sampler = (async () => {
    while (!stop.signal.aborted) {
      samples.push(await sample(ctx, first.pid));
      await sleep(SAMPLE_EVERY_MS, stop.signal);
    }
  })();
  // Live memory after a full GC at the end of the first and second thirds (and of the load, below).
  const livePoints: LivePoint[] = [];
  const takeLive = async (): Promise<void> => {
    const t = performance.now();
    try {
      const m = await first.liveMemory();
      livePoints.push({ t: (t - t0) / 1000, pause_ms: performance.now() - t, ...m });
    } catch (e) {
      process.stderr.write(`memory probe: ${(e as Error).message}\n`);
    }
  };
  const liveTask = (async () => {
    for (const at of [seconds / 3, (2 * seconds) / 3]) {
      await sleep(t0 + at * 1000 - performance.now(), stop.signal);
      if (stop.signal.aborted) return;
      await takeLive();
    }
  })();
  const rows: Row[] = [];
  out(TABLE_HEAD);
  for (let k = 1; !stop.signal.aborted; k++) {
    const end = Math.min(k * opts.interval, seconds);
    await sleep(t0 + end * 1000 - performance.now(), stop.signal);
    if (stop.signal.aborted) break;
    // A fresh sample for the row's end.
    samples.push(await sample(ctx, first.pid));
    const r = row(book, samples, (k - 1) * opts.interval, end);
    rows.push(r);
    out(formatRow(r));
    if (end >= seconds) break;
  }
  const loadSeconds = Math.min(seconds, (performance.now() - t0) / 1000);
  await liveTask;
  if (!stop.signal.aborted) await takeLive();
  stop.abort();
  await Promise.allSettled([...loops, sampler]);
  const drainSeconds = (performance.now() - t0) / 1000 - loadSeconds;

  const refusals = Object.fromEntries(book.refusals);
  const result: Record<string, unknown> = {
    date: new Date().toISOString(),
    command: `npm run soak -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine: { ...machine, load_average_before: loadBefore },
    options: opts,
    config,
    receiver_options: RECEIVER,
    load_seconds: loadSeconds,
    rows,
    samples,
  };

  if (crashed || interrupted) {
    if (crashed) failures.push('the server crashed during the load');
    if (interrupted) failures.push('interrupted');
    result.failures = failures;
    out(`\n${crashed ? 'the server crashed' : 'interrupted'} after ${loadSeconds.toFixed(0)} s; ${n(book.accepted)} logs accepted by then`);
    if (crashed) out(`server output (tail):\n${first.output.tail()}`);
    writeJson(result);
    return interrupted ? 130 : 1;
  }

  // ---- after the load: counts, alerting, shutdown
  const health1 = await getJson<HealthReply>(`${first.url}/health`);
  const stats1 = await getJson<{ total_logs: number }>(`${first.url}/api/stats`);
  const alerts = await getJson<AlertsReply>(`${first.url}/api/alerts`);
  samples.push(await sample(ctx, first.pid));
  const stop1 = await first.stop((GRACE_S + 5) * 1000);
  server = null;
  // What the receiver got from the first server (the restarted one notifies too), once it has seen the last connection close.
  await sleep(250);
  const rx: ReceiverCounts = receiver.counts();

  // ---- restart on the same file, count, stop
  let restart: { startMs: number; health: HealthReply; statsTotal: number; paging: Paging; stop: StopResult } | { error: string };
  try {
    const second = await startSoakServer({ name: 'soak-restart', dir, config, startTimeoutMs: 300_000 });
    server = second;
    try {
      const health = (await getJson<HealthReply>(`${second.url}/health`)).body;
      const statsTotal = (await getJson<{ total_logs: number }>(`${second.url}/api/stats`)).body.total_logs;
      const paging = await countByPaging(second.url, 600_000);
      restart = { startMs: second.startMs, health, statsTotal, paging, stop: await second.stop((GRACE_S + 5) * 1000) };
    } catch (e) {
      await second.stop((GRACE_S + 5) * 1000);
      throw e;
    } finally {
      server = null;
    }
  } catch (e) {
    restart = { error: (e as Error).message };
  }
  const inFile = countInFile(dbPath);
  await receiver.close();
  const rxTotal: ReceiverCounts = receiver.counts();
  receiver = null;

  // ---- verdicts
  const accepted = book.accepted;
  const unknown = book.unknownOutcome;
  const memory = memoryVerdict(samples, loadSeconds, livePoints);
  const within = (x: number): boolean => x >= accepted && x <= accepted + unknown;
  const stored = 'error' in restart ? null : restart.paging.complete ? restart.paging.count : restart.health.total_logs;
  const lost = stored === null ? null : Math.max(0, accepted - stored);
  const extra = stored === null ? null : Math.max(0, stored - accepted - unknown);

  if (!within(stats1.body.total_logs)) failures.push(`/api/stats total_logs ${n(stats1.body.total_logs)} after the load, accepted ${n(accepted)}${unknown ? ` (+ up to ${n(unknown)} of unknown outcome)` : ''}`);
  const stopOk = (s: StopResult): boolean => !s.killed && s.code === 0 && s.ms <= GRACE_S * 1000;
  if (!stopOk(stop1)) failures.push(`SIGTERM: exit code ${stop1.code}, signal ${stop1.signal}, after ${(stop1.ms / 1000).toFixed(2)} s${stop1.killed ? ', killed' : ''}`);
  if ('error' in restart) failures.push(`restart: ${restart.error}`);
  else {
    if (!restart.paging.complete) failures.push(`counting through /api/logs did not finish (${n(restart.paging.count)} logs in ${restart.paging.pages} pages)`);
    if (!restart.paging.ordered) failures.push('GET /api/logs paging returned ids out of order or twice');
    if (!within(restart.health.total_logs)) failures.push(`after the restart /health total_logs is ${n(restart.health.total_logs)}, accepted ${n(accepted)}`);
    if (!within(restart.statsTotal)) failures.push(`after the restart /api/stats total_logs is ${n(restart.statsTotal)}, accepted ${n(accepted)}`);
    if (!stopOk(restart.stop)) failures.push(`SIGTERM after the restart: exit code ${restart.stop.code}, signal ${restart.stop.signal}, after ${(restart.stop.ms / 1000).toFixed(2)} s${restart.stop.killed ? ', killed' : ''}`);
  }
  if ('error' in inFile) failures.push(`reading the database file: ${inFile.error}`);
  else if (!within(inFile.chunks_sum) || inFile.chunks_sum !== inFile.meta_log_count) failures.push(`the database file holds ${n(inFile.chunks_sum)} logs (meta says ${n(inFile.meta_log_count)}), accepted ${n(accepted)}`);
  if (lost === null) failures.push('the stored count is unknown');
  else if (lost > 0) failures.push(`lost ${n(lost)} acknowledged logs`);
  if (extra !== null && extra > 0) failures.push(`${n(extra)} more logs stored than sent`);
  if (!memory.levelled) failures.push(`memory did not level off (${memory.text})`);
  const unexpected = [...book.unexpected.values()].reduce((a, b) => a + b, 0);
  if (unexpected > 0) failures.push(`${n(unexpected)} unexpected answers: ${[...book.unexpected].map(([k, v]) => `${v} × ${k}`).join(', ')}`);
  const socketErrors = [...book.socketErrors.values()].reduce((a, b) => a + b, 0);
  if (socketErrors > 0) failures.push(`${n(socketErrors)} socket errors or timeouts: ${[...book.socketErrors].map(([k, v]) => `${v} × ${k}`).join(', ')}`);
  if (rxTotal.badPayload > 0) failures.push(`the receiver got ${rxTotal.badPayload} bodies that were not Alertmanager payloads`);
  if (interrupted) failures.push('interrupted');
  if (first.output.lines.error + first.output.lines.fatal > 0) failures.push(`the server logged ${first.output.lines.error} error and ${first.output.lines.fatal} fatal lines`);

  // ---- report
  const lat = (s: Series): { p50: number | null; p99: number | null; max: number | null; count: number } => ({
    p50: percentile(s.v, 0.5),
    p99: percentile(s.v, 0.99),
    max: maxOf(s.v),
    count: s.v.length,
  });
  const latency = Object.fromEntries(Object.entries(book.latency).map(([k, s]) => [k, lat(s)]));
  // Requests of any kind slower than SLOW_MS, grouped by the second they ended in: when the server stalled.
  const slowBySecond = new Map<number, { count: number; max_ms: number }>();
  for (const series of Object.values(book.latency)) {
    for (let i = 0; i < series.t.length; i++) {
      if (series.v[i]! <= SLOW_MS) continue;
      const sec = Math.floor(series.t[i]!);
      const e = slowBySecond.get(sec) ?? { count: 0, max_ms: 0 };
      e.count++;
      e.max_ms = Math.max(e.max_ms, series.v[i]!);
      slowBySecond.set(sec, e);
    }
  }
  const stalls = [...slowBySecond].sort((a, b) => a[0] - b[0]).map(([t_s, e]) => ({ t_s, ...e }));
  const wh = alerts.body.webhooks[0];
  const whHandler = alerts.body.handlers.find((h) => h.name.startsWith('webhook'));
  const loadAfter = loadavg();
  const serverCpu = (() => {
    const a = samples.find((s) => s.serverCpu !== null);
    const b = [...samples].reverse().find((s) => s.serverCpu !== null && s.t <= loadSeconds + 1);
    return a && b && b.t > a.t ? ((b.serverCpu! - a.serverCpu!) / (b.t - a.t)) * 100 : null;
  })();
  const cpuWait = (() => {
    const a = samples.find((s) => s.serverCpuWait !== null);
    const b = [...samples].reverse().find((s) => s.serverCpuWait !== null && s.t <= loadSeconds + 1);
    return a && b && b.t > a.t ? ((b.serverCpuWait! - a.serverCpuWait!) / (b.t - a.t)) * 100 : null;
  })();
  const selfCpu = (() => {
    const a = samples.find((s) => s.selfCpu !== null);
    const b = [...samples].reverse().find((s) => s.selfCpu !== null && s.t <= loadSeconds + 1);
    return a && b && b.t > a.t ? ((b.selfCpu! - a.selfCpu!) / (b.t - a.t)) * 100 : null;
  })();

  out();
  out(`duration: ${loadSeconds.toFixed(1)} s of load (+${drainSeconds.toFixed(1)} s for the requests in flight to finish)`);
  out(`machine load: average ${loadBefore[0]!.toFixed(2)} before, ${loadAfter[0]!.toFixed(2)} after (1 min); the server used ${serverCpu === null ? '-' : serverCpu.toFixed(0)}% of a core and its event loop waited for a CPU ${cpuWait === null ? '-' : cpuWait.toFixed(1)}% of the time, this process ${selfCpu === null ? '-' : selfCpu.toFixed(0)}%`);
  out(`logs accepted: ${n(accepted)} (${n(accepted / loadSeconds)} logs/s) in ${n(book.ingestRequests)} answered ingest requests; ${n(book.retries)} resent after a refusal; ${n(book.notAccepted)} never accepted; ${n(unknown)} of unknown outcome (socket error or timeout)`);
  out(`refusals: ${Object.keys(refusals).length ? Object.entries(refusals).map(([k, v]) => `${n(v)} × ${k}`).join(', ') : 'none'}; server counted ${n(health1.body.pressure?.shed ?? 0)} shed and ${n(health1.body.rate_limit?.refused ?? 0)} rate-limited`);
  out(`unexpected answers: ${unexpected === 0 ? 'none' : [...book.unexpected].map(([k, v]) => `${v} × ${k}`).join(', ')}${book.unexpectedSamples.length ? `\n  e.g. ${book.unexpectedSamples.join('\n  e.g. ')}` : ''}`);
  out(`socket errors: ${socketErrors === 0 ? 'none' : [...book.socketErrors].map(([k, v]) => `${v} × ${k}`).join(', ')}`);
  out(`reads: dashboard ${n(book.reads.dashboard.ok)} ok / ${book.reads.dashboard.failed} failed, filtered queries ${n(book.reads.query_filter.ok)} / ${book.reads.query_filter.failed}, text searches ${n(book.reads.query_search.ok)} / ${book.reads.query_search.failed}`);
  out(
    `latency over the run, p50 / p99 / max ms: ` +
      Object.entries(latency)
        .map(([k, v]) => `${k} ${ms(v.p50)} / ${ms(v.p99)} / ${ms(v.max)} (${n(v.count)})`)
        .join('; '),
  );
  out(`slow requests (over ${SLOW_MS} ms), by second of the run: ${stalls.length === 0 ? 'none' : stalls.map((x) => `${x.t_s} s (${x.count}, max ${x.max_ms.toFixed(0)} ms)`).join(', ')}`);
  out(`full GCs forced for the live-memory figures (their requests may show as slow): ${livePoints.map((p) => `${p.t.toFixed(0)} s (${p.pause_ms.toFixed(0)} ms)`).join(', ') || 'none'}`);
  out(`peak RSS: ${mb(memory.peak_rss_bytes)} MB; recent-logs buffer ${n(health1.body.current_stored)} of ${n(health1.body.buffer_capacity)}`);
  out(`memory levelled off: ${memory.text}`);
  out(
    `alerts: ${Object.entries(alerts.body.rules)
      .map(([rule, c]) => `${rule} fired ${n(c.fired)}, notified ${n(c.notified)}`)
      .join('; ')}; ${alerts.body.alerts.filter((a) => a.status === 'firing').length} firing at the end`,
  );
  if (wh)
    out(
      `webhook (server's counters before SIGTERM): ${n(whHandler?.delivered ?? 0)} notifications handed to it; ${n(wh.sent)} sent, ${n(wh.failed)} failed after retries, ${n(wh.retried)} retried attempts, ` +
        `${n(wh.dropped)} dropped (queue full), ${n(wh.queued)} queued; attempts = sent + failed + retried = ${n(wh.sent + wh.failed + wh.retried)}`,
    );
  out(
    `receiver (from the first server, until it exited): ${n(rx.requests)} requests (${n(rx.answered200)} answered 200, ${n(rx.answered500)} answered 500, ${n(rx.dropped)} dropped, ${n(rx.hung)} held past the timeout, ` +
      `${n(rx.senderGaveUp)} given up by the sender); ${n(rx.firing)} firing and ${n(rx.resolved)} resolved payloads, ${rx.distinctFingerprints} alerts; resolved payloads arrived ${rx.resolvedLagMedianS === null ? '-' : rx.resolvedLagMedianS.toFixed(0)} s (median) and up to ${rx.resolvedLagMaxS === null ? '-' : rx.resolvedLagMaxS.toFixed(0)} s after the resolution; at most ${rx.maxConcurrent} in flight at once; ${rx.badPayload} malformed; ${n(rxTotal.requests - rx.requests)} more from the restarted server`,
  );
  out(`shutdown: exit code ${stop1.code}${stop1.signal ? ` (signal ${stop1.signal})` : ''} ${(stop1.ms / 1000).toFixed(2)} s after SIGTERM (grace ${GRACE_S} s)${stop1.killed ? ', KILLED' : ''}`);
  if ('error' in restart) out(`restart: FAILED: ${restart.error}`);
  else
    out(
      `restart: up in ${(restart.startMs / 1000).toFixed(2)} s; /health total_logs ${n(restart.health.total_logs)}, current_stored ${n(restart.health.current_stored)}; /api/stats total_logs ${n(restart.statsTotal)}; ` +
        `read back through /api/logs: ${n(restart.paging.count)} logs in ${n(restart.paging.pages)} pages (${restart.paging.seconds.toFixed(1)} s${restart.paging.ordered ? ', ids strictly falling' : ', IDS OUT OF ORDER'}` +
        `${Object.keys(restart.paging.refused).length ? `; refused first: ${Object.entries(restart.paging.refused).map(([k, v]) => `${v} × ${k}`).join(', ')}, the last ${restart.paging.last_refusal_s!.toFixed(1)} s after the first request` : ''}); ` +
        `stopped with exit code ${restart.stop.code} in ${(restart.stop.ms / 1000).toFixed(2)} s`,
    );
  out(`database file: ${'error' in inFile ? inFile.error : `${n(inFile.chunks_sum)} logs in its rows, meta log_count ${n(inFile.meta_log_count)}`}`);
  out(`server log: ${first.output.lines.warn} warn, ${first.output.lines.error} error, ${first.output.lines.fatal} fatal lines, ${first.output.lines.other} other${first.output.lastErrors.length ? `\n  ${first.output.lastErrors.join('\n  ')}` : ''}`);
  out(`lost = accepted − stored = ${n(accepted)} − ${stored === null ? '?' : n(stored)} = ${lost === null ? '?' : n(lost)}`);

  Object.assign(result, {
    duration_seconds: loadSeconds,
    drain_seconds: drainSeconds,
    load_average_after: loadAfter,
    server_cpu_pct: serverCpu,
    server_cpu_wait_pct: cpuWait,
    load_generator_cpu_pct: selfCpu,
    accepted,
    logs_per_second: accepted / loadSeconds,
    ingest_requests: book.ingestRequests,
    generated: book.generated,
    retries: book.retries,
    not_accepted: book.notAccepted,
    unknown_outcome: unknown,
    refusals,
    unexpected: Object.fromEntries(book.unexpected),
    unexpected_samples: book.unexpectedSamples,
    socket_errors: Object.fromEntries(book.socketErrors),
    reads: book.reads,
    latency,
    slow_requests_by_second: stalls,
    memory,
    health_after_load: health1.body,
    stats_total_after_load: stats1.body.total_logs,
    alerts: { rules: alerts.body.rules, handlers: alerts.body.handlers, webhooks: alerts.body.webhooks },
    receiver: rx,
    receiver_total: rxTotal,
    shutdown: stop1,
    restart,
    database_file: inFile,
    server_log: first.output.lines,
    stored,
    lost,
    failures,
  });
  writeJson(result);
  if (failures.length > 0) {
    out(`\nFAILED: ${failures.join('; ')}`);
    return interrupted ? 130 : 1;
  }
  out('\nOK');
  return 0;
}

function writeJson(result: Record<string, unknown>): void {
  if (!opts.json) return;
  writeFileSync(resolve(opts.json), `${JSON.stringify(result, null, 2)}\n`);
  out(`figures: ${resolve(opts.json)}`);
}

async function cleanup(): Promise<void> {
  stop.abort();
  const s = server as SoakServer | null;
  if (s !== null && s.exit === null) await s.stop((GRACE_S + 5) * 1000);
  const r = receiver as Receiver | null;
  if (r !== null) await r.close();
  removeDir();
}

let code: number;
try {
  code = await run();
} catch (e) {
  process.stderr.write(`soak failed: ${(e as Error).stack ?? String(e)}\n`);
  code = interrupted ? 130 : 1;
}
await cleanup();
process.exit(code);
