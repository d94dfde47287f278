/**
 * What GET /api/patterns, the `new_pattern` rule and an alert's `top_patterns` read: per
 * pattern, all-time counts per level with first and last event time and the newest message as
 * a sample, and per-minute counts per level over the analytics window. Counted from every
 * accepted log (a LogSink), never sampled: a range's count is the sum of its minutes.
 *
 * The minutes are the analytics' minutes (core/analytics.ts): event time, the same window and
 * skew (windowBounds), so a pattern's count over a range agrees with the dashboard's count of
 * the same logs. A pattern keeps only the minutes it has logs in, oldest first: an entry is a
 * minute and five counts, so a pattern seen every minute of a 60-minute window holds ~60 x 48
 * bytes, one seen once holds one entry.
 */

import type { Level, PatternView } from '../../api-types.js';
import { inWindow, windowBounds, type AnalyticsWindow } from '../analytics.js';
import { LEVELS, levelIndex, type LogSink, type StoredLog } from '../log.js';
import { MINUTE_MS, minuteOf, type Clock } from '../time.js';

/** A pattern's all-time figures, as the durable tier keeps them (core/repository.ts). */
export interface PatternRow {
  id: number;
  service: string;
  /** Template tokens joined by single spaces (`<*>` for a variable). */
  template: string;
  /** Logs per level index (LEVELS order). */
  levels: number[];
  /** Earliest and latest event time counted (epoch ms). */
  firstSeen: number;
  lastSeen: number;
  /** The message of the log with the latest event time. */
  sample: string;
}

/** A pattern's service and current template: the miner's, or a shared store's. */
export type DescribePattern = (id: number) => { service: string; template: string } | undefined;

/**
 * Adds `log` to its pattern's all-time figures in `rows` (by pattern id; a new row takes
 * `describe`'s service and template): what a durable tier's commit adds to its pattern rows.
 * A log without a pattern adds nothing.
 */
export function addToPatternRow(rows: Map<number, PatternRow>, log: StoredLog, describe: DescribePattern): void {
  const id = log.patternId;
  if (id <= 0) return;
  let f = rows.get(id);
  if (f === undefined) {
    const d = describe(id);
    f = { id, service: d?.service ?? log.service, template: d?.template ?? '', levels: [0, 0, 0, 0, 0], firstSeen: log.ts, lastSeen: log.ts, sample: log.message };
    rows.set(id, f);
  }
  f.levels[levelIndex(log.level)]!++;
  if (log.ts < f.firstSeen) f.firstSeen = log.ts;
  if (log.ts >= f.lastSeen) {
    f.lastSeen = log.ts;
    f.sample = log.message;
  }
}

/** A pattern row as both stores keep it, its level counts as columns. */
export interface PatternColumns extends Omit<PatternRow, 'levels'> {
  debug: number;
  info: number;
  warning: number;
  error: number;
  critical: number;
}

/** The row of `c`, its level columns as `levels`. */
export function patternRowOf(c: PatternColumns): PatternRow {
  return { id: c.id, service: c.service, template: c.template, levels: [c.debug, c.info, c.warning, c.error, c.critical], firstSeen: c.firstSeen, lastSeen: c.lastSeen, sample: c.sample };
}

/** One pattern over a range, as GET /api/patterns lists it. */
export type PatternSummary = PatternView;

export interface PatternRange {
  service?: string;
  levels?: readonly Level[];
  /** Event time bounds, epoch ms, inclusive; cut to the window. Default: the whole window. */
  from?: number;
  to?: number;
}

class Figures {
  readonly levels = [0, 0, 0, 0, 0];
  firstSeen = Infinity;
  lastSeen = -Infinity;
  sample = '';
  /** Minutes with logs, ascending, and per minute five counts (LEVELS order) at 5 x its index. */
  readonly minutes: number[] = [];
  readonly counts: number[] = [];
  constructor(
    readonly id: number,
    public service: string,
  ) {}

  /** The count slot of `minute`, made when missing (in order). */
  slot(minute: number): number {
    const m = this.minutes;
    // A pattern seen every minute holds consecutive minutes: the minute's place is its distance
    // from the first. Else (gaps, or a minute not held yet) a binary search.
    const n = m.length;
    if (n > 0) {
      const direct = minute - m[0]!;
      if (direct >= 0 && direct < n && m[direct] === minute) return direct * 5;
    }
    // The first index whose minute is not before `minute` (m.length if none).
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (m[mid]! < minute) lo = mid + 1;
      else hi = mid;
    }
    if (m[lo] === minute) return lo * 5;
    m.splice(lo, 0, minute);
    this.counts.splice(lo * 5, 0, 0, 0, 0, 0, 0);
    return lo * 5;
  }

  /** Drops minutes before `oldest`. */
  prune(oldest: number): void {
    let n = 0;
    while (n < this.minutes.length && this.minutes[n]! < oldest) n++;
    if (n === 0) return;
    this.minutes.splice(0, n);
    this.counts.splice(0, n * 5);
  }

  get total(): number {
    const l = this.levels;
    return l[0]! + l[1]! + l[2]! + l[3]! + l[4]!;
  }
}

export interface PatternStatsOptions {
  window: AnalyticsWindow;
  now: Clock;
  /** The current template and service of a pattern id. */
  describe: DescribePattern;
}

export class PatternStats implements LogSink {
  private readonly byId = new Map<number, Figures>();
  /** The earliest first-seen time of any pattern: when mining began, as far as the counts know. */
  private earliestSeen = Infinity;

  constructor(private readonly options: PatternStatsOptions) {}

  get size(): number {
    return this.byId.size;
  }

  /** Counts each log in its pattern: all-time, and in its minute when the window holds it. */
  append(logs: readonly StoredLog[]): void {
    this.count(logs, true);
  }

  /** Start-up: the window's logs read back from the durable tier, into the minutes only (the all-time figures are restored). */
  replay(logs: readonly StoredLog[]): void {
    this.count(logs, false);
  }

  private count(logs: readonly StoredLog[], allTime: boolean): void {
    const bounds = windowBounds(this.options.now(), this.options.window);
    for (const log of logs) {
      const id = log.patternId;
      if (id <= 0) continue;
      const f = this.figures(id, log.service);
      const level = levelIndex(log.level);
      if (allTime) {
        f.levels[level]!++;
        if (log.ts < f.firstSeen) {
          f.firstSeen = log.ts;
          if (log.ts < this.earliestSeen) this.earliestSeen = log.ts;
        }
        if (log.ts >= f.lastSeen) {
          f.lastSeen = log.ts;
          f.sample = log.message;
        }
      }
      const minute = minuteOf(log.ts);
      if (!inWindow(minute, log.ts, bounds)) continue;
      f.counts[f.slot(minute) + level]!++;
      if (f.minutes[0]! < bounds.oldestMinute) f.prune(bounds.oldestMinute);
    }
  }

  private figures(id: number, service: string): Figures {
    let f = this.byId.get(id);
    if (f === undefined) this.byId.set(id, (f = new Figures(id, this.options.describe(id)?.service ?? service)));
    return f;
  }

  /** All-time figures as the durable tier kept them (summed when several rows name one pattern). */
  restore(rows: Iterable<PatternRow>): void {
    for (const r of rows) {
      const f = this.figures(r.id, r.service);
      for (let l = 0; l < LEVELS.length; l++) f.levels[l]! += r.levels[l] ?? 0;
      if (r.firstSeen < f.firstSeen) f.firstSeen = r.firstSeen;
      if (r.firstSeen < this.earliestSeen) this.earliestSeen = r.firstSeen;
      if (r.lastSeen >= f.lastSeen) {
        f.lastSeen = r.lastSeen;
        f.sample = r.sample;
      }
    }
  }

  /** Per-minute counts read back from a shared store: `count` logs of level index `level` of pattern `id` in `minute`. */
  loadMinute(minute: number, id: number, level: number, count: number): void {
    const { oldestMinute } = windowBounds(this.options.now(), this.options.window);
    if (minute < oldestMinute) return;
    const f = this.byId.get(id);
    if (f === undefined) return;
    f.counts[f.slot(minute) + level]! += count;
  }

  /** Pattern `id`'s all-time figures. */
  row(id: number): PatternRow | undefined {
    const f = this.byId.get(id);
    if (f === undefined) return undefined;
    return { id, service: f.service, template: this.options.describe(id)?.template ?? '', levels: [...f.levels], firstSeen: f.firstSeen, lastSeen: f.lastSeen, sample: f.sample };
  }

  /** The range's minutes, cut to the window: [first, last] epoch minutes (first > last when empty). */
  private minutesOf(r: PatternRange): [number, number] {
    const now = this.options.now();
    const { oldestMinute, latestTs } = windowBounds(now, this.options.window);
    const first = Math.max(oldestMinute, r.from === undefined ? oldestMinute : minuteOf(r.from));
    // By default up to the clock's minute; a `to` ahead of it reaches as far as the allowed skew.
    const last = Math.min(minuteOf(latestTs), r.to === undefined ? minuteOf(now) : minuteOf(r.to));
    return [first, last];
  }

  /** The range's bounds as counted: the start of its first minute and the end of its last (epoch ms). */
  bounds(r: PatternRange): { from: number; to: number } {
    const [first, last] = this.minutesOf(r);
    return { from: first * MINUTE_MS, to: Math.max(first, last + 1) * MINUTE_MS - 1 };
  }

  /**
   * The patterns with logs in the range (minutes of event time; a bound inside a minute counts
   * that whole minute), most logs first, ties by id. Exact: every log counted, none sampled.
   */
  list(r: PatternRange, limit: number): PatternSummary[] {
    const [first, last] = this.minutesOf(r);
    const mask = r.levels && r.levels.length > 0 ? r.levels.reduce((m, l) => m | (1 << levelIndex(l)), 0) : 31;
    const span = Math.max(0, last - first + 1);
    const found: { f: Figures; count: number; perLevel: number[] }[] = [];
    for (const f of this.byId.values()) {
      if (r.service !== undefined && f.service !== r.service) continue;
      let count = 0;
      let perLevel: number[] | undefined;
      const m = f.minutes;
      for (let i = 0; i < m.length; i++) {
        if (m[i]! < first || m[i]! > last) continue;
        for (let l = 0; l < 5; l++) {
          const c = f.counts[i * 5 + l]!;
          if (c === 0 || ((mask >> l) & 1) === 0) continue;
          count += c;
          (perLevel ??= [0, 0, 0, 0, 0])[l]! += c;
        }
      }
      if (count > 0) found.push({ f, count, perLevel: perLevel! });
    }
    found.sort((a, b) => b.count - a.count || a.f.id - b.f.id);
    return found.slice(0, limit).map(({ f, count, perLevel }) => {
      const perMinute = new Array<number>(span).fill(0);
      for (let i = 0; i < f.minutes.length; i++) {
        const minute = f.minutes[i]!;
        if (minute < first || minute > last) continue;
        let c = 0;
        for (let l = 0; l < 5; l++) if (((mask >> l) & 1) === 1) c += f.counts[i * 5 + l]!;
        perMinute[minute - first] = c;
      }
      const levels: Partial<Record<Level, number>> = {};
      for (let l = 0; l < 5; l++) if (perLevel[l]! > 0) levels[LEVELS[l]!] = perLevel[l]!;
      return {
        id: f.id,
        service: f.service,
        template: this.options.describe(f.id)?.template ?? '',
        count,
        total: f.total,
        levels,
        first_seen: new Date(f.firstSeen).toISOString(),
        last_seen: new Date(f.lastSeen).toISOString(),
        per_minute: perMinute,
        sample: f.sample,
        new: f.firstSeen >= first * MINUTE_MS,
      };
    });
  }

  /** The earliest event time any pattern was first seen at; Infinity before the first. */
  get earliest(): number {
    return this.earliestSeen;
  }

  /** The event time pattern `id` was first seen at; -Infinity for a pattern not counted. */
  firstSeen(id: number): number {
    return this.byId.get(id)?.firstSeen ?? -Infinity;
  }

  /** Logs of pattern `id` at a level of `mask` (bits of level indexes) in the minutes from `fromMinute` to `toMinute`. */
  countSince(id: number, mask: number, fromMinute: number, toMinute = Infinity): number {
    const f = this.byId.get(id);
    if (f === undefined) return 0;
    let count = 0;
    for (let i = 0; i < f.minutes.length; i++) {
      if (f.minutes[i]! < fromMinute || f.minutes[i]! > toMinute) continue;
      for (let l = 0; l < 5; l++) if (((mask >> l) & 1) === 1) count += f.counts[i * 5 + l]!;
    }
    return count;
  }

  /** The patterns first seen at or after `since` (epoch ms): what the `new_pattern` rule looks at. */
  firstSeenSince(since: number): number[] {
    const out: number[] = [];
    for (const f of this.byId.values()) if (f.firstSeen >= since) out.push(f.id);
    return out;
  }
}
