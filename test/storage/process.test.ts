import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../helpers.js';
import { startServerProcess, type ServerProcess } from '../server-process.js';

/**
 * The real server as a child process on a real database file: a SIGKILL mid-stream loses no
 * acknowledged log, and a SIGTERM after a burst exits 0 with everything acknowledged on disk.
 */

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'logsentinel-'));
  dirs.push(dir);
  return dir;
}


function writeConfig(dir: string, dbPath: string, persistence: Record<string, unknown> = {}): string {
  const path = join(dir, 'config.yaml');
  const extra = Object.entries(persistence)
    .map(([k, v]) => `    ${k}: ${JSON.stringify(v)}\n`)
    .join('');
  writeFileSync(
    path,
    'server:\n  host: 127.0.0.1\n  log_level: warn\n' +
      `storage:\n  max_logs: 100\n  persistence:\n    enabled: true\n    path: ${JSON.stringify(dbPath)}\n${extra}` +
      'alerting:\n  handlers:\n    log: false\nsimulation:\n  enabled: false\n',
  );
  return path;
}


async function stopServer(server: ServerProcess): Promise<void> {
  server.child.kill('SIGTERM');
  const { code } = await server.exited;
  assert.equal(code, 0, server.output());
}

async function getJson(url: string): Promise<any> {
  const res = await fetch(url);
  const text = await res.text();
  assert.equal(res.status, 200, `${url}: ${text}`);
  return JSON.parse(text);
}

/** Every stored message, paging GET /api/logs by next_before_id over both tiers. */
async function storedMessages(base: string): Promise<string[]> {
  const out: string[] = [];
  let cursor: number | null = null;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = await getJson(`${base}/api/logs?limit=1000${cursor === null ? '' : `&before_id=${cursor}`}`);
    out.push(...page.logs.map((l: { message: string }) => l.message));
    cursor = page.next_before_id;
    if (cursor === null) return out;
  }
  throw new Error('paging did not end');
}

/** One request's logs: a single object or a small batch, each log with a unique message. */
function body(tag: string, seq: number): { payload: unknown; messages: string[] } {
  const size = seq % 3 === 0 ? 1 : 2 + (seq % 4);
  const logs = Array.from({ length: size }, (_, k) => ({
    timestamp: new Date().toISOString(),
    level: ['INFO', 'WARNING', 'ERROR'][(seq + k) % 3],
    service: `svc-${seq % 5}`,
    message: `${tag}-${seq}-${k}`,
    metadata: { seq, k },
  }));
  return { payload: size === 1 ? logs[0] : logs, messages: logs.map((l) => l.message) };
}

interface Stream {
  acked: Set<string>;
  inFlight: () => number;
  /** Statuses other than 201, and network errors, seen before `stop()`. */
  problems: string[];
  stop: () => void;
  done: Promise<void>;
}

/** `loops` concurrent ingest loops against `base`, each sending one request after another until stopped or `maxPerLoop`. */
function ingestStream(base: string, loops: number, maxPerLoop = Infinity, tag = 'loop'): Stream {
  const acked = new Set<string>();
  const problems: string[] = [];
  let inFlight = 0;
  let stopped = false;
  const loop = async (n: number): Promise<void> => {
    for (let seq = 0; seq < maxPerLoop && !stopped; seq++) {
      const { payload, messages } = body(`${tag}${n}`, seq);
      inFlight++;
      try {
        const res = await fetch(`${base}/api/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });
        const text = await res.text();
        if (res.status === 201) for (const m of messages) acked.add(m);
        else if (!stopped) problems.push(`${res.status} ${text}`);
      } catch (e) {
        if (!stopped) problems.push(String((e as Error).cause ?? e));
        if (stopped) return;
      } finally {
        inFlight--;
      }
    }
  };
  const done = Promise.all(Array.from({ length: loops }, (_, n) => loop(n))).then(() => undefined);
  return { acked, inFlight: () => inFlight, problems, stop: () => (stopped = true), done };
}

describe('the server process on a real database file', () => {
  // Three crashes on one file: with the shipped 2 ms commit interval and with longer ones, so
  // commit groups are often still waiting when the process dies.
  test('SIGKILL mid-stream: every acknowledged log is there after a restart', { timeout: 120_000 }, async (t) => {
    const dir = tempDir();
    const dbPath = join(dir, 'logs.db');
    const acked = new Set<string>();
    for (const [round, interval] of [2, 20, 5].entries()) {
      const server = await startServerProcess(writeConfig(dir, dbPath, { commit_interval_ms: interval }));
      if (round > 0) {
        const stored = new Set(await storedMessages(server.base));
        const lost = [...acked].filter((m) => !stored.has(m));
        assert.deepEqual(lost, [], `round ${round}: ${lost.length} of ${acked.size} acknowledged logs lost`);
      }
      const stream = ingestStream(server.base, 8, Infinity, `r${round}-loop`);
      // Should a wait below fail, the loops still stop (the process is killed when the file ends).
      t.after(() => stream.stop());
      await waitFor(() => stream.acked.size >= 300, {
        timeoutMs: 20_000,
        intervalMs: 5,
        what: () => `round ${round}: 300 logs acknowledged (have ${stream.acked.size}; problems: ${stream.problems.slice(0, 3).join('; ')})`,
      });
      // Kill while requests are on the wire (eight loops keep some in flight nearly always). A
      // spin on setImmediate, not a timed poll: the kill must land in the very turn one is in flight.
      const deadline = Date.now() + 5_000;
      while (stream.inFlight() === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
      const inFlightAtKill = stream.inFlight();
      const ackedBeforeKill = stream.acked.size;
      stream.stop();
      server.child.kill('SIGKILL');
      const exit = await server.exited;
      await stream.done;
      assert.equal(exit.signal, 'SIGKILL');
      assert.deepEqual(stream.problems, [], 'every request before the kill was answered 201');
      assert.ok(ackedBeforeKill >= 300, `round ${round}: only ${ackedBeforeKill} logs acknowledged in time`);
      assert.ok(inFlightAtKill > 0, 'requests were in flight when the process was killed');
      t.diagnostic(`round ${round} (commit_interval_ms ${interval}): ${stream.acked.size} acknowledged, ${inFlightAtKill} requests in flight at the kill`);
      for (const m of stream.acked) acked.add(m);
    }

    const last = await startServerProcess(writeConfig(dir, dbPath));
    try {
      const stored = await storedMessages(last.base);
      const storedSet = new Set(stored);
      assert.equal(storedSet.size, stored.length, 'no log stored twice');
      const lost = [...acked].filter((m) => !storedSet.has(m));
      t.diagnostic(`${acked.size} acknowledged in all, ${stored.length} stored`);
      assert.deepEqual(lost, [], `${lost.length} of ${acked.size} acknowledged logs lost`);
      // Rows and counters commit in the same transaction: they agree after the crashes.
      const stats = await getJson(`${last.base}/api/stats`);
      assert.equal(stats.total_logs, stored.length);
      // Ids go on after the largest stored one.
      const newest = (await getJson(`${last.base}/api/logs?limit=1`)).logs[0];
      const res = await fetch(`${last.base}/api/logs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ timestamp: new Date().toISOString(), level: 'INFO', service: 'after', message: 'after the crash' }),
      });
      assert.equal(res.status, 201);
      const next = (await getJson(`${last.base}/api/logs?limit=1`)).logs[0];
      assert.equal(next.message, 'after the crash');
      assert.ok(next.id > newest.id);
    } finally {
      await stopServer(last);
    }
  });

  test('SIGTERM right after a burst: exit code 0, every acknowledged log there after a restart', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const dbPath = join(dir, 'logs.db');
    const config = writeConfig(dir, dbPath, { commit_interval_ms: 20 });
    const first = await startServerProcess(config);
    const burst = ingestStream(first.base, 10, 15);
    await burst.done;
    assert.deepEqual(burst.problems, []);
    assert.ok(burst.acked.size >= 300, `${burst.acked.size} acknowledged`);
    const t0 = Date.now();
    first.child.kill('SIGTERM');
    const exit = await first.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, first.output());
    assert.ok(Date.now() - t0 < 5000, `shutdown took ${Date.now() - t0} ms`);

    const second = await startServerProcess(config);
    try {
      const stored = new Set(await storedMessages(second.base));
      const lost = [...burst.acked].filter((m) => !stored.has(m));
      assert.deepEqual(lost, [], `${lost.length} of ${burst.acked.size} acknowledged logs lost`);
      assert.equal(stored.size, burst.acked.size, 'nothing else was stored');
      assert.equal((await getJson(`${second.base}/api/stats`)).total_logs, stored.size);
    } finally {
      await stopServer(second);
    }
  });

  // close-with-grace gives app.close() 10 s, then exits 1 ("killed by timeout"). A client that
  // keeps its connection alive (any HTTP/1.1 client pool, a load balancer) while its request is
  // in flight at SIGTERM must not hold the shutdown up until then.
  test('SIGTERM while ingests are in flight: they are answered and stored, and the process still exits 0 promptly', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const dbPath = join(dir, 'logs.db');
    // A long commit interval: at SIGTERM, the requests are waiting for their commit group.
    const config = writeConfig(dir, dbPath, { commit_interval_ms: 300 });
    const first = await startServerProcess(config);
    const tail = ingestStream(first.base, 10, 1);
    // In flight means inside the server: all ten logs validated (GET /api/validation-stats counts
    // them before they wait for their commit group), their requests not yet answered.
    await waitFor(async () => (await getJson(`${first.base}/api/validation-stats`)).valid === 10, {
      timeoutMs: 10_000,
      what: () => `the server to have received all 10 requests (${tail.acked.size} answered, problems: ${tail.problems.join('; ')})`,
    });
    assert.ok(tail.inFlight() > 0, 'requests are in flight');
    const t0 = Date.now();
    first.child.kill('SIGTERM');
    await tail.done;
    assert.ok(tail.acked.size > 0, `in-flight requests were answered: ${tail.problems.join('; ')}`);
    const exit = await first.exited;
    const took = Date.now() - t0;
    const second = await startServerProcess(config);
    try {
      const stored = new Set(await storedMessages(second.base));
      const lost = [...tail.acked].filter((m) => !stored.has(m));
      assert.deepEqual(lost, [], `${lost.length} of ${tail.acked.size} acknowledged logs lost`);
    } finally {
      await stopServer(second);
    }
    assert.deepEqual(exit, { code: 0, signal: null }, `after ${took} ms: ${first.output()}`);
    assert.ok(took < 5000, `shutdown took ${took} ms`);
  });
});
