import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { ADMIN_TOKEN, ManualClock, auth, buildTestApp, postJson } from '../helpers.js';
import { startPostgres, type PgServer } from '../../scripts/postgres-server.js';

export interface Replicas {
  /** A whole app on the database at `url` named `id`, on `clock`, with `extra` config on top; closed after the tests. */
  replica(url: string, id: string, clock: ManualClock, extra?: Record<string, unknown>): Promise<FastifyInstance>;
  /** `n` replicas named a, b, c... on a fresh database and one clock. */
  cluster(n: number, extra?: Record<string, unknown>): Promise<{ replicas: FastifyInstance[]; clock: ManualClock; url: string }>;
}

/**
 * For the calling describe: a PostgreSQL started before its tests and stopped after them, and
 * replicas on it (each a whole app with the test config), every one closed at the end.
 */
export function replicasOnPostgres(): Replicas {
  let server: PgServer;
  const apps: FastifyInstance[] = [];
  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    for (const app of apps) await app.close().catch(() => {});
    await server?.stop();
  });

  async function replica(url: string, id: string, clock: ManualClock, extra: Record<string, unknown> = {}): Promise<FastifyInstance> {
    const { app } = await buildTestApp(
      { storage: { backend: 'postgres', postgres: { url, pool_size: 4, schema: 'logsentinel' } }, cluster: { replica_id: id }, ...extra },
      { now: clock.now },
    );
    apps.push(app);
    return app;
  }

  async function cluster(n: number, extra: Record<string, unknown> = {}): Promise<{ replicas: FastifyInstance[]; clock: ManualClock; url: string }> {
    const url = await server.createDatabase();
    const clock = new ManualClock();
    const replicas: FastifyInstance[] = [];
    for (let i = 0; i < n; i++) replicas.push(await replica(url, String.fromCharCode(97 + i), clock, extra));
    return { replicas, clock, url };
  }

  return { replica, cluster };
}

/** GET `url` with the admin token: 200, its JSON. */
export async function getJson(app: FastifyInstance, url: string): Promise<any> {
  const res = await app.inject({ method: 'GET', url, headers: auth(ADMIN_TOKEN) });
  assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
  return res.json();
}

/** POST `logs` to /api/logs: all accepted. */
export async function send(app: FastifyInstance, logs: Record<string, unknown>[]): Promise<void> {
  const res = await postJson(app, '/api/logs', logs);
  assert.equal(res.statusCode, 201, res.body);
}
