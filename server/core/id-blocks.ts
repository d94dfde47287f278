/**
 * Log ids when several servers write one store: each reserves ranges of ids from the store
 * (`reserve`, atomic there) and hands them out itself, so ids are unique across servers and
 * increasing on each, with one round trip per range rather than per log. The next range is
 * fetched while half of the current one is left, so ingest seldom waits for it. Ids a server
 * reserved and did not use (it stopped) are never used: ids have gaps, never duplicates.
 */
export class IdBlocks {
  /** Ranges held, oldest first, as [next id, last id] pairs. */
  private readonly ranges: [number, number][] = [];
  private held = 0;
  private fetching: Promise<void> | undefined;
  private last = 0;

  /**
   * @param reserve reserves `count` fresh ids in the store; resolves to the last of them (the range is `last - count + 1 .. last`).
   * @param blockSize ids reserved at a time (more when a batch needs more).
   */
  constructor(
    private readonly reserve: (count: number) => Promise<number>,
    private readonly blockSize: number,
  ) {}

  /** Ids on hand. */
  get available(): number {
    return this.held;
  }

  /** The last id handed out (0 before the first). */
  get lastId(): number {
    return this.last;
  }

  /** Resolves once at least `n` ids are on hand; rejects when the store cannot reserve any. */
  async ensure(n: number): Promise<void> {
    while (this.held < n) await this.fetch(Math.max(this.blockSize, n - this.held));
    if (this.held < this.blockSize / 2 && this.fetching === undefined) {
      // Ahead of need; a failure here is met again by the next ensure that needs the ids.
      this.fetch(this.blockSize).catch(() => {});
    }
  }

  /** The next id; `ensure` must have made it available. */
  next(): number {
    const range = this.ranges[0];
    if (range === undefined) throw new Error('no ids reserved: await ensure() first');
    const id = range[0]++;
    if (range[0] > range[1]) this.ranges.shift();
    this.held--;
    this.last = id;
    return id;
  }

  private fetch(count: number): Promise<void> {
    // One reservation at a time: a second caller waits for it and then looks again.
    this.fetching ??= this.reserve(count)
      .then((last) => {
        this.ranges.push([last - count + 1, last]);
        this.held += count;
      })
      .finally(() => {
        this.fetching = undefined;
      });
    return this.fetching;
  }
}
