/**
 * One meaning for a log query (server/core/log-filter.ts), held across every evaluator a
 * LogFilter has, with fast-check on a fixed seed (FC_SEED overrides it; fast-check prints the
 * seed and the shrunk counterexample on a failure):
 *
 * - `matches(log)` is the reference. It is itself held to a plain reading of LogQuery on
 *   ASCII text (where "case-insensitive" has one obvious meaning) and to examples.
 * - The per-slot evaluator, through `RecentLogs.query`: what the buffer returns is exactly the
 *   held logs `matches` accepts, in listing order, whether the logs were appended as objects or
 *   kept as their request bytes (JSON arrays, single objects, NDJSON, refused items between
 *   them, strings written with escapes, padding that makes the buffer cut the body up).
 * - The per-chunk evaluators, on chunk summaries built as the SQLite tier builds them: never
 *   skip a chunk holding a match (`chunkMayMatch`, `bodyMayMatch`).
 * - End to end through the durable tier: GET /api/logs on an app whose buffer holds a few
 *   logs and whose SQLite file holds the rest answers exactly what `matches` says.
 *
 * Each property also counts how often its interesting case happened (a chunk skipped, a body
 * ruled out, a non-empty answer...) and fails if the generators stop
 * reaching it: a property whose premise never holds cannot fail.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LogFilter, type ChunkSummary, type LogQuery } from '../../server/core/log-filter.js';
import { compareListed } from '../../server/core/listing-order.js';
import { LEVELS, StoredLog, levelIndex, type Level, type LogView } from '../../server/core/log.js';
import { RecentLogs, type BatchOrigin } from '../../server/core/recent-logs.js';
import { encodeChunk } from '../../server/storage/chunk-codec.js';
import { buildTestApp } from '../helpers.js';
import { tempDb } from '../storage/support.js';


/** In listing order: newest event time first, ties by id, the higher first. */
const listing = <L extends { ts: number; id: number }>(logs: readonly L[]): L[] => [...logs].sort((a, b) => compareListed(a.ts, a.id, b.ts, b.id));
const SEED = process.env.FC_SEED === undefined ? 20_240_115 : Number(process.env.FC_SEED);

function params(numRuns: number): { seed: number; numRuns: number; includeErrorInReport: boolean } {
  return { seed: SEED, numRuns, includeErrorInReport: true };
}

/** Event times and receive times sit on a coarse grid (with some off it), so query bounds often equal a log's time exactly. */
const T0 = Date.parse('2024-01-15T14:00:00Z');
/** The ManualClock's start: what the HTTP test's receive times count from. */
const R0 = Date.parse('2024-01-15T14:30:00Z');

// ---------------------------------------------------------------------------------------------
// Generators.

/** Service names, odd ones included: prototype keys, quotes and backslashes (escaped in JSON), case twins, a prefix of another. */
const SERVICES = [
  'api',
  'ap',
  'auth-service',
  'Auth-Service',
  '__proto__',
  'constructor',
  'hasOwnProperty',
  'say "hi"',
  'back\\slash',
  'Ünïcode-svc',
  '😀',
  'with space',
  '["api"]',
  'a,b',
] as const;
/** Names GET /api/logs can ask for: its `service` parameter is a comma-separated list of trimmed names. */
const HTTP_SERVICES = SERVICES.filter((s) => !s.includes(',') && s.trim() === s);
/** Names JSON writes without an escape, so a chunk of them can have a body without a backslash. */
const PLAIN_SERVICES = SERVICES.filter((s) => !/["\\]/.test(s));

const USERS = ['u1', 'U1', 'u10', 'user "q"', 'a\\b', 'ü', '0', ' ', '__proto__'] as const;
const PLAIN_USERS = USERS.filter((s) => !/["\\]/.test(s));

/** Pieces messages are made of, so a text search often finds something: metacharacters, escapes, case traps, non-BMP. */
const FRAGMENTS = [
  'User logged in',
  'login FAILED',
  'Payment declined',
  'a.b(',
  'aXb(',
  '.*',
  'x+y?',
  '[promo]*',
  '$1 ^start|end',
  'C:\\temp\\file',
  'say "hello"',
  'tab\there',
  'line\nbreak',
  'Straße',
  'STRASSE',
  'İstanbul',
  'ıi',
  'résumé',
  'RÉSUMÉ',
  '😀 emoji',
  '\u2028sep',
  'K kelvin',
  '{"message":"inner"}',
  '\\u0041 literal',
  '/path/to',
] as const;
const PLAIN_FRAGMENTS = FRAGMENTS.filter((s) => !/["\\\u0000-\u001f]/.test(s));

const CHARS = ['a', 'A', 'b', 'B', 'e', 'E', 'x', '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '^', '$', '|', '\\', '"', '/', ' ', 'é', 'É', 'ß', 'İ', 'ı', '😀', '\u2028', '\t', '\n'];
const PLAIN_CHARS = CHARS.filter((c) => !/["\\\u0000-\u001f]/.test(c));
const ASCII_CHARS = CHARS.filter((c) => /^[\x20-\x7e]$/.test(c));

interface Flavour {
  services: readonly string[];
  users: readonly string[];
  fragments: readonly string[];
  chars: readonly string[];
}
const ANY: Flavour = { services: SERVICES, users: USERS, fragments: FRAGMENTS, chars: CHARS };
const HTTP: Flavour = { ...ANY, services: HTTP_SERVICES };
/** Nothing JSON escapes: what makes `bodyMayMatch` decide rather than answer "maybe". */
const PLAIN: Flavour = { services: PLAIN_SERVICES, users: PLAIN_USERS, fragments: PLAIN_FRAGMENTS, chars: PLAIN_CHARS };
const ASCII: Flavour = { ...ANY, fragments: FRAGMENTS.filter((s) => /^[\x00-\x7f]*$/.test(s)), chars: ASCII_CHARS };

const levelArb = fc.constantFrom(...LEVELS);

function timeArb(base: number): fc.Arbitrary<number> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: -4, max: 4 }).map((k) => base + k * 1000) },
    { weight: 1, arbitrary: fc.integer({ min: -4000, max: 4000 }).map((d) => base + d) },
  );
}

/** A range bound: on the grid, or one millisecond either side of it. */
function boundArb(base: number): fc.Arbitrary<number> {
  return fc.tuple(timeArb(base), fc.constantFrom(-1, 0, 0, 0, 1)).map(([t, d]) => t + d);
}

function messageArb(f: Flavour): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.array(fc.constantFrom(...f.fragments), { minLength: 1, maxLength: 3 }).map((a) => a.join(' ')) },
    { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...f.chars), minLength: 1, maxLength: 12 }) },
  );
}

/** A text search: a piece of a fragment in random case (often found), or a few random characters (often not). */
function textArb(f: Flavour): fc.Arbitrary<string> {
  return fc.oneof(
    {
      weight: 3,
      arbitrary: fc
        .tuple(fc.constantFrom(...f.fragments), fc.nat(), fc.integer({ min: 1, max: 6 }))
        // By code point, so a search never holds half a surrogate pair (a URL could not carry it).
        .map(([frag, start, len]) => {
          const cps = Array.from(frag);
          const s = start % cps.length;
          return cps.slice(s, s + len).join('');
        })
        .chain((piece) => fc.mixedCase(fc.constant(piece))),
    },
    { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...f.chars), minLength: 1, maxLength: 3 }) },
  );
}

const METADATA = { deep: { message: 'metadata only' }, n: 1.5, list: [1, 'x', true, null] };

interface LogSpec {
  ts: number;
  level: Level;
  service: string;
  message: string;
  userId: string | undefined;
  receivedAt: number;
  metadata: boolean;
  /** Minutes of UTC offset the timestamp text is written with. */
  offset: number;
}

function logSpecArb(f: Flavour): fc.Arbitrary<LogSpec> {
  return fc.record({
    ts: timeArb(T0),
    level: levelArb,
    service: fc.constantFrom(...f.services),
    message: messageArb(f),
    userId: fc.option(fc.constantFrom(...f.users), { nil: undefined, freq: 3 }),
    receivedAt: timeArb(R0),
    metadata: fc.boolean(),
    offset: fc.constantFrom(0, 0, 120, -330),
  });
}

/** An RFC 3339 text for `ms` written at `offsetMin` from UTC. */
function rfc3339(ms: number, offsetMin: number): string {
  if (offsetMin === 0) return new Date(ms).toISOString();
  const local = new Date(ms + offsetMin * 60_000).toISOString().slice(0, -1);
  const a = Math.abs(offsetMin);
  return `${local}${offsetMin < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

function stored(id: number, s: LogSpec, receivedAt = s.receivedAt): StoredLog {
  return new StoredLog(id, s.ts, rfc3339(s.ts, s.offset), s.level, s.service, s.message, s.userId, s.metadata ? structuredClone(METADATA) : undefined, receivedAt);
}

/** A log in the client's shape, as it stands in a request body. */
function clientShape(l: StoredLog): Record<string, unknown> {
  const o: Record<string, unknown> = { timestamp: l.timestamp, level: l.level, service: l.service, message: l.message };
  if (l.userId !== undefined) o.user_id = l.userId;
  if (l.metadata !== undefined) o.metadata = l.metadata;
  return o;
}

/** `arb` in `percent` of cases, else absent. */
function maybe<T>(arb: fc.Arbitrary<T>, percent: number): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: 100 - percent, arbitrary: fc.constant(undefined) }, { weight: percent, arbitrary: arb });
}

/** Any subset of the filter fields, two or so at a time (with all eight, next to nothing would match). */
function queryArb(f: Flavour): fc.Arbitrary<Omit<LogQuery, 'limit'>> {
  return fc.record({
    services: maybe(fc.subarray([...f.services, 'nope']), 30),
    levels: maybe(fc.subarray([...LEVELS]), 30),
    from: maybe(boundArb(T0), 25),
    to: maybe(boundArb(T0), 25),
    receivedFrom: maybe(boundArb(R0), 25),
    receivedTo: maybe(boundArb(R0), 25),
    userId: maybe(fc.constantFrom(...f.users, 'nobody'), 20),
    text: maybe(textArb(f), 25),
  });
}

/** A plain reading of LogQuery, written without the filter's code: for ASCII text only, where lower-casing is the whole of "case-insensitive". */
function plainReading(q: Omit<LogQuery, 'limit'>, l: StoredLog): boolean {
  return (
    (q.services === undefined || q.services.length === 0 || q.services.includes(l.service)) &&
    (q.levels === undefined || q.levels.length === 0 || q.levels.includes(l.level)) &&
    (q.from === undefined || l.ts >= q.from) &&
    (q.to === undefined || l.ts <= q.to) &&
    (q.receivedFrom === undefined || l.receivedAt >= q.receivedFrom) &&
    (q.receivedTo === undefined || l.receivedAt <= q.receivedTo) &&
    (q.userId === undefined || l.userId === q.userId) &&
    (q.text === undefined || l.message.toLowerCase().includes(q.text.toLowerCase()))
  );
}

const ids = (logs: readonly StoredLog[]): number[] => logs.map((l) => l.id);

// ---------------------------------------------------------------------------------------------
// The meaning itself.

describe('LogFilter.matches: the meaning', () => {
  test('agrees with a plain reading of LogQuery (ASCII text, metacharacters included)', (t) => {
    let hits = 0;
    let misses = 0;
    fc.assert(
      fc.property(logSpecArb(ASCII), queryArb(ASCII), (spec, q) => {
        const log = stored(1, spec);
        const got = new LogFilter(q).matches(log);
        assert.equal(got, plainReading(q, log));
        if (got) hits++;
        else misses++;
      }),
      params(2000),
    );
    t.diagnostic(`${hits} matches, ${misses} misses`);
    assert.ok(hits > 100 && misses > 100, `both answers reached: ${hits} matches, ${misses} misses`);
  });

  test('an empty query matches every log, on every evaluator', () => {
    const f = new LogFilter({});
    const logs = [
      stored(1, { ts: T0, level: 'DEBUG', service: '__proto__', message: 'x', userId: undefined, receivedAt: R0, metadata: false, offset: 0 }),
      stored(2, { ts: 0, level: 'CRITICAL', service: 'say "hi"', message: 'C:\\temp', userId: 'a\\b', receivedAt: 1, metadata: true, offset: 120 }),
    ];
    for (const l of logs) assert.equal(f.matches(l), true);
    const store = new RecentLogs(10);
    store.append(logs);
    assert.deepEqual(ids(store.query({ limit: 10 }).logs), [1, 2], 'by event time: the log of 1970 last');
    const summary = summaryOf(logs);
    assert.equal(f.chunkMayMatch(summary), true);
    assert.equal(f.bodyMayMatch(JSON.stringify(logs.map(clientShape))), true);
    // Empty lists and an empty text are no filter either (GET /api/logs never sends them, but a caller may).
    const empty = new LogFilter({ services: [], levels: [], text: '' });
    for (const l of logs) assert.equal(empty.matches(l), true);
  });

  test('text is a case-insensitive substring of the message, metacharacters taken literally', () => {
    const msg = (message: string): StoredLog => stored(1, { ts: T0, level: 'INFO', service: 'api', message, userId: undefined, receivedAt: R0, metadata: true, offset: 0 });
    const cases: Array<[text: string, message: string, expected: boolean]> = [
      ['login', 'Failed LOGIN attempt', true],
      ['LOGGED', 'user logged in', true],
      ['pAyMeNt', 'Payment declined', true],
      ['résumé', 'RÉSUMÉ téléchargé', true],
      ['.*', 'anything at all', false],
      ['.*', 'glob .* here', true],
      ['a.c', 'abc', false],
      ['a.c', 'xA.Cy', true],
      ['x+', 'xxx', false],
      ['x+', 'X+1', true],
      ['colou?r', 'color', false],
      ['colou?r', 'COLOU?R', true],
      ['[x*]', 'x', false],
      ['[x*]', 'GET [X*] 200', true],
      ['^GET', 'GET /', false],
      ['$1', 'costs $1', true],
      ['a|b', 'a', false],
      ['(', 'f(x)', true],
      ['\\', 'C:\\temp', true],
      ['"q"', 'say "Q"', true],
      ['metadata only', 'no such words', false], // metadata is not searched
    ];
    for (const [text, message, expected] of cases) {
      const f = new LogFilter({ text });
      assert.equal(f.matches(msg(message)), expected, `${JSON.stringify(text)} in ${JSON.stringify(message)}`);
      const store = new RecentLogs(4);
      const log = msg(message);
      store.append([log], originOf([log], { how: 'json', junk: [false], pad: false, escape: 'all', bom: false, single: true }));
      assert.equal(store.query({ text, limit: 10 }).logs.length, expected ? 1 : 0, `kept as bytes: ${JSON.stringify(text)} in ${JSON.stringify(message)}`);
    }
  });

  test('a service named __proto__ (or constructor) is a name like any other', () => {
    const logs = ['__proto__', 'constructor', 'api'].map((service, i) =>
      stored(i + 1, { ts: T0, level: 'INFO', service, message: `m${i}`, userId: undefined, receivedAt: R0, metadata: false, offset: 0 }),
    );
    const store = new RecentLogs(10);
    store.append(logs);
    for (const [services, expected] of [
      [['__proto__'], [1]],
      [['constructor'], [2]],
      [['__proto__', 'api'], [3, 1]],
      [['toString'], []],
      [['api'], [3]],
    ] as Array<[string[], number[]]>) {
      const f = new LogFilter({ services });
      assert.deepEqual(ids(logs.filter((l) => f.matches(l))).reverse(), expected, services.join());
      assert.deepEqual(ids(store.query({ services, limit: 10 }).logs), expected, `buffer: ${services.join()}`);
      const chunk = summaryOf([logs[0]!]);
      assert.equal(f.chunkMayMatch(chunk), services.includes('__proto__'), `chunk of __proto__ may match ${services.join()}`);
    }
  });

  test('levels: any subset of the five, an empty one meaning all (all 32 subsets, every evaluator)', () => {
    const logs = LEVELS.map((level, i) => stored(i + 1, { ts: T0, level, service: 'api', message: level, userId: undefined, receivedAt: R0, metadata: false, offset: 0 }));
    const store = new RecentLogs(10);
    store.append(logs);
    for (let mask = 0; mask < 32; mask++) {
      const levels = LEVELS.filter((_, i) => (mask >> i) & 1);
      const f = new LogFilter({ levels });
      const want = levels.length === 0 ? [...LEVELS] : levels;
      for (const l of logs) assert.equal(f.matches(l), want.includes(l.level), `${levels.join()} / ${l.level}`);
      assert.deepEqual(store.query({ levels, limit: 10 }).logs.map((l) => l.level), [...want].reverse(), levels.join());
      for (const l of logs) {
        const chunk = summaryOf([l]);
        assert.equal(f.chunkMayMatch(chunk), want.includes(l.level), `chunk of ${l.level} may match ${levels.join()}`);
      }
      // A chunk holding every level: may match any non-empty ask; all match only when every level is asked for.
      assert.equal(f.chunkMayMatch(summaryOf(logs)), true);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The per-slot evaluator, through the recent-logs buffer.

type Escape = 'plain' | 'unicode' | 'all';

interface BatchSpec {
  logs: LogSpec[];
  /** Appended as objects (no bytes), or with the request bytes of a JSON or NDJSON body. */
  how: 'objects' | 'json' | 'ndjson';
  /** Per log: a refused item stands before it in the body. */
  junk: boolean[];
  /** Whitespace enough that the buffer cuts the body into its logs rather than keep it whole. */
  pad: boolean;
  escape: Escape;
  bom: boolean;
  /** A one-log JSON body as the object itself, not an array of one. */
  single: boolean;
}

/** A JSON string as a client might write it: as JSON.stringify does, with every non-ASCII character and `/` escaped, or every character escaped. */
function jsonString(s: string, escape: Escape): string {
  if (escape === 'plain') return JSON.stringify(s);
  if (escape === 'unicode') return JSON.stringify(s).replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).replace(/\//g, '\\/');
  let out = '"';
  for (let i = 0; i < s.length; i++) out += `\\u${s.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return `${out}"`;
}

/** JSON text of `v` with its strings (keys too) written as `escape` says, and a space after each comma. */
function jsonText(v: unknown, escape: Escape): string {
  if (typeof v === 'string') return jsonString(v, escape);
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x) => jsonText(x, escape)).join(', ')}]`;
  return `{${Object.entries(v)
    .map(([k, x]) => `${jsonString(k, escape)}: ${jsonText(x, escape)}`)
    .join(', ')}}`;
}

const JUNK_JSON = ['7', '"x"', '{"message":"junk item"}', '[1, {"message": "junk"}]', 'null'];
const JUNK_NDJSON = ['not json', '[1]', '{"message":"junk line"'];

/** The request bytes `logs` came in, as ingest describes them to the buffer. */
function originOf(logs: readonly StoredLog[], b: Omit<BatchSpec, 'logs'>): BatchOrigin {
  const items: number[] = [];
  let text: string;
  let itemCount: number;
  const bom = b.bom ? '\ufeff' : '';
  if (b.how === 'ndjson') {
    const lines: string[] = [];
    let count = 0;
    logs.forEach((l, j) => {
      if (b.junk[j]) {
        lines.push(JUNK_NDJSON[(l.id + j) % JUNK_NDJSON.length]!, '');
        count++;
      }
      items.push(count++);
      lines.push(jsonText(clientShape(l), b.escape));
    });
    if (b.pad) lines.push(' '.repeat(2048 * logs.length + 1));
    text = lines.join('\n');
    itemCount = count;
  } else if (b.single && logs.length === 1 && !b.junk[0]) {
    text = (b.pad ? ' '.repeat(2049) : '') + jsonText(clientShape(logs[0]!), b.escape);
    items.push(0);
    itemCount = 1;
  } else {
    const parts: string[] = [];
    logs.forEach((l, j) => {
      if (b.junk[j]) parts.push(JUNK_JSON[(l.id + j) % JUNK_JSON.length]!);
      items.push(parts.length);
      parts.push(jsonText(clientShape(l), b.escape));
    });
    text = `[${b.pad ? ' '.repeat(2048 * logs.length + 1) : ''}${parts.join(',')}]`;
    itemCount = parts.length;
  }
  return { bytes: Buffer.from(bom + text), format: b.how === 'ndjson' ? 'ndjson' : 'json', itemCount, items: Int32Array.from(items) };
}

const batchArb: fc.Arbitrary<BatchSpec> = fc.array(logSpecArb(ANY), { minLength: 1, maxLength: 8 }).chain((logs) =>
  fc.record({
    logs: fc.constant(logs),
    how: fc.constantFrom('objects', 'json', 'json', 'ndjson'),
    junk: fc.array(fc.boolean(), { minLength: logs.length, maxLength: logs.length }),
    pad: fc.boolean(),
    escape: fc.constantFrom('plain', 'plain', 'unicode', 'all'),
    bom: fc.boolean(),
    single: fc.boolean(),
  }),
);

describe('RecentLogs.query returns exactly what matches() accepts', () => {
  test('random batches (objects, and JSON/NDJSON request bytes) and random queries', (t) => {
    let queries = 0;
    let someButNotAll = 0;
    let textOverBytes = 0;
    fc.assert(
      fc.property(
        fc.array(batchArb, { minLength: 1, maxLength: 6 }),
        fc.oneof(fc.integer({ min: 1, max: 20 }), fc.constant(1000)),
        fc.array(queryArb(ANY), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 3 }),
        (batches, capacity, qs, idStep) => {
          const store = new RecentLogs(capacity);
          const all: StoredLog[] = [];
          const fromBytes = new Set<number>();
          let id = 0;
          for (const b of batches) {
            const logs = b.logs.map((s) => stored((id += idStep), s));
            all.push(...logs);
            if (b.how === 'objects') store.append(logs);
            else {
              store.append(logs, originOf(logs, b));
              for (const l of logs) fromBytes.add(l.id);
            }
          }
          const held = all.slice(-capacity);
          for (const q of qs) {
            const f = new LogFilter(q);
            const expected = listing(held.filter((l) => f.matches(l)));
            const page = store.query({ ...q, limit: 10_000 });
            assert.deepEqual(ids(page.logs), ids(expected));
            assert.deepEqual(page.logs, expected, 'the logs come back as appended');
            assert.equal(page.next, null);
            queries++;
            if (expected.length > 0 && expected.length < held.length) someButNotAll++;
            if (q.text !== undefined && expected.some((l) => fromBytes.has(l.id))) textOverBytes++;
          }
        },
      ),
      params(300),
    );
    t.diagnostic(`${queries} queries, ${someButNotAll} kept some logs but not all, ${textOverBytes} text searches found logs kept as bytes`);
    assert.ok(someButNotAll > queries / 10, `${someButNotAll} of ${queries} queries kept some logs but not all`);
    assert.ok(textOverBytes > 20, `${textOverBytes} text searches found logs kept as request bytes`);
  });
});

// ---------------------------------------------------------------------------------------------
// The per-chunk evaluators, on summaries built as the SQLite tier builds them.

/** A chunk row's summary, as chunk-codec.ts's encodeChunk computes it for the `chunks` table. */
function summaryOf(logs: readonly StoredLog[]): ChunkSummary {
  return {
    lastId: Math.max(...logs.map((l) => l.id)),
    minTs: Math.min(...logs.map((l) => l.ts)),
    maxTs: Math.max(...logs.map((l) => l.ts)),
    minReceived: Math.min(...logs.map((l) => l.receivedAt)),
    maxReceived: Math.max(...logs.map((l) => l.receivedAt)),
    levels: logs.reduce((m, l) => m | (1 << levelIndex(l.level)), 0),
    services: JSON.stringify([...new Set(logs.map((l) => l.service))]),
  };
}

/** The bodies a chunk can have: the client's JSON array, the client's NDJSON, and the server's ROWS. */
function bodiesOf(logs: readonly StoredLog[]): string[] {
  return [
    JSON.stringify(logs.map(clientShape)),
    logs.map((l) => JSON.stringify(clientShape(l))).join('\n'),
    encodeChunk(logs).chunk.body.toString('utf8'),
  ];
}

/** Mostly logs with nothing JSON escapes (a body without a backslash, which bodyMayMatch can rule out), sometimes anything. */
const chunkLogArb = fc.oneof({ weight: 4, arbitrary: logSpecArb(PLAIN) }, { weight: 1, arbitrary: logSpecArb(ANY) });

interface ChunkCase {
  logs: StoredLog[];
  q: Omit<LogQuery, 'limit'>;
}

/**
 * A chunk (ids ascending, with gaps as the survivors of a partial delete have) and a query:
 * random, or fitted to the chunk (bounds at or one off its own, its levels and services give
 * or take one), which is where the close calls live.
 */
const chunkCaseArb: fc.Arbitrary<ChunkCase> = fc
  .tuple(fc.array(chunkLogArb, { minLength: 1, maxLength: 10 }), fc.integer({ min: 1, max: 500 }), fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 10, maxLength: 10 }))
  .map(([specs, first, steps]) => {
    let id = first;
    return specs.map((s, i) => stored((id += i === 0 ? 0 : steps[i]!), s));
  })
  .chain((logs) => {
    const s = summaryOf(logs);
    const present = [...new Set(logs.map((l) => l.service))];
    const delta = fc.constantFrom(-1, 0, 0, 0, 1);
    const levels = [...new Set(logs.map((l) => l.level))];
    const oneLess = <T>(xs: readonly T[]): fc.Arbitrary<T[]> => fc.nat(xs.length - 1).map((i) => xs.filter((_, k) => k !== i));
    const fitted = fc.record({
      from: maybe(delta.map((d) => s.minTs + d), 70),
      to: maybe(delta.map((d) => s.maxTs + d), 70),
      receivedFrom: maybe(delta.map((d) => s.minReceived + d), 70),
      receivedTo: maybe(delta.map((d) => s.maxReceived + d), 70),
      levels: maybe(
        fc.oneof(
          { weight: 3, arbitrary: fc.subarray([...LEVELS]).map((extra) => [...new Set([...levels, ...extra])]) },
          { weight: 1, arbitrary: oneLess(levels) },
        ),
        60,
      ),
      services: maybe(
        fc.oneof(
          { weight: 3, arbitrary: fc.subarray(PLAIN_SERVICES).map((extra) => [...new Set([...present, ...extra])]) },
          { weight: 1, arbitrary: oneLess(present) },
        ),
        60,
      ),
      userId: maybe(fc.constantFrom(...USERS), 10),
      text: maybe(textArb(ANY), 10),
    });
    const random = fc.oneof(queryArb(PLAIN), queryArb(ANY));
    return fc.record({ logs: fc.constant(logs), q: fc.oneof(random, fitted) });
  });

describe('chunkMayMatch, bodyMayMatch: sound for every chunk', () => {
  test('the summary the test builds is the one the SQLite tier stores', () => {
    fc.assert(
      fc.property(chunkCaseArb, ({ logs }) => {
        const { chunk } = encodeChunk(logs);
        const { lastId, minTs, maxTs, minReceived, maxReceived, levels, services } = chunk;
        assert.deepEqual({ lastId, minTs, maxTs, minReceived, maxReceived, levels, services }, summaryOf(logs));
      }),
      params(200),
    );
  });

  test('a chunk ruled out holds no match; a body ruled out holds no user id or text match', (t) => {
    let skipped = 0;
    let bodyRuledOut = 0;
    let mayButNone = 0;
    const runs = 3000;
    fc.assert(
      fc.property(chunkCaseArb, ({ logs, q }) => {
        const f = new LogFilter(q);
        const s = summaryOf(logs);
        const matching = logs.filter((l) => f.matches(l));
        if (!f.chunkMayMatch(s)) {
          skipped++;
          assert.deepEqual(ids(matching), [], 'chunkMayMatch said no, yet logs match');
        } else if (matching.length === 0) mayButNone++;
        const textual = new LogFilter({ ...(q.userId !== undefined && { userId: q.userId }), ...(q.text !== undefined && { text: q.text }) });
        for (const body of bodiesOf(logs)) {
          if (f.bodyMayMatch(body)) continue;
          bodyRuledOut++;
          assert.deepEqual(ids(logs.filter((l) => textual.matches(l))), [], `bodyMayMatch said no to ${body}`);
        }
      }),
      params(runs),
    );
    t.diagnostic(`${runs} chunks: ${skipped} ruled out, ${bodyRuledOut} bodies ruled out, ${mayButNone} may match but hold none`);
    // Each premise reached often enough to mean something (counts at this seed are several times these).
    assert.ok(skipped > runs / 20, `${skipped} chunks ruled out`);
    assert.ok(bodyRuledOut > runs / 20, `${bodyRuledOut} bodies ruled out`);
    assert.ok(mayButNone > 0, 'some chunks may match yet hold no match (the summary is not exact)');
  });

  test('bodyMayMatch never rules out a body holding a match: searches cut from the chunk\'s own messages and user ids, bodies written with and without escapes', (t) => {
    let withMatch = 0;
    const searchArb = fc
      .tuple(fc.array(logSpecArb(ANY), { minLength: 1, maxLength: 6 }), fc.nat(), fc.nat(), fc.integer({ min: 1, max: 8 }), fc.nat(), fc.boolean())
      .chain(([specs, which, start, len, whose, withUser]) => {
        const logs = specs.map((s, i) => stored(i + 1, s));
        const cps = Array.from(logs[which % logs.length]!.message);
        const piece = cps.slice(start % cps.length, (start % cps.length) + len).join('');
        const userId = withUser ? logs[whose % logs.length]!.userId : undefined;
        return fc.record({ logs: fc.constant(logs), text: fc.mixedCase(fc.constant(piece)), userId: fc.constant(userId) });
      });
    fc.assert(
      fc.property(searchArb, ({ logs, text, userId }) => {
        const f = new LogFilter({ text, ...(userId !== undefined && { userId }) });
        const matching = logs.filter((l) => f.matches(l));
        if (matching.length === 0) return;
        withMatch++;
        const bodies = [...bodiesOf(logs), jsonText(logs.map(clientShape), 'unicode'), jsonText(logs.map(clientShape), 'all')];
        for (const body of bodies) assert.equal(f.bodyMayMatch(body), true, `${JSON.stringify(text)} / ${userId} matches logs ${ids(matching).join()}, yet the body ${body} was ruled out`);
      }),
      params(1000),
    );
    t.diagnostic(`${withMatch} searches with a match`);
    assert.ok(withMatch > 300, `${withMatch} searches found a match`);
  });

  const base = (over: Partial<LogSpec> = {}): LogSpec => ({
    ts: T0,
    level: 'INFO',
    service: 'api',
    message: 'User logged in',
    userId: 'u1',
    receivedAt: R0,
    metadata: false,
    offset: 0,
    ...over,
  });
  /** Ids 10..13: services api and auth-service, levels INFO and WARNING, event times T0..T0+3000, received R0..R0+3000. */
  const chunk = [
    stored(10, base()),
    stored(11, base({ ts: T0 + 1000, receivedAt: R0 + 1000, level: 'WARNING', service: 'auth-service', message: 'login FAILED', userId: 'u2' })),
    stored(12, base({ ts: T0 + 2000, receivedAt: R0 + 2000, message: 'Payment declined', userId: undefined })),
    stored(13, base({ ts: T0 + 3000, receivedAt: R0 + 3000, service: 'auth-service' })),
  ];
  const summary = summaryOf(chunk);

  test('a chunk that cannot match is skipped, on each field of its summary', () => {
    const outside: Array<[string, Omit<LogQuery, 'limit'>]> = [
      ['another service', { services: ['payment-service'] }],
      ['a service whose quoted name is not in the list, only a prefix of one', { services: ['auth'] }],
      ['other levels', { levels: ['ERROR', 'CRITICAL', 'DEBUG'] }],
      ['event times after it', { from: T0 + 3001 }],
      ['event times before it', { to: T0 - 1 }],
      ['receive times after it', { receivedFrom: R0 + 3001 }],
      ['receive times before it', { receivedTo: R0 - 1 }],
    ];
    for (const [why, q] of outside) {
      assert.equal(new LogFilter(q).chunkMayMatch(summary), false, why);
      assert.equal(chunk.filter((l) => new LogFilter(q).matches(l)).length, 0, why);
    }
    // Just inside each bound: may match.
    for (const q of [{ services: ['auth-service'] }, { levels: ['WARNING' as const] }, { from: T0 + 3000 }, { to: T0 }, { receivedFrom: R0 + 3000 }, { receivedTo: R0 }]) {
      assert.equal(new LogFilter(q).chunkMayMatch(summary), true, JSON.stringify(q));
    }
  });

  test('a body without the user id or the text is skipped; one with escapes is always read', () => {
    const body = JSON.stringify(chunk.map(clientShape));
    assert.ok(!body.includes('\\'));
    assert.equal(new LogFilter({ userId: 'u3' }).bodyMayMatch(body), false, 'no such user');
    assert.equal(new LogFilter({ userId: 'u' }).bodyMayMatch(body), false, 'a prefix of a user id is not the user id');
    assert.equal(new LogFilter({ text: 'refund' }).bodyMayMatch(body), false, 'no such text');
    assert.equal(new LogFilter({ userId: 'u2', text: 'PAYMENT' }).bodyMayMatch(body), true, 'both occur in the body (in different logs: the logs decide)');
    assert.equal(new LogFilter({ text: 'LOGIN failed' }).bodyMayMatch(body), true);
    const escaped = JSON.stringify([...chunk, stored(14, base({ message: 'C:\\temp' }))].map(clientShape));
    assert.equal(new LogFilter({ text: 'refund', userId: 'u3' }).bodyMayMatch(escaped), true, 'with escapes, the logs decide');
  });

});

// ---------------------------------------------------------------------------------------------
// The durable tier, end to end.

interface HttpBatch {
  logs: LogSpec[];
  /** A JSON array; the first log alone as an object; NDJSON; a JSON array with an invalid item in it (207, stored as server-written rows); a JSON array written with \u escapes. */
  kind: 'array' | 'single' | 'ndjson' | 'with-invalid' | 'escaped';
  /** Clock ms to move before sending. */
  advance: number;
}

const httpBatchArb: fc.Arbitrary<HttpBatch> = fc.record({
  logs: fc.array(logSpecArb(HTTP), { minLength: 1, maxLength: 10 }),
  kind: fc.constantFrom('array', 'array', 'single', 'ndjson', 'with-invalid', 'escaped'),
  advance: fc.constantFrom(0, 1000, 1000, 2000),
});

/** The query string for `q`, as a client writes it (lists repeated or comma-joined, levels in any case), and the LogQuery routes/logs.ts reads from it. */
function toUrl(q: Omit<LogQuery, 'limit'>, style: { commas: boolean; lower: boolean }): { url: string; query: Omit<LogQuery, 'limit'> } {
  const parts: string[] = ['limit=1000'];
  const query: Omit<LogQuery, 'limit'> = {};
  const e = encodeURIComponent;
  if (q.services !== undefined && q.services.length > 0) {
    if (style.commas) parts.push(`service=${q.services.map(e).join(',')}`);
    else for (const s of q.services) parts.push(`service=${e(s)}`);
    query.services = q.services;
  }
  if (q.levels !== undefined && q.levels.length > 0) {
    parts.push(`level=${q.levels.map((l) => (style.lower ? l.toLowerCase() : l)).join(',')}`);
    query.levels = q.levels;
  }
  const times = [
    ['from', 'from'],
    ['to', 'to'],
    ['receivedFrom', 'received_from'],
    ['receivedTo', 'received_to'],
  ] as const;
  for (const [field, name] of times) {
    const v = q[field];
    if (v === undefined) continue;
    parts.push(`${name}=${e(new Date(v).toISOString())}`);
    query[field] = v;
  }
  if (q.userId !== undefined) {
    parts.push(`user_id=${e(q.userId)}`);
    query.userId = q.userId;
  }
  if (q.text !== undefined) {
    parts.push(`q=${e(q.text)}`);
    query.text = q.text;
  }
  if (q.patternId !== undefined) {
    parts.push(`pattern=${q.patternId}`);
    query.patternId = q.patternId;
  }
  return { url: `/api/logs?${parts.join('&')}`, query };
}

function viewOf(l: StoredLog): LogView {
  const v: LogView = { id: l.id, timestamp: l.timestamp, level: l.level, service: l.service, message: l.message, received_at: new Date(l.receivedAt).toISOString() };
  if (l.userId !== undefined) v.user_id = l.userId;
  if (l.metadata !== undefined) v.metadata = l.metadata;
  if (l.patternId > 0) v.pattern_id = l.patternId;
  return v;
}

describe('GET /api/logs over a small buffer and a SQLite file answers what matches() says', () => {
  test('random batches through POST /api/logs, random filters through GET /api/logs', async (t) => {
    let queries = 0;
    let someButNotAll = 0;
    let fromDbOnly = 0;
    const runs = 8;
    await fc.assert(
      fc.asyncProperty(
        fc.array(httpBatchArb, { minLength: 4, maxLength: 10 }),
        fc.double({ min: 0.05, max: 0.4, noNaN: true }),
        fc.array(fc.tuple(queryArb(HTTP), fc.boolean(), fc.boolean(), fc.option(fc.nat(), { freq: 3 })), { minLength: 10, maxLength: 20 }),
        async (batches, bufferShare, qs) => {
          const sendable = batches.map((b) => (b.kind === 'single' ? { ...b, logs: b.logs.slice(0, 1) } : b));
          const total = sendable.reduce((n, b) => n + b.logs.length, 0);
          const maxLogs = Math.max(1, Math.floor(total * bufferShare));
          // Load shedding off: it answers 503 when the machine is busy, which is not what this checks.
          const { app, clock } = await buildTestApp({ storage: { max_logs: maxLogs, persistence: { enabled: true, path: tempDb() } }, load_shedding: { enabled: false } });
          try {
            // Send, keeping each log as it must be stored (ids come from the server, below).
            const sent: LogSpec[] = [];
            for (const b of sendable) {
              clock.advance(b.advance);
              const items = b.logs.map((s) => clientShape(stored(0, s)));
              let res;
              if (b.kind === 'ndjson') {
                res = await app.inject({ method: 'POST', url: '/api/logs', payload: items.map((i) => JSON.stringify(i)).join('\n'), headers: { 'content-type': 'application/x-ndjson' } });
              } else {
                const body =
                  b.kind === 'single'
                    ? JSON.stringify(items[0])
                    : b.kind === 'escaped'
                      ? jsonText(items, 'unicode')
                      : JSON.stringify(b.kind === 'with-invalid' ? [...items.slice(0, 1), { level: 'INFO', message: 'no timestamp or service' }, ...items.slice(1)] : items);
                res = await app.inject({ method: 'POST', url: '/api/logs', payload: body, headers: { 'content-type': 'application/json' } });
              }
              assert.equal(res.statusCode, b.kind === 'with-invalid' ? 207 : 201, res.body);
              for (const s of b.logs) sent.push({ ...s, receivedAt: clock.ms });
            }
            // Everything, in listing order: gives each sent log its id (ids ascend in the order
            // sent), and shows all of them are there, in that order.
            const everything = await app.inject({ method: 'GET', url: '/api/logs?limit=1000' });
            assert.equal(everything.statusCode, 200);
            const allViews = everything.json().logs as LogView[];
            assert.equal(allViews.length, total);
            const assigned = allViews.map((v) => v.id).sort((a, b) => a - b);
            const logs = sent.map((s, i) => stored(assigned[i]!, s));
            // Pattern ids are the miner's to give: every log has one, and one message of one service always the same.
            const patternOf = new Map(allViews.map((v) => [v.id, v.pattern_id ?? 0]));
            const byMessage = new Map<string, number>();
            for (const l of logs) {
              l.patternId = patternOf.get(l.id)!;
              assert.ok(l.patternId > 0, `log ${l.id} has a pattern`);
              const key = `${l.service}\u0000${l.message}`;
              assert.equal(byMessage.get(key) ?? l.patternId, l.patternId, `one message of one service, one pattern: ${key}`);
              byMessage.set(key, l.patternId);
            }
            assert.deepEqual(allViews, listing(logs).map(viewOf));
            const health = (await app.inject({ method: 'GET', url: '/health' })).json();
            assert.equal(health.total_logs, total);
            const inBuffer = new Set(logs.slice(-maxLogs).map((l) => l.id));

            for (const [q0, commas, lower, pick] of qs) {
              // Some queries ask for the pattern of one of the logs sent.
              const q = pick === null ? q0 : { ...q0, patternId: logs[pick % logs.length]!.patternId };
              const { url, query } = toUrl(q, { commas, lower });
              const f = new LogFilter(query);
              const expected = listing(logs.filter((l) => f.matches(l)));
              const res = await app.inject({ method: 'GET', url });
              assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
              const body = res.json();
              assert.deepEqual(
                body.logs.map((v: LogView) => v.id),
                ids(expected),
                url,
              );
              assert.deepEqual(body.logs, expected.map(viewOf), url);
              assert.equal(body.next_before_id, null);
              queries++;
              if (expected.length > 0 && expected.length < logs.length) someButNotAll++;
              if (expected.some((l) => !inBuffer.has(l.id))) fromDbOnly++;
            }
          } finally {
            await app.close();
          }
        },
      ),
      params(runs),
    );
    t.diagnostic(`${queries} queries, ${someButNotAll} kept some logs but not all, ${fromDbOnly} found logs held only in the database`);
    assert.ok(someButNotAll > queries / 10, `${someButNotAll} of ${queries} queries kept some logs but not all`);
    assert.ok(fromDbOnly > queries / 10, `${fromDbOnly} of ${queries} queries found logs held only in the database`);
  });
});
