/**
 * `npm run bench`: the real server (dist/server/main.js, the production options, logging at
 * warn) as a child pinned to CPU 0, driven with autocannon from this process pinned to CPU 1,
 * every figure beside a baseline measured in the same run with the same tool, bodies and
 * connections. Prints two tables and writes bench/results/<date>.json (and --json FILE).
 *
 *   npm run bench [-- --seconds 10] [--warmup 2] [--rounds 3] [--only SUBSTRING]... [--json FILE] [--stored 1000000]
 *   npm run bench -- --only postgres [--pg-stored 10000000] [--pg-pool 10] [--pg-setting NAME=VALUE]...
 *
 * The postgres scenarios (PostgreSQL as the server's store, beside COPY and plain SQL from one
 * client) run only when an --only naming postgres asks for them.
 *
 * BENCHMARKS.md explains the scenarios, the baselines and how to read the tables.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULTS } from '../server/config.js';
import { heldParsedCost, jsonChild, jsonParseRate, startBare, writeBodies, type BareServer } from './lib/baselines.js';
import { batchBodies, shareContaining, singleBodies, type BodySet, type Format } from './lib/data.js';
import { fill, measure, type LoadResult, type LoadSpec } from './lib/load.js';
import { machineInfo, pinSelf, PROJECT_ROOT } from './lib/machine.js';
import { killAll, profileServersInto, serverConfig, startServer, type Memory, type RunningServer } from './lib/server.js';
import { clientRun, ensurePartitions, eventTimes, fillLogs, postgresConfig, SCHEMA, startBenchPostgres, type BenchPostgres, type ClientRun } from './lib/postgres.js';
import { postgresUnavailable } from '../scripts/postgres-server.js';
import { NODE_FLAGS } from '../server/node-flags.js';

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
  /** Logs in the PostgreSQL database of the postgres read scenarios. */
  pgStored: number;
  /** PostgreSQL settings over scripts/postgres-server.ts's (ALTER SYSTEM, then a restart), for a diagnosis. */
  pgSettings: Record<string, string>;
  /** storage.postgres.pool_size of the servers on PostgreSQL (the server commits min(2, pool_size - 1) groups at once). */
  pgPool: number;
}

function parseOptions(argv: readonly string[]): Options {
  const o: Options = { seconds: 10, warmup: 2, only: [], json: undefined, stored: 1_000_000, rounds: 3, profile: undefined, pgStored: 10_000_000, pgSettings: {}, pgPool: DEFAULTS.storage.postgres.pool_size };
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
    else if (a === '--pg-stored') o.pgStored = Math.floor(number(a, v, 2000));
    else if (a === '--pg-pool') o.pgPool = Math.floor(number(a, v, 1));
    else if (a === '--pg-setting') {
      const m = /^([a-z_]+)=(.+)$/.exec(v ?? '');
      if (!m) throw new Error('--pg-setting needs NAME=VALUE, e.g. shared_buffers=1GB');
      o.pgSettings[m[1]!] = m[2]!;
    }
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
        'npm run bench [-- --seconds N] [--warmup N] [--rounds N] [--only SUBSTRING]... [--json FILE] [--stored N] [--pg-stored N] [--pg-setting NAME=VALUE]... [--pg-pool N] [--profile DIR]\n' +
          '  --seconds  measured seconds per load run (10); ingest runs alternate with their baseline in rounds of half that\n' +
          '  --warmup   warm-up seconds before the first run on each server (2)\n' +
          '  --rounds   alternating rounds of each ingest baseline and its scenarios (3); the ratio is their median\n' +
          '  --only     run only scenarios whose name contains this (case-insensitive); repeat for more.\n' +
          '             The postgres scenarios (PostgreSQL 15+ needed) run only when asked for by a SUBSTRING containing "postgres"\n' +
          '  --json     also write the results here\n  --stored   logs in the full buffer and the start-up database (1000000)\n' +
          '  --pg-stored  logs filled by SQL into the PostgreSQL database of the postgres read scenarios (10000000)\n' +
          '  --pg-setting NAME=VALUE  a PostgreSQL setting over the test server\'s (ALTER SYSTEM, restart); repeatable\n' +
          `  --pg-pool  storage.postgres.pool_size of the servers on PostgreSQL (${DEFAULTS.storage.postgres.pool_size}); 2 or less: one commit at a time\n` +
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
  patternsOff: 'ingest 1000-log JSON arrays, memory, patterns off, 200 bodies',
  patternsOn: 'ingest 1000-log JSON arrays, memory, patterns on, 200 bodies',
  patternsOffInProcess: 'ingest 1000-log JSON arrays, in process, patterns off, 200 bodies',
  patternsOnInProcess: 'ingest 1000-log JSON arrays, in process, patterns on, 200 bodies',
  patterns: `GET /api/patterns, ${n(N)} buffered, 1,000+ patterns`,
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
  /** The server's config when not the one `durable` gives (a new SQLite file, or memory only): the postgres backend, say. */
  config?: Record<string, unknown>;
  /** No server of its own (a client of the database): `run` gets a stand-in with no URL. */
  serverless?: boolean;
  run: (server: RunningServer, warmupSeconds: number) => Promise<LoadResult>;
}

/** What a serverless contender's run gets. */
const NO_SERVER: RunningServer = {
  name: 'none',
  url: '',
  pid: 0,
  startMs: 0,
  health: () => Promise.reject(new Error('no server')),
  memory: () => Promise.reject(new Error('no server')),
  stop: async () => {},
};

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
 * Measures a baseline and the scenarios compared with it in `rounds` (--rounds) alternating rounds
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
  rounds = opts.rounds,
): Promise<void> {
  const servers = new Map<Contender, RunningServer>();
  /** Every server started, stopped at the end: one whose run failed leaves `servers` but still runs. */
  const started: RunningServer[] = [];
  const dbs: string[] = [];
  try {
    for (const c of contenders) {
      if (c.serverless) {
        servers.set(c, NO_SERVER);
        continue;
      }
      const db = join(dir, `s${++serial}.db`);
      dbs.push(db);
      const server = await attempt(c.name, () =>
        startServer({ name: `s${serial}`, dir, config: c.config ?? (c.durable ? serverConfig({ persistence: true, path: db }) : serverConfig({ persistence: false })) }),
      );
      if (server) {
        servers.set(c, server);
        started.push(server);
      }
    }
    const base: (B | undefined)[] = [];
    const runs = new Map<Contender, (LoadResult | undefined)[]>(contenders.map((c) => [c, []]));
    let baseFailed = false;
    for (let round = 0; round < rounds; round++) {
      const warmup = round === 0 ? opts.warmup : 0;
      base.push(baseFailed ? undefined : await attempt(baseline.name, () => baseline.run(warmup)));
      if (base[round] === undefined) baseFailed = true;
      for (const [c, server] of servers) {
        const r = await attempt(c.name, () => c.run(server, warmup));
        runs.get(c)!.push(r);
        if (r === undefined) servers.delete(c);
      }
      progress(`round ${round + 1} of ${rounds}: ${[baseline.name, ...contenders.map((c) => c.name)].join(', ')}`);
    }
    const baseRuns = base.filter((b): b is B => b !== undefined);
    if (baseRuns.length === rounds) baseline.row(medianRun(baseRuns, baseline.figure));
    for (const c of contenders) {
      const mine = runs.get(c)!;
      if (mine.length < rounds || mine.some((r) => r === undefined)) continue;
      const done = mine as LoadResult[];
      const ratios = baseRuns.length === rounds ? done.map((r, i) => figure(r) / baseline.figure(baseRuns[i]!)) : undefined;
      const ratio: RoundRatio | undefined = ratios && { median: median(ratios), low: Math.min(...ratios), high: Math.max(...ratios), rounds: ratios };
      row(c, medianRun(done, figure), ratio, done);
    }
  } finally {
    for (const server of started) await server.stop();
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

/**
 * What mining every log's pattern costs batch ingest, measured twice. Over HTTP: the same
 * server with patterns off and on, in alternating rounds. 200 different bodies (200,000 logs,
 * ~49,000 distinct messages), so the miner's exact-message cache (core/patterns/pattern-miner.ts)
 * sees fresh messages, not the 20 bodies the other batch scenarios send over and over. A
 * round's ratio here moves by ±20% with the machine (bench/pattern-cost.ts says why), more
 * than the cost measured, so this pair runs at least PATTERN_ROUNDS rounds. In process: both
 * apps in one child fed the same bodies in alternating posts, where the drift cancels.
 */
const PATTERN_ROUNDS = 7;

async function patternCost(): Promise<void> {
  const http = selected(NAMES.patternsOn) || selected(NAMES.patternsOff);
  const inProcess = selected(NAMES.patternsOnInProcess) || selected(NAMES.patternsOffInProcess);
  if (!http && !inProcess) return;
  const set = batchBodies(200, 1000, 'json', 61);
  const config = { ...serverConfig({ persistence: false }), patterns: { enabled: false } };
  if (http) await patternCostHttp(set, config);
  if (inProcess) await patternCostInProcess(set, config);
}

async function patternCostHttp(set: BodySet, config: Record<string, unknown>): Promise<void> {
  const seconds = roundSeconds();
  let off: RunningServer | undefined;
  try {
    off = await startServer({ name: 'patterns-off', dir, config });
    const offServer = off;
    await alternate(
      {
        name: NAMES.patternsOff,
        run: (warmupSeconds) => measure({ ...spec(NAMES.patternsOff, offServer, ingest(set)), seconds, warmupSeconds }),
        figure: (r: LoadResult) => r.logsPerSec!,
        row: (r) => loadRow(NAMES.patternsOff, r),
      },
      [{ name: NAMES.patternsOn, durable: false, config: { ...config, patterns: { enabled: true } }, run: (server, warmupSeconds) => measure({ ...spec(NAMES.patternsOn, server, ingest(set)), seconds, warmupSeconds }) }],
      (r) => r.logsPerSec!,
      (c, r, ratio, runs) =>
        loadRow(c.name, r, {
          baseline: NAMES.patternsOff,
          ...ratioFields(ratio, 'logs/s'),
          target: '≥ 0.85 × baseline',
          ...(ratio === undefined ? {} : { met: ratio.median >= 0.85 }),
          details: { ...loadDetails(r), ...roundDetails(runs, (x) => x.logsPerSec!, ratio) },
        }),
      Math.max(opts.rounds, PATTERN_ROUNDS),
    );
  } finally {
    await off?.stop();
  }
}

interface PatternCostReply {
  offMs: number;
  onMs: number;
  ratio: number;
  posts: number;
}

/** Posts of the in-process measure after its warm-up (one pass over the bodies); each is timed on both apps. */
const IN_PROCESS_POSTS = 1000;

async function patternCostInProcess(set: BodySet, config: Record<string, unknown>): Promise<void> {
  await attempt(NAMES.patternsOnInProcess, async () => {
    progress(`${NAMES.patternsOnInProcess}: ${IN_PROCESS_POSTS} posts to each app, alternating`);
    const configFile = join(dir, 'pattern-cost.json');
    writeFileSync(configFile, JSON.stringify(config));
    const args = ['--file', writeBodies(dir, set, 'patterns-'), '--config', configFile, '--posts', String(IN_PROCESS_POSTS), '--warmup-posts', String(set.bodies.length)];
    const r = await jsonChild<PatternCostReply>('pattern-cost.ts', args, 600_000, 'pattern-cost child', [...NODE_FLAGS]);
    const perSec = (ms: number): number => (set.logsPerBody * 1000) / ms;
    const details = { posts: r.posts, medianMsPerPost: { off: r.offMs, on: r.onMs } };
    add({ table: 'load', name: NAMES.patternsOffInProcess, logsPerSec: perSec(r.offMs), rps: 1000 / r.offMs, details });
    add({
      table: 'load',
      name: NAMES.patternsOnInProcess,
      baseline: NAMES.patternsOffInProcess,
      logsPerSec: perSec(r.onMs),
      rps: 1000 / r.onMs,
      ratio: r.ratio,
      ratioOf: 'median ms a post',
      target: '≥ 0.85 × baseline',
      met: r.ratio >= 0.85,
      details,
    });
  });
}

/** `count` logs of `count` message patterns (a capitalised word of its own each, which Drain never merges), over two services. */
function patternShapes(count: number, now: number): string {
  const word = (i: number): string => 'Q' + String.fromCharCode(97 + (i % 26), 97 + (Math.floor(i / 26) % 26), 97 + (Math.floor(i / 676) % 26));
  return JSON.stringify(
    Array.from({ length: count }, (_, i) => ({
      timestamp: new Date(now - (i % 600) * 1000).toISOString(),
      level: i % 7 === 0 ? 'ERROR' : 'INFO',
      service: `shapes-${i % 2}`,
      message: `${word(i)} stage finished in ${i} ms`,
    })),
  );
}

async function reads(): Promise<void> {
  const wanted = [NAMES.dashSmall, NAMES.dashBig, NAMES.queryFilter, NAMES.queryText, NAMES.memory, NAMES.patterns].filter(selected);
  if (wanted.length === 0) return;
  const has = (name: string): boolean => wanted.includes(name);
  const BARE = 'bare route, GET';
  let bare: LoadResult | undefined;
  if (has(NAMES.dashSmall) || has(NAMES.queryFilter) || has(NAMES.queryText) || has(NAMES.patterns)) {
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
      if (has(NAMES.patterns)) {
        // 1,000 more patterns beside the simulator's, then the default listing (the window, top 100).
        const res = await fetch(`${server.url}/api/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: patternShapes(1000, Date.now()) });
        if (res.status !== 201) throw new Error(`posting the pattern shapes: ${res.status} ${await res.text()}`);
        const listed = (await (await fetch(`${server.url}/api/patterns?limit=10000`)).json()) as { patterns: unknown[] };
        data.patterns = { patterns: listed.patterns.length };
        const r = await attempt(NAMES.patterns, () => measure(spec(NAMES.patterns, server, { path: '/api/patterns', method: 'GET', expectStatus: 200 })));
        if (r) latencyRow(NAMES.patterns, r, bare, BARE, 'p99 < 20 ms', (x) => x.p99 < 20);
      }

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

// ---------------------------------------------------------------- postgres

/**
 * The postgres scenarios: the server with `storage.backend: postgres` on a throw-away
 * PostgreSQL with fsync on (bench/lib/postgres.ts), beside what PostgreSQL does for one plain
 * client. PostgreSQL is not pinned: it runs on whichever CPU is free; its CPU use is shown.
 */
const PG = {
  copy: 'postgres COPY 1000-row batches, one client',
  unnest: 'postgres INSERT unnest 1000-row batches, one client',
  batch: 'postgres ingest 1000-log JSON arrays, durable',
  batchOne: 'postgres ingest 1000-log JSON arrays, durable, pool_size 2 (one commit at a time)',
  bare: 'bare route, POST one log',
  single: 'postgres ingest single log, durable',
  singleSqlite: 'ingest single log, durable (sqlite, beside postgres)',
  commit: 'postgres one-row INSERT and commit, one client',
  repository: "postgres the server's storage layer alone (PostgresRepository.append, one log), one client",
  dashSmall: 'postgres dashboard, 1,000 stored',
  dashBig: `postgres dashboard, ${n(opts.pgStored)} stored`,
  querySql: `postgres the filtered query's SQL alone, ${n(opts.pgStored)} stored, one client`,
  queryFilter: `postgres query service+level, ${n(opts.pgStored)} stored`,
  fill: `postgres fill of ${n(opts.pgStored)} logs by SQL`,
};
/** The postgres scenarios --only can name; the baselines each needs run with it. */
const PG_SCENARIOS = [PG.batch, PG.unnest, PG.single, PG.dashBig, PG.queryFilter];
/** Asked for by an --only naming postgres: they need PostgreSQL and take minutes, so a plain `npm run bench` leaves them out. */
const pgSelected = (name: string): boolean => opts.only.some((s) => s.includes('postgres') && name.toLowerCase().includes(s));

/** Per postgres row: PostgreSQL's CPU share during the run and the machine's load average as it started. */
const pgNotes = new Map<string, { postgresCpu: number | null; loadavg: string; commits?: PgRun['commits']; logsPerSec: number | null }>();

function loadavg(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return '?';
  }
}

interface PgRun extends LoadResult {
  /** PostgreSQL's processes' CPU time over wall time during the call (warm-up included; 1 = one core busy). */
  postgresCpu: number | null;
  loadavg: string;
  /** The server's commits during the call (warm-up included), from its /metrics: how many, their mean time, failures. */
  commits?: { count: number; meanMs: number; failed: number };
}

/** The server's commit figures so far (GET /metrics: logsentinel_db_commit_duration_seconds and _failures_total). */
async function commitFigures(url: string): Promise<{ count: number; seconds: number; failed: number } | undefined> {
  try {
    const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    const value = (name: string): number => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    const r = { count: value('logsentinel_db_commit_duration_seconds_count'), seconds: value('logsentinel_db_commit_duration_seconds_sum'), failed: value('logsentinel_db_commit_failures_total') };
    return Number.isFinite(r.count) ? { ...r, failed: Number.isFinite(r.failed) ? r.failed : 0 } : undefined;
  } catch {
    return undefined;
  }
}

async function withPgCpu(pgs: BenchPostgres, fn: () => Promise<LoadResult>, serverUrl?: string): Promise<PgRun> {
  const avg = loadavg();
  const m0 = serverUrl === undefined ? undefined : await commitFigures(serverUrl);
  const c0 = pgs.cpuSeconds();
  const t0 = performance.now();
  let r: LoadResult;
  try {
    r = await fn();
  } finally {
    // Said even when the run failed (a 503 from a failed commit, say).
    if (m0) {
      const m1 = await commitFigures(serverUrl!);
      if (m1 && m1.failed > m0.failed) progress(`  ${m1.failed - m0.failed} commit(s) failed during this run (${serverUrl}/metrics)`);
    }
  }
  const c1 = pgs.cpuSeconds();
  const wall = (performance.now() - t0) / 1000;
  const m1 = serverUrl === undefined ? undefined : await commitFigures(serverUrl);
  const commits = m0 && m1 && m1.count > m0.count ? { count: m1.count - m0.count, meanMs: ((m1.seconds - m0.seconds) / (m1.count - m0.count)) * 1000, failed: m1.failed - m0.failed } : undefined;
  return { ...r, postgresCpu: c0 === null || c1 === null ? null : (c1 - c0) / wall, loadavg: avg, ...(commits ? { commits } : {}) };
}

/** A client child's run as a load row: statements as requests, rows as logs (none for a read). */
function clientLoad(r: ClientRun, logs: boolean): LoadResult {
  return {
    requests: r.requests,
    seconds: r.seconds,
    rps: r.requests / r.seconds,
    logsPerSec: logs ? r.rows / r.seconds : null,
    bytesPerSec: null,
    p50: r.p50,
    p99: r.p99,
    max: r.max,
    connections: 1,
    serverCpu: r.cpuShare,
    serverOther: null,
    loadCpu: null,
    loadOther: null,
  };
}

function pgRow(name: string, r: LoadResult, extra: Partial<Row> = {}): Row {
  const p = r as Partial<PgRun>;
  if (p.loadavg !== undefined) pgNotes.set(name, { postgresCpu: p.postgresCpu ?? null, loadavg: p.loadavg, commits: p.commits, logsPerSec: r.logsPerSec });
  const row = loadRow(name, r, extra);
  row.details = { ...row.details, postgresCpu: p.postgresCpu, loadavg: p.loadavg, commits: p.commits };
  const c = p.commits;
  progress(
    `  postgres cpu ${p.postgresCpu == null ? '?' : Math.round(p.postgresCpu * 100)}%, load average ${p.loadavg ?? '?'}` +
      (c ? `; server commits ${c.count} (warm-up included), mean ${c.meanMs.toFixed(2)} ms, ${c.failed} failed` : ''),
  );
  return row;
}

function pgRoundDetails(runs: readonly LoadResult[], figure: (r: LoadResult) => number, ratio: RoundRatio | undefined): Record<string, unknown> {
  const base = roundDetails(runs, figure, ratio) as { rounds: Record<string, unknown>[] };
  return { rounds: base.rounds.map((x, i) => ({ ...x, p50: runs[i]!.p50, postgresCpu: (runs[i] as PgRun).postgresCpu, loadavg: (runs[i] as PgRun).loadavg })) };
}

let pgIds = 1e12;
const clientArgs = (url: string, mode: string, seconds: number, warmup: number, more: string[] = []): string[] => {
  pgIds += 1e9;
  return ['--url', url, '--mode', mode, '--seconds', String(seconds), '--warmup', String(warmup), '--id-from', String(pgIds), ...more];
};
const clientTimeout = (seconds: number, warmup: number): number => (seconds + warmup + 60) * 1000;

/** 1. Batch ingest into PostgreSQL beside COPY of the same rows, and the server's own kind of INSERT. */
async function pgBatch(pgs: BenchPostgres, wanted: readonly string[]): Promise<void> {
  const scenarios = [PG.unnest, PG.batch].filter((x) => wanted.includes(x));
  if (scenarios.length === 0) return;
  // Beside the server as configured, the same with one commit at a time: two at once can deadlock on the counter rows (see BENCHMARKS.md).
  if (scenarios.includes(PG.batch)) scenarios.push(PG.batchOne);
  const set = batchBodies(20, 1000, 'json');
  const url = await pgs.database('bench_ingest');
  const partitions = await ensurePartitions(url, eventTimes(set));
  const file = writeBodies(dir, set, 'pg-');
  data.postgresIngest = { bodies: set.bodies.length, logsPerBody: 1000, bytesPerLog: set.bytesPerLog, partitions };
  const seconds = roundSeconds();
  const logs = (r: LoadResult): number => r.logsPerSec!;
  // Each client run is a fresh child, so each gets its own short warm-up.
  const clientWarmup = Math.min(opts.warmup, 1);
  const client = (mode: string) => () => withPgCpu(pgs, async () => clientLoad(await clientRun(clientArgs(url, mode, seconds, clientWarmup, ['--file', file]), clientTimeout(seconds, clientWarmup)), true));
  await alternate(
    { name: PG.copy, run: client('copy'), figure: logs, row: (b) => pgRow(PG.copy, b) },
    scenarios.map(
      (name): Contender =>
        name === PG.unnest
          ? { name, durable: true, serverless: true, run: client('unnest') }
          : {
              name,
              durable: true,
              config: name === PG.batchOne ? postgresConfig(url, 'bench-ingest-one', 2) : postgresConfig(url, 'bench-ingest', opts.pgPool),
              run: (s, warmupSeconds) => withPgCpu(pgs, () => measure({ ...spec(name, s, ingest(set)), seconds, warmupSeconds }), s.url),
            },
    ),
    logs,
    (c, r, ratio, runs) => {
      const row: Partial<Row> = { baseline: PG.copy, ...ratioFields(ratio, 'logs/s'), details: { ...loadDetails(r), ...pgRoundDetails(runs, logs, ratio) } };
      if (c.name === PG.batch || c.name === PG.batchOne) {
        row.target = '≥ 100,000 logs/s and ≥ 0.70 × baseline';
        if (ratio !== undefined) row.met = r.logsPerSec! >= 100_000 && ratio.median >= 0.7;
      }
      pgRow(c.name, r, row);
    },
  );
  await pgs.dropDatabase('bench_ingest');
}

/** 2. Durable single-log ingest at 8 connections, SQLite and PostgreSQL, beside the bare route; and PostgreSQL's own floor for one durable row. */
async function pgSingle(pgs: BenchPostgres, wanted: readonly string[]): Promise<void> {
  if (!wanted.includes(PG.single)) return;
  const bodies = singleBodies(1000);
  const url = await pgs.database('bench_single');
  await ensurePartitions(url, bodies.bodies.map((b) => Date.parse((JSON.parse(b) as { timestamp: string }).timestamp)));
  const seconds = roundSeconds();
  // The same logs for the one-row floor, as bodies of 100 for the client child.
  const sfile = join(dir, 'pg-single-bodies.json');
  writeFileSync(sfile, JSON.stringify(Array.from({ length: 10 }, (_, i) => `[${bodies.bodies.slice(i * 100, i * 100 + 100).join(',')}]`)));
  const bare = await attempt(PG.bare, () => startBare(BODY_LIMIT));
  if (!bare) return;
  try {
    const rps = (r: LoadResult): number => r.rps;
    await alternate(
      { name: PG.bare, run: (warmupSeconds) => withPgCpu(pgs, () => measure({ ...spec(PG.bare, bare, ingest(bodies)), seconds, warmupSeconds })), figure: rps, row: (b) => pgRow(PG.bare, b) },
      [
        ...[PG.singleSqlite, PG.single].map(
          (name): Contender => ({
            name,
            durable: true,
            ...(name === PG.single ? { config: postgresConfig(url, 'bench-single', opts.pgPool) } : {}),
            run: (s, warmupSeconds) => withPgCpu(pgs, () => measure({ ...spec(name, s, ingest(bodies)), seconds, warmupSeconds }), s.url),
          }),
        ),
        // The floor under the p50 target, in the same rounds (a flush's cost moves with the machine's other I/O): one row, one commit, one client.
        {
          name: PG.commit,
          durable: true,
          serverless: true,
          run: () => withPgCpu(pgs, async () => clientLoad(await clientRun(clientArgs(url, 'commit', seconds, 1, ['--file', sfile]), clientTimeout(seconds, 1)), true)),
        },
        // Between the two: the server's own commit of one log, without HTTP and with nothing else in flight.
        {
          name: PG.repository,
          durable: true,
          serverless: true,
          run: () =>
            withPgCpu(pgs, async () => clientLoad(await clientRun(clientArgs(url, 'repository', seconds, 1, ['--file', sfile, '--pool', String(opts.pgPool)]), clientTimeout(seconds, 1)), true)),
        },
      ],
      rps,
      (c, r, ratio, runs) =>
        c.name === PG.commit || c.name === PG.repository
          ? pgRow(c.name, r, { details: { ...loadDetails(r), ...pgRoundDetails(runs, (x) => x.p50, undefined), p50Median: median(runs.map((x) => x.p50)) } })
          : pgRow(c.name, r, {
              baseline: PG.bare,
              ...ratioFields(ratio, 'req/s'),
              target: '≥ 0.50 × baseline req/s and p50 < 0.5 ms',
              ...(ratio === undefined ? {} : { met: ratio.median >= 0.5 && r.p50 < 0.5 }),
              details: { ...loadDetails(r), ...pgRoundDetails(runs, rps, ratio), p50Median: median(runs.map((x) => x.p50)) },
            }),
    );
  } finally {
    await bare.stop();
  }
  await pgs.dropDatabase('bench_single');
}

/** 3. The dashboard and the filtered query with a large table, filled by SQL. */
async function pgReads(pgs: BenchPostgres, wanted: readonly string[]): Promise<void> {
  const dash = wanted.includes(PG.dashBig);
  const query = wanted.includes(PG.queryFilter);
  if (!dash && !query) return;
  const DASH = { path: '/api/advanced-dashboard-data', method: 'GET', expectStatus: 200 } as const;
  /** The shared figures are read back every second (server/app.ts): wait for a read after the data is in. */
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 2500));
  let small: LoadResult | undefined;
  if (dash) {
    await attempt(PG.dashSmall, async () => {
      const url = await pgs.database('bench_small');
      const server = await startServer({ name: 'pg-small', dir, config: postgresConfig(url, 'bench-small', opts.pgPool) });
      try {
        await fill(server.url, 1000, { seed: 41, spreadMs: 30 * 60_000, timeoutMs: 60_000 });
        await settle();
        small = await withPgCpu(pgs, () => measure(spec(PG.dashSmall, server, DASH)));
        pgRow(PG.dashSmall, small);
      } finally {
        await server.stop();
      }
    });
  }
  await attempt(PG.fill, async () => {
    const url = await pgs.database('bench_big');
    const { max_buckets, future_skew_seconds } = DEFAULTS.analytics;
    const filled = await fillLogs(url, {
      count: opts.pgStored,
      spanMs: 3 * 86_400_000,
      end: Date.now(),
      parallel: 2,
      analyticsWindow: { maxBuckets: max_buckets, futureSkewMs: future_skew_seconds * 1000 },
      progress,
    });
    data.postgresFill = filled;
    add({
      table: 'resource',
      name: PG.fill,
      value: filled.seconds,
      unit: 's',
      target: '—',
      details: { ...filled, loadavg: loadavg() },
    });
    // The database alone first, before any server runs on it (its figures are read back every second).
    let base: LoadResult | undefined;
    if (query) {
      // The statement the server sends for this query (storage/postgres-repository.ts, listingSql): one (service, level) index range, limit + 1 rows.
      const sql = `(SELECT id, ts, timestamp, level, service, message, message_json, user_id, metadata, received_at FROM "${SCHEMA}".logs WHERE service = $2 AND level = $3 ORDER BY ts DESC, id DESC LIMIT $1)`;
      base = await attempt(PG.querySql, () =>
        withPgCpu(pgs, async () => clientLoad(await clientRun(clientArgs(url, 'query', opts.seconds, opts.warmup, ['--sql', sql, '--params', JSON.stringify([101, 'payment-service', 3])]), clientTimeout(opts.seconds, opts.warmup)), false)),
      );
      if (base) pgRow(PG.querySql, base);
    }
    const server = await startServer({ name: 'pg-big', dir, config: postgresConfig(url, 'bench-big', opts.pgPool), startTimeoutMs: 120_000 });
    try {
      await settle();
      const total = (await server.health()).total_logs;
      if (total !== opts.pgStored) throw new Error(`the server counts ${total} logs, expected ${opts.pgStored}`);
      if (dash) {
        const big = await attempt(PG.dashBig, () => withPgCpu(pgs, () => measure(spec(PG.dashBig, server, DASH))));
        if (big) {
          const ratio = small ? big.p99 / small.p99 : undefined;
          pgRow(PG.dashBig, big, { baseline: PG.dashSmall, ...(ratio === undefined ? {} : { ratio, ratioOf: 'p99' }), target: 'p99 < 10 ms', met: big.p99 < 10 });
        }
      }
      if (query) {
        const path = '/api/logs?service=payment-service&level=ERROR&limit=100';
        const r = await attempt(PG.queryFilter, () => withPgCpu(pgs, () => measure(spec(PG.queryFilter, server, { path, method: 'GET', expectStatus: 200 }))));
        if (r) {
          const ratio = base ? r.p99 / base.p99 : undefined;
          pgRow(PG.queryFilter, r, { baseline: PG.querySql, ...(ratio === undefined ? {} : { ratio, ratioOf: 'p99' }), target: 'p99 < 20 ms', met: r.p99 < 20 });
        }
      }
    } finally {
      await server.stop();
    }
  });
}

async function postgres(): Promise<void> {
  const wanted = PG_SCENARIOS.filter(pgSelected);
  if (wanted.length === 0) return;
  const why = postgresUnavailable();
  if (why !== undefined) {
    failures.push({ name: 'postgres', error: why });
    process.stderr.write(`\n!! the postgres scenarios cannot run: ${why}\n\n`);
    return;
  }
  const t0 = performance.now();
  const pgs = await attempt('PostgreSQL', () => startBenchPostgres(opts.pgSettings));
  if (!pgs) return;
  const info: Record<string, unknown> = { loadavgAtStart: loadavg() };
  data.postgres = info;
  try {
    Object.assign(info, await pgs.settings());
    progress(`PostgreSQL ${info.server_version}: fsync ${info.fsync}, synchronous_commit ${info.synchronous_commit}, full_page_writes ${info.full_page_writes}, shared_buffers ${info.shared_buffers}; load average ${info.loadavgAtStart}`);
    await attempt('postgres batch ingest', () => pgBatch(pgs, wanted));
    await attempt('postgres single-log ingest', () => pgSingle(pgs, wanted));
    await attempt('postgres reads', () => pgReads(pgs, wanted));
  } finally {
    // What PostgreSQL refused during the section (a deadlock, say): a 503 from the server says only that a commit failed.
    const errors = new Map<string, number>();
    const examples: string[] = [];
    const lines = pgs.server.log().split('\n');
    lines.forEach((line, i) => {
      const m = /(?:ERROR|FATAL|PANIC):\s+(.*)$/.exec(line);
      if (!m) return;
      const key = m[1]!.replace(/\d+/g, 'N');
      if (!errors.has(key)) examples.push(lines.slice(i, i + 80).join('\n').slice(0, 8000));
      errors.set(key, (errors.get(key) ?? 0) + 1);
    });
    info.errors = Object.fromEntries(errors);
    info.errorExamples = examples;
    if (errors.size > 0) process.stderr.write(`\n!! PostgreSQL logged errors during the postgres section:\n${[...errors].map(([e, k]) => `   ${k} × ${e}`).join('\n')}\n\n`);
    await pgs.stop();
    info.seconds = (performance.now() - t0) / 1000;
    info.loadavgAtEnd = loadavg();
  }
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
  if (pgNotes.size > 0) {
    out.push(
      pad([
        ['postgres scenario (run shown)', 'postgres cpu %', 'server commits (warm-up included)', 'mean commit ms', 'failed', 'load average at start (1, 5, 15 min)'],
        ...[...pgNotes].map(([name, x]) => [
          name,
          x.postgresCpu === null ? '?' : String(Math.round(x.postgresCpu * 100)),
          x.commits ? n(x.commits.count) : '—',
          x.commits ? x.commits.meanMs.toFixed(2) : '—',
          x.commits ? String(x.commits.failed) : '—',
          x.loadavg,
        ]),
      ]) +
        "\n(PostgreSQL is not pinned: on a postgres row the CPUs' `other` share includes PostgreSQL's own processes.)",
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
const all = [
  NAMES.singleMem,
  NAMES.singleDur,
  ...[100, 1000].flatMap((p) => ['JSON arrays', 'NDJSON'].flatMap((f) => [`ingest ${p}-log ${f}, memory`, `ingest ${p}-log ${f}, durable`])),
  NAMES.patternsOff,
  NAMES.patternsOn,
  NAMES.patternsOffInProcess,
  NAMES.patternsOnInProcess,
  NAMES.dashSmall,
  NAMES.dashBig,
  NAMES.queryFilter,
  NAMES.queryText,
  NAMES.patterns,
  NAMES.memory,
  NAMES.startup,
];
if (!all.some(selected) && !PG_SCENARIOS.some(pgSelected)) {
  process.stderr.write(`--only ${opts.only.join(' / ')} matches no scenario; scenarios:\n  ${[...all, ...PG_SCENARIOS].join('\n  ')}\n`);
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
  await patternCost();
  await reads();
  await startup();
  await postgres();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const totalSeconds = (performance.now() - t0) / 1000;
const header = [
  `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGB} GB RAM, Node ${machine.node}, ${machine.platform}`,
  `pinning: ${machine.pinning}`,
  `runs: ${opts.warmup} s warm-up + ${opts.seconds} s measured; ingest: ${opts.rounds} rounds (patterns over HTTP: ${Math.max(opts.rounds, PATTERN_ROUNDS)}) of ${roundSeconds()} s alternating with the baseline, ratio = median; ${POST_CONNECTIONS} connections for ingest, ${GET_CONNECTIONS} for reads; ${n(N)} logs for the full buffer and database`,
];
const sizes = [data.single && `single ${(data.single as { bytesPerLog: number }).bytesPerLog.toFixed(0)} B`, ...Object.entries(batchData).map(([k, v]) => `${k} ${v.bytesPerLog.toFixed(0)} B`)].filter(Boolean);
if (sizes.length) header.push(`data: the simulator's generator, fixed seeds; mean bytes per log: ${sizes.join(', ')}`);
const fills = [
  data.bufferFill && `buffer fill ${int((data.bufferFill as { logsPerSec: number }).logsPerSec)} logs/s (memory, 4 × 1000-log arrays in flight)`,
  data.databaseFill && `database fill ${int((data.databaseFill as { logsPerSec: number }).logsPerSec)} logs/s (durable, same)`,
  data.queryWord && `'${QUERY_WORD}' is in ${(((data.queryWord as { shareOfLogs: number }).shareOfLogs) * 100).toFixed(2)}% of messages`,
].filter(Boolean);
if (fills.length) header.push(`also: ${fills.join('; ')}`);
if (data.postgres) {
  const pgInfo = data.postgres as Record<string, unknown>;
  header.push(
    `postgres: PostgreSQL ${String(pgInfo.server_version)} (scripts/postgres-server.ts), fsync ${String(pgInfo.fsync)}, synchronous_commit ${String(pgInfo.synchronous_commit)}, full_page_writes ${String(pgInfo.full_page_writes)}, shared_buffers ${String(pgInfo.shared_buffers)}, unpinned; ` +
      `servers' pool_size ${opts.pgPool}; section ${Number(pgInfo.seconds ?? 0).toFixed(0)} s; load average ${String(pgInfo.loadavgAtStart)} at its start, ${String(pgInfo.loadavgAtEnd)} at its end`,
  );
  const f = data.postgresFill as { rows: number; seconds: number; insertSeconds: number; vacuumSeconds: number; bytes: number } | undefined;
  if (f) header.push(`postgres fill: ${n(f.rows)} logs by SQL in ${f.seconds.toFixed(0)} s (rows ${f.insertSeconds.toFixed(0)} s, VACUUM ANALYZE ${f.vacuumSeconds.toFixed(0)} s), ${(f.bytes / 2 ** 30).toFixed(2)} GiB with indexes`);
}

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
