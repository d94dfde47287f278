/**
 * Start-up time with N logs in the database: fills a fresh SQLite file with realistic logs
 * (the simulator's generator), then starts the real server (server/main.ts, production
 * config path) as a child process and times it until /health answers 200.
 * Run: npm run bench:startup -- [count]   (default 1,000,000)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoredLog, LEVELS } from '../server/core/log.js';
import { generateLog, seededRandom } from '../server/core/simulator.js';
import { PROJECT_ROOT } from '../server/schemas.js';
import { SqliteRepository } from '../server/storage/sqlite-repository.js';

const count = Number(process.argv[2] ?? 1_000_000);
const dir = mkdtempSync(join(tmpdir(), 'logsentinel-startup-'));
const path = join(dir, 'logs.db');

async function fill(): Promise<void> {
  const repo = new SqliteRepository({
    path,
    synchronous: 'normal',
    commitIntervalMs: 0,
    commitMaxRows: 20_000,
    retention: { maxAgeMs: 0, maxRows: 0, batchSize: 1 },
    counterKey: (s) => s,
  });
  const random = seededRandom(7);
  const now = Date.now();
  const t0 = performance.now();
  for (let id = 1; id <= count; ) {
    const batch: StoredLog[] = [];
    for (let i = 0; i < 20_000 && id <= count; i++, id++) {
      // Spread over the last 2 hours so part of it falls in the analytics window.
      const l = generateLog(random, { now, spreadMs: 2 * 3600_000 });
      batch.push(new StoredLog(id, Date.parse(l.timestamp), l.timestamp, LEVELS[LEVELS.indexOf(l.level)]!, l.service, l.message, l.user_id, l.metadata, now - (count - id)));
    }
    await repo.append(batch);
  }
  await repo.close();
  const mb = (statSync(path).size / 1e6).toFixed(0);
  process.stdout.write(`filled ${count.toLocaleString('en-US')} logs in ${((performance.now() - t0) / 1000).toFixed(1)} s (${mb} MB)\n`);
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function timeStart(): Promise<number> {
  const port = await freePort();
  const config = join(dir, 'config.yaml');
  writeFileSync(config, `storage:\n  persistence:\n    path: ${path}\n  retention:\n    max_age_days: 0\n    max_rows: 0\n`);
  const t0 = performance.now();
  const child = spawn(process.execPath, ['dist/server/main.js'], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, CONFIG_PATH: config, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
    stdio: 'inherit',
  });
  try {
    for (;;) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/health`);
        if (res.status === 200) return performance.now() - t0;
      } catch {
        // not listening yet
      }
      if (performance.now() - t0 > 300_000) throw new Error('server did not become healthy within 300 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    child.kill('SIGTERM');
  }
}

try {
  await fill();
  const ms = await timeStart();
  process.stdout.write(`start-up to a passing /health with ${count.toLocaleString('en-US')} stored logs: ${(ms / 1000).toFixed(2)} s\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
