import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { StoredLog } from '../../server/core/log.js';
import type { LogRepository } from '../../server/core/repository.js';
import { buildTestApp, type ManualClock } from '../helpers.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A database path in a fresh temporary folder, removed when the test file ends. */
export function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'logsentinel-'));
  dirs.push(dir);
  return join(dir, 'logs.db');
}

/** The test app with persistence on at `path`, on `clock`, with extra `storage` settings. */
export async function open(path: string, clock: ManualClock, storage: Record<string, unknown> = {}): Promise<FastifyInstance> {
  const { app } = await buildTestApp({ storage: { ...storage, persistence: { enabled: true, path } } }, { now: clock.now });
  return app;
}

/** GET that must answer 200; the parsed body. */
export async function getJson(app: FastifyInstance, url: string, headers: Record<string, string> = {}): Promise<any> {
  const res = await app.inject({ method: 'GET', url, headers });
  assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
  return res.json();
}

/** Every log `since(ts)` gives, its pages joined. */
export async function sinceAll(repo: Pick<LogRepository, 'since'>, ts: number): Promise<StoredLog[]> {
  const out: StoredLog[] = [];
  for await (const page of repo.since(ts)) out.push(...page);
  return out;
}
