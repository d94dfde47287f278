import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { StorageError } from '../../server/core/repository.js';
import { SCHEMA_VERSION, type SqliteRepository } from '../../server/storage/sqlite-repository.js';
import { ManualClock, buildTestApp, log, postJson } from '../helpers.js';

/** Schema versions, files that cannot be opened, and a database that stops taking writes. */

const ROOT = resolve(import.meta.dirname, '../..');

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'logsentinel-'));
  dirs.push(dir);
  return dir;
}

function persistent(path: string): Record<string, unknown> {
  return { storage: { persistence: { enabled: true, path } } };
}

async function getJson(app: FastifyInstance, url: string): Promise<any> {
  const res = await app.inject({ method: 'GET', url });
  assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
  return res.json();
}

/** Builds the app expecting a StorageError; returns it. */
async function expectStorageError(path: string): Promise<StorageError> {
  let app: FastifyInstance | undefined;
  try {
    app = (await buildTestApp(persistent(path))).app;
  } catch (e) {
    assert.ok(e instanceof StorageError, `expected a StorageError, got ${String(e)}`);
    assert.equal(e.code, 'STORAGE_UNAVAILABLE');
    return e;
  }
  await app.close();
  assert.fail(`buildApp opened ${path}`);
}

function userVersion(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return db.pragma('user_version', { simple: true }) as number;
  } finally {
    db.close();
  }
}

describe('schema version', () => {
  test('a fresh file gets user_version = SCHEMA_VERSION and the tables', async () => {
    const path = join(tempDir(), 'nested', 'folder', 'logs.db');
    const { app } = await buildTestApp(persistent(path));
    try {
      assert.equal((await postJson(app, '/api/logs', log())).statusCode, 201);
    } finally {
      await app.close();
    }
    assert.equal(userVersion(path), SCHEMA_VERSION);
    const db = new Database(path, { readonly: true });
    try {
      const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((t) => t.name);
      assert.deepEqual(tables, ['alert_notifications', 'alerts', 'chunks', 'counters', 'meta', 'patterns', 'runtime', 'silences']);
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    } finally {
      db.close();
    }
    // Opening it again keeps it as it is, the log included.
    const again = (await buildTestApp(persistent(path))).app;
    try {
      assert.equal((await getJson(again, '/api/logs')).count, 1);
    } finally {
      await again.close();
    }
    assert.equal(userVersion(path), SCHEMA_VERSION);
  });

  test('a file with a newer schema version stops start-up with a StorageError naming the path and both versions, untouched', async () => {
    const path = join(tempDir(), 'logs.db');
    const db = new Database(path);
    db.exec('CREATE TABLE something_else (x INTEGER)');
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    const err = await expectStorageError(path);
    assert.ok(err.message.includes(path), err.message);
    assert.match(err.message, /newer/);
    assert.ok(err.message.includes(`version ${SCHEMA_VERSION + 1}`), err.message);
    assert.ok(err.message.includes(String(SCHEMA_VERSION)), err.message);
    assert.equal(userVersion(path), SCHEMA_VERSION + 1, 'the file is left as it was');
  });
});

describe('a database that cannot be opened stops start-up', () => {
  test('a path whose parent is a regular file: StorageError naming the path', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'plain-file'), 'not a folder');
    const path = join(dir, 'plain-file', 'logs.db');
    const err = await expectStorageError(path);
    assert.ok(err.message.startsWith(`cannot open the log database ${path}: `), err.message);
  });

  test("a corrupt file (random bytes): StorageError 'file is not a database' naming the path; the file is not changed", async () => {
    const path = join(tempDir(), 'logs.db');
    const garbage = Buffer.concat([Buffer.from('definitely not sqlite'), randomBytes(16 * 1024)]);
    writeFileSync(path, garbage);
    const err = await expectStorageError(path);
    assert.ok(err.message.includes(path), err.message);
    assert.match(err.message, /file is not a database/);
    assert.deepEqual(readFileSync(path), garbage);
  });
});

describe('writes failing at run time (database full)', () => {
  test('503 STORAGE_UNAVAILABLE with Retry-After, nothing stored or counted, /health degraded; healthy again once writes work', async () => {
    const dir = tempDir();
    const path = join(dir, 'logs.db');
    const clock = new ManualClock();
    const { app } = await buildTestApp({ storage: { max_logs: 5, ...(persistent(path).storage as object) } }, { now: clock.now });
    try {
      assert.equal((await postJson(app, '/api/logs', [log({ message: 'before 1' }), log({ message: 'before 2' })])).statusCode, 201);
      const handle = (app.core.repository as SqliteRepository).handle;
      // The file cannot grow past its current pages: a log needing new pages does not fit.
      handle.pragma('max_page_count = 1');
      const big = 'x'.repeat(12_000);
      clock.advance(1000);

      const res = await postJson(app, '/api/logs', log({ message: `lost ${big}` }));
      assert.equal(res.statusCode, 503, res.body);
      assert.equal(res.json().code, 'STORAGE_UNAVAILABLE');
      // The caller learns what happened and what to do, not where the file is or what the engine said.
      assert.equal(res.json().error.includes(path), false, res.json().error);
      assert.match(res.json().error, /cannot be reached or written.*send it again later/);
      assert.equal(res.headers['retry-after'], '5');
      // A batch fails whole.
      const batch = await postJson(app, '/api/logs', [log({ message: 'small one' }), log({ message: `batch ${big}` })]);
      assert.equal(batch.statusCode, 503, batch.body);
      // The compatibility API's door too.
      const legacy = await postJson(app, '/logs', { timestamp: '2024-01-15T14:29:00', service: 'auth-service', severity: 'INFO', message: `legacy ${big}` }, { authorization: 'Bearer auth-service-token-001' });
      assert.equal(legacy.statusCode, 503, legacy.body);
      assert.equal(legacy.json().code, 'STORAGE_UNAVAILABLE');

      const logs = await getJson(app, '/api/logs');
      assert.deepEqual(logs.logs.map((l: { message: string }) => l.message), ['before 2', 'before 1'], 'nothing of the failed requests is visible');
      assert.equal(await app.core.repository!.count(), 2);
      const down = await app.inject({ method: 'GET', url: '/health' });
      assert.equal(down.statusCode, 503);
      const h = down.json();
      assert.equal(h.status, 'degraded');
      assert.equal(h.total_logs, 2, 'failed logs are not counted');
      assert.equal(h.current_stored, 2);
      assert.equal(h.storage.engine, 'sqlite', 'the public /health does not name the file');
      assert.equal(h.storage.status, 'failing');
      assert.ok(!h.storage.error.includes(path) && /full/.test(h.storage.error), h.storage.error);
      assert.equal(h.storage.since, clock.iso(), 'since the first failure');
      assert.equal((await getJson(app, '/api/stats')).total_logs, 2);

      // Space again: the next write works and health recovers.
      handle.pragma('max_page_count = 1000000');
      clock.advance(1000);
      const ok = await postJson(app, '/api/logs', log({ message: `recovered ${big}` }));
      assert.equal(ok.statusCode, 201, ok.body);
      const up = await app.inject({ method: 'GET', url: '/health' });
      assert.equal(up.statusCode, 200);
      assert.equal(up.json().status, 'healthy');
      assert.deepEqual(up.json().storage, { engine: 'sqlite', status: 'ok' });
      assert.equal(up.json().total_logs, 3);
      const after = await getJson(app, '/api/logs');
      assert.deepEqual(after.logs.map((l: { message: string }) => l.message.slice(0, 9)), ['recovered', 'before 2', 'before 1']);
    } finally {
      await app.close();
    }
    // On disk: exactly the three acknowledged logs, and counters to match.
    const { app: b } = await buildTestApp(persistent(path), { now: new ManualClock().now });
    try {
      assert.equal((await getJson(b, '/api/logs')).count, 3);
      assert.equal((await getJson(b, '/api/stats')).total_logs, 3);
    } finally {
      await b.close();
    }
  });
});

describe('process start with an unopenable database', () => {
  test("node server/main.ts exits 1 with one 'storage error:' line naming the path", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'plain-file'), 'not a folder');
    const dbPath = join(dir, 'plain-file', 'data', 'logs.db');
    const configPath = join(dir, 'config.yaml');
    writeFileSync(configPath, `server:\n  host: 127.0.0.1\n  log_level: warn\nstorage:\n  persistence:\n    enabled: true\n    path: ${JSON.stringify(dbPath)}\n`);
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
      cwd: ROOT,
      env: { ...process.env, CONFIG_PATH: configPath, PORT: '0', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((done) => child.on('exit', (c, s) => done([c, s])));
    clearTimeout(timer);
    assert.equal(signal, null, `killed: ${stderr}`);
    assert.equal(code, 1, `stderr: ${stderr}\nstdout: ${stdout}`);
    const lines = stderr.split('\n').filter((l) => l.trim() !== '');
    assert.equal(lines.length, 1, `stderr: ${stderr}`);
    assert.ok(lines[0]!.startsWith(`storage error: cannot open the log database ${dbPath}: `), lines[0]);
  });
});
