/**
 * Ingest throughput with durable storage off and on, side by side, measured in one run with
 * the same tool, bodies and connections. The real server (dist/server/main.js, production
 * options, logging at warn) runs as a child process pinned to CPU 0 where `taskset` exists;
 * autocannon drives it from this process. Run: npm run bench:ingest [-- --seconds 10]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { generateLog, seededRandom } from '../server/core/simulator.js';
import { PROJECT_ROOT } from '../server/schemas.js';

const args = process.argv.slice(2);
const seconds = Number(args[args.indexOf('--seconds') + 1] || 8);
const dir = mkdtempSync(join(tmpdir(), 'logsentinel-bench-'));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function startServer(name: string, persistence: boolean): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const config = join(dir, `${name}.yaml`);
  writeFileSync(
    config,
    [
      'storage:',
      '  max_logs: 1000000',
      '  persistence:',
      `    enabled: ${persistence}`,
      `    path: ${join(dir, `${name}.db`)}`,
      'limits:',
      '  max_body_bytes: 104857600',
      'alerting:',
      '  handlers:',
      '    log: false',
      '',
    ].join('\n'),
  );
  const cmd = existsSync('/usr/bin/taskset') ? '/usr/bin/taskset' : process.execPath;
  const argv = cmd === process.execPath ? ['dist/server/main.js'] : ['-c', '0', process.execPath, 'dist/server/main.js'];
  const child = spawn(cmd, argv, {
    cwd: PROJECT_ROOT,
    env: { ...process.env, CONFIG_PATH: config, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 500; i++) {
    try {
      if ((await fetch(`${url}/health`)).ok) return { url, child };
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${name}: server did not start`);
}

function bodies(n: number, perBody: number, ndjson: boolean): string[] {
  const random = seededRandom(1);
  const now = Date.now();
  return Array.from({ length: n }, () => {
    const logs = Array.from({ length: perBody }, () => generateLog(random, { now, spreadMs: 60_000 }));
    return ndjson ? logs.map((l) => JSON.stringify(l)).join('\n') : JSON.stringify(logs);
  });
}

interface Result {
  scenario: string;
  requestsPerSec: number;
  logsPerSec: number;
  p50: number;
  p99: number;
}

async function run(url: string, scenario: string, body: string[], contentType: string, perBody: number): Promise<Result> {
  let i = 0;
  const opts = {
    url: `${url}/api/logs`,
    connections: 8,
    pipelining: 1,
    method: 'POST' as const,
    headers: { 'content-type': contentType },
    requests: [{ setupRequest: (req: autocannon.Request): autocannon.Request => ({ ...req, body: body[i++ % body.length]! }) }],
  };
  await autocannon({ ...opts, duration: 2 });
  const r = await autocannon({ ...opts, duration: seconds });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${scenario}: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
  return {
    scenario,
    requestsPerSec: Math.round(r.requests.average),
    logsPerSec: Math.round(r.requests.average * perBody),
    p50: r.latency.p50,
    p99: r.latency.p99,
  };
}

const results: Result[] = [];
try {
  const arrays = bodies(20, 1000, false);
  const ndjson = bodies(20, 1000, true);
  for (const [name, persistence] of [
    ['memory', false],
    ['sqlite', true],
  ] as const) {
    const { url, child } = await startServer(name, persistence);
    try {
      results.push(await run(url, `batch 1000, JSON array, storage ${name}`, arrays, 'application/json', 1000));
      results.push(await run(url, `batch 1000, NDJSON, storage ${name}`, ndjson, 'application/x-ndjson', 1000));
    } finally {
      child.kill('SIGTERM');
    }
  }
  const pad = (s: string, n: number): string => s.padEnd(n);
  process.stdout.write(`\n${pad('scenario', 40)}${pad('logs/s', 12)}${pad('req/s', 8)}${pad('p50 ms', 8)}p99 ms\n`);
  for (const r of results) {
    process.stdout.write(`${pad(r.scenario, 40)}${pad(r.logsPerSec.toLocaleString('en-US'), 12)}${pad(String(r.requestsPerSec), 8)}${pad(String(r.p50), 8)}${r.p99}\n`);
  }
  const ratio = (a: string, b: string): string =>
    (results.find((r) => r.scenario === a)!.logsPerSec / results.find((r) => r.scenario === b)!.logsPerSec).toFixed(2);
  process.stdout.write(`\nsqlite / memory: JSON array ${ratio('batch 1000, JSON array, storage sqlite', 'batch 1000, JSON array, storage memory')}, NDJSON ${ratio('batch 1000, NDJSON, storage sqlite', 'batch 1000, NDJSON, storage memory')}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
