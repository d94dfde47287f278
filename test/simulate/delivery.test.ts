import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { seededRandom } from '../../server/core/simulator.js';
import { exitCode } from '../../server/simulate/report.js';
import { Simulation, type ShipOptions, type ShipSummary } from '../../server/simulate/shipper.js';
import {
  assertAccounting,
  assertRealistic,
  finish,
  freePort,
  identity,
  logsIn,
  reply,
  scriptedServer,
  services,
  shipOptions,
  startServer,
  storedLogs,
  tempDir,
  track,
  waitFor,
} from './support.js';

/** Delivery when the server is down, busy, slow or restarting, and stopping a run by hand. */

function start(o: ShipOptions, seed = 1): Simulation {
  return track(new Simulation(o, { random: seededRandom(seed) }));
}

function run(o: ShipOptions, seed = 1): Promise<ShipSummary> {
  return finish(start(o, seed));
}

describe('the server cannot be reached', () => {
  test('refused connection: no throw, retries, then everything counted dropped at exit', async () => {
    const port = await freePort();
    const summary = await run(
      shipOptions(`http://127.0.0.1:${port}/api/logs`, { count: 20, services: services(2), backoffMs: 10, backoffMaxMs: 40, flushTimeoutMs: 300 }),
    );
    assertAccounting(summary);
    assert.equal(summary.aborted, true);
    assert.equal(exitCode(summary), 1);
    for (const s of summary.services) {
      assert.equal(s.generated, 10, s.service);
      assert.equal(s.accepted, 0);
      assert.equal(s.sent, 0);
      assert.ok(s.retried > 0, `${s.service} retried`);
      assert.equal(s.dropped_at_exit, 10);
      assert.equal(s.dropped_queue_full, 0);
      assert.match(s.last_error ?? '', /ECONNREFUSED/);
    }
  });

  test('the queue is bounded: queued never exceeds --queue, the overflow is counted', async () => {
    const port = await freePort();
    const sim = start(
      shipOptions(`http://127.0.0.1:${port}/api/logs`, {
        count: undefined,
        durationMs: 500,
        rate: 400,
        queueSize: 20,
        services: services(2),
        backoffMs: 10,
        backoffMaxMs: 40,
        flushTimeoutMs: 100,
      }),
    );
    let finished = false;
    void sim.done.then(() => (finished = true));
    let most = 0;
    let snapshots = 0;
    const deadline = Date.now() + 20_000;
    while (!finished && Date.now() < deadline) {
      for (const s of sim.snapshot()) {
        assert.ok(s.queued <= 20, `${s.service}: ${s.queued} queued with a queue of 20`);
        assert.equal(s.dropped, s.dropped_queue_full + s.dropped_at_exit);
        most = Math.max(most, s.queued);
      }
      snapshots++;
      await new Promise((r) => setTimeout(r, 2));
    }
    const summary = await finish(sim);
    assert.ok(snapshots > 20, `${snapshots} snapshots taken while it ran`);
    assert.equal(most, 20, 'the queue was seen full');
    assertAccounting(summary);
    for (const s of summary.services) {
      assert.ok(s.generated >= 150, `${s.service}: ${s.generated} generated`);
      assert.ok(s.dropped_queue_full > 0, `${s.service}: overflow counted`);
      // At the end: the full queue plus the batch that was being retried.
      assert.ok(s.dropped_at_exit > 0 && s.dropped_at_exit <= 20 + 5, `${s.service}: ${s.dropped_at_exit} dropped at exit`);
      assert.equal(s.dropped, s.generated);
    }
    assert.equal(exitCode(summary), 1);
  });

  test('past the queue the oldest logs are dropped: the freshest are delivered when the server answers again', async () => {
    const server = await startServer();
    server.gate.close();
    const sim = start(
      shipOptions(server.endpoint, { count: undefined, durationMs: 400, rate: 250, queueSize: 20, services: services(1) }),
    );
    // The first batch waits at the server while 400 ms of logs pile up behind it.
    await waitFor('generation has ended', () => sim.stopping);
    const before = sim.snapshot()[0]!;
    assert.equal(before.queued, 20);
    assert.ok(before.dropped_queue_full > 0);
    server.gate.open();
    const summary = await finish(sim);
    assertAccounting(summary);
    const s = summary.services[0]!;
    assert.equal(s.accepted, 25, 'the first batch and a full queue');
    assert.equal(s.dropped_queue_full, s.generated - 25);
    assert.equal(s.dropped_at_exit, 0);
    const times = (await storedLogs(server.app)).map((l) => Date.parse(l.timestamp)).sort((a, b) => a - b);
    assert.equal(times.length, 25);
    const first = times[0]!;
    const kept = times.slice(5);
    // Generation ran for 400 ms; what was kept was made in its last part, not just after the first batch.
    assert.ok(kept[0]! - first >= 200, `the oldest kept log is ${kept[0]! - first} ms after the first batch`);
  });
});

describe('busy or slow server: retries', () => {
  const one = (endpoint: string, over: Partial<ShipOptions> = {}): ShipOptions =>
    shipOptions(endpoint, { count: 5, services: services(1), backoffMs: 10, backoffMaxMs: 40, ...over });

  test('503s and a 429 with Retry-After: 1 are retried until accepted; the 429 is waited out', async () => {
    const script = await scriptedServer((k, _req, res) => {
      if (k < 2) reply(res, 503, { error: 'busy' });
      else if (k === 2) reply(res, 429, { error: 'slow down' }, { 'retry-after': '1' });
      else reply(res, 201, { status: 'accepted', accepted: 5, rejected: 0, rejected_items: [] });
    });
    const summary = await run(one(script.endpoint));
    assertAccounting(summary);
    const s = summary.services[0]!;
    assert.equal(script.requests.length, 4);
    assert.equal(s.retried, 3, 'one retry per refusal');
    assert.equal(s.accepted, 5);
    assert.equal(s.dropped, 0);
    assert.equal(s.state, 'done');
    assert.match(s.last_error ?? '', /^HTTP 429: slow down$/);
    assert.equal(exitCode(summary), 0);
    // The same batch each time.
    assert.ok(script.requests.every((r) => r.body === script.requests[0]!.body));
    const waited = script.requests[3]!.at - script.answeredAt[2]!;
    assert.ok(waited >= 950, `retried ${waited} ms after the 429's Retry-After: 1`);
  });

  test('abort() during a long Retry-After wait: it ends at once, and retried counts only requests really sent again', async () => {
    const script = await scriptedServer((k, _req, res) => reply(res, 503, { error: `busy ${k}` }, k === 2 ? { 'retry-after': '30' } : {}));
    const sim = start(one(script.endpoint));
    // The third refusal asks for 30 s: once the service has seen it, it is waiting.
    await waitFor('the third refusal has been seen', () => sim.snapshot()[0]!.last_error === 'HTTP 503: busy 2');
    const t0 = Date.now();
    sim.abort();
    const summary = await finish(sim);
    assert.ok(Date.now() - t0 < 1000, `ended ${Date.now() - t0} ms after abort()`);
    assertAccounting(summary);
    const s = summary.services[0]!;
    assert.equal(script.requests.length, 3);
    assert.equal(s.retried, 2, 'two requests were sent again; the wait cut short is not a retry');
    assert.equal(s.dropped_at_exit, 5);
    assert.equal(summary.aborted, true);
  });

  test('Retry-After as an HTTP date is honoured too', async () => {
    let until = 0;
    const script = await scriptedServer((k, _req, res) => {
      if (k === 0) {
        // Whole seconds only: at least one second from now.
        until = Math.ceil((Date.now() + 1500) / 1000) * 1000;
        reply(res, 503, { error: 'restarting' }, { 'retry-after': new Date(until).toUTCString() });
      } else reply(res, 201, {});
    });
    const summary = await run(one(script.endpoint));
    assert.equal(summary.services[0]!.accepted, 5);
    assert.equal(summary.services[0]!.retried, 1);
    assert.ok(script.requests[1]!.at >= until - 20, `retried ${until - script.requests[1]!.at} ms before the Retry-After date`);
  });

  test('408, 425, 500, 502 and 504 are retried', async () => {
    const statuses = [408, 425, 500, 502, 504];
    const script = await scriptedServer((k, _req, res) => reply(res, statuses[k] ?? 201, k < statuses.length ? { error: `nope ${k}` } : {}));
    const summary = await run(one(script.endpoint));
    assertAccounting(summary);
    assert.equal(script.requests.length, 6);
    assert.equal(summary.services[0]!.retried, 5);
    assert.equal(summary.services[0]!.accepted, 5);
    assert.equal(exitCode(summary), 0);
  });

  test('400, 404 and 413 count as rejected and are neither retried nor fatal', async () => {
    const statuses = [400, 404, 413];
    const script = await scriptedServer((k, _req, res) => reply(res, statuses[k] ?? 201, k < statuses.length ? { error: `bad ${k}` } : {}));
    const summary = await run(one(script.endpoint, { count: 20 }));
    assertAccounting(summary);
    const s = summary.services[0]!;
    assert.equal(script.requests.length, 4, 'one request per batch');
    assert.equal(new Set(script.requests.map((r) => r.body)).size, 4, 'no batch sent twice');
    assert.deepEqual({ rejected: s.rejected, accepted: s.accepted, retried: s.retried, dropped: s.dropped, state: s.state }, {
      rejected: 15,
      accepted: 5,
      retried: 0,
      dropped: 0,
      state: 'done',
    });
    assert.equal(s.last_error, 'HTTP 413: bad 2');
    assert.equal(exitCode(summary), 1);
  });

  test('a request that gets no answer in time is retried', async () => {
    const script = await scriptedServer((k, _req, res) => {
      if (k > 0) reply(res, 201, {});
      // The first request is never answered.
    });
    const summary = await run(one(script.endpoint, { timeoutMs: 200 }));
    assertAccounting(summary);
    const s = summary.services[0]!;
    assert.equal(s.accepted, 5);
    assert.equal(s.retried, 1);
    assert.equal(s.last_error, 'timed out');
    // The retry left at least timeoutMs after the first request did; the first one's arrival here may
    // lag its departure on a loaded machine, hence the slack. (A message of its own, too: without one
    // a failing assert.ok re-parses this file to make one, which takes minutes on transformed code.)
    const gap = script.requests[1]!.at - script.requests[0]!.at;
    assert.ok(gap >= 150, `the retry came ${gap} ms after the first request, before its 200 ms timeout`);
  });

  // Backoff 100 ms doubling to at most 400 ms, with equal jitter: waits of [50,100], [100,200],
  // then [200,400] each time.
  test('backoff doubles per attempt up to the maximum', async () => {
    const refusals = 5;
    const script = await scriptedServer((k, _req, res) => reply(res, k < refusals ? 503 : 201, {}));
    const summary = await run(one(script.endpoint, { backoffMs: 100, backoffMaxMs: 400 }));
    assert.equal(summary.services[0]!.retried, refusals);
    const waits = Array.from({ length: refusals }, (_, k) => script.requests[k + 1]!.at - script.answeredAt[k]!);
    const least = [50, 100, 200, 200, 200];
    waits.forEach((w, k) => assert.ok(w >= least[k]! - 5, `wait ${k}: ${w} ms, at least ${least[k]} expected (${waits.join(', ')})`));
    // Capped: with no cap the last waits would be 400..800 and 800..1600 ms.
    assert.ok(waits[4]! < 780, `the last wait is capped near 400 ms: ${waits.join(', ')}`);
  });

  test('the request carries the format and the service token', async () => {
    const script = await scriptedServer((_k, _req, res) => reply(res, 201, {}));
    await run(shipOptions(script.endpoint, { count: 10, format: 'ndjson', services: services(2, { 'auth-service': 'a-token-for-auth-0000001' }) }));
    assert.equal(script.requests.length, 2);
    const auth = script.requests.find((r) => r.body.includes('"auth-service"'))!;
    const pay = script.requests.find((r) => r.body.includes('"payment-service"'))!;
    assert.equal(auth.headers.authorization, 'Bearer a-token-for-auth-0000001');
    assert.equal(pay.headers.authorization, undefined);
    for (const r of [auth, pay]) {
      assert.equal(r.headers['content-type'], 'application/x-ndjson');
      assert.equal(logsIn(r), 5);
      assert.ok(r.body.endsWith('\n'));
    }
  });
});

describe('the server restarts in the middle of a run', () => {
  test('graceful close, same port, same database: everything accepted once, nothing lost or duplicated', { timeout: 60_000 }, async (t) => {
    const storage = { storage: { persistence: { enabled: true, path: join(tempDir(), 'logs.db') } } };
    const first = await startServer(storage);
    const port = first.port;
    // 400 logs: 80 per service in batches of 5, one every 100 ms: about 1.6 s.
    const sim = start(shipOptions(first.endpoint, { count: 400, rate: 50, timeoutMs: 5000, backoffMs: 20, backoffMaxMs: 100 }));
    await waitFor('some logs are accepted', () => sim.snapshot().reduce((n, s) => n + s.accepted, 0) >= 60);
    const closing = Date.now();
    await first.close();
    const atClose = sim.snapshot();
    t.diagnostic(`closed in ${Date.now() - closing} ms with ${atClose.reduce((n, s) => n + s.accepted, 0)} accepted`);
    await waitFor('every service is retrying', () => sim.snapshot().every((s) => s.retried > 0), 5000);
    assert.ok(atClose.every((s) => s.generated < 80), 'every service was still generating when the server went');
    const second = await startServer(storage, port);
    const summary = await finish(sim);
    assertAccounting(summary);
    assert.equal(summary.total.accepted, 400);
    assert.equal(summary.total.dropped, 0);
    assert.equal(summary.total.rejected, 0);
    assert.equal(exitCode(summary), 0);
    for (const s of summary.services) {
      assert.ok(s.retried > 0, s.service);
      assert.equal(s.state, 'done');
      const logs = await storedLogs(second.app, s.service);
      assert.equal(new Set(logs.map(identity)).size, logs.length, `${s.service}: no log stored twice`);
      assert.equal(logs.length, s.accepted, `${s.service}: the restarted server holds exactly the accepted logs`);
      for (const l of logs) assertRealistic(l, s.service);
    }
    assert.equal((await storedLogs(second.app)).length, 400);
  });
});

describe('stop() and abort()', () => {
  /** A long run with its next requests held at the server and logs queued behind them. */
  async function heldRun(over: Partial<ShipOptions> = {}) {
    const server = await startServer();
    const sim = start(shipOptions(server.endpoint, { count: undefined, durationMs: 60_000, rate: 200, services: services(2), ...over }));
    await waitFor('both services have logs accepted', () => sim.snapshot().every((s) => s.accepted >= 10));
    server.gate.close();
    await waitFor('a request from each service is held', () => server.gate.held === 2);
    await waitFor('logs queue up behind them', () => sim.snapshot().every((s) => s.queued >= 10));
    return { server, sim };
  }

  test('stop(): generation ends at once, queued logs and the held requests are still delivered', async () => {
    const { server, sim } = await heldRun();
    sim.stop();
    assert.equal(sim.stopping, true);
    const atStop = sim.snapshot();
    server.gate.open();
    const t0 = Date.now();
    const summary = await finish(sim);
    assert.ok(Date.now() - t0 < 5000);
    assertAccounting(summary);
    assert.equal(summary.aborted, false);
    assert.equal(exitCode(summary), 0);
    for (const [i, s] of summary.services.entries()) {
      assert.equal(s.generated, atStop[i]!.generated, `${s.service}: nothing generated after stop()`);
      assert.equal(s.accepted, s.generated, `${s.service}: the queue was flushed`);
      assert.equal(s.dropped, 0);
      assert.equal(s.state, 'done');
      assert.equal((await storedLogs(server.app, s.service)).length, s.accepted);
    }
  });

  test('stop() with a server that never answers: the flush timeout gives up and counts what is left', async () => {
    const { sim } = await heldRun({ flushTimeoutMs: 300 });
    sim.stop();
    const atStop = sim.snapshot();
    const t0 = Date.now();
    const summary = await finish(sim);
    const took = Date.now() - t0;
    assert.ok(took >= 290 && took < 3000, `gave up after ${took} ms with a 300 ms flush timeout`);
    assertAccounting(summary);
    assert.equal(summary.aborted, true);
    assert.equal(exitCode(summary), 1);
    for (const [i, s] of summary.services.entries()) {
      assert.equal(s.generated, atStop[i]!.generated);
      // The held batch and the queue behind it.
      assert.equal(s.dropped_at_exit, s.generated - s.accepted);
      assert.ok(s.dropped_at_exit >= atStop[i]!.queued + 1, `${s.service}: ${s.dropped_at_exit} dropped at exit`);
    }
  });

  test('abort(): gives up at once, the undelivered (queued and in flight) are counted dropped', async () => {
    const { sim } = await heldRun();
    const atAbort = sim.snapshot();
    const t0 = Date.now();
    sim.abort();
    assert.equal(sim.stopping, true);
    const summary = await finish(sim);
    assert.ok(Date.now() - t0 < 1000, `aborted in ${Date.now() - t0} ms`);
    assertAccounting(summary);
    assert.equal(summary.aborted, true);
    assert.equal(exitCode(summary), 1);
    for (const [i, s] of summary.services.entries()) {
      assert.equal(s.generated, atAbort[i]!.generated, 'nothing generated after abort()');
      assert.equal(s.accepted, atAbort[i]!.accepted);
      assert.equal(s.dropped_at_exit, s.generated - s.accepted - s.rejected);
      assert.ok(s.dropped_at_exit >= atAbort[i]!.queued + 1, `${s.service}: ${s.dropped_at_exit} dropped; ${atAbort[i]!.queued} were queued`);
    }
    // Stopping after an abort changes nothing.
    sim.stop();
    assert.deepEqual(sim.snapshot().map((s) => s.dropped), summary.services.map((s) => s.dropped));
  });
});
