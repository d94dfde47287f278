/**
 * The most recent `capacity` items, oldest dropped first: the resolved alerts GET /api/alerts
 * lists (`alerting.history_size`). Small and rarely written, so a plain array.
 */
export class History<T> {
  private readonly items: T[] = [];

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
  }

  get size(): number {
    return this.items.length;
  }

  clear(): void {
    this.items.length = 0;
  }

  push(item: T): void {
    this.items.push(item);
    if (this.items.length > this.capacity) this.items.shift();
  }

  /** Every item held, newest first. */
  newestFirst(): T[] {
    return this.items.toReversed();
  }
}
