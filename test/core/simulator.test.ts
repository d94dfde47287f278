import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { SIMULATED_SERVICES, generateLog, seededRandom } from '../../server/core/simulator.js';
import { LogValidator } from '../../server/core/validation.js';
import { loadSchema } from '../../server/schemas.js';
import { DEFAULTS } from '../../server/config.js';
import type { Level, LogInput } from '../../server/core/log.js';

const NOW = Date.parse('2024-01-15T14:30:00Z');
const validator = new LogValidator(loadSchema('log.schema.json'), DEFAULTS.limits);

function many(n: number, seed: number, o: { spreadMs?: number; errorRate?: number; service?: string } = {}): LogInput[] {
  const random = seededRandom(seed);
  const out: LogInput[] = [];
  for (let i = 0; i < n; i++) out.push(generateLog(random, { now: NOW, spreadMs: o.spreadMs ?? 60_000, ...o }));
  return out;
}

describe('seededRandom', () => {
  test('the same seed gives the same sequence', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const sa = Array.from({ length: 50 }, () => a());
    const sb = Array.from({ length: 50 }, () => b());
    assert.deepEqual(sa, sb);
  });

  test('different seeds give different sequences', () => {
    const a = seededRandom(1);
    const b = seededRandom(2);
    assert.notDeepEqual(
      Array.from({ length: 10 }, () => a()),
      Array.from({ length: 10 }, () => b()),
    );
  });

  test('values are in [0, 1) and not constant', () => {
    const r = seededRandom(7);
    const values = Array.from({ length: 10_000 }, () => r());
    for (const v of values) assert.ok(v >= 0 && v < 1, String(v));
    assert.ok(new Set(values).size > 9_900, `only ${new Set(values).size} distinct values`);
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    assert.ok(Math.abs(mean - 0.5) < 0.02, `mean ${mean}`);
  });

  test('generateLog is deterministic for a seed', () => {
    assert.deepEqual(many(20, 99), many(20, 99));
    assert.notDeepEqual(many(20, 99), many(20, 100));
  });
});

describe('generateLog', () => {
  test('every generated log validates against the log schema', () => {
    for (const lg of [...many(500, 3), ...many(100, 4, { errorRate: 0.5 }), ...many(50, 5, { service: 'custom-svc' })]) {
      const v = validator.validate(lg);
      assert.equal(typeof v, 'number', `${JSON.stringify(lg)}: ${typeof v === 'number' ? '' : v.map((p) => p.message).join('; ')}`);
    }
  });

  test('messages have every placeholder filled', () => {
    for (const lg of many(500, 8)) {
      assert.ok(!/[{}]/.test(lg.message), lg.message);
      assert.match(String(lg.user_id), /^user-\d+$/);
    }
  });

  test('services are the simulated ones unless fixed', () => {
    const seen = new Set(many(300, 11).map((l) => l.service));
    assert.deepEqual([...seen].sort(), [...SIMULATED_SERVICES].sort());
    assert.deepEqual([...new Set(many(20, 12, { service: 'billing' }).map((l) => l.service))], ['billing']);
  });

  test('errorRate 1 gives only ERROR/CRITICAL', () => {
    const levels = new Set(many(300, 13, { errorRate: 1 }).map((l) => l.level));
    assert.deepEqual([...levels].sort(), ['CRITICAL', 'ERROR']);
  });

  test('errorRate 0 gives no ERROR/CRITICAL', () => {
    const levels = new Set<Level>(many(300, 14, { errorRate: 0 }).map((l) => l.level));
    assert.equal(levels.has('ERROR'), false);
    assert.equal(levels.has('CRITICAL'), false);
    assert.deepEqual([...levels].sort(), ['DEBUG', 'INFO', 'WARNING']);
  });

  test('the normal mix includes every level with INFO most common', () => {
    const counts = new Map<string, number>();
    for (const l of many(2000, 15)) counts.set(l.level, (counts.get(l.level) ?? 0) + 1);
    assert.equal(counts.size, 5);
    const info = counts.get('INFO') ?? 0;
    for (const [level, c] of counts) if (level !== 'INFO') assert.ok(info > c, `${level} ${c} vs INFO ${info}`);
  });

  test('timestamps lie within [now - spread, now]', () => {
    const spreadMs = 300_000;
    const times = many(1000, 16, { spreadMs }).map((l) => Date.parse(l.timestamp));
    for (const t of times) assert.ok(t >= NOW - spreadMs && t <= NOW, new Date(t).toISOString());
    // Spread out, not all at one instant.
    assert.ok(Math.max(...times) - Math.min(...times) > spreadMs / 2, 'timestamps are spread out');
  });

  test('spread 0 puts every timestamp at now', () => {
    for (const l of many(20, 17, { spreadMs: 0 })) assert.equal(l.timestamp, '2024-01-15T14:30:00.000Z');
  });

  test('average JSON size is between 150 and 350 bytes', () => {
    const logs = many(1000, 18);
    const avg = logs.reduce((s, l) => s + Buffer.byteLength(JSON.stringify(l)), 0) / logs.length;
    assert.ok(avg >= 150 && avg <= 350, `average ${avg} bytes`);
  });

  test('metadata has the three documented keys with sane values', () => {
    for (const l of many(200, 19)) {
      const m = l.metadata!;
      assert.deepEqual(Object.keys(m), ['processing_time_ms', 'request_id', 'ip_address']);
      assert.ok(typeof m.processing_time_ms === 'number' && m.processing_time_ms >= 0 && m.processing_time_ms <= 500, `processing_time_ms ${String(m.processing_time_ms)}`);
      assert.match(String(m.request_id), /^req-[0-9a-f]{8}$/);
      assert.match(String(m.ip_address), /^10\.\d{1,3}\.\d{1,3}\.\d{1,3}$/);
    }
  });
});
