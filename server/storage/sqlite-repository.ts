import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { LEVELS, StoredLog } from '../core/log.js';
import { addToPatternRow, patternRowOf, type DescribePattern, type PatternColumns, type PatternRow } from '../core/patterns/pattern-stats.js';
import { LogFilter, type ChunkSummary, type LogPage, type LogQuery } from '../core/log-filter.js';
import { FirstListed, pageOf, type Listed } from '../core/listing-order.js';
import { snapshotOf, type AlertRecord, type AlertStateSnapshot, type AlertStateStore, type NotificationRecord } from '../core/alerting/state.js';
import {
  StorageError,
  type CommitObserver,
  type CounterRow,
  type LogRepository,
  type RawBatch,
  type RetentionResult,
  type RuntimeCounters,
} from '../core/repository.js';
import { applyPatternIds, decodeChunk, encodeChunk, type Chunk } from './chunk-codec.js';
import { CommitScheduler } from './commit-scheduler.js';

export const SCHEMA_VERSION = 6;

export interface SqliteOptions {
  path: string;
  /** normal: a commit survives a process crash; full: also a power loss (an fsync per commit). */
  synchronous: 'normal' | 'full';
  /** How long a commit may wait to gather more rows (0: none; see commit-scheduler.ts). */
  commitIntervalMs: number;
  /** A commit starts at once when this many rows are waiting. */
  commitMaxRows: number;
  retention: { maxAgeMs: number; maxRows: number; batchSize: number };
  /** Maps a service name to the key its counters are kept under (the cardinality cap). */
  counterKey: (service: string) => string;
}

/**
 * One row per accepted batch (see chunk-codec.ts for the body formats). The other columns
 * describe the logs in the body, so a scan can pass over a chunk that cannot match without
 * reading its body. Id ranges of chunks never overlap.
 */
const CHUNKS_DDL = `CREATE TABLE chunks (
     first_id INTEGER PRIMARY KEY,
     last_id INTEGER NOT NULL,
     count INTEGER NOT NULL,
     min_ts INTEGER NOT NULL,
     max_ts INTEGER NOT NULL,
     min_received INTEGER NOT NULL,
     max_received INTEGER NOT NULL,
     levels INTEGER NOT NULL,
     services TEXT NOT NULL,
     format INTEGER NOT NULL,
     body BLOB NOT NULL
   );`;

/** Version 2's conversion writes chunks before they had pattern ids. */
const INSERT_CHUNK_V3 = `INSERT INTO chunks (first_id, last_id, count, min_ts, max_ts, min_received, max_received, levels, services, format, body)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

const INSERT_CHUNK = `INSERT INTO chunks (first_id, last_id, count, min_ts, max_ts, min_received, max_received, levels, services, format, body, pattern_ids)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

function insertChunk(stmt: Database.Statement, c: Chunk): void {
  stmt.run(c.firstId, c.lastId, c.count, c.minTs, c.maxTs, c.minReceived, c.maxReceived, c.levels, c.services, c.format, c.body, c.patternIds);
}

/**
 * Message patterns (core/patterns/): each chunk's logs' pattern ids (chunk-codec.ts,
 * encodePatternIds), each pattern's all-time figures (added to by the commit that stores its
 * logs), and the pattern a new_pattern alert is about.
 */
const PATTERNS_DDL = `ALTER TABLE chunks ADD COLUMN pattern_ids BLOB;
   ALTER TABLE alerts ADD COLUMN pattern_id INTEGER;
   CREATE TABLE patterns (
     id INTEGER PRIMARY KEY,
     service TEXT NOT NULL,
     template TEXT NOT NULL,
     first_seen INTEGER NOT NULL,
     last_seen INTEGER NOT NULL,
     sample TEXT NOT NULL,
     debug INTEGER NOT NULL,
     info INTEGER NOT NULL,
     warning INTEGER NOT NULL,
     error INTEGER NOT NULL,
     critical INTEGER NOT NULL
   );`;

/**
 * What the alert engine and the core keep across restarts (core/alerting/state.ts,
 * RuntimeCounters in core/repository.ts). `alerts` holds one row per episode: those still
 * firing, and the most recent resolved ones (the history). `alert_notifications` is the
 * notification log the cooldowns are measured from.
 */
const STATE_DDL = `CREATE TABLE alerts (
     fingerprint TEXT NOT NULL,
     fired_at INTEGER NOT NULL,
     rule TEXT NOT NULL,
     service TEXT NOT NULL,
     level TEXT NOT NULL,
     status TEXT NOT NULL,
     last_notified_at INTEGER,
     resolved_at INTEGER,
     value REAL NOT NULL,
     threshold REAL NOT NULL,
     message TEXT NOT NULL,
     PRIMARY KEY (fingerprint, fired_at)
   );
   CREATE TABLE alert_notifications (
     id INTEGER PRIMARY KEY,
     fingerprint TEXT NOT NULL,
     status TEXT NOT NULL,
     at INTEGER NOT NULL
   );
   CREATE INDEX alert_notifications_at ON alert_notifications (at);
   CREATE TABLE silences (fingerprint TEXT PRIMARY KEY, until INTEGER NOT NULL) WITHOUT ROWID;
   CREATE TABLE runtime (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;`;

/**
 * Chunks by their newest event time, for listings in time order (core/listing-order.ts),
 * and `max_span`, the widest event-time range any chunk was written with (a bound: it never
 * shrinks), which tells a listing where in this index a cursor's logs can start.
 */
const TIME_INDEX_DDL = `CREATE INDEX chunks_max_ts ON chunks (max_ts);
   INSERT INTO meta (key, value) SELECT 'max_span', coalesce(max(max_ts - min_ts), 0) FROM chunks;`;

/** A new file gets the current schema at once. */
const FRESH = `${CHUNKS_DDL}
   ${STATE_DDL}
   CREATE TABLE counters (
     service TEXT NOT NULL,
     level INTEGER NOT NULL,
     count INTEGER NOT NULL,
     last_ts INTEGER NOT NULL,
     last_received INTEGER NOT NULL,
     PRIMARY KEY (service, level)
   ) WITHOUT ROWID;
   CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
   INSERT INTO meta (key, value) VALUES ('last_id', 0), ('log_count', 0);
   ${TIME_INDEX_DDL}
   ${PATTERNS_DDL}`;

/** Logs per chunk when version 2's rows are converted. */
const MIGRATION_CHUNK = 1000;

/** An older file is upgraded one version at a time: MIGRATIONS[v] takes it from v to v + 1. */
const MIGRATIONS: Readonly<Record<number, (db: Database.Database) => void>> = {
  // Ids must never be reused, even once every row that had them is deleted.
  1: (db) =>
    db.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
     INSERT INTO meta (key, value) SELECT 'last_id', coalesce(max(id), 0) FROM logs;`),
  2: rowsToChunks,
  3: (db) => db.exec(STATE_DDL),
  4: (db) => db.exec(TIME_INDEX_DDL),
  5: (db) => db.exec(PATTERNS_DDL),
};

interface V2Row {
  id: number;
  ts: number;
  timestamp: string;
  level: number;
  service: string;
  message: string;
  user_id: string | null;
  metadata: string | null;
  received_at: number;
}

/** Version 2 kept one row per log in `logs`; version 3 keeps them in chunks of up to MIGRATION_CHUNK consecutive ids. */
function rowsToChunks(db: Database.Database): void {
  db.exec(CHUNKS_DDL);
  const page = db.prepare('SELECT * FROM logs WHERE id > ? ORDER BY id LIMIT ?');
  const insert = db.prepare(INSERT_CHUNK_V3);
  let after = 0;
  let total = 0;
  for (;;) {
    const rows = page.all(after, MIGRATION_CHUNK) as V2Row[];
    if (rows.length === 0) break;
    const logs = rows.map(
      (r) =>
        new StoredLog(
          r.id,
          r.ts,
          r.timestamp,
          LEVELS[r.level]!,
          r.service,
          r.message,
          r.user_id ?? undefined,
          r.metadata === null ? undefined : (JSON.parse(r.metadata) as Record<string, unknown>),
          r.received_at,
        ),
    );
    const c = encodeChunk(logs).chunk;
    insert.run(c.firstId, c.lastId, c.count, c.minTs, c.maxTs, c.minReceived, c.maxReceived, c.levels, c.services, c.format, c.body);
    total += rows.length;
    after = rows[rows.length - 1]!.id;
  }
  db.prepare("UPDATE meta SET value = max(value, ?) WHERE key = 'last_id'").run(after);
  db.prepare("INSERT INTO meta (key, value) VALUES ('log_count', ?)").run(total);
  db.exec('DROP TABLE logs');
}

/** Opens (creating folder and file if needed) and migrates; any failure names the path and the reason. */
function open(path: string, synchronous: 'normal' | 'full'): Database.Database {
  let db: Database.Database | undefined;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    db = new Database(path);
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new Error(`its schema version ${version} is newer than this server's ${SCHEMA_VERSION}; run a newer server or point storage.persistence.path at another file`);
    }
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('busy_timeout = 5000');
    const d = db;
    if (version === 0) {
      d.transaction(() => {
        d.exec(FRESH);
        d.pragma(`user_version = ${SCHEMA_VERSION}`);
      })();
    }
    for (let v = version; v > 0 && v < SCHEMA_VERSION; v++) {
      d.transaction(() => {
        MIGRATIONS[v]!(d);
        d.pragma(`user_version = ${v + 1}`);
      })();
    }
    db.prepare('SELECT first_id FROM chunks LIMIT 1').get();
    return db;
  } catch (e) {
    db?.close();
    throw new StorageError(`cannot open the log database ${path}: ${(e as Error).message}`);
  }
}

interface Pending {
  logs: readonly StoredLog[];
  raw: RawBatch | undefined;
}

/** The columns of a chunk row beside its body: the summary a filter judges the chunk by, and where its logs are. */
interface Header extends ChunkSummary {
  firstId: number;
  count: number;
  format: number;
}

const HEADER = `first_id AS firstId, last_id AS lastId, count, min_ts AS minTs, max_ts AS maxTs, min_received AS minReceived,
  max_received AS maxReceived, levels, services, format`;
const MAX = Number.MAX_SAFE_INTEGER;
const MIN = Number.MIN_SAFE_INTEGER;
/** Logs a listing reads between turns of the event loop (`listed`): a few milliseconds of decoding. */
const LOGS_A_TURN = 8192;

/**
 * SQLite through better-sqlite3, in WAL mode. Each accepted batch is one row of `chunks`,
 * its body the request's own bytes when ingest passes them (see chunk-codec.ts). Concurrent
 * appends are grouped: they wait a few milliseconds (or until enough rows are waiting) and
 * share one transaction, so durability costs one commit per group rather than per request.
 */
export class SqliteRepository implements LogRepository, AlertStateStore {
  readonly description: string;
  readonly engine = 'sqlite';
  /** The alert state is kept in the same file as the logs it was computed from. */
  readonly alerts: AlertStateStore = this;
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly bumpCounter: Database.Statement;
  private readonly setLastId: Database.Statement;
  private readonly addCount: Database.Statement;
  private readonly getCount: Database.Statement;
  private readonly getLastId: Database.Statement;
  private readonly getMinId: Database.Statement;
  private readonly selectCounters: Database.Statement;
  private readonly headersDesc: Database.Statement;
  private readonly headersByTime: Database.Statement;
  private readonly headerAt: Database.Statement;
  private readonly maxTsBelowId: Database.Statement;
  private readonly setMaxSpan: Database.Statement;
  /** meta `max_span`: the widest event-time range of any chunk written. */
  private maxSpan: number;
  private readonly headersAsc: Database.Statement;
  private readonly headersSince: Database.Statement;
  private readonly selectBody: Database.Statement;
  private readonly upsertPattern: Database.Statement;
  private readonly selectPatterns: Database.Statement;
  /** The service and template of a pattern, for the rows commits write (LogRepository.describePatterns). */
  private describe: DescribePattern | undefined;
  /** Deletions so far (`removed`): a listing that gave the event loop a turn starts over if this moved. */
  private removals = 0;
  private readonly deleteChunk: Database.Statement;
  private readonly countTsBefore: Database.Statement;
  private readonly deleteTsBefore: Database.Statement;
  private readonly straddleTs: Database.Statement;
  private readonly commitGroup: (group: readonly Pending[]) => void;
  private readonly deleteBeforeTx: (ts: number, service: string | undefined) => number;
  private readonly retentionTx: (now: number) => RetentionResult;
  private readonly scheduler: CommitScheduler<Pending>;
  private readonly state: {
    upsertAlert: Database.Statement;
    trimHistory: Database.Statement;
    insertNotification: Database.Statement;
    trimNotifications: Database.Statement;
    upsertSilence: Database.Statement;
    dropSilences: Database.Statement;
    setRuntime: Database.Statement;
    getRuntime: Database.Statement;
  };
  private runtimeSource: (() => RuntimeCounters) | undefined;
  /** The runtime counters as last written, so an unchanged value is not written again. */
  private runtimeWritten = '';

  constructor(private readonly options: SqliteOptions) {
    this.description = `sqlite ${options.path}`;
    const db = (this.db = open(options.path, options.synchronous));
    this.insert = db.prepare(INSERT_CHUNK);
    this.bumpCounter = db.prepare(
      `INSERT INTO counters (service, level, count, last_ts, last_received) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (service, level) DO UPDATE SET count = count + excluded.count,
         last_ts = max(last_ts, excluded.last_ts), last_received = max(last_received, excluded.last_received)`,
    );
    this.setLastId = db.prepare("UPDATE meta SET value = max(value, ?) WHERE key = 'last_id'");
    this.addCount = db.prepare("UPDATE meta SET value = value + ? WHERE key = 'log_count'");
    this.getCount = db.prepare("SELECT value FROM meta WHERE key = 'log_count'").pluck();
    this.getLastId = db
      .prepare("SELECT max(value, coalesce((SELECT last_id FROM chunks ORDER BY first_id DESC LIMIT 1), 0)) FROM meta WHERE key = 'last_id'")
      .pluck();
    this.getMinId = db.prepare('SELECT coalesce((SELECT first_id FROM chunks ORDER BY first_id LIMIT 1), 0)').pluck();
    this.selectCounters = db.prepare('SELECT service, level, count, last_ts AS lastTs, last_received AS lastReceived FROM counters');
    // Newest first by id below a cursor: the newest logs, to refill the buffer at start.
    this.headersDesc = db.prepare(`SELECT ${HEADER} FROM chunks WHERE first_id < ? ORDER BY first_id DESC LIMIT ?`);
    // By newest event time below a key (chunks_max_ts), only chunks whose ranges and levels meet the query's.
    this.headersByTime = db.prepare(
      `SELECT ${HEADER} FROM chunks WHERE (max_ts, first_id) < (?, ?) AND max_ts >= ? AND min_ts <= ? AND first_id < ?
       AND max_received >= ? AND min_received <= ? AND (levels & ?) != 0 ORDER BY max_ts DESC, first_id DESC LIMIT ?`,
    );
    this.headerAt = db.prepare(`SELECT ${HEADER} FROM chunks WHERE first_id <= ? ORDER BY first_id DESC LIMIT 1`);
    this.maxTsBelowId = db.prepare('SELECT max_ts FROM chunks WHERE first_id < ? ORDER BY max_ts DESC LIMIT 1').pluck();
    this.setMaxSpan = db.prepare("UPDATE meta SET value = max(value, ?) WHERE key = 'max_span'");
    this.maxSpan = db.prepare("SELECT value FROM meta WHERE key = 'max_span'").pluck().get() as number;
    this.headersAsc = db.prepare(`SELECT ${HEADER} FROM chunks WHERE first_id > ? AND min_received < ? ORDER BY first_id LIMIT ?`);
    this.headersSince = db.prepare(`SELECT ${HEADER} FROM chunks WHERE first_id > ? AND max_ts >= ? ORDER BY first_id LIMIT ?`);
    this.selectBody = db.prepare('SELECT body, pattern_ids AS patternIds FROM chunks WHERE first_id = ?');
    this.upsertPattern = db.prepare(
      `INSERT INTO patterns (id, service, template, first_seen, last_seen, sample, debug, info, warning, error, critical)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET template = excluded.template, first_seen = min(first_seen, excluded.first_seen),
         sample = CASE WHEN excluded.last_seen >= last_seen THEN excluded.sample ELSE sample END, last_seen = max(last_seen, excluded.last_seen),
         debug = debug + excluded.debug, info = info + excluded.info, warning = warning + excluded.warning,
         error = error + excluded.error, critical = critical + excluded.critical`,
    );
    this.selectPatterns = db.prepare(
      `SELECT id, service, template, first_seen AS firstSeen, last_seen AS lastSeen, sample, debug, info, warning, error, critical FROM patterns ORDER BY id`,
    );
    this.deleteChunk = db.prepare('DELETE FROM chunks WHERE first_id = ?');
    this.countTsBefore = db.prepare('SELECT coalesce(sum(count), 0) FROM chunks WHERE max_ts < ?').pluck();
    this.deleteTsBefore = db.prepare('DELETE FROM chunks WHERE max_ts < ?');
    this.straddleTs = db.prepare(`SELECT ${HEADER} FROM chunks WHERE min_ts < ?`);

    this.state = {
      upsertAlert: db.prepare(
        `INSERT INTO alerts (fingerprint, fired_at, rule, service, level, status, last_notified_at, resolved_at, value, threshold, message, pattern_id)
         VALUES (@fingerprint, @firedAt, @rule, @service, @level, @status, @lastNotifiedAt, @resolvedAt, @value, @threshold, @message, @patternId)
         ON CONFLICT (fingerprint, fired_at) DO UPDATE SET status = excluded.status, last_notified_at = excluded.last_notified_at,
           resolved_at = excluded.resolved_at, value = excluded.value, threshold = excluded.threshold, message = excluded.message`,
      ),
      trimHistory: db.prepare(
        `DELETE FROM alerts WHERE status = 'resolved' AND rowid NOT IN
           (SELECT rowid FROM alerts WHERE status = 'resolved' ORDER BY resolved_at DESC, rowid DESC LIMIT ?)`,
      ),
      insertNotification: db.prepare('INSERT INTO alert_notifications (fingerprint, status, at) VALUES (?, ?, ?)'),
      trimNotifications: db.prepare('DELETE FROM alert_notifications WHERE at < ?'),
      upsertSilence: db.prepare('INSERT INTO silences (fingerprint, until) VALUES (?, ?) ON CONFLICT (fingerprint) DO UPDATE SET until = excluded.until'),
      dropSilences: db.prepare('DELETE FROM silences WHERE until <= ?'),
      setRuntime: db.prepare("INSERT INTO runtime (key, value) VALUES ('counters', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
      getRuntime: db.prepare("SELECT value FROM runtime WHERE key = 'counters'").pluck(),
    };

    this.commitGroup = db.transaction((group: readonly Pending[]) => {
      const counters = new Map<string, CounterRow>();
      if (this.describe !== undefined) this.addToPatterns(group, this.describe);
      let lastId = 0;
      let total = 0;
      let span = 0;
      for (const { logs, raw } of group) {
        if (logs.length === 0) continue;
        const { chunk, tally } = encodeChunk(logs, raw);
        insertChunk(this.insert, chunk);
        if (chunk.maxTs - chunk.minTs > span) span = chunk.maxTs - chunk.minTs;
        total += chunk.count;
        if (chunk.lastId > lastId) lastId = chunk.lastId;
        for (const [name, perLevel] of tally) {
          const service = options.counterKey(name);
          for (let level = 0; level < perLevel.length; level++) {
            const t = perLevel[level];
            if (t === undefined) continue;
            const key = `${level}\u0000${service}`;
            const c = counters.get(key);
            if (c === undefined) counters.set(key, { service, level, count: t.count, lastTs: t.lastTs, lastReceived: t.lastReceived });
            else {
              c.count += t.count;
              if (t.lastTs > c.lastTs) c.lastTs = t.lastTs;
              if (t.lastReceived > c.lastReceived) c.lastReceived = t.lastReceived;
            }
          }
        }
      }
      for (const c of counters.values()) this.bumpCounter.run(c.service, c.level, c.count, c.lastTs, c.lastReceived);
      if (total > 0) {
        this.setLastId.run(lastId);
        this.addCount.run(total);
      }
      if (span > this.maxSpan) {
        this.setMaxSpan.run(span);
        this.maxSpan = span;
      }
      this.writeRuntimeCounters();
    });

    this.deleteBeforeTx = db.transaction((ts: number, service: string | undefined) => {
      let deleted = 0;
      const gone = (l: StoredLog): boolean => l.ts < ts && (service === undefined || l.service === service);
      if (service === undefined) {
        deleted = this.countTsBefore.get(ts) as number;
        this.deleteTsBefore.run(ts);
      }
      // A chunk left with an older log (of that service) also holds logs to keep: rewrite it with those.
      const needle = service === undefined ? undefined : JSON.stringify(service);
      for (const h of this.straddleTs.all(ts) as Header[]) {
        if (needle !== undefined && !h.services.includes(needle)) continue;
        const logs = this.decode(h);
        const kept = logs.filter((l) => !gone(l));
        if (kept.length === logs.length) continue;
        deleted += logs.length - kept.length;
        this.replace(h, kept);
      }
      this.removed(deleted);
      return deleted;
    });

    this.retentionTx = db.transaction((now: number) => {
      this.writeRuntimeCounters();
      return this.retention(now);
    });
    this.scheduler = new CommitScheduler<Pending>((group) => this.commitNow(group), (p) => p.logs.length, {
      maxRows: options.commitMaxRows,
      gatherMs: options.commitIntervalMs,
      // better-sqlite3 commits synchronously: one at a time.
      maxInFlight: 1,
    });
  }

  append(logs: readonly StoredLog[], raw?: RawBatch): Promise<void> {
    return this.scheduler.submit({ logs, raw });
  }

  /** Tells `observer` (none: nobody) about every commit from now on: GET /metrics times them. */
  observeCommits(observer: CommitObserver | undefined): void {
    this.scheduler.observe(observer);
  }

  /** Commits a group in one transaction (synchronously: better-sqlite3 is); every waiter learns the outcome. */
  private commitNow(group: readonly Pending[]): void {
    try {
      this.commitGroup(group);
    } catch (e) {
      throw new StorageError(`cannot write to the log database ${this.options.path}: ${(e as Error).message}`, (e as Error).message);
    }
  }

  /** Adds the group's logs to their patterns' all-time figures, one row write per pattern. */
  private addToPatterns(group: readonly Pending[], describe: DescribePattern): void {
    const figures = new Map<number, PatternRow>();
    for (const { logs } of group) for (const l of logs) addToPatternRow(figures, l, describe);
    for (const f of figures.values()) this.upsertPattern.run(f.id, f.service, f.template, f.firstSeen, f.lastSeen, f.sample, ...f.levels);
  }

  async loadPatterns(): Promise<PatternRow[]> {
    return (this.selectPatterns.all() as PatternColumns[]).map(patternRowOf);
  }

  describePatterns(describe: DescribePattern): void {
    this.describe = describe;
  }

  /** The logs of a chunk, ascending by id, with their pattern ids; none if the row is gone. */
  private decode(h: Header): StoredLog[] {
    const row = this.selectBody.get(h.firstId) as { body: Buffer; patternIds: Buffer | null } | undefined;
    if (row === undefined) return [];
    const logs = decodeChunk(h.format, row.body, h.firstId, h.minReceived, h.count);
    applyPatternIds(logs, row.patternIds);
    return logs;
  }

  /** Takes `n` deleted logs off the count; any deletion bumps `removals`, which a listing under way checks (`listed`). */
  private removed(n: number): void {
    if (n === 0) return;
    this.addCount.run(-n);
    this.removals++;
  }

  /** Replaces a chunk by one holding `kept` (a subset of its logs), or by nothing. */
  private replace(h: Header, kept: readonly StoredLog[]): void {
    this.deleteChunk.run(h.firstId);
    if (kept.length > 0) insertChunk(this.insert, encodeChunk(kept).chunk);
  }

  /** Chunk rows newest first by id; read a page at a time. */
  private *scanDesc(): Generator<Header> {
    let cursor = MAX;
    let size = 16;
    for (;;) {
      const page = this.headersDesc.all(cursor, size) as Header[];
      for (const h of page) yield h;
      if (page.length < size) return;
      cursor = page[page.length - 1]!.firstId;
      size = Math.min(size * 4, 1024);
    }
  }

  /**
   * Chunk rows by their newest event time, newest first, that can hold a log of `f` at or
   * before `hiTs` with an id below `idBelow`; read a page at a time. A chunk whose newest
   * event time is past `hiTs + max_span` holds nothing at or before `hiTs`, so the walk
   * starts there.
   */
  private *scanByTime(f: LogFilter, hiTs: number, idBelow: number): Generator<Header> {
    let keyTs = Math.min(hiTs + this.maxSpan, MAX);
    let keyId = MAX;
    let size = 16;
    for (;;) {
      const page = this.headersByTime.all(keyTs, keyId, f.from, hiTs, idBelow, f.receivedFrom, f.receivedTo, f.levelMask, size) as Header[];
      for (const h of page) yield h;
      if (page.length < size) return;
      const last = page[page.length - 1]!;
      keyTs = last.maxTs;
      keyId = last.firstId;
      size = Math.min(size * 4, 1024);
    }
  }

  /**
   * The first `k` in listing order, visiting chunks by their newest event time: once `k` are
   * kept and the next chunk's newest is older than the last kept, nothing left can be listed
   * before them. A text or user search reads a chunk's bytes before decoding them.
   *
   * When event times are spread so that every chunk may hold a later one, that is every chunk
   * in the file: the scan gives the event loop a turn every LOGS_A_TURN logs read, so one
   * listing (a page of GET /api/logs, an alert's samples) never holds ingestion up for seconds.
   * Logs deleted meanwhile could show a rewritten chunk twice: then the scan starts over and
   * runs to its end without turns. New chunks need no care: their ids are above `idBelow`, or
   * (no bound) they are logs the listing may include.
   */
  async listed(q: LogQuery, k: number): Promise<Listed[]> {
    return (await this.scanListed(q, k, true)) ?? (await this.scanListed(q, k, false))!;
  }

  /** `listed`'s scan; with `turns`, undefined when logs were deleted during one of its turns. */
  private async scanListed(q: LogQuery, k: number, turns: boolean): Promise<Listed[] | undefined> {
    const filter = new LogFilter(q);
    const top = new FirstListed<StoredLog>(k);
    const cursorTs = q.before?.ts ?? MAX;
    const cursorId = q.before?.id ?? MAX;
    const hiTs = Math.min(cursorTs, filter.to);
    const idBelow = Math.min(q.idBelow ?? MAX, MAX);
    const removals = this.removals;
    let read = 0;
    for (const h of this.scanByTime(filter, hiTs, idBelow)) {
      if (top.full && top.floorTs > Math.min(h.maxTs, hiTs)) break;
      if (!filter.chunkMayMatch(h)) continue;
      read += h.count;
      if (turns && read >= LOGS_A_TURN) {
        read = 0;
        await nextTurn();
        if (this.removals !== removals) return undefined;
      }
      let held: StoredLog[];
      if (filter.readsText) {
        const row = this.selectBody.get(h.firstId) as { body: Buffer; patternIds: Buffer | null };
        const text = row.body.toString('utf8');
        if (!filter.bodyMayMatch(text)) continue;
        held = decodeChunk(h.format, text, h.firstId, h.minReceived, h.count);
        applyPatternIds(held, row.patternIds);
      } else held = this.decode(h);
      for (const log of held) {
        const { ts, id } = log;
        if (id >= idBelow || ts > hiTs || (ts === cursorTs && id >= cursorId) || !top.admits(ts, id) || !filter.matches(log)) continue;
        top.offer(ts, id, log);
      }
    }
    return top.sorted().map(({ ts, id, item }) => ({ ts, id, log: () => item }));
  }

  /** A page in listing order from this tier alone. */
  async query(q: LogQuery): Promise<LogPage> {
    return pageOf(await this.listed(q, (q.offset ?? 0) + q.limit + 1), q.offset ?? 0, q.limit);
  }

  async timeOf(id: number): Promise<number | undefined> {
    const h = this.headerAt.get(id) as Header | undefined;
    if (h === undefined || h.lastId < id) return undefined;
    return this.decode(h).find((l) => l.id === id)?.ts;
  }

  async maxTsBelow(id: number): Promise<number> {
    return (this.maxTsBelowId.get(Math.min(id, MAX)) as number | undefined) ?? -Infinity;
  }

  async recent(n: number): Promise<StoredLog[]> {
    const parts: StoredLog[][] = [];
    let have = 0;
    if (n > 0) {
      for (const h of this.scanDesc()) {
        parts.push(this.decode(h));
        have += h.count;
        if (have >= n) break;
      }
    }
    const out: StoredLog[] = [];
    let skip = Math.max(0, have - n);
    for (let p = parts.length - 1; p >= 0; p--) {
      for (const log of parts[p]!) {
        if (skip > 0) skip--;
        else out.push(log);
      }
    }
    return out;
  }

  async *since(ts: number): AsyncIterable<readonly StoredLog[]> {
    let cursor = MIN;
    const size = 256;
    for (;;) {
      const page = this.headersSince.all(cursor, ts, size) as Header[];
      const logs: StoredLog[] = [];
      for (const h of page) {
        for (const log of this.decode(h)) if (log.ts >= ts) logs.push(log);
      }
      if (logs.length > 0) yield logs;
      if (page.length < size) return;
      cursor = page[page.length - 1]!.firstId;
    }
  }

  async counters(): Promise<CounterRow[]> {
    return (this.selectCounters.all() as CounterRow[]).sort((a, b) => a.lastReceived - b.lastReceived);
  }

  async lastAssignedId(): Promise<number> {
    return this.getLastId.get() as number;
  }

  async minId(): Promise<number> {
    return this.getMinId.get() as number;
  }

  /** Kept in `meta` by every write, so it costs one lookup however many chunks there are. */
  async count(): Promise<number> {
    return this.countNow();
  }

  private countNow(): number {
    return this.getCount.get() as number;
  }

  async deleteBefore(ts: number, service?: string): Promise<number> {
    return this.deleteBeforeTx(ts, service);
  }

  async retentionStep(now: number): Promise<RetentionResult> {
    return this.retentionTx(now);
  }

  /**
   * One step, in one transaction: first the oldest (by id) logs received before
   * `now - maxAgeMs`, then the oldest logs beyond `maxRows`; never more than `batchSize`
   * logs in all. Whole chunks go by their rows; a chunk the bound cuts through is rewritten
   * with the logs it keeps.
   */
  private retention(now: number): RetentionResult {
    const { maxAgeMs, maxRows, batchSize } = this.options.retention;
    const result: RetentionResult = { deleted: 0, minId: 0, receivedBefore: 0 };
    if (maxAgeMs > 0) {
      const cutoff = (result.receivedBefore = now - maxAgeMs);
      let budget = batchSize;
      let cursor = MIN;
      scan: while (budget > 0) {
        const page = this.headersAsc.all(cursor, cutoff, 64) as Header[];
        for (const h of page) {
          if (budget === 0) break scan;
          if (h.maxReceived < cutoff && h.count <= budget) {
            this.deleteChunk.run(h.firstId);
            budget -= h.count;
          } else {
            const kept: StoredLog[] = [];
            for (const log of this.decode(h)) {
              if (log.receivedAt < cutoff && budget > 0) budget--;
              else kept.push(log);
            }
            this.replace(h, kept);
          }
          // A rewritten chunk starts above its old first_id: the cursor passes it.
          cursor = h.lastId;
        }
        if (page.length < 64) break;
      }
      result.deleted = batchSize - budget;
      this.removed(result.deleted);
    }
    if (maxRows > 0 && result.deleted < batchSize) {
      const excess = this.countNow() - maxRows;
      if (excess > 0) {
        let take = Math.min(excess, batchSize - result.deleted);
        const taken = take;
        let cut = 0;
        let cursor = MIN;
        scan: while (take > 0) {
          const page = this.headersAsc.all(cursor, MAX, 64) as Header[];
          for (const h of page) {
            if (take === 0) break scan;
            if (h.count <= take) {
              this.deleteChunk.run(h.firstId);
              take -= h.count;
              cut = h.lastId;
            } else {
              const logs = this.decode(h);
              cut = logs[take - 1]!.id;
              this.replace(h, logs.slice(take));
              take = 0;
            }
            cursor = h.lastId;
          }
          if (page.length < 64) break;
        }
        const gone = taken - take;
        this.removed(gone);
        result.deleted += gone;
        result.minId = cut + 1;
      }
    }
    return result;
  }

  /** Commits what is waiting and the runtime counters, then closes the file. */
  async close(): Promise<void> {
    await this.scheduler.drain();
    try {
      this.writeRuntimeCounters();
    } finally {
      this.db.close();
    }
  }

  async loadRuntimeCounters(): Promise<RuntimeCounters | undefined> {
    const text = this.state.getRuntime.get() as string | undefined;
    if (text === undefined) return undefined;
    this.runtimeWritten = text;
    return JSON.parse(text) as RuntimeCounters;
  }

  /** Written with every commit, every retention step and at close: a crash loses at most what changed since. */
  trackRuntimeCounters(source: () => RuntimeCounters): void {
    this.runtimeSource = source;
  }

  private writeRuntimeCounters(): void {
    if (this.runtimeSource === undefined) return;
    const text = JSON.stringify(this.runtimeSource());
    if (text === this.runtimeWritten) return;
    this.state.setRuntime.run(text);
    this.runtimeWritten = text;
  }

  async loadAlertState(): Promise<AlertStateSnapshot> {
    const rows = this.db
      .prepare(
        `SELECT fingerprint, fired_at AS firedAt, rule, service, level, status, last_notified_at AS lastNotifiedAt,
           resolved_at AS resolvedAt, value, threshold, message, pattern_id AS patternId FROM alerts ORDER BY coalesce(resolved_at, fired_at), rowid`,
      )
      .all() as AlertRecord[];
    const silences = this.db.prepare('SELECT fingerprint, until FROM silences').all() as { fingerprint: string; until: number }[];
    const lastFiring = this.db
      .prepare("SELECT fingerprint, max(at) AS at FROM alert_notifications WHERE status = 'firing' GROUP BY fingerprint")
      .all() as { fingerprint: string; at: number }[];
    return snapshotOf(rows, silences, lastFiring);
  }

  saveAlert(record: AlertRecord, historySize: number): void {
    this.state.upsertAlert.run({ ...record, patternId: record.patternId ?? null });
    if (record.status === 'resolved') this.state.trimHistory.run(historySize);
  }

  saveNotification(n: NotificationRecord, retainMs: number): void {
    this.state.insertNotification.run(n.fingerprint, n.status, n.at);
    this.state.trimNotifications.run(n.at - retainMs);
  }

  saveSilence(fingerprint: string, until: number, now: number): void {
    this.state.dropSilences.run(now);
    this.state.upsertSilence.run(fingerprint, until);
  }

  /** For tests: the live handle, to provoke failures SQLite itself reports (a full disk). */
  get handle(): Database.Database {
    return this.db;
  }
}
