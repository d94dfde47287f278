import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { LEVELS, StoredLog, levelIndex } from '../core/log.js';
import { textMatcher, type LogPage, type LogQuery } from '../core/log-store.js';
import { StorageError, type CounterRow, type LogRepository, type RetentionResult } from './log-repository.js';

export const SCHEMA_VERSION = 2;

export interface SqliteOptions {
  path: string;
  /** normal: a commit survives a process crash; full: also a power loss (an fsync per commit). */
  synchronous: 'normal' | 'full';
  /** How long a commit waits to gather more rows from concurrent requests. */
  commitIntervalMs: number;
  /** A commit starts at once when this many rows are waiting. */
  commitMaxRows: number;
  retention: { maxAgeMs: number; maxRows: number; batchSize: number };
  /** Maps a service name to the key its counters are kept under (the cardinality cap). */
  counterKey: (service: string) => string;
}

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE logs (
     id INTEGER PRIMARY KEY,
     ts INTEGER NOT NULL,
     timestamp TEXT NOT NULL,
     level INTEGER NOT NULL,
     service TEXT NOT NULL,
     message TEXT NOT NULL,
     user_id TEXT,
     metadata TEXT,
     received_at INTEGER NOT NULL
   );
   CREATE INDEX logs_ts ON logs (ts);
   CREATE INDEX logs_service ON logs (service, id);
   CREATE INDEX logs_level ON logs (level, id);
   CREATE INDEX logs_received ON logs (received_at);
   CREATE TABLE counters (
     service TEXT NOT NULL,
     level INTEGER NOT NULL,
     count INTEGER NOT NULL,
     last_ts INTEGER NOT NULL,
     last_received INTEGER NOT NULL,
     PRIMARY KEY (service, level)
   ) WITHOUT ROWID;`,
  // Ids must never be reused, even once every row that had them is deleted.
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
   INSERT INTO meta (key, value) SELECT 'last_id', coalesce(max(id), 0) FROM logs;`,
];

interface Row {
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

function toLog(r: Row): StoredLog {
  return new StoredLog(
    r.id,
    r.ts,
    r.timestamp,
    LEVELS[r.level]!,
    r.service,
    r.message,
    r.user_id ?? undefined,
    r.metadata === null ? undefined : (JSON.parse(r.metadata) as Record<string, unknown>),
    r.received_at,
  );
}

interface Pending {
  logs: readonly StoredLog[];
  resolve: () => void;
  reject: (err: Error) => void;
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
    for (let v = version; v < SCHEMA_VERSION; v++) {
      db.transaction(() => {
        db!.exec(MIGRATIONS[v]!);
        db!.pragma(`user_version = ${v + 1}`);
      })();
    }
    db.prepare('SELECT count(*) FROM logs').get();
    return db;
  } catch (e) {
    db?.close();
    throw new StorageError(`cannot open the log database ${path}: ${(e as Error).message}`);
  }
}

/**
 * SQLite through better-sqlite3, in WAL mode. Concurrent appends are grouped: they wait a
 * few milliseconds (or until enough rows are waiting) and share one transaction, so
 * durability costs one commit per group rather than per request.
 */
export class SqliteRepository implements LogRepository {
  readonly description: string;
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly bumpCounter: Database.Statement;
  private readonly setLastId: Database.Statement;
  private readonly commitGroup: (group: readonly Pending[]) => void;
  private pending: Pending[] = [];
  private pendingRows = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SqliteOptions) {
    this.description = `sqlite ${options.path}`;
    this.db = open(options.path, options.synchronous);
    this.insert = this.db.prepare(
      'INSERT INTO logs (id, ts, timestamp, level, service, message, user_id, metadata, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.bumpCounter = this.db.prepare(
      `INSERT INTO counters (service, level, count, last_ts, last_received) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (service, level) DO UPDATE SET count = count + excluded.count,
         last_ts = max(last_ts, excluded.last_ts), last_received = max(last_received, excluded.last_received)`,
    );
    this.setLastId = this.db.prepare("UPDATE meta SET value = max(value, ?) WHERE key = 'last_id'");
    this.commitGroup = this.db.transaction((group: readonly Pending[]) => {
      const counts = new Map<string, CounterRow>();
      let lastId = 0;
      for (const { logs } of group) {
        for (const l of logs) {
          const level = levelIndex(l.level);
          if (l.id > lastId) lastId = l.id;
          this.insert.run(l.id, l.ts, l.timestamp, level, l.service, l.message, l.userId ?? null, l.metadata === undefined ? null : JSON.stringify(l.metadata), l.receivedAt);
          const service = options.counterKey(l.service);
          const key = `${level}\u0000${service}`;
          const c = counts.get(key);
          if (c === undefined) counts.set(key, { service, level, count: 1, lastTs: l.ts, lastReceived: l.receivedAt });
          else {
            c.count++;
            if (l.ts > c.lastTs) c.lastTs = l.ts;
            if (l.receivedAt > c.lastReceived) c.lastReceived = l.receivedAt;
          }
        }
      }
      for (const c of counts.values()) this.bumpCounter.run(c.service, c.level, c.count, c.lastTs, c.lastReceived);
      this.setLastId.run(lastId);
    });
    // Called once per row: the matcher is built once per needle, not per row.
    let matcher: { needle: string; test: (message: string) => boolean } | undefined;
    this.db.function('matches_text', { deterministic: true }, (message: unknown, needle: unknown) => {
      const n = String(needle);
      if (matcher?.needle !== n) matcher = { needle: n, test: textMatcher(n) };
      return matcher.test(String(message)) ? 1 : 0;
    });
  }

  append(logs: readonly StoredLog[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ logs, resolve, reject });
      this.pendingRows += logs.length;
      if (this.pendingRows >= this.options.commitMaxRows) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.options.commitIntervalMs);
    });
  }

  /** Commits everything waiting in one transaction; every waiter learns the outcome. */
  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const group = this.pending;
    this.pending = [];
    this.pendingRows = 0;
    if (group.length === 0) return;
    try {
      this.commitGroup(group);
      for (const p of group) p.resolve();
    } catch (e) {
      const err = new StorageError(`cannot write to the log database ${this.options.path}: ${(e as Error).message}`);
      for (const p of group) p.reject(err);
    }
  }

  query(q: LogQuery): LogPage {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.beforeId !== undefined) {
      where.push('id < ?');
      args.push(q.beforeId);
    }
    if (q.services && q.services.length > 0) {
      where.push(`service IN (${q.services.map(() => '?').join(', ')})`);
      args.push(...q.services);
    }
    if (q.levels && q.levels.length > 0) {
      where.push(`level IN (${q.levels.map(() => '?').join(', ')})`);
      args.push(...q.levels.map(levelIndex));
    }
    const ranges: [string, number | undefined][] = [
      ['ts >= ?', q.from],
      ['ts <= ?', q.to],
      ['received_at >= ?', q.receivedFrom],
      ['received_at <= ?', q.receivedTo],
    ];
    for (const [clause, value] of ranges) {
      if (value === undefined) continue;
      where.push(clause);
      args.push(value);
    }
    if (q.userId !== undefined) {
      where.push('user_id = ?');
      args.push(q.userId);
    }
    if (q.text) {
      where.push('matches_text(message, ?)');
      args.push(q.text);
    }
    const sql = `SELECT * FROM logs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ? OFFSET ?`;
    const rows = this.db.prepare(sql).all(...args, q.limit + 1, q.offset ?? 0) as Row[];
    const logs = rows.slice(0, q.limit).map(toLog);
    return { logs, nextBeforeId: rows.length > q.limit ? logs[logs.length - 1]!.id : null };
  }

  recent(n: number): StoredLog[] {
    const rows = this.db.prepare('SELECT * FROM logs ORDER BY id DESC LIMIT ?').all(n) as Row[];
    return rows.reverse().map(toLog);
  }

  *since(ts: number): Iterable<StoredLog> {
    for (const row of this.db.prepare('SELECT * FROM logs WHERE ts >= ? ORDER BY id').iterate(ts)) yield toLog(row as Row);
  }

  counters(): CounterRow[] {
    return (
      this.db.prepare('SELECT service, level, count, last_ts AS lastTs, last_received AS lastReceived FROM counters').all() as CounterRow[]
    ).sort((a, b) => a.lastReceived - b.lastReceived);
  }

  lastAssignedId(): number {
    return (this.db.prepare("SELECT max(value, (SELECT coalesce(max(id), 0) FROM logs)) AS v FROM meta WHERE key = 'last_id'").get() as { v: number }).v;
  }

  minId(): number {
    return (this.db.prepare('SELECT coalesce(min(id), 0) AS v FROM logs').get() as { v: number }).v;
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS v FROM logs').get() as { v: number }).v;
  }

  deleteBefore(ts: number): number {
    return this.db.prepare('DELETE FROM logs WHERE ts < ?').run(ts).changes;
  }

  retentionStep(now: number): RetentionResult {
    const { maxAgeMs, maxRows, batchSize } = this.options.retention;
    const result: RetentionResult = { deleted: 0, minId: 0, receivedBefore: 0 };
    if (maxAgeMs > 0) {
      result.receivedBefore = now - maxAgeMs;
      result.deleted += this.db
        .prepare('DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE received_at < ? ORDER BY id LIMIT ?)')
        .run(result.receivedBefore, batchSize).changes;
    }
    if (maxRows > 0 && result.deleted < batchSize) {
      const excess = this.count() - maxRows;
      if (excess > 0) {
        const take = Math.min(excess, batchSize - result.deleted);
        const cut = this.db.prepare('SELECT id FROM logs ORDER BY id LIMIT 1 OFFSET ?').get(take - 1) as { id: number };
        result.deleted += this.db.prepare('DELETE FROM logs WHERE id <= ?').run(cut.id).changes;
        result.minId = cut.id + 1;
      }
    }
    return result;
  }

  /** Commits what is waiting (flush is synchronous), then closes the file. */
  async close(): Promise<void> {
    this.flush();
    this.db.close();
  }

  /** For tests: the live handle, to provoke failures SQLite itself reports (a full disk). */
  get handle(): Database.Database {
    return this.db;
  }
}
