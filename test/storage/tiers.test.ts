import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { ADMIN_TOKEN, ManualClock, auth, buildTestApp, postJson } from '../helpers.js';
import { tempDb, getJson } from './support.js';

/**
 * The two tiers agree: an app whose buffer holds 50 of 300 logs (the rest only in SQLite)
 * answers every query exactly as an in-memory app holding all 300 does.
 */



/** Deterministic randomness, so a failure can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SERVICES = ['api', 'auth-service', 'payment-service', 'worker', 'Ünïcode-svc'];
const LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'];
const MESSAGES = [
  'ÉCHEC du paiement',
  'échec de connexion',
  'Echec sans accent',
  'Timeout contacting db',
  'upstream TIMEOUT after 30s',
  'user logged in',
  'Straße gesperrt',
  'İstanbul office online',
  'price: $5 (50% off) [promo]*',
  'résumé téléchargé',
];

const TOTAL = 300;
const BUFFER = 50;

describe('both tiers answer like one in-memory store', () => {
  const clock = new ManualClock();
  let durable: FastifyInstance;
  let memory: FastifyInstance;
  const path = tempDb();
  /** Receive times and event times of what was ingested, to pick range bounds from. */
  const received: number[] = [];
  const events: number[] = [];

  before(async () => {
    durable = (await buildTestApp({ storage: { max_logs: BUFFER, persistence: { enabled: true, path } } }, { now: clock.now })).app;
    memory = (await buildTestApp({ storage: { max_logs: 100_000 } }, { now: clock.now })).app;
    const rand = mulberry32(7);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    for (let batch = 0; batch < TOTAL / 10; batch++) {
      const logs = Array.from({ length: 10 }, (_, k) => {
        const i = batch * 10 + k;
        const ts = i % 37 === 0 ? Date.parse('2001-09-09T01:46:40Z') + i * 1000 : clock.ms - Math.floor(rand() * 3_600_000);
        events.push(ts);
        received.push(clock.ms);
        const entry: Record<string, unknown> = {
          timestamp: new Date(ts).toISOString(),
          level: pick(LEVELS),
          service: pick(SERVICES),
          message: `${pick(MESSAGES)} #${i}`,
        };
        if (rand() < 0.6) entry.user_id = `user-${Math.floor(rand() * 6)}`;
        if (rand() < 0.5) entry.metadata = { i, tags: ['a', i % 2 === 0] };
        return entry;
      });
      for (const app of [durable, memory]) {
        const res = await postJson(app, '/api/logs', logs);
        assert.equal(res.statusCode, 201, res.body);
      }
      clock.advance(500 + Math.floor(rand() * 5000));
    }
    // The durable app holds only the newest 50 in memory; the rest are in the database.
    const health = await getJson(durable, '/health');
    assert.equal(health.current_stored, BUFFER);
    assert.equal(health.total_logs, TOTAL);
    assert.equal(await durable.core.repository!.count(), TOTAL);
  });

  after(async () => {
    await durable?.close();
    await memory?.close();
  });

  const iso = (ms: number): string => encodeURIComponent(new Date(ms).toISOString());

  /** Pages through `query` with `limit`, comparing each page of both apps; returns the ids seen. */
  async function pageBoth(query: string, limit: number): Promise<number[]> {
    const ids: number[] = [];
    let cursor: number | null = null;
    for (let pages = 0; pages <= TOTAL + 1; pages++) {
      const url: string = `/api/logs?${query}${query ? '&' : ''}limit=${limit}${cursor === null ? '' : `&before_id=${cursor}`}`;
      const want = await getJson(memory, url);
      const got = await getJson(durable, url);
      assert.deepEqual(got, want, `${url}: page differs`);
      ids.push(...got.logs.map((l: { id: number }) => l.id));
      cursor = got.next_before_id;
      if (cursor === null) return ids;
    }
    throw new Error(`paging ${query} did not end`);
  }

  function queries(): string[] {
    const sortedEvents = [...events].sort((a, b) => a - b);
    const r = (i: number): number => received[i]!;
    const e = (i: number): number => sortedEvents[i]!;
    return [
      '',
      'service=api',
      'service=api,worker',
      'service=payment-service&service=%C3%9Cn%C3%AFcode-svc',
      'level=ERROR,critical',
      'level=warning&service=payment-service',
      `from=${iso(e(40))}&to=${iso(e(220))}`,
      `from=2001-01-01&to=2002-01-01`,
      `to=${iso(e(150))}`,
      `received_from=${iso(r(30))}&received_to=${iso(r(180))}`,
      `received_to=${iso(r(120))}`,
      'user_id=user-3',
      `q=${encodeURIComponent('échec')}`,
      `q=${encodeURIComponent('ÉCHEC')}`,
      `q=${encodeURIComponent('Échec')}`,
      'q=echec',
      'q=timeout',
      'q=TIMEOUT',
      `q=${encodeURIComponent('straße')}`,
      `q=${encodeURIComponent('STRASSE')}`,
      `q=${encodeURIComponent('istanbul')}`,
      `q=${encodeURIComponent('$5 (50%')}`,
      `q=${encodeURIComponent('RÉSUMÉ')}`,
      'q=%231',
      'q=no-such-text',
      `q=${encodeURIComponent('échec')}&level=ERROR,CRITICAL,WARNING`,
      `service=worker,api&user_id=user-1&from=${iso(e(10))}&received_from=${iso(r(20))}`,
    ];
  }

  test('the data reaches past the buffer and the text search has matches to compare', async () => {
    const all = await getJson(memory, '/api/logs?limit=1000');
    assert.equal(all.count, TOTAL);
    const oldestInBuffer = TOTAL - BUFFER + 1;
    const fromDb = await getJson(durable, `/api/logs?limit=1000`);
    assert.equal(fromDb.count, TOTAL);
    assert.ok(fromDb.logs.some((l: { id: number }) => l.id < oldestInBuffer), 'some logs come from the database tier');
    // As the memory tier treats it: 'ÉCHEC' and 'échec' find the same logs; 'echec' only the unaccented one.
    const upper = await getJson(memory, `/api/logs?limit=1000&q=${encodeURIComponent('ÉCHEC')}`);
    const lower = await getJson(memory, `/api/logs?limit=1000&q=${encodeURIComponent('échec')}`);
    assert.ok(upper.count > 10);
    assert.deepEqual(upper, lower);
    assert.ok((await getJson(memory, '/api/logs?limit=1000&q=echec')).logs.every((l: { message: string }) => l.message.startsWith('Echec')));
  });

  test('GET /api/logs: every filter, every page size, paging by next_before_id to the end, identical pages', async () => {
    let compared = 0;
    for (const query of queries()) {
      const everything = (await getJson(memory, `/api/logs?${query}${query ? '&' : ''}limit=1000`)).logs.map((l: { id: number }) => l.id);
      for (const limit of query === '' || query.startsWith('q=%C3') ? [1, 3, 49, 50, 51, 1000] : [3, 50, 1000]) {
        const ids = await pageBoth(query, limit);
        assert.deepEqual(ids, everything, `${query} limit=${limit}: paging covers every matching log once, newest first`);
        assert.equal(new Set(ids).size, ids.length);
        compared += ids.length;
      }
    }
    assert.ok(compared > 3000, `compared ${compared} logs`);
  });

  test('GET /api/logs with a before_id cursor anywhere: inside the buffer, at its edge, below it', async () => {
    for (const beforeId of [TOTAL, TOTAL - BUFFER + 2, TOTAL - BUFFER + 1, TOTAL - BUFFER, 200, 2, 1]) {
      for (const query of ['', 'level=ERROR', `q=${encodeURIComponent('ÉCHEC')}`]) {
        for (const limit of [1, 10, 1000]) {
          const url: string = `/api/logs?${query}${query ? '&' : ''}limit=${limit}&before_id=${beforeId}`;
          assert.deepEqual(await getJson(durable, url), await getJson(memory, url), url);
        }
      }
    }
  });

  test('GET /logs (compatibility API): offset and limit reaching past the buffer, with its filters', async () => {
    const sortedEvents = [...events].sort((a, b) => a - b);
    const filters = [
      '',
      'service=api',
      'severity=error,critical',
      `timestamp_start=${iso(sortedEvents[30]!)}&timestamp_end=${iso(sortedEvents[250]!)}`,
      `received_at_start=${iso(received[40]!)}&received_at_end=${iso(received[270]!)}`,
      'service=worker&severity=info',
    ];
    let beyond = 0;
    for (const filter of filters) {
      for (const offset of [0, 1, 10, 45, 49, 50, 51, 99, 120, 250, 299, 300, 400]) {
        for (const limit of [1, 5, 60, 1000]) {
          const url = `/logs?${filter}${filter ? '&' : ''}offset=${offset}&limit=${limit}`;
          const want = await getJson(memory, url, auth(ADMIN_TOKEN));
          const got = await getJson(durable, url, auth(ADMIN_TOKEN));
          assert.deepEqual(got, want, url);
          if (got.some((l: { id: number }) => l.id <= TOTAL - BUFFER)) beyond++;
        }
      }
    }
    assert.ok(beyond > 50, `${beyond} pages reached into the database tier`);
  });

  test('after a restart on the same file, the durable app still answers like the in-memory one', async () => {
    await durable.close();
    durable = (await buildTestApp({ storage: { max_logs: BUFFER, persistence: { enabled: true, path } } }, { now: clock.now })).app;
    for (const query of ['', 'level=ERROR,CRITICAL', `q=${encodeURIComponent('ÉCHEC')}`, 'user_id=user-2&service=api']) {
      for (const limit of [7, 1000]) {
        const ids = await pageBoth(query, limit);
        assert.ok(ids.length > 0 || query.includes('user_id'));
      }
    }
  });
});

describe('what the database tier gives back is what was accepted', () => {
  // A JSON string may carry a lone UTF-16 surrogate ("\ud800"). SQLite stores text as UTF-8
  // and would hand back U+FFFD instead, so such a log is rejected at the door rather than
  // accepted and silently changed; metadata is stored as escaped JSON and comes back intact.
  test('a lone surrogate in a text field is rejected naming the field; in metadata it reads back unchanged from both tiers', async () => {
    const clock = new ManualClock();
    const path = tempDb();
    const durable = (await buildTestApp({ storage: { max_logs: 1, persistence: { enabled: true, path } } }, { now: clock.now })).app;
    const memory = (await buildTestApp({}, { now: clock.now })).app;
    try {
      const odd = { timestamp: clock.iso(), level: 'INFO', service: 'api', message: 'half a pair: \ud800 here' };
      const oddMeta = { timestamp: clock.iso(), level: 'INFO', service: 'api', message: 'meta', metadata: { note: 'half \udc00 pair' } };
      const next = { timestamp: clock.iso(), level: 'INFO', service: 'api', message: 'pushes the first out of the buffer' };
      for (const app of [durable, memory]) {
        const res = await postJson(app, '/api/logs', [odd, oddMeta, next]);
        assert.equal(res.statusCode, 207, res.body);
        assert.deepEqual(res.json().rejected_items.map((r: { index: number }) => r.index), [0]);
        assert.match(res.json().rejected_items[0].errors[0], /'message' holds an unpaired UTF-16 surrogate/);
      }
      const want = await getJson(memory, '/api/logs');
      assert.deepEqual(want.logs.map((l: { message: string }) => l.message), [next.message, 'meta']);
      assert.equal(want.logs[1].metadata.note, 'half \udc00 pair');
      const got = await getJson(durable, '/api/logs');
      assert.deepEqual(got, want, 'both tiers give back the same logs');
    } finally {
      await durable.close();
      await memory.close();
    }
  });
});

