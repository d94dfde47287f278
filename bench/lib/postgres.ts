/**
 * PostgreSQL for the benchmark's postgres scenarios: a throw-away server from
 * scripts/postgres-server.ts started with fsync on (PostgreSQL's own durability settings:
 * fsync, full_page_writes and synchronous_commit all on), databases with the server's schema,
 * the CPU time its processes use, a client child (bench/pg-client.ts) for the database-only
 * baselines, and a direct SQL fill of a large `logs` table with the rows the server would have
 * written beside it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { windowBounds, type AnalyticsWindow } from '../../server/core/analytics.js';
import { SERVICE_MESSAGES, SIMULATED_SERVICES } from '../../server/core/simulator.js';
import { LEVELS } from '../../server/core/log.js';
import { migrate, PARTITION_MS, partitionName, quoteIdent } from '../../server/storage/postgres-schema.js';
import { startPostgres, type PgServer } from '../../scripts/postgres-server.js';
import type { BodySet } from './data.js';
import { jsonChild } from './baselines.js';

/** The server's default schema (storage.postgres.schema), which the scenarios keep. */
export const SCHEMA = 'logsentinel';
const S = quoteIdent(SCHEMA);

export interface BenchPostgres {
  server: PgServer;
  /** CPU seconds used so far by the postmaster and every process it started (live or ended); null without /proc. */
  cpuSeconds(): number | null;
  /** A new database with the server's schema (migrated as the server migrates it); its URL. */
  database(name: string): Promise<string>;
  dropDatabase(name: string): Promise<void>;
  /** The settings a reader of the figures needs: version, durability, memory. */
  settings(): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

const SHOWN = ['server_version', 'fsync', 'synchronous_commit', 'full_page_writes', 'wal_level', 'shared_buffers', 'max_wal_size', 'wal_buffers'];

async function onAdmin<T>(server: PgServer, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: server.url() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

let clockTicks: number | undefined;
const ticks = (): number => (clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100);

/** utime, stime, cutime, cstime of a process, in clock ticks; undefined when it is gone. */
function times(pid: number): { own: number; children: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { own: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) };
  } catch {
    return undefined;
  }
}

function childrenOf(pid: number): number[] {
  try {
    // Every thread's children; PostgreSQL is single-threaded, so the main thread's.
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Starts PostgreSQL with fsync on (scripts/postgres-server.ts keeps its durability settings
 * then); `settings` (name -> value) are set with ALTER SYSTEM and the server restarted, for a
 * run that asks (--pg-setting).
 */
export async function startBenchPostgres(settings: Record<string, string> = {}): Promise<BenchPostgres> {
  const server = await startPostgres({ fsync: true });
  if (Object.keys(settings).length > 0) {
    await onAdmin(server, async (c) => {
      for (const [name, value] of Object.entries(settings)) {
        if (!/^[a-z_]+$/.test(name)) throw new Error(`--pg-setting ${name}: not a setting name`);
        await c.query(`ALTER SYSTEM SET ${name} = ${pg.escapeLiteral(value)}`);
      }
    });
    await server.stopServer();
    await server.startServer();
  }
  const postmaster = Number(readFileSync(join(server.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  return {
    server,
    cpuSeconds() {
      const root = times(postmaster);
      if (root === undefined) return null;
      // Ended backends are in the postmaster's children's times (it reaps them); live ones are summed.
      let total = root.own + root.children;
      for (const child of childrenOf(postmaster)) total += times(child)?.own ?? 0;
      return total / ticks();
    },
    async database(name: string) {
      const url = await server.createDatabase(name);
      const pool = new pg.Pool({ connectionString: url, max: 1 });
      try {
        const client = await pool.connect();
        try {
          await migrate(client, SCHEMA);
        } finally {
          client.release();
        }
      } finally {
        await pool.end();
      }
      return url;
    },
    dropDatabase: (name: string) => onAdmin(server, async (c) => void (await c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`))),
    settings: () =>
      onAdmin(server, async (c) => {
        const out: Record<string, string> = {};
        for (const name of SHOWN) out[name] = (await c.query<Record<string, string>>(`SHOW ${name}`)).rows[0]![name]!;
        return out;
      }),
    stop: () => server.stop(),
  };
}

/** A server config for the postgres backend: the embedded defaults, this database, rate limit off (see serverConfig). */
export function postgresConfig(url: string, replicaId: string, poolSize: number): Record<string, unknown> {
  return {
    storage: { backend: 'postgres', postgres: { url, pool_size: poolSize, schema: SCHEMA } },
    cluster: { replica_id: replicaId },
    rate_limit: { enabled: false },
  };
}

/** Creates the day partitions of `logs` covering these event times, named and bounded as the server names them. */
export async function ensurePartitions(url: string, times: Iterable<number>): Promise<string[]> {
  const days = new Set<number>();
  for (const t of times) days.add(Math.floor(t / PARTITION_MS));
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const day of [...days].sort((a, b) => a - b)) {
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${S}.${quoteIdent(partitionName(day))} PARTITION OF ${S}.logs FOR VALUES FROM (${day * PARTITION_MS}) TO (${(day + 1) * PARTITION_MS})`,
      );
    }
  } finally {
    await client.end();
  }
  return [...days].sort((a, b) => a - b).map(partitionName);
}

/** Event times (epoch ms) of the logs in a body set, for the partitions they need. */
export function eventTimes(set: BodySet): number[] {
  const out: number[] = [];
  for (const body of set.bodies) {
    const logs = set.format === 'json' ? (JSON.parse(body) as { timestamp: string }[]) : body.split('\n').map((l) => JSON.parse(l) as { timestamp: string });
    for (const l of logs) out.push(Date.parse(l.timestamp));
  }
  return out;
}

// ---------------------------------------------------------------- the client child

export interface ClientRun {
  /** Statements (batches, commits or queries) completed in the measured part. */
  requests: number;
  rows: number;
  seconds: number;
  p50: number;
  p99: number;
  max: number;
  /** CPU time of the client over wall time (1 = one core busy). */
  cpuShare: number;
}

/** Runs bench/pg-client.ts (pinned to the server's CPU) with these arguments; the JSON line it prints. */
export function clientRun(args: string[], timeoutMs: number): Promise<ClientRun> {
  // The database URL stays out of the error.
  return jsonChild<ClientRun>('pg-client.ts', args, timeoutMs, `pg-client ${args.filter((a) => !a.startsWith('postgres')).join(' ')}`);
}

// ---------------------------------------------------------------- the large fill

export interface FillOptions {
  count: number;
  /** Event times span this long, ending at `end`. */
  spanMs: number;
  end: number;
  /** Statements filling side by side (each over its own range of ids and times, on its own connection). */
  parallel: number;
  analyticsWindow: AnalyticsWindow;
  progress?: (text: string) => void;
}

export interface FillReport {
  rows: number;
  partitions: string[];
  /** Seconds of each step: rows (with counters and minutes), VACUUM ANALYZE, total. */
  insertSeconds: number;
  vacuumSeconds: number;
  seconds: number;
  /** On-disk size of `logs` with its indexes, bytes. */
  bytes: number;
  /** Logs per (service, level) for the filtered query. */
  perKey: Record<string, number>;
}

/** Traffic over a day varies by (1 + A) / (1 - A) = 3 times between its quietest and busiest hour. */
const DAILY_SWING = 0.5;

/**
 * Fills `logs` with `count` rows straight from SQL, as if the server had accepted them over
 * the last `spanMs`: the simulator's five services and level weights (15/65/15/4/1 %), its
 * message templates, 200 users, the same metadata keys; event times rising with the id over
 * the span with a daily swing of three times in volume, each up to 5 s late, received up to
 * 1 s after. In the statement that adds them, as the server's commit does, each filling
 * connection adds its counters, log count and per-minute counts (the last hour only: the
 * retention step deletes older minutes) under a replica name of its own, as replicas do.
 * Then VACUUM ANALYZE of each partition, as autovacuum would have left them.
 */
export async function fillLogs(url: string, o: FillOptions): Promise<FillReport> {
  const t0 = performance.now();
  const start = o.end - o.spanMs;
  const everyDay: number[] = [];
  for (let t = start - 10_000; t < o.end + PARTITION_MS; t += PARTITION_MS) everyDay.push(Math.min(t, o.end));
  const partitions = await ensurePartitions(url, everyDay);
  // Message templates: (service, level) -> up to 3, flattened; counts beside them.
  const templates: string[] = [];
  const counts: number[] = [];
  for (const service of SIMULATED_SERVICES) {
    for (const level of LEVELS) {
      const list = SERVICE_MESSAGES[service]![level];
      if (list.length === 0 || list.length > 3) throw new Error(`${service} ${level}: ${list.length} templates, expected 1 to 3`);
      counts.push(list.length);
      for (let k = 0; k < 3; k++) templates.push(list[k] ?? list[0]!);
    }
  }
  const oldestMinute = windowBounds(o.end, o.analyticsWindow).oldestMinute - 1;
  const days = o.spanMs / PARTITION_MS;
  const sql = `
    WITH g AS (
      SELECT i, r_s, r_l, r_u, r_t, r_n, r_p, r_q, r_a, r_b, r_c, r_d,
        $3::bigint + floor($4::float8 * (x - ${DAILY_SWING} / (2 * pi() * $5::float8) * sin(2 * pi() * $5::float8 * x)))::bigint AS base,
        floor(r_j * 5000)::bigint AS late
      FROM (
        SELECT i, (i::float8 - 0.5) / $6::float8 AS x, random() AS r_s, random() AS r_l, random() AS r_u, random() AS r_t, random() AS r_n,
          random() AS r_p, random() AS r_q, random() AS r_a, random() AS r_b, random() AS r_c, random() AS r_j, random() AS r_d
        FROM generate_series($1::bigint, $2::bigint) AS i
      ) r
    ), k AS (
      SELECT g.*, floor(r_s * 5)::int AS s,
        CASE WHEN r_l < 0.15 THEN 0 WHEN r_l < 0.80 THEN 1 WHEN r_l < 0.95 THEN 2 WHEN r_l < 0.99 THEN 3 ELSE 4 END AS l,
        'user-' || (1 + floor(r_u * 200))::int AS u, base - late AS ts
      FROM g
    ), ins AS (
      INSERT INTO ${S}.logs (id, ts, timestamp, level, service, message, message_json, user_id, metadata, received_at)
      SELECT i, ts,
        to_char(timestamp '1970-01-01' + ts * interval '1 millisecond', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        l, ($7::text[])[s + 1],
        replace(replace(($8::text[])[1 + (s * 5 + l) * 3 + floor(r_t * ($9::int[])[1 + s * 5 + l])::int], '{user}', u), '{n}', (1 + floor(r_n * 9999))::int::text),
        NULL, u,
        '{"processing_time_ms":' || (round(r_p * 50000) / 100)::float8::text
          || ',"request_id":"req-' || lpad(to_hex(floor(r_q * 4294967295)::bigint), 8, '0')
          || '","ip_address":"10.' || floor(r_a * 256)::int || '.' || floor(r_b * 256)::int || '.' || (1 + floor(r_c * 254))::int || '"}',
        base + floor(r_d * 1000)::bigint
      FROM k
      RETURNING ts, level, service, user_id, received_at
    ), c AS (
      INSERT INTO ${S}.counters (service, level, replica, count, last_ts, last_received)
      SELECT service, level, $10, count(*), max(ts), max(received_at) FROM ins GROUP BY service, level
    ), n AS (
      INSERT INTO ${S}.log_counts (replica, count) SELECT $10, count(*) FROM ins
    ), m AS (
      INSERT INTO ${S}.minutes (minute, service, level, replica, count)
      SELECT ts / 60000, service, level, $10, count(*) FROM ins WHERE ts / 60000 >= $11 GROUP BY 1, 2, 3
    ), u AS (
      INSERT INTO ${S}.minute_users (minute, user_id, replica, count)
      SELECT ts / 60000, user_id, $10, count(*) FROM ins WHERE ts / 60000 >= $11 GROUP BY 1, 2
    )
    SELECT count(*)::bigint AS n FROM ins`;
  const per = Math.ceil(o.count / o.parallel);
  const parts = Array.from({ length: o.parallel }, (_, p) => ({ from: p * per + 1, to: Math.min(o.count, (p + 1) * per) })).filter((p) => p.from <= p.to);
  o.progress?.(`filling ${o.count.toLocaleString('en-US')} rows over ${parts.length} connections into ${partitions.join(', ')}`);
  const inserted = await Promise.all(
    parts.map(async (p, index) => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        // Repeatable: each connection's random() from its own seed.
        await client.query('SELECT setseed($1)', [0.1 + index / 10]);
        await client.query("SET work_mem = '256MB'");
        const r = await client.query<{ n: string }>(sql, [p.from, p.to, start, o.spanMs, days, o.count, SIMULATED_SERVICES, templates, counts, `bench-fill-${index + 1}`, oldestMinute]);
        return Number(r.rows[0]!.n);
      } finally {
        await client.end();
      }
    }),
  );
  const rows = inserted.reduce((a, b) => a + b, 0);
  if (rows !== o.count) throw new Error(`the fill inserted ${rows} rows, expected ${o.count}`);
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  let insertSeconds = 0;
  let vacuumSeconds = 0;
  let bytes = 0;
  const perKey: Record<string, number> = {};
  try {
    await admin.query(`UPDATE ${S}.id_blocks SET last_id = greatest(last_id, $1)`, [o.count]);
    insertSeconds = (performance.now() - t0) / 1000;
    o.progress?.(`rows in after ${insertSeconds.toFixed(1)} s; VACUUM ANALYZE of each partition`);
    const t1 = performance.now();
    const queue = [...partitions];
    await Promise.all(
      Array.from({ length: o.parallel }, async () => {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          for (let name = queue.shift(); name !== undefined; name = queue.shift()) await client.query(`VACUUM (ANALYZE) ${S}.${quoteIdent(name)}`);
        } finally {
          await client.end();
        }
      }),
    );
    await admin.query(`ANALYZE ${S}.counters, ${S}.minutes, ${S}.minute_users, ${S}.log_counts`);
    vacuumSeconds = (performance.now() - t1) / 1000;
    bytes = Number((await admin.query<{ b: string }>(`SELECT sum(pg_total_relation_size(c.oid))::bigint AS b FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = '${S}.logs'::regclass`)).rows[0]!.b);
    for (const r of (await admin.query<{ service: string; level: number; n: string }>(`SELECT service, level, sum(count)::bigint AS n FROM ${S}.counters GROUP BY 1, 2`)).rows) {
      perKey[`${r.service} ${LEVELS[r.level]}`] = Number(r.n);
    }
  } finally {
    await admin.end();
  }
  return { rows, partitions, insertSeconds, vacuumSeconds, seconds: (performance.now() - t0) / 1000, bytes, perKey };
}
