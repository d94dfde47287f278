import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { History } from '../../server/core/alerting/history.js';

describe('History (resolved alerts kept)', () => {
  test('below capacity it keeps every item, newest first', () => {
    const h = new History<number>(3);
    assert.equal(h.size, 0);
    assert.deepEqual(h.newestFirst(), []);
    for (const n of [1, 2, 3]) h.push(n);
    assert.equal(h.size, 3);
    assert.equal(h.capacity, 3);
    assert.deepEqual(h.newestFirst(), [3, 2, 1]);
  });

  test('past capacity the oldest go first, in FIFO order', () => {
    const h = new History<string>(3);
    for (const s of ['a', 'b', 'c', 'd']) h.push(s);
    assert.deepEqual(h.newestFirst(), ['d', 'c', 'b']);
    h.push('e');
    assert.deepEqual(h.newestFirst(), ['e', 'd', 'c']);
    assert.equal(h.size, 3);
  });

  test('capacity 1 holds exactly the latest item', () => {
    const h = new History<number>(1);
    for (const n of [1, 2, 3]) h.push(n);
    assert.equal(h.size, 1);
    assert.deepEqual(h.newestFirst(), [3]);
  });

  test('many pushes keep the last `capacity` items in order', () => {
    const h = new History<number>(7);
    for (let i = 0; i < 1000; i++) h.push(i);
    assert.equal(h.size, 7);
    assert.deepEqual(h.newestFirst(), [999, 998, 997, 996, 995, 994, 993]);
  });

  test('reading does not change what is held', () => {
    const h = new History<number>(2);
    h.push(1);
    h.newestFirst().push(99);
    assert.deepEqual(h.newestFirst(), [1]);
  });

  test('bad capacity throws RangeError', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => new History<number>(bad), RangeError, `capacity ${bad}`);
    }
  });
});
