import pg from 'pg';
import { inWindow, windowBounds, type AnalyticsWindow, type WindowBounds } from '../core/analytics.js';
import { levelIndex, StoredLog } from '../core/log.js';
import { addToPatternRow, patternRowOf, type DescribePattern, type PatternColumns, type PatternRow } from '../core/patterns/pattern-stats.js';
import { minuteOf } from '../core/time.js';
import { LogFilter, type LogPage, type LogQuery } from '../core/log-filter.js';
import { pageOf, type Listed } from '../core/listing-order.js';
import { snapshotOf, type AlertRecord, type AlertStateSnapshot, type AlertStateStore, type NotificationRecord } from '../core/alerting/state.js';
import {
  StorageError,
  type CommitObserver,
  type CounterRow,
  type LogRepository,
  type RawBatch,
  type RetentionResult,
  type RuntimeCounters,
  type SharedFigures,
  type SharedStore,
} from '../core/repository.js';
import { CommitScheduler } from './commit-scheduler.js';
import { keyPairs, levelAt, SqlBuilder } from './postgres-query.js';
import { migrate, PARTITION_MS, partitionName, quoteIdent } from './postgres-schema.js';

export interface PostgresOptions {
  /** postgres://user:password@host:port/database */
  url: string;
  /** Connections this server opens at most. */
  poolSize: number;
  /** The schema holding LogSentinel's tables (created when missing). */
  schema: string;
  /** This server's name among the replicas (its rows in per-replica tables). */
  replicaId: string;
  /** See SqliteOptions: the same scheduler (commit-scheduler.ts). */
  commitIntervalMs: number;
  commitMaxRows: number;
  retention: { maxAgeMs: number; maxRows: number; batchSize: number };
  /** Maps a service name to the key its counters are kept under (the cardinality cap). */
  counterKey: (service: string) => string;
  /** The same for user ids (the users' cap), for the per-minute user counts. */
  userKey: (userId: string) => string;
  /** Which logs the per-minute figures count (the analytics window, core/analytics.ts). */
  analyticsWindow: AnalyticsWindow;
}

/** One append waiting for its commit. */
interface Pending {
  logs: readonly StoredLog[];
}

interface LogRow {
  id: number;
  ts: number;
  timestamp: string;
  level: number;
  service: string;
  message: string;
  message_json: string | null;
  user_id: string | null;
  metadata: string | null;
  received_at: number;
  pattern_id: number | null;
}

const COLUMNS = 'id, ts, timestamp, level, service, message, message_json, user_id, metadata, received_at, pattern_id';

/** A `patterns` row as read (the level counts apart, as columns). */
interface PatternDbRow extends PatternColumns {
  replica: string;
}

const PATTERN_COLUMNS = `replica, id, service, template, first_seen AS "firstSeen", last_seen AS "lastSeen", sample, debug, info, warning, error, critical`;

/**
 * Every replica's pattern figures as last read (PostgresRepository.figures, every second):
 * per replica, its `patterns` rows and its `pattern_minutes` counts, and how far (`seq`) each
 * was read, so the next read fetches only the rows written since. Minutes before the oldest
 * one asked for are let go; asked for an older minute than that, it starts again from nothing.
 * Holds what the figures return anyway: every replica's rows, and the window's minutes.
 */
class PatternFigures {
  /** Per replica, the `seq` up to which its `patterns` rows were read ... */
  readonly rowSeqs = new Map<string, number>();
  /** ... and its `pattern_minutes` rows. */
  readonly minuteSeqs = new Map<string, number>();
  /** Per replica, its rows by pattern id. */
  private readonly byReplica = new Map<string, Map<number, PatternRow>>();
  private rowList: PatternRow[] | undefined;
  /** Per minute: each replica's count per (replica, pattern, level), and their sums per (pattern, level). */
  private readonly byMinute = new Map<number, { counts: Map<string, number>; sums: Map<string, { minute: number; pattern: number; level: number; count: number }> }>();
  private minuteList: { minute: number; pattern: number; level: number; count: number }[] | undefined;
  /** The oldest minute held; undefined before the first read. */
  private floor: number | undefined;

  /** The replicas read so far and up to which seq, as two arrays (the statement's parameters). */
  known(seqs: Map<string, number>): [string[], number[]] {
    return [[...seqs.keys()], [...seqs.values()]];
  }

  setRow(replica: string, row: PatternRow): void {
    let rows = this.byReplica.get(replica);
    if (rows === undefined) this.byReplica.set(replica, (rows = new Map()));
    rows.set(row.id, row);
    this.rowList = undefined;
  }

  /** Every replica's rows. */
  rows(): PatternRow[] {
    if (this.rowList === undefined) {
      this.rowList = [];
      for (const rows of this.byReplica.values()) for (const r of rows.values()) this.rowList.push(r);
    }
    return this.rowList;
  }

  /** Lets go of the minutes before `fromMinute`; forgets all of them (to read them again) when asked for an older one than held. */
  keepFrom(fromMinute: number): void {
    if (this.floor !== undefined && fromMinute >= this.floor) {
      for (const minute of this.byMinute.keys()) {
        if (minute >= fromMinute) continue;
        this.byMinute.delete(minute);
        this.minuteList = undefined;
      }
    } else {
      this.byMinute.clear();
      this.minuteSeqs.clear();
      this.minuteList = undefined;
    }
    this.floor = fromMinute;
  }

  /** Replica `replica`'s count of `pattern` at `level` in `minute` is now `count`. */
  setMinute(replica: string, minute: number, pattern: number, level: number, count: number): void {
    let m = this.byMinute.get(minute);
    if (m === undefined) this.byMinute.set(minute, (m = { counts: new Map(), sums: new Map() }));
    const ck = `${replica}\u0000${pattern}\u0000${level}`;
    const before = m.counts.get(ck) ?? 0;
    m.counts.set(ck, count);
    const sk = `${pattern}\u0000${level}`;
    const sum = m.sums.get(sk);
    if (sum === undefined) m.sums.set(sk, { minute, pattern, level, count });
    else sum.count += count - before;
    this.minuteList = undefined;
  }

  /** Every replica's counts summed, per (minute, pattern, level), from the oldest minute kept. */
  minutes(): { minute: number; pattern: number; level: number; count: number }[] {
    if (this.minuteList === undefined) {
      this.minuteList = [];
      for (const m of this.byMinute.values()) for (const sum of m.sums.values()) this.minuteList.push({ ...sum });
    }
    return this.minuteList;
  }
}

/** Text PostgreSQL can hold: a lone surrogate and NUL become U+FFFD (as `message` keeps them, for search). */
function storable(text: string): string {
  return text.isWellFormed() && !text.includes('\0') ? text : text.toWellFormed().replaceAll('\0', '\ufffd');
}

/** bigint as a JS number: ids, epoch milliseconds and counts all stay below 2^53. */
const TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.INT8) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/** The commit statement's name, prepared on each connection that runs it (its text is fixed for a schema). */
const COMMIT_STATEMENT = 'logsentinel_commit';

/** How long getting a connection may take before the request fails. */
const CONNECT_TIMEOUT_MS = 5000;
/** How long the database may run a statement (it cancels it past that) ... */
const STATEMENT_TIMEOUT_MS = 4000;
/** ... and how long this server waits for an answer: past it, the database has stopped answering. */
const QUERY_TIMEOUT_MS = 5000;
/** Dropping a day (counting its rows, detaching it) may take longer on a big day: retention runs in the background. */
const MAINTENANCE_TIMEOUT_MS = 120_000;

/** Lock key for creating partitions: two replicas meeting a new day create it once. */
const PARTITION_LOCK = 0x4c6f6750;

/**
 * Commits under way at once per replica, with a pool of at least 4 connections (one at a time
 * with fewer, so reads keep a connection). The second builds, sends and inserts its rows while
 * the first finishes; both upsert this replica's counter rows, which they lock in one order
 * (each upsert's rows sorted by key, the upserts in one order in the statement), so the second
 * waits for the first on the rows they share and never in a circle (unsorted, two groups that
 * met the same keys in different orders deadlocked). Replicas never wait on each other's rows
 * (they are keyed by replica).
 */
function commitsInFlight(poolSize: number): number {
  return poolSize >= 4 ? 2 : 1;
}

function toLog(r: LogRow): StoredLog {
  const log = new StoredLog(
    r.id,
    r.ts,
    r.timestamp,
    levelAt(r.level),
    r.service,
    r.message_json === null ? r.message : (JSON.parse(r.message_json) as string),
    r.user_id ?? undefined,
    r.metadata === null ? undefined : (JSON.parse(r.metadata) as Record<string, unknown>),
    r.received_at,
  );
  log.patternId = r.pattern_id ?? 0;
  return log;
}

/** The UTC day (days since the epoch) of an epoch-ms time. */
function dayOf(ts: number): number {
  return Math.floor(ts / PARTITION_MS);
}

/**
 * PostgreSQL through node-postgres: the store several replicas share (docs/scaling.md).
 * Logs are rows of `logs`, partitioned by event-time day (postgres-schema.ts). A commit is one
 * statement (one round trip, atomic): the rows by `unnest` of column arrays, and the same
 * statement adds this replica's counters and log count, so the totals are exact whenever the
 * logs are, even across a crash. Appends are grouped by the same scheduler as SQLite's.
 */
export class PostgresRepository implements LogRepository, AlertStateStore {
  readonly description: string;
  readonly engine = 'postgres';
  readonly alerts: AlertStateStore = this;
  readonly shared: SharedStore;
  /** The NOTIFY channel commits are announced on: one per schema, so two clusters in one database stay apart. */
  private readonly channel: string;
  /** The session listening on `channel`, while following. */
  private listener: pg.Client | undefined;
  private following: { deliver: (logs: StoredLog[]) => void; wanted: () => boolean } | undefined;
  /** Deliveries in the order their notifications came. */
  private deliveries: Promise<void> = Promise.resolve();
  private closed = false;
  /** The session holding the alert-check lock (its own connection: the lock lives as long as it does). */
  private leader: pg.Client | undefined;
  private leading = false;
  private readonly s: string;
  private readonly scheduler: CommitScheduler<Pending>;
  /** Days whose partition is known to exist. */
  private readonly partitions = new Set<number>();
  private runtimeSource: (() => RuntimeCounters) | undefined;
  private runtimeWritten = '';
  /** Alert-state writes in the order made: a later write of an alert must land after an earlier one. */
  private stateWrites: Promise<unknown> = Promise.resolve();
  /** The service and template of a pattern, for the rows commits write (LogRepository.describePatterns); none: no pattern rows. */
  private describe: DescribePattern | undefined;
  /** Every replica's pattern figures as `figures` last read them: each read fetches only what changed since. */
  private readonly patternFigures = new PatternFigures();

  private constructor(
    private readonly pool: pg.Pool,
    private readonly options: PostgresOptions,
  ) {
    this.shared = {
      replica: options.replicaId,
      reserveIds: (count) => this.reserveIds(count),
      figures: (fromMinute) => this.figures(fromMinute),
      heartbeat: (now, startedAt) => this.heartbeat(now, startedAt),
      tryLead: () => this.tryLead(),
      follow: (deliver, wanted) => this.follow(deliver, wanted),
    };
    this.s = quoteIdent(options.schema);
    this.channel = `logsentinel_${options.schema}`;
    this.description = `postgres ${redact(options.url)} (schema ${options.schema}, replica ${options.replicaId})`;
    this.scheduler = new CommitScheduler<Pending>((group) => this.commitGroup(group), (p) => p.logs.length, {
      maxRows: options.commitMaxRows,
      gatherMs: options.commitIntervalMs,
      maxInFlight: commitsInFlight(options.poolSize),
    });
  }

  /** Connects, brings the schema up to date (postgres-schema.ts), and learns the partitions there are. */
  static async open(options: PostgresOptions): Promise<PostgresRepository> {
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize,
      types: TYPES,
      application_name: `logsentinel ${options.replicaId}`.slice(0, 63),
      // A database that does not answer fails a request in seconds (a 503 to retry), never hangs it.
      // The server gives up on a statement first, so a slow database cancels it (nothing stored);
      // only one that stopped answering altogether leaves the outcome unknown (STORAGE_TIMEOUT).
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      statement_timeout: STATEMENT_TIMEOUT_MS,
      query_timeout: QUERY_TIMEOUT_MS,
      keepAlive: true,
    });
    // An idle connection the server dropped: the next query gets a fresh one; nothing to crash for.
    pool.on('error', () => {});
    const repo = new PostgresRepository(pool, options);
    try {
      const client = await pool.connect();
      try {
        await migrate(client, options.schema);
      } finally {
        client.release();
      }
      await repo.loadPartitions();
    } catch (e) {
      await pool.end().catch(() => {});
      throw new StorageError(`cannot open the log database ${redact(options.url)}: ${(e as Error).message}`, (e as Error).message);
    }
    return repo;
  }

  private async loadPartitions(): Promise<void> {
    const { rows } = await this.pool.query<{ name: string; bound: string }>(
      `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i
       JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = '${this.s}.logs'::regclass`,
    );
    this.partitions.clear();
    for (const r of rows) {
      const from = /FROM \('?(-?\d+)'?\)/.exec(r.bound);
      if (from) this.partitions.add(dayOf(Number(from[1])));
    }
  }

  /** The partitions for these days, created when missing (by one replica: the others wait on the lock and find them). */
  private async ensurePartitions(days: Iterable<number>): Promise<void> {
    const missing = [...days].filter((d) => !this.partitions.has(d));
    if (missing.length === 0) return;
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [PARTITION_LOCK]);
      for (const day of missing) {
        await client.query(
          `CREATE TABLE IF NOT EXISTS ${this.s}.${quoteIdent(partitionName(day))} PARTITION OF ${this.s}.logs FOR VALUES FROM (${day * PARTITION_MS}) TO (${(day + 1) * PARTITION_MS})`,
        );
      }
      await client.query('COMMIT');
      for (const day of missing) this.partitions.add(day);
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      client.release();
    }
  }

  append(logs: readonly StoredLog[], _raw?: RawBatch): Promise<void> {
    return this.scheduler.submit({ logs });
  }

  observeCommits(observer: CommitObserver | undefined): void {
    this.scheduler.observe(observer);
  }

  /** One statement: the rows, this replica's counters and log count, and the runtime counters when they changed. */
  private async commitGroup(group: readonly Pending[]): Promise<void> {
    const n = group.reduce((sum, p) => sum + p.logs.length, 0);
    const ids = new Array<number>(n);
    const ts = new Array<number>(n);
    const stamps = new Array<string>(n);
    const levels = new Array<number>(n);
    const services = new Array<string>(n);
    const messages = new Array<string>(n);
    const messagesJson = new Array<string | null>(n);
    const users = new Array<string | null>(n);
    const metadata = new Array<string | null>(n);
    const received = new Array<number>(n);
    const patternIds = new Array<number | null>(n);
    const days = new Set<number>();
    const counters = new Map<string, CounterRow>();
    const minutes = new Map<string, { minute: number; service: string; level: number; count: number }>();
    const userCounts = new Map<string, { minute: number; user: string; count: number }>();
    // Per pattern, the group's all-time figures and per-minute counts (written only once `describePatterns` says how to name them).
    const describe = this.describe;
    const patterns = new Map<number, PatternRow>();
    const patternMinutes = new Map<string, { minute: number; pattern: number; level: number; count: number }>();
    const { counterKey, userKey, analyticsWindow } = this.options;
    let bounds: WindowBounds = windowBounds(0, analyticsWindow);
    let boundsAt = 0;
    let i = 0;
    for (const { logs } of group) {
      for (const log of logs) {
        ids[i] = log.id;
        ts[i] = log.ts;
        stamps[i] = log.timestamp;
        const level = levelIndex(log.level);
        levels[i] = level;
        services[i] = log.service;
        const { message } = log;
        if (message.isWellFormed() && !message.includes('\0')) {
          messages[i] = message;
          messagesJson[i] = null;
        } else {
          messages[i] = message.toWellFormed().replaceAll('\0', '\ufffd');
          messagesJson[i] = JSON.stringify(message);
        }
        users[i] = log.userId ?? null;
        metadata[i] = log.metadata === undefined ? null : JSON.stringify(log.metadata);
        received[i] = log.receivedAt;
        const pattern = log.patternId;
        patternIds[i] = pattern > 0 ? pattern : null;
        i++;
        days.add(dayOf(log.ts));
        const service = counterKey(log.service);
        // Counted by minute as this server's analytics would count it, arriving when it did (a request's logs share that time).
        if (log.receivedAt !== boundsAt) {
          bounds = windowBounds(log.receivedAt, analyticsWindow);
          boundsAt = log.receivedAt;
        }
        const minute = minuteOf(log.ts);
        const counted = inWindow(minute, log.ts, bounds);
        if (pattern > 0 && describe !== undefined) {
          addToPatternRow(patterns, log, describe);
          if (counted) {
            const pk = `${minute}\u0000${pattern}\u0000${level}`;
            const pm = patternMinutes.get(pk);
            if (pm === undefined) patternMinutes.set(pk, { minute, pattern, level, count: 1 });
            else pm.count++;
          }
        }
        if (counted) {
          const mk = `${minute}\u0000${level}\u0000${service}`;
          const m = minutes.get(mk);
          if (m === undefined) minutes.set(mk, { minute, service, level, count: 1 });
          else m.count++;
          if (log.userId !== undefined) {
            const user = userKey(log.userId);
            const uk = `${minute}\u0000${user}`;
            const u = userCounts.get(uk);
            if (u === undefined) userCounts.set(uk, { minute, user, count: 1 });
            else u.count++;
          }
        }
        const key = `${level}\u0000${service}`;
        const c = counters.get(key);
        if (c === undefined) counters.set(key, { service, level, count: 1, lastTs: log.ts, lastReceived: log.receivedAt });
        else {
          c.count++;
          if (log.ts > c.lastTs) c.lastTs = log.ts;
          if (log.receivedAt > c.lastReceived) c.lastReceived = log.receivedAt;
        }
      }
    }
    if (n === 0) return;
    // Each upsert's rows in key order: two commits in flight lock the rows they share in one order, so neither waits on the other in a circle.
    const cs = [...counters.values()].sort((a, b) => compareText(a.service, b.service) || a.level - b.level);
    const ms = [...minutes.values()].sort((a, b) => a.minute - b.minute || compareText(a.service, b.service) || a.level - b.level);
    const us = [...userCounts.values()].sort((a, b) => a.minute - b.minute || compareText(a.user, b.user));
    const ps = [...patterns.values()].sort((a, b) => a.id - b.id);
    const pms = [...patternMinutes.values()].sort((a, b) => a.minute - b.minute || a.pattern - b.pattern || a.level - b.level);
    const runtime = this.runtimeSource && JSON.stringify(this.runtimeSource());
    const writeRuntime = runtime !== undefined && runtime !== this.runtimeWritten;
    const s = this.s;
    try {
      await this.ensurePartitions(days);
      await this.insertGroup(
        `WITH l AS (
           INSERT INTO ${s}.logs (${COLUMNS})
           SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::smallint[], $5::text[], $6::text[], $18::text[], $7::text[], $8::text[], $9::bigint[], $28::bigint[])
         ), c AS (
           INSERT INTO ${s}.counters (service, level, replica, count, last_ts, last_received)
           SELECT service, level, $10, count, last_ts, last_received
           FROM unnest($11::text[], $12::smallint[], $13::bigint[], $14::bigint[], $15::bigint[]) AS t(service, level, count, last_ts, last_received)
           ON CONFLICT (service, level, replica) DO UPDATE SET count = ${s}.counters.count + excluded.count,
             last_ts = greatest(${s}.counters.last_ts, excluded.last_ts), last_received = greatest(${s}.counters.last_received, excluded.last_received)
         ), n AS (
           INSERT INTO ${s}.log_counts (replica, count) VALUES ($10, $16)
           ON CONFLICT (replica) DO UPDATE SET count = ${s}.log_counts.count + excluded.count
         ), r AS (
           INSERT INTO ${s}.runtime (replica, value) SELECT $10, $17::jsonb WHERE $17::jsonb IS NOT NULL
           ON CONFLICT (replica) DO UPDATE SET value = excluded.value
         ), m AS (
           INSERT INTO ${s}.minutes (minute, service, level, replica, count)
           SELECT minute, service, level, $10, count FROM unnest($19::bigint[], $20::text[], $21::smallint[], $22::bigint[]) AS t(minute, service, level, count)
           ON CONFLICT (minute, service, level, replica) DO UPDATE SET count = ${s}.minutes.count + excluded.count
         ), u AS (
           INSERT INTO ${s}.minute_users (minute, user_id, replica, count)
           SELECT minute, user_id, $10, count FROM unnest($23::bigint[], $24::text[], $25::bigint[]) AS t(minute, user_id, count)
           ON CONFLICT (minute, user_id, replica) DO UPDATE SET count = ${s}.minute_users.count + excluded.count
         ), q AS (
           INSERT INTO ${s}.pattern_seqs (replica, seq) SELECT $10, 1 WHERE cardinality($29::bigint[]) > 0
           ON CONFLICT (replica) DO UPDATE SET seq = ${s}.pattern_seqs.seq + 1
           RETURNING seq
         ), p AS (
           INSERT INTO ${s}.patterns AS o (replica, id, service, template, first_seen, last_seen, sample, debug, info, warning, error, critical, seq)
           SELECT $10, id, service, template, first_seen, last_seen, sample, debug, info, warning, error, critical, q.seq
           FROM unnest($29::bigint[], $30::text[], $31::text[], $32::bigint[], $33::bigint[], $34::text[], $35::bigint[], $36::bigint[], $37::bigint[], $38::bigint[], $39::bigint[])
             AS t(id, service, template, first_seen, last_seen, sample, debug, info, warning, error, critical) CROSS JOIN q
           ON CONFLICT (replica, id) DO UPDATE SET template = CASE WHEN excluded.template <> '' THEN excluded.template ELSE o.template END,
             first_seen = least(o.first_seen, excluded.first_seen), last_seen = greatest(o.last_seen, excluded.last_seen),
             sample = CASE WHEN excluded.last_seen >= o.last_seen THEN excluded.sample ELSE o.sample END,
             debug = o.debug + excluded.debug, info = o.info + excluded.info, warning = o.warning + excluded.warning,
             error = o.error + excluded.error, critical = o.critical + excluded.critical, seq = excluded.seq
         ), pm AS (
           INSERT INTO ${s}.pattern_minutes AS o (minute, pattern, level, replica, count, seq)
           SELECT minute, pattern, level, $10, count, q.seq
           FROM unnest($40::bigint[], $41::bigint[], $42::smallint[], $43::bigint[]) AS t(minute, pattern, level, count) CROSS JOIN q
           ON CONFLICT (minute, pattern, level, replica) DO UPDATE SET count = o.count + excluded.count, seq = excluded.seq
         ) SELECT pg_notify($26, p) FROM unnest($27::text[]) AS p`,
        [
          ids,
          ts,
          stamps,
          levels,
          services,
          messages,
          users,
          metadata,
          received,
          this.options.replicaId,
          cs.map((c) => c.service),
          cs.map((c) => c.level),
          cs.map((c) => c.count),
          cs.map((c) => c.lastTs),
          cs.map((c) => c.lastReceived),
          n,
          writeRuntime ? runtime : null,
          messagesJson,
          ms.map((m) => m.minute),
          ms.map((m) => m.service),
          ms.map((m) => m.level),
          ms.map((m) => m.count),
          us.map((u) => u.minute),
          us.map((u) => u.user),
          us.map((u) => u.count),
          this.channel,
          announcements(this.options.replicaId, ids, ts),
          patternIds,
          ps.map((p) => p.id),
          ps.map((p) => p.service),
          ps.map((p) => storable(p.template)),
          ps.map((p) => p.firstSeen),
          ps.map((p) => p.lastSeen),
          ps.map((p) => storable(p.sample)),
          ps.map((p) => p.levels[0]),
          ps.map((p) => p.levels[1]),
          ps.map((p) => p.levels[2]),
          ps.map((p) => p.levels[3]),
          ps.map((p) => p.levels[4]),
          pms.map((m) => m.minute),
          pms.map((m) => m.pattern),
          pms.map((m) => m.level),
          pms.map((m) => m.count),
        ],
        days,
      );
      if (writeRuntime) this.runtimeWritten = runtime;
    } catch (e) {
      throw this.failure('write to', e);
    }
  }

  private async insertGroup(text: string, values: unknown[], days: ReadonlySet<number>): Promise<void> {
    // Prepared once per connection: planning this statement afresh cost about 1 ms of a 1.2 ms single-log commit.
    const statement = { name: COMMIT_STATEMENT, text, values };
    try {
      await this.pool.query(statement);
    } catch (e) {
      // 23514: no partition for a row. Another replica dropped a day this one still knew (retention), and a late log belongs to it.
      if ((e as { code?: string }).code !== '23514') throw e;
      await this.loadPartitions();
      await this.ensurePartitions(days);
      await this.pool.query(statement);
    }
  }

  /** A driver error as the StorageError the core turns into a 503, naming the database without its password. */
  private failure(doing: string, e: unknown): StorageError {
    const reason = (e as Error).message || String(e);
    // node-postgres's own words when query_timeout passes with no answer: the statement may still land.
    const unknown = reason === 'Query read timeout';
    return new StorageError(`cannot ${doing} the log database ${redact(this.options.url)}: ${reason}`, reason, unknown);
  }

  /** One statement on a pooled connection; a failure as the StorageError naming what was being done. */
  private async run<R extends pg.QueryResultRow>(doing: 'read from' | 'write to', text: string, values: unknown[]): Promise<R[]> {
    try {
      return (await this.pool.query<R>(text, values)).rows;
    } catch (e) {
      throw this.failure(doing, e);
    }
  }

  private read<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    return this.run<R>('read from', text, values);
  }

  /**
   * Every replica's figures, summed (core/repository.ts, SharedFigures). Small reads side by
   * side; the patterns' are only what changed since the last call (PatternFigures).
   */
  private async figures(fromMinute: number): Promise<SharedFigures> {
    const s = this.s;
    const [counters, minutes, users, runtime, replicas, patterns, patternMinutes] = await Promise.all([
      this.counters(),
      this.read<{ minute: number; service: string; level: number; count: number }>(
        `SELECT minute, service, level, sum(count)::bigint AS count FROM ${s}.minutes WHERE minute >= $1 GROUP BY minute, service, level`,
        [fromMinute],
      ),
      this.read<{ minute: number; user: string; count: number }>(
        `SELECT minute, user_id AS "user", sum(count)::bigint AS count FROM ${s}.minute_users WHERE minute >= $1 GROUP BY minute, user_id`,
        [fromMinute],
      ),
      this.read<{ value: RuntimeCounters }>(`SELECT value FROM ${s}.runtime`),
      this.read<{ replica: string; startedAt: number; seenAt: number }>(`SELECT replica, started_at AS "startedAt", seen_at AS "seenAt" FROM ${s}.replicas ORDER BY replica`),
      this.patternRows(),
      this.patternMinutes(fromMinute),
    ]);
    return { counters, minutes, users, runtime: runtime.map((r) => r.value), replicas, patterns, patternMinutes };
  }

  /**
   * Every replica's `patterns` rows: those written since the last read (per replica, the rows
   * of a greater `seq` than read then: postgres-schema.ts, version 2), merged into those read
   * before. One statement, so each replica's seq and its rows come from one snapshot.
   */
  private async patternRows(): Promise<PatternRow[]> {
    const cache = this.patternFigures;
    const [replicas, seqs] = cache.known(cache.rowSeqs);
    const rows = await this.read<Omit<PatternDbRow, 'id'> & { replicaSeq: number; id: number | null }>(
      `SELECT r.replica, r.seq AS "replicaSeq", p.id, p.service, p.template, p.first_seen AS "firstSeen", p.last_seen AS "lastSeen", p.sample,
         p.debug, p.info, p.warning, p.error, p.critical
       FROM ${this.s}.pattern_seqs r LEFT JOIN unnest($1::text[], $2::bigint[]) AS k(replica, seq) ON k.replica = r.replica
       LEFT JOIN LATERAL (SELECT * FROM ${this.s}.patterns p WHERE p.replica = r.replica AND p.seq > coalesce(k.seq, 0)) p ON true
       WHERE r.seq > coalesce(k.seq, 0)`,
      [replicas, seqs],
    );
    for (const r of rows) {
      // A read that overtook this one (figures called again meanwhile) has newer rows: keep them.
      if (r.replicaSeq < (cache.rowSeqs.get(r.replica) ?? 0)) continue;
      cache.rowSeqs.set(r.replica, r.replicaSeq);
      if (r.id !== null) cache.setRow(r.replica, patternRowOf({ ...r, id: r.id }));
    }
    return cache.rows();
  }

  /** Every replica's `pattern_minutes` from `fromMinute` on, summed: read as `patternRows` reads, only what changed. */
  private async patternMinutes(fromMinute: number): Promise<SharedFigures['patternMinutes']> {
    const cache = this.patternFigures;
    cache.keepFrom(fromMinute);
    const [replicas, seqs] = cache.known(cache.minuteSeqs);
    const rows = await this.read<{ replica: string; replicaSeq: number; minute: number | null; pattern: number; level: number; count: number }>(
      `SELECT r.replica, r.seq AS "replicaSeq", m.minute, m.pattern, m.level, m.count
       FROM ${this.s}.pattern_seqs r LEFT JOIN unnest($1::text[], $2::bigint[]) AS k(replica, seq) ON k.replica = r.replica
       LEFT JOIN LATERAL (SELECT minute, pattern, level, count FROM ${this.s}.pattern_minutes m
         WHERE m.replica = r.replica AND m.seq > coalesce(k.seq, 0) AND m.minute >= $3) m ON true
       WHERE r.seq > coalesce(k.seq, 0)`,
      [replicas, seqs, fromMinute],
    );
    for (const r of rows) {
      if (r.replicaSeq < (cache.minuteSeqs.get(r.replica) ?? 0)) continue;
      cache.minuteSeqs.set(r.replica, r.replicaSeq);
      if (r.minute !== null) cache.setMinute(r.replica, r.minute, r.pattern, r.level, r.count);
    }
    return cache.minutes();
  }

  /** Every replica's pattern rows (a replica's figures are its rows' sums: the core adds them up). */
  async loadPatterns(): Promise<PatternRow[]> {
    const rows = await this.read<PatternDbRow>(`SELECT ${PATTERN_COLUMNS} FROM ${this.s}.patterns ORDER BY id, replica`);
    return rows.map(patternRowOf);
  }

  describePatterns(describe: DescribePattern): void {
    this.describe = describe;
  }

  private async heartbeat(now: number, startedAt: number): Promise<void> {
    await this.write(
      `INSERT INTO ${this.s}.replicas (replica, started_at, seen_at) VALUES ($1, $2, $3)
       ON CONFLICT (replica) DO UPDATE SET started_at = excluded.started_at, seen_at = excluded.seen_at`,
      [this.options.replicaId, startedAt, now],
    );
    await this.writeRuntimeCounters();
  }

  /**
   * Listens for the commits of other replicas (announcements() says what a notification
   * carries: ids, never log bodies) and reads their logs back for `deliver`. A lost
   * connection is made again after a second; what was announced meanwhile is not delivered.
   */
  private follow(deliver: (logs: StoredLog[]) => void, wanted: () => boolean): void {
    this.following = { deliver, wanted };
    void this.listen();
  }

  private async listen(): Promise<void> {
    if (this.closed || this.listener !== undefined) return;
    const client = new pg.Client({
      connectionString: this.options.url,
      types: TYPES,
      application_name: `logsentinel ${this.options.replicaId} tail`.slice(0, 63),
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      keepAlive: true,
    });
    const again = (): void => {
      if (this.listener !== client) return;
      this.listener = undefined;
      client.end().catch(() => {});
      if (!this.closed) setTimeout(() => void this.listen(), 1000).unref();
    };
    client.on('error', again);
    client.on('end', again);
    client.on('notification', (n) => {
      if (n.payload === undefined || !this.following?.wanted()) return;
      const announced = parseAnnouncement(n.payload);
      if (announced === undefined || announced.replica === this.options.replicaId) return;
      this.deliveries = this.deliveries.then(() => this.deliver(announced)).catch(() => {});
    });
    this.listener = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${quoteIdent(this.channel)}`);
    } catch {
      again();
    }
  }

  private async deliver(a: Announcement): Promise<void> {
    const b = new SqlBuilder();
    const ranges = a.ranges.map(([first, last]) => `id BETWEEN ${b.param(first)} AND ${b.param(last)}`);
    const rows = await this.read<LogRow>(
      `SELECT ${COLUMNS} FROM ${this.s}.logs WHERE ts BETWEEN ${b.param(a.minTs)} AND ${b.param(a.maxTs)} AND (${ranges.join(' OR ')}) ORDER BY id`,
      b.params,
    );
    if (rows.length > 0) this.following?.deliver(rows.map(toLog));
  }

  /**
   * The alert-check lock (`pg_try_advisory_lock`, keyed by the schema): held by a session of
   * its own, so it goes when this server stops or dies (PostgreSQL ends the session), and
   * another takes it at its next try. A lost connection loses it here too.
   */
  private async tryLead(): Promise<boolean> {
    try {
      if (this.leader === undefined) {
        const client = new pg.Client({
          connectionString: this.options.url,
          types: TYPES,
          application_name: `logsentinel ${this.options.replicaId} alerts`.slice(0, 63),
          connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
          query_timeout: QUERY_TIMEOUT_MS,
          keepAlive: true,
        });
        client.on('error', () => this.dropLeader(client));
        await client.connect();
        this.leader = client;
      }
      if (this.leading) {
        await this.leader.query('SELECT 1');
        return true;
      }
      const { rows } = await this.leader.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1), 2) AS ok', [this.options.schema]);
      this.leading = rows[0]!.ok;
      return this.leading;
    } catch {
      if (this.leader) this.dropLeader(this.leader);
      return false;
    }
  }

  private dropLeader(client: pg.Client): void {
    if (this.leader !== client) return;
    this.leader = undefined;
    this.leading = false;
    client.end().catch(() => {});
  }

  /** Reserves `count` fresh ids; the last of them. */
  private async reserveIds(count: number): Promise<number> {
    const rows = await this.read<{ last_id: number }>(`UPDATE ${this.s}.id_blocks SET last_id = last_id + $1 RETURNING last_id`, [count]);
    return rows[0]!.last_id;
  }

  /**
   * The first `k` in listing order. Rows come from SQL already filtered and ordered (by the
   * (ts, id) index, or one (service, level, ts, id) range per pair the query names, merged);
   * each is then checked against the core's LogFilter, and when that drops any, the next rows
   * are read after the last one until `k` pass or none are left.
   */
  async listed(q: LogQuery, k: number): Promise<Listed[]> {
    const filter = new LogFilter(q);
    const out: Listed[] = [];
    let before = q.before;
    for (;;) {
      const want = k - out.length;
      const rows = await this.read<LogRow>(...this.listingSql({ ...q, before }, want));
      for (const r of rows) {
        const log = toLog(r);
        if (filter.matches(log)) out.push({ ts: log.ts, id: log.id, log: () => log });
      }
      if (rows.length < want || out.length >= k) return out;
      const last = rows[rows.length - 1]!;
      before = { ts: last.ts, id: last.id };
    }
  }

  private listingSql(q: LogQuery, k: number): [string, unknown[]] {
    const s = this.s;
    // A pattern is one service's: its own index range (logs_pattern) is read rather than one per (service, level).
    const pairs = q.patternId === undefined ? keyPairs(q) : undefined;
    const b = new SqlBuilder();
    if (pairs === undefined) {
      b.filters(q);
      return [`SELECT ${COLUMNS} FROM ${s}.logs ${b.where()} ORDER BY ts DESC, id DESC LIMIT ${b.param(k)}`, b.params];
    }
    // One index range per (service, level): each is read in order and the few first merged.
    b.filters(q, false);
    const limit = b.param(k);
    const branches = pairs.map(
      ([service, level]) =>
        `(SELECT ${COLUMNS} FROM ${s}.logs ${b.where([`service = ${b.param(service)}`, `level = ${b.param(level)}`])} ORDER BY ts DESC, id DESC LIMIT ${limit})`,
    );
    const sql = branches.length === 1 ? branches[0]! : `SELECT * FROM (${branches.join(' UNION ALL ')}) u ORDER BY ts DESC, id DESC LIMIT ${limit}`;
    return [sql, b.params];
  }

  /** A page in listing order from this tier alone. */
  async query(q: LogQuery): Promise<LogPage> {
    return pageOf(await this.listed(q, (q.offset ?? 0) + q.limit + 1), q.offset ?? 0, q.limit);
  }

  async timeOf(id: number): Promise<number | undefined> {
    const rows = await this.read<{ ts: number }>(`SELECT ts FROM ${this.s}.logs WHERE id = $1`, [id]);
    return rows[0]?.ts;
  }

  async maxTsBelow(id: number): Promise<number> {
    const rows = await this.read<{ ts: number | null }>(`SELECT max(ts) AS ts FROM ${this.s}.logs WHERE id < $1`, [Math.min(id, Number.MAX_SAFE_INTEGER)]);
    return rows[0]?.ts ?? -Infinity;
  }

  async recent(n: number): Promise<StoredLog[]> {
    if (n <= 0) return [];
    const rows = await this.read<LogRow>(`SELECT ${COLUMNS} FROM ${this.s}.logs ORDER BY id DESC LIMIT $1`, [n]);
    return rows.reverse().map(toLog);
  }

  /** In pages of (ts, id) order, each read after the last: no cursor held open between pages. */
  async *since(ts: number): AsyncIterable<readonly StoredLog[]> {
    const size = 10_000;
    let after = { ts: ts - 1, id: Number.MAX_SAFE_INTEGER };
    for (;;) {
      const rows = await this.read<LogRow>(`SELECT ${COLUMNS} FROM ${this.s}.logs WHERE ts >= $1 AND (ts, id) > ($2, $3) ORDER BY ts, id LIMIT $4`, [ts, after.ts, after.id, size]);
      if (rows.length > 0) yield rows.map(toLog);
      if (rows.length < size) return;
      const last = rows[rows.length - 1]!;
      after = { ts: last.ts, id: last.id };
    }
  }

  async counters(): Promise<CounterRow[]> {
    return this.read<CounterRow>(
      `SELECT service, level, sum(count)::bigint AS count, max(last_ts) AS "lastTs", max(last_received) AS "lastReceived"
       FROM ${this.s}.counters GROUP BY service, level ORDER BY "lastReceived"`,
    );
  }

  async lastAssignedId(): Promise<number> {
    return (await this.read<{ last_id: number }>(`SELECT last_id FROM ${this.s}.id_blocks`))[0]!.last_id;
  }

  async minId(): Promise<number> {
    return (await this.read<{ id: number | null }>(`SELECT min(id) AS id FROM ${this.s}.logs`))[0]?.id ?? 0;
  }

  /** The sum of every replica's appends less every delete (log_counts): one small read however many logs there are. */
  async count(): Promise<number> {
    return (await this.read<{ n: number | null }>(`SELECT sum(count)::bigint AS n FROM ${this.s}.log_counts`))[0]?.n ?? 0;
  }

  /** Whole partitions before `ts` are dropped; the partition `ts` falls in loses its older rows. */
  async deleteBefore(ts: number, service?: string): Promise<number> {
    let deleted = 0;
    if (service === undefined) {
      for (const day of [...this.partitions].sort((a, b) => a - b)) {
        if ((day + 1) * PARTITION_MS > ts) break;
        deleted += await this.dropPartition(day);
      }
    }
    const b = new SqlBuilder();
    const where = [`ts < ${b.param(ts)}`];
    if (service !== undefined) where.push(`service = ${b.param(service)}`);
    deleted += await this.deleteCounted(`DELETE FROM ${this.s}.logs WHERE ${where.join(' AND ')}`, b.params);
    return deleted;
  }

  /** Runs a DELETE and takes its rows off this replica's log count, in one statement. */
  private async deleteCounted(del: string, params: unknown[]): Promise<number> {
    const replica = `$${params.length + 1}`;
    const rows = await this.write<{ n: number }>(
      `WITH d AS (${del} RETURNING 1), c AS (SELECT count(*)::bigint AS n FROM d), u AS (
         INSERT INTO ${this.s}.log_counts (replica, count) SELECT ${replica}, -n FROM c WHERE n > 0
         ON CONFLICT (replica) DO UPDATE SET count = ${this.s}.log_counts.count + excluded.count
       ) SELECT n FROM c`,
      [...params, this.options.replicaId],
    );
    return rows[0]?.n ?? 0;
  }

  private write<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    return this.run<R>('write to', text, values);
  }

  /**
   * Detaches a day's partition (without blocking readers of the others), then drops it and
   * takes its rows off the count in one transaction; how many rows it held.
   */
  private async dropPartition(day: number): Promise<number> {
    const s = this.s;
    const table = `${s}.${quoteIdent(partitionName(day))}`;
    const client = await this.connect();
    try {
      if ((await client.query(`SELECT to_regclass($1) AS r`, [table])).rows[0].r === null) {
        this.partitions.delete(day);
        return 0;
      }
      await client.query(`SET statement_timeout = ${MAINTENANCE_TIMEOUT_MS}`);
      const link = (await client.query<{ pending: boolean }>(`SELECT inhdetachpending AS pending FROM pg_inherits WHERE inhrelid = $1::regclass`, [table])).rows[0];
      // A detach another replica (or a crash) left half done is finished rather than started again.
      const slow = (text: string): pg.QueryConfig => ({ text, query_timeout: MAINTENANCE_TIMEOUT_MS + 5000 }) as pg.QueryConfig;
      if (link?.pending) await client.query(slow(`ALTER TABLE ${s}.logs DETACH PARTITION ${table} FINALIZE`));
      else if (link) await client.query(slow(`ALTER TABLE ${s}.logs DETACH PARTITION ${table} CONCURRENTLY`));
      await client.query('BEGIN');
      const n = Number((await client.query<{ n: number }>(slow(`SELECT count(*)::bigint AS n FROM ${table}`))).rows[0]!.n);
      await client.query(`DROP TABLE ${table}`);
      if (n > 0) {
        await client.query(
          `INSERT INTO ${s}.log_counts (replica, count) VALUES ($1, $2) ON CONFLICT (replica) DO UPDATE SET count = ${s}.log_counts.count + excluded.count`,
          [this.options.replicaId, -n],
        );
      }
      await client.query('COMMIT');
      this.partitions.delete(day);
      return n;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw this.failure('delete from', e);
    } finally {
      // Back to the pool with the pool's statement timeout (the one the session started with).
      await client.query('RESET statement_timeout').catch(() => {});
      client.release();
    }
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (e) {
      throw this.failure('connect to', e);
    }
  }

  /**
   * One step: by age, the oldest partition whose whole day is older than `now - maxAgeMs`
   * (event time: partitions are days of event time) is dropped; by row count, when more than
   * `maxRows` are stored, the oldest by event time go: a whole partition when all its rows
   * are in excess, else at most `batchSize` rows.
   */
  async retentionStep(now: number): Promise<RetentionResult> {
    await this.loadPartitions().catch((e) => {
      throw this.failure('read from', e);
    });
    const { maxAgeMs, maxRows, batchSize } = this.options.retention;
    const result: RetentionResult = { deleted: 0, minId: 0, receivedBefore: 0 };
    // Minutes no window can reach again.
    const before = windowBounds(now, this.options.analyticsWindow).oldestMinute - 1;
    await this.write(`DELETE FROM ${this.s}.minutes WHERE minute < $1`, [before]);
    await this.write(`DELETE FROM ${this.s}.minute_users WHERE minute < $1`, [before]);
    await this.write(`DELETE FROM ${this.s}.pattern_minutes WHERE minute < $1`, [before]);
    const days = [...this.partitions].sort((a, b) => a - b);
    if (maxAgeMs > 0 && days.length > 0 && (days[0]! + 1) * PARTITION_MS <= now - maxAgeMs) {
      result.deleted = await this.dropPartition(days[0]!);
      return result;
    }
    if (maxRows > 0) {
      const excess = (await this.count()) - maxRows;
      if (excess <= 0) return result;
      if (days.length > 1) {
        const oldest = (await this.read<{ n: number }>(`SELECT count(*)::bigint AS n FROM ${this.s}.${quoteIdent(partitionName(days[0]!))}`))[0]!.n;
        if (oldest <= excess) {
          result.deleted = await this.dropPartition(days[0]!);
          return result;
        }
      }
      const take = Math.min(excess, batchSize);
      result.deleted = await this.deleteCounted(
        `DELETE FROM ${this.s}.logs WHERE (ts, id) IN (SELECT ts, id FROM ${this.s}.logs ORDER BY ts, id LIMIT $1)`,
        [take],
      );
    }
    return result;
  }

  /** Commits what is waiting and the runtime counters, then closes the pool. */
  async close(): Promise<void> {
    try {
      await this.scheduler.drain();
      await this.writeRuntimeCounters().catch(() => {});
      await this.stateWrites.catch(() => {});
    } finally {
      this.closed = true;
      if (this.leader) this.dropLeader(this.leader);
      const listener = this.listener;
      this.listener = undefined;
      await listener?.end().catch(() => {});
      await this.pool.end();
    }
  }

  async loadRuntimeCounters(): Promise<RuntimeCounters | undefined> {
    const rows = await this.read<{ value: RuntimeCounters }>(`SELECT value FROM ${this.s}.runtime WHERE replica = $1`, [this.options.replicaId]);
    if (rows[0] === undefined) return undefined;
    this.runtimeWritten = JSON.stringify(rows[0].value);
    return rows[0].value;
  }

  /** Written with every commit (in the same statement, when changed) and at close. */
  trackRuntimeCounters(source: () => RuntimeCounters): void {
    this.runtimeSource = source;
  }

  private async writeRuntimeCounters(): Promise<void> {
    if (this.runtimeSource === undefined) return;
    const text = JSON.stringify(this.runtimeSource());
    if (text === this.runtimeWritten) return;
    await this.write(
      `INSERT INTO ${this.s}.runtime (replica, value) VALUES ($1, $2::jsonb) ON CONFLICT (replica) DO UPDATE SET value = excluded.value`,
      [this.options.replicaId, text],
    );
    this.runtimeWritten = text;
  }

  async loadAlertState(): Promise<AlertStateSnapshot> {
    const s = this.s;
    const rows = await this.read<AlertRecord>(
      `SELECT fingerprint, fired_at AS "firedAt", rule, service, level, status, last_notified_at AS "lastNotifiedAt",
         resolved_at AS "resolvedAt", value, threshold, message, pattern_id AS "patternId" FROM ${s}.alerts ORDER BY coalesce(resolved_at, fired_at), fired_at, fingerprint`,
    );
    const silences = await this.read<{ fingerprint: string; until: number }>(`SELECT fingerprint, until FROM ${s}.silences`);
    const lastFiring = await this.read<{ fingerprint: string; at: number }>(
      `SELECT fingerprint, max(at) AS at FROM ${s}.alert_notifications WHERE status = 'firing' GROUP BY fingerprint`,
    );
    return snapshotOf(rows, silences, lastFiring);
  }

  /** Resolves once the alert-state writes made so far have landed or failed. */
  async settled(): Promise<void> {
    await this.stateWrites.catch(() => {});
  }

  /** Queued behind the writes before it: two changes of one alert land in the order made. */
  private stateWrite(statements: [string, unknown[]][]): Promise<void> {
    const next = this.stateWrites
      .catch(() => {})
      .then(async () => {
        for (const [text, values] of statements) await this.write(text, values);
      });
    this.stateWrites = next;
    return next;
  }

  saveAlert(r: AlertRecord, historySize: number): Promise<void> {
    const s = this.s;
    const upsert: [string, unknown[]] = [
      `INSERT INTO ${s}.alerts (fingerprint, fired_at, rule, service, level, status, last_notified_at, resolved_at, value, threshold, message, pattern_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
       ON CONFLICT (fingerprint, fired_at) DO UPDATE SET status = excluded.status, last_notified_at = excluded.last_notified_at,
         resolved_at = excluded.resolved_at, value = excluded.value, threshold = excluded.threshold, message = excluded.message`,
      [r.fingerprint, r.firedAt, r.rule, r.service, r.level, r.status, r.lastNotifiedAt, r.resolvedAt, r.value, r.threshold, r.message, r.patternId ?? null],
    ];
    if (r.status !== 'resolved') return this.stateWrite([upsert]);
    const trim: [string, unknown[]] = [
      `DELETE FROM ${s}.alerts WHERE status = 'resolved' AND (fingerprint, fired_at) NOT IN
         (SELECT fingerprint, fired_at FROM ${s}.alerts WHERE status = 'resolved' ORDER BY resolved_at DESC, fired_at DESC LIMIT $1)`,
      [historySize],
    ];
    return this.stateWrite([upsert, trim]);
  }

  saveNotification(n: NotificationRecord, retainMs: number): Promise<void> {
    const s = this.s;
    return this.stateWrite([
      [
        `WITH i AS (INSERT INTO ${s}.alert_notifications (fingerprint, status, at) VALUES ($1, $2, $3))
         DELETE FROM ${s}.alert_notifications WHERE at < $4`,
        [n.fingerprint, n.status, n.at, n.at - retainMs],
      ],
    ]);
  }

  saveSilence(fingerprint: string, until: number, now: number): Promise<void> {
    const s = this.s;
    return this.stateWrite([
      [
        `WITH d AS (DELETE FROM ${s}.silences WHERE until <= $3 AND fingerprint <> $1)
         INSERT INTO ${s}.silences (fingerprint, until) VALUES ($1, $2) ON CONFLICT (fingerprint) DO UPDATE SET until = excluded.until`,
        [fingerprint, until, now],
      ],
    ]);
  }

  /** For tests: the pool, to look at the tables directly. */
  get handle(): pg.Pool {
    return this.pool;
  }
}

/** What a commit's notification says: whose it is, and where its logs are (event-time bounds, id ranges). */
interface Announcement {
  replica: string;
  minTs: number;
  maxTs: number;
  ranges: [number, number][];
}

/** Runs of consecutive ids a notification may carry: well under NOTIFY's 8,000-byte payload limit. */
const RANGES_PER_NOTIFY = 150;

/** A total order of strings (by UTF-16 code units), the same in every replica and every commit. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The notifications announcing one commit: the replica, the event-time bounds and the runs of
 * consecutive ids (a replica's ids come in ranges, so a commit is one run or a few). Ranges
 * past RANGES_PER_NOTIFY go in further notifications.
 */
export function announcements(replica: string, ids: readonly number[], ts: readonly number[]): string[] {
  if (ids.length === 0) return [];
  let minTs = ts[0]!;
  let maxTs = ts[0]!;
  for (const t of ts) {
    if (t < minTs) minTs = t;
    if (t > maxTs) maxTs = t;
  }
  const sorted = [...ids].sort((x, y) => x - y);
  const ranges: [number, number][] = [];
  for (const id of sorted) {
    const last = ranges[ranges.length - 1];
    if (last !== undefined && id <= last[1] + 1) last[1] = Math.max(last[1], id);
    else ranges.push([id, id]);
  }
  const out: string[] = [];
  for (let i = 0; i < ranges.length; i += RANGES_PER_NOTIFY) {
    out.push(JSON.stringify({ r: replica, t: [minTs, maxTs], i: ranges.slice(i, i + RANGES_PER_NOTIFY) }));
  }
  return out;
}

function parseAnnouncement(payload: string): Announcement | undefined {
  try {
    const p = JSON.parse(payload) as { r: string; t: [number, number]; i: [number, number][] };
    if (typeof p.r !== 'string' || !Array.isArray(p.t) || !Array.isArray(p.i) || p.i.length === 0) return undefined;
    return { replica: p.r, minTs: p.t[0], maxTs: p.t[1], ranges: p.i };
  } catch {
    return undefined;
  }
}

/** The URL without its password, for logs and messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres (unparsable URL)';
  }
}
