/**
 * The listing order (newest event time first, ties by id) of the recent-logs buffer, against a
 * model: a plain array sorted the same way. fast-check drives appends with late, early and
 * tied event times across several blocks of the ring, wraps it, deletes from it, and then pages
 * through it with cursors, filters and offsets. FC_SEED overrides the fixed seed.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FirstListed, compareListed, formatCursor, listedAfter, parseCursor, type LogCursor } from '../../server/core/listing-order.js';
import { LogFilter, type LogQuery } from '../../server/core/log-filter.js';
import { LEVELS, StoredLog, type Level } from '../../server/core/log.js';
import { RecentLogs } from '../../server/core/recent-logs.js';

const SEED = process.env.FC_SEED === undefined ? 20_241_207 : Number(process.env.FC_SEED);
const T0 = Date.parse('2024-01-15T14:30:00Z');

const byListing = (a: StoredLog, b: StoredLog): number => compareListed(a.ts, a.id, b.ts, b.id);

describe('FirstListed', () => {
  test('keeps the first k offered in listing order, whatever the order they come in', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 1, max: 10_000 })), { maxLength: 300 }), fc.integer({ min: 0, max: 40 }), (pairs, k) => {
        const unique = [...new Map(pairs.map(([ts, id]) => [id, ts])).entries()].map(([id, ts]) => ({ ts, id }));
        const top = new FirstListed<number>(k);
        for (const { ts, id } of unique) top.offer(ts, id, id);
        const want = [...unique].sort((a, b) => compareListed(a.ts, a.id, b.ts, b.id)).slice(0, k);
        assert.deepEqual(top.sorted().map((e) => [e.ts, e.id, e.item]), want.map((e) => [e.ts, e.id, e.id]));
        if (top.full && want.length > 0) assert.equal(top.floorTs, want[want.length - 1]!.ts);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  test('a cursor is written and read back as ts.id; anything else is not one', () => {
    const c: LogCursor = { ts: T0, id: 42 };
    assert.equal(formatCursor(c), '1705329000000.42');
    assert.deepEqual(parseCursor(formatCursor(c)), c);
    assert.deepEqual(parseCursor('-5.1'), { ts: -5, id: 1 });
    for (const bad of ['', '42', '1.2.3', 'a.b', '1e3.4', '1.-4', '99999999999999999.1']) assert.equal(parseCursor(bad), undefined, bad);
    assert.ok(listedAfter(T0 - 1, 99, c) && listedAfter(T0, 41, c) && !listedAfter(T0, 42, c) && !listedAfter(T0 + 1, 1, c));
  });
});

/** Event time relative to the batch's clock, in thousandths of the batch's spread. */
const DT = fc.integer({ min: -1000, max: 1000 });

interface Op {
  kind: 'append' | 'deleteBefore' | 'expire';
  /** Seconds the batch's event times spread around its clock: none, a few, or far late and early. */
  spread: number;
  logs: { dt: number; level: number; service: number }[];
  at: number;
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('append' as const), spread: fc.constantFrom(0, 2, 5, 5, 300), logs: fc.array(fc.record({ dt: DT, level: fc.integer({ min: 0, max: 4 }), service: fc.integer({ min: 0, max: 2 }) }), { minLength: 1, maxLength: 400, size: 'large' }), at: fc.constant(0) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('deleteBefore' as const), spread: fc.constant(0), logs: fc.constant([] as Op['logs']), at: fc.integer({ min: -300, max: 300 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('expire' as const), spread: fc.constant(0), logs: fc.constant([] as Op['logs']), at: fc.integer({ min: 0, max: 40 }) }) },
);

const queryArb = fc.record({
  levels: fc.option(fc.subarray([...LEVELS], { minLength: 1 }), { nil: undefined }),
  services: fc.option(fc.subarray(['s0', 's1', 's2'], { minLength: 1 }), { nil: undefined }),
  from: fc.option(fc.integer({ min: -300, max: 300 }), { nil: undefined }),
  limit: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 300 })),
  offset: fc.option(fc.integer({ min: 0, max: 50 }), { nil: undefined }),
});

describe('RecentLogs in listing order, against a model', () => {
  test('pages walk every held match once, in order, across wraps, deletes and late logs', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1000, max: 2600 })), fc.array(opArb, { minLength: 1, maxLength: 25, size: 'medium' }), queryArb, (capacity, ops, qa) => {
        const store = new RecentLogs(capacity);
        let held: StoredLog[] = [];
        let id = 0;
        let clock = 0;
        for (const op of ops) {
          if (op.kind === 'append') {
            clock += 10;
            const batch = op.logs.map((l) => {
              const ts = T0 + clock * 1000 + Math.round(l.dt * op.spread);
              return new StoredLog(++id, ts, new Date(ts).toISOString(), LEVELS[l.level] as Level, `s${l.service}`, `m${id}`, undefined, undefined, T0 + id);
            });
            store.append(batch);
            held = [...held, ...batch].slice(-capacity);
          } else if (op.kind === 'deleteBefore') {
            const ts = T0 + (clock + op.at) * 1000;
            assert.equal(store.deleteBefore(ts), held.filter((l) => l.ts < ts).length);
            held = held.filter((l) => l.ts >= ts);
          } else {
            const minId = Math.floor((id * op.at) / 100);
            store.removeExpired(minId, 0);
            held = held.filter((l) => l.id >= minId);
          }
          // Read between writes too: what a read learns about the blocks must not outlive the next write.
          const top = [...held].sort(byListing).slice(0, 3).map((l) => l.id);
          assert.deepEqual(store.query({ limit: 3 }).logs.map((l) => l.id), top, 'the newest three after each step');
        }
        const q: LogQuery = {
          limit: qa.limit,
          ...(qa.levels && { levels: qa.levels }),
          ...(qa.services && { services: qa.services }),
          ...(qa.from !== undefined && { from: T0 + (clock + qa.from) * 1000 }),
        };
        const filter = new LogFilter(q);
        const want = held.filter((l) => filter.matches(l)).sort(byListing);

        // With an offset: one page.
        const offset = qa.offset ?? 0;
        const page = store.query({ ...q, offset });
        assert.deepEqual(page.logs.map((l) => l.id), want.slice(offset, offset + q.limit).map((l) => l.id), 'the page at an offset');
        assert.equal(page.next !== null, want.length > offset + q.limit, 'a next page exactly when there are more');

        // Paging with cursors: every match once, in order.
        const seen: number[] = [];
        let before: LogCursor | undefined;
        for (let pages = 0; ; pages++) {
          assert.ok(pages <= want.length + 1, 'paging ends');
          const p = store.query({ ...q, ...(before && { before }) });
          seen.push(...p.logs.map((l) => l.id));
          if (p.next === null) break;
          before = p.next;
        }
        assert.deepEqual(seen, want.map((l) => l.id));
      }),
      // A failure's example is large: shrink it for a while, then report what there is.
      { seed: SEED, numRuns: 300, interruptAfterTimeLimit: 60_000, markInterruptAsFailure: true },
    );
  });
});
