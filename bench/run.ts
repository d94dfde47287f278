/**
 * `npm run bench`: the real server (dist/server/main.js, the production options, logging at
 * warn) as a child pinned to CPU 0, driven with autocannon from this process pinned to CPU 1,
 * every figure beside a baseline measured in the same run with the same tool, bodies and
 * connections. Prints two tables and writes bench/results/<date>.json (and --json FILE).
 *
 *   npm run bench [-- --seconds 10] [--warmup 2] [--rounds 3] [--only SUBSTRING]... [--json FILE] [--stored 1000000]
 *
 * BENCHMARKS.md explains the scenarios, the baselines and how to read the tables.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULTS } from '../server/config.js';
import { heldParsedCost, jsonParseRate, startBare, type BareServer } from './lib/baselines.js';
import { batchBodies, shareContaining, singleBodies, type BodySet, type Format } from './lib/data.js';
import { fill, measure, type LoadResult, type LoadSpec } from './lib/load.js';
import { machineInfo, pinSelf, PROJECT_ROOT } from './lib/machine.js';
import { killAll, profileServersInto, serverConfig, startServer, type Memory, type RunningServer } from './lib/server.js';

// ---------------------------------------------------------------- options

interface Options {
  seconds: number;
  warmup: number;
  only: string[];
  json: string | undefined;
  stored: number;
  /** Alternating rounds of a throughput baseline and the scenarios compared with it. */
  rounds: number;
  /** Folder for a CPU profile of every server started (node --cpu-prof), one subfolder per server. */
  profile: string | undefined;
}

function parseOptions(argv: readonly string[]): Options {
  const o: Options = { seconds: 10, warmup: 2, only: [], json: undefined, stored: 1_000_000, rounds: 3, profile: undefined };
  const number = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min) throw new Error(`${flag} needs a number ≥ ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    if (a === '--seconds') o.seconds = number(a, v, 1);
    else if (a === '--warmup') o.warmup = number(a, v, 0);
    else if (a === '--stored') o.stored = Math.floor(number(a, v, 2000));
    else if (a === '--rounds') o.rounds = Math.floor(number(a, v, 1));
    else if (a === '--only') {
      if (!v) throw new Error('--only needs a substring of a scenario name');
      o.only.push(v.trim().toLowerCase());
    }
    else if (a === '--json') o.json = v;
    else if (a === '--profile') {
      if (!v) throw new Error('--profile needs a folder');
      o.profile = v;
    }
    else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'npm run bench [-- --seconds N] [--warmup N] [--rounds N] [--only SUBSTRING]... [--json FILE] [--stored N] [--profile DIR]\n' +
          '  --seconds  measured seconds per load run (10); ingest runs alternate with their baseline in rounds of half that\n' +
          '  --warmup   warm-up seconds before the first run on each server (2)\n' +
          '  --rounds   alternating rounds of each ingest baseline and its scenarios (3); the ratio is their median\n' +
          '  --only     run only scenarios whose name contains this (case-insensitive); repeat for more\n' +
          '  --json     also write the results here\n  --stored   logs in the full buffer and the start-up database (1000000)\n' +
          '  --profile  CPU-profile every server started into DIR/<server name>/ (summarize with npm run bench:profile -- DIR/<name>)\n',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (try --help)`);
    i++;
  }
  return o;
}

const opts = parseOptions(process.argv.slice(2));
if (opts.profile !== undefined) profileServersInto(opts.profile);

/** Concurrent connections for ingest (throughput) runs, and for read (latency) runs. */
const POST_CONNECTIONS = 8;
const GET_CONNECTIONS = 1;
/** The word the text-search scenario looks for: in payment-service's "declined" errors. */
const QUERY_WORD = 'declined';
const BODY_LIMIT = DEFAULTS.limits.max_body_bytes;
const N = opts.stored;
const n = (x: number): string => x.toLocaleString('en-US');

const NAMES = {
  singleMem: 'ingest single log, memory',
  singleDur: 'ingest single log, durable',
  batch: (set: BodySet, durable: boolean): string => `ingest ${set.label}, ${durable ? 'durable' : 'memory'}`,
  dashSmall: 'dashboard, 1,000 stored',
  dashBig: `dashboard, ${n(N)} stored`,
  queryFilter: `query service+level, ${n(N)} buffered`,
  queryText: `query q=${QUERY_WORD}, ${n(N)} buffered`,
  memory: `memory per stored log, ${n(N)} buffered`,
  startup: `start-up, ${n(N)} in database`,
};

const selected = (name: string): boolean => opts.only.length === 0 || opts.only.some((s) => name.toLowerCase().includes(s));

// ---------------------------------------------------------------- results

interface Row {
  table: 'load' | 'resource';
  name: string;
  /** Name of the row this one is compared with; undefined for a baseline. */
  baseline?: string;
  rps?: number;
  logsPerSec?: number;
  p50?: number;
  p99?: number;
  /** CPU time over wall time of the process under load and of the load generator (1 = one core busy), and how busy each one's CPU was with anything else (other processes, interrupts, steal). */
  serverCpu?: number;
  serverOther?: number;
  loadCpu?: number;
  loadOther?: number;
  /** Resource rows: the figure and its unit. */
  value?: number;
  unit?: string;
  baselineValue?: number;
  ratio?: number;
  ratioOf?: string;
  /** Lowest and highest ratio of the alternating rounds, when the ratio is their median. */
  ratioRange?: [number, number];
  target?: string;
  met?: boolean;
  details?: Record<string, unknown>;
}

const rows: Row[] = [];
const failures: { name: string; error: string }[] = [];

function progress(text: string): void {
  process.stderr.write(`· ${text}\n`);
}

function add(row: Row): Row {
  rows.push(row);
  const figs =
    row.table === 'load'
      ? [row.rps !== undefined && `${n(Math.round(row.rps))} req/s`, row.logsPerSec !== undefined && `${n(Math.round(row.logsPerSec))} logs/s`, row.p99 !== undefined && `p50 ${row.p50!.toFixed(2)} ms, p99 ${row.p99.toFixed(2)} ms`, row.serverCpu !== undefined && `cpu % server ${cpuText(row.serverCpu, row.serverOther)}, load ${cpuText(row.loadCpu, row.loadOther)} (own/other)`]
      : [`${row.value!.toFixed(row.unit === 's' ? 2 : 0)} ${row.unit}`];
  progress(`${row.name}: ${figs.filter(Boolean).join(', ')}${row.met === undefined ? '' : row.met ? '  [target met]' : '  [target NOT met]'}`);
  return row;
}

/** Runs one step; a failure is recorded and shouted, and the run goes on with the next step. */
async function attempt<T>(name: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (e) {
    const error = (e as Error).stack ?? String(e);
    failures.push({ name, error });
    process.stderr.write(`\n!! ${name} FAILED: ${error}\n\n`);
    return undefined;
  }
}

function loadDetails(r: LoadResult): Record<string, unknown> {
  return { requests: r.requests, seconds: r.seconds, connections: r.connections, maxMs: r.max, bytesPerSec: r.bytesPerSec };
}

function loadRow(name: string, r: LoadResult, extra: Partial<Row> = {}): Row {
  return add({
    table: 'load',
    name,
    rps: r.rps,
    ...(r.logsPerSec === null ? {} : { logsPerSec: r.logsPerSec }),
    p50: r.p50,
    p99: r.p99,
    ...(r.serverCpu === null ? {} : { serverCpu: r.serverCpu }),
    ...(r.serverOther === null ? {} : { serverOther: r.serverOther }),
    ...(r.loadCpu === null ? {} : { loadCpu: r.loadCpu }),
    ...(r.loadOther === null ? {} : { loadOther: r.loadOther }),
    details: loadDetails(r),
    ...extra,
  });
}

// ---------------------------------------------------------------- helpers

/** Configs, databases and body files of this run; created once the selection is known, removed at the end. */
let dir = '';
let serial = 0;

function spec(name: string, target: { url: string; pid: number }, s: Partial<LoadSpec> & Pick<LoadSpec, 'path' | 'method' | 'expectStatus'>): LoadSpec {
  return { name, url: target.url, pid: target.pid, connections: s.method === 'POST' ? POST_CONNECTIONS : GET_CONNECTIONS, seconds: opts.seconds, warmupSeconds: opts.warmup, ...s };
}

async function withBare<T>(fn: (b: BareServer) => Promise<T>): Promise<T> {
  const bare = await startBare(BODY_LIMIT);
  try {
    return await fn(bare);
  } finally {
    await bare.stop();
  }
}

const ingest = (bodies: BodySet): Pick<LoadSpec, 'path' | 'method' | 'expectStatus' | 'bodies'> => ({
  path: '/api/logs',
  method: 'POST',
  expectStatus: 201,
  bodies,
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** A scenario measured in alternating rounds with its baseline: its name, and one measured run on its own server. */
interface Contender {
  name: string;
  durable: boolean;
  run: (server: RunningServer, warmupSeconds: number) => Promise<LoadResult>;
}

/** The ratios of a scenario's rounds to its baseline's: their median, lowest, highest, and each in round order. */
interface RoundRatio {
  median: number;
  low: number;
  high: number;
  rounds: number[];
}

/** The run whose figure is the median of the rounds (the lower middle of an even count), so a row's figures all come from one real run. */
function medianRun<T>(runs: readonly T[], figure: (t: T) => number): T {
  return [...runs].sort((a, b) => figure(a) - figure(b))[(runs.length - 1) >> 1]!;
}

/**
 * Measures a baseline and the scenarios compared with it in `opts.rounds` alternating rounds
 * (baseline, each scenario, baseline, ...), every server started once and kept warm, each
 * measured run `roundSeconds` long. Each round gives a ratio of runs seconds apart; the row's
 * ratio is their median, and their range is shown beside it. A single figure on this kind of
 * machine moves by 20-30 % within minutes, so a ratio of two runs taken once each, one after
 * the other, can land anywhere in that range.
 */
async function alternate<B>(
  baseline: { name: string; run: (warmupSeconds: number) => Promise<B>; figure: (b: B) => number; row: (b: B) => void },
  contenders: readonly Contender[],
  figure: (r: LoadResult) => number,
  row: (c: Contender, r: LoadResult, ratio: RoundRatio | undefined, runs: LoadResult[]) => void,
): Promise<void> {
  const servers = new Map<Contender, RunningServer>();
  const dbs: string[] = [];
  try {
    for (const c of contenders) {
      const db = join(dir, `s${++serial}.db`);
      dbs.push(db);
      const server = await attempt(c.name, () =>
        startServer({ name: `s${serial}`, dir, config: c.durable ? serverConfig({ persistence: true, path: db }) : serverConfig({ persistence: false }) }),
      );
      if (server) servers.set(c, server);
    }
    const base: (B | undefined)[] = [];
    const runs = new Map<Contender, (LoadResult | undefined)[]>(contenders.map((c) => [c, []]));
    let baseFailed = false;
    for (let round = 0; round < opts.rounds; round++) {
      const warmup = round === 0 ? opts.warmup : 0;
      base.push(baseFailed ? undefined : await attempt(baseline.name, () => baseline.run(warmup)));
      if (base[round] === undefined) baseFailed = true;
      for (const [c, server] of servers) {
        const r = await attempt(c.name, () => c.run(server, warmup));
        runs.get(c)!.push(r);
        if (r === undefined) servers.delete(c);
      }
      progress(`round ${round + 1} of ${opts.rounds}: ${[baseline.name, ...contenders.map((c) => c.name)].join(', ')}`);
    }
    const baseRuns = base.filter((b): b is B => b !== undefined);
    if (baseRuns.length === opts.rounds) baseline.row(medianRun(baseRuns, baseline.figure));
    for (const c of contenders) {
      const mine = runs.get(c)!;
      if (mine.length < opts.rounds || mine.some((r) => r === undefined)) continue;
      const done = mine as LoadResult[];
      const ratios = baseRuns.length === opts.rounds ? done.map((r, i) => figure(r) / baseline.figure(baseRuns[i]!)) : undefined;
      const ratio: RoundRatio | undefined = ratios && { median: median(ratios), low: Math.min(...ratios), high: Math.max(...ratios), rounds: ratios };
      row(c, medianRun(done, figure), ratio, done);
    }
  } finally {
    for (const server of servers.values()) await server.stop();
    for (const db of dbs) for (const suffix of ['', '-wal', '-shm']) rmSync(db + suffix, { force: true });
  }
}

/** Seconds of each measured run of an alternating round: half of --seconds, so three rounds take 1.5 times one run. */
const roundSeconds = (): number => Math.max(1, opts.seconds / 2);

function ratioFields(ratio: RoundRatio | undefined, of: string): Partial<Row> {
  return ratio === undefined ? {} : { ratio: ratio.median, ratioOf: of, ratioRange: [ratio.low, ratio.high] };
}

/** Each round's figure and ratio, for the results file. */
function roundDetails(runs: readonly LoadResult[], figure: (r: LoadResult) => number, ratio: RoundRatio | undefined): Record<string, unknown> {
  return { rounds: runs.map((r, i) => ({ figure: figure(r), p99: r.p99, ...(ratio ? { ratio: ratio.rounds[i] } : {}) })) };
}

// ---------------------------------------------------------------- phases

const data: Record<string, unknown> = {};

async function singleLog(): Promise<void> {
  const wanted = [NAMES.singleMem, NAMES.singleDur].filter(selected);
  if (wanted.length === 0) return;
  const bodies = singleBodies(1000);
  data.single = { bodies: bodies.bodies.length, bytesPerLog: bodies.bytesPerLog };
  const BARE = 'bare route, POST one log';
  const seconds = roundSeconds();
  const bare = await attempt(BARE, () => startBare(BODY_LIMIT));
  if (!bare) return;
  try {
    const rps = (r: LoadResult): number => r.rps;
    await alternate(
      { name: BARE, run: (warmupSeconds) => measure({ ...spec(BARE, bare, ingest(bodies)), seconds, warmupSeconds }), figure: rps, row: (b) => loadRow(BARE, b) },
      wanted.map((name) => ({
        name,
        durable: name === NAMES.singleDur,
        run: (s: RunningServer, warmupSeconds: number) => measure({ ...spec(name, s, ingest(bodies)), seconds, warmupSeconds }),
      })),
      rps,
      (c, r, ratio, runs) =>
        loadRow(c.name, r, {
          baseline: BARE,
          ...ratioFields(ratio, 'req/s'),
          ...(c.durable ? {} : { target: '≥ 0.80 × baseline req/s', ...(ratio === undefined ? {} : { met: ratio.median >= 0.8 }) }),
          details: { ...loadDetails(r), ...roundDetails(runs, rps, ratio) },
        }),
    );
  } finally {
    await bare.stop();
  }
}

const batchData: Record<string, { bodies: number; bytesPerLog: number }> = {};
data.batches = batchData;

async function batches(): Promise<void> {
  for (const perBody of [100, 1000]) {
    for (const format of ['json', 'ndjson'] as Format[]) {
      const set = batchBodies(perBody === 100 ? 200 : 20, perBody, format);
      const wanted = [NAMES.batch(set, false), NAMES.batch(set, true)].filter(selected);
      if (wanted.length === 0) continue;
      batchData[set.label] = { bodies: set.bodies.length, bytesPerLog: set.bytesPerLog };
      const BASE = `JSON.parse ${set.label}`;
      const seconds = roundSeconds();
      const logs = (r: LoadResult): number => r.logsPerSec!;
      await alternate(
        {
          name: BASE,
          // A fresh child each round, so each gets its own short warm-up.
          run: () => jsonParseRate(dir, set, seconds, Math.min(opts.warmup, 1)),
          figure: (p) => p.logsPerSec,
          row: (parse) =>
            add({
              table: 'load',
              name: BASE,
              logsPerSec: parse.logsPerSec,
              rps: parse.logsPerSec / perBody,
              serverCpu: parse.cpuShare,
              serverOther: Math.max(0, 1 - parse.cpuShare),
              details: { bytesPerSec: parse.bytesPerSec, bodiesPerSec: parse.logsPerSec / perBody },
            }),
        },
        wanted.map((name) => ({
          name,
          durable: name.endsWith('durable'),
          run: (s: RunningServer, warmupSeconds: number) => measure({ ...spec(name, s, ingest(set)), seconds, warmupSeconds }),
        })),
        logs,
        (c, r, ratio, runs) => {
          const row: Partial<Row> = { baseline: BASE, ...ratioFields(ratio, 'logs/s'), details: { ...loadDetails(r), ...roundDetails(runs, logs, ratio) } };
          if (perBody === 1000 && !c.durable) {
            row.target = '≥ 400,000 logs/s and ≥ 0.50 × baseline';
            if (ratio !== undefined) row.met = r.logsPerSec! >= 400_000 && ratio.median >= 0.5;
          } else if (perBody === 1000 && c.durable) {
            row.target = '≥ 250,000 logs/s';
            row.met = r.logsPerSec! >= 250_000;
          }
          loadRow(c.name, r, row);
        },
      );
    }
  }
}

async function reads(): Promise<void> {
  const wanted = [NAMES.dashSmall, NAMES.dashBig, NAMES.queryFilter, NAMES.queryText, NAMES.memory].filter(selected);
  if (wanted.length === 0) return;
  const has = (name: string): boolean => wanted.includes(name);
  const BARE = 'bare route, GET';
  let bare: LoadResult | undefined;
  if (has(NAMES.dashSmall) || has(NAMES.queryFilter) || has(NAMES.queryText)) {
    bare = await attempt(BARE, () => withBare((b) => measure(spec(BARE, b, { path: '/api/bare', method: 'GET', expectStatus: 200 }))));
    if (bare) loadRow(BARE, bare);
  }
  const latencyRow = (name: string, r: LoadResult, base: LoadResult | undefined, baseName: string, target: string, met: (r: LoadResult, ratio: number | undefined) => boolean | undefined): void => {
    const ratio = base ? r.p99 / base.p99 : undefined;
    const m = met(r, ratio);
    loadRow(name, r, { baseline: baseName, ...(ratio === undefined ? {} : { ratio, ratioOf: 'p99' }), target, ...(m === undefined ? {} : { met: m }) });
  };
  const DASH = { path: '/api/advanced-dashboard-data', method: 'GET', expectStatus: 200 } as const;

  await attempt(`buffer of ${n(N)} logs`, async () => {
    const server = await startServer({ name: 'buffer', dir, config: serverConfig({ persistence: false }, { max_logs: N }), probe: true });
    try {
      await fill(server.url, 1000, { seed: 41, spreadMs: 30 * 60_000, timeoutMs: 60_000 });
      let small: LoadResult | undefined;
      if (has(NAMES.dashSmall) || has(NAMES.dashBig)) {
        small = await attempt(NAMES.dashSmall, () => measure(spec(NAMES.dashSmall, server, DASH)));
        if (small) latencyRow(NAMES.dashSmall, small, bare, BARE, 'p99 < 5 ms', (r) => r.p99 < 5);
      }
      const before: Memory = await server.memory();
      const stored0 = (await server.health()).current_stored;
      progress(`filling the buffer to ${n(N)} logs (1000-log arrays, 4 in flight)`);
      const filled = await fill(server.url, N - stored0, { seed: 42, spreadMs: 30 * 60_000, timeoutMs: 600_000 });
      const after: Memory = await server.memory();
      const stored = (await server.health()).current_stored;
      if (stored !== N) throw new Error(`the buffer holds ${stored} logs, expected ${N}`);
      data.bufferFill = { logs: filled.logs, seconds: filled.seconds, logsPerSec: filled.logsPerSec };

      if (has(NAMES.dashBig)) {
        const big = await attempt(NAMES.dashBig, () => measure(spec(NAMES.dashBig, server, DASH)));
        if (big) latencyRow(NAMES.dashBig, big, small, NAMES.dashSmall, 'p99 < 5 ms and ≤ 1.5 × baseline p99', (r, ratio) => (ratio === undefined ? undefined : r.p99 < 5 && ratio <= 1.5));
      }
      const queries: [string, string][] = [
        [NAMES.queryFilter, '/api/logs?service=payment-service&level=ERROR&limit=100'],
        [NAMES.queryText, `/api/logs?q=${QUERY_WORD}&limit=100`],
      ];
      for (const [name, path] of queries) {
        if (!has(name)) continue;
        const r = await attempt(name, () => measure(spec(name, server, { path, method: 'GET', expectStatus: 200 })));
        if (r) latencyRow(name, r, bare, BARE, 'p99 < 20 ms', (x) => x.p99 < 20);
      }
      if (has(NAMES.queryText)) data.queryWord = { word: QUERY_WORD, shareOfLogs: shareContaining(QUERY_WORD) };

      if (has(NAMES.memory)) {
        const count = stored - stored0;
        const rssPerLog = (after.rss - before.rss) / count;
        const heapPerLog = (after.heapUsed - before.heapUsed) / count;
        const MEM_BASE = `JSON.parse'd logs in a plain array, ${n(N)}`;
        const held = await attempt(MEM_BASE, () => heldParsedCost(dir, batchBodies(20, 1000, 'json'), N));
        if (held) add({ table: 'resource', name: MEM_BASE, value: held.rssPerLog, unit: 'B/log RSS', details: { heapPerLog: held.heapPerLog } });
        add({
          table: 'resource',
          name: NAMES.memory,
          baseline: MEM_BASE,
          value: rssPerLog,
          unit: 'B/log RSS',
          ...(held ? { baselineValue: held.rssPerLog, ratio: rssPerLog / held.rssPerLog, ratioOf: 'RSS' } : {}),
          target: '≤ 600 B/log RSS',
          met: rssPerLog <= 600,
          details: { heapPerLog, logs: count, before, after, baselineHeapPerLog: held?.heapPerLog },
        });
      }
    } finally {
      await server.stop();
    }
  });
}

async function startup(): Promise<void> {
  if (!selected(NAMES.startup)) return;
  const BASE = 'start-up, empty database';
  const db = join(dir, 'startup.db');
  const config = serverConfig({ persistence: true, path: db });
  await attempt(NAMES.startup, async () => {
    progress(`writing ${n(N)} logs to a database by ingest with storage on (event times over the last 2 hours)`);
    const writer = await startServer({ name: 'startup-fill', dir, config });
    let filled;
    try {
      filled = await fill(writer.url, N, { seed: 51, spreadMs: 2 * 3600_000, timeoutMs: 600_000 });
    } finally {
      await writer.stop();
    }
    data.databaseFill = { logs: filled.logs, seconds: filled.seconds, logsPerSec: filled.logsPerSec };
    const empty: number[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await startServer({ name: `startup-empty-${i}`, dir, config: serverConfig({ persistence: true, path: join(dir, `empty-${i}.db`) }) });
      empty.push(s.startMs);
      await s.stop();
    }
    add({ table: 'resource', name: BASE, value: median(empty) / 1000, unit: 's', details: { runsMs: empty } });
    const full: number[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await startServer({ name: `startup-full-${i}`, dir, config, startTimeoutMs: 300_000 });
      full.push(s.startMs);
      const h = await s.health();
      await s.stop();
      if (h.total_logs !== N) throw new Error(`the restarted server counts ${h.total_logs} logs, expected ${N}`);
    }
    const value = median(full) / 1000;
    const base = median(empty) / 1000;
    add({ table: 'resource', name: NAMES.startup, baseline: BASE, value, unit: 's', baselineValue: base, ratio: value / base, ratioOf: 'time', target: '—', details: { runsMs: full } });
  });
}

// ---------------------------------------------------------------- output

function pad(cells: string[][]): string {
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => (i === 0 || i === 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd()).join('\n');
}

const pct = (x: number | undefined): string => (x === undefined ? '?' : String(Math.round(x * 100)));
/** A run where the server's or the load generator's CPU was this busy with anything else is marked as contended. */
const CONTENDED = 0.05;
const contended = (r: Row): boolean => (r.serverOther ?? 0) > CONTENDED || (r.loadOther ?? 0) > CONTENDED;
const cpuText = (own: number | undefined, other: number | undefined): string =>
  own === undefined && other === undefined ? '—' : `${pct(own)}/${pct(other)}${(other ?? 0) > CONTENDED ? '*' : ''}`;
const ms = (x: number | undefined): string => (x === undefined ? '—' : x.toFixed(2));
const int = (x: number | undefined): string => (x === undefined ? '—' : n(Math.round(x)));
const metText = (r: Row): string => (r.met === undefined ? '—' : r.met ? 'yes' : 'NO');
const ratioText = (r: Row): string =>
  r.ratio === undefined
    ? '—'
    : `${r.ratio.toFixed(2)} (${r.ratioOf}${r.ratioRange ? `; ${r.ratioRange[0].toFixed(2)}-${r.ratioRange[1].toFixed(2)}` : ''})`;

function tables(): string {
  const load = rows.filter((r) => r.table === 'load');
  const res = rows.filter((r) => r.table === 'resource');
  const out: string[] = [];
  if (load.length) {
    out.push(
      pad([
        ['scenario', 'baseline', 'req/s', 'logs/s', 'p50 ms', 'p99 ms', 'ratio to baseline', 'target', 'met?', 'server cpu % own/other', 'load cpu % own/other'],
        ...load.map((r) => [
          r.baseline === undefined ? `[baseline] ${r.name}` : r.name,
          r.baseline ?? '',
          int(r.rps),
          int(r.logsPerSec),
          ms(r.p50),
          ms(r.p99),
          ratioText(r),
          r.target ?? '—',
          metText(r),
          cpuText(r.serverCpu, r.serverOther),
          cpuText(r.loadCpu, r.loadOther),
        ]),
      ]),
    );
  }
  if (res.length) {
    const fmt = (v: number | undefined, unit: string | undefined): string => (v === undefined ? '—' : unit === 's' ? `${v.toFixed(2)} s` : `${Math.round(v)} ${unit}`);
    out.push(
      pad([
        ['scenario', 'baseline', 'value', 'baseline value', 'ratio to baseline', 'target', 'met?'],
        ...res.map((r) => [
          r.baseline === undefined ? `[baseline] ${r.name}` : r.name,
          r.baseline ?? '',
          fmt(r.value, r.unit) + (typeof r.details?.heapPerLog === 'number' ? ` (${Math.round(r.details.heapPerLog)} heap)` : ''),
          fmt(r.baselineValue, r.unit),
          ratioText(r),
          r.target ?? '—',
          metText(r),
        ]),
      ]),
    );
  }
  const noisy = load.filter(contended).length;
  if (noisy > 0) {
    out.push(
      `* ${noisy} of ${load.length} runs shared the server's or the load generator's CPU with other work for more than ${CONTENDED * 100}% of the time:\n` +
        '  on a busy machine single figures drop; compare ratios, or rerun when it is quiet.',
    );
  }
  return out.join('\n\n');
}

// ---------------------------------------------------------------- main

const t0 = performance.now();
pinSelf();
const machine = machineInfo();
progress(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGB} GB, Node ${machine.node}; pinning: ${machine.pinning}`);
const all = [NAMES.singleMem, NAMES.singleDur, ...[100, 1000].flatMap((p) => ['JSON arrays', 'NDJSON'].flatMap((f) => [`ingest ${p}-log ${f}, memory`, `ingest ${p}-log ${f}, durable`])), NAMES.dashSmall, NAMES.dashBig, NAMES.queryFilter, NAMES.queryText, NAMES.memory, NAMES.startup];
if (!all.some(selected)) {
  process.stderr.write(`--only ${opts.only.join(' / ')} matches no scenario; scenarios:\n  ${all.join('\n  ')}\n`);
  process.exit(2);
}

dir = mkdtempSync(join(tmpdir(), 'logsentinel-bench-'));
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping the children and removing ${dir}\n`);
    killAll();
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  });
}

try {
  await singleLog();
  await batches();
  await reads();
  await startup();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const totalSeconds = (performance.now() - t0) / 1000;
const header = [
  `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGB} GB RAM, Node ${machine.node}, ${machine.platform}`,
  `pinning: ${machine.pinning}`,
  `runs: ${opts.warmup} s warm-up + ${opts.seconds} s measured; ingest: ${opts.rounds} rounds of ${roundSeconds()} s alternating with the baseline, ratio = median; ${POST_CONNECTIONS} connections for ingest, ${GET_CONNECTIONS} for reads; ${n(N)} logs for the full buffer and database`,
];
const sizes = [data.single && `single ${(data.single as { bytesPerLog: number }).bytesPerLog.toFixed(0)} B`, ...Object.entries(batchData).map(([k, v]) => `${k} ${v.bytesPerLog.toFixed(0)} B`)].filter(Boolean);
if (sizes.length) header.push(`data: the simulator's generator, fixed seeds; mean bytes per log: ${sizes.join(', ')}`);
const fills = [
  data.bufferFill && `buffer fill ${int((data.bufferFill as { logsPerSec: number }).logsPerSec)} logs/s (memory, 4 × 1000-log arrays in flight)`,
  data.databaseFill && `database fill ${int((data.databaseFill as { logsPerSec: number }).logsPerSec)} logs/s (durable, same)`,
  data.queryWord && `'${QUERY_WORD}' is in ${(((data.queryWord as { shareOfLogs: number }).shareOfLogs) * 100).toFixed(2)}% of messages`,
].filter(Boolean);
if (fills.length) header.push(`also: ${fills.join('; ')}`);

process.stdout.write(`\n${header.join('\n')}\n\n${tables()}\n\ntotal ${totalSeconds.toFixed(0)} s\n`);

const report = { date: new Date().toISOString(), argv: process.argv.slice(2), machine, options: { ...opts, postConnections: POST_CONNECTIONS, getConnections: GET_CONNECTIONS }, data, rows, failures, totalSeconds };
const resultsDir = join(PROJECT_ROOT, 'bench', 'results');
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `${report.date.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')}.json`);
writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(`results: ${file}\n`);
if (opts.json) {
  writeFileSync(resolve(opts.json), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`results: ${resolve(opts.json)}\n`);
}
if (failures.length > 0) {
  process.stderr.write(`\n${failures.length} step(s) FAILED: ${failures.map((f) => f.name).join('; ')}\n`);
  process.exitCode = 1;
}
