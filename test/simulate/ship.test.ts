import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../../server/core/simulator.js';
import { parseCli } from '../../server/simulate/options.js';
import { exitCode } from '../../server/simulate/report.js';
import { Simulation, type ShipOptions, type ShipSummary } from '../../server/simulate/shipper.js';
import { ADMIN_TOKEN } from '../helpers.js';
import {
  assertAccounting,
  assertRealistic,
  byService,
  finish,
  identity,
  services,
  shipOptions,
  startServer,
  storedCounts,
  storedLogs,
  track,
  waitFor,
  type LiveServer,
} from './support.js';

/** Simulated services shipping to the real server on loopback: what they count is what the server holds. */

function run(o: ShipOptions, seed = 1): Promise<ShipSummary> {
  return finish(track(new Simulation(o, { random: seededRandom(seed) })));
}

/** Per service, the server holds exactly the logs the summary says were accepted, each looking simulated. */
async function assertServerHolds(server: LiveServer, summary: ShipSummary, kinds: Record<string, string> = {}): Promise<void> {
  for (const s of summary.services) {
    const logs = await storedLogs(server.app, s.service);
    assert.equal(logs.length, s.accepted, `${s.service}: the server holds what was accepted`);
    assert.equal(new Set(logs.map(identity)).size, logs.length, `${s.service}: no log stored twice`);
    for (const l of logs) {
      assert.equal(l.service, s.service);
      assertRealistic(l, kinds[s.service] ?? s.service);
    }
  }
  const all = await storedLogs(server.app);
  assert.equal(all.length, summary.total.accepted, 'nothing else was stored');
}

describe('a count run against the real server', () => {
  for (const format of ['json', 'ndjson'] as const) {
    test(`${format}: every log accepted, counts add up, and the server holds exactly them with realistic fields`, async () => {
      const server = await startServer();
      const summary = await run(shipOptions(server.endpoint, { count: 100, format }));
      assertAccounting(summary);
      assert.equal(summary.format, format);
      assert.equal(summary.endpoint, server.endpoint);
      assert.equal(summary.aborted, false);
      assert.equal(exitCode(summary), 0);
      assert.deepEqual(
        summary.services.map((s) => s.service),
        ['auth-service', 'payment-service', 'notification-service', 'api-gateway', 'user-service'],
      );
      for (const s of summary.services) {
        assert.deepEqual(
          { generated: s.generated, sent: s.sent, accepted: s.accepted, rejected: s.rejected, retried: s.retried, dropped: s.dropped, state: s.state },
          { generated: 20, sent: 20, accepted: 20, rejected: 0, retried: 0, dropped: 0, state: 'done' },
          s.service,
        );
        assert.equal(s.last_error, undefined);
        assert.ok(s.rate > 0, 'an accepted rate is reported');
      }
      assert.equal(summary.total.accepted, 100);
      await assertServerHolds(server, summary);
      // Batches of 5: four requests per service, every one answered 201, in the format asked for.
      assert.equal(server.answers.length, 20);
      for (const a of server.answers) {
        assert.equal(a.status, 201);
        assert.equal(a.contentType, format === 'json' ? 'application/json' : 'application/x-ndjson');
        assert.equal(a.authorization, undefined, 'no token configured, none sent');
      }
      // The usual mix: mostly DEBUG/INFO/WARNING.
      const levels = (await storedLogs(server.app)).map((l) => l.level);
      assert.ok(levels.filter((l) => l === 'INFO').length > 30, `mostly INFO: ${levels.join(',')}`);
    });
  }

  test('a count that does not divide evenly is shared out, in partial batches', async () => {
    const server = await startServer();
    const summary = await run(shipOptions(server.endpoint, { count: 23, batch: 2 }));
    assertAccounting(summary);
    assert.deepEqual(summary.services.map((s) => s.accepted), [5, 5, 5, 4, 4]);
    assert.equal(exitCode(summary), 0);
    assert.deepEqual(await storedCounts(server.app), {
      'auth-service': 5,
      'payment-service': 5,
      'notification-service': 5,
      'api-gateway': 4,
      'user-service': 4,
    });
  });

  test('fewer logs than services: the last services make none and still finish', async () => {
    const server = await startServer();
    const summary = await run(shipOptions(server.endpoint, { count: 3 }));
    assertAccounting(summary);
    assert.deepEqual(summary.services.map((s) => s.generated), [1, 1, 1, 0, 0]);
    assert.ok(summary.services.every((s) => s.state === 'done'));
    assert.equal(exitCode(summary), 0);
  });

  test('errorRate 1: only ERROR and CRITICAL; errorRate 0: none', async () => {
    const server = await startServer();
    const summary = await run(shipOptions(server.endpoint, { count: 100, errorRate: 1 }));
    assertAccounting(summary);
    assert.equal(summary.total.accepted, 100);
    await assertServerHolds(server, summary);
    const levels = (await storedLogs(server.app)).map((l) => l.level);
    assert.equal(levels.length, 100);
    assert.deepEqual([...new Set(levels)].sort(), ['CRITICAL', 'ERROR']);

    const calm = await startServer();
    const quiet = await run(shipOptions(calm.endpoint, { count: 100, errorRate: 0 }), 2);
    assert.equal(quiet.total.accepted, 100);
    const calmLevels = new Set((await storedLogs(calm.app)).map((l) => l.level));
    assert.ok(!calmLevels.has('ERROR') && !calmLevels.has('CRITICAL'), [...calmLevels].join(','));
  });

  test('services named on the command line speak like the type their name suggests', async () => {
    const server = await startServer();
    const o = parseCli(['--no-config', '--url', server.base, '--services', 'payment,billing,auth-service-2', '--count', '30', '--rate', '1000', '--batch', '5', '--seed', '7'], {});
    const summary = await finish(track(new Simulation(o.ship, { random: seededRandom(o.seed!) })));
    assertAccounting(summary);
    assert.equal(exitCode(summary), 0);
    await assertServerHolds(server, summary, { payment: 'payment-service', billing: 'api-gateway', 'auth-service-2': 'auth-service' });
    assert.deepEqual(await storedCounts(server.app), { payment: 10, billing: 10, 'auth-service-2': 10 });
  });
});

describe('pace', () => {
  // 100 logs/s in batches of 5: a batch is due every 50 ms, the first at once; in 600 ms batches
  // 0..11 are due (60 logs), or 55 if the last timer fires after the end.
  test('a duration run makes rate x duration logs per service', async () => {
    const server = await startServer();
    const t0 = Date.now();
    const summary = await run(shipOptions(server.endpoint, { count: undefined, durationMs: 600, rate: 100, services: services(2) }));
    assert.ok(Date.now() - t0 >= 600, 'the run lasts the duration');
    assertAccounting(summary);
    for (const s of summary.services) {
      assert.ok(s.generated >= 50 && s.generated <= 60, `${s.service}: ${s.generated} logs in 600 ms at 100/s`);
      assert.equal(s.generated % 5, 0, 'whole batches');
      assert.equal(s.accepted, s.generated);
    }
    assert.equal(exitCode(summary), 0);
  });

  test('a stalled event loop does not slow the rate: late batches are caught up', async () => {
    const server = await startServer();
    const sim = track(new Simulation(shipOptions(server.endpoint, { count: undefined, durationMs: 600, rate: 100, services: services(1) }), { random: seededRandom(3) }));
    await waitFor('the first batch is accepted', () => sim.snapshot()[0]!.accepted > 0);
    // Hold the event loop (no timer can fire) for 300 ms: six batches fall due meanwhile.
    const until = Date.now() + 300;
    while (Date.now() < until) {
      // busy on purpose
    }
    const summary = await finish(sim);
    const s = summary.services[0]!;
    assert.ok(s.generated >= 50 && s.generated <= 60, `${s.generated} logs in 600 ms at 100/s despite a 300 ms stall`);
    assert.equal(s.accepted, s.generated);
  });
});

describe('very slow paces', () => {
  // 3000 logs every 3e9 ms (about 35 days): the first batch at once, the next past what a
  // Node.js timer can hold, which must not turn into a 1 ms timer firing (and warning) over and over.
  test('a batch interval longer than a timer can hold: no timer overflow, no busy ticking', async () => {
    const overflows: string[] = [];
    const onWarning = (w: Error): void => {
      if (w.name === 'TimeoutOverflowWarning') overflows.push(w.message);
    };
    process.on('warning', onWarning);
    try {
      const server = await startServer();
      const sim = track(new Simulation(shipOptions(server.endpoint, { count: undefined, batch: 3000, rate: 0.001, queueSize: 3000, services: services(1) }), { random: seededRandom(5) }));
      // The first tick schedules the next one at once; a warning about it comes on the next tick,
      // long before the batch has been delivered.
      await waitFor('the first batch is accepted', () => sim.snapshot()[0]!.accepted === 3000);
      sim.stop();
      const summary = await finish(sim);
      assert.equal(summary.total.generated, 3000);
      assert.equal(summary.total.accepted, 3000);
      assert.deepEqual(overflows.slice(0, 3), [], `${overflows.length} timer overflow warnings`);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('tokens against a server that refuses anonymous ingest', () => {
  const TOKENS: Record<string, string> = {
    'auth-service': 'sim-auth-service-token-0001',
    'payment-service': 'sim-payment-service-token-01',
    'notification-service': 'sim-notification-token-0001',
    'api-gateway': 'sim-api-gateway-token-000001',
    'user-service': 'sim-user-service-token-00001',
  };
  const locked = {
    auth: {
      anonymous_scopes: [],
      tokens: [
        { name: 'admin', token: ADMIN_TOKEN, scopes: ['ingest', 'read', 'admin'] },
        ...Object.entries(TOKENS).map(([service, token]) => ({ token, service, scopes: ['ingest'] })),
      ],
    },
  };
  const bearer = (t: string): string => `Bearer ${t}`;

  test('each service sends its own token and everything is accepted', async () => {
    const server = await startServer(locked);
    const summary = await run(shipOptions(server.endpoint, { count: 100, services: services(5, TOKENS) }));
    assertAccounting(summary);
    assert.equal(summary.total.accepted, 100);
    assert.equal(exitCode(summary), 0);
    await assertServerHolds(server, summary);
    assert.equal(server.answers.length, 20);
    for (const [service, token] of Object.entries(TOKENS)) {
      const mine = server.answers.filter((a) => a.authorization === bearer(token));
      assert.equal(mine.length, 4, `${service}: four requests with its token`);
      assert.ok(mine.every((a) => a.status === 201));
    }
  });

  test('no token: 401, and the service stops after one request', async () => {
    const server = await startServer(locked);
    const summary = await run(shipOptions(server.endpoint, { count: 100, services: services(2, { 'auth-service': TOKENS['auth-service']! }) }));
    assertAccounting(summary);
    const pay = byService(summary)['payment-service']!;
    assert.equal(pay.state, 'stopped');
    assert.match(pay.last_error ?? '', /^HTTP 401: Who are you\?/);
    assert.equal(server.answers.filter((a) => a.authorization === undefined).length, 1);
    assert.equal(byService(summary)['auth-service']!.accepted, 50);
  });

  test('a wrong token: 401, that service stops after exactly one request, the rest is dropped, the others go on', async (t) => {
    const server = await startServer(locked);
    const wrong = 'not-a-token-the-server-knows';
    const summary = await run(shipOptions(server.endpoint, { count: 2000, rate: 1000, services: services(5, { ...TOKENS, 'notification-service': wrong }) }));
    assertAccounting(summary);
    const victim = byService(summary)['notification-service']!;
    assert.equal(victim.state, 'stopped');
    assert.match(victim.last_error ?? '', /^HTTP 401: /);
    assert.match(victim.last_error ?? '', /not one the server knows/);
    const tried = server.answers.filter((a) => a.authorization === bearer(wrong));
    assert.deepEqual(tried.map((a) => a.status), [401], 'exactly one request reached the server');
    assert.equal(victim.accepted, 0);
    assert.equal(victim.rejected, 5, 'the one refused batch');
    assert.equal(victim.retried, 0);
    assert.equal(victim.dropped, victim.generated - 5, 'whatever else it had made is dropped');
    assert.equal(victim.dropped_at_exit, victim.dropped);
    assert.ok(victim.generated < 400, 'it stopped generating');
    t.diagnostic(`the stopped service made ${victim.generated} logs: 5 rejected, ${victim.dropped} dropped`);
    for (const s of summary.services.filter((s) => s.service !== 'notification-service')) {
      assert.equal(s.accepted, 400, s.service);
      assert.equal(s.state, 'done', s.service);
      assert.equal(s.last_error, undefined, s.service);
    }
    assert.equal(exitCode(summary), 1);
    assert.equal(summary.aborted, false);
    await assertServerHolds(server, summary);
  });

  test('a token bound to another service: 403, handled the same way', async () => {
    const server = await startServer(locked);
    // api-gateway ships with user-service's token (user-service is not in this run).
    const summary = await run(
      shipOptions(server.endpoint, {
        count: 1600,
        rate: 1000,
        services: services(4, { ...TOKENS, 'api-gateway': TOKENS['user-service']! }),
      }),
    );
    assertAccounting(summary);
    const victim = byService(summary)['api-gateway']!;
    assert.equal(victim.state, 'stopped');
    assert.match(victim.last_error ?? '', /^HTTP 403: /);
    assert.match(victim.last_error ?? '', /may only ship logs for service 'user-service'/);
    assert.deepEqual(server.answers.filter((a) => a.authorization === bearer(TOKENS['user-service']!)).map((a) => a.status), [403]);
    assert.equal(victim.accepted, 0);
    assert.equal(victim.rejected, 5);
    assert.equal(victim.dropped, victim.generated - 5);
    assert.ok(victim.generated < 400, 'it stopped generating');
    for (const s of summary.services.filter((s) => s.service !== 'api-gateway')) {
      assert.equal(s.accepted, 400, s.service);
      assert.equal(s.state, 'done', s.service);
    }
    assert.equal(exitCode(summary), 1);
    await assertServerHolds(server, summary);
  });
});

describe('partial acceptance', () => {
  test('207: what the server kept is accepted, the rest rejected, and the server holds exactly the accepted', async () => {
    const server = await startServer({ limits: { max_message_length: 36 } });
    const summary = await run(shipOptions(server.endpoint, { count: 300 }));
    assertAccounting(summary);
    const statuses = server.answers.map((a) => a.status);
    assert.ok(statuses.includes(207), `some batches were partly accepted: ${statuses.join(',')}`);
    assert.ok(statuses.every((s) => s === 201 || s === 207 || s === 400), statuses.join(','));
    assert.ok(summary.total.rejected > 0 && summary.total.accepted > 0, JSON.stringify(summary.total));
    assert.equal(summary.total.retried, 0, 'rejections are not retried');
    assert.equal(summary.total.dropped, 0);
    assert.equal(summary.total.sent, 300);
    for (const s of summary.services) {
      const logs = await storedLogs(server.app, s.service);
      assert.equal(logs.length, s.accepted, `${s.service}: server holds the accepted`);
      assert.ok(logs.every((l) => l.message.length <= 36));
      assert.equal(s.state, 'done');
      if (s.rejected > 0) assert.match(s.last_error ?? '', /^HTTP (207: \d+ of 5 rejected|400)/, s.service);
    }
    const validation = (await server.app.inject({ method: 'GET', url: '/api/validation-stats' })).json();
    assert.equal(validation.valid, summary.total.accepted);
    assert.equal(validation.invalid, summary.total.rejected);
    assert.equal(exitCode(summary), 1);
  });
});
