import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { PatternView } from '../../server/api-types.js';
import { flushAlerts, log, waitFor } from '../helpers.js';
import { startReceiver, type Receiver } from '../alerting/receiver.js';
import { postgresUnavailable } from '../../scripts/postgres-server.js';
import { getJson, replicasOnPostgres, send } from './support.js';

/**
 * Message patterns on replicas sharing one PostgreSQL (each a whole app on the same database,
 * the same clock): one id per shape whichever replica meets it, counts summed over replicas,
 * ids and counts kept across a restart, one new_pattern notification for the cluster.
 */

const skip = postgresUnavailable();
if (skip) process.stdout.write(`# cluster pattern tests skipped: ${skip}\n`);


describe('message patterns on replicas of one PostgreSQL', { skip }, () => {
  const { replica, cluster } = replicasOnPostgres();

  /** The pattern ids of the logs `url` lists, by message. */
  async function patternIds(app: FastifyInstance, url: string): Promise<Map<string, number>> {
    const page = await getJson(app, url);
    return new Map(page.logs.map((l: { message: string; pattern_id: number }) => [l.message, l.pattern_id]));
  }

  async function patternsOf(app: FastifyInstance, query = ''): Promise<PatternView[]> {
    return (await getJson(app, `/api/patterns${query}`)).patterns;
  }

  test('one shape gets one id on every replica; every replica lists the summed counts and the logs of both', async () => {
    const { replicas, clock } = await cluster(3);
    const [a, b, c] = replicas as [FastifyInstance, FastifyInstance, FastifyInstance];
    await send(a, [
      log({ service: 'pay', message: 'payment 1041 declined for order 77', timestamp: clock.iso(-5000) }),
      log({ service: 'pay', level: 'ERROR', message: 'payment 1042 declined for order 78', timestamp: clock.iso(-4000) }),
      log({ service: 'pay', message: 'refund issued', timestamp: clock.iso(-4000) }),
    ]);
    await send(b, [
      log({ service: 'pay', level: 'ERROR', message: 'payment 2001 declined for order 90', timestamp: clock.iso(-3000) }),
      log({ service: 'pay', level: 'ERROR', message: 'payment 2002 declined for order 91', timestamp: clock.iso(-1000) }),
    ]);
    const ids = await patternIds(c, '/api/logs?limit=10');
    const declined = ids.get('payment 1041 declined for order 77')!;
    assert.ok(declined > 0);
    assert.deepEqual(
      ['payment 1042 declined for order 78', 'payment 2001 declined for order 90', 'payment 2002 declined for order 91'].map((m) => ids.get(m)),
      [declined, declined, declined],
      'the same id from replica a and replica b',
    );
    const refund = ids.get('refund issued')!;
    assert.ok(refund > 0 && refund !== declined);

    for (const app of replicas) await app.core.refreshShared();
    for (const app of [a, b, c]) {
      const listed = await patternsOf(app, '?service=pay');
      assert.deepEqual(
        listed.map((p) => [p.id, p.template, p.count, p.total, p.levels, p.sample]),
        [
          [declined, 'payment <*> declined for order <*>', 4, 4, { INFO: 1, ERROR: 3 }, 'payment 2002 declined for order 91'],
          [refund, 'refund issued', 1, 1, { INFO: 1 }, 'refund issued'],
        ],
        'exact sums over the replicas, the newest message as the sample',
      );
      const logs = (await getJson(app, `/api/logs?pattern=${declined}`)).logs.map((l: { message: string }) => l.message);
      assert.deepEqual(logs, ['payment 2002 declined for order 91', 'payment 2001 declined for order 90', 'payment 1042 declined for order 78', 'payment 1041 declined for order 77']);
      assert.deepEqual((await getJson(app, `/api/logs?pattern=${declined}&level=INFO`)).logs.length, 1);
    }
    // Counted again on the next refresh, not twice.
    await send(c, [log({ service: 'pay', level: 'ERROR', message: 'payment 3001 declined for order 5', timestamp: clock.iso() })]);
    for (const app of replicas) await app.core.refreshShared();
    for (const app of replicas) assert.deepEqual((await patternsOf(app, '?service=pay'))[0]!.levels, { INFO: 1, ERROR: 4 });
  });

  test('a restart keeps the ids and the counts; a replica learns the patterns another mined', async () => {
    const { replicas, clock, url } = await cluster(2);
    const [a, b] = replicas as [FastifyInstance, FastifyInstance];
    await send(a, [
      log({ service: 'db', message: 'lost connection to replica alpha now', timestamp: clock.iso(-3000) }),
      log({ service: 'db', message: 'lost connection to replica beta now', timestamp: clock.iso(-2000) }),
    ]);
    const id = (await patternIds(a, '/api/logs?service=db')).get('lost connection to replica alpha now')!;
    assert.equal((await patternIds(a, '/api/logs?service=db')).get('lost connection to replica beta now'), id, 'one pattern, its template generalised');
    await a.core.refreshShared();
    assert.equal((await patternsOf(a, '?service=db'))[0]?.template, 'lost connection to replica <*> now');

    await a.close();
    const again = await replica(url, 'a', clock);
    // A message of that shape the restarted replica never saw: a new pattern of its own, were the template not restored.
    await send(again, [log({ service: 'db', level: 'ERROR', message: 'lost connection to replica gamma now', timestamp: clock.iso(-1000) })]);
    // Replica b never met the shape: it learns it from the store at its next refresh.
    await b.core.refreshShared();
    await send(b, [log({ service: 'db', message: 'lost connection to replica delta now', timestamp: clock.iso() })]);
    const ids = await patternIds(b, '/api/logs?service=db');
    assert.deepEqual([...ids.values()], [id, id, id, id]);
    for (const app of [again, b]) await app.core.refreshShared();
    for (const app of [again, b]) {
      const [p] = await patternsOf(app, '?service=db');
      assert.deepEqual([p?.id, p?.total, p?.levels, p?.sample], [id, 4, { INFO: 3, ERROR: 1 }, 'lost connection to replica delta now']);
    }
    // Another restart counts on from there.
    await again.close();
    const third = await replica(url, 'a', clock);
    await third.core.refreshShared();
    assert.equal((await patternsOf(third, '?service=db'))[0]?.total, 4);
  });

  test('a new pattern of errors spread over the replicas is notified once; its samples hold a non-checking replica\'s logs', async () => {
    const rx: Receiver = await startReceiver((_req, res) => res.end());
    try {
      const alerting = {
        alerting: {
          // The new_pattern rule alone (on by default): the errors would break the error rate too.
          rules: { error_rate: false, high_volume: false, service_down: false, new_pattern: true },
          cooldown_seconds: 3600,
          handlers: { log: false, webhooks: [{ url: `${rx.url}/hook`, timeout_ms: 2000, max_retries: 0, backoff_ms: 5, queue_size: 100 }] },
        },
      };
      const { replicas, clock } = await cluster(3, alerting);
      // Patterns seen from the start: the first window is a warm-up, where every pattern is new.
      for (const app of replicas) await send(app, [log({ service: 'disk', message: 'volume check passed', timestamp: clock.iso() })]);
      const checked = await Promise.all(replicas.map((app) => app.core.checkShared()));
      assert.equal(checked.filter(Boolean).length, 1, 'one replica checks');
      const leader = replicas[checked.indexOf(true)]!;
      const others = replicas.filter((app) => app !== leader);
      // Past the window (5 minutes): a new shape (its variable parts masked, so every replica mines the same first template),
      // 2 errors on the checker and 2 on each other replica: 6, over the 5 the rule needs, but none has 5 alone.
      clock.advance(6 * 60_000);
      const full = (replica: number, i: number): string => `volume ${replica}${i} is full at 9${replica}${i} percent`;
      await send(leader, [0, 1].map((i) => log({ service: 'disk', level: 'ERROR', message: full(9, i), timestamp: clock.iso(-10_000 + i) })));
      for (const [n, app] of others.entries()) {
        await send(app, [0, 1].map((i) => log({ service: 'disk', level: 'ERROR', message: full(n, i), timestamp: clock.iso(-5000 + n * 10 + i) })));
      }
      for (let round = 0; round < 3; round++) assert.deepEqual(await Promise.all(replicas.map((app) => app.core.checkShared())), checked);
      await flushAlerts();
      await waitFor(() => rx.received.length >= 1, { timeoutMs: 5000, what: 'the notification' });
      await new Promise((r) => setTimeout(r, 100));
      const notified = rx.received.flatMap((r) => JSON.parse(r.body).alerts.map((x: { labels: { alertname: string; service: string }; status: string }) => `${x.status} ${x.labels.alertname} ${x.labels.service}`));
      assert.deepEqual(notified, ['firing new_pattern disk'], 'once for the cluster');

      const errors = await patternIds(others[0]!, '/api/logs?service=disk&level=ERROR');
      const id = errors.get(full(0, 0))!;
      assert.deepEqual([...new Set(errors.values())], [id], 'one pattern, whichever replica took the log');
      for (const app of replicas) {
        const [alert] = (await getJson(app, '/api/alerts')).alerts.filter((x: { rule: string }) => x.rule === 'new_pattern');
        assert.equal(alert.status, 'firing');
        assert.equal(alert.pattern_id, id, 'the pattern, as the store kept it');
        assert.equal(alert.value, 6, 'the errors of every replica');
        assert.match(alert.query, new RegExp(`pattern=${id}`));
        const samples = alert.samples.map((l: { message: string }) => l.message);
        assert.equal(samples.length, 5);
        assert.ok(
          [full(0, 0), full(0, 1), full(1, 0), full(1, 1)].every((m) => samples.includes(m)),
          `logs the non-checking replicas took: ${samples.join(' | ')}`,
        );
        assert.deepEqual(alert.top_patterns, [{ id, template: alert.top_patterns[0].template, count: 6 }]);
      }

      // The checker stops: the next takes over with the state it left, pattern included, and does not notify again.
      await leader.close();
      const next = await Promise.all(others.map((app) => app.core.checkShared()));
      assert.equal(next.filter(Boolean).length, 1);
      await flushAlerts();
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(rx.received.length, 1);
    } finally {
      await rx.close();
    }
  });
});
