import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../helpers.js';
import { startServerProcess, type ServerProcess } from '../server-process.js';
import { startReceiver, type Received } from './receiver.js';

/**
 * The real server, stopped and started again on its database file, with a real webhook
 * receiver: what run A paged is not paged again by run B, the replayed burst does not fire,
 * and the services silent across the restart are reported down only once run B has itself been
 * up for service_down_minutes, with their silence counted from their last log in run A.
 */

const dir = mkdtempSync(join(tmpdir(), 'logsentinel-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const DOWN_MS = 6_000; // service_down_minutes: 0.1

interface Firing {
  at: number;
  status: string;
  rule: string;
  service: string;
  startsAt: string;
  summary: string;
}

function firings(received: readonly Received[], at: number[]): Firing[] {
  return received.map((r, i) => {
    const payload = JSON.parse(r.body);
    const alert = payload.alerts[0];
    return { at: at[i]!, status: alert.status, rule: alert.labels.rule, service: alert.labels.service, startsAt: alert.startsAt, summary: alert.annotations.summary };
  });
}

/** One request: `n` logs of `level` from each service. */
async function send(server: ServerProcess, groups: [service: string, level: string, n: number][]): Promise<void> {
  const logs = groups.flatMap(([service, level, n]) => Array.from({ length: n }, (_, i) => ({ timestamp: new Date().toISOString(), level, service, message: `${service} ${i}` })));
  const res = await fetch(`${server.base}/api/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(logs) });
  assert.equal(res.status, 201, await res.text());
}

async function stop(server: ServerProcess): Promise<void> {
  server.child.kill('SIGTERM');
  assert.equal((await server.exited).code, 0, server.output());
}

test('a restarted process pages nothing it paged before, never the replayed burst, and down only after its own threshold', { timeout: 60_000 }, async () => {
  const arrivals: number[] = [];
  const receiver = await startReceiver((_req, res) => {
    arrivals.push(Date.now());
    res.writeHead(200).end();
  });
  const configPath = join(dir, 'config.yaml');
  writeFileSync(
    configPath,
    [
      'server:\n  host: 127.0.0.1\n  log_level: warn',
      `storage:\n  persistence:\n    enabled: true\n    path: ${JSON.stringify(join(dir, 'logs.db'))}`,
      'alerting:',
      '  error_rate_threshold: 0.5\n  min_samples: 5\n  cooldown_seconds: 3600\n  high_volume_threshold: 50',
      `  service_down_minutes: ${DOWN_MS / 60_000}\n  check_interval_seconds: 1`,
      `  handlers:\n    log: false\n    webhooks:\n      - url: ${receiver.url}/hook\n        backoff_ms: 10`,
      'simulation:\n  enabled: false',
    ].join('\n') + '\n',
  );
  try {
    // Run A: pay fails, burst bursts, quiet just speaks (all services together stay under the error threshold).
    const a = await startServerProcess(configPath);
    await send(a, [['pay', 'ERROR', 20], ['burst', 'INFO', 60], ['quiet', 'INFO', 5]]);
    const lastLogA = Date.now();
    const seenA = await waitFor(() => {
      const f = firings(receiver.received, arrivals);
      return f.some((x) => x.rule === 'error_rate' && x.service === 'pay') && f.some((x) => x.rule === 'high_volume' && x.service === 'burst') && f;
    }, { what: () => `run A's pages: ${JSON.stringify(firings(receiver.received, arrivals))}` });
    const alertsA = await (await fetch(`${a.base}/api/alerts?status=firing`)).json();
    await stop(a);
    assert.ok(Date.now() - lastLogA < DOWN_MS, 'run A stopped before anything could be down');
    assert.deepEqual(seenA.map((x) => `${x.status} ${x.rule} ${x.service}`).sort(), ['firing error_rate pay', 'firing high_volume burst']);

    // Away for longer than the down threshold: every service is silent for longer when B starts.
    await new Promise((r) => setTimeout(r, Math.max(0, lastLogA + DOWN_MS + 1_000 - Date.now())));
    const pagedA = receiver.received.length;
    const spawnB = Date.now();
    const b = await startServerProcess(configPath);
    try {
      const downs = await waitFor(() => {
        const f = firings(receiver.received.slice(pagedA), arrivals.slice(pagedA)).filter((x) => x.rule === 'service_down');
        return f.length === 3 && f;
      }, { timeoutMs: 20_000, what: () => `run B's pages: ${JSON.stringify(firings(receiver.received.slice(pagedA), arrivals.slice(pagedA)))}` });
      for (const d of downs) {
        assert.equal(d.status, 'firing');
        assert.ok(Date.parse(d.startsAt) >= spawnB + DOWN_MS, `${d.service} down at ${d.startsAt}, not before B was up ${DOWN_MS} ms (spawned ${new Date(spawnB).toISOString()})`);
        const lastSeen = Date.parse(/last seen (\S+)\)/.exec(d.summary)![1]!);
        assert.ok(lastSeen <= lastLogA && lastLogA - lastSeen < 5_000, `${d.service}: silence counted from its last log in run A: ${d.summary}`);
      }
      assert.deepEqual(downs.map((d) => d.service).sort(), ['burst', 'pay', 'quiet']);

      const pagedB = firings(receiver.received.slice(pagedA), arrivals.slice(pagedA));
      assert.deepEqual(pagedB.filter((x) => x.rule !== 'service_down'), [], 'nothing run A paged is paged again, the replayed burst included');
      const alertsB = await (await fetch(`${b.base}/api/alerts?status=firing`)).json();
      const pick = (list: any, rule: string, service: string) => list.alerts.find((x: any) => x.rule === rule && x.service === service);
      for (const [rule, service] of [['error_rate', 'pay'], ['high_volume', 'burst']] as const) {
        const before = pick(alertsA, rule, service);
        const now = pick(alertsB, rule, service);
        assert.ok(now, `${rule} ${service} still firing after the restart`);
        assert.equal(now.timestamp, before.timestamp, `${rule} ${service} started in run A`);
        assert.equal(now.last_notified, before.last_notified, `${rule} ${service} last notified in run A`);
      }
    } finally {
      await stop(b);
    }
  } finally {
    await receiver.close();
  }
});
