import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { ADMIN_TOKEN, auth, flushAlerts, log, postJson, waitFor } from '../helpers.js';
import { startReceiver, type Receiver } from '../alerting/receiver.js';
import { postgresUnavailable } from '../../scripts/postgres-server.js';
import { getJson, replicasOnPostgres, send } from './support.js';
import { SseClient } from '../sse-client.js';

/**
 * Replicas sharing one PostgreSQL, in one process (each a whole app on the same database, the
 * same clock): one store, one set of figures, one notification per alert.
 */

const skip = postgresUnavailable();
if (skip) process.stdout.write(`# cluster tests skipped: ${skip}\n`);

describe('replicas on one PostgreSQL', { skip }, () => {
  const { replica, cluster } = replicasOnPostgres();

  test('logs ingested through A and B are listed by C, with ids unique across replicas', async () => {
    const { replicas, clock } = await cluster(3);
    const [a, b, c] = replicas as [FastifyInstance, FastifyInstance, FastifyInstance];
    await send(a, [log({ message: 'from a 1', timestamp: clock.iso(-3000) }), log({ message: 'from a 2', timestamp: clock.iso(-1000) })]);
    await send(b, [log({ message: 'from b', timestamp: clock.iso(-2000), service: 'billing', level: 'ERROR' })]);
    const page = await getJson(c, '/api/logs?limit=10');
    assert.deepEqual(
      page.logs.map((l: { message: string }) => l.message),
      ['from a 2', 'from b', 'from a 1'],
      'newest event time first, whoever took them',
    );
    const ids = page.logs.map((l: { id: number }) => l.id);
    assert.equal(new Set(ids).size, 3);
    assert.deepEqual((await getJson(c, '/api/logs?service=billing&level=ERROR')).logs.map((l: { message: string }) => l.message), ['from b']);
    assert.equal((await getJson(c, '/logs?limit=10')).length, 3, 'the compatibility API too');
    // Paging from C over logs of A and B.
    const first = await getJson(c, '/api/logs?limit=2');
    const second = await getJson(c, `/api/logs?limit=2&cursor=${first.next_cursor}`);
    assert.deepEqual(second.logs.map((l: { message: string }) => l.message), ['from a 1']);
    const byId = await getJson(c, `/api/logs?limit=2&before_id=${first.next_before_id}`);
    assert.deepEqual(byId.logs.map((l: { message: string }) => l.message), ['from a 1']);
  });

  test('minute totals, all-time counts and validation outcomes are the same exact sums on every replica', async () => {
    const { replicas, clock } = await cluster(3);
    const sent = [0, 0, 0];
    for (let round = 0; round < 4; round++) {
      for (let r = 0; r < 3; r++) {
        const n = 1 + ((round * 3 + r) % 5);
        const logs = Array.from({ length: n }, (_, i) => log({ timestamp: clock.iso(-i * 1000), level: i % 2 ? 'ERROR' : 'INFO', service: `svc-${r}`, user_id: `u${i % 3}` }));
        await send(replicas[r]!, logs);
        sent[r]! += n;
      }
    }
    const bad = await postJson(replicas[1]!, '/api/logs', [{ level: 'INFO' }]);
    assert.equal(bad.statusCode, 400);
    const total = sent.reduce((x, y) => x + y, 0);
    // Each replica writes its own runtime counters when it refreshes: after one round, every replica reads all of them.
    for (const app of replicas) await app.core.refreshShared();
    const views = [];
    for (const app of replicas) {
      await app.core.refreshShared();
      views.push({
        stats: await getJson(app, '/api/stats'),
        series: await getJson(app, '/api/time-series?minutes=5'),
        validation: await getJson(app, '/api/validation-stats'),
        // Less the list of replicas, where each marks itself.
        dashboard: { ...(await getJson(app, '/api/advanced-dashboard-data?minutes=5')), replicas: undefined },
      });
    }
    for (const v of views) {
      assert.equal(v.stats.total_logs, total);
      assert.equal(v.series.reduce((s: number, p: { total: number }) => s + p.total, 0), total);
      assert.equal(v.dashboard.summary.total_logs, total);
      assert.deepEqual(
        v.dashboard.most_active_services.map((s: { service: string; count: number }) => [s.service, s.count]).sort(),
        [
          ['svc-0', sent[0]],
          ['svc-1', sent[1]],
          ['svc-2', sent[2]],
        ],
      );
      assert.equal(v.validation.total, total + 1);
      assert.equal(v.validation.invalid, 1);
    }
    assert.deepEqual(views[0], views[2], 'every replica shows the same figures');
    // A restarted replica counts on from where it was: nothing counted twice, nothing lost.
    await replicas[0]!.close();
    const again = await replica((replicas[0]!.config.storage.postgres as { url: string }).url, 'a', clock);
    await send(again, [log({ timestamp: clock.iso() })]);
    await again.core.refreshShared();
    assert.equal((await getJson(again, '/api/stats')).total_logs, total + 1);
    assert.equal((await getJson(again, '/api/validation-stats')).total, total + 2);
  });

  test('a burst spread over the replicas notifies one receiver once per (rule, service); silences hold cluster-wide; the checker hands over', async () => {
    const rx: Receiver = await startReceiver((_req, res) => res.end());
    try {
      const alerting = {
        alerting: {
          error_rate_threshold: 0.3,
          min_samples: 5,
          high_volume_threshold: 1_000_000,
          cooldown_seconds: 300,
          handlers: { log: false, webhooks: [{ url: `${rx.url}/hook`, timeout_ms: 2000, max_retries: 0, backoff_ms: 5, queue_size: 100 }] },
        },
      };
      const { replicas, clock } = await cluster(3, alerting);
      const [a, b, c] = replicas as [FastifyInstance, FastifyInstance, FastifyInstance];
      for (const app of replicas) {
        await send(app, Array.from({ length: 4 }, (_, i) => log({ service: 'pay', level: 'ERROR', timestamp: clock.iso(-i * 1000), message: `boom ${i}` })));
        await send(app, [log({ service: 'search', level: 'ERROR', timestamp: clock.iso() }), log({ service: 'search', timestamp: clock.iso() })]);
      }
      // Every replica checks, all at once, three times over.
      const checked: boolean[] = [];
      for (let round = 0; round < 3; round++) checked.push(...(await Promise.all(replicas.map((app) => app.core.checkShared()))));
      assert.equal(checked.filter(Boolean).length, 3, 'one replica checks each round');
      await flushAlerts();
      await waitFor(() => rx.received.length >= 3, { timeoutMs: 5000, what: "two notifications" });
      await new Promise((r) => setTimeout(r, 100));
      const firing = rx.received.flatMap((r) => JSON.parse(r.body).alerts.map((x: { labels: { alertname: string; service: string }; status: string }) => `${x.status} ${x.labels.alertname} ${x.labels.service}`));
      // Each service's rule, and the rule over all services together ('*').
      assert.deepEqual(firing.sort(), ['firing error_rate *', 'firing error_rate pay', 'firing error_rate search']);
      // Every replica lists the same active alerts.
      for (const app of replicas) {
        await app.core.checkShared();
        const alerts = (await getJson(app, '/api/alerts')).alerts.filter((x: { status: string }) => x.status === 'firing');
        assert.deepEqual(alerts.map((x: { service: string }) => x.service).sort(), ['*', 'pay', 'search']);
      }
      // A silence set through a replica that does not check is honoured by the one that does.
      const leader = [a, b, c].find((_app, i) => checked[i])!;
      const follower = [a, b, c].find((app) => app !== leader)!;
      const pay = (await getJson(follower, '/api/alerts')).alerts.find((x: { service: string }) => x.service === 'pay');
      const silenced = await postJson(follower, `/api/alerts/${pay.fingerprint}/silence`, { duration: '1h' }, auth(ADMIN_TOKEN));
      assert.equal(silenced.statusCode, 200, silenced.body);
      // Past the cooldown, pay would notify again but is silenced; search notifies again.
      clock.advance(301_000);
      // Of the shape pay sent before: a new one would be a new_pattern alert of its own, which the silence does not cover.
      for (const app of replicas) await send(app, Array.from({ length: 5 }, (_, i) => log({ service: 'pay', level: 'ERROR', timestamp: clock.iso(), message: `boom ${i}` })));
      for (const app of replicas) await send(app, Array.from({ length: 5 }, () => log({ service: 'search', level: 'ERROR', timestamp: clock.iso() })));
      const before = rx.received.length;
      await Promise.all(replicas.map((app) => app.core.checkShared()));
      await flushAlerts();
      await waitFor(() => rx.received.length >= before + 2, { timeoutMs: 5000, what: "the next notification" });
      await new Promise((r) => setTimeout(r, 100));
      const later = rx.received.slice(before).flatMap((r) => JSON.parse(r.body).alerts.map((x: { labels: { service: string }; status: string }) => `${x.status} ${x.labels.service}`));
      assert.deepEqual(later.sort(), ['firing *', 'firing search']);
      // The checking replica stops: another takes over at its next check.
      await leader.close();
      const rest = replicas.filter((app) => app !== leader);
      const next = await Promise.all(rest.map((app) => app.core.checkShared()));
      assert.equal(next.filter(Boolean).length, 1, 'one of the others checks at once');
    } finally {
      await rx.close();
    }
  });

  test("a live tail on C shows what A and B accept, after a backlog of every replica's logs", async () => {
    const { replicas, clock } = await cluster(3);
    const [a, b, c] = replicas as [FastifyInstance, FastifyInstance, FastifyInstance];
    await send(a, [log({ message: 'old from a', timestamp: clock.iso(-2000) })]);
    await send(b, [log({ message: 'old from b', timestamp: clock.iso(-1000) })]);
    const base = await c.listen({ host: '127.0.0.1', port: 0 });
    const tail = await SseClient.open(base, '/api/logs/tail?limit=5');
    try {
      await tail.waitForLogs(2);
      assert.deepEqual(tail.logs.map((l) => l.message), ['old from a', 'old from b'], 'the backlog, oldest first');
      await send(a, [log({ message: 'live from a' })]);
      await send(b, [log({ message: 'live from b', service: 'billing' })]);
      await send(c, [log({ message: 'live from c' })]);
      await tail.waitForLogs(5);
      assert.deepEqual(tail.logs.slice(2).map((l) => l.message).sort(), ['live from a', 'live from b', 'live from c']);
      assert.ok(tail.events.some((e) => e.event === 'ready'));
      assert.equal(new Set(tail.ids).size, 5, 'no log twice');
    } finally {
      tail.close();
    }
    const filtered = await SseClient.open(base, '/api/logs/tail?service=billing');
    try {
      await send(a, [log({ message: 'not billing' }), log({ message: 'billing from a', service: 'billing' })]);
      await filtered.waitForLogs(1);
      assert.deepEqual(filtered.logs.map((l) => l.message), ['billing from a'], "the tail's filter applies to other replicas' logs");
    } finally {
      filtered.close();
    }
  });

  test('the dashboard lists the replicas that said they are up', async () => {
    const { replicas } = await cluster(2);
    await replicas[0]!.core.refreshShared();
    await replicas[1]!.core.refreshShared();
    await replicas[0]!.core.refreshShared();
    assert.deepEqual(
      replicas[0]!.core.replicas?.map((r) => r.replica),
      ['a', 'b'],
    );
    const dashboard = await getJson(replicas[0]!, '/api/advanced-dashboard-data');
    assert.deepEqual(
      dashboard.replicas.map((r: { replica: string; self: boolean }) => [r.replica, r.self]),
      [
        ['a', true],
        ['b', false],
      ],
    );
    const health = await replicas[1]!.inject({ method: 'GET', url: '/health' });
    assert.equal(health.statusCode, 200);
    assert.deepEqual(health.json().storage, { engine: 'postgres', replica: 'b', status: 'ok' });
    await replicas[1]!.core.checkShared();
    const metrics = (await replicas[1]!.inject({ method: 'GET', url: '/metrics', headers: auth(ADMIN_TOKEN) })).body;
    assert.match(metrics, /^logsentinel_shared_refreshes_total\{outcome="ok"\} [1-9]/m);
    assert.match(metrics, /^logsentinel_alert_checker 1$/m);
    assert.match(metrics, /^logsentinel_replicas_up 2$/m);
    assert.match(metrics, /^logsentinel_db_commit_duration_seconds_count /m);
  });
});
