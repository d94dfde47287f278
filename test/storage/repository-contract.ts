import assert from 'node:assert/strict';
import { LEVELS, StoredLog, levelIndex, type Level, type LogInput } from '../../server/core/log.js';
import type { LogQuery } from '../../server/core/log-filter.js';
import type { LogCursor } from '../../server/core/listing-order.js';
import { RecentLogs } from '../../server/core/recent-logs.js';
import type { LogRepository, RawBatch } from '../../server/core/repository.js';
import { seededRandom } from '../../server/core/simulator.js';
import { parseRfc3339 } from '../../server/core/time.js';
import type { LogPage } from '../../server/core/log-filter.js';

/**
 * What every durable tier must do alike, shared by the SQLite and PostgreSQL tests: logs
 * made as ingest makes them, random batches, and the in-memory tier as the reference for what
 * a query means and in what order it lists.
 */

/** A durable tier with a page-at-a-time `query` over `listed`. */
export type ContractRepository = Pick<LogRepository, 'append'> & { query(q: LogQuery): Promise<LogPage> };

export const T0 = Date.parse('2024-01-15T14:30:00Z');

/** A log as a client sends it, and the StoredLog ingest makes of it. */
export function input(i: number, o: Partial<LogInput> = {}): LogInput {
  const entry: LogInput = {
    timestamp: o.timestamp ?? new Date(T0 + i * 1000).toISOString(),
    level: o.level ?? 'INFO',
    service: o.service ?? 'api',
    message: o.message ?? `message ${i}`,
  };
  if (o.user_id !== undefined) entry.user_id = o.user_id;
  if (o.metadata !== undefined) entry.metadata = o.metadata;
  return entry;
}

export function storedOf(inputs: readonly LogInput[], firstId: number, receivedAt: number): StoredLog[] {
  return inputs.map(
    (l, i) =>
      new StoredLog(firstId + i, parseRfc3339(l.timestamp), l.timestamp, LEVELS[levelIndex(l.level)]!, l.service, l.message, l.user_id, l.metadata, receivedAt),
  );
}

export const json = (inputs: readonly LogInput[]): RawBatch => ({ bytes: Buffer.from(JSON.stringify(inputs)), format: 'json' });
export const ndjson = (text: string): RawBatch => ({ bytes: Buffer.from(text), format: 'ndjson' });
export const ids = (logs: Iterable<StoredLog>): number[] => [...logs].map((l) => l.id);

export const SERVICES = ['api', 'worker', 'Ünïcode-svc', 'a\nb', 'say "api', 'payment-service'];
export const USERS = ['u1', 'u2', 'u3'];
export const WORDS = ['Timeout talking to db', 'ÉCHEC du paiement', 'user logged in', 'cache miss', 'Straße gesperrt'];

/**
 * `batches` appends of 1 to 40 logs with random fields, alternating JSON bytes, NDJSON bytes
 * and none; ids consecutive over all of them, a gap now and then (ids of a failed request).
 * Returns the logs appended, ascending by id.
 */
export async function fill(r: ContractRepository, batches: number, seed: number, startReceived = T0): Promise<StoredLog[]> {
  const rand = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const all: StoredLog[] = [];
  let nextId = 1;
  let received = startReceived;
  for (let b = 0; b < batches; b++) {
    const n = 1 + Math.floor(rand() * 40);
    const inputs = Array.from({ length: n }, (_, k) => {
      const o: Partial<LogInput> = {
        timestamp: new Date(T0 - Math.floor(rand() * 7_200_000)).toISOString(),
        level: pick(LEVELS) as Level,
        service: pick(SERVICES),
        message: `${pick(WORDS)} #${b}.${k}`,
      };
      if (rand() < 0.5) o.user_id = pick(USERS);
      if (rand() < 0.4) o.metadata = { b, k, s: rand() < 0.2 ? '\ud800' : 'ok' };
      return input(0, o);
    });
    const logs = storedOf(inputs, nextId, received);
    const kind = b % 3;
    const raw = kind === 0 ? json(inputs) : kind === 1 ? ndjson(inputs.map((l) => JSON.stringify(l)).join(b % 2 ? '\r\n' : '\n\n')) : undefined;
    await r.append(logs, raw);
    all.push(...logs);
    nextId += n + (rand() < 0.1 ? 3 : 0);
    received += Math.floor(rand() * 60_000);
  }
  return all;
}

/** The in-memory tier holding `logs`: the reference for query semantics. */
export function oracle(logs: readonly StoredLog[]): RecentLogs {
  const store = new RecentLogs(1_000_000);
  store.append(logs);
  return store;
}

export function queries(logs: readonly StoredLog[]): Omit<LogQuery, 'limit'>[] {
  const sortedTs = logs.map((l) => l.ts).sort((a, b) => a - b);
  const rec = [...new Set(logs.map((l) => l.receivedAt))].sort((a, b) => a - b);
  const at = <T>(xs: T[], f: number): T => xs[Math.floor(f * (xs.length - 1))]!;
  const middle = logs[Math.floor(logs.length / 2)]!;
  const mid = { ts: middle.ts, id: middle.id };
  return [
    {},
    { services: ['api'] },
    { services: ['a\nb'] },
    { services: ['say "api', 'worker'] },
    { services: ['no-such'] },
    { levels: ['ERROR', 'CRITICAL'] },
    { levels: ['DEBUG'], services: ['api', 'Ünïcode-svc'] },
    { from: at(sortedTs, 0.3), to: at(sortedTs, 0.6) },
    { to: at(sortedTs, 0.2) },
    { receivedFrom: at(rec, 0.2), receivedTo: at(rec, 0.7) },
    { receivedTo: at(rec, 0.5) },
    { receivedFrom: at(rec, 0.5), levels: ['INFO', 'WARNING'] },
    { userId: 'u2' },
    { text: 'échec' },
    { text: 'TIMEOUT', services: ['worker'] },
    { before: mid },
    { before: mid, levels: ['WARNING'], text: 'miss' },
    { services: ['api', 'worker', 'Ünïcode-svc', 'a\nb', 'say "api', 'payment-service'], levels: ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] },
  ];
}

/** `query` with every query above, several limits and offsets, equals the in-memory tier's answer. */
export async function assertQueriesMatch(r: ContractRepository, logs: readonly StoredLog[]): Promise<number> {
  const store = oracle(logs);
  let compared = 0;
  for (const base of queries(logs)) {
    for (const limit of [1, 7, 50, 10_000]) {
      for (const offset of [0, 1, 13, 40, 99, 250, 5000]) {
        const q: LogQuery = { ...base, limit, offset };
        const want = store.query(q);
        const got = await r.query(q);
        assert.deepEqual(got, want, JSON.stringify(q));
        compared += got.logs.length;
      }
    }
    // Paging by the cursor covers every match once.
    const all = store.query({ ...base, limit: 1_000_000 }).logs;
    const paged: StoredLog[] = [];
    let cursor: LogCursor | null | undefined = base.before;
    for (let pages = 0; pages < 10_000; pages++) {
      const page = await r.query({ ...base, ...(cursor && { before: cursor }), limit: 17 });
      paged.push(...page.logs);
      cursor = page.next;
      if (cursor === null) break;
    }
    assert.deepEqual(ids(paged), ids(all), `paging ${JSON.stringify(base)}`);
  }
  return compared;
}
