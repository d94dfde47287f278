import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LogFilter, type LogPage, type LogQuery } from '../../server/core/log-filter.js';
import { compareListed, type LogCursor } from '../../server/core/listing-order.js';
import { StoredLog, type Level } from '../../server/core/log.js';
import { RecentLogs, type BatchOrigin } from '../../server/core/recent-logs.js';

const T0 = Date.parse('2024-01-15T14:30:00Z');
const RECEIVED = Date.parse('2024-01-15T15:00:00Z');

interface Spec {
  ts?: number;
  level?: Level;
  service?: string;
  message?: string;
  userId?: string;
  receivedAt?: number;
}

function mk(id: number, s: Spec = {}): StoredLog {
  const ts = s.ts ?? T0 + id * 1000;
  return new StoredLog(
    id,
    ts,
    new Date(ts).toISOString(),
    s.level ?? 'INFO',
    s.service ?? 'svc-a',
    s.message ?? `message ${id}`,
    s.userId,
    undefined,
    s.receivedAt ?? RECEIVED + id,
  );
}

function storeOf(capacity: number, logs: StoredLog[]): RecentLogs {
  const store = new RecentLogs(capacity);
  store.append(logs);
  return store;
}

const ids = (logs: readonly StoredLog[]): number[] => logs.map((l) => l.id);

/** The `n` logs received last, the last first: arrival order, whatever their event times. */
function newestArrived(store: RecentLogs, n: number): StoredLog[] {
  return store.arrivedAfter(0, {}).reverse().slice(0, n);
}

/** The id of the log the next page starts after; null on the last page. */
const nextId = (page: LogPage): number | null => page.next?.id ?? null;

/** The cursor at a held log (what GET /api/logs makes of before_id). */
function at(store: RecentLogs, id: number): LogCursor {
  return { ts: store.timeOf(id)!, id };
}

/** A small varied fixture: ids 1..8. */
function fixture(): RecentLogs {
  return storeOf(100, [
    mk(1, { service: 'auth', level: 'INFO', message: 'User logged in', userId: 'u1' }),
    mk(2, { service: 'pay', level: 'ERROR', message: 'Payment declined', userId: 'u2' }),
    mk(3, { service: 'auth', level: 'WARNING', message: 'Failed LOGIN attempt', userId: 'u1' }),
    mk(4, { service: 'gw', level: 'DEBUG', message: 'route a.b( reloaded' }),
    mk(5, { service: 'pay', level: 'CRITICAL', message: 'gateway down: aXb( ok', userId: 'u3' }),
    mk(6, { service: 'gw', level: 'INFO', message: 'GET /api 200 [x*] $1' }),
    mk(7, { service: 'auth', level: 'ERROR', message: 'token check failed', userId: 'u2' }),
    mk(8, { service: 'pay', level: 'INFO', message: 'refund issued', userId: 'u1' }),
  ]);
}

const q = (over: Partial<LogQuery> = {}): LogQuery => ({ limit: 100, ...over });

describe('RecentLogs.query', () => {
  test('returns newest first', () => {
    const page = fixture().query(q());
    assert.deepEqual(ids(page.logs), [8, 7, 6, 5, 4, 3, 2, 1]);
    assert.equal(nextId(page), null);
  });

  test('services filter (one or several); empty list means all', () => {
    const s = fixture();
    assert.deepEqual(ids(s.query(q({ services: ['auth'] })).logs), [7, 3, 1]);
    assert.deepEqual(ids(s.query(q({ services: ['auth', 'gw'] })).logs), [7, 6, 4, 3, 1]);
    assert.deepEqual(ids(s.query(q({ services: ['nope'] })).logs), []);
    assert.equal(s.query(q({ services: [] })).logs.length, 8);
  });

  test('levels filter', () => {
    const s = fixture();
    assert.deepEqual(ids(s.query(q({ levels: ['ERROR'] })).logs), [7, 2]);
    assert.deepEqual(ids(s.query(q({ levels: ['ERROR', 'CRITICAL'] })).logs), [7, 5, 2]);
    assert.equal(s.query(q({ levels: [] })).logs.length, 8);
  });

  test('from/to on event time, inclusive', () => {
    const s = fixture();
    assert.deepEqual(ids(s.query(q({ from: T0 + 3000 })).logs), [8, 7, 6, 5, 4, 3]);
    assert.deepEqual(ids(s.query(q({ to: T0 + 3000 })).logs), [3, 2, 1]);
    assert.deepEqual(ids(s.query(q({ from: T0 + 3000, to: T0 + 5000 })).logs), [5, 4, 3]);
    assert.deepEqual(ids(s.query(q({ from: T0 + 3001, to: T0 + 3999 })).logs), []);
  });

  test('from/to use event time, and the page lists by event time, not by id', () => {
    const s = storeOf(10, [mk(1, { ts: T0 + 50_000 }), mk(2, { ts: T0 }), mk(3, { ts: T0 + 10_000 })]);
    assert.deepEqual(ids(s.query(q()).logs), [1, 3, 2]);
    assert.deepEqual(ids(s.query(q({ from: T0 + 5000 })).logs), [1, 3]);
    assert.deepEqual(ids(s.query(q({ to: T0 + 5000 })).logs), [2]);
  });

  test('receivedFrom/receivedTo on receive time, inclusive', () => {
    const s = fixture();
    assert.deepEqual(ids(s.query(q({ receivedFrom: RECEIVED + 6 })).logs), [8, 7, 6]);
    assert.deepEqual(ids(s.query(q({ receivedTo: RECEIVED + 2 })).logs), [2, 1]);
    assert.deepEqual(ids(s.query(q({ receivedFrom: RECEIVED + 4, receivedTo: RECEIVED + 5 })).logs), [5, 4]);
  });

  test('userId filter is exact', () => {
    const s = fixture();
    assert.deepEqual(ids(s.query(q({ userId: 'u1' })).logs), [8, 3, 1]);
    assert.deepEqual(ids(s.query(q({ userId: 'u' })).logs), []);
  });

  test('text is a case-insensitive substring', () => {
    const s = fixture();
    assert.deepEqual(ids(s.query(q({ text: 'login' })).logs), [3]);
    assert.deepEqual(ids(s.query(q({ text: 'LOGGED' })).logs), [1]);
    assert.deepEqual(ids(s.query(q({ text: 'pAyMeNt' })).logs), [2]);
  });

  test('text with regex metacharacters is taken literally', () => {
    const s = fixture();
    // 'a.b(' must not match 'aXb(' (as regex '.' would) and must not throw on '('.
    assert.deepEqual(ids(s.query(q({ text: 'a.b(' })).logs), [4]);
    assert.deepEqual(ids(s.query(q({ text: '[x*]' })).logs), [6]);
    assert.deepEqual(ids(s.query(q({ text: '$1' })).logs), [6]);
    assert.deepEqual(ids(s.query(q({ text: '.*' })).logs), []);
    assert.deepEqual(ids(s.query(q({ text: '^GET' })).logs), []);
  });

  test('filters combine with AND', () => {
    const s = fixture();
    assert.deepEqual(ids(s.query(q({ services: ['auth', 'pay'], levels: ['ERROR'], userId: 'u2' })).logs), [7, 2]);
    assert.deepEqual(ids(s.query(q({ services: ['pay'], text: 'refund', userId: 'u1', from: T0 + 8000 })).logs), [8]);
    assert.deepEqual(ids(s.query(q({ services: ['pay'], userId: 'u9' })).logs), []);
  });

  test('limit cuts the page and the cursor points at the last returned log', () => {
    const s = fixture();
    const p1 = s.query(q({ limit: 3 }));
    assert.deepEqual(ids(p1.logs), [8, 7, 6]);
    assert.deepEqual(p1.next, { ts: T0 + 6000, id: 6 });
    const p2 = s.query(q({ limit: 3, before: p1.next! }));
    assert.deepEqual(ids(p2.logs), [5, 4, 3]);
    assert.equal(nextId(p2), 3);
    const p3 = s.query(q({ limit: 3, before: p2.next! }));
    assert.deepEqual(ids(p3.logs), [2, 1]);
    assert.equal(nextId(p3), null);
  });

  test('nextBeforeId is null when the page is exactly the last matches', () => {
    const s = fixture();
    const page = s.query(q({ limit: 8 }));
    assert.equal(page.logs.length, 8);
    assert.equal(nextId(page), null);
    const filtered = s.query(q({ limit: 3, services: ['auth'] }));
    assert.deepEqual(ids(filtered.logs), [7, 3, 1]);
    assert.equal(nextId(filtered), null);
  });

  test('paging with nextBeforeId walks a wrapped buffer exactly once, no duplicates', () => {
    const capacity = 50;
    const store = new RecentLogs(capacity);
    const all: StoredLog[] = [];
    for (let id = 1; id <= 137; id++) all.push(mk(id, { service: id % 3 === 0 ? 'x' : 'y' }));
    store.append(all);
    assert.equal(store.size, capacity);
    for (const [limit, filter] of [
      [7, {}],
      [1, {}],
      [50, {}],
      [4, { services: ['x'] }],
    ] as [number, Partial<LogQuery>][]) {
      const seen: number[] = [];
      let before: LogCursor | undefined;
      let pages = 0;
      for (;;) {
        const page = store.query({ ...filter, limit, ...(before === undefined ? {} : { before }) });
        assert.ok(page.logs.length <= limit, `page of ${page.logs.length} exceeds limit ${limit}`);
        seen.push(...ids(page.logs));
        pages++;
        if (nextId(page) === null) break;
        assert.equal(nextId(page), page.logs[page.logs.length - 1]!.id);
        before = page.next!;
        assert.ok(pages < 1000, 'paging does not terminate');
      }
      const expected = [];
      for (let id = 137; id > 137 - capacity; id--) if (filter.services === undefined || id % 3 === 0) expected.push(id);
      assert.deepEqual(seen, expected, `limit ${limit} ${JSON.stringify(filter)}`);
      assert.equal(new Set(seen).size, seen.length);
    }
  });

  test('offset skips matches before the page starts', () => {
    const s = fixture();
    const page = s.query(q({ limit: 2, offset: 3 }));
    assert.deepEqual(ids(page.logs), [5, 4]);
    assert.equal(nextId(page), 4);
    assert.deepEqual(ids(s.query(q({ offset: 1, services: ['auth'] })).logs), [3, 1]);
    assert.deepEqual(ids(s.query(q({ offset: 8 })).logs), []);
    assert.equal(nextId(s.query(q({ offset: 8 }))), null);
  });

  test('a cursor older than every held log gives an empty last page; a cursor past the newest gives them all', () => {
    const store = new RecentLogs(5);
    for (let id = 1; id <= 12; id++) store.append([mk(id)]); // holds 8..12
    const below = store.query(q({ before: { ts: T0 + 3000, id: 3 } }));
    assert.deepEqual(below.logs, []);
    assert.equal(below.next, null);
    assert.deepEqual(ids(store.query(q({ before: at(store, 8) })).logs), []);
    assert.deepEqual(ids(store.query(q({ before: at(store, 9) })).logs), [8]);
    assert.deepEqual(ids(store.query(q({ before: { ts: T0 + 1_000_000, id: 1000 } })).logs), [12, 11, 10, 9, 8]);
  });

  test('a cursor on an empty store', () => {
    const store = new RecentLogs(5);
    assert.deepEqual(store.query(q({ before: { ts: T0, id: 10 } })), { logs: [], next: null });
    assert.deepEqual(store.query(q()), { logs: [], next: null });
  });

  test('a cursor whose log was deleted still places the next page by its time and id', () => {
    const store = storeOf(20, [1, 2, 3, 4, 5, 6].map((id) => mk(id, { ts: id % 2 === 0 ? T0 : T0 + 100_000 })));
    const first = store.query(q({ limit: 4 })); // 5, 3, 1 (T0 + 100 s), then 6 (T0)
    assert.deepEqual(ids(first.logs), [5, 3, 1, 6]);
    store.deleteBefore(T0 + 1); // drops the even ids, 6 among them
    assert.deepEqual(ids(store.query(q({ before: first.next! })).logs), []);
    assert.deepEqual(ids(store.query(q({ before: { ts: T0 + 100_000, id: 4 } })).logs), [3, 1]);
    assert.deepEqual(ids(store.query(q({ before: { ts: T0 + 100_000, id: 6 } })).logs), [5, 3, 1]);
  });
});

describe('RecentLogs other operations', () => {
  test('deleteBefore removes logs with event time before ts and keeps order', () => {
    const store = storeOf(10, [
      mk(1, { ts: T0 - 5000 }),
      mk(2, { ts: T0 + 5000 }),
      mk(3, { ts: T0 - 1 }),
      mk(4, { ts: T0 }),
      mk(5, { ts: T0 - 100_000 }),
    ]);
    assert.equal(store.deleteBefore(T0), 3);
    assert.equal(store.size, 2);
    assert.deepEqual(ids(store.query(q()).logs), [2, 4]);
    assert.deepEqual(ids(newestArrived(store, 5)), [4, 2]);
    assert.equal(store.deleteBefore(T0), 0);
    store.append([mk(6, { ts: T0 + 1 })]);
    assert.deepEqual(ids(store.query(q()).logs), [2, 6, 4]);
  });

  test('removal after the ring has wrapped keeps order, and later appends still evict oldest first', () => {
    const store = new RecentLogs(5);
    for (let id = 1; id <= 13; id++) store.append([mk(id, { ts: id === 10 || id === 12 ? T0 - 1 : T0 + id })]); // holds 9..13, head mid-array
    assert.deepEqual(ids(newestArrived(store, 5)), [13, 12, 11, 10, 9]);
    assert.equal(store.deleteBefore(T0), 2);
    assert.deepEqual(ids(newestArrived(store, 5)), [13, 11, 9]);
    store.append([mk(14), mk(15)]);
    assert.deepEqual(ids(newestArrived(store, 5)), [15, 14, 13, 11, 9]);
    store.append([mk(16), mk(17)]);
    assert.deepEqual(ids(newestArrived(store, 5)), [17, 16, 15, 14, 13]);
    assert.equal(store.oldestId(), 13);
  });

  test('removing nothing and removing everything', () => {
    const store = new RecentLogs(3);
    for (let id = 1; id <= 5; id++) store.append([mk(id)]);
    assert.equal(store.removeExpired(0, 0), 0);
    assert.deepEqual(ids(newestArrived(store, 3)), [5, 4, 3]);
    assert.equal(store.removeExpired(Number.MAX_SAFE_INTEGER, 0), 3);
    assert.equal(store.size, 0);
    assert.equal(store.oldestId(), undefined);
    store.append([mk(6)]);
    assert.deepEqual(ids(newestArrived(store, 3)), [6]);
  });

  test('newest(n) returns the n newest, newest first', () => {
    const store = new RecentLogs(4);
    for (let id = 1; id <= 6; id++) store.append([mk(id)]);
    assert.deepEqual(ids(newestArrived(store, 2)), [6, 5]);
    assert.deepEqual(ids(newestArrived(store, 10)), [6, 5, 4, 3]);
    assert.equal(store.capacity, 4);
    assert.equal(store.size, 4);
  });

  test('a filter of an empty query matches everything', () => {
    const all = new LogFilter({});
    assert.equal(all.matches(mk(1)), true);
    const byText = new LogFilter({ text: 'MESSAGE 1' });
    assert.equal(byText.matches(mk(1)), true);
    assert.equal(byText.matches(mk(2)), false);
  });
});

describe('RecentLogs layout: logs kept as their request bytes in off-heap segments', () => {
  /** A batch as the ingest route hands it over: the body's bytes and format, and the body index of each accepted log. */
  function batchFrom(logs: StoredLog[], body: string, accepted: number[] = logs.map((_, i) => i), format: 'json' | 'ndjson' = 'json'): [StoredLog[], BatchOrigin] {
    const bytes = Buffer.from(body);
    const itemCount = format === 'ndjson' ? body.split('\n').filter((l) => l.trim() !== '').length : ((v: unknown) => (Array.isArray(v) ? v.length : 1))(JSON.parse(body));
    return [accepted.map((i) => logs[i]!), { bytes, format, itemCount, items: Int32Array.from(accepted) }];
  }

  function bodyOf(logs: StoredLog[]): string {
    return JSON.stringify(
      logs.map((l) => ({ timestamp: l.timestamp, level: l.level, service: l.service, message: l.message, ...(l.userId && { user_id: l.userId }), ...(l.metadata && { metadata: l.metadata }) })),
    );
  }

  const odd = (id: number): StoredLog =>
    new StoredLog(id, T0 + id, `2024-01-15T14:30:00.${String(id % 1000).padStart(3, '0')}+00:00`, 'ERROR', 'svc-é', `Ünïcode "quoted" \\ ${id} \u2028 😀`, `u${id}`, { n: 1.5e-7, deep: { message: 'not this one' }, list: [1, 'x'] }, RECEIVED);

  test('logs stored from request bytes, with rejected items between them, read back exactly as accepted', () => {
    const logs = [1, 2, 3, 4, 5].map(odd);
    const store = new RecentLogs(10);
    store.append(...batchFrom(logs, bodyOf(logs), [0, 2, 4]));
    assert.deepEqual(newestArrived(store, 10), [logs[4], logs[2], logs[0]]);
    assert.deepEqual(ids(store.query(q({ services: ['svc-é'], userId: 'u3', levels: ['ERROR'] })).logs), [3]);
    const negativeZero = mk(6);
    store.append(...batchFrom([negativeZero], `{"timestamp":"${negativeZero.timestamp}","message":"m","metadata":{"n":-0}}`));
    assert.ok(Object.is((newestArrived(store, 1)[0]!.metadata as { n: number }).n, -0), 'the bytes as sent: -0 comes back as -0');
    assert.deepEqual(ids(store.query(q({ text: 'ÜNÏCODE "QUOTED" \\ 3' })).logs), [3], 'the message is searched decoded, escapes and all');
    assert.deepEqual(ids(store.query(q({ text: 'not this one' })).logs), [], 'metadata is not searched');
  });

  test('a message written with escapes, a repeated message key, or a \\u-escaped key reads back and is searched as JSON.parse sees it', () => {
    const store = new RecentLogs(10);
    const logs = [mk(1, { message: 'tab\there' }), mk(2, { message: 'second' }), mk(3, { message: 'escaped key' })];
    const body = `[{"timestamp":"${logs[0]!.timestamp}","message":"tab\\u0009here"},{"message":"first","timestamp":"${logs[1]!.timestamp}","message":"second"},{"timestamp":"${logs[2]!.timestamp}","messag\\u0065":"escaped key"}]`;
    store.append(...batchFrom(logs, body));
    assert.deepEqual(newestArrived(store, 3).reverse(), logs);
    assert.deepEqual(ids(store.query(q({ text: 'TAB\tHERE' })).logs), [1]);
    assert.deepEqual(ids(store.query(q({ text: 'first' })).logs), []);
    assert.deepEqual(ids(store.query(q({ text: 'second' })).logs), [2]);
    assert.deepEqual(ids(store.query(q({ text: 'escaped' })).logs), [3]);
  });

  test('NDJSON bodies, and bodies with refused items that are not objects, read back exactly as accepted', () => {
    const logs = [1, 2, 3].map(odd);
    const lines = logs.map((l) => JSON.stringify({ timestamp: l.timestamp, message: l.message, metadata: l.metadata }));
    const store = new RecentLogs(10);
    const ndjson = Buffer.from(`\ufeff${lines[0]}\r\n\n  \nnot json\n${lines[1]}\n[1]\n${lines[2]}`);
    store.append(logs, { bytes: ndjson, format: 'ndjson', itemCount: 5, items: Int32Array.from([0, 2, 4]) });
    const more = [4, 5].map(odd);
    const array = Buffer.from(`[7, "x", [1, {"message": "no"}], ${bodyOf(more).slice(1)}`);
    store.append([more[1]!], { bytes: array, format: 'json', itemCount: 5, items: Int32Array.from([4]) });
    assert.deepEqual(newestArrived(store, 10), [more[1], logs[2], logs[1], logs[0]]);
    assert.deepEqual(ids(store.query(q({ text: 'ünïcode "QUOTED" \\ 2' })).logs), [2]);
  });

  test('a body much larger than its stored logs (refused items, padding) is cut into its logs at once, not kept whole', () => {
    const store = new RecentLogs(100);
    const logs = [odd(1)];
    const padded = `[${' '.repeat(1_000_000)}${bodyOf(logs).slice(1)}`;
    store.append(...batchFrom(logs, padded));
    assert.ok(store.segmentMemory < 100_000, `segments hold ${store.segmentMemory} bytes`);
    assert.deepEqual(newestArrived(store, 1), logs);
  });

  test('turning over many times frees the segments of logs gone: memory stays bounded by what is held', () => {
    const store = new RecentLogs(1000);
    let id = 0;
    for (let batch = 0; batch < 400; batch++) {
      const logs = Array.from({ length: 100 }, () => odd(++id));
      store.append(...batchFrom(logs, bodyOf(logs)));
      if (batch % 7 === 0) store.append([odd(++id)]); // encoded here: no bytes came with it
    }
    assert.equal(store.size, 1000);
    assert.deepEqual(ids(newestArrived(store, 3)), [id, id - 1, id - 2]);
    assert.equal(store.query(q({ limit: 5000 })).logs.length, 1000);
    const perLog = Buffer.byteLength(bodyOf([odd(1)]));
    // The segment size here is 64 KiB: what 1,000 logs need, plus the segment being written and two spares' worth.
    assert.ok(store.segmentMemory <= 1000 * perLog + 4 * 65_536, `segments hold ${store.segmentMemory} bytes`);
  });

  test('a batch larger than the buffer, and one larger than a segment, keep the newest logs', () => {
    const store = new RecentLogs(50);
    const logs = Array.from({ length: 2000 }, (_, i) => odd(i + 1));
    const [kept, origin] = batchFrom(logs, bodyOf(logs));
    assert.ok(origin.bytes.length > 65_536, 'the body is larger than a segment');
    store.append(kept, origin);
    assert.deepEqual(newestArrived(store, 50), logs.slice(-50).reverse());
    const more = [odd(2001), odd(2002)];
    store.append(...batchFrom(more, bodyOf(more)));
    assert.deepEqual(ids(newestArrived(store, 3)), [2002, 2001, 2000]);
  });

  test('removing logs frees their segments; what stays answers queries unchanged', () => {
    const store = new RecentLogs(3000);
    const logs = Array.from({ length: 3000 }, (_, i) => odd(i + 1));
    for (let i = 0; i < logs.length; i += 500) store.append(...batchFrom(logs.slice(i, i + 500), bodyOf(logs.slice(i, i + 500))));
    const full = store.segmentMemory;
    assert.equal(store.removeExpired(2501, 0), 2500);
    assert.ok(store.segmentMemory < full / 2, `${store.segmentMemory} of ${full} bytes still held`);
    assert.deepEqual(newestArrived(store, 500), logs.slice(2500).reverse());
    assert.equal(store.oldestId(), 2501);
  });
});

describe('RecentLogs text search on the stored bytes', () => {
  /**
   * A JSON array body holding `logs`, each message written as JSON.stringify would, except that
   * the characters at the positions `escaped` picks are written as \u escapes.
   */
  function escapedBody(logs: readonly StoredLog[], escaped: (id: number, i: number) => boolean = () => false): Buffer {
    const str = (text: string, id: number): string => {
      let out = '"';
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (escaped(id, i) || c < 0x20 || (c >= 0xd800 && c <= 0xdfff)) out += `\\u${c.toString(16).padStart(4, '0')}`;
        else if (c === 0x22 || c === 0x5c) out += `\\${text[i]}`;
        else out += text[i];
      }
      return `${out}"`;
    };
    return Buffer.from(`[${logs.map((l) => `{"timestamp":${JSON.stringify(l.timestamp)},"message":${str(l.message, l.id)}}`).join(',')}]`);
  }

  function appendAsBytes(store: RecentLogs, logs: StoredLog[], escaped?: (id: number, i: number) => boolean): void {
    store.append(logs, { bytes: escapedBody(logs, escaped), format: 'json', itemCount: logs.length, items: Int32Array.from(logs, (_, i) => i) });
  }

  /** What the buffer must answer: the held logs LogFilter.matches accepts, in listing order. */
  const expected = (held: readonly StoredLog[], query: LogQuery): number[] => {
    const f = new LogFilter(query);
    return held
      .filter((l) => f.matches(l))
      .sort((a, b) => compareListed(a.ts, a.id, b.ts, b.id))
      .map((l) => l.id);
  };

  const MESSAGES = [
    'Straße',
    'STRASSE',
    '\u017Ftop', // ſ, whose upper case is S
    'stop',
    '\u212Aelvin', // the Kelvin sign, whose lower case is k
    'kelvin',
    'İstanbul',
    'istanbul',
    'ıi',
    'Payment DECLINED for order #7',
    'déclined, ÉTÉ 😀',
    'say "declined" \\ then more',
    'back\\slash before: declined',
    'tab\there declined',
    '',
  ];

  test('an ASCII search matches either case of ASCII letters only, as log-filter.ts\'s RegExp does, on bytes written plainly or with escapes', () => {
    const logs = MESSAGES.map((message, i) => mk(i + 1, { message }));
    const plain = new RecentLogs(100);
    appendAsBytes(plain, logs);
    const escaped = new RecentLogs(100);
    // Escapes everywhere in some messages, only after the first few characters in others, only the first character in the rest.
    appendAsBytes(escaped, logs, (id, i) => (id % 3 === 0 ? true : id % 3 === 1 ? i >= 3 : i === 0));
    const objects = storeOf(100, logs);
    const searches = ['stop', 'STOP', 'kelvin', 'K', 'k', 'istanbul', 'I', 'i', 'ı', 'İ', 'ss', 'strasse', 'straße', 'STRASSE', 'declined', 'DeClInEd', 'éclined', 'ÉCLINED', 'été', '😀', '"declined"', '\\', '\\ then', 'h before', 'tab\th', 'e', '7', ' ', 'ed,'];
    for (const text of searches) {
      const want = expected(logs, q({ text }));
      for (const [name, store] of [['plain bytes', plain], ['escaped bytes', escaped], ['objects', objects]] as const) {
        assert.deepEqual(ids(store.query(q({ text })).logs), want, `${JSON.stringify(text)} over ${name}`);
      }
    }
    // The cases the byte search must not get wrong, spelled out.
    assert.deepEqual(ids(plain.query(q({ text: 'stop' })).logs), [4], 'ſ is not s');
    assert.deepEqual(ids(plain.query(q({ text: 'kelvin' })).logs), [6], 'K (Kelvin) is not k');
    assert.deepEqual(ids(plain.query(q({ text: 'istanbul' })).logs), [8], 'İ is not i');
    assert.deepEqual(ids(plain.query(q({ text: 'STRASSE' })).logs), [2], 'ß is not ss');
    assert.deepEqual(ids(escaped.query(q({ text: 'declined' })).logs), [14, 13, 12, 10], 'found through escapes, before and after a backslash');
    assert.deepEqual(ids(escaped.query(q({ text: 'été' })).logs), [11], 'a non-ASCII search, decoded');
  });

  test('a search for one character, or with characters a message only holds escaped, is decided all the same', () => {
    const logs = [mk(1, { message: 'a"b' }), mk(2, { message: 'a\\b' }), mk(3, { message: 'line\nbreak' }), mk(4, { message: 'ab' })];
    const store = new RecentLogs(10);
    appendAsBytes(store, logs);
    for (const text of ['a"b', '"', 'a\\b', '\\', '\n', 'e\nb', 'a', 'B', 'ab']) assert.deepEqual(ids(store.query(q({ text })).logs), expected(logs, q({ text })), JSON.stringify(text));
  });

  test('a buffer of more blocks than one search digests answers alike while its blocks are digested a few at a time', () => {
    const words = ['accepted', 'accepted', 'accepted', 'accepted', 'Payment declined', 'payment DECLINED', 'declin', 'Déclined', 'DEC\u212ALINED'];
    const logs = Array.from({ length: 40_000 }, (_, i) => mk(i + 1, { message: `${words[(i * 7) % words.length]} #${i}`, ts: T0 + ((i * 7919) % 100_000) }));
    // 40 blocks of 1,024 slots: more than one search digests.
    const store = new RecentLogs(60_000);
    for (let i = 0; i < logs.length; i += 5000) appendAsBytes(store, logs.slice(i, i + 5000));
    for (const text of ['declined', 'DECLINED', 'eclin', 'xyz']) {
      const want = expected(logs, q({ text }));
      // Each search digests some blocks more; the first ones find most blocks without digests.
      for (let round = 0; round < 3; round++) {
        assert.deepEqual(ids(store.query(q({ text, limit: 50 })).logs), want.slice(0, 50), `${text}, round ${round}`);
        assert.deepEqual(ids(store.query(q({ text, limit: 60_000 })).logs), want, `${text}, all, round ${round}`);
      }
    }
  });

  test('against a model: text searches between appends (bytes, escaped bytes, objects), deletes and expiry, over several blocks', () => {
    const WORDS = ['declined', 'DECLINED', 'Declined', 'decline', 'de', 'clined', 'ſ', '\u212A', 'İ', 'ı', 'ß', 'é', '😀', '\\', '"', 'x', 'K', ' '];
    const SEARCHES = ['declined', 'DECLINED', 'eclin', 'ed', 'de', 'k', 's', 'i', 'I', 'x', ' d', 'dx', 'ss', 'é', 'ı', '\\', '"', 'declinedx'];
    const messageArb = fc.array(fc.constantFrom(...WORDS), { maxLength: 6 }).map((w) => w.join(''));
    const opArb = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({
          kind: fc.constant('append' as const),
          messages: fc.array(messageArb, { minLength: 1, maxLength: 600, size: 'max' }),
          how: fc.constantFrom('bytes', 'escaped', 'objects'),
          spread: fc.integer({ min: 0, max: 100_000 }),
        }),
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.integer({ min: 0, max: 100 }) }) },
    );
    fc.assert(
      fc.property(
        fc.constantFrom(7, 1000, 2500),
        fc.array(opArb, { minLength: 1, maxLength: 12 }),
        fc.array(fc.tuple(fc.constantFrom(...SEARCHES), fc.constantFrom(3, 100, 5000)), { minLength: 1, maxLength: 3 }),
        (capacity, ops, searches) => {
          const store = new RecentLogs(capacity);
          let held: StoredLog[] = [];
          let id = 0;
          for (const op of ops) {
            if (op.kind === 'append') {
              const logs = op.messages.map((message, i) => mk(++id, { message, ts: T0 + ((id * 7919 + i) % (op.spread + 1)) }));
              if (op.how === 'objects') store.append(logs);
              else appendAsBytes(store, logs, op.how === 'escaped' ? (n, i) => (n + i) % 4 === 0 : undefined);
              held = [...held, ...logs].slice(-capacity);
            } else {
              const ts = T0 + op.at * 1000;
              store.deleteBefore(ts);
              held = held.filter((l) => l.ts >= ts);
            }
            // Between writes: what a search learns about a block must not outlive the next write into it.
            for (const [text, limit] of searches) {
              const want = expected(held, q({ text })).slice(0, limit);
              assert.deepEqual(ids(store.query(q({ text, limit })).logs), want, `${JSON.stringify(text)}, limit ${limit}`);
            }
          }
          // Paging with cursors through every match of the first search.
          const [text] = searches[0]!;
          const seen: number[] = [];
          let before: LogCursor | undefined;
          for (let pages = 0; ; pages++) {
            assert.ok(pages <= held.length + 1, 'paging ends');
            const p = store.query(q({ text, limit: 37, ...(before && { before }) }));
            seen.push(...ids(p.logs));
            if (p.next === null) break;
            before = p.next;
          }
          assert.deepEqual(seen, expected(held, q({ text })));
          assert.deepEqual(ids(store.arrivedAfter(0, { text })), expected(held, q({ text })).sort((a, b) => a - b), 'arrivedAfter agrees');
        },
      ),
      // A failure's example is large: shrink it for a while, then report what there is.
      { seed: process.env.FC_SEED === undefined ? 20_261_207 : Number(process.env.FC_SEED), numRuns: 60, interruptAfterTimeLimit: 30_000, markInterruptAsFailure: true },
    );
  });
});
