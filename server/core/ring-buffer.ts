/**
 * A fixed-capacity FIFO: append is O(1); when full, the oldest item is overwritten.
 * Logical index 0 is the oldest item held, size - 1 the newest.
 */
export class RingBuffer<T> {
  private items: (T | undefined)[];
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
    this.items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Appends and returns the item that fell out, if the buffer was full. */
  push(item: T): T | undefined {
    const slot = (this.head + this.count) % this.capacity;
    if (this.count < this.capacity) {
      this.items[slot] = item;
      this.count++;
      return undefined;
    }
    const evicted = this.items[this.head];
    this.items[this.head] = item;
    this.head = (this.head + 1) % this.capacity;
    return evicted;
  }

  /** The item at logical index i (0 = oldest); undefined outside 0..size-1. */
  at(i: number): T | undefined {
    if (i < 0 || i >= this.count) return undefined;
    return this.items[(this.head + i) % this.capacity];
  }

  newest(): T | undefined {
    return this.at(this.count - 1);
  }

  clear(): void {
    this.items = new Array<T | undefined>(this.capacity);
    this.head = 0;
    this.count = 0;
  }
}
