import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { CommitScheduler } from '../../server/storage/commit-scheduler.js';

/** A commit the test finishes by hand, as an engine a server away would. */
function deferredEngine(): { commits: number[][]; finish: (err?: Error) => void; commit: (items: readonly number[]) => Promise<void> } {
  const commits: number[][] = [];
  const open: { resolve: () => void; reject: (e: Error) => void }[] = [];
  return {
    commits,
    finish: (err) => {
      const c = open.shift()!;
      if (err) c.reject(err);
      else c.resolve();
    },
    commit: (items) =>
      new Promise<void>((resolve, reject) => {
        commits.push([...items]);
        open.push({ resolve, reject });
      }),
  };
}

describe('CommitScheduler', () => {
  test('a lone append is committed in the turn it arrived in: no timer to wait for', async () => {
    const commits: number[][] = [];
    const s = new CommitScheduler<number>((items) => void commits.push([...items]), () => 1, { maxRows: 100, gatherMs: 0, maxInFlight: 1 });
    const done = s.submit(1);
    assert.deepEqual(commits, [], 'not inside submit: appends of the same turn may still join');
    await nextTurn();
    assert.deepEqual(commits, [[1]]);
    await done;
  });

  test('appends of one turn share a commit; maxRows waiting start one at once', async () => {
    const commits: number[][] = [];
    const s = new CommitScheduler<number>((items) => void commits.push([...items]), (n) => n, { maxRows: 10, gatherMs: 0, maxInFlight: 1 });
    const a = [s.submit(2), s.submit(3)];
    assert.deepEqual(commits, []);
    a.push(s.submit(5));
    assert.deepEqual(commits, [[2, 3, 5]], '10 rows waiting: committed inside submit');
    a.push(s.submit(1));
    await Promise.all(a);
    assert.deepEqual(commits, [[2, 3, 5], [1]]);
  });

  test('while a commit is under way, arrivals wait and then go together, at once', async () => {
    const engine = deferredEngine();
    const s = new CommitScheduler<number>(engine.commit, () => 1, { maxRows: 1000, gatherMs: 0, maxInFlight: 1 });
    const first = s.submit(1);
    await nextTurn();
    assert.deepEqual(engine.commits, [[1]]);
    const later = [s.submit(2), s.submit(3)];
    await nextTurn();
    later.push(s.submit(4));
    await nextTurn();
    assert.deepEqual(engine.commits, [[1]], 'the one slot is busy: they wait');
    assert.equal(s.pendingRows, 3);
    engine.finish();
    await first;
    assert.deepEqual(engine.commits, [[1], [2, 3, 4]], 'the next commit started as the first finished');
    engine.finish();
    await Promise.all(later);
  });

  test('with two slots, a second commit starts beside the first', async () => {
    const engine = deferredEngine();
    const s = new CommitScheduler<number>(engine.commit, () => 1, { maxRows: 1000, gatherMs: 0, maxInFlight: 2 });
    const a = s.submit(1);
    await nextTurn();
    const b = s.submit(2);
    await nextTurn();
    assert.deepEqual(engine.commits, [[1], [2]]);
    engine.finish();
    engine.finish();
    await Promise.all([a, b]);
  });

  test("a failed commit rejects its own group only, with the engine's error", async () => {
    const engine = deferredEngine();
    const s = new CommitScheduler<number>(engine.commit, () => 1, { maxRows: 1000, gatherMs: 0, maxInFlight: 1 });
    const failed = [s.submit(1), s.submit(2)];
    await nextTurn();
    const next = s.submit(3);
    engine.finish(new Error('disk full'));
    for (const p of failed) await assert.rejects(p, /disk full/);
    engine.finish();
    await next;
    assert.deepEqual(engine.commits, [[1, 2], [3]]);
  });

  test('a synchronous engine that throws rejects the group', async () => {
    const s = new CommitScheduler<number>(
      () => {
        throw new Error('locked');
      },
      () => 1,
      { maxRows: 1000, gatherMs: 0, maxInFlight: 1 },
    );
    await assert.rejects(s.submit(1), /locked/);
  });

  test('the observer hears each commit with its rows, and each failure', async () => {
    const engine = deferredEngine();
    const heard: string[] = [];
    const s = new CommitScheduler<number>(engine.commit, (n) => n, { maxRows: 1000, gatherMs: 0, maxInFlight: 1 });
    s.observe({ committed: (logs) => heard.push(`ok ${logs}`), failed: (logs) => heard.push(`failed ${logs}`) });
    const a = s.submit(4);
    await nextTurn();
    engine.finish();
    await a;
    const b = s.submit(6);
    await nextTurn();
    engine.finish(new Error('gone'));
    await assert.rejects(b);
    assert.deepEqual(heard, ['ok 4', 'failed 6']);
  });

  test('drain commits what waits and returns once nothing is under way', async () => {
    const engine = deferredEngine();
    const s = new CommitScheduler<number>(engine.commit, () => 1, { maxRows: 1000, gatherMs: 50, maxInFlight: 1 });
    const a = s.submit(1);
    let drained = false;
    const d = s.drain().then(() => (drained = true));
    await nextTurn();
    assert.deepEqual(engine.commits, [[1]], 'drain did not wait for gatherMs');
    assert.equal(drained, false, 'the commit is still under way');
    engine.finish();
    await d;
    await a;
    assert.equal(drained, true);
  });
});
