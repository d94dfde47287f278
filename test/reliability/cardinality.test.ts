import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { OTHER } from '../../server/core/key-cap.js';
import { ALL_SERVICES, RULES } from '../../server/core/alerting/types.js';
import { buildTestApp, log, postJson, type ManualClock } from '../helpers.js';

/**
 * A flood of distinct service names and user ids through HTTP: tracked keys stop at the caps,
 * the rest fold into `other` and are counted, and everything keyed by them (counters,
 * analytics, health, dashboard lists, alert state) stays bounded. The logs keep their names.
 */

const MAX_SERVICES = 5;
const MAX_USERS = 7;
/** Patterns per service key: each flood's messages are new shapes, so the caps are reached. */
const MAX_PATTERNS = 2;

describe('cardinality under a flood of names', () => {
  let app: FastifyInstance;
  let clock: ManualClock;
  before(async () => {
    ({ app, clock } = await buildTestApp({
      limits: { max_services: MAX_SERVICES, max_users: MAX_USERS },
      patterns: { max_per_service: MAX_PATTERNS },
      // Every service breaches error_rate and high_volume at once: as many alerts as there can be.
      alerting: { high_volume_threshold: 2, min_samples: 1, error_rate_threshold: 0.1, service_down_minutes: 2 },
    }));
  });
  after(() => app.close());

  async function getJson(url: string): Promise<any> {
    const res = await app.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
    return res.json();
  }

  /** 3 logs each for `services` new services, each log with a new user id. */
  async function flood(tag: string, services: number): Promise<void> {
    const logs = [];
    for (let s = 0; s < services; s++) {
      for (let k = 0; k < 3; k++) {
        logs.push(log({ service: `${tag}-svc-${s}`, level: 'ERROR', message: `${tag} ${s}.${k}`, user_id: `${tag}-user-${s}-${k}`, timestamp: clock.iso(-1000) }));
      }
    }
    const res = await postJson(app, '/api/logs', logs);
    assert.equal(res.statusCode, 201, res.body);
  }

  const allowed = (): Set<string> => new Set([...Array.from({ length: MAX_SERVICES }, (_, s) => `a-svc-${s}`), OTHER, ALL_SERVICES]);

  async function checkAlertsBounded(): Promise<void> {
    const { alerts, rules } = await getJson('/api/alerts');
    const keys = allowed();
    for (const a of alerts) assert.ok(keys.has(a.service), `alert for ${a.service}, which is not a tracked key`);
    // (rule, service) pairs: each rule per tracked service and `other`, plus error_rate over all services.
    assert.ok(alerts.length <= RULES.length * (MAX_SERVICES + 1) + 1, `${alerts.length} alerts`);
    const fired = Object.values(rules as Record<string, { fired: number }>).reduce((n, r) => n + r.fired, 0);
    assert.ok(fired <= RULES.length * (MAX_SERVICES + 1) + 1, `${fired} alerts fired`);
    // The engine's own state, evaluated or not: every per-service rule for each tracked service and
    // `other`, error_rate over all, and new_pattern for each pattern of theirs (mined ones and `<other>`).
    const perService = RULES.filter((r) => r !== 'new_pattern').length;
    assert.ok(app.core.alerts.trackedPairs >= perService * (MAX_SERVICES + 1) + 1, `${app.core.alerts.trackedPairs} pairs`);
    assert.ok(app.core.alerts.trackedPairs <= perService * (MAX_SERVICES + 1) + 1 + (MAX_SERVICES + 1) * (MAX_PATTERNS + 1), `${app.core.alerts.trackedPairs} pairs`);
  }

  test('3× the caps: tracked = cap, the rest counted as folded in /health and /api/stats', async () => {
    await flood('a', 3 * MAX_SERVICES);
    const health = await getJson('/health');
    assert.deepEqual(health.cardinality, {
      // The first five services are tracked; the other ten services' 30 logs were folded.
      services: { tracked: MAX_SERVICES, cap: MAX_SERVICES, folded: 30 },
      // 45 logs, each with a new user: 7 tracked, 38 folded.
      users: { tracked: MAX_USERS, cap: MAX_USERS, folded: 38 },
    });
    const stats = await getJson('/api/stats');
    assert.deepEqual(stats.cardinality, health.cardinality);
    assert.deepEqual(Object.keys(stats.logs_per_service).sort(), [...allowed()].filter((k) => k !== ALL_SERVICES).sort());
    assert.equal(stats.logs_per_service[OTHER], 30);
    assert.equal(Object.keys(stats.last_log_per_service).length, MAX_SERVICES + 1);
  });

  test('the dashboard lists stay bounded, with `other` in them', async () => {
    const data = await getJson('/api/advanced-dashboard-data?minutes=60');
    assert.equal(Object.keys(data.service_health).length, MAX_SERVICES + 1);
    assert.equal(data.service_health[OTHER].log_count, 30);
    assert.ok(data.most_active_services.length <= 10);
    assert.deepEqual(data.most_active_services[0], { service: OTHER, count: 30 });
    assert.ok(data.user_activity.length <= 10);
    assert.deepEqual(data.user_activity[0], { user_id: OTHER, count: 38 });
    assert.equal(data.summary.total_logs, 45);
  });

  test('alert state is keyed by the capped set: one alert per (rule, tracked service or other)', async () => {
    const { alerts } = await getJson('/api/alerts?status=firing');
    // error_rate and high_volume for 5 services and `other`, plus error_rate over all services.
    assert.equal(alerts.length, 2 * (MAX_SERVICES + 1) + 1);
    await checkAlertsBounded();
  });

  test('more floods add no tracked key and no alert; silence past service_down adds one rule per key, no more', async () => {
    await flood('b', 3 * MAX_SERVICES);
    await flood('c', 3 * MAX_SERVICES);
    const health = await getJson('/health');
    assert.equal(health.cardinality.services.tracked, MAX_SERVICES);
    assert.equal(health.cardinality.services.folded, 30 + 2 * 45);
    assert.equal(health.cardinality.users.tracked, MAX_USERS);
    assert.equal(health.cardinality.users.folded, 38 + 2 * 45);
    assert.equal((await getJson('/api/alerts?status=firing')).alerts.length, 2 * (MAX_SERVICES + 1) + 1);
    await checkAlertsBounded();

    clock.advance(3 * 60_000);
    app.core.alerts.checkAll();
    const firing = (await getJson('/api/alerts?status=firing')).alerts as { rule: string; service: string }[];
    assert.equal(firing.filter((a) => a.rule === 'service_down').length, MAX_SERVICES + 1);
    await checkAlertsBounded();
  });

  test('the logs themselves keep their real names and stay queryable', async () => {
    const page = await getJson('/api/logs?service=c-svc-14');
    assert.equal(page.count, 3);
    assert.deepEqual(new Set(page.logs.map((l: { service: string }) => l.service)), new Set(['c-svc-14']));
    assert.equal((await getJson('/api/logs?user_id=c-user-14-2')).count, 1);
  });
});
