import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { waitFor } from '../helpers.js';
import { startServerProcess, type ServerProcess } from '../server-process.js';

/**
 * What a person at the console reads: a first line that says where the dashboard is, what was
 * loaded from where and how long it took; one line per request, but not for the dashboard's
 * polls or /health; JSON lines for a collector, readable lines on request.
 */

const dir = mkdtempSync(join(tmpdir(), 'logsentinel-console-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function config(name: string, persistence: boolean): string {
  const path = join(dir, `${name}.yaml`);
  const db = join(dir, `${name}.db`);
  writeFileSync(path, `storage:\n  persistence: { enabled: ${persistence}, path: ${JSON.stringify(db)} }\nrate_limit: { enabled: false }\n`);
  return path;
}

async function stop(server: ServerProcess): Promise<void> {
  server.child.kill('SIGTERM');
  await server.exited;
}

/** The JSON lines a server wrote so far. */
function lines(server: ServerProcess): Record<string, unknown>[] {
  return server
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function post(server: ServerProcess, logs: unknown[]): Promise<void> {
  const res = await fetch(`${server.base}/api/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(logs) });
  assert.equal(res.status, 201, await res.text());
}

describe('the console', () => {
  test('the first line says where the dashboard is, the storage, and what a restart reloaded in how long', async () => {
    const path = config('ready', true);
    const first = await startServerProcess(path, { LOG_LEVEL: 'info' });
    const line0 = lines(first)[0]!;
    assert.match(String(line0.msg), new RegExp(`^LogSentinel ready: http://localhost:${first.port} \\(dashboard; API reference at /docs\\); storage: sqlite .*ready\\.db, 0 logs stored`), String(line0.msg));
    const log = { timestamp: new Date().toISOString(), level: 'INFO', service: 'console-test', message: 'hello' };
    await post(first, Array.from({ length: 25 }, () => log));
    await stop(first);

    const second = await startServerProcess(path, { LOG_LEVEL: 'info' });
    try {
      const msg = String(lines(second)[0]!.msg);
      assert.match(msg, /storage: sqlite \S*ready\.db, 25 logs stored, 25 reloaded into memory and 25 into the analytics window in \d+\.\d\d s$/, msg);
    } finally {
      await stop(second);
    }
  });

  test('one line per request at info, none for /health and the dashboard\'s polls', async () => {
    const server = await startServerProcess(config('requests', false), { LOG_LEVEL: 'info' });
    try {
      assert.match(String(lines(server)[0]!.msg), /storage: memory only \(storage\.persistence\.enabled is false\)$/);
      for (let i = 0; i < 3; i++) {
        assert.equal((await fetch(`${server.base}/health`)).status, 200);
        assert.equal((await fetch(`${server.base}/api/advanced-dashboard-data`, { headers: { 'x-logsentinel-client': 'dashboard' } })).status, 200);
      }
      await post(server, [{ timestamp: new Date().toISOString(), level: 'INFO', service: 'console-test', message: 'hello' }]);
      assert.equal((await fetch(`${server.base}/api/stats`)).status, 200);
      const seen = await waitFor(() => {
        const requests = lines(server).filter((l) => typeof l.statusCode === 'number');
        return requests.length >= 2 ? requests : undefined;
      }, { timeoutMs: 5000, what: () => `two request lines in ${server.output()}` });
      assert.deepEqual(
        seen.map((l) => l.msg),
        ['POST /api/logs 201', 'GET /api/stats 200'],
      );
      assert.ok(seen.every((l) => l.level === 30 && typeof l.ms === 'number'));
    } finally {
      await stop(server);
    }
  });

  test('LOG_FORMAT=pretty prints readable lines instead of JSON', async () => {
    const server = await startServerProcess(config('pretty', false), { LOG_LEVEL: 'info', LOG_FORMAT: 'pretty' });
    try {
      await waitFor(() => server.output().includes('LogSentinel ready'), { timeoutMs: 5000, what: () => server.output() });
      const text = server.output().trim().split('\n');
      assert.ok(text.length > 0 && text.every((l) => !l.startsWith('{')), server.output());
      assert.match(text[0]!, /\d\d:\d\d:\d\d.*INFO.*LogSentinel ready: http:\/\/localhost:\d+/);
    } finally {
      await stop(server);
    }
  });
});
