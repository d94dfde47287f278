import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Client } from 'pg';
import { postgresUnavailable, startPostgres } from '../../scripts/postgres-server.js';

const skip = postgresUnavailable();
if (skip) process.stdout.write(`# PostgreSQL test server tests skipped: ${skip}\n`);

/** Runs `sql` on a connection of its own to `url`; the rows. */
async function query(url: string, sql: string): Promise<Record<string, unknown>[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('the throw-away PostgreSQL server for tests', { skip }, () => {
  test('serves databases of its own, keeps their tables over a restart, and leaves no folder behind', async (t) => {
    const server = await startPostgres();
    t.after(() => server.stop());
    const failure = (): string => `server log:\n${server.log()}`;

    const first = await server.createDatabase();
    const second = await server.createDatabase('second');
    assert.equal(second, `postgres://postgres@127.0.0.1:${server.port}/second`);
    assert.notEqual(first, second);
    assert.deepEqual(await query(first, 'SELECT current_database() AS name'), [{ name: new URL(first).pathname.slice(1) }], failure());
    assert.deepEqual(await query(second, 'SELECT current_database() AS name'), [{ name: 'second' }], failure());
    const [encoding] = await query(server.url(), "SELECT pg_encoding_to_char(encoding) AS encoding FROM pg_database WHERE datname = 'second'");
    assert.equal(encoding?.encoding, 'UTF8');

    await query(first, 'CREATE TABLE kept (id int PRIMARY KEY, note text)');
    await query(first, "INSERT INTO kept VALUES (1, 'before the restart')");
    await server.stopServer();
    await assert.rejects(query(first, 'SELECT 1'), /ECONNREFUSED/);
    await server.startServer();
    assert.deepEqual(await query(first, 'SELECT id, note FROM kept'), [{ id: 1, note: 'before the restart' }], failure());
    assert.deepEqual(await query(second, 'SELECT 2 AS two'), [{ two: 2 }], failure());

    // An immediate stop is a crash: the next start recovers from the WAL.
    await server.stopServer('immediate');
    await server.startServer();
    assert.deepEqual(await query(first, 'SELECT count(*)::int AS n FROM kept'), [{ n: 1 }], failure());
    assert.match(server.log(), /database system was interrupted|redo starts|automatic recovery/);

    await server.stop();
    assert.equal(existsSync(server.dir), false, `${server.dir} is still there`);
    await server.stop();
  });
});
