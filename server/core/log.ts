import type { Level, LogInput, LogView } from '../api-types.js';

export type { Level, LogInput, LogView };

/** The levels in rising severity; a level's index here is how columns and bit masks store it. */
export const LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const satisfies readonly Level[];
/** Fails to compile unless LEVELS lists every level of the wire contract. */
export type LevelsComplete = Holds<Exclude<Level, (typeof LEVELS)[number]> extends never ? true : false>;
/** A type-level assertion: `Holds<X>` compiles only when X is `true`. */
export type Holds<T extends true> = T;

export function isErrorLevel(level: Level): boolean {
  return level === 'ERROR' || level === 'CRITICAL';
}

/** Index of a level in LEVELS, or -1. Also interns: LEVELS[levelIndex(s)] is the shared constant. */
export function levelIndex(value: string): number {
  switch (value) {
    case 'DEBUG':
      return 0;
    case 'INFO':
      return 1;
    case 'WARNING':
      return 2;
    case 'ERROR':
      return 3;
    case 'CRITICAL':
      return 4;
    default:
      return -1;
  }
}

/**
 * The level a shipper's level word names, case-insensitively: ours, and the aliases Loki,
 * syslog, pino, Log4j, .NET, Go and Elastic Common Schema use (`warn`, `err`, `fatal`, `trace`,
 * `notice`, `emerg`...). Undefined when the word names no level.
 */
export function levelFromName(word: string): Level | undefined {
  return LEVEL_ALIASES.get(word.trim().toLowerCase());
}

const LEVEL_ALIASES: ReadonlyMap<string, Level> = new Map(
  (
    [
      ['DEBUG', ['debug', 'dbg', 'trace', 'verbose', 'fine', 'finer', 'finest', 'all']],
      ['INFO', ['info', 'information', 'informational', 'notice', 'log']],
      ['WARNING', ['warning', 'warn', 'wrn']],
      ['ERROR', ['error', 'err', 'eror', 'severe']],
      ['CRITICAL', ['critical', 'crit', 'fatal', 'panic', 'emerg', 'emergency', 'alert', 'dpanic']],
    ] as const
  ).flatMap(([level, words]) => words.map((w) => [w, level] as const)),
);

/** OpenTelemetry's severity number ranges (1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN, 17-20 ERROR, 21-24 FATAL); undefined outside 1-24. */
export function levelFromSeverityNumber(n: number): Level | undefined {
  if (!Number.isInteger(n) || n < 1 || n > 24) return undefined;
  if (n <= 8) return 'DEBUG';
  if (n <= 12) return 'INFO';
  if (n <= 16) return 'WARNING';
  if (n <= 20) return 'ERROR';
  return 'CRITICAL';
}

/** An accepted log. One fixed shape for every log so V8 keeps a single hidden class. */
export class StoredLog {
  /**
   * The key this log is counted under by analytics, stats and alerts, as the index the
   * services' cardinality cap gives it (`KeyCap.admitIndex`, core/key-cap.ts; `keyAt` turns
   * it back into the key: the service, or OTHER when the cap refused it). Set by whoever hands
   * the log to those sinks (ingest, the start-up replay), so they count in arrays, with no
   * lookup. -1 until then.
   */
  serviceIndex = -1;
  /** The same for its user id; -1 also when the log has none. */
  userIndex = -1;
  /**
   * The id of its message pattern (core/patterns/), given at ingest and never changed; 0 for a
   * log stored before patterns were mined.
   */
  patternId = 0;

  constructor(
    readonly id: number,
    /** Event time, epoch ms, parsed once at ingest. */
    readonly ts: number,
    /** The timestamp exactly as the client sent it. */
    readonly timestamp: string,
    readonly level: Level,
    readonly service: string,
    readonly message: string,
    readonly userId: string | undefined,
    readonly metadata: Record<string, unknown> | undefined,
    /** Server receive time, epoch ms. */
    readonly receivedAt: number,
  ) {}
}

export function toView(log: StoredLog): LogView {
  const view: LogView = {
    id: log.id,
    timestamp: log.timestamp,
    level: log.level,
    service: log.service,
    message: log.message,
    received_at: new Date(log.receivedAt).toISOString(),
  };
  if (log.userId !== undefined) view.user_id = log.userId;
  if (log.metadata !== undefined) view.metadata = log.metadata;
  if (log.patternId > 0) view.pattern_id = log.patternId;
  return view;
}

/** Anything that wants every accepted batch: the live tails, counters, analytics, alerting. */
export interface LogSink {
  append(logs: readonly StoredLog[]): void;
}
