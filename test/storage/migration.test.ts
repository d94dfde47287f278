import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { compareListed } from '../../server/core/listing-order.js';
import { LEVELS, StoredLog } from '../../server/core/log.js';
import { RecentLogs } from '../../server/core/recent-logs.js';
import { seededRandom } from '../../server/core/simulator.js';
import { SCHEMA_VERSION, SqliteRepository } from '../../server/storage/sqlite-repository.js';
import { ManualClock } from '../helpers.js';
import { getJson, open, tempDb, sinceAll } from './support.js';

/** A file written by an older server (one row per log) opens with every log, id and counter intact. */

// The schema as version 1 and 2 created it, verbatim.
const V1_DDL = `CREATE TABLE logs (
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
   ) WITHOUT ROWID;`;
const V2_DDL = `CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
   INSERT INTO meta (key, value) SELECT 'last_id', coalesce(max(id), 0) FROM logs;`;

const T0 = Date.parse('2024-01-15T14:30:00Z');

/** Ids in listing order: newest event time first, ties by id. */
const listingIds = (logs: readonly StoredLog[]): number[] => [...logs].sort((a, b) => compareListed(a.ts, a.id, b.ts, b.id)).map((l) => l.id);

/** `n` logs with gaps in their ids, some without user or metadata, lone surrogates in metadata, receive times in runs. */
function oldLogs(n: number): StoredLog[] {
  const rand = seededRandom(99);
  const logs: StoredLog[] = [];
  let id = 0;
  for (let i = 0; i < n; i++) {
    id += rand() < 0.05 ? 4 : 1;
    const ts = T0 - Math.floor(rand() * 86_400_000);
    logs.push(
      new StoredLog(
        id,
        ts,
        i % 5 === 0 ? new Date(ts).toISOString().replace('Z', '+00:00') : new Date(ts).toISOString(),
        LEVELS[i % 5]!,
        ['api', 'worker', 'Ünïcode svc'][i % 3]!,
        `old message ${i} – ✓`,
        i % 4 === 0 ? undefined : `user-${i % 9}`,
        i % 3 === 0 ? undefined : { i, note: i % 7 === 0 ? 'half \ud800 pair' : 'plain', nested: { list: [1, null, 'x'] } },
        T0 + Math.floor(i / 10) * 1000,
      ),
    );
  }
  return logs;
}

/** A file as a version 1 or 2 server left it: its DDL, its rows (written as it wrote them), counters, user_version. */
function writeOldFile(path: string, version: 1 | 2, logs: readonly StoredLog[], lastId: number): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec(V1_DDL);
  if (version === 2) db.exec(V2_DDL);
  const insert = db.prepare('INSERT INTO logs (id, ts, timestamp, level, service, message, user_id, metadata, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (const l of logs) {
      insert.run(l.id, l.ts, l.timestamp, LEVELS.indexOf(l.level), l.service, l.message, l.userId ?? null, l.metadata === undefined ? null : JSON.stringify(l.metadata), l.receivedAt);
    }
    db.prepare('INSERT INTO counters VALUES (?, ?, ?, ?, ?)').run('api', 1, 12345, T0, T0 + 1);
    db.prepare('INSERT INTO counters VALUES (?, ?, ?, ?, ?)').run('other', 3, 7, T0 - 1, T0 + 2);
    if (version === 2) db.prepare("UPDATE meta SET value = ? WHERE key = 'last_id'").run(lastId);
  })();
  db.pragma(`user_version = ${version}`);
  db.close();
}

function repository(path: string): SqliteRepository {
  return new SqliteRepository({
    path,
    synchronous: 'normal',
    commitIntervalMs: 1,
    commitMaxRows: 1,
    retention: { maxAgeMs: 0, maxRows: 0, batchSize: 5000 },
    counterKey: (s) => s,
  });
}

describe('upgrading an older file to chunks', () => {
  for (const version of [2, 1] as const) {
    test(`version ${version}: every log is found after the upgrade, ids go on after the largest ever assigned, the old table is gone`, async () => {
      const path = tempDb();
      const logs = oldLogs(2_345);
      const maxId = logs[logs.length - 1]!.id;
      // Version 2 remembers ids of deleted logs; version 1 knew only the rows.
      const lastId = version === 2 ? maxId + 10 : maxId;
      writeOldFile(path, version, logs, lastId);

      const r = repository(path);
      try {
        const db = r.handle;
        assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
        const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[]);
        assert.deepEqual(tables, ['alert_notifications', 'alerts', 'chunks', 'counters', 'meta', 'patterns', 'runtime', 'silences']);
        assert.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name LIKE 'logs_%'").pluck().get(), 0);
        assert.equal(db.prepare('SELECT count(*) FROM chunks').pluck().get(), 3, 'converted in chunks of 1000');

        assert.equal((await r.count()), logs.length);
        assert.equal((await r.minId()), 1);
        assert.equal((await r.lastAssignedId()), lastId);
        assert.deepEqual((await r.query({ limit: 10_000 })).logs.sort((a, b) => a.id - b.id), logs, 'every field of every log');
        assert.equal(logs.filter((l) => l.metadata?.note === 'half \ud800 pair').length > 10, true);
        assert.deepEqual((await r.recent(10)), logs.slice(-10));
        assert.deepEqual(await sinceAll(r, T0 - 3_600_000), logs.filter((l) => l.ts >= T0 - 3_600_000));
        const store = new RecentLogs(10_000);
        store.append(logs);
        for (const q of [{ limit: 25, offset: 1500 }, { limit: 100, services: ['worker'], levels: ['ERROR' as const] }, { limit: 7, userId: 'user-3', before: { ts: T0 - 3_600_000, id: 2000 } }]) {
          assert.deepEqual((await r.query(q)), store.query(q), JSON.stringify(q));
        }
        assert.deepEqual(
          (await r.counters()).map((c) => [c.service, c.level, c.count, c.lastTs, c.lastReceived]),
          [
            ['api', 1, 12345, T0, T0 + 1],
            ['other', 3, 7, T0 - 1, T0 + 2],
          ],
        );
        // Retention and deletes work on the converted chunks.
        assert.equal((await r.deleteBefore(T0 - 43_200_000)), logs.filter((l) => l.ts < T0 - 43_200_000).length);
      } finally {
        await r.close();
      }
    });
  }

  test('the server started on an upgraded file answers with the old logs', async () => {
    const path = tempDb();
    const logs = oldLogs(30);
    writeOldFile(path, 2, logs, 40);
    const clock = new ManualClock();
    const app = await open(path, clock, { max_logs: 10 });
    try {
      const page = await getJson(app, '/api/logs?limit=100');
      assert.deepEqual(page.logs.map((l: { id: number }) => l.id), listingIds(logs));
      assert.equal((await getJson(app, '/api/stats')).total_logs, 12345 + 7, 'all-time counters as they were');
      const res = await app.inject({ method: 'POST', url: '/api/logs', payload: { timestamp: clock.iso(), level: 'INFO', service: 'api', message: 'new' } });
      assert.equal(res.statusCode, 201, res.body);
      assert.equal((await getJson(app, '/api/logs?limit=1')).logs[0].id, 41, 'ids go on after the largest ever assigned');
    } finally {
      await app.close();
    }
  });

  test('version 3 (logs without alert state or time index): gains both, keeps its logs and counters', async () => {
    const path = tempDb();
    const logs = oldLogs(50);
    writeOldFile(path, 2, logs, 60);
    // Bring it to version 3 with a server of today, then take away what versions 3 to 5 added.
    await repository(path).close();
    const db = new Database(path);
    db.exec(
      "DROP TABLE alerts; DROP TABLE alert_notifications; DROP TABLE silences; DROP TABLE runtime; DROP INDEX chunks_max_ts; DELETE FROM meta WHERE key = 'max_span'; DROP TABLE patterns; ALTER TABLE chunks DROP COLUMN pattern_ids;",
    );
    db.pragma('user_version = 3');
    db.close();

    const clock = new ManualClock();
    const app = await open(path, clock);
    try {
      assert.deepEqual((await getJson(app, '/api/logs?limit=100')).logs.map((l: { id: number }) => l.id), listingIds(logs));
      assert.equal((await getJson(app, '/api/stats')).total_logs, 12345 + 7);
      assert.deepEqual((await getJson(app, '/api/alerts')).alerts, []);
    } finally {
      await app.close();
    }
    const after = new Database(path, { readonly: true });
    try {
      assert.equal(after.pragma('user_version', { simple: true }), SCHEMA_VERSION);
      assert.equal(after.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'chunks_max_ts'").pluck().get(), 1);
      assert.ok((after.prepare("SELECT value FROM meta WHERE key = 'max_span'").pluck().get() as number) > 0, 'max_span measured from the chunks there');
      const tables = after.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
      assert.deepEqual(tables, ['alert_notifications', 'alerts', 'chunks', 'counters', 'meta', 'patterns', 'runtime', 'silences']);
    } finally {
      after.close();
    }
  });
});
