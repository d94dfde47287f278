import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Analytics, UserCounts, errorTrendsOf } from '../../server/core/analytics.js';
import { roundRatio } from '../../server/core/error-rate.js';
import { KeyCap } from '../../server/core/key-cap.js';
import { StoredLog, type Level } from '../../server/core/log.js';
import { MINUTE_MS, minuteOf } from '../../server/core/time.js';
import { ManualClock } from '../helpers.js';

const T0 = Date.parse('2024-01-15T14:30:00Z');
const MAX_BUCKETS = 10;
const SKEW_MS = 120_000;
/** Slots in the circular array: max_buckets + ceil(skew minutes) + 1. */
const SLOTS = MAX_BUCKETS + Math.ceil(SKEW_MS / MINUTE_MS) + 1;

/** The caps ingest would admit services and user ids through; every analytics here names them from these. */
const SERVICES = new KeyCap(1_000_000);
const USERS = new KeyCap(1_000_000);

let nextId = 1;
/** A log as ingest hands it over: its service and user indexes from the caps. */
function mk(ts: number, level: Level = 'INFO', service = 'svc-a', userId?: string): StoredLog {
  const log = new StoredLog(nextId++, ts, new Date(ts).toISOString(), level, service, 'message', userId, undefined, ts);
  log.serviceIndex = SERVICES.admitIndex(service);
  if (userId !== undefined) log.userIndex = USERS.admitIndex(userId);
  return log;
}

interface Setup {
  clock: ManualClock;
  analytics: Analytics;
}

function setup(opts: { start?: number } = {}): Setup {
  const clock = new ManualClock(opts.start ?? T0);
  const analytics = new Analytics({ maxBuckets: MAX_BUCKETS, futureSkewMs: SKEW_MS, now: clock.now, services: SERVICES, users: USERS });
  return { clock, analytics };
}

const at = (iso: string): number => Date.parse(iso);
const sumTotals = (a: Analytics, minutes = MAX_BUCKETS): number => a.timeSeries(minutes).reduce((s, p) => s + p.total, 0);

describe('Analytics window edges', () => {
  test('a log exactly at the oldest window minute counts; one minute older is outOfWindow', () => {
    const { analytics } = setup();
    // now = 14:30:00, 10 buckets -> window 14:21..14:30
    analytics.append([mk(at('2024-01-15T14:21:00Z')), mk(at('2024-01-15T14:20:59.999Z')), mk(at('2024-01-15T14:20:00Z'))]);
    assert.equal(analytics.outOfWindow, 2);
    const series = analytics.timeSeries(MAX_BUCKETS);
    assert.deepEqual(series[0], { time: '2024-01-15T14:21', total: 1, errors: 0 });
    assert.equal(sumTotals(analytics), 1);
  });

  test('window edges follow the clock minute even mid-minute', () => {
    const { analytics } = setup({ start: at('2024-01-15T14:30:45Z') });
    analytics.append([mk(at('2024-01-15T14:21:00Z')), mk(at('2024-01-15T14:20:59Z')), mk(at('2024-01-15T14:30:44Z'))]);
    assert.equal(analytics.outOfWindow, 1);
    const series = analytics.timeSeries(MAX_BUCKETS);
    assert.equal(series[0]!.time, '2024-01-15T14:21');
    assert.equal(series[0]!.total, 1);
    assert.equal(series[9]!.time, '2024-01-15T14:30');
    assert.equal(series[9]!.total, 1);
  });

  test('old (1970) logs never create or evict a bucket', () => {
    const { analytics } = setup();
    analytics.append([mk(T0, 'ERROR'), mk(T0)]);
    // A 1970 minute that maps to the same slot as the current minute.
    const oldMinute = minuteOf(T0) % SLOTS;
    const oldTs = oldMinute * MINUTE_MS;
    assert.equal(new Date(oldTs).getUTCFullYear(), 1970);
    analytics.append([mk(oldTs, 'CRITICAL'), mk(0)]);
    assert.equal(analytics.outOfWindow, 2);
    const last = analytics.timeSeries(MAX_BUCKETS)[MAX_BUCKETS - 1]!;
    assert.deepEqual(last, { time: '2024-01-15T14:30', total: 2, errors: 1 });
    assert.equal(sumTotals(analytics), 2);
  });

  test('far-future (2099) logs never create or evict a bucket', () => {
    const { analytics, clock } = setup();
    analytics.append([mk(T0 - MINUTE_MS, 'WARNING')]);
    const target = minuteOf(T0 - MINUTE_MS) % SLOTS;
    let future = minuteOf(at('2099-06-01T00:00:00Z'));
    while (future % SLOTS !== target) future++;
    const futureTs = future * MINUTE_MS;
    assert.equal(new Date(futureTs).getUTCFullYear(), 2099);
    analytics.append([mk(futureTs), mk(at('2099-12-31T23:59:59Z'))]);
    assert.equal(analytics.outOfWindow, 2);
    const series = analytics.timeSeries(MAX_BUCKETS);
    assert.deepEqual(series[MAX_BUCKETS - 2], { time: '2024-01-15T14:29', total: 1, errors: 0 });
    assert.equal(sumTotals(analytics), 1);
    // Even after the clock moves on a bit, the 2099 log is nowhere.
    clock.advance(MINUTE_MS);
    assert.equal(sumTotals(analytics), 1);
  });

  test('future logs within future_skew count and appear once the clock reaches their minute', () => {
    const { analytics, clock } = setup();
    analytics.append([
      mk(T0 + 90_000), // 14:31:30
      mk(T0 + SKEW_MS, 'ERROR'), // 14:32:00, exactly at the skew edge
      mk(T0 + 3 * MINUTE_MS), // 14:33:00, beyond the skew
    ]);
    assert.equal(analytics.outOfWindow, 1);
    // Not yet visible: the window ends at the clock's minute.
    assert.equal(sumTotals(analytics), 0);
    assert.deepEqual(analytics.timeRange(), { first: null, last: null });

    clock.advance(MINUTE_MS); // 14:31
    let series = analytics.timeSeries(MAX_BUCKETS);
    assert.deepEqual(series[MAX_BUCKETS - 1], { time: '2024-01-15T14:31', total: 1, errors: 0 });
    assert.equal(sumTotals(analytics), 1);

    clock.advance(MINUTE_MS); // 14:32
    series = analytics.timeSeries(MAX_BUCKETS);
    assert.deepEqual(series[MAX_BUCKETS - 1], { time: '2024-01-15T14:32', total: 1, errors: 1 });
    assert.equal(sumTotals(analytics), 2);
    assert.deepEqual(analytics.timeRange(), { first: '2024-01-15T14:31', last: '2024-01-15T14:32' });
  });

  test('a future log is counted in the future minute, not the current one', () => {
    const { analytics, clock } = setup();
    analytics.append([mk(T0 + 61_000)]);
    assert.equal(analytics.timeSeries(1)[0]!.total, 0);
    clock.advance(MINUTE_MS);
    assert.deepEqual(analytics.timeSeries(2), [
      { time: '2024-01-15T14:30', total: 0, errors: 0 },
      { time: '2024-01-15T14:31', total: 1, errors: 0 },
    ]);
  });
});

describe('Analytics eviction as time advances', () => {
  test('old minute data disappears from timeSeries with no new logs', () => {
    const { analytics, clock } = setup();
    analytics.append([mk(T0, 'ERROR'), mk(T0 + 1000)]);
    assert.equal(sumTotals(analytics), 2);

    clock.advance((MAX_BUCKETS - 1) * MINUTE_MS); // 14:39: 14:30 is the oldest minute
    let series = analytics.timeSeries(MAX_BUCKETS);
    assert.deepEqual(series[0], { time: '2024-01-15T14:30', total: 2, errors: 1 });

    clock.advance(MINUTE_MS); // 14:40: 14:30 has left the window
    series = analytics.timeSeries(MAX_BUCKETS);
    assert.equal(series.length, MAX_BUCKETS);
    assert.equal(series[0]!.time, '2024-01-15T14:31');
    assert.equal(sumTotals(analytics), 0);
    assert.deepEqual(analytics.timeRange(), { first: null, last: null });
    assert.equal(analytics.serviceCounts(MAX_BUCKETS).size, 0);
    assert.deepEqual(analytics.topUsers(MAX_BUCKETS, 5), []);
  });

  test('after the clock moves past max_buckets, a log at the old minute is outOfWindow', () => {
    const { analytics, clock } = setup();
    analytics.append([mk(T0)]);
    clock.advance(MAX_BUCKETS * MINUTE_MS);
    analytics.append([mk(T0)]);
    assert.equal(analytics.outOfWindow, 1);
    assert.equal(sumTotals(analytics), 0);
  });

  test('a reused slot starts from zero: stale data never leaks into a new minute', () => {
    const { analytics, clock } = setup();
    analytics.append([mk(T0, 'ERROR', 'svc-a', 'u1'), mk(T0, 'ERROR', 'svc-b', 'u1')]);
    clock.advance(SLOTS * MINUTE_MS); // the current minute maps to the same slot as 14:30
    const now = clock.now();
    assert.equal(minuteOf(now) % SLOTS, minuteOf(T0) % SLOTS);
    analytics.append([mk(now, 'INFO', 'svc-c', 'u2')]);
    const series = analytics.timeSeries(MAX_BUCKETS);
    assert.deepEqual(series[MAX_BUCKETS - 1], { time: '2024-01-15T14:43', total: 1, errors: 0 });
    assert.equal(sumTotals(analytics), 1);
    assert.deepEqual([...analytics.serviceCounts(MAX_BUCKETS)], [['svc-c', { total: 1, errors: 0 }]]);
    assert.deepEqual(analytics.topUsers(MAX_BUCKETS, 5), [{ user_id: 'u2', count: 1 }]);
  });

  test('old data does not reappear when the clock laps the slot array with no new logs', () => {
    const { analytics, clock } = setup();
    analytics.append([mk(T0, 'ERROR', 'svc-a'), mk(T0, 'INFO', 'svc-b')]);
    // Walk the clock minute by minute through several laps of the circular array.
    for (let i = 1; i <= 3 * SLOTS; i++) {
      clock.advance(MINUTE_MS);
      const expected = i < MAX_BUCKETS ? 2 : 0;
      assert.equal(sumTotals(analytics), expected, `after ${i} minutes`);
      assert.equal(analytics.serviceCounts(MAX_BUCKETS).size, i < MAX_BUCKETS ? 2 : 0, `services after ${i} minutes`);
    }
  });

  test('many hours of minutes: only the last max_buckets are ever visible', () => {
    const { analytics, clock } = setup();
    for (let i = 0; i < 500; i++) {
      analytics.append([mk(clock.now() + 5000), mk(clock.now() + 10_000, 'CRITICAL')]);
      clock.advance(MINUTE_MS);
    }
    clock.advance(-MINUTE_MS); // back to the minute of the last append
    const series = analytics.timeSeries(MAX_BUCKETS);
    assert.equal(series.length, MAX_BUCKETS);
    for (const p of series) assert.deepEqual({ total: p.total, errors: p.errors }, { total: 2, errors: 1 });
    assert.equal(analytics.outOfWindow, 0);
  });
});

describe('Analytics read side', () => {
  test('timeSeries returns exactly N consecutive minutes, oldest first, zeros where empty', () => {
    const { analytics } = setup();
    analytics.append([mk(at('2024-01-15T14:28:10Z')), mk(at('2024-01-15T14:28:50Z'), 'ERROR'), mk(at('2024-01-15T14:30:00Z'))]);
    assert.deepEqual(analytics.timeSeries(4), [
      { time: '2024-01-15T14:27', total: 0, errors: 0 },
      { time: '2024-01-15T14:28', total: 2, errors: 1 },
      { time: '2024-01-15T14:29', total: 0, errors: 0 },
      { time: '2024-01-15T14:30', total: 1, errors: 0 },
    ]);
    const full = analytics.timeSeries(MAX_BUCKETS);
    assert.equal(full.length, MAX_BUCKETS);
    for (let i = 1; i < full.length; i++) {
      assert.equal(Date.parse(`${full[i]!.time}Z`) - Date.parse(`${full[i - 1]!.time}Z`), MINUTE_MS);
    }
    assert.equal(analytics.timeSeries(1).length, 1);
  });

  test('errors = ERROR + CRITICAL; DEBUG/INFO/WARNING are not errors', () => {
    const { analytics } = setup();
    const levels: Level[] = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'];
    analytics.append(levels.map((l) => mk(T0, l)));
    assert.deepEqual(analytics.timeSeries(1), [{ time: '2024-01-15T14:30', total: 5, errors: 2 }]);
  });

  test('errorTrendsOf gives the rounded rate per minute, 0 for empty minutes', () => {
    const { analytics } = setup();
    analytics.append([mk(T0 - MINUTE_MS, 'ERROR'), mk(T0 - MINUTE_MS), mk(T0 - MINUTE_MS), mk(T0, 'CRITICAL'), mk(T0, 'ERROR')]);
    assert.deepEqual(errorTrendsOf(analytics.timeSeries(3)), [
      { time: '2024-01-15T14:28', error_rate: 0 },
      { time: '2024-01-15T14:29', error_rate: 0.3333 },
      { time: '2024-01-15T14:30', error_rate: 1 },
    ]);
  });

  test('roundRatio rounds to 4 decimals', () => {
    assert.equal(roundRatio(1 / 3), 0.3333);
    assert.equal(roundRatio(2 / 3), 0.6667);
    assert.equal(roundRatio(0.5), 0.5);
  });

  test('timeRange gives the first and last minute with data in the window', () => {
    const { analytics } = setup();
    assert.deepEqual(analytics.timeRange(), { first: null, last: null });
    analytics.append([mk(at('2024-01-15T14:28:30Z')), mk(at('2024-01-15T14:23:59Z')), mk(at('2024-01-15T14:25:00Z'))]);
    assert.deepEqual(analytics.timeRange(), { first: '2024-01-15T14:23', last: '2024-01-15T14:28' });
  });

  test('serviceCounts sums totals and errors per service over the asked window only', () => {
    const { analytics } = setup();
    analytics.append([
      mk(at('2024-01-15T14:30:00Z'), 'INFO', 'svc-a'),
      mk(at('2024-01-15T14:29:00Z'), 'ERROR', 'svc-a'),
      mk(at('2024-01-15T14:27:00Z'), 'CRITICAL', 'svc-b'),
      mk(at('2024-01-15T14:27:30Z'), 'INFO', 'svc-b'),
      mk(at('2024-01-15T14:22:00Z'), 'ERROR', 'svc-a'),
      mk(at('2024-01-15T14:22:00Z'), 'INFO', 'svc-c'),
    ]);
    const five = analytics.serviceCounts(5); // 14:26..14:30
    assert.deepEqual(Object.fromEntries(five), {
      'svc-a': { total: 2, errors: 1 },
      'svc-b': { total: 2, errors: 1 },
    });
    const all = analytics.serviceCounts(MAX_BUCKETS);
    assert.deepEqual(Object.fromEntries(all), {
      'svc-a': { total: 3, errors: 2 },
      'svc-b': { total: 2, errors: 1 },
      'svc-c': { total: 1, errors: 0 },
    });
    // The result is a fresh map: mutating it does not touch the buckets.
    all.get('svc-a')!.total = 999;
    assert.equal(analytics.serviceCounts(MAX_BUCKETS).get('svc-a')!.total, 3);
  });

  test('topUsers over a window, largest first, limited to n', () => {
    const { analytics } = setup();
    analytics.append([
      mk(at('2024-01-15T14:30:00Z'), 'INFO', 'svc-a', 'alice'),
      mk(at('2024-01-15T14:30:00Z'), 'INFO', 'svc-a', 'bob'),
      mk(at('2024-01-15T14:29:00Z'), 'INFO', 'svc-a', 'bob'),
      mk(at('2024-01-15T14:22:00Z'), 'INFO', 'svc-a', 'carol'),
      mk(at('2024-01-15T14:22:00Z'), 'INFO', 'svc-a', 'carol'),
      mk(at('2024-01-15T14:22:00Z'), 'INFO', 'svc-a', 'carol'),
      mk(at('2024-01-15T14:22:00Z'), 'INFO', 'svc-a'), // no user: not counted
    ]);
    assert.deepEqual(analytics.topUsers(2, 10), [
      { user_id: 'bob', count: 2 },
      { user_id: 'alice', count: 1 },
    ]);
    assert.deepEqual(analytics.topUsers(MAX_BUCKETS, 2), [
      { user_id: 'carol', count: 3 },
      { user_id: 'bob', count: 2 },
    ]);
  });

  test('users with equal counts rank by user id, not by the order the cap admitted them', () => {
    const { analytics } = setup();
    const t = at('2024-01-15T14:30:00Z');
    // 'zed-tie' is admitted to the users' cap (and given its index) before 'amy-tie'.
    analytics.append([mk(t, 'INFO', 'svc-a', 'zed-tie'), mk(t, 'INFO', 'svc-a', 'amy-tie'), mk(t, 'INFO', 'svc-a', 'mid-tie')]);
    const expected = [
      { user_id: 'amy-tie', count: 1 },
      { user_id: 'mid-tie', count: 1 },
    ];
    assert.deepEqual(analytics.topUsers(1, 2), expected);
    assert.deepEqual(analytics.topUsersByMerge(1, 2), expected);
  });

  test("logs are counted under their service and user keys: 'other' for values past the caps", () => {
    const { analytics } = setup();
    // What ingest sets when the service cap is full after svc-a and the user cap after u1.
    const folded = (log: StoredLog, service: boolean, user: boolean): StoredLog => {
      if (service) log.serviceIndex = SERVICES.otherIndex();
      if (user) log.userIndex = USERS.otherIndex();
      return log;
    };
    analytics.append([
      folded(mk(T0, 'ERROR', 'svc-d', 'u1'), true, false),
      folded(mk(T0, 'INFO', 'svc-e', 'u2'), true, true),
      folded(mk(T0, 'INFO', 'svc-a', 'u3'), false, true),
    ]);
    assert.deepEqual(Object.fromEntries(analytics.serviceCounts(1)), {
      other: { total: 2, errors: 1 },
      'svc-a': { total: 1, errors: 0 },
    });
    assert.deepEqual(analytics.topUsers(1, 5), [
      { user_id: 'other', count: 2 },
      { user_id: 'u1', count: 1 },
    ]);
    assert.equal(analytics.maxBuckets, MAX_BUCKETS);
  });
});

describe('Analytics top users: the running window agrees with summing the buckets', () => {
  type Step = { kind: 'advance'; ms: number } | { kind: 'append'; offsetsMs: number[]; users: (string | undefined)[] } | { kind: 'ask'; minutes: number };
  const user = fc.option(fc.constantFrom('u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7'), { nil: undefined, freq: 5 });
  const step: fc.Arbitrary<Step> = fc.oneof(
    // Mostly forward, sometimes by more than a window, now and then backwards.
    fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 0, max: 3 * MINUTE_MS }), fc.integer({ min: -5 * MINUTE_MS, max: 30 * MINUTE_MS })) }),
    fc.record({
      kind: fc.constant('append' as const),
      offsetsMs: fc.array(fc.integer({ min: -(MAX_BUCKETS + 2) * MINUTE_MS, max: SKEW_MS + MINUTE_MS }), { minLength: 1, maxLength: 6 }),
      users: fc.array(user, { minLength: 6, maxLength: 6 }),
    }),
    fc.record({ kind: fc.constant('ask' as const), minutes: fc.integer({ min: 1, max: MAX_BUCKETS + 5 }) }),
  );

  test('after any sequence of appends, clock moves and questions', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const { clock, analytics } = setup();
        for (const s of steps) {
          if (s.kind === 'advance') clock.advance(s.ms);
          else if (s.kind === 'append') analytics.append(s.offsetsMs.map((o, i) => mk(clock.now() + o, 'INFO', 'svc-a', s.users[i])));
          else assert.deepEqual(analytics.topUsers(s.minutes, 100), analytics.topUsersByMerge(s.minutes, 100));
        }
        for (const minutes of [1, 3, MAX_BUCKETS]) assert.deepEqual(analytics.topUsers(minutes, 100), analytics.topUsersByMerge(minutes, 100));
      }),
      { numRuns: 500 },
    );
  });
});

describe('UserCounts', () => {
  test('counts per user index in first-seen order, and starts from nothing after clear', () => {
    const c = new UserCounts();
    for (const u of [1, 0, 1, 2, 1, 0]) c.add(u);
    assert.deepEqual([...c], [[1, 3], [0, 2], [2, 1]]);
    c.clear();
    assert.deepEqual([...c], []);
    c.add(2);
    c.add(2);
    assert.deepEqual([...c], [[2, 2]]);
  });

  test('indexes far past the first array grow it and keep the counts already there', () => {
    const c = new UserCounts();
    c.add(3);
    c.add(1000);
    c.add(3);
    c.add(70);
    c.add(1000);
    assert.deepEqual([...c], [[3, 2], [1000, 2], [70, 1]]);
    c.clear();
    c.add(1000);
    assert.deepEqual([...c], [[1000, 1]]);
  });
});
