/**
 * The database-only baselines of the postgres scenarios: one client on one connection, in its
 * own process (pinned to the server's CPU by bench/run.ts, as the server would be), doing
 * against `logs` what the server's work comes down to, as fast as it can, one statement after
 * another. Each statement is autocommitted, so each batch is durable before the next starts,
 * as a batch is before the server answers it.
 *
 *   copy:   --file bodies.json: each body's logs as one `COPY logs (...) FROM STDIN` (text format)
 *   unnest: the same batches as one `INSERT INTO logs (...) SELECT * FROM unnest($1::bigint[], ...)`,
 *           the rows part of the server's commit statement (storage/postgres-repository.ts)
 *   commit: one log a statement, `INSERT INTO logs (...) VALUES (...)`: the floor of a durable single-log write
 *   query:  --sql TEXT --params JSON: a read statement, again and again (its latency)
 *   repository: the server's own storage layer alone, no HTTP: PostgresRepository.append of one log
 *           at a time, opened from the embedded defaults as the server opens it (--pool N), the
 *           runtime counters changing with every append as the server's do
 *
 *   --url URL --mode MODE --seconds S --warmup W [--id-from N] [--file F [--join K]] [--sql T --params P]
 *
 * --join K puts K bodies' logs in each statement (copy, unnest), for a look at larger commits.
 *
 * Prints one JSON line: {requests, rows, seconds, p50, p99, max, cpuShare}; latencies in ms,
 * per statement. Rows get fresh ids from --id-from on and the receive time of their batch.
 */
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { LEVELS, StoredLog, type LogInput } from '../server/core/log.js';
import { resolveConfig, storageOptions } from '../server/config.js';
import { PostgresRepository } from '../server/storage/postgres-repository.js';
import { PatternMiner, hashedIds } from '../server/core/patterns/pattern-miner.js';

const argv = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? undefined : argv[i + 1];
};

const url = arg('url');
const mode = arg('mode');
if (!url || !mode) throw new Error('--url and --mode are required');
const seconds = Number(arg('seconds') ?? 5);
const warmup = Number(arg('warmup') ?? 1);
let nextId = Number(arg('id-from') ?? 1e12);
const SCHEMA = '"logsentinel"';
const COLUMNS = 'id, ts, timestamp, level, service, message, message_json, user_id, metadata, pattern_id, received_at';

interface Row {
  ts: number;
  timestamp: string;
  level: number;
  service: string;
  message: string;
  userId: string | null;
  metadata: string | null;
  /** The pattern id the server gives the log (a replica's hashed ids), so the rows are the ones it writes. */
  patternId: number;
}

/** The bodies' logs as the server stores them (postgres-repository.ts, commitGroup); --join K puts K bodies in one statement. */
function batches(): Row[][] {
  const file = arg('file');
  if (file === undefined) throw new Error(`--file is required for ${mode}`);
  const bodies = JSON.parse(readFileSync(file, 'utf8')) as string[];
  const join = Number(arg('join') ?? 1);
  const miner = new PatternMiner({ allocateId: hashedIds() });
  const one = bodies.map((body) =>
    (JSON.parse(body) as LogInput[]).map((l) => ({
      ts: Date.parse(l.timestamp),
      timestamp: l.timestamp,
      level: LEVELS.indexOf(l.level as (typeof LEVELS)[number]),
      service: l.service,
      message: l.message,
      userId: l.user_id ?? null,
      metadata: l.metadata === undefined ? null : JSON.stringify(l.metadata),
      patternId: miner.idOf(l.service, l.message),
    })),
  );
  return Array.from({ length: one.length }, (_, i) => Array.from({ length: join }, (_, k) => one[(i + k) % one.length]!).flat());
}

/** A value in COPY's text format. */
function copyText(v: string | number | null): string {
  if (v === null) return '\\N';
  if (typeof v === 'number') return String(v);
  return /[\\\t\n\r]/.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c]!) : v;
}

type Step = () => Promise<number>;

function copyStep(client: pg.Client): Step {
  // Every column but the id and the receive time, encoded once.
  const encoded = batches().map((rows) => rows.map((r) => [r.ts, r.timestamp, r.level, r.service, r.message, null, r.userId, r.metadata, r.patternId].map(copyText).join('\t')));
  let k = 0;
  return async () => {
    const rows = encoded[k++ % encoded.length]!;
    const received = Date.now();
    let text = '';
    for (const r of rows) text += `${nextId++}\t${r}\t${received}\n`;
    await pipeline(Readable.from([Buffer.from(text)]), client.query(copyFrom(`COPY ${SCHEMA}.logs (${COLUMNS}) FROM STDIN`)));
    return rows.length;
  };
}

function unnestStep(client: pg.Client): Step {
  const all = batches();
  const text = `INSERT INTO ${SCHEMA}.logs (${COLUMNS})
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::smallint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[], $11::bigint[])`;
  let k = 0;
  return async () => {
    const rows = all[k++ % all.length]!;
    const received = Date.now();
    // Arrays built per statement, as the server builds them per commit.
    const n = rows.length;
    const ids = new Array<number>(n);
    const recv = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      ids[i] = nextId++;
      recv[i] = received;
    }
    await client.query(text, [
      ids,
      rows.map((r) => r.ts),
      rows.map((r) => r.timestamp),
      rows.map((r) => r.level),
      rows.map((r) => r.service),
      rows.map((r) => r.message),
      rows.map(() => null),
      rows.map((r) => r.userId),
      rows.map((r) => r.metadata),
      rows.map((r) => r.patternId),
      recv,
    ]);
    return n;
  };
}

function commitStep(client: pg.Client): Step {
  const rows = batches().flat();
  const text = `INSERT INTO ${SCHEMA}.logs (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8, $9, $10)`;
  let k = 0;
  return async () => {
    const r = rows[k++ % rows.length]!;
    await client.query(text, [nextId++, r.ts, r.timestamp, r.level, r.service, r.message, r.userId, r.metadata, r.patternId, Date.now()]);
    return 1;
  };
}

/** Closed at the end, when the repository mode opened one. */
let repository: PostgresRepository | undefined;

async function repositoryStep(): Promise<Step> {
  const config = resolveConfig({ storage: { backend: 'postgres', postgres: { url, pool_size: Number(arg('pool') ?? 10), schema: 'logsentinel' } }, cluster: { replica_id: 'bench-repository' } });
  const options = storageOptions(config);
  if (options.engine !== 'postgres') throw new Error('expected the postgres engine');
  const repo = await PostgresRepository.open({ ...options, counterKey: (service) => service, userKey: (user) => user });
  repository = repo;
  let appended = 0;
  repo.trackRuntimeCounters(() => ({ validation: { total: appended, valid: appended, invalid: 0, errorTypes: {} }, servicesFolded: 0, usersFolded: 0, outOfWindow: 0 }));
  const rows = batches().flat();
  // The pattern rows a commit writes name each pattern as the server's miner would.
  const templates = new Map(rows.map((r) => [r.patternId, { service: r.service, template: r.message }]));
  repo.describePatterns((id) => templates.get(id));
  let k = 0;
  return async () => {
    const r = rows[k++ % rows.length]!;
    const now = Date.now();
    appended++;
    const log = new StoredLog(nextId++, r.ts, r.timestamp, LEVELS[r.level]!, r.service, r.message, r.userId ?? undefined, r.metadata === null ? undefined : (JSON.parse(r.metadata) as Record<string, unknown>), now);
    log.patternId = r.patternId;
    await repo.append([log]);
    return 1;
  };
}

function queryStep(client: pg.Client): Step {
  const sql = arg('sql');
  if (sql === undefined) throw new Error('--sql is required for query');
  const params = JSON.parse(arg('params') ?? '[]') as unknown[];
  return async () => (await client.query(sql, params)).rowCount ?? 0;
}

async function loop(step: Step, ms: number): Promise<{ requests: number; rows: number; latencies: number[]; wall: number; cpu: number }> {
  const latencies: number[] = [];
  let rows = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    const s = t;
    rows += await step();
    t = performance.now();
    latencies.push(t - s);
  }
  const c = process.cpuUsage(cpu0);
  return { requests: latencies.length, rows, latencies, wall: (t - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
}

const client = new pg.Client({ connectionString: url, application_name: `logsentinel bench ${mode}` });
await client.connect();
try {
  const steps: Record<string, (c: pg.Client) => Step | Promise<Step>> = { copy: copyStep, unnest: unnestStep, commit: commitStep, query: queryStep, repository: repositoryStep };
  const make = steps[mode];
  if (make === undefined) throw new Error(`unknown --mode ${mode}`);
  const step = await make(client);
  if (warmup > 0) await loop(step, warmup * 1000);
  const r = await loop(step, seconds * 1000);
  const sorted = Float64Array.from(r.latencies).sort();
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
  process.stdout.write(
    `${JSON.stringify({ requests: r.requests, rows: r.rows, seconds: r.wall, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1], cpuShare: r.cpu / r.wall })}\n`,
  );
} finally {
  await repository?.close();
  await client.end();
}
