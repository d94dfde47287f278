import type { ErrorTrendPoint, LevelsPoint, TimePoint } from '../api-types.js';
import { errorRate, roundRatio } from './error-rate.js';
import { LEVELS, isErrorLevel, levelIndex, type LogSink, type StoredLog } from './log.js';
import { bump, topN, type KeyNames } from './key-cap.js';
import { MINUTE_MS, minuteKey, minuteOf, type Clock } from './time.js';

export interface ServiceCount {
  total: number;
  errors: number;
}

/** A service's count in one minute bucket: `replayed` of `total` came from the start-up replay, not from a client since. */
interface MinuteServiceCount extends ServiceCount {
  replayed: number;
}

export interface ServiceWindow extends ServiceCount {
  /** The epoch minute with most logs (format with minuteKey), or null when the service sent none. */
  peakMinute: number | null;
  peakCount: number;
  /** The same, counting only logs this process received (not those replayed at start-up). */
  livePeakMinute: number | null;
  livePeakCount: number;
}

/** `counts` grown to hold `index` (doubling, so growth is amortized O(1) per user). */
function grownFor(counts: Int32Array<ArrayBuffer>, index: number): Int32Array<ArrayBuffer> {
  let length = counts.length;
  while (length <= index) length *= 2;
  const grown = new Int32Array(length);
  grown.set(counts);
  return grown;
}

/**
 * Logs per user in one minute, by user index (`StoredLog.userIndex`): a count is an array
 * element, so a log costs no map lookup (a count map's lookups were 4 % of batch ingest, most
 * of it cache misses in maps the parsing keeps evicting). Indexes are dense (the users' cap
 * hands them out from 0), so the array stays as long as the users admitted.
 */
export class UserCounts implements Iterable<[number, number]> {
  private counts = new Int32Array(16);
  /** The indexes counted since the last clear, in first-seen order. */
  private readonly present: number[] = [];

  add(index: number, by = 1): void {
    if (index >= this.counts.length) this.counts = grownFor(this.counts, index);
    if (this.counts[index] === 0) this.present.push(index);
    this.counts[index]! += by;
  }

  clear(): void {
    for (const index of this.present) this.counts[index] = 0;
    this.present.length = 0;
  }

  /** [user index, count] for each user counted, in first-seen order. */
  *[Symbol.iterator](): Iterator<[number, number]> {
    for (const index of this.present) yield [index, this.counts[index]!];
  }
}

/** One minute of event time. Reused in place when its slot comes round again. */
class MinuteBucket {
  minute = Number.NaN;
  total = 0;
  errors = 0;
  readonly levels: number[] = LEVELS.map(() => 0);
  /** Per service key; `byIndex` holds the same records by service index, for the ingest path. */
  readonly services = new Map<string, MinuteServiceCount>();
  readonly byIndex: (MinuteServiceCount | undefined)[] = [];
  readonly users = new UserCounts();

  reset(minute: number): void {
    this.minute = minute;
    this.total = 0;
    this.errors = 0;
    this.levels.fill(0);
    this.services.clear();
    this.byIndex.length = 0;
    this.users.clear();
  }
}

/**
 * Per-user counts summed over the minutes from..to (the last `length` minutes up to the
 * clock's). Minutes are folded in as they enter and out as they leave; appends to a minute
 * inside the range are counted by the owner as they happen.
 */
class UserWindow {
  /** Logs per user index over the window. */
  private counts = new Int32Array(16);
  from = Number.NaN;
  to = Number.NaN;

  constructor(
    readonly length: number,
    private readonly bucketOf: (minute: number) => MinuteBucket | undefined,
  ) {}

  add(index: number, by: number): void {
    if (index >= this.counts.length) this.counts = grownFor(this.counts, index);
    this.counts[index]! += by;
  }

  /** [user index, count] for each user with logs in the window. */
  *entries(): Generator<[number, number]> {
    for (let index = 0; index < this.counts.length; index++) if (this.counts[index]! > 0) yield [index, this.counts[index]!];
  }

  sync(current: number): void {
    const from = current - this.length + 1;
    if (current === this.to) return;
    if (Number.isNaN(this.to) || current < this.to || from > this.to) {
      // First use, a clock that went back, or a window that moved past everything folded: start over.
      this.counts.fill(0);
      for (let m = from; m <= current; m++) this.fold(m, 1);
    } else {
      // A minute leaving still sits in its slot: a slot is reused only by a minute more than a whole window ahead.
      for (let m = this.from; m < from; m++) this.fold(m, -1);
      for (let m = this.to + 1; m <= current; m++) this.fold(m, 1);
    }
    this.from = from;
    this.to = current;
  }

  private fold(minute: number, sign: 1 | -1): void {
    const b = this.bucketOf(minute);
    if (b === undefined) return;
    for (const [index, c] of b.users) this.add(index, sign * c);
  }
}

/** Which event times a log arriving at some moment is counted under: the window's length and the skew allowed ahead. */
export interface AnalyticsWindow {
  /** Minutes of history kept, ending at the clock's current minute. */
  maxBuckets: number;
  /** How far ahead of the clock an event time may be and still be counted in a bucket. */
  futureSkewMs: number;
}

/**
 * The bounds a log arriving at `now` is counted within: its event-time minute not before
 * `oldestMinute`, its event time not after `latestTs`. Outside them it is out of the window.
 * The one statement of the rule, for these buckets and for a shared store's minute table.
 */
export function windowBounds(now: number, w: AnalyticsWindow): WindowBounds {
  return { oldestMinute: minuteOf(now) - w.maxBuckets + 1, latestTs: now + w.futureSkewMs };
}

export interface WindowBounds {
  oldestMinute: number;
  latestTs: number;
}

/** Whether a log of event time `ts` (in minute `minute`, `minuteOf(ts)`) is inside `bounds`. */
export function inWindow(minute: number, ts: number, bounds: WindowBounds): boolean {
  return minute >= bounds.oldestMinute && ts <= bounds.latestTs;
}

export interface AnalyticsOptions {
  /** Minutes of history kept, ending at the clock's current minute. */
  maxBuckets: number;
  /** How far ahead of the clock an event time may be and still be counted in a bucket. */
  futureSkewMs: number;
  now: Clock;
  /** Names the service indexes logs carry (`StoredLog.serviceIndex`): the services' cardinality cap. */
  services: KeyNames;
  /** The same for user indexes (`StoredLog.userIndex`): the users' cap. */
  users: KeyNames;
}

/**
 * Per-minute analytics over event time. Buckets live in a circular array indexed by epoch
 * minute, so a bucket is found in O(1) and the window is always "the last N minutes of the
 * clock", never "the last N buckets inserted". A log outside the window (late, or further in
 * the future than the allowed skew) is counted in `outOfWindow` and touches no bucket.
 */
export class Analytics implements LogSink {
  private readonly slots: MinuteBucket[];
  outOfWindow = 0;
  /**
   * Per-user counts over the last N minutes for the few N the dashboard asks for, kept current
   * as logs arrive and minutes leave, so its top users cost O(users), not O(minutes × users).
   */
  private readonly userWindows = new Map<number, UserWindow>();
  static readonly MAX_USER_WINDOWS = 4;

  constructor(private readonly options: AnalyticsOptions) {
    const futureMinutes = Math.ceil(options.futureSkewMs / MINUTE_MS);
    this.slots = Array.from({ length: options.maxBuckets + futureMinutes + 1 }, () => new MinuteBucket());
  }

  get maxBuckets(): number {
    return this.options.maxBuckets;
  }

  append(logs: readonly StoredLog[]): void {
    this.count(logs, false);
  }

  /**
   * Start-up: logs read back from the durable tier into the window, counted like any others,
   * and marked as replayed in their minute so the volume rule does not fire on them again.
   */
  replay(logs: readonly StoredLog[]): void {
    this.count(logs, true);
  }

  private count(logs: readonly StoredLog[], replayed: boolean): void {
    const now = this.options.now();
    for (const w of this.userWindows.values()) w.sync(minuteOf(now));
    const bounds = windowBounds(now, this.options);
    for (const log of logs) {
      const minute = minuteOf(log.ts);
      if (!inWindow(minute, log.ts, bounds)) {
        this.outOfWindow++;
        continue;
      }
      const bucket = this.slots[minute % this.slots.length]!;
      if (bucket.minute !== minute) bucket.reset(minute);
      bucket.total++;
      const error = isErrorLevel(log.level);
      if (error) bucket.errors++;
      bucket.levels[levelIndex(log.level)]!++;
      const sc = bucket.byIndex[log.serviceIndex] ?? this.serviceCount(bucket, log.serviceIndex);
      sc.total++;
      if (error) sc.errors++;
      if (replayed) sc.replayed++;
      const user = log.userIndex;
      if (user >= 0) {
        bucket.users.add(user);
        for (const w of this.userWindows.values()) if (minute >= w.from && minute <= w.to) w.add(user, 1);
      }
    }
  }

  /**
   * Counts read back from a shared store rather than counted here: `count` logs of level
   * index `level` for a service index in `minute` (every replica's, summed). Minutes outside
   * the window are left out, as a log there would be.
   */
  load(minute: number, serviceIndex: number, level: number, count: number): void {
    const bucket = this.held(minute);
    if (bucket === undefined) return;
    bucket.total += count;
    const error = isErrorLevel(LEVELS[level]!);
    if (error) bucket.errors += count;
    bucket.levels[level]! += count;
    const sc = bucket.byIndex[serviceIndex] ?? this.serviceCount(bucket, serviceIndex);
    sc.total += count;
    if (error) sc.errors += count;
  }

  /** `load` for a user's count in a minute. */
  loadUser(minute: number, userIndex: number, count: number): void {
    const bucket = this.held(minute);
    if (bucket === undefined) return;
    bucket.users.add(userIndex, count);
    for (const w of this.userWindows.values()) if (minute >= w.from && minute <= w.to) w.add(userIndex, count);
  }

  /** The bucket for `minute` (made ready) when the window holds it. */
  private held(minute: number): MinuteBucket | undefined {
    const current = minuteOf(this.options.now());
    if (minute < current - this.options.maxBuckets + 1 || minute > current + this.slots.length - this.options.maxBuckets - 1) return undefined;
    const bucket = this.slots[minute % this.slots.length]!;
    if (bucket.minute !== minute) bucket.reset(minute);
    return bucket;
  }

  /** A new record for a service index in a bucket, under both its key and its index. */
  private serviceCount(bucket: MinuteBucket, index: number): MinuteServiceCount {
    const c: MinuteServiceCount = { total: 0, errors: 0, replayed: 0 };
    bucket.services.set(this.options.services.keyAt(index), c);
    bucket.byIndex[index] = c;
    return c;
  }

  /** The bucket of `minute` if it holds data for that minute. */
  private bucket(minute: number): MinuteBucket | undefined {
    const b = this.slots[minute % this.slots.length]!;
    return b.minute === minute ? b : undefined;
  }

  /** Calls `fn` for each of the last `minutes` minutes ending at the clock's minute, oldest first. */
  private eachMinute(minutes: number, fn: (minute: number, bucket: MinuteBucket | undefined) => void): void {
    const current = minuteOf(this.options.now());
    const n = Math.min(minutes, this.options.maxBuckets);
    for (let m = current - n + 1; m <= current; m++) fn(m, this.bucket(m));
  }

  /** Exactly `minutes` consecutive minutes ending now, oldest first, zeros where empty. */
  timeSeries(minutes: number): TimePoint[] {
    const out: TimePoint[] = [];
    this.eachMinute(minutes, (m, b) => out.push({ time: minuteKey(m), total: b?.total ?? 0, errors: b?.errors ?? 0 }));
    return out;
  }

  /** The minutes of `timeSeries`, counted by level. */
  levelsPerMinute(minutes: number): LevelsPoint[] {
    const out: LevelsPoint[] = [];
    this.eachMinute(minutes, (m, b) => {
      const l = b?.levels;
      out.push({ time: minuteKey(m), counts: { DEBUG: l?.[0] ?? 0, INFO: l?.[1] ?? 0, WARNING: l?.[2] ?? 0, ERROR: l?.[3] ?? 0, CRITICAL: l?.[4] ?? 0 } });
    });
    return out;
  }

  /** First and last minute with data in the window, or nulls when the window is empty. */
  timeRange(): { first: string | null; last: string | null } {
    let first: number | null = null;
    let last: number | null = null;
    this.eachMinute(this.options.maxBuckets, (m, b) => {
      if (b === undefined || b.total === 0) return;
      first ??= m;
      last = m;
    });
    return { first: first === null ? null : minuteKey(first), last: last === null ? null : minuteKey(last) };
  }

  /** Totals per service over the last `minutes` minutes. */
  serviceCounts(minutes: number): Map<string, ServiceCount> {
    const out = new Map<string, ServiceCount>();
    this.eachMinute(minutes, (_m, b) => {
      if (b === undefined) return;
      for (const [service, c] of b.services) {
        const acc = out.get(service);
        if (acc === undefined) out.set(service, { total: c.total, errors: c.errors });
        else {
          acc.total += c.total;
          acc.errors += c.errors;
        }
      }
    });
    return out;
  }

  /**
   * One service over the last `minutes` minutes: totals, and its busiest minute (what the
   * volume rule compares with its per-minute threshold). O(minutes).
   */
  serviceWindow(service: string, minutes: number): ServiceWindow {
    const w: ServiceWindow = { total: 0, errors: 0, peakMinute: null, peakCount: 0, livePeakMinute: null, livePeakCount: 0 };
    const current = minuteOf(this.options.now());
    for (let m = current - Math.min(minutes, this.options.maxBuckets) + 1; m <= current; m++) {
      const c = this.bucket(m)?.services.get(service);
      if (c === undefined) continue;
      w.total += c.total;
      w.errors += c.errors;
      if (c.total > w.peakCount) {
        w.peakCount = c.total;
        w.peakMinute = m;
      }
      if (c.total - c.replayed > w.livePeakCount) {
        w.livePeakCount = c.total - c.replayed;
        w.livePeakMinute = m;
      }
    }
    return w;
  }

  /** All services together over the last `minutes` minutes. O(minutes). */
  windowTotals(minutes: number): ServiceCount {
    const w: ServiceCount = { total: 0, errors: 0 };
    const current = minuteOf(this.options.now());
    for (let m = current - Math.min(minutes, this.options.maxBuckets) + 1; m <= current; m++) {
      const b = this.bucket(m);
      if (b === undefined) continue;
      w.total += b.total;
      w.errors += b.errors;
    }
    return w;
  }

  /** The `n` users with most logs in the last `minutes` minutes. */
  topUsers(minutes: number, n: number): { user_id: string; count: number }[] {
    const length = Math.min(minutes, this.options.maxBuckets);
    let w = this.userWindows.get(length);
    if (w === undefined && this.userWindows.size < Analytics.MAX_USER_WINDOWS) {
      w = new UserWindow(length, (m) => this.bucket(m));
      this.userWindows.set(length, w);
    }
    if (w !== undefined) {
      w.sync(minuteOf(this.options.now()));
      return topN(this.named(w.entries()), n).map(([user_id, count]) => ({ user_id, count }));
    }
    return this.topUsersByMerge(minutes, n);
  }

  /** The reference for `topUsers`: sums the minute buckets on every call. Used past MAX_USER_WINDOWS window lengths. */
  topUsersByMerge(minutes: number, n: number): { user_id: string; count: number }[] {
    const sums = new Map<number, number>();
    this.eachMinute(minutes, (_m, b) => {
      if (b !== undefined) for (const [user, c] of b.users) bump(sums, user, c);
    });
    return topN(this.named(sums), n).map(([user_id, count]) => ({ user_id, count }));
  }

  /** Counts by user index as counts by user id (which topN breaks ties by). */
  private *named(counts: Iterable<[number, number]>): Generator<[string, number]> {
    for (const [index, count] of counts) yield [this.options.users.keyAt(index), count];
  }
}

/** The error rate of each point of a time series. */
export function errorTrendsOf(series: readonly TimePoint[]): ErrorTrendPoint[] {
  return series.map((p) => ({ time: p.time, error_rate: roundRatio(errorRate(p)) }));
}
