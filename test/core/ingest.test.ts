import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { LogServer } from '../../server/core/log-server.js';
import { UnmappableItem, UnparseableLine } from '../../server/core/ingest.js';
import { AppError } from '../../server/core/errors.js';
import { coreOptions } from '../../server/config.js';
import { ManualClock, log, testConfig } from '../helpers.js';

function server(overrides: Record<string, unknown> = {}): { core: LogServer; clock: ManualClock } {
  const clock = new ManualClock();
  return { core: new LogServer(coreOptions(testConfig(overrides)), { now: clock.now }), clock };
}

const allIds = (core: LogServer): number[] =>
  core.recent
    .query({ limit: 1000 })
    .logs.map((l) => l.id)
    .reverse();

describe('IngestPipeline', () => {
  test('ids are monotonic across batches and start at 1', async () => {
    const { core } = server();
    const r1 = await core.pipeline.ingest([log(), log({ message: 'two' })]);
    assert.deepEqual(r1, { accepted: 2, rejected: [] });
    const r2 = await core.pipeline.ingest([log({ message: 'three' })]);
    assert.equal(r2.accepted, 1);
    const r3 = await core.pipeline.ingest([log({ level: 'NOPE' }), log({ message: 'four' })]);
    assert.equal(r3.accepted, 1);
    assert.deepEqual(allIds(core), [1, 2, 3, 4]);
    assert.equal(core.pipeline.currentId, 4);
    const messages = core.recent.query({ limit: 10 }).logs.map((l) => [l.id, l.message]);
    assert.deepEqual(messages, [
      [4, 'four'],
      [3, 'three'],
      [2, 'two'],
      [1, 'User logged in'],
    ]);
  });

  test("an adapter's unmappable item is rejected at its index with the adapter's message and counted as invalid", async () => {
    const { core } = server();
    const r = await core.pipeline.ingest([log({ message: 'kept' }), new UnmappableItem("entry 1: the timestamp 'soon' is not a number of nanoseconds")]);
    assert.deepEqual(r, { accepted: 1, rejected: [{ index: 1, errors: ["entry 1: the timestamp 'soon' is not a number of nanoseconds"] }] });
    assert.equal(core.validationStats.toJSON().invalid, 1);
    assert.equal(core.validationStats.toJSON().error_types.protocol, 1);
  });

  test('a rejected item does not consume an id', async () => {
    const { core } = server();
    await core.pipeline.ingest([log({ service: '' }), log()]);
    assert.deepEqual(allIds(core), [1]);
  });

  test('receivedAt comes from the injected clock, one value per batch', async () => {
    const { core, clock } = server();
    const t1 = clock.now();
    await core.pipeline.ingest([log(), log()]);
    clock.advance(12_345);
    await core.pipeline.ingest([log()]);
    const got = core.recent.query({ limit: 10 }).logs.map((l) => [l.id, l.receivedAt]);
    assert.deepEqual(got, [
      [3, t1 + 12_345],
      [2, t1],
      [1, t1],
    ]);
  });

  test('the stored log keeps the client timestamp text and the parsed ts', async () => {
    const { core } = server();
    await core.pipeline.ingest([log({ timestamp: '2024-01-15T15:29:30.5+01:00', user_id: 'u1', metadata: { k: 'v' } })]);
    const [stored] = core.recent.query({ limit: 1 }).logs;
    assert.ok(stored, 'a stored log');
    assert.equal(stored.timestamp, '2024-01-15T15:29:30.5+01:00');
    assert.equal(stored.ts, Date.parse('2024-01-15T14:29:30.500Z'));
    assert.equal(stored.userId, 'u1');
    assert.deepEqual(stored.metadata, { k: 'v' });
    assert.equal(stored.level, 'INFO');
  });

  test('one bad item does not block the others; rejected items carry their index and messages', async () => {
    const { core } = server();
    const result = await core.pipeline.ingest([
      log({ message: 'ok-0' }),
      log({ level: 'LOUD' }),
      log({ message: 'ok-2' }),
      'not an object',
      log({ message: 'ok-4' }),
    ]);
    assert.equal(result.accepted, 3);
    assert.deepEqual(
      result.rejected.map((r) => r.index),
      [1, 3],
    );
    assert.deepEqual(result.rejected[0]!.errors, [`'level' must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (got "LOUD")`]);
    assert.deepEqual(result.rejected[1]!.errors, ['the value must be of type object (got string)']);
    assert.deepEqual(
      core.recent.query({ limit: 10 }).logs.map((l) => l.message),
      ['ok-4', 'ok-2', 'ok-0'],
    );
    // Every sink saw the accepted logs only.
    assert.equal(core.stats.total, 3);
    assert.equal(core.analytics.timeSeries(2)[0]!.total, 3);
    assert.deepEqual(core.validationStats.toJSON(), { total: 5, valid: 3, invalid: 2, error_types: { enum: 1, type: 1 } });
  });

  test('UnparseableLine is rejected with its line number and reason', async () => {
    const { core } = server();
    const result = await core.pipeline.ingest([log(), new UnparseableLine(2, 'Unexpected token'), log()]);
    assert.equal(result.accepted, 2);
    assert.deepEqual(result.rejected, [{ index: 1, errors: ['line 2 is not valid JSON (Unexpected token)'] }]);
    assert.deepEqual(core.validationStats.toJSON().error_types, { json: 1 });
  });

  test('an all-bad batch accepts nothing and touches no sink', async () => {
    const { core } = server();
    const result = await core.pipeline.ingest([log({ timestamp: 'bad' })]);
    assert.equal(result.accepted, 0);
    assert.equal(result.rejected.length, 1);
    assert.equal(core.recent.size, 0);
    assert.equal(core.stats.total, 0);
    assert.equal(core.pipeline.currentId, 0);
  });

  test('boundService mismatch throws AppError 403 and accepts nothing', async () => {
    const { core } = server();
    await assert.rejects(
      core.pipeline.ingest([log({ service: 'auth-service' }), log({ service: 'payment-service' })], { boundService: 'auth-service' }),
      (e: unknown) => {
        assert.ok(e instanceof AppError, `expected AppError, got ${String(e)}`);
        assert.equal(e.statusCode, 403);
        assert.equal(e.code, 'SERVICE_MISMATCH');
        assert.match(e.message, /'auth-service'/);
        assert.match(e.message, /'payment-service'/);
        return true;
      },
    );
    assert.equal(core.recent.size, 0);
    assert.equal(core.stats.total, 0);
    assert.equal(core.pipeline.currentId, 0);
    assert.equal(core.validationStats.total, 0);
  });

  test('boundService match accepts; items without a string service are validated normally', async () => {
    const { core } = server();
    const result = await core.pipeline.ingest([log({ service: 'auth-service' }), { level: 'INFO' }], { boundService: 'auth-service' });
    assert.equal(result.accepted, 1);
    assert.deepEqual(
      result.rejected.map((r) => r.index),
      [1],
    );
  });

  test('cardinality folding is counted once per log', async () => {
    const { core } = server({ limits: { max_services: 2, max_users: 1 } });
    await core.pipeline.ingest([
      log({ service: 's1', user_id: 'u1' }),
      log({ service: 's2', user_id: 'u2' }),
      log({ service: 's3', user_id: 'u1' }),
      log({ service: 's3' }),
      log({ service: 's4', user_id: 'u3' }),
      log({ service: 's1' }),
      log({ service: '' }), // rejected: never admitted, never folded
    ]);
    assert.deepEqual(core.cardinality(), {
      services: { tracked: 2, cap: 2, folded: 3 },
      users: { tracked: 1, cap: 1, folded: 2 },
    });
    assert.deepEqual(core.stats.countPerService(), { s1: 2, s2: 1, other: 3 });
    assert.deepEqual(Object.fromEntries(core.analytics.serviceCounts(2)), {
      s1: { total: 2, errors: 0 },
      s2: { total: 1, errors: 0 },
      other: { total: 3, errors: 0 },
    });
    // The stored log keeps the client's own service name.
    assert.deepEqual(
      core.recent.query({ limit: 10, services: ['s3'] }).logs.map((l) => l.id),
      [4, 3],
    );
  });

  test('an empty batch is a no-op', async () => {
    const { core } = server();
    assert.deepEqual(await core.pipeline.ingest([]), { accepted: 0, rejected: [] });
    assert.equal(core.pipeline.currentId, 0);
  });
});
