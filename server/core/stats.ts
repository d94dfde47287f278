import { LEVELS, isErrorLevel, levelIndex, type LogSink, type StoredLog } from './log.js';
import { bump, type KeyCap } from './key-cap.js';

/** All-time counters over every accepted log: answered from counters, never by a scan. */
export class LogStats implements LogSink {
  total = 0;
  errors = 0;
  readonly perLevel: number[] = LEVELS.map(() => 0);
  readonly perService = new Map<string, number>();
  /** Latest event time seen per service (epoch ms). */
  readonly lastEventPerService = new Map<string, number>();
  /** Latest server receive time per service (epoch ms): liveness a client cannot fake. */
  readonly lastSeenPerService = new Map<string, number>();

  constructor(private readonly services: KeyCap) {}

  append(logs: readonly StoredLog[]): void {
    for (const log of logs) {
      this.total++;
      if (isErrorLevel(log.level)) this.errors++;
      this.perLevel[levelIndex(log.level)]!++;
      const service = this.services.keyOf(log.service);
      bump(this.perService, service);
      if (log.ts > (this.lastEventPerService.get(service) ?? -Infinity)) this.lastEventPerService.set(service, log.ts);
      this.lastSeenPerService.set(service, log.receivedAt);
    }
  }

  /** Adds persisted counts for one (service key, level index) at start-up. */
  restore(service: string, level: number, count: number, lastTs: number, lastReceived: number): void {
    this.total += count;
    if (isErrorLevel(LEVELS[level]!)) this.errors += count;
    this.perLevel[level]! += count;
    bump(this.perService, service, count);
    if (lastTs > (this.lastEventPerService.get(service) ?? -Infinity)) this.lastEventPerService.set(service, lastTs);
    if (lastReceived > (this.lastSeenPerService.get(service) ?? -Infinity)) this.lastSeenPerService.set(service, lastReceived);
  }

  levelCounts(): Record<string, number> {
    return Object.fromEntries(LEVELS.map((l, i) => [l, this.perLevel[i]!]));
  }
}
