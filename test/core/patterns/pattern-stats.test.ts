import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { StoredLog, type Level } from '../../../server/core/log.js';
import { PatternStats } from '../../../server/core/patterns/pattern-stats.js';
import { MINUTE_MS } from '../../../server/core/time.js';

const T0 = Date.parse('2024-01-15T14:30:00Z');

function stats(clock: { ms: number }, maxBuckets = 10): PatternStats {
  return new PatternStats({
    window: { maxBuckets, futureSkewMs: 120_000 },
    now: () => clock.ms,
    describe: (id) => ({ service: 'svc', template: `template ${id}` }),
  });
}

function log(id: number, patternId: number, ts: number, level: Level = 'INFO', message = `m${id}`): StoredLog {
  const l = new StoredLog(id, ts, new Date(ts).toISOString(), level, 'svc', message, undefined, undefined, ts);
  l.patternId = patternId;
  return l;
}

describe('PatternStats', () => {
  test('counts all-time and per minute; a log outside the window counts all-time only', () => {
    const clock = { ms: T0 };
    const s = stats(clock);
    s.append([log(1, 7, T0 - 20 * MINUTE_MS), log(2, 7, T0 - MINUTE_MS, 'ERROR'), log(3, 7, T0), log(4, 0, T0)]);
    const [p] = s.list({}, 10);
    assert.equal(p!.count, 2);
    assert.equal(p!.total, 3);
    assert.deepEqual(p!.levels, { INFO: 1, ERROR: 1 });
    assert.deepEqual(p!.per_minute.slice(-2), [1, 1]);
    assert.equal(p!.first_seen, new Date(T0 - 20 * MINUTE_MS).toISOString());
    assert.equal(p!.new, false, 'first seen before the window');
    assert.equal(s.size, 1, 'a log without a pattern is in none');
  });

  test('minutes leave as the clock moves on; the sample is the latest event time, not the last arrival', () => {
    const clock = { ms: T0 };
    const s = stats(clock, 3);
    s.append([log(1, 1, T0, 'INFO', 'late one'), log(2, 1, T0 - 30_000, 'INFO', 'older one')]);
    assert.equal(s.row(1)!.sample, 'late one');
    clock.ms += 5 * MINUTE_MS;
    assert.deepEqual(s.list({}, 10), [], 'no logs in the window any more');
    s.append([log(3, 1, clock.ms)]);
    const [p] = s.list({}, 10);
    assert.equal(p!.count, 1);
    assert.equal(p!.total, 3);
    assert.deepEqual(p!.per_minute, [0, 0, 1]);
  });

  test('restore sums the rows of one pattern (one per replica); loadMinute adds read-back minutes', () => {
    const clock = { ms: T0 };
    const s = stats(clock);
    const row = { id: 5, service: 'svc', template: 'a <*>', levels: [0, 2, 0, 1, 0], firstSeen: T0 - 60_000, lastSeen: T0 - 1000, sample: 'a 1' };
    s.restore([row, { ...row, levels: [1, 0, 0, 0, 0], firstSeen: T0 - 120_000, lastSeen: T0, sample: 'a 2' }]);
    s.loadMinute(T0 / MINUTE_MS, 5, 3, 4);
    s.loadMinute(T0 / MINUTE_MS - 100, 5, 3, 4);
    const r = s.row(5)!;
    assert.deepEqual(r.levels, [1, 2, 0, 1, 0]);
    assert.equal(r.firstSeen, T0 - 120_000);
    assert.equal(r.sample, 'a 2');
    assert.equal(s.earliest, T0 - 120_000);
    const [p] = s.list({ levels: ['ERROR'] }, 10);
    assert.equal(p!.count, 4, 'the minute outside the window is left out');
    assert.equal(s.countSince(5, 1 << 3, T0 / MINUTE_MS), 4);
    assert.equal(s.countSince(5, 1 << 3, T0 / MINUTE_MS - 5, T0 / MINUTE_MS - 1), 0, 'the minute after the range is left out');
  });

  test('per-minute counts equal a plain count of the logs, in whatever order their minutes arrive', () => {
    const maxBuckets = 12;
    const entry = fc.record({ minute: fc.integer({ min: 0, max: 14 }), level: fc.constantFrom<Level>('DEBUG', 'INFO', 'ERROR'), pattern: fc.integer({ min: 1, max: 3 }) });
    fc.assert(
      fc.property(fc.array(fc.array(entry, { maxLength: 30 }), { maxLength: 6 }), (batches) => {
        const clock = { ms: T0 };
        const s = stats(clock, maxBuckets);
        const expected = new Map<number, number[]>();
        let id = 0;
        for (const batch of batches) {
          // Minutes back from the clock's, some before the window (12 minutes).
          s.append(batch.map((e) => log(++id, e.pattern, T0 - e.minute * MINUTE_MS, e.level)));
          for (const e of batch) {
            if (e.minute >= maxBuckets || e.level !== 'ERROR') continue;
            const perMinute = expected.get(e.pattern) ?? new Array<number>(maxBuckets).fill(0);
            perMinute[maxBuckets - 1 - e.minute]!++;
            expected.set(e.pattern, perMinute);
          }
        }
        const got = new Map(s.list({ levels: ['ERROR'] }, 10).map((p) => [p.id, p.per_minute]));
        assert.deepEqual(got, expected);
      }),
    );
  });
});
