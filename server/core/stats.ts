import type { KeyNames } from './key-cap.js';
import { LEVELS, isErrorLevel, levelIndex, type LogSink, type StoredLog } from './log.js';

/** One service's all-time counters. */
export interface ServiceCounts {
  count: number;
  /** Latest event time seen (epoch ms). */
  lastEvent: number;
  /** Latest server receive time (epoch ms): liveness a client cannot fake. */
  lastSeen: number;
}

/** All-time counters over every accepted log: answered from counters, never by a scan. */
export class LogStats implements LogSink {
  total = 0;
  errors = 0;
  readonly perLevel: number[] = LEVELS.map(() => 0);
  /** Per service key (a service, or OTHER past the cap), in the order first seen. */
  readonly services = new Map<string, ServiceCounts>();
  /** The same records by service index (`StoredLog.serviceIndex`): a log costs an array read, not a map lookup. */
  private readonly byIndex: (ServiceCounts | undefined)[] = [];

  /** @param names names the service indexes logs carry: the services' cardinality cap. */
  constructor(private readonly names: KeyNames) {}

  append(logs: readonly StoredLog[]): void {
    for (const log of logs) {
      this.total++;
      if (isErrorLevel(log.level)) this.errors++;
      this.perLevel[levelIndex(log.level)]!++;
      const c = this.byIndex[log.serviceIndex] ?? this.record(log.serviceIndex);
      c.count++;
      if (log.ts > c.lastEvent) c.lastEvent = log.ts;
      c.lastSeen = log.receivedAt;
    }
  }

  /** The record of a service index seen for the first time since start-up (restored from disk, or new). */
  private record(index: number): ServiceCounts {
    const c = this.named(this.names.keyAt(index));
    this.byIndex[index] = c;
    return c;
  }

  /** The record of a service key, made empty if there is none yet. */
  private named(service: string): ServiceCounts {
    let c = this.services.get(service);
    if (c === undefined) {
      c = { count: 0, lastEvent: Number.NEGATIVE_INFINITY, lastSeen: Number.NEGATIVE_INFINITY };
      this.services.set(service, c);
    }
    return c;
  }

  /** Adds persisted counts for one (service key, level index) at start-up. */
  restore(service: string, level: number, count: number, lastTs: number, lastReceived: number): void {
    this.total += count;
    if (isErrorLevel(LEVELS[level]!)) this.errors += count;
    this.perLevel[level]! += count;
    const c = this.named(service);
    c.count += count;
    if (lastTs > c.lastEvent) c.lastEvent = lastTs;
    if (lastReceived > c.lastSeen) c.lastSeen = lastReceived;
  }

  /** Logs per service key. */
  countPerService(): Record<string, number> {
    return Object.fromEntries([...this.services].map(([s, c]) => [s, c.count]));
  }

  /** The latest event time per service key, written by `format`. */
  lastEventPerService(format: (ms: number) => string): Record<string, string> {
    return Object.fromEntries([...this.services].map(([s, c]) => [s, format(c.lastEvent)]));
  }

  levelCounts(): Record<string, number> {
    return Object.fromEntries(LEVELS.map((l, i) => [l, this.perLevel[i]!]));
  }
}
