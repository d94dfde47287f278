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
  /** Per service key (a service, or OTHER past the cap), in the order first seen: one lookup per log. */
  readonly services = new Map<string, ServiceCounts>();

  append(logs: readonly StoredLog[]): void {
    for (const log of logs) {
      this.total++;
      if (isErrorLevel(log.level)) this.errors++;
      this.perLevel[levelIndex(log.level)]!++;
      const c = this.services.get(log.serviceKey);
      if (c === undefined) this.services.set(log.serviceKey, { count: 1, lastEvent: log.ts, lastSeen: log.receivedAt });
      else {
        c.count++;
        if (log.ts > c.lastEvent) c.lastEvent = log.ts;
        c.lastSeen = log.receivedAt;
      }
    }
  }

  /** Adds persisted counts for one (service key, level index) at start-up. */
  restore(service: string, level: number, count: number, lastTs: number, lastReceived: number): void {
    this.total += count;
    if (isErrorLevel(LEVELS[level]!)) this.errors += count;
    this.perLevel[level]! += count;
    const c = this.services.get(service);
    if (c === undefined) this.services.set(service, { count, lastEvent: lastTs, lastSeen: lastReceived });
    else {
      c.count += count;
      if (lastTs > c.lastEvent) c.lastEvent = lastTs;
      if (lastReceived > c.lastSeen) c.lastSeen = lastReceived;
    }
  }

  /** Logs per service key. */
  countPerService(): Record<string, number> {
    return Object.fromEntries([...this.services].map(([s, c]) => [s, c.count]));
  }

  levelCounts(): Record<string, number> {
    return Object.fromEntries(LEVELS.map((l, i) => [l, this.perLevel[i]!]));
  }
}
