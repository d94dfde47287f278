import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { StoredLog } from '../../server/core/log.js';
import { seededRandom } from '../../server/core/simulator.js';
import type { PatternRow } from '../../server/core/patterns/pattern-stats.js';
import { StorageError } from '../../server/core/repository.js';
import { minuteOf } from '../../server/core/time.js';
import { PostgresRepository, type PostgresOptions } from '../../server/storage/postgres-repository.js';
import { likePattern } from '../../server/storage/postgres-query.js';
import { PARTITION_MS, PG_SCHEMA_VERSION } from '../../server/storage/postgres-schema.js';
import { postgresUnavailable, startPostgres, type PgServer } from '../../scripts/postgres-server.js';
import { T0, assertQueriesMatch, fill, ids, input, storedOf } from './repository-contract.js';
import { sinceAll } from './support.js';
import { waitFor } from '../helpers.js';

const skip = postgresUnavailable();
if (skip) process.stdout.write(`# PostgreSQL repository tests skipped: ${skip}\n`);

const DAY = PARTITION_MS;

/** Logs as ingest makes them, each with its pattern id (0: none). */
function withPatterns(logs: StoredLog[], patternIds: readonly number[]): StoredLog[] {
  logs.forEach((l, i) => (l.patternId = patternIds[i % patternIds.length]!));
  return logs;
}

/** Rows in a fixed order, to compare. */
function byReplicaOrder(rows: readonly PatternRow[]): PatternRow[] {
  return [...rows].sort((a, b) => a.id - b.id || a.levels.join().localeCompare(b.levels.join()));
}

describe('PostgresRepository on a real PostgreSQL', { skip }, () => {
  let server: PgServer;
  const open: PostgresRepository[] = [];
  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    for (const r of open) await r.close().catch(() => {});
    await server?.stop();
  });

  async function repo(url: string, o: Partial<PostgresOptions> = {}): Promise<PostgresRepository> {
    const r = await PostgresRepository.open({
      url,
      poolSize: 4,
      schema: 'logsentinel',
      replicaId: 'replica-a',
      commitIntervalMs: 0,
      commitMaxRows: 20_000,
      retention: { maxAgeMs: 0, maxRows: 0, batchSize: 5000 },
      counterKey: (s) => s,
      userKey: (u) => u,
      // A window wide enough for the fixed dates these tests use.
      analyticsWindow: { maxBuckets: 60, futureSkewMs: 120_000 },
      ...o,
    });
    open.push(r);
    return r;
  }

  async function rows(r: PostgresRepository, sql: string): Promise<Record<string, unknown>[]> {
    return (await r.handle.query(sql)).rows;
  }

  test('every query lists what the in-memory tier lists, in the same order, page after page', async () => {
    const r = await repo(await server.createDatabase());
    const logs = await fill(r, 120, 7);
    const compared = await assertQueriesMatch(r, logs);
    assert.ok(compared > 10_000, `compared ${compared} logs`);
  });

  test('every field comes back as appended, messages PostgreSQL text cannot hold included', async () => {
    const r = await repo(await server.createDatabase());
    const logs = [
      new StoredLog(1, T0, '2024-01-15T16:30:00.123456+02:00', 'CRITICAL', 'Ünïcode svc', 'm – ✓ 😀', 'user-1', { x: [1, { y: null }], s: '\ud800' }, T0 + 1),
      new StoredLog(2, T0 + 1, new Date(T0 + 1).toISOString(), 'DEBUG', 'api', 'NUL\u0000inside', undefined, undefined, T0 + 1),
      new StoredLog(3, T0 + 2, new Date(T0 + 2).toISOString(), 'INFO', 'api', 'lone \ud83d half', undefined, {}, T0 + 1),
    ];
    await r.append(logs);
    assert.deepEqual((await r.query({ limit: 10 })).logs.reverse(), logs);
    // The search still finds them, by the core's meaning of `q`.
    assert.deepEqual(ids((await r.query({ limit: 10, text: 'nul\u0000INS' })).logs), [2]);
    assert.deepEqual(ids((await r.query({ limit: 10, text: 'LONE \ud83d' })).logs), [3]);
    assert.deepEqual(ids((await r.query({ limit: 10, text: 'ünï' })).logs), []);
    assert.deepEqual(ids((await r.query({ limit: 10, text: '😀' })).logs), [1]);
  });

  test('big groups and small ones write the same: every field (backslashes, tabs, newlines included), counters, minutes, pattern rows', async () => {
    // The same 900 logs into two databases: in one append of 600 and one of 300, and in groups of 20.
    const awkward = ['back\\slash', 'tab\there', 'new\nline', 'cr\rhere', '\\N', 'NUL\u0000inside', 'lone \ud83d half', 'm – ✓ 😀', '\\.'];
    const inputs = Array.from({ length: 900 }, (_, i) =>
      input(i, {
        timestamp: new Date(T0 + (i % 240) * 1000).toISOString(),
        level: i % 5 === 0 ? 'ERROR' : 'INFO',
        service: i % 7 === 0 ? 'work\ter' : i % 3 === 0 ? 'Ünïcode svc' : 'api',
        message: `${awkward[i % awkward.length]} #${i}`,
        ...(i % 2 === 0 && { user_id: i % 4 === 0 ? 'user\t\\1' : `user-${i % 9}` }),
        ...(i % 3 === 0 && { metadata: { path: 'C:\\dir\\file', line: 'a\nb', tab: '\t', i } }),
      }),
    );
    const describe = (id: number) => ({ service: 'api', template: `template\t${id} \\ <*>` });
    const logsOf = () => withPatterns(storedOf(inputs, 1, T0 + 60_000), [3, 2 ** 52 - 3, 0, 3, 11]);
    const big = await repo(await server.createDatabase());
    const small = await repo(await server.createDatabase());
    big.describePatterns(describe);
    small.describePatterns(describe);
    const logs = logsOf();
    await big.append(logs.slice(0, 600));
    await big.append(logs.slice(600));
    const again = logsOf();
    for (let i = 0; i < again.length; i += 20) await small.append(again.slice(i, i + 20));

    assert.deepEqual(await big.recent(900), logs, 'every field as appended');
    const found = ids((await big.query({ limit: 1000, text: 'nul\u0000INS' })).logs).sort((a, b) => a - b);
    assert.deepEqual(found, ids(logs.filter((l) => l.message.startsWith('NUL'))));
    const tables = [
      'SELECT service, level, count, last_ts, last_received FROM logsentinel.counters ORDER BY 1, 2',
      'SELECT count FROM logsentinel.log_counts',
      'SELECT minute, service, level, count FROM logsentinel.minutes ORDER BY 1, 2, 3',
      'SELECT minute, user_id, count FROM logsentinel.minute_users ORDER BY 1, 2',
      'SELECT id, service, template, first_seen, last_seen, sample, debug, info, warning, error, critical FROM logsentinel.patterns ORDER BY 1',
      'SELECT minute, pattern, level, count FROM logsentinel.pattern_minutes ORDER BY 1, 2, 3',
    ];
    for (const sql of tables) assert.deepEqual(await rows(big, sql), await rows(small, sql), sql);
    assert.equal(await big.count(), 900);
  });

  test('two commits in flight that meet the same new keys in opposite orders do not deadlock', async () => {
    // A large group meets 2,000 users in one order, the next in the opposite order, the second starting while the first runs.
    const r = await repo(await server.createDatabase(), { poolSize: 6 });
    const users = Array.from({ length: 2000 }, (_, i) => `user-${String(i).padStart(4, '0')}`);
    const group = (first: number, order: string[]) =>
      storedOf(
        order.map((user_id, i) => input(0, { timestamp: new Date(T0 - (i % 5) * 1000).toISOString(), user_id, service: `s${i % 50}` })),
        first,
        T0 + 60_000,
      );
    for (let round = 0; round < 8; round++) {
      const a = group(1 + round * 4000, round % 2 ? [...users].reverse() : users);
      const b = group(2001 + round * 4000, round % 2 ? users : [...users].reverse());
      const first = r.append(a);
      await new Promise((resolve) => setImmediate(resolve));
      await Promise.all([first, r.append(b)]);
    }
    assert.equal(await r.count(), 32_000);
    assert.deepEqual(await rows(r, 'SELECT sum(count)::int AS n FROM logsentinel.minute_users'), [{ n: 32_000 }]);
  });

  test('appends arriving one a turn, meeting shared counter rows in orders of their own: every figure exact', async () => {
    const r = await repo(await server.createDatabase(), { poolSize: 6 });
    r.describePatterns((id) => ({ service: 'api', template: `t ${id}` }));
    const random = seededRandom(3);
    const services = ['a', 'b', 'c', 'd', 'e', 'f'];
    let id = 1;
    const groups: StoredLog[][] = [];
    for (let g = 0; g < 120; g++) {
      // Each group meets the keys in an order of its own.
      const order = [...services].sort(() => random() - 0.5);
      const inputs = Array.from({ length: 200 }, (_, i) =>
        input(0, { timestamp: new Date(T0 - Math.floor(random() * 1800) * 1000).toISOString(), service: order[i % order.length]!, user_id: `u${Math.floor(random() * 500)}`, level: i % 4 === 0 ? 'ERROR' : 'INFO' }),
      );
      const logs = withPatterns(storedOf(inputs, id, T0 + 60_000), order.map((_, k) => 1 + ((k + g) % 9)));
      id += logs.length;
      groups.push(logs);
    }
    // One append a turn, as requests arrive: what arrives during a commit gathers into the next.
    const appended: Promise<void>[] = [];
    for (const logs of groups) {
      appended.push(r.append(logs));
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await Promise.all(appended);
    const all = groups.flat();
    assert.equal(await r.count(), all.length);
    assert.deepEqual(await rows(r, 'SELECT sum(count)::int AS n FROM logsentinel.counters'), [{ n: all.length }]);
    assert.deepEqual(await rows(r, 'SELECT sum(count)::int AS n FROM logsentinel.minutes'), [{ n: all.length }]);
    assert.deepEqual(await rows(r, 'SELECT sum(count)::int AS n FROM logsentinel.minute_users'), [{ n: all.length }]);
    assert.deepEqual(await rows(r, 'SELECT sum(debug + info + warning + error + critical)::int AS n FROM logsentinel.patterns'), [{ n: all.length }]);
    assert.deepEqual(await rows(r, 'SELECT sum(count)::int AS n FROM logsentinel.pattern_minutes'), [{ n: all.length }]);
  });

  test('a group that fails half-way stores nothing and counts nothing; the next one goes in', async () => {
    const r = await repo(await server.createDatabase());
    const good = storedOf(Array.from({ length: 300 }, (_, i) => input(i)), 1, T0 + 60_000);
    // A service PostgreSQL text cannot hold (ingest never lets one through): its row fails after 250 others.
    const bad = storedOf(Array.from({ length: 300 }, (_, i) => input(i, { service: i === 250 ? 'bad\u0000svc' : 'api' })), 1000, T0 + 60_000);
    await assert.rejects(r.append(bad), (e: Error) => e instanceof StorageError);
    assert.equal(await r.count(), 0);
    assert.deepEqual(await rows(r, 'SELECT count(*)::int AS n FROM logsentinel.counters'), [{ n: 0 }]);
    await r.append(good);
    assert.equal(await r.count(), 300);
    assert.deepEqual(await rows(r, 'SELECT sum(count)::int AS n FROM logsentinel.counters'), [{ n: 300 }]);
  });

  test('the ILIKE pattern escapes wildcards and leaves case folding beyond ASCII to the core', () => {
    assert.equal(likePattern('50%_off\\'), '%50\\%\\_off\\\\%');
    assert.equal(likePattern('Échec'), '%_chec%');
    assert.equal(likePattern('a😀b'), '%a😀b%');
    assert.equal(likePattern('a\u0000b'), '%a_b%');
  });

  test('counts, counters, ids, recent, since, timeOf, minId, maxTsBelow', async () => {
    const r = await repo(await server.createDatabase());
    const inputs = [input(1, { level: 'ERROR' }), input(2), input(3, { service: 'worker' }), input(4), input(5, { level: 'ERROR' }), input(6)];
    const logs = storedOf(inputs, 1, T0 + 10_000);
    await r.append(logs.slice(0, 2));
    await Promise.all([r.append(logs.slice(2, 5)), r.append(logs.slice(5))]);
    assert.equal(await r.count(), 6);
    assert.equal(await r.minId(), 1);
    assert.deepEqual(await r.recent(4), logs.slice(2));
    assert.deepEqual(
      (await sinceAll(r, T0 + 3000)).sort((a, b) => a.id - b.id),
      logs.filter((l) => l.ts >= T0 + 3000),
    );
    assert.equal(await r.timeOf(3), T0 + 3000);
    assert.equal(await r.timeOf(99), undefined);
    assert.equal(await r.maxTsBelow(3), T0 + 2000);
    assert.equal(await r.maxTsBelow(1), -Infinity);
    const counters = (await r.counters()).map((c) => [c.service, c.level, c.count, c.lastTs]).sort();
    assert.deepEqual(counters, [
      ['api', 1, 3, T0 + 6000],
      ['api', 3, 2, T0 + 5000],
      ['worker', 1, 1, T0 + 3000],
    ]);
    // Ids come in ranges from the store: two reservations never overlap.
    const a = await r.shared.reserveIds(100);
    const b = await r.shared.reserveIds(10);
    assert.deepEqual([a, b], [100, 110]);
    assert.equal(await r.lastAssignedId(), 110);
  });

  test('two servers open one database at once: the schema is made once; counters add up over replicas', async () => {
    const url = await server.createDatabase();
    const [a, b] = await Promise.all([repo(url, { replicaId: 'a' }), repo(url, { replicaId: 'b' })]);
    assert.deepEqual(
      await rows(a, 'SELECT version FROM logsentinel.schema_version ORDER BY version'),
      Array.from({ length: PG_SCHEMA_VERSION }, (_, i) => ({ version: i + 1 })),
      'each version applied once',
    );
    await a.append(storedOf([input(1), input(2)], 1, T0));
    await b.append(storedOf([input(3)], 3, T0));
    assert.equal(await b.count(), 3);
    assert.deepEqual(
      (await b.counters()).map((c) => [c.service, c.count]),
      [['api', 3]],
    );
    assert.deepEqual(ids((await a.query({ limit: 10 })).logs), [3, 2, 1]);
  });

  test('a schema newer than the server is refused with a message that says what to do', async () => {
    const url = await server.createDatabase();
    const r = await repo(url);
    await r.handle.query('INSERT INTO logsentinel.schema_version (version) VALUES ($1)', [PG_SCHEMA_VERSION + 1]);
    await assert.rejects(repo(url), (e: Error) => e instanceof StorageError && /newer than this server's/.test(e.message) && !/password/.test(e.message));
  });

  test('a partition a day: deleteBefore drops whole days and trims the day it falls in; the count follows', async () => {
    const r = await repo(await server.createDatabase());
    const day0 = Math.floor(T0 / DAY) * DAY;
    const at = (d: number, h: number): string => new Date(day0 + d * DAY + h * 3_600_000).toISOString();
    const inputs = [input(0, { timestamp: at(-2, 1) }), input(0, { timestamp: at(-2, 5) }), input(0, { timestamp: at(-1, 3) }), input(0, { timestamp: at(0, 1) }), input(0, { timestamp: at(0, 9) })];
    await r.append(storedOf(inputs, 1, T0));
    const partitions = async (): Promise<unknown[]> =>
      (await rows(r, "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'logsentinel.logs'::regclass ORDER BY 1")).map((x) => x.relname);
    assert.equal((await partitions()).length, 3);
    assert.equal(await r.deleteBefore(day0 + 5 * 3_600_000), 4, 'two whole days and one log of the third');
    assert.deepEqual(await partitions(), [`logs_${new Date(day0).toISOString().slice(0, 10).replace(/-/g, '')}`]);
    assert.equal(await r.count(), 1);
    assert.deepEqual(ids((await r.query({ limit: 10 })).logs), [5]);
    // A late log for a dropped day makes its partition again.
    await r.append(storedOf([input(0, { timestamp: at(-2, 2) })], 6, T0));
    assert.equal(await r.count(), 2);
    assert.equal(await r.deleteBefore(day0 + DAY, 'no-such'), 0);
    assert.equal(await r.deleteBefore(day0 + DAY, 'api'), 2);
  });

  test('retention: by age a whole old day goes; by row count the oldest by event time go, in bounded steps', async () => {
    const r = await repo(await server.createDatabase(), { retention: { maxAgeMs: 3 * DAY, maxRows: 4, batchSize: 2 } });
    const day0 = Math.floor(T0 / DAY) * DAY;
    const at = (d: number, m: number): string => new Date(day0 + d * DAY + m * 60_000).toISOString();
    const inputs = [input(0, { timestamp: at(-5, 1) }), input(0, { timestamp: at(-1, 1) }), input(0, { timestamp: at(-1, 2) }), input(0, { timestamp: at(0, 1) }), input(0, { timestamp: at(0, 2) }), input(0, { timestamp: at(0, 3) }), input(0, { timestamp: at(0, 4) })];
    await r.append(storedOf(inputs, 1, T0));
    const now = day0 + 12 * 3_600_000;
    assert.equal((await r.retentionStep(now)).deleted, 1, 'the day 5 days old, dropped whole');
    assert.equal((await r.retentionStep(now)).deleted, 2, 'then 6 rows for 4 allowed: the oldest day, whole');
    assert.equal((await r.retentionStep(now)).deleted, 0);
    assert.deepEqual(ids((await r.query({ limit: 10 })).logs), [7, 6, 5, 4]);
    await r.append(storedOf([input(0, { timestamp: at(0, 0) }), input(0, { timestamp: at(0, 5) }), input(0, { timestamp: at(0, 6) })], 8, T0));
    assert.equal((await r.retentionStep(now)).deleted, 2, 'at most batch_size rows from inside a day');
    assert.equal((await r.retentionStep(now)).deleted, 1);
    assert.equal((await r.retentionStep(now)).deleted, 0);
    assert.deepEqual(ids((await r.query({ limit: 10 })).logs), [10, 9, 7, 6], 'the oldest by event time went first');
    assert.equal(await r.count(), 4);
  });

  test('pattern ids round-trip through append, recent, since, the listing and the tail; ?pattern lists exactly its logs', async () => {
    const url = await server.createDatabase();
    const r = await repo(url, { replicaId: 'a' });
    const big = 2 ** 52 - 3;
    const inputs = Array.from({ length: 12 }, (_, i) => input(i, { level: i % 3 === 0 ? 'ERROR' : 'INFO', service: i % 4 === 0 ? 'worker' : 'api' }));
    const logs = withPatterns(storedOf(inputs, 1, T0 + 60_000), [7, big, 0, 7, 9]);
    await r.append(logs.slice(0, 5));
    await r.append(logs.slice(5));
    assert.deepEqual(await r.recent(12), logs, 'recent: every field, pattern ids included');
    assert.deepEqual((await sinceAll(r, T0)).sort((a, b) => a.id - b.id), logs, 'since');
    assert.deepEqual((await r.query({ limit: 20 })).logs.reverse(), logs, 'the listing');
    for (const pattern of [7, big, 9, 0]) {
      const want = logs.filter((l) => l.patternId === pattern).reverse();
      assert.deepEqual((await r.query({ limit: 20, patternId: pattern })).logs, want, `pattern ${pattern}`);
    }
    // With services and levels named too (their pairs are not split out then), and paged.
    const errors = logs.filter((l) => l.patternId === 7 && l.level === 'ERROR' && l.service === 'api').reverse();
    assert.ok(errors.length > 0);
    assert.deepEqual((await r.query({ limit: 20, patternId: 7, services: ['api'], levels: ['ERROR'] })).logs, errors);
    const first = await r.query({ limit: 2, patternId: 7 });
    const next = await r.query({ limit: 2, patternId: 7, before: { ts: first.logs[1]!.ts, id: first.logs[1]!.id } });
    assert.deepEqual(ids([...first.logs, ...next.logs]), ids(logs.filter((l) => l.patternId === 7).reverse()).slice(0, 4));
    // NULL in the table for none.
    assert.deepEqual(await rows(r, 'SELECT count(*)::int AS n FROM logsentinel.logs WHERE pattern_id IS NULL'), [{ n: logs.filter((l) => l.patternId === 0).length }]);

    // The tail: another replica's logs, read back when its commit is announced.
    const delivered: StoredLog[] = [];
    r.shared.follow((got) => delivered.push(...got), () => true);
    await waitFor(async () => (await rows(r, "SELECT 1 FROM pg_stat_activity WHERE application_name = 'logsentinel a tail' AND query LIKE 'LISTEN%'")).length > 0, {
      what: 'the tail listening',
    });
    const b = await repo(url, { replicaId: 'b' });
    const theirs = withPatterns(storedOf([input(20), input(21)], 100, T0 + 60_000), [big, 0]);
    await b.append(theirs);
    await waitFor(() => delivered.length === 2, { what: "b's logs delivered to a" });
    assert.deepEqual(delivered, theirs);
  });

  test("patterns: each commit adds to this replica's rows; loadPatterns and figures give every replica's, the minutes summed", async () => {
    const url = await server.createDatabase();
    const window = { maxBuckets: 60, futureSkewMs: 120_000 };
    const [a, b] = [await repo(url, { replicaId: 'a', analyticsWindow: window }), await repo(url, { replicaId: 'b', analyticsWindow: window })];
    const templates = new Map<number, { service: string; template: string }>([
      [11, { service: 'api', template: 'login <*>' }],
      [12, { service: 'api', template: 'timeout after <*> ms' }],
    ]);
    a.describePatterns((id) => templates.get(id));
    b.describePatterns((id) => templates.get(id));
    const now = T0 + 60_000;
    const at = (offsetMs: number): string => new Date(now + offsetMs).toISOString();
    // a: two commits, the second older in event time than the first's latest; one log far ahead of the clock, one before the window.
    await a.append(withPatterns(storedOf([input(0, { timestamp: at(-2000), message: 'login x' }), input(0, { timestamp: at(-1000), level: 'ERROR', message: 'login y' })], 1, now), [11]));
    await a.append(
      withPatterns(
        storedOf(
          [
            input(0, { timestamp: at(-3000), message: 'login z' }),
            input(0, { timestamp: at(-120_000), level: 'WARNING', message: 'timeout after 5 ms' }),
            input(0, { timestamp: at(600_000), level: 'ERROR', message: 'timeout after 9 ms' }),
            input(0, { timestamp: at(-90 * 60_000), level: 'ERROR', message: 'timeout after 1 ms' }),
            input(0, { timestamp: at(-500), message: 'no pattern' }),
          ],
          3,
          now,
        ),
        [11, 12, 12, 12, 0],
      ),
    );
    await b.append(withPatterns(storedOf([input(0, { timestamp: at(-1000), level: 'CRITICAL', message: 'login w' })], 8, now), [11]));
    const expected: PatternRow[] = [
      { id: 11, service: 'api', template: 'login <*>', levels: [0, 2, 0, 1, 0], firstSeen: now - 3000, lastSeen: now - 1000, sample: 'login y' },
      { id: 11, service: 'api', template: 'login <*>', levels: [0, 0, 0, 0, 1], firstSeen: now - 1000, lastSeen: now - 1000, sample: 'login w' },
      { id: 12, service: 'api', template: 'timeout after <*> ms', levels: [0, 0, 1, 2, 0], firstSeen: now - 90 * 60_000, lastSeen: now + 600_000, sample: 'timeout after 9 ms' },
    ];
    assert.deepEqual(byReplicaOrder(await a.loadPatterns()), byReplicaOrder(expected), 'one row per replica and pattern');
    const m = minuteOf(now);
    const fromMinute = m - 59;
    const figures = await a.shared.figures(fromMinute);
    assert.deepEqual(byReplicaOrder(figures.patterns), byReplicaOrder(expected));
    // As `minute pattern level count`, the minute relative to the clock's.
    const minutes = (f: { minute: number; pattern: number; level: number; count: number }[]): string[] => f.map((x) => `${x.minute - m} ${x.pattern} ${x.level} ${x.count}`).sort();
    assert.equal(minuteOf(now - 3000), m - 1, 'the logs a few seconds old share the minute before the clock');
    // Only the logs the analytics window counts: not the one 10 minutes ahead, nor the one 90 minutes old.
    assert.deepEqual(minutes(figures.patternMinutes), ['-1 11 1 2', '-1 11 3 1', '-1 11 4 1', '-2 12 2 1']);

    // Later reads fetch only what changed, and give what a first read gives.
    templates.set(12, { service: 'api', template: 'timeout <*>' });
    await b.append(withPatterns(storedOf([input(0, { timestamp: at(-2500), level: 'ERROR', message: 'timeout after 7 ms' })], 9, now), [12]));
    await a.append(withPatterns(storedOf([input(0, { timestamp: at(-1500), message: 'login v' })], 10, now), [11]));
    const again = await a.shared.figures(fromMinute);
    const fresh = await (await repo(url, { replicaId: 'c', analyticsWindow: window })).shared.figures(fromMinute);
    assert.deepEqual(byReplicaOrder(again.patterns), byReplicaOrder(fresh.patterns));
    assert.deepEqual(minutes(again.patternMinutes), minutes(fresh.patternMinutes));
    assert.deepEqual(minutes(again.patternMinutes), ['-1 11 1 3', '-1 11 3 1', '-1 11 4 1', '-1 12 3 1', '-2 12 2 1']);
    assert.deepEqual(
      again.patterns.filter((p) => p.id === 12).map((p) => [p.template, p.levels.join()]).sort(),
      [
        ['timeout <*>', '0,0,0,1,0'],
        ['timeout after <*> ms', '0,0,1,2,0'],
      ],
      "each replica's row has the template its commits wrote",
    );
    // A later window lets the older minutes go; an earlier one reads them again.
    assert.deepEqual(minutes((await a.shared.figures(m - 1)).patternMinutes), ['-1 11 1 3', '-1 11 3 1', '-1 11 4 1', '-1 12 3 1']);
    assert.deepEqual(minutes((await a.shared.figures(fromMinute)).patternMinutes), minutes(fresh.patternMinutes));

    // Retention drops the minutes no window reaches any more; the all-time rows stay.
    await a.retentionStep(now + 30 * 60_000);
    assert.deepEqual(await rows(a, 'SELECT count(*)::int AS n FROM logsentinel.pattern_minutes'), [{ n: 5 }]);
    await a.retentionStep(now + 120 * 60_000);
    assert.deepEqual(await rows(a, 'SELECT count(*)::int AS n FROM logsentinel.pattern_minutes'), [{ n: 0 }]);
    assert.equal((await a.loadPatterns()).length, 4);
  });

  test('without describePatterns a commit keeps the pattern ids of its logs but writes no pattern rows (as SQLite)', async () => {
    const r = await repo(await server.createDatabase());
    await r.append(withPatterns(storedOf([input(1), input(2)], 1, T0), [5]));
    assert.deepEqual(await r.loadPatterns(), []);
    assert.deepEqual(ids((await r.query({ limit: 5, patternId: 5 })).logs), [2, 1]);
    assert.deepEqual((await r.shared.figures(0)).patternMinutes, []);
  });

  test('a database of schema version 1 is brought to version 2: its logs have no pattern, its alerts none either', async () => {
    const url = await server.createDatabase();
    const r = await repo(url);
    await r.append(storedOf([input(1)], 1, T0));
    // Back to version 1, as a server of that version left it.
    await r.handle.query(`DROP INDEX logsentinel.logs_pattern; ALTER TABLE logsentinel.logs DROP COLUMN pattern_id; ALTER TABLE logsentinel.alerts DROP COLUMN pattern_id;
      DROP TABLE logsentinel.patterns, logsentinel.pattern_minutes, logsentinel.pattern_seqs; DELETE FROM logsentinel.schema_version WHERE version > 1`);
    await r.handle.query(`INSERT INTO logsentinel.alerts (fingerprint, fired_at, rule, service, level, status, value, threshold, message) VALUES ('f', 1, 'error_rate', 'api', 'CRITICAL', 'firing', 1, 0.5, 'm')`);
    const again = await repo(url);
    assert.deepEqual(await rows(again, 'SELECT max(version) AS v FROM logsentinel.schema_version'), [{ v: PG_SCHEMA_VERSION }]);
    const [log] = await again.recent(1);
    assert.equal(log?.patternId, 0);
    assert.equal((await again.loadAlertState()).active[0]?.patternId, null);
    await again.append(withPatterns(storedOf([input(2)], 2, T0), [3]));
    assert.deepEqual(ids((await again.query({ limit: 5, patternId: 3 })).logs), [2]);
  });

  test('alert state and runtime counters survive a reopen', async () => {
    const url = await server.createDatabase();
    const r = await repo(url);
    const base = { rule: 'error_rate' as const, service: 'api', level: 'CRITICAL' as const, value: 0.5, threshold: 0.1, message: 'm' };
    await r.saveAlert({ ...base, fingerprint: 'f1', status: 'firing', firedAt: 1000, lastNotifiedAt: null, resolvedAt: null }, 2);
    await r.saveAlert({ ...base, fingerprint: 'f1', status: 'firing', firedAt: 1000, lastNotifiedAt: 1500, resolvedAt: null }, 2);
    for (let i = 0; i < 3; i++) await r.saveAlert({ ...base, fingerprint: `old${i}`, status: 'resolved', firedAt: 100 + i, lastNotifiedAt: 100 + i, resolvedAt: 200 + i }, 2);
    await r.saveNotification({ fingerprint: 'f1', status: 'firing', at: 1500 }, 10_000);
    await r.saveSilence('f9', 5000, 1000);
    await r.saveAlert({ ...base, rule: 'new_pattern', level: 'WARNING', fingerprint: 'p1', status: 'firing', firedAt: 1200, lastNotifiedAt: 1200, resolvedAt: null, patternId: 2 ** 52 - 7 }, 2);
    r.trackRuntimeCounters(() => ({ validation: { total: 3, valid: 2, invalid: 1, errorTypes: { type: 1 } }, servicesFolded: 0, usersFolded: 4, outOfWindow: 1 }));
    await r.append(storedOf([input(1)], 1, T0));
    const again = await repo(url);
    const state = await again.loadAlertState();
    assert.deepEqual(
      state.active.map((a) => [a.fingerprint, a.lastNotifiedAt, a.patternId]),
      [
        ['f1', 1500, null],
        ['p1', 1200, 2 ** 52 - 7],
      ],
      'the pattern of a new_pattern alert; null for the other rules',
    );
    assert.deepEqual(
      state.history.map((a) => a.fingerprint),
      ['old1', 'old2'],
      'history keeps history_size, oldest first',
    );
    assert.deepEqual(state.silences, [{ fingerprint: 'f9', until: 5000 }]);
    assert.deepEqual(state.lastFiring, [{ fingerprint: 'f1', at: 1500 }]);
    assert.equal((await again.loadRuntimeCounters())?.usersFolded, 4);
  });

  test('the database going away: appends and reads fail with a StorageError naming no password; it comes back and they work again', async () => {
    const own = await startPostgres();
    try {
      const r = await repo(await own.createDatabase());
      await r.append(storedOf([input(1)], 1, T0));
      await own.stopServer('immediate');
      await assert.rejects(r.append(storedOf([input(2)], 2, T0)), (e: Error) => e instanceof StorageError);
      await assert.rejects(r.query({ limit: 5 }), (e: Error) => e instanceof StorageError);
      await own.startServer();
      await r.append(storedOf([input(3)], 3, T0));
      assert.deepEqual(ids((await r.query({ limit: 5 })).logs), [3, 1]);
      assert.equal(await r.count(), 2);
    } finally {
      await own.stop();
    }
  });
});
