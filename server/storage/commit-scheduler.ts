import type { CommitObserver } from '../core/repository.js';

/** One append waiting for its commit. */
interface Waiting<T> {
  item: T;
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface CommitSchedulerOptions {
  /** A commit starts at once, without waiting for the rest of the event-loop turn, when this many rows are waiting. */
  maxRows: number;
  /**
   * How long a commit may wait for more rows before it starts (0: it starts at the end of the
   * current event-loop turn). Worth raising only when each commit is slow on its own (an fsync
   * per commit), so fewer, larger commits pay off even for a lone client.
   */
  gatherMs: number;
  /** Commits that may be under way at once (an engine with a connection pool commits groups side by side). */
  maxInFlight: number;
}

/**
 * Groups concurrent appends into shared commits, for both durable engines. A lone client's
 * append is committed at the end of the event-loop turn it arrived in: nothing waits for a
 * timer. Appends that arrive while the engine is busy (every commit slot taken, or in the
 * same turn as others) wait and share the next commit, so grouping happens only under load,
 * and grows with it. Each append's promise settles with its own commit's outcome.
 */
export class CommitScheduler<T> {
  private waiting: Waiting<T>[] = [];
  private waitingRows = 0;
  private inFlight = 0;
  /** A commit is scheduled for the end of this turn (or after gatherMs). */
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly idle = new Set<() => void>();
  private observer: CommitObserver | undefined;

  /**
   * @param commit commits a group in one transaction; it throws (or rejects) when nothing in the group was committed.
   * @param rowsOf how many logs an item holds (for maxRows and the observer).
   */
  constructor(
    private readonly commit: (items: readonly T[]) => void | Promise<void>,
    private readonly rowsOf: (item: T) => number,
    private readonly options: CommitSchedulerOptions,
  ) {}

  /** Tells `observer` (none: nobody) about every commit from now on. */
  observe(observer: CommitObserver | undefined): void {
    this.observer = observer;
  }

  /** Resolves once `item` is committed; rejects with the commit's error when its group failed. */
  submit(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.waitingRows += this.rowsOf(item);
      if (this.waitingRows >= this.options.maxRows) this.start();
      else this.schedule();
    });
  }

  /** Rows waiting for a commit that has not started. */
  get pendingRows(): number {
    return this.waitingRows;
  }

  /** Commits everything waiting and resolves when no commit is under way. */
  async drain(): Promise<void> {
    clearTimeout(this.timer);
    this.scheduled = false;
    while (this.waiting.length > 0 || this.inFlight > 0) {
      if (this.waiting.length > 0 && this.inFlight < this.options.maxInFlight) this.start();
      else await new Promise<void>((resolve) => this.idle.add(resolve));
    }
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = (): void => {
      this.scheduled = false;
      this.timer = undefined;
      this.start();
    };
    if (this.options.gatherMs > 0) this.timer = setTimeout(run, this.options.gatherMs);
    else setImmediate(run);
  }

  /** Starts a commit of everything waiting when a slot is free; otherwise the next finishing commit starts it. */
  private start(): void {
    if (this.waiting.length === 0 || this.inFlight >= this.options.maxInFlight) return;
    const group = this.waiting;
    const rows = this.waitingRows;
    this.waiting = [];
    this.waitingRows = 0;
    this.inFlight++;
    const observer = this.observer;
    const started = observer === undefined ? 0 : performance.now();
    const done = (err: unknown): void => {
      this.inFlight--;
      if (err === undefined) {
        observer?.committed(rows, (performance.now() - started) / 1000);
        for (const w of group) w.resolve();
      } else {
        observer?.failed(rows);
        for (const w of group) w.reject(err as Error);
      }
      // What arrived meanwhile goes at once: it has waited a whole commit already.
      if (this.waiting.length > 0) this.start();
      // drain() looks again at what is left.
      for (const wake of this.idle) wake();
      this.idle.clear();
    };
    let result: void | Promise<void>;
    try {
      result = this.commit(group.map((w) => w.item));
    } catch (e) {
      done(e);
      return;
    }
    if (result instanceof Promise) result.then(() => done(undefined), done);
    else done(undefined);
  }
}
