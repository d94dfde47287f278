import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { RingBuffer } from '../../server/core/ring-buffer.js';

/** Every item held, oldest first, read through the public at(). */
function contents<T>(rb: RingBuffer<T>): T[] {
  const out: T[] = [];
  for (let i = 0; i < rb.size; i++) out.push(rb.at(i) as T);
  return out;
}

describe('RingBuffer', () => {
  test('push below capacity keeps insertion order and evicts nothing', () => {
    const rb = new RingBuffer<number>(3);
    assert.equal(rb.size, 0);
    assert.equal(rb.push(1), undefined);
    assert.equal(rb.push(2), undefined);
    assert.equal(rb.push(3), undefined);
    assert.equal(rb.size, 3);
    assert.equal(rb.capacity, 3);
    assert.deepEqual(contents(rb), [1, 2, 3]);
  });

  test('push when full evicts and returns the oldest, in FIFO order', () => {
    const rb = new RingBuffer<string>(3);
    for (const s of ['a', 'b', 'c']) rb.push(s);
    assert.equal(rb.push('d'), 'a');
    assert.equal(rb.push('e'), 'b');
    assert.deepEqual(contents(rb), ['c', 'd', 'e']);
    assert.equal(rb.size, 3);
  });

  test('at() is logical (0 = oldest) and undefined outside 0..size-1', () => {
    const rb = new RingBuffer<number>(4);
    for (let i = 1; i <= 6; i++) rb.push(i); // holds 3,4,5,6
    assert.equal(rb.at(0), 3);
    assert.equal(rb.at(3), 6);
    assert.equal(rb.at(4), undefined);
    assert.equal(rb.at(-1), undefined);
    const empty = new RingBuffer<number>(2);
    assert.equal(empty.at(0), undefined);
  });

  test('newest() returns the last pushed item, undefined when empty', () => {
    const rb = new RingBuffer<number>(2);
    assert.equal(rb.newest(), undefined);
    rb.push(10);
    assert.equal(rb.newest(), 10);
    rb.push(20);
    rb.push(30);
    assert.equal(rb.newest(), 30);
    assert.equal(rb.at(0), 20);
  });

  test('capacity 1 holds exactly the latest item', () => {
    const rb = new RingBuffer<number>(1);
    assert.equal(rb.push(1), undefined);
    assert.equal(rb.push(2), 1);
    assert.equal(rb.push(3), 2);
    assert.equal(rb.size, 1);
    assert.equal(rb.at(0), 3);
    assert.equal(rb.newest(), 3);
    assert.equal(rb.at(1), undefined);
  });

  test('wraparound many times keeps the last `capacity` items in order', () => {
    const cap = 7;
    const rb = new RingBuffer<number>(cap);
    const evicted: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const e = rb.push(i);
      if (e !== undefined) evicted.push(e);
    }
    assert.equal(rb.size, cap);
    assert.deepEqual(contents(rb), [993, 994, 995, 996, 997, 998, 999]);
    assert.equal(evicted.length, 1000 - cap);
    assert.deepEqual(evicted.slice(0, 3), [0, 1, 2]);
    assert.equal(evicted[evicted.length - 1], 992);
  });

  test('clear empties the buffer and it is reusable', () => {
    const rb = new RingBuffer<number>(3);
    for (let i = 1; i <= 5; i++) rb.push(i);
    rb.clear();
    assert.equal(rb.size, 0);
    assert.equal(rb.at(0), undefined);
    assert.equal(rb.newest(), undefined);
    assert.equal(rb.push(7), undefined);
    assert.deepEqual(contents(rb), [7]);
  });

  test('bad capacity throws RangeError', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => new RingBuffer<number>(bad), RangeError, `capacity ${bad}`);
    }
  });
});
