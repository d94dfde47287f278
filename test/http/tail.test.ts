import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import type { LogView } from '../../server/core/log.js';
import { API_HEADERS } from '../../server/http/security-headers.js';
import { ADMIN_TOKEN, INGEST_TOKEN, READER_TOKEN, auth, buildTestApp, log, postJson } from '../helpers.js';
import { SseClient, until } from '../sse-client.js';

/**
 * GET /api/logs/tail against a real listening server, read with node's http client: an SSE
 * answer never ends by itself, so app.inject() only suits the refusals.
 */

interface Server {
  app: FastifyInstance;
  url: string;
}

const servers: FastifyInstance[] = [];
after(async () => {
  await Promise.all(servers.map((a) => a.close()));
});

async function listen(overrides: Record<string, unknown> = {}): Promise<Server> {
  const { app } = await buildTestApp(overrides);
  servers.push(app);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url };
}

async function ingest(app: FastifyInstance, logs: Record<string, unknown>[]): Promise<void> {
  const res = await postJson(app, '/api/logs', logs);
  assert.equal(res.statusCode, 201, res.body);
}

const messages = (c: SseClient): string[] => c.logs.map((l) => l.message);

describe('GET /api/logs/tail refusals (app.inject)', () => {
  test('limit out of range, before_id, an unknown parameter and a bad filter are 400s naming the parameter', async () => {
    const { app } = await buildTestApp();
    servers.push(app);
    for (const [url, name] of [
      ['/api/logs/tail?before_id=10', 'before_id'],
      ['/api/logs/tail?limit=1001', 'limit'],
      ['/api/logs/tail?limit=-1', 'limit'],
      ['/api/logs/tail?level=LOUD', 'level'],
      ['/api/logs/tail?from=yesterday', 'from'],
      ['/api/logs/tail?offset=5', 'offset'],
    ] as const) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode, 400, url);
      const body = res.json() as { error: string; code: string };
      assert.equal(body.code, 'INVALID_QUERY');
      assert.ok(body.error.includes(`'${name}'`), body.error);
    }
    const before = (await app.inject({ url: '/api/logs/tail?before_id=10' })).json() as { error: string };
    assert.match(before.error, /Last-Event-ID/);
    const bad = await app.inject({ url: '/api/logs/tail', headers: { 'last-event-id': 'abc' } });
    assert.equal(bad.statusCode, 400);
    assert.equal((bad.json() as { code: string }).code, 'INVALID_LAST_EVENT_ID');
    assert.equal(app.core.tail.stats().active, 0, 'a refused tail never opens');
  });

  test('read scope: 401 without a token when anonymous read is off, 403 for an ingest-only token', async () => {
    const { app } = await buildTestApp({ auth: { anonymous_scopes: [] } });
    servers.push(app);
    assert.equal((await app.inject({ url: '/api/logs/tail' })).statusCode, 401);
    const ingestOnly = await app.inject({ url: '/api/logs/tail', headers: auth(INGEST_TOKEN) });
    assert.equal(ingestOnly.statusCode, 403);
    assert.match((ingestOnly.json() as { error: string }).error, /'read'/);
  });

  test('tail.max_clients 0: 404 saying tailing is off', async () => {
    const { app } = await buildTestApp({ tail: { max_clients: 0 } });
    servers.push(app);
    const res = await app.inject({ url: '/api/logs/tail', headers: auth(READER_TOKEN) });
    assert.equal(res.statusCode, 404);
    const body = res.json() as { error: string; code: string };
    assert.equal(body.code, 'TAIL_DISABLED');
    assert.match(body.error, /tail\.max_clients/);
  });

  test('HEAD answers the headers a tail would get and ends', async () => {
    const { app } = await buildTestApp();
    servers.push(app);
    const res = await app.inject({ method: 'HEAD', url: '/api/logs/tail?level=ERROR' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(res.body, '');
    assert.equal(app.core.tail.stats().opened, 0);
  });
});

describe('GET /api/logs/tail on a real server', () => {
  test('streams new logs in order with their ids, as GET /api/logs shows them, with the SSE and security headers', async () => {
    const { app, url } = await listen();
    await ingest(app, [log({ message: 'before the tail' })]);
    const tail = await SseClient.open(url, '/api/logs/tail', auth(READER_TOKEN));
    assert.equal(tail.status, 200);
    assert.equal(tail.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(tail.headers['cache-control'], 'no-cache');
    assert.equal(tail.headers['x-accel-buffering'], 'no');
    for (const [name, value] of Object.entries(API_HEADERS)) assert.equal(tail.headers[name], value, name);

    await ingest(app, [log({ message: 'one' }), log({ message: 'two', level: 'ERROR', user_id: 'u1', metadata: { k: 1 } })]);
    await ingest(app, [log({ message: 'three' })]);
    await tail.waitForLogs(3);
    assert.deepEqual(messages(tail), ['one', 'two', 'three'], 'only logs accepted after the tail opened');
    assert.deepEqual(tail.ids, [2, 3, 4]);
    assert.deepEqual(
      tail.events.map((e) => e.event),
      ['ready', 'log', 'log', 'log'],
    );
    assert.deepEqual(tail.events[0], { event: 'ready', data: '{"backlog":0}' }, 'a fresh tail without limit has no backlog');
    const page = (await app.inject({ url: '/api/logs?limit=3' })).json() as { logs: LogView[] };
    assert.deepEqual(tail.logs, page.logs.reverse(), 'the same JSON view as GET /api/logs');
    tail.close();
  });

  test('the filters of GET /api/logs apply', async () => {
    const { app, url } = await listen();
    const errors = await SseClient.open(url, '/api/logs/tail?level=error,critical&service=payment-service');
    const search = await SseClient.open(url, '/api/logs/tail?q=TIME%20out&user_id=u7');
    await ingest(app, [
      log({ service: 'payment-service', level: 'ERROR', message: 'card declined' }),
      log({ service: 'auth-service', level: 'ERROR', message: 'bad password' }),
      log({ service: 'payment-service', level: 'INFO', message: 'paid' }),
      log({ service: 'payment-service', level: 'CRITICAL', message: 'gateway time out', user_id: 'u7' }),
      log({ service: 'auth-service', message: 'session time out', user_id: 'u8' }),
    ]);
    await errors.waitForLogs(2);
    await search.waitForLogs(1);
    await ingest(app, [log({ message: 'marker' })]);
    assert.deepEqual(messages(errors), ['card declined', 'gateway time out']);
    assert.deepEqual(messages(search), ['gateway time out']);
    errors.close();
    search.close();
  });

  test('limit sends the newest matching logs first; Last-Event-ID resumes with no gap and no duplicate', async () => {
    const { app, url } = await listen();
    await ingest(app, Array.from({ length: 10 }, (_, i) => log({ message: `old ${i + 1}`, level: i % 2 ? 'ERROR' : 'INFO' })));
    const first = await SseClient.open(url, '/api/logs/tail?limit=3&level=ERROR');
    await first.waitForLogs(3);
    assert.deepEqual(first.ids, [6, 8, 10]);
    await until('the end of the backlog', () => first.events.some((e) => e.event === 'ready'));
    assert.deepEqual(first.events[3], { event: 'ready', data: '{"backlog":3}' });
    await ingest(app, [log({ message: 'live 11', level: 'ERROR' }), log({ message: 'live 12' })]);
    await first.waitForLogs(4);
    first.close();
    await until('the closed tail to be forgotten', () => app.core.tail.stats().active === 0);

    // Missed while disconnected: 13-16, two of them matching.
    await ingest(app, [log({ message: 'missed 13', level: 'ERROR' }), log({ message: 'missed 14' })]);
    await ingest(app, [log({ message: 'missed 15' }), log({ message: 'missed 16', level: 'ERROR' })]);
    const lastId = first.events.at(-1)!.id!;
    const resumed = await SseClient.open(url, '/api/logs/tail?limit=3&level=ERROR', { 'last-event-id': lastId });
    await resumed.waitForLogs(2);
    await ingest(app, [log({ message: 'live 17', level: 'ERROR' })]);
    await resumed.waitForLogs(3);
    assert.deepEqual(resumed.ids, [13, 16, 17], 'every match after the last id, then live; limit is not used on a resume');
    assert.deepEqual(
      resumed.events.map((e) => e.event),
      ['log', 'log', 'ready', 'log'],
    );
    const all = [...first.ids, ...resumed.ids];
    assert.deepEqual(all, [6, 8, 10, 11, 13, 16, 17]);
    resumed.close();
  });

  test('max_clients: past it a new tail is 429 with Retry-After; a client that disconnects frees its slot at once', async () => {
    const { app, url } = await listen({ tail: { max_clients: 2 } });
    const a = await SseClient.open(url, '/api/logs/tail');
    const b = await SseClient.open(url, '/api/logs/tail');
    const refused = await SseClient.open(url, '/api/logs/tail');
    assert.equal(refused.status, 429);
    assert.equal(refused.headers['retry-after'], '10');
    await until('the refusal body', () => refused.ended);
    const inject = await app.inject({ url: '/api/logs/tail' });
    assert.equal(inject.statusCode, 429);
    const body = inject.json() as { error: string; code: string };
    assert.equal(body.code, 'TAIL_LIMIT');
    assert.match(body.error, /2 live tails are open.*tail\.max_clients/);
    assert.equal(app.core.tail.stats().refused, 2);
    assert.match((await app.inject({ url: '/metrics' })).body, /^logsentinel_tail_refused_total 2$/m);

    a.close();
    await until('the slot to free', () => app.core.tail.stats().active === 1);
    const c = await SseClient.open(url, '/api/logs/tail');
    assert.equal(c.status, 200);
    await ingest(app, [log({ message: 'to both' })]);
    await b.waitForLogs(1);
    await c.waitForLogs(1);
    b.close();
    c.close();
  });

  test('a client that does not read is dropped with a final event, removed from the count, and the rest stay gap-free', async () => {
    const { app, url } = await listen({ tail: { max_pending_events: 5 }, storage: { max_logs: 2000 } });
    const slow = await SseClient.open(url, '/api/logs/tail', auth(ADMIN_TOKEN));
    const fast = await SseClient.open(url, '/api/logs/tail?level=ERROR');
    slow.res.pause();
    // Large messages fill the loopback socket buffers within a few MB.
    const big = 'x'.repeat(8000);
    let batches = 0;
    while (app.core.tail.stats().dropped === 0) {
      assert.ok(++batches <= 60, 'dropped within 60 batches of 200 large logs');
      await ingest(app, Array.from({ length: 200 }, (_, i) => log({ message: `${batches}.${i} ${big}` })));
    }
    assert.equal(app.core.tail.stats().active, 1, 'the slow tail is gone at once, the other stays');
    await ingest(app, [log({ level: 'ERROR', message: 'after the drop' })]);
    await fast.waitForLogs(1);
    assert.deepEqual(messages(fast), ['after the drop'], 'the other tail is not held back');

    slow.res.resume();
    await until('the dropped tail to end', () => slow.ended);
    const dropped = slow.final('dropped');
    assert.ok(dropped, 'a final dropped event');
    assert.match(String(dropped.reason), /read too slowly.*tail\.max_pending_events.*Last-Event-ID/);
    assert.ok(Number(dropped.pending) > 5);
    const ids = slow.ids;
    assert.ok(ids.length > 0);
    assert.equal(dropped.last_id, ids.at(-1), 'last_id is the last event the client got');
    assert.deepEqual(ids, Array.from({ length: ids.length }, (_, i) => i + 1), 'everything up to it, in order');
    assert.equal(slow.events.at(-1)!.event, 'dropped');
    // GET /metrics tells an operator the same.
    const metrics = (await app.inject({ url: '/metrics' })).body;
    assert.match(metrics, /^logsentinel_tail_clients 1$/m);
    assert.match(metrics, /^logsentinel_tail_dropped_total 1$/m);
    fast.close();
  });

  test('heartbeats: a ping comment while idle', async () => {
    const { url } = await listen({ tail: { heartbeat_seconds: 1 } });
    const tail = await SseClient.open(url, '/api/logs/tail');
    await until('a ping', () => tail.comments.length >= 1, 5000);
    assert.deepEqual(tail.comments, [': ping']);
    assert.deepEqual(
      tail.events.map((e) => e.event),
      ['ready'],
    );
    tail.close();
  });

  test('app.close() ends open tails at once with a closing event', async () => {
    const { app } = await buildTestApp({ tail: { heartbeat_seconds: 3600 } });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const a = await SseClient.open(url, '/api/logs/tail');
    const b = await SseClient.open(url, '/api/logs/tail?service=nobody');
    await ingest(app, [log({ message: 'last one' })]);
    await a.waitForLogs(1);
    const started = Date.now();
    await app.close();
    const took = Date.now() - started;
    assert.ok(took < 1000, `closed in ${took} ms`);
    await until('both tails to end', () => a.ended && b.ended);
    assert.deepEqual(a.final('closing'), { reason: 'the server is shutting down; reconnect with Last-Event-ID to resume', last_id: 1 });
    assert.deepEqual(b.final('closing')?.last_id, null);
    assert.equal(app.core.tail.stats().active, 0);
  });
});
