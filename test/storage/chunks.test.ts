import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { LEVELS, StoredLog, levelIndex } from '../../server/core/log.js';
import { FORMAT_JSON, FORMAT_NDJSON, FORMAT_ROWS, decodeChunk, encodeChunk } from '../../server/storage/chunk-codec.js';
import { StorageError, type RawBatch, type RetentionResult } from '../../server/core/repository.js';
import { SqliteRepository, type SqliteOptions } from '../../server/storage/sqlite-repository.js';
import { tempDb, sinceAll } from './support.js';
import { T0, assertQueriesMatch, fill, ids, input, json, ndjson, storedOf } from './repository-contract.js';

/** The chunk layout: each append is one row, its body the request's bytes or the server's own rows; every read gives back exactly what was appended. */


/** Encodes and decodes through the codec alone. */
function roundTrip(logs: readonly StoredLog[], raw?: RawBatch): { format: number; decoded: StoredLog[] } {
  const { chunk } = encodeChunk(logs, raw);
  return { format: chunk.format, decoded: decodeChunk(chunk.format, chunk.body, chunk.firstId, chunk.minReceived, chunk.count) };
}

const SURROGATES = { note: 'half \ud800 pair', other: 'x\udc00', pair: '😀', nested: [{ lone: '\udbff' }] };

describe('chunk codec', () => {
  test('JSON array: the request bytes are the body, and decode to the logs appended', () => {
    const inputs = [input(1, { user_id: 'u1', metadata: { a: 1, nested: { list: [1, 'two', null, true] } } }), input(2, { level: 'ERROR', service: 'worker' }), input(3)];
    const logs = storedOf(inputs, 41, T0 + 5000);
    const raw = json(inputs);
    const { chunk, tally } = encodeChunk(logs, raw);
    assert.equal(chunk.format, FORMAT_JSON);
    assert.equal(chunk.body, raw.bytes, 'the very bytes, not a copy or a re-serialization');
    assert.deepEqual(
      { firstId: chunk.firstId, lastId: chunk.lastId, count: chunk.count, minReceived: chunk.minReceived, maxReceived: chunk.maxReceived },
      { firstId: 41, lastId: 43, count: 3, minReceived: T0 + 5000, maxReceived: T0 + 5000 },
    );
    assert.deepEqual([chunk.minTs, chunk.maxTs], [T0 + 1000, T0 + 3000]);
    assert.equal(chunk.levels, (1 << 1) | (1 << 3));
    assert.deepEqual(JSON.parse(chunk.services), ['api', 'worker']);
    assert.equal(tally.get('api')![1]!.count, 2);
    assert.deepEqual(decodeChunk(chunk.format, chunk.body, chunk.firstId, chunk.minReceived, chunk.count), logs);
  });

  test('JSON single object, with a byte order mark and whitespace around it', () => {
    const inputs = [input(7, { metadata: { k: 'v' } })];
    const logs = storedOf(inputs, 9, T0);
    const raw: RawBatch = { bytes: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(` \r\n${JSON.stringify(inputs[0])}\n`)]), format: 'json' };
    const { format, decoded } = roundTrip(logs, raw);
    assert.equal(format, FORMAT_JSON);
    assert.deepEqual(decoded, logs);
  });

  test('NDJSON with blank lines, whitespace-only lines, CRLF line ends, a byte order mark', () => {
    const inputs = [input(1, { user_id: 'u' }), input(2, { level: 'DEBUG' }), input(3, { metadata: { n: -3.5 } }), input(4)];
    const logs = storedOf(inputs, 100, T0);
    const text = `\r\n${JSON.stringify(inputs[0])}\r\n\n   \n${JSON.stringify(inputs[1])}\n\t\r\n${JSON.stringify(inputs[2])}\r\n  ${JSON.stringify(inputs[3])}  \r\n\r\n`;
    const { format, decoded } = roundTrip(logs, ndjson(text));
    assert.equal(format, FORMAT_NDJSON);
    assert.deepEqual(decoded, logs);
    assert.deepEqual(roundTrip(logs, ndjson(`\ufeff${JSON.stringify(inputs[0])}\n${inputs.slice(1).map((l) => JSON.stringify(l)).join('\n')}`)).decoded, logs, 'after a byte order mark');
  });

  test('lone surrogates in metadata survive every format', () => {
    const inputs = [input(1, { metadata: SURROGATES }), input(2, { metadata: { only: '\ud83d' } })];
    const logs = storedOf(inputs, 1, T0);
    assert.match(JSON.stringify(inputs), /\\ud800/, 'JSON text carries them as escapes');
    for (const raw of [json(inputs), ndjson(inputs.map((l) => JSON.stringify(l)).join('\n')), undefined]) {
      const { decoded } = roundTrip(logs, raw);
      assert.deepEqual(decoded, logs);
      assert.equal(decoded[0]!.metadata!.note, 'half \ud800 pair');
    }
  });

  test('without request bytes: ROWS, ids and receive times explicit, every field kept', () => {
    const logs = [
      new StoredLog(5, T0, '2024-01-15T16:30:00.123456+02:00', 'CRITICAL', 'Ünïcode svc', 'm – ✓', 'user-1', { x: [1, { y: null }] }, T0 + 1),
      new StoredLog(6, T0 + 1, new Date(T0 + 1).toISOString(), 'DEBUG', 'api', 'no user, no metadata', undefined, undefined, T0 + 1),
    ];
    const { format, decoded } = roundTrip(logs);
    assert.equal(format, FORMAT_ROWS);
    assert.deepEqual(decoded, logs);
    assert.equal(decoded[0]!.level, LEVELS[4], 'levels come back as the shared constants');
  });

  test('request bytes are not used when ids are not consecutive, receive times differ, or the bytes cannot be the batch', () => {
    const inputs = [input(1), input(2), input(3)];
    const gap = storedOf(inputs, 1, T0).map((l, i) => (i === 2 ? new StoredLog(9, l.ts, l.timestamp, l.level, l.service, l.message, l.userId, l.metadata, l.receivedAt) : l));
    const times = storedOf(inputs, 1, T0).map((l, i) => new StoredLog(l.id, l.ts, l.timestamp, l.level, l.service, l.message, l.userId, l.metadata, T0 + i));
    for (const logs of [gap, times]) {
      const { format, decoded } = roundTrip(logs, json(inputs));
      assert.equal(format, FORMAT_ROWS);
      assert.deepEqual(decoded, logs);
    }
    const three = storedOf(inputs, 1, T0);
    const oneObject: RawBatch = { bytes: Buffer.from(JSON.stringify(inputs[0])), format: 'json' };
    assert.equal(roundTrip(three, oneObject).format, FORMAT_ROWS, 'a single object cannot hold three logs');
    // Out of order: stored sorted by id.
    const shuffled = [three[2]!, three[0]!, three[1]!];
    const { chunk } = encodeChunk(shuffled, json(inputs));
    assert.equal(chunk.format, FORMAT_ROWS);
    assert.deepEqual([chunk.firstId, chunk.lastId], [1, 3]);
    assert.deepEqual(ids(decodeChunk(chunk.format, chunk.body, chunk.firstId, chunk.minReceived, chunk.count)), [1, 2, 3]);
  });

  test('a body that does not hold what its row says is an error, not a wrong answer', () => {
    const inputs = [input(1), input(2)];
    const { chunk } = encodeChunk(storedOf(inputs, 1, T0), json(inputs));
    assert.throws(() => decodeChunk(chunk.format, chunk.body, chunk.firstId, chunk.minReceived, 3), /holds 2 logs where its row says 3/);
    assert.throws(() => decodeChunk(7, chunk.body, chunk.firstId, chunk.minReceived, 2), /unknown format 7/);
  });
});

// ---------------------------------------------------------------------------------------------
// The repository on a real file.

const dbs: SqliteRepository[] = [];
after(async () => {
  for (const r of dbs) if (r.handle.open) await r.close();
});

function openRepo(path: string, o: Partial<SqliteOptions> = {}): SqliteRepository {
  const r = new SqliteRepository({
    path,
    synchronous: 'normal',
    commitIntervalMs: 1,
    commitMaxRows: 1,
    retention: { maxAgeMs: 0, maxRows: 0, batchSize: 5000 },
    counterKey: (s) => s,
    ...o,
  });
  dbs.push(r);
  return r;
}

function chunkRows(r: SqliteRepository): { first_id: number; last_id: number; count: number; format: number }[] {
  return r.handle.prepare('SELECT first_id, last_id, count, format FROM chunks ORDER BY first_id').all() as { first_id: number; last_id: number; count: number; format: number }[];
}

/** Every stored log, in id order, through `query`. */
async function everything(r: SqliteRepository): Promise<StoredLog[]> {
  return (await r.query({ limit: 1_000_000 })).logs.sort((a, b) => a.id - b.id);
}


describe('SqliteRepository on chunks', () => {
  test('each append is one chunk row; the request bytes are stored as they came; logs read back identical, after a reopen too', async () => {
    const path = tempDb();
    const r = openRepo(path);
    const a = [input(1, { metadata: SURROGATES, user_id: 'u' }), input(2, { level: 'ERROR' })];
    const b = [input(3), input(4, { service: 'worker' }), input(5)];
    const c = [input(6, { metadata: { z: 1 } })];
    const rawA = json(a);
    const rawB = ndjson(b.map((l) => JSON.stringify(l)).join('\r\n') + '\r\n\r\n');
    const logs = [...storedOf(a, 1, T0), ...storedOf(b, 3, T0 + 10), ...storedOf(c, 6, T0 + 20)];
    await r.append(logs.slice(0, 2), rawA);
    await r.append(logs.slice(2, 5), rawB);
    await r.append(logs.slice(5));
    assert.deepEqual(chunkRows(r), [
      { first_id: 1, last_id: 2, count: 2, format: FORMAT_JSON },
      { first_id: 3, last_id: 5, count: 3, format: FORMAT_NDJSON },
      { first_id: 6, last_id: 6, count: 1, format: FORMAT_ROWS },
    ]);
    const bodies = (r.handle.prepare('SELECT body FROM chunks ORDER BY first_id').pluck().all() as Buffer[]).slice(0, 2);
    assert.deepEqual(bodies, [rawA.bytes, rawB.bytes]);
    assert.equal(r.handle.prepare("SELECT count(*) FROM chunks WHERE typeof(body) != 'blob'").pluck().get(), 0);
    assert.deepEqual(await everything(r), logs);
    assert.deepEqual((await r.recent(4)), logs.slice(2));
    assert.deepEqual((await r.recent(100)), logs);
    assert.deepEqual(await sinceAll(r, T0 + 3000), logs.filter((l) => l.ts >= T0 + 3000));
    assert.equal((await r.count()), 6);
    assert.equal((await r.minId()), 1);
    assert.equal((await r.lastAssignedId()), 6);
    await r.close();

    const again = openRepo(path);
    assert.deepEqual(await everything(again), logs);
    assert.equal((await again.count()), 6);
    assert.deepEqual(
      (await again.counters()).map((c) => [c.service, c.level, c.count]).sort(),
      [['api', 1, 4], ['api', 3, 1], ['worker', 1, 1]].sort(),
    );
  });

  test('concurrent appends share one commit and stay one chunk each; a failing group stores nothing', async () => {
    const r = openRepo(tempDb(), { commitIntervalMs: 5, commitMaxRows: 1000 });
    const batches = [0, 1, 2, 3].map((b) => storedOf([input(b * 2), input(b * 2 + 1)], b * 2 + 1, T0 + b));
    await Promise.all(batches.map((logs, b) => r.append(logs, b % 2 ? json([input(b * 2), input(b * 2 + 1)]) : undefined)));
    assert.equal(chunkRows(r).length, 4);
    assert.deepEqual(await everything(r), batches.flat());
    // Two appends in one group, the second reusing an id: the whole group fails, as one transaction.
    const fresh = storedOf([input(20)], 20, T0 + 9);
    const clash = storedOf([input(21)], 3, T0 + 9);
    const outcomes = await Promise.allSettled([r.append(fresh), r.append(clash)]);
    for (const o of outcomes) {
      assert.equal(o.status, 'rejected');
      assert.ok((o as PromiseRejectedResult).reason instanceof StorageError);
      assert.match((o as PromiseRejectedResult).reason.message, /^cannot write to the log database /);
    }
    assert.equal((await r.count()), 8);
    assert.equal((await r.lastAssignedId()), 8);
    assert.deepEqual(await everything(r), batches.flat());
  });

  test('query over many chunks answers like the in-memory tier: every filter, offsets, limits, cursors', async () => {
    const r = openRepo(tempDb());
    const logs = await fill(r, 120, 11);
    assert.ok(logs.length > 1500, `${logs.length} logs`);
    assert.equal(chunkRows(r).length, 120);
    assert.ok(logs.some((l) => typeof l.metadata?.s === 'string' && l.metadata.s === '\ud800'));
    const compared = await assertQueriesMatch(r, logs);
    assert.ok(compared > 50_000, `compared ${compared}`);
    assert.deepEqual((await r.recent(77)), logs.slice(-77));
    assert.deepEqual((await r.recent(0)), []);
    const cut = T0 - 3_600_000;
    assert.deepEqual(ids(await sinceAll(r, cut)), ids(logs.filter((l) => l.ts >= cut)));
  });

  /** 24 chunks of 500 logs whose event times interleave (log i of chunk c at T0 - (i * 24 + c) s): every chunk may hold the newest. */
  async function interleaved(r: SqliteRepository): Promise<StoredLog[]> {
    const all: StoredLog[] = [];
    for (let c = 0; c < 24; c++) {
      const inputs = Array.from({ length: 500 }, (_, i) => input(0, { timestamp: new Date(T0 - (i * 24 + c) * 1000).toISOString(), service: i % 2 ? 'api' : 'worker' }));
      const logs = storedOf(inputs, c * 500 + 1, T0 + c);
      await r.append(logs);
      all.push(...logs);
    }
    return all;
  }

  test('a listing that reads every chunk gives the event loop turns on the way, and answers the same', async () => {
    const r = openRepo(tempDb());
    const logs = await interleaved(r);
    const order: string[] = [];
    // Due at the event loop's next turn: it comes first only if the listing gives one up.
    setImmediate(() => order.push('turn'));
    const listing = r.query({ limit: 1000, services: ['worker'] }).then((page) => {
      order.push('listed');
      return page;
    });
    const page = await listing;
    assert.deepEqual(order, ['turn', 'listed'], '12,000 logs read without a turn would hold every request up meanwhile');
    const expected = logs.filter((l) => l.service === 'worker').sort((a, b) => b.ts - a.ts || b.id - a.id).slice(0, 1000);
    assert.deepEqual(ids(page.logs), ids(expected));
  });

  test('logs deleted during a listing\'s turn: it starts over, so no rewritten chunk shows twice and no deleted log shows', async () => {
    const r = openRepo(tempDb());
    let logs = await interleaved(r);
    // Cuts through every chunk: each is rewritten with the logs it keeps.
    const before = T0 - 6_000_000;
    // At the event loop's next turn, while the listing has given one up.
    setImmediate(() => void r.deleteBefore(before));
    const listing = r.query({ limit: 12_000 });
    const page = await listing;
    logs = logs.filter((l) => l.ts >= before);
    assert.ok(logs.length > 0 && logs.length < 12_000);
    assert.deepEqual(ids(page.logs), ids([...logs].sort((a, b) => b.ts - a.ts || b.id - a.id)));
  });

  test('deleteBefore cuts through chunks: the survivors are rewritten with their own ids and receive times, and answer every query', async () => {
    const path = tempDb();
    const r = openRepo(path);
    let logs = await fill(r, 60, 23);
    const formats = new Set(chunkRows(r).map((c) => c.format));
    assert.deepEqual([...formats].sort(), [FORMAT_JSON, FORMAT_NDJSON, FORMAT_ROWS]);
    const before = T0 - 3_000_000;
    const gone = logs.filter((l) => l.ts < before).length;
    assert.ok(gone > 0 && gone < logs.length);
    assert.equal((await r.deleteBefore(before)), gone);
    logs = logs.filter((l) => l.ts >= before);
    assert.equal((await r.count()), logs.length);
    assert.ok(chunkRows(r).every((c) => c.format === FORMAT_ROWS || c.count > 0));
    assert.ok(chunkRows(r).some((c) => c.format === FORMAT_ROWS && c.last_id - c.first_id + 1 > c.count), 'some chunks now have gaps in their ids');
    assert.deepEqual(await everything(r), logs);
    await assertQueriesMatch(r, logs);
    assert.equal((await r.deleteBefore(before)), 0, 'nothing left to delete');
    await r.close();
    const again = openRepo(path);
    assert.deepEqual(await everything(again), logs);
    assert.equal((await again.count()), logs.length);
    assert.equal((await again.minId()), logs[0]!.id);
    // Everything goes; ids are still not reused.
    const last = logs[logs.length - 1]!.id;
    assert.equal((await again.deleteBefore(Date.parse('2100-01-01T00:00:00Z'))), logs.length);
    assert.deepEqual([(await again.count()), (await again.minId()), (await again.lastAssignedId())], [0, 0, last]);
  });

  /** Retention as it was defined on one row per log: the reference for retentionStep. */
  function referenceStep(logs: StoredLog[], now: number, o: { maxAgeMs: number; maxRows: number; batchSize: number }): { result: RetentionResult; rest: StoredLog[] } {
    const result: RetentionResult = { deleted: 0, minId: 0, receivedBefore: 0 };
    let rest = logs;
    if (o.maxAgeMs > 0) {
      result.receivedBefore = now - o.maxAgeMs;
      const gone = new Set(rest.filter((l) => l.receivedAt < result.receivedBefore).slice(0, o.batchSize));
      rest = rest.filter((l) => !gone.has(l));
      result.deleted += gone.size;
    }
    if (o.maxRows > 0 && result.deleted < o.batchSize) {
      const excess = rest.length - o.maxRows;
      if (excess > 0) {
        const take = Math.min(excess, o.batchSize - result.deleted);
        result.minId = rest[take - 1]!.id + 1;
        rest = rest.slice(take);
        result.deleted += take;
      }
    }
    return { result, rest };
  }

  for (const retention of [
    { maxAgeMs: 3_600_000, maxRows: 0, batchSize: 1 },
    { maxAgeMs: 3_600_000, maxRows: 0, batchSize: 37 },
    { maxAgeMs: 0, maxRows: 300, batchSize: 23 },
    { maxAgeMs: 0, maxRows: 300, batchSize: 5000 },
    { maxAgeMs: 3_600_000, maxRows: 250, batchSize: 29 },
    { maxAgeMs: 7_200_000, maxRows: 900, batchSize: 500 },
  ]) {
    test(`retentionStep deletes exactly what it did on one row per log, step by step (${JSON.stringify(retention)})`, async () => {
      const r = openRepo(tempDb(), { retention });
      let logs = await fill(r, 70, 5);
      // Received in mixed order too: a rewritten chunk and old ids with new receive times.
      const late = storedOf([input(1), input(2), input(3)], logs[logs.length - 1]!.id + 1, T0 - 1);
      await r.append(late);
      logs = [...logs, ...late];
      const now = logs[Math.floor(logs.length * 0.6)]!.receivedAt + retention.maxAgeMs;
      let steps = 0;
      for (;;) {
        const want = referenceStep(logs, now, retention);
        const got = (await r.retentionStep(now));
        assert.deepEqual(got, want.result, `step ${steps}`);
        assert.equal((await r.count()), want.rest.length);
        logs = want.rest;
        if (got.deleted === 0) break;
        assert.ok(got.deleted <= retention.batchSize);
        assert.ok(++steps < 10_000);
        if (steps % 7 === 1) assert.deepEqual(await everything(r), logs, `after step ${steps}`);
      }
      assert.ok(steps > 0);
      assert.deepEqual(await everything(r), logs);
      assert.equal((await r.minId()), logs[0]?.id ?? 0);
      await assertQueriesMatch(r, logs);
    });
  }

  test('text and user id searches find logs whose bytes spell them with escapes', async () => {
    const r = openRepo(tempDb());
    const inputs = [input(1, { message: 'ÉCHEC "quoted"', user_id: 'u2' }), input(2, { message: 'plain', user_id: 'u3' })];
    // As a client that escapes everything but ASCII sends it (Python's json.dumps does by default).
    const ascii = JSON.stringify(inputs).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).replace('"u2"', '"\\u0075\\u0032"');
    const logs = storedOf(inputs, 1, T0);
    await r.append(logs, { bytes: Buffer.from(ascii), format: 'json' });
    await r.append(storedOf([input(3, { message: 'échec without escapes', user_id: 'u2' })], 3, T0), json([input(3, { message: 'échec without escapes', user_id: 'u2' })]));
    assert.deepEqual(ids((await r.query({ limit: 10, text: 'échec' })).logs), [3, 1]);
    assert.deepEqual(ids((await r.query({ limit: 10, text: 'QUOTED"' })).logs), [1]);
    assert.deepEqual(ids((await r.query({ limit: 10, userId: 'u2' })).logs), [3, 1]);
    assert.deepEqual(ids((await r.query({ limit: 10, userId: 'u3', text: 'plain' })).logs), [2]);
    assert.deepEqual(ids((await r.query({ limit: 10, text: 'no such' })).logs), []);
  });

  test('counters count every appended log by service and level, whatever the format', async () => {
    const r = openRepo(tempDb(), { counterKey: (s) => (s === 'api' || s === 'worker' ? s : 'other') });
    const logs = await fill(r, 30, 3);
    const want = new Map<string, { count: number; lastTs: number; lastReceived: number }>();
    for (const l of logs) {
      const key = `${l.service === 'api' || l.service === 'worker' ? l.service : 'other'}|${levelIndex(l.level)}`;
      const c = want.get(key);
      if (c === undefined) want.set(key, { count: 1, lastTs: l.ts, lastReceived: l.receivedAt });
      else want.set(key, { count: c.count + 1, lastTs: Math.max(c.lastTs, l.ts), lastReceived: Math.max(c.lastReceived, l.receivedAt) });
    }
    const got = new Map((await r.counters()).map((c) => [`${c.service}|${c.level}`, { count: c.count, lastTs: c.lastTs, lastReceived: c.lastReceived }]));
    assert.deepEqual(got, want);
  });
});
