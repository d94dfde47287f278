import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { KeyCap, OTHER, bump, topN } from '../../server/core/key-cap.js';

describe('KeyCap', () => {
  test('admits up to cap distinct keys without folding', () => {
    const cap = new KeyCap(3);
    assert.equal(cap.admit('a'), 'a');
    assert.equal(cap.admit('b'), 'b');
    assert.equal(cap.admit('c'), 'c');
    assert.equal(cap.size, 3);
    assert.equal(cap.folded, 0);
    assert.equal(cap.keyOf('a'), 'a');
    assert.equal(cap.keyOf('c'), 'c');
  });

  test('re-admitting a known key does not grow or fold', () => {
    const cap = new KeyCap(2);
    cap.admit('a');
    cap.admit('a');
    cap.admit('a');
    assert.equal(cap.size, 1);
    assert.equal(cap.folded, 0);
  });

  test('past the cap new keys are folded, counted once per admit call', () => {
    const cap = new KeyCap(2);
    cap.admit('a');
    cap.admit('b');
    assert.equal(cap.admit('c'), 'c');
    assert.equal(cap.folded, 1);
    assert.equal(cap.admit('c'), 'c');
    assert.equal(cap.folded, 2);
    assert.equal(cap.admit('d'), 'd');
    assert.equal(cap.folded, 3);
    // Known keys never count as folds, even when full.
    cap.admit('a');
    assert.equal(cap.folded, 3);
    assert.equal(cap.size, 2);
    assert.equal(cap.keyOf('c'), OTHER);
    assert.equal(cap.keyOf('d'), OTHER);
  });

  test('keyOf returns OTHER for unknown keys and never counts', () => {
    const cap = new KeyCap(5);
    assert.equal(OTHER, 'other');
    assert.equal(cap.keyOf('never-admitted'), 'other');
    assert.equal(cap.keyOf('never-admitted'), 'other');
    assert.equal(cap.folded, 0);
    assert.equal(cap.size, 0);
  });

  test('admitIndex admits like admit; keyAt of its index is the counting key: the interned string, or OTHER past the cap', () => {
    const cap = new KeyCap(2);
    const first = ['svc', 'a'].join('-');
    const countingKey = (key: string): string => cap.keyAt(cap.admitIndex(key));
    assert.equal(countingKey(first), 'svc-a');
    assert.equal(countingKey('svc-b'), 'svc-b');
    assert.equal(countingKey(['svc', 'a'].join('-')), first);
    assert.equal(cap.folded, 0);
    assert.equal(countingKey('svc-c'), OTHER);
    assert.equal(countingKey('svc-c'), OTHER);
    assert.equal(cap.folded, 2, 'counted once per call, as admit does');
    assert.equal(cap.keyOf('svc-c'), OTHER);
    assert.equal(cap.size, 2);
  });

  test('admitIndex gives each admitted key a dense index that keyAt turns back into the interned key', () => {
    const cap = new KeyCap(3);
    const first = ['u', '1'].join('-');
    assert.equal(cap.admitIndex(first), 0);
    assert.equal(cap.admitIndex('u-2'), 1);
    assert.equal(cap.admitIndex(['u', '1'].join('-')), 0);
    assert.equal(cap.keyAt(0), first);
    assert.equal(cap.keyAt(1), 'u-2');
    assert.equal(cap.size, 2);
    assert.equal(cap.folded, 0);
    assert.throws(() => cap.keyAt(2), RangeError);
  });

  test('past the cap admitIndex gives every folded value the one index of OTHER, counting each fold', () => {
    const cap = new KeyCap(2);
    cap.admitIndex('a');
    cap.admitIndex('b');
    const other = cap.admitIndex('c');
    assert.equal(cap.keyAt(other), OTHER);
    assert.equal(cap.admitIndex('d'), other);
    assert.equal(cap.otherIndex(), other);
    assert.equal(cap.folded, 2);
    assert.equal(cap.size, 2, "OTHER's index is not an admitted key");
    // A client's own "other" past the cap is folded like any new value, into the same index.
    assert.equal(cap.admitIndex(OTHER), other);
    assert.equal(cap.folded, 3);
    assert.equal(cap.keyOf('c'), OTHER);
  });

  test('indexOf is keyOf as an index: its own for an admitted key, OTHER\'s for any other, never counting', () => {
    const cap = new KeyCap(1);
    const a = cap.admitIndex('a');
    assert.equal(cap.indexOf('a'), a);
    const other = cap.indexOf('never-admitted');
    assert.equal(cap.keyAt(other), OTHER);
    assert.equal(cap.indexOf('another'), other);
    assert.equal(cap.folded, 0);
    assert.equal(cap.size, 1);
  });

  test("a client's own 'other', admitted before the cap, is the index folded values count under", () => {
    const cap = new KeyCap(2);
    const own = cap.admitIndex(OTHER);
    cap.admitIndex('a');
    assert.equal(cap.admitIndex('b'), own);
    assert.equal(cap.otherIndex(), own);
    assert.equal(cap.keyAt(own), OTHER);
    assert.equal(cap.folded, 1);
  });

  test('interns: admit returns the first admitted string for equal keys', () => {
    const cap = new KeyCap(5);
    const first = ['auth', 'service'].join('-');
    cap.admit(first);
    const again = ['auth', 'service'].join('-');
    const got = cap.admit(again);
    assert.equal(got, 'auth-service');
    assert.equal(cap.size, 1);
    assert.equal(cap.cap, 5);
  });
});

describe('bump', () => {
  test('increments and returns the new count', () => {
    const m = new Map<string, number>();
    assert.equal(bump(m, 'x'), 1);
    assert.equal(bump(m, 'x'), 2);
    assert.equal(bump(m, 'x', 5), 7);
    assert.equal(bump(m, 'y', 3), 3);
    assert.deepEqual([...m], [['x', 7], ['y', 3]]);
  });
});

describe('topN', () => {
  test('largest first, limited to n', () => {
    const counts = new Map<string, number>([
      ['a', 3],
      ['b', 10],
      ['c', 1],
      ['d', 7],
      ['e', 5],
    ]);
    assert.deepEqual(topN(counts, 3), [
      ['b', 10],
      ['d', 7],
      ['e', 5],
    ]);
    assert.deepEqual(topN(counts, 1), [['b', 10]]);
  });

  test('n larger than size returns everything sorted', () => {
    const counts: [string, number][] = [
      ['x', 2],
      ['y', 9],
      ['z', 4],
    ];
    assert.deepEqual(topN(counts, 100), [
      ['y', 9],
      ['z', 4],
      ['x', 2],
    ]);
  });

  test('empty input gives empty output', () => {
    assert.deepEqual(topN(new Map<string, number>(), 5), []);
  });

  test('ascending input is fully reordered', () => {
    const counts: [number, number][] = Array.from({ length: 20 }, (_, i): [number, number] => [i, i]);
    assert.deepEqual(
      topN(counts, 4).map(([k]) => k),
      [19, 18, 17, 16],
    );
  });

  // The doc comment promises "largest first, ties by key".
  test('ties are ordered by key regardless of input order', () => {
    const counts: [string, number][] = [
      ['b', 5],
      ['c', 5],
      ['a', 5],
    ];
    assert.deepEqual(topN(counts, 3), [
      ['a', 5],
      ['b', 5],
      ['c', 5],
    ]);
  });

  test('a tie at the cut-off is decided by key, not arrival order', () => {
    const counts: [string, number][] = [
      ['z', 9],
      ['m', 4],
      ['b', 4],
    ];
    assert.deepEqual(topN(counts, 2), [
      ['z', 9],
      ['b', 4],
    ]);
  });
});
