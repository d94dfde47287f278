/**
 * Property-based tests of the input paths, with fast-check on a fixed seed (FC_SEED overrides
 * it; fast-check prints the seed and the shrunk counterexample on a failure).
 *
 * (a) arbitrary JSON values and serialisable `fc.anything()` values as JSON bodies, and as
 *     NDJSON lines; random text as NDJSON lines;
 * (b) near-valid logs: a valid log with up to two fields mutated, alone and in batches;
 * (c) random query strings on the GET routes.
 *
 * Invariants: never a 5xx; 201 means every item is stored exactly as sent; 400 means nothing
 * is stored; 207 means exactly the items not listed in `rejected_items` are stored; the stats
 * counters move by exactly the accepted count. Where the outcome of an item is certain (a
 * valid log, or a mutation that must break it) the reply must agree.
 */
import { parseRfc3339 } from '../../server/core/time.js';
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { ADMIN_TOKEN, buildTestApp, lastReceived } from '../helpers.js';
import type { LogView } from '../../server/core/log.js';

const SEED = process.env.FC_SEED === undefined ? 20_240_115 : Number(process.env.FC_SEED);

const LIMITS = {
  max_body_bytes: 65_536,
  max_batch_items: 5,
  max_service_length: 16,
  max_user_id_length: 16,
  max_message_length: 64,
  max_metadata_keys: 4,
  max_metadata_depth: 3,
};
const CONFIG = { limits: LIMITS, rate_limit: { enabled: false }, load_shedding: { enabled: false } };
const LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const;
const JSON_CT = { 'content-type': 'application/json' };
const NDJSON_CT = { 'content-type': 'application/x-ndjson' };
const LEGACY = { authorization: `Token ${ADMIN_TOKEN}` };

let app: FastifyInstance;
const runs: Record<string, number> = {};
/** The property running now: params() names it as its fc.assert starts (the tests run one at a time). */
let running = '';

/**
 * One answer a property drew, for the summary: which property, the status, and for a GET its
 * route and what its query held (no parameter, only parameters the route knows, or some other).
 */
interface Answer {
  property: string;
  status: number;
  route?: string;
  query?: 'none' | 'known' | 'unknown';
}
const answers: Answer[] = [];

function tally(status: number, get?: { route: string; query: 'none' | 'known' | 'unknown' }): void {
  answers.push({ property: running, status, ...get });
}

function params(name: string, numRuns: number): { seed: number; numRuns: number; includeErrorInReport: boolean } {
  runs[name] = numRuns;
  running = name;
  return { seed: SEED, numRuns, includeErrorInReport: true };
}

// ---------------------------------------------------------------------------------------------
// What the server holds, and what a reply says.

interface Counters {
  total: number;
  perLevel: Record<string, number>;
}

async function counters(): Promise<Counters> {
  const res = await app.inject({ method: 'GET', url: '/api/stats' });
  assert.equal(res.statusCode, 200);
  const body = res.json();
  return { total: body.total_logs, perLevel: body.logs_per_level };
}


/** The `n` logs received last, in the order received. */
async function newest(n: number): Promise<LogView[]> {
  return (await lastReceived(app, n)).reverse();
}

/** A stored log holds exactly what was sent (after a JSON round trip: -0 is 0). */
function assertStoredAs(view: LogView, sent: unknown): void {
  const item = JSON.parse(JSON.stringify(sent)) as Record<string, unknown>;
  const { id: _id, received_at: _r, pattern_id: pattern, ...fields } = view as LogView & { received_at: string };
  assert.ok(Number.isInteger(pattern) && pattern! > 0, `every stored log has a pattern (pattern_id ${pattern})`);
  assert.deepEqual(fields, item);
}

interface Outcome {
  status: number;
  /** Indexes of the rejected items; every index when the request was refused as a whole. */
  rejected: number[];
  accepted: number;
}

function keysOf(body: object): string[] {
  return Object.keys(body).sort();
}

/**
 * Checks a reply to POST /api/logs against the shapes the README documents and returns what
 * it says was accepted. `single`: the body was one JSON object; `n`: the number of items.
 */
function readReply(res: LightMyRequestResponse, single: boolean, n: number): Outcome {
  assert.ok(res.statusCode < 500, `5xx: ${res.statusCode} ${res.body.slice(0, 300)}`);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const body = res.json() as Record<string, unknown>;
  const all = Array.from({ length: n }, (_, i) => i);
  const refused = (): Outcome => {
    assert.deepEqual(keysOf(body), ['code', 'error'], res.body.slice(0, 300));
    assert.ok(typeof body.error === 'string' && body.error.length > 0);
    return { status: res.statusCode, rejected: all, accepted: 0 };
  };
  switch (res.statusCode) {
    case 201:
      if (single) {
        assert.deepEqual(body, { status: 'accepted' });
        return { status: 201, rejected: [], accepted: 1 };
      }
      assert.deepEqual(body, { status: 'accepted', accepted: n, rejected: 0, rejected_items: [] });
      return { status: 201, rejected: [], accepted: n };
    case 207:
    case 400: {
      if (typeof body.code === 'string') return refused();
      if (single) {
        assert.equal(res.statusCode, 400);
        assert.deepEqual(keysOf(body), ['errors', 'status']);
        assert.equal(body.status, 'invalid');
        assert.ok((body.errors as string[]).length > 0 && (body.errors as unknown[]).every((e) => typeof e === 'string' && e.length > 0));
        return { status: 400, rejected: [0], accepted: 0 };
      }
      assert.deepEqual(keysOf(body), ['accepted', 'rejected', 'rejected_items', 'status']);
      const items = body.rejected_items as Array<{ index: number; errors: string[] }>;
      const rejected = items.map((i) => i.index);
      for (const item of items) assert.ok(item.errors.length > 0 && item.errors.every((e) => typeof e === 'string' && e.length > 0));
      assert.deepEqual(
        rejected,
        [...new Set(rejected)].sort((a, b) => a - b),
        'indexes ascending, once each',
      );
      assert.ok(rejected.every((i) => Number.isInteger(i) && i >= 0 && i < n), `indexes within 0..${n - 1}`);
      assert.equal(body.rejected, rejected.length);
      assert.equal(body.accepted, n - rejected.length);
      if (res.statusCode === 400) {
        assert.equal(body.status, 'invalid');
        assert.deepEqual(rejected, all);
      } else {
        assert.equal(body.status, 'partial');
        assert.ok(rejected.length > 0 && rejected.length < n);
      }
      return { status: res.statusCode, rejected, accepted: n - rejected.length };
    }
    case 413: {
      const outcome = refused();
      assert.match(body.code as string, /^(BODY_TOO_LARGE|BATCH_TOO_LARGE)$/);
      return outcome;
    }
    default:
      assert.fail(`unexpected status ${res.statusCode}: ${res.body.slice(0, 300)}`);
  }
}

/**
 * Sends a body and holds the server to the reply: counters move by the accepted count (per
 * level too), and the newest logs are exactly the accepted items, as sent.
 */
async function ingestAndCheck(payload: string, headers: Record<string, string>, items: readonly unknown[], single: boolean): Promise<Outcome> {
  const before = await counters();
  const res = await app.inject({ method: 'POST', url: '/api/logs', payload, headers });
  tally(res.statusCode);
  const outcome = readReply(res, single, items.length);
  const after = await counters();
  assert.equal(after.total, before.total + outcome.accepted, 'total_logs moves by the accepted count');
  const kept = items.filter((_, i) => !outcome.rejected.includes(i)) as Array<Record<string, unknown>>;
  for (const level of LEVELS) {
    const expected = kept.filter((l) => l.level === level).length;
    assert.equal(after.perLevel[level], before.perLevel[level]! + expected, `logs_per_level.${level}`);
  }
  if (outcome.accepted > 0) {
    const stored = await newest(outcome.accepted);
    assert.equal(stored.length, kept.length);
    stored.forEach((view, i) => assertStoredAs(view, kept[i]));
  }
  return outcome;
}

/** What the server should see in a JSON text: one object, or a batch of n items. */
function shapeOf(text: string): { single: boolean; items: unknown[] } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (Array.isArray(value)) return { single: false, items: value };
  if (typeof value === 'object' && value !== null) return { single: true, items: [value] };
  return { single: true, items: [] };
}

/** NDJSON items as the README defines them: one per line that is not blank. */
function ndjsonItems(text: string): unknown[] {
  return text
    .split('\n')
    .filter((line) => !/^[ \t\r]*$/.test(line))
    .map((line) => {
      try {
        return JSON.parse(line) as unknown;
      } catch {
        return undefined;
      }
    });
}

before(async () => {
  ({ app } = await buildTestApp(CONFIG));
});
after(async () => {
  await app.close();
});

// ---------------------------------------------------------------------------------------------
// (a) arbitrary JSON

describe('property (a): arbitrary JSON bodies', () => {
  const json = fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }));

  test('a JSON value as an application/json body', async () => {
    await fc.assert(
      fc.asyncProperty(json, async (value) => {
        const text = JSON.stringify(value);
        const shape = shapeOf(text)!;
        const outcome = await ingestAndCheck(text, JSON_CT, shape.items, shape.single);
        // A scalar or an empty array is no log at all; more items than the limit is a 413.
        if (shape.items.length === 0) assert.equal(outcome.status, 400);
        if (shape.items.length > LIMITS.max_batch_items) assert.equal(outcome.status, 413);
      }),
      params('a: JSON value as JSON', 400),
    );
  });

  test('serialisable fc.anything() values as application/json bodies', async () => {
    const anything = fc
      .anything({
        maxDepth: 3,
        withBoxedValues: true,
        withDate: true,
        withMap: true,
        withSet: true,
        withNullPrototype: true,
        withSparseArray: true,
        withTypedArray: true,
        withObjectString: true,
        stringUnit: 'binary',
      })
      .map((v) => {
        try {
          return JSON.stringify(v);
        } catch {
          return undefined;
        }
      })
      .filter((t): t is string => typeof t === 'string');
    await fc.assert(
      fc.asyncProperty(anything, async (text) => {
        const shape = shapeOf(text)!;
        await ingestAndCheck(text, JSON_CT, shape.items, shape.single);
      }),
      params('a: anything as JSON', 300),
    );
  });

  test('JSON values as NDJSON lines, with blank lines and CRLF between them', async () => {
    const blank = fc.constantFrom('', ' ', '\t', '\r', '  \r');
    const body = fc.array(fc.tuple(json, fc.option(blank, { nil: undefined }), fc.boolean()), { maxLength: 7 }).map((lines) =>
      lines.map(([v, b, crlf]) => `${JSON.stringify(v)}${crlf ? '\r' : ''}${b === undefined ? '' : `\n${b}`}`).join('\n'),
    );
    await fc.assert(
      fc.asyncProperty(body, async (text) => {
        const items = ndjsonItems(text);
        const outcome = await ingestAndCheck(text, NDJSON_CT, items, false);
        if (items.length === 0) assert.equal(outcome.status, 400);
        if (items.length > LIMITS.max_batch_items) assert.equal(outcome.status, 413);
      }),
      params('a: JSON values as NDJSON', 400),
    );
  });

  test('random text as NDJSON lines: broken lines are rejected by index, the rest judged on their own', async () => {
    // JSON's own whitespace only: what counts as a blank line is then unambiguous.
    const ch = fc.constantFrom(...'{}[]":,.0123456789-+eEtrufalsn \t\r\\/abcxyzé€😀'.split(/(?:)/u));
    const line = fc.oneof(fc.string({ unit: ch, maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)));
    const body = fc.array(line, { maxLength: 7 }).map((lines) => lines.join('\n'));
    await fc.assert(
      fc.asyncProperty(body, async (text) => {
        const items = ndjsonItems(text);
        const outcome = await ingestAndCheck(text, NDJSON_CT, items, false);
        if (items.length > 0 && items.length <= LIMITS.max_batch_items) {
          // A line that is not JSON is rejected by its own index, never refused with the whole body.
          items.forEach((item, i) => {
            if (item === undefined) assert.ok(outcome.rejected.includes(i), `line item ${i} is not JSON`);
          });
        }
      }),
      params('a: random text as NDJSON', 400),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// (b) near-valid logs

type Effect = 'valid' | 'invalid' | 'unknown' | 'poison';
type Field = 'timestamp' | 'level' | 'service' | 'message' | 'user_id' | 'metadata';
const TEXT_LIMIT: Record<'service' | 'message' | 'user_id', number> = {
  service: LIMITS.max_service_length,
  message: LIMITS.max_message_length,
  user_id: LIMITS.max_user_id_length,
};

type Mutation =
  | { kind: 'remove'; field: Field }
  | { kind: 'retype'; field: Field; value: unknown }
  | { kind: 'empty'; field: 'timestamp' | 'level' | 'service' | 'message' | 'user_id' }
  | { kind: 'lengthen'; field: 'service' | 'message' | 'user_id'; extra: number }
  | { kind: 'level'; value: string }
  | { kind: 'badDate'; value: string }
  | { kind: 'perturbDate'; at: number; ch: string }
  | { kind: 'extra'; name: string; value: unknown }
  | { kind: 'metaKeys'; count: number }
  | { kind: 'metaDeep'; depth: number }
  | { kind: 'surrogate'; field: 'service' | 'message' | 'user_id'; lone: string }
  | { kind: 'poison'; where: 'top' | 'metadata' };

interface Plan {
  base: { timestamp: string; level: string; service: string; suffix: string; user_id?: string; metadata?: Record<string, unknown> };
  mutations: Mutation[];
}

/** A valid RFC 3339 timestamp in one of its many spellings. */
const timestamp = fc.oneof(
  { weight: 9, arbitrary: fc.tuple(
    fc.integer({ min: Date.UTC(1971, 0, 1), max: Date.UTC(9998, 11, 31) }),
    fc.integer({ min: -1439, max: 1439 }),
    fc.constantFrom('T', 't', ' '),
    fc.constantFrom('Z', 'z', '+00:00', '-00:00'),
    fc.integer({ min: 0, max: 9 }),
    fc.stringMatching(/^\d{9}$/),
  ).map(([ms, offset, sep, zulu, digits, fraction]) => {
    const local = new Date(ms + offset * 60_000).toISOString();
    const two = (n: number): string => String(n).padStart(2, '0');
    const zone = offset === 0 ? zulu : `${offset < 0 ? '-' : '+'}${two(Math.floor(Math.abs(offset) / 60))}:${two(Math.abs(offset) % 60)}`;
    return `${local.slice(0, 10)}${sep}${local.slice(11, 19)}${digits === 0 ? '' : `.${fraction.slice(0, digits)}`}${zone}`;
  }) },
  // A leap second is valid at 23:59:60 UTC.
  {
    weight: 1,
    arbitrary: fc.integer({ min: Date.UTC(1971, 0, 1), max: Date.UTC(9998, 11, 31) }).map((ms) => `${new Date(ms).toISOString().slice(0, 10)}T23:59:60Z`),
  },
);
const text = (min: number, max: number) =>
  fc.oneof(
    fc.string({ unit: 'binary', minLength: min, maxLength: max }),
    fc.string({ unit: 'grapheme-composite', minLength: min, maxLength: max }),
    fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'a\u0000b', 'line\nbreak'),
  ).filter((s) => [...s].length >= min && [...s].length <= max);
const NO_POISON = (v: unknown): boolean => !/"(__proto__|constructor|prototype)"/.test(JSON.stringify(v));
const metadata = fc
  .dictionary(fc.string({ unit: 'binary', maxLength: 8 }), fc.jsonValue({ maxDepth: 1, stringUnit: 'binary' }), { maxKeys: LIMITS.max_metadata_keys })
  .filter(NO_POISON);

const FIELDS: readonly Field[] = ['timestamp', 'level', 'service', 'message', 'user_id', 'metadata'];
const TEXTS = ['service', 'message', 'user_id'] as const;
const BAD_DATES = [
  '2024-02-30T00:00:00Z',
  '2023-02-29T00:00:00Z',
  '2024-13-01T00:00:00Z',
  '2024-01-15T24:00:00Z',
  '2024-01-15T14:30:60Z',
  '2024-01-15T14:30:00+24:00',
  '2024-01-15T14:30:00+23:60',
  '2024-01-15T14:30:00',
  '2024-01-15T14:30:00.1234567890Z',
  '0000-01-01T00:00:00Z',
  '10000-01-01T00:00:00Z',
  '1969-12-31T23:59:59Z',
  '２０２４-01-15T14:30:00Z',
  '2024-01-15',
];
const wrongValue = fc
  .oneof(
    fc.integer(),
    fc.double({ noNaN: true }),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
    fc.jsonValue({ maxDepth: 2 }).map((v) => ({ v })),
  )
  .filter(NO_POISON);
const extraName = fc.string({ minLength: 1, maxLength: 10 }).filter((n) => ![...FIELDS, '__proto__', 'constructor'].includes(n));

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('remove' as const), field: fc.constantFrom(...FIELDS) }),
  fc.record({ kind: fc.constant('retype' as const), field: fc.constantFrom(...FIELDS), value: wrongValue }),
  fc.record({ kind: fc.constant('empty' as const), field: fc.constantFrom('timestamp' as const, 'level' as const, ...TEXTS) }),
  fc.record({ kind: fc.constant('lengthen' as const), field: fc.constantFrom(...TEXTS), extra: fc.integer({ min: 1, max: 300 }) }),
  fc.record({ kind: fc.constant('level' as const), value: fc.oneof(fc.constantFrom('info', 'WARN', 'FATAL', 'Error', ' INFO', 'INFO ', 'TRACE'), fc.string({ maxLength: 9 })) }),
  fc.record({ kind: fc.constant('badDate' as const), value: fc.constantFrom(...BAD_DATES) }),
  fc.record({ kind: fc.constant('perturbDate' as const), at: fc.nat({ max: 40 }), ch: fc.constantFrom(...'0123456789:-+.TZtz x'.split('')) }),
  fc.record({ kind: fc.constant('extra' as const), name: extraName, value: fc.jsonValue({ maxDepth: 1 }).filter(NO_POISON) }),
  fc.record({ kind: fc.constant('metaKeys' as const), count: fc.integer({ min: LIMITS.max_metadata_keys + 1, max: 40 }) }),
  fc.record({ kind: fc.constant('metaDeep' as const), depth: fc.integer({ min: LIMITS.max_metadata_depth + 1, max: 60 }) }),
  fc.record({ kind: fc.constant('surrogate' as const), field: fc.constantFrom(...TEXTS), lone: fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff') }),
  fc.record({ kind: fc.constant('poison' as const), where: fc.constantFrom('top' as const, 'metadata' as const) }),
);

const plan: fc.Arbitrary<Plan> = fc.record({
  base: fc.record(
    {
      timestamp,
      level: fc.constantFrom(...LEVELS),
      service: text(1, LIMITS.max_service_length),
      suffix: fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('#')),
      user_id: text(1, LIMITS.max_user_id_length),
      metadata,
    },
    { requiredKeys: ['timestamp', 'level', 'service', 'suffix'] },
  ),
  mutations: fc.array(mutation, { maxLength: 2 }),
});

const REQUIRED: readonly Field[] = ['timestamp', 'level', 'service', 'message'];
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
let serial = 0;

interface Built {
  log: Record<string, unknown>;
  /** The marker in its message, when its message is still a string holding it. */
  marker: string | undefined;
  effect: Effect;
}

/** Builds a plan's log (its message holds a marker unique to this execution) and says what must become of it. */
function build(p: Plan): Built {
  const marker = `#${++serial}#`;
  const log: Record<string, unknown> = { ...p.base, message: `${marker}${p.base.suffix}` };
  delete log.suffix;
  // The effect of the last mutation of each field decides that field; whole-log mutations add to them.
  const fieldEffects = new Map<Field, Effect>();
  const whole: Effect[] = [];
  for (const m of p.mutations) {
    switch (m.kind) {
      case 'remove':
        delete log[m.field];
        fieldEffects.set(m.field, REQUIRED.includes(m.field) ? 'invalid' : 'valid');
        break;
      case 'retype':
        log[m.field] = m.value;
        fieldEffects.set(m.field, m.field === 'metadata' && typeof m.value === 'object' && m.value !== null && !Array.isArray(m.value) ? 'valid' : 'invalid');
        break;
      case 'empty':
        log[m.field] = '';
        fieldEffects.set(m.field, 'invalid');
        break;
      case 'lengthen': {
        const limit = TEXT_LIMIT[m.field];
        log[m.field] = m.field === 'message' ? `${marker}${'x'.repeat(limit + m.extra)}` : 'x'.repeat(limit + m.extra);
        fieldEffects.set(m.field, 'invalid');
        break;
      }
      case 'level':
        log.level = m.value;
        fieldEffects.set('level', (LEVELS as readonly string[]).includes(m.value) ? 'valid' : 'invalid');
        break;
      case 'badDate':
        log.timestamp = m.value;
        fieldEffects.set('timestamp', 'invalid');
        break;
      case 'perturbDate':
        if (typeof log.timestamp === 'string' && fieldEffects.get('timestamp') !== 'invalid') {
          const t = log.timestamp;
          const at = Math.min(m.at, t.length);
          log.timestamp = t.slice(0, at) + m.ch + t.slice(at + 1);
          if (log.timestamp !== t) fieldEffects.set('timestamp', 'unknown');
        }
        break;
      case 'extra':
        log[m.name] = m.value;
        whole.push('invalid');
        break;
      case 'metaKeys':
        log.metadata = Object.fromEntries(Array.from({ length: m.count }, (_, i) => [`k${i}`, i]));
        fieldEffects.set('metadata', 'invalid');
        break;
      case 'metaDeep': {
        let deep: unknown = 1;
        for (let i = 1; i < m.depth; i++) deep = i % 2 === 0 ? [deep] : { d: deep };
        log.metadata = { d: deep };
        fieldEffects.set('metadata', 'invalid');
        break;
      }
      case 'surrogate': {
        const current = log[m.field];
        const base = typeof current === 'string' ? current : m.field === 'message' ? marker : 's';
        const changed = [...base].slice(0, 2).join('') + m.lone + [...base].slice(2).join('');
        log[m.field] = changed;
        // Two of them can pair up into one valid character.
        fieldEffects.set(m.field, changed.isWellFormed() ? 'unknown' : 'invalid');
        break;
      }
      case 'poison': {
        const current = log.metadata;
        const target = m.where === 'top' ? log : (log.metadata = { ...(typeof current === 'object' && current !== null && !Array.isArray(current) ? current : {}) });
        Object.defineProperty(target, '__proto__', { value: { polluted: true }, enumerable: true, configurable: true, writable: true });
        // In metadata it goes with a later change of metadata; at the top it stays whatever else changes.
        if (m.where === 'metadata') fieldEffects.set('metadata', 'poison');
        else whole.push('poison');
        break;
      }
    }
  }
  // Names a person reads (service, user_id) may hold no control character (schemas/log.schema.json).
  for (const field of ['service', 'user_id'] as const) {
    const v = log[field];
    if (typeof v === 'string' && CONTROL_CHARACTER.test(v)) whole.push('invalid');
  }
  const effects = [...fieldEffects.values(), ...whole];
  const effect: Effect = effects.includes('poison') ? 'poison' : effects.includes('invalid') ? 'invalid' : effects.includes('unknown') ? 'unknown' : 'valid';
  const msg = log.message;
  return { log, marker: typeof msg === 'string' && msg.startsWith(marker) ? marker : undefined, effect };
}

/** Every item's marker finds exactly it when it was accepted, and nothing when it was not. */
async function assertFindable(built: readonly Built[], outcome: Outcome): Promise<void> {
  for (const [i, b] of built.entries()) {
    if (b.marker === undefined) continue;
    const res = await app.inject({ method: 'GET', url: `/api/logs?q=${encodeURIComponent(b.marker)}` });
    assert.equal(res.statusCode, 200);
    const logs = res.json().logs as LogView[];
    if (outcome.rejected.includes(i)) {
      assert.equal(logs.length, 0, `rejected item ${i} (${b.marker}) must not be stored`);
    } else {
      assert.equal(logs.length, 1, `accepted item ${i} (${b.marker}) is stored once`);
      assertStoredAs(logs[0]!, b.log);
    }
  }
}

/** Holds a reply to what each item's effect makes certain. */
function assertAgrees(built: readonly Built[], outcome: Outcome): void {
  built.forEach((b, i) => {
    const rejected = outcome.rejected.includes(i);
    if (b.effect === 'valid') assert.equal(rejected, false, `item ${i} is a valid log: ${JSON.stringify(b.log)}`);
    if (b.effect === 'invalid' || b.effect === 'poison') assert.equal(rejected, true, `item ${i} must be rejected: ${JSON.stringify(b.log)}`);
  });
}

describe('property (b): near-valid logs', () => {
  test('one log, unchanged or with one or two fields mutated', async () => {
    await fc.assert(
      fc.asyncProperty(plan, async (p) => {
        const b = build(p);
        const outcome = await ingestAndCheck(JSON.stringify(b.log), JSON_CT, [b.log], true);
        if (b.effect === 'poison') {
          assert.equal(outcome.status, 400);
          assert.equal(outcome.accepted, 0);
        }
        assertAgrees([b], outcome);
        await assertFindable([b], outcome);
      }),
      params('b: one near-valid log', 600),
    );
  });

  test('batches of near-valid logs, as a JSON array or NDJSON with blank lines', async () => {
    const batch = fc.record({
      plans: fc.array(plan, { minLength: 1, maxLength: LIMITS.max_batch_items + 2 }),
      ndjson: fc.boolean(),
      blanks: fc.array(fc.constantFrom('', ' ', '\t\r'), { maxLength: 3 }),
    });
    await fc.assert(
      fc.asyncProperty(batch, async ({ plans, ndjson, blanks }) => {
        const built = plans.map(build);
        const logs = built.map((b) => b.log);
        const payload = ndjson ? [...blanks, ...logs.map((l) => JSON.stringify(l))].join('\n') : JSON.stringify(logs);
        const outcome = await ingestAndCheck(payload, ndjson ? NDJSON_CT : JSON_CT, logs, false);
        if (!ndjson && built.some((b) => b.effect === 'poison')) {
          // A JSON body with a prototype key is refused whole, before its items are counted; an NDJSON line only on its own.
          assert.equal(outcome.status, 400);
          assert.equal(outcome.accepted, 0);
        } else if (logs.length > LIMITS.max_batch_items) {
          assert.equal(outcome.status, 413);
        } else {
          assertAgrees(built, outcome);
        }
        await assertFindable(built, outcome);
      }),
      params('b: batches of near-valid logs', 400),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// (c) random query strings

describe('property (c): random query strings on the GET routes', () => {
  const LOG_PARAMS = ['service', 'level', 'from', 'to', 'received_from', 'received_to', 'user_id', 'q', 'pattern', 'limit', 'before_id'];
  const LEGACY_PARAMS = ['timestamp_start', 'timestamp_end', 'received_at_start', 'received_at_end', 'service', 'severity', 'limit', 'offset'];
  const routes: Array<{ path: string; known: string[]; headers?: Record<string, string> }> = [
    { path: '/api/logs', known: LOG_PARAMS },
    { path: '/api/time-series', known: ['minutes'] },
    { path: '/api/advanced-dashboard-data', known: ['minutes'] },
    { path: '/api/alerts', known: ['status', 'service', 'rule'] },
    { path: '/api/patterns', known: ['service', 'level', 'from', 'to', 'limit'] },
    { path: '/api/stats', known: [] },
    { path: '/api/validation-stats', known: [] },
    { path: '/logs', known: LEGACY_PARAMS, headers: LEGACY },
    { path: '/stats', known: [], headers: LEGACY },
  ];
  const allNames = [...new Set(routes.flatMap((r) => r.known))];
  const name = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...allNames) }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) }, {
    weight: 1,
    arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', 'LIMIT', 'limit[]', 'a.b', ''),
  });
  const value = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.constantFrom(
        '', '0', '1', '5', '60', '61', '1000', '1001', '10000', '-1', '1.5', '1e3', 'abc', '99999999999999999999', '9007199254740993',
        '2024-01-15', '2024-01-15T14:30:00Z', '2024-01-15T14:30:00', '2024-01-15T14:30:00+01:00', '2024-01-15T14:30:00%2B01:00', '2024-02-30', '0000-01-01', '10000-01-01',
        'INFO', 'info', 'WARN', 'ERROR,CRITICAL', 'INFO,,ERROR', ',', 'firing', 'resolved', 'FIRING', 'error_rate', 'high_volume,service_down', 'bogus',
        'auth-service', 'a,b', '%00', '%zz', '%', '+', ' ',
      ),
    },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  );
  const TIMES = ['2024-01-15', '2024-01-15T14:30:00Z', '2024-01-15T14:30:00', '2024-01-15T14:30:00%2B01:00'];
  /** Values every route that knows the parameter accepts (server/http/query.ts and the routes' readers). */
  const VALID: Record<string, readonly string[]> = {
    service: ['auth-service', 'a,b'],
    level: ['INFO', 'error', 'WARNING,CRITICAL'],
    severity: ['DEBUG', 'info,ERROR'],
    from: TIMES,
    to: TIMES,
    received_from: TIMES,
    received_to: TIMES,
    timestamp_start: TIMES,
    timestamp_end: TIMES,
    received_at_start: TIMES,
    received_at_end: TIMES,
    user_id: ['user-42'],
    q: ['logged', 'logged in'],
    pattern: ['1', '9007199254740991'],
    limit: ['1', '50', '1000'],
    before_id: ['1', '9007199254740991'],
    offset: ['0', '25'],
    minutes: ['1', '30', '60'],
    status: ['firing', 'resolved'],
    rule: ['error_rate', 'high_volume,service_down'],
  };
  type Pair = [name: string, value: string, raw: boolean];
  // Either any name with any value, or (picked by index once the route is known) one of the
  // route's own parameters with a value it accepts: without those, hardly a query with
  // parameters would be answered 200, and the summary could not hold the route to it.
  const query = fc.record({
    route: fc.nat({ max: routes.length - 1 }),
    pairs: fc.array(fc.oneof(fc.tuple(name, value, fc.boolean()), fc.record({ own: fc.nat(), pick: fc.nat() })), { maxLength: 4 }),
  });

  test('never a 5xx; a 400 names a parameter that was sent; an unknown parameter is always a 400', async () => {
    assert.deepEqual(Object.keys(VALID).sort(), [...allNames].sort(), 'a valid value for every known parameter');
    await fc.assert(
      fc.asyncProperty(query, async ({ route, pairs: drawn }) => {
        const r = routes[route]!;
        const pairs = drawn.flatMap((p): Pair[] => {
          if (Array.isArray(p)) return [p];
          if (r.known.length === 0) return [];
          const own = r.known[p.own % r.known.length]!;
          return [[own, VALID[own]![p.pick % VALID[own]!.length]!, true]];
        });
        // A value from the pool is sent as it is written (percent signs and all); any other is encoded.
        const qs = pairs.map(([n, v, raw]) => `${encodeURIComponent(n)}=${raw && /^[\w%+,.:-]*$/.test(v) ? v : encodeURIComponent(v)}`).join('&');
        const url = `${r.path}${qs ? `?${qs}` : ''}`;
        const res = await app.inject({ method: 'GET', url, headers: r.headers ?? {} });
        tally(res.statusCode, { route: r.path, query: pairs.length === 0 ? 'none' : pairs.every(([n]) => r.known.includes(n)) ? 'known' : 'unknown' });
        assert.ok(res.statusCode < 500, `${url}: ${res.statusCode} ${res.body.slice(0, 300)}`);
        assert.ok(res.statusCode === 200 || res.statusCode === 400, `${url}: ${res.statusCode} ${res.body.slice(0, 300)}`);
        assert.match(String(res.headers['content-type']), /^application\/json/);
        const body = res.json();
        const unknown = pairs.some(([n]) => !r.known.includes(n));
        if (res.statusCode === 400) {
          assert.deepEqual(keysOf(body), ['code', 'error']);
          assert.equal(body.code, 'INVALID_QUERY', url);
          assert.ok(
            pairs.some(([n]) => (body.error as string).startsWith(`query parameter '${n}' `)),
            `${url}: the error names no parameter that was sent: ${body.error}`,
          );
        } else {
          assert.equal(unknown, false, `${url}: an unknown parameter was accepted`);
          if (r.path === '/api/logs') {
            assert.equal(body.count, body.logs.length);
            // The event time as the server read it (its RFC 3339 parser, wider than Date.parse).
            const listed = (body.logs as LogView[]).map((l) => [parseRfc3339(l.timestamp), l.id] as const);
            const keys = listed.map(([ts, id]) => `${ts} ${id}`);
            assert.ok(
              listed.every(([ts, id], i) => i === 0 || ts < listed[i - 1]![0] || (ts === listed[i - 1]![0] && id < listed[i - 1]![1])),
              `newest event time first, ties by id: ${keys.join(', ')}`,
            );
          }
        }
      }),
      params('c: random query strings', 600),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Summary: the properties above only check the replies they happen to draw. This holds them to
// having drawn every class of reply their inputs call for, so a server that (say) refuses every
// request carrying a query parameter, or a generator that stops reaching a 207, cannot pass
// unnoticed; and it checks each property ran its full count of executions, each answered.

/** POST /api/logs answers these (README; rate limiting and load shedding are off here). */
const INGEST_STATUSES = [201, 207, 400, 413];
/** The GET routes answer these. */
const QUERY_STATUSES = [200, 400];
/** The ingest statuses each property must reach: what its inputs make certain over its run count. */
const INGEST_REACHED: Record<string, number[]> = {
  // Scalars, empty arrays and objects that are no log are 400s; arrays over the batch limit 413s.
  'a: JSON value as JSON': [400, 413],
  'a: anything as JSON': [400, 413],
  'a: JSON values as NDJSON': [400, 413],
  'a: random text as NDJSON': [400, 413],
  // One log: 201 when it is still valid, 400 when a mutation broke it (never 207 or 413).
  'b: one near-valid log': [201, 400],
  // Batches: all valid, some valid, none valid, too many.
  'b: batches of near-valid logs': [201, 207, 400, 413],
};
const QUERY_PROPERTY = 'c: random query strings';

function countBy<K>(items: readonly Answer[], key: (a: Answer) => K): Map<K, number> {
  const out = new Map<K, number>();
  for (const a of items) out.set(key(a), (out.get(key(a)) ?? 0) + 1);
  return out;
}

test('summary', (t) => {
  const total = Object.values(runs).reduce((a, b) => a + b, 0);
  const statuses = [...countBy(answers, (a) => a.status)].sort(([a], [b]) => a - b).map(([s, n]) => `${s}: ${n}`);
  t.diagnostic(`property runs (seed ${SEED}): ${Object.entries(runs).map(([k, n]) => `${k} ${n}`).join('; ')}; ${total} in all`);
  t.diagnostic(`statuses answered (ingest and query): {${statuses.join(', ')}}; 5xx: ${answers.filter((a) => a.status >= 500).length}`);

  // Every property ran, every execution got exactly one answer (a failed, shrunk property runs more).
  assert.deepEqual(Object.keys(runs).sort(), [...Object.keys(INGEST_REACHED), QUERY_PROPERTY].sort(), 'every property ran');
  const perProperty = countBy(answers, (a) => a.property);
  for (const [property, n] of Object.entries(runs)) {
    assert.equal(perProperty.get(property), n, `${property}: ${n} executions, each answered once`);
  }

  // Ingest: only documented statuses, and every class each property is there to reach.
  for (const [property, expected] of Object.entries(INGEST_REACHED)) {
    const byStatus = countBy(answers.filter((a) => a.property === property), (a) => a.status);
    const got = [...byStatus.keys()].sort((a, b) => a - b);
    assert.deepEqual(got.filter((s) => !INGEST_STATUSES.includes(s)), [], `${property}: statuses outside ${INGEST_STATUSES.join(', ')}`);
    for (const status of expected) assert.ok(byStatus.has(status), `${property}: no ${status} among ${got.join(', ')}`);
  }

  // Queries: only 200 and 400; on every route a bare request is a 200 and an unknown parameter a
  // 400; on every route with parameters some request carrying only them is a 200; and some
  // request carrying only known parameters was refused for a value.
  const queries = answers.filter((a) => a.property === QUERY_PROPERTY);
  const classes = countBy(queries, (a) => `${a.route} ${a.query} ${a.status}`);
  const got = [...classes].map(([k, n]) => `${k}: ${n}`).sort();
  assert.deepEqual([...new Set(queries.map((a) => a.status))].filter((s) => !QUERY_STATUSES.includes(s)), [], 'query statuses other than 200 and 400');
  const QUERY_ROUTES: Array<[route: string, hasParams: boolean]> = [
    ['/api/logs', true],
    ['/api/time-series', true],
    ['/api/advanced-dashboard-data', true],
    ['/api/alerts', true],
    ['/api/patterns', true],
    ['/api/stats', false],
    ['/api/validation-stats', false],
    ['/logs', true],
    ['/stats', false],
  ];
  assert.deepEqual([...new Set(queries.map((a) => a.route))].sort(), QUERY_ROUTES.map(([r]) => r).sort(), 'every route was queried');
  for (const [route, hasParams] of QUERY_ROUTES) {
    const reached = (query: Answer['query'], status: number): void =>
      assert.ok(classes.has(`${route} ${query} ${status}`), `${route}: no ${status} to a query with ${query === 'none' ? 'no' : `${query}`} parameters; got ${got.filter((k) => k.startsWith(`${route} `)).join('; ')}`);
    reached('none', 200);
    reached('unknown', 400);
    if (hasParams) reached('known', 200);
  }
  assert.ok(queries.some((a) => a.query === 'known' && a.status === 400), 'no request with only known parameters was refused for its values');
});
