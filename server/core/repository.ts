import type { AlertStateStore } from './alerting/state.js';
import type { StoredLog } from './log.js';
import type { Listed } from './listing-order.js';
import type { LogQuery } from './log-filter.js';
import type { DescribePattern, PatternRow } from './patterns/pattern-stats.js';

/**
 * The durable tier as the core uses it. The core owns this interface and the storage
 * implementations (server/storage/) implement it, so the core never imports an engine.
 */

/** All-time counts for one (service, level), as persisted beside the logs. */
export interface CounterRow {
  service: string;
  level: number;
  count: number;
  /** Latest event time (epoch ms). */
  lastTs: number;
  /** Latest receive time (epoch ms). */
  lastReceived: number;
}

/** Where retention cut: rows removed, and the bounds the remaining rows respect. */
export interface RetentionResult {
  deleted: number;
  /** Rows with a smaller id are gone (row-count retention), or 0. */
  minId: number;
  /** Rows received before this are gone (age retention), or 0. */
  receivedBefore: number;
}

/**
 * The bytes a batch arrived in, when they parse to exactly the accepted logs, in order.
 * `json`: one JSON log object, or a JSON array of them; `ndjson`: one JSON log object per
 * line (blank lines and CRLF allowed). The objects are in the client's shape (LogInput).
 * Lets the durable tier keep the request's own bytes instead of serializing the logs again.
 */
export interface RawBatch {
  bytes: Buffer;
  format: 'json' | 'ndjson';
}

/** Told about each commit of the durable tier: how many logs it held, and how long it took or that it failed. */
export interface CommitObserver {
  committed(logs: number, seconds: number): void;
  failed(logs: number): void;
}

/**
 * Figures the core keeps that no stored log can give back: validation outcomes (rejected
 * logs are not stored), values folded past the cardinality caps, logs outside the analytics
 * window. The durable tier keeps them so a restart does not reset them.
 */
export interface RuntimeCounters {
  validation: { total: number; valid: number; invalid: number; errorTypes: Record<string, number> };
  servicesFolded: number;
  usersFolded: number;
  outOfWindow: number;
}

/**
 * The durable tier. `append` resolves only once the logs are committed; `listed` answers the
 * same filters as the recent-logs buffer, with the same meaning (core/log-filter.ts), in the
 * same order (core/listing-order.ts). Reads are asynchronous: an engine may be a server away.
 */
export interface LogRepository {
  /** For the operator's log: the engine and where its data lives. */
  readonly description: string;
  /** For /health, which anyone may read: the engine only ("sqlite"). */
  readonly engine: string;
  /** Tells `observer` (undefined: nobody) about every commit from now on, for GET /metrics; an engine that cannot time its commits leaves it out. */
  observeCommits?(observer: CommitObserver | undefined): void;
  /**
   * Commits one accepted batch. Ingest assigns the ids of one call in increasing order
   * (consecutively, unless the store hands out id ranges: `reserveIds`) and one receive time to
   * all of them; `raw`, when given, must parse to exactly `logs`, in order.
   */
  append(logs: readonly StoredLog[], raw?: RawBatch): Promise<void>;
  /**
   * Set by a store other servers write too (PostgreSQL): ids come from its ranges
   * (core/id-blocks.ts), and every read goes to it, since no server's buffer holds all logs.
   */
  readonly shared?: SharedStore;
  /** The first `k` logs matching `q` in listing order (after `q.before`, below `q.idBelow`). */
  listed(q: LogQuery, k: number): Promise<Listed[]>;
  /** The event time of the stored log with this id; undefined when there is none. */
  timeOf(id: number): Promise<number | undefined>;
  /** A bound (never too low) on the event times of stored logs with an id below `id`; -Infinity when there are none. */
  maxTsBelow(id: number): Promise<number>;
  /** The newest `n` logs, oldest first (to refill the recent-logs buffer at start). */
  recent(n: number): Promise<StoredLog[]>;
  /** Logs with event time at or after `ts`, a page at a time in no promised order (to rebuild the analytics window). */
  since(ts: number): AsyncIterable<readonly StoredLog[]>;
  counters(): Promise<CounterRow[]>;
  /** The largest id ever committed, even if that log has since been deleted. */
  lastAssignedId(): Promise<number>;
  /** The smallest id stored, 0 when there is none. */
  minId(): Promise<number>;
  count(): Promise<number>;
  /** Deletes logs with an event time before `ts`, of `service` alone when given; returns how many. */
  deleteBefore(ts: number, service?: string): Promise<number>;
  /** The counters `trackRuntimeCounters` last had written, or undefined when none ever were. */
  loadRuntimeCounters?(): Promise<RuntimeCounters | undefined>;
  /** From now on, writes `source()` with every commit and at close. */
  trackRuntimeCounters?(source: () => RuntimeCounters): void;
  /** Where the alert engine keeps what decides whether to page (core/alerting/state.ts). */
  readonly alerts?: AlertStateStore;
  /**
   * Every message pattern's all-time figures as committed (this server's own, with a shared
   * store): to restore the miner and the counts at start.
   */
  loadPatterns?(): Promise<PatternRow[]>;
  /**
   * From now on, each commit also adds its logs to their patterns' all-time figures, in the
   * same transaction (so they are exact whenever the logs are), writing each pattern's service
   * and template as `describe` gives them.
   */
  describePatterns?(describe: DescribePattern): void;
  /** One bounded step of retention; returns 0 deleted when nothing is left to do. */
  retentionStep(now: number): Promise<RetentionResult>;
  /** Commits what is waiting, then lets go of the engine. */
  close(): Promise<void>;
}

/** What a store several servers write offers beyond logs (core/id-blocks.ts, LogServer.refreshShared). */
export interface SharedStore {
  /** This server's name among those sharing the store. */
  readonly replica: string;
  /** Reserves `count` fresh ids for this server; resolves to the last of them. */
  reserveIds(count: number): Promise<number>;
  /** Every server's figures, summed: all-time counters, and per-minute counts from `fromMinute` (epoch minutes) on. */
  figures(fromMinute: number): Promise<SharedFigures>;
  /** Says this server is up (for the replicas list), and writes its runtime counters when they changed. */
  heartbeat(now: number, startedAt: number): Promise<void>;
  /**
   * Whether this server is the one that checks the alert rules: true while it holds the
   * store's lock for that, which it takes when free. A server that stops or dies lets go of
   * it, and the next to ask takes it.
   */
  tryLead(): Promise<boolean>;
  /**
   * From now on, hands `deliver` the logs other servers commit, in the order they commit
   * them, while `wanted()` says someone (a live tail) wants them. Best effort: while the
   * store is unreachable, what is committed elsewhere is not delivered.
   */
  follow(deliver: (logs: StoredLog[]) => void, wanted: () => boolean): void;
}

export interface SharedFigures {
  counters: CounterRow[];
  /** Logs per (minute, service key, level index). */
  minutes: { minute: number; service: string; level: number; count: number }[];
  /** Logs per (minute, user key). */
  users: { minute: number; user: string; count: number }[];
  /** Each server's all-time figures of each message pattern (several rows per pattern: they are summed). */
  patterns: PatternRow[];
  /** Logs per (minute, pattern id, level index), every server's summed. */
  patternMinutes: { minute: number; pattern: number; level: number; count: number }[];
  /** Each server's runtime counters (validation outcomes, folds, out of window). */
  runtime: RuntimeCounters[];
  /** The servers that wrote, with when they started and last said they were up. */
  replicas: { replica: string; startedAt: number; seenAt: number }[];
}

/** A storage problem with the file named: start-up stops on it, ingestion answers 503. */
export class StorageError extends Error {
  /**
   * STORAGE_UNAVAILABLE: the engine refused or could not be reached, so nothing was stored.
   * STORAGE_TIMEOUT: a database server stopped answering mid-write, so whether it stored the
   * write is unknown (it may still, when it answers again).
   */
  readonly code: 'STORAGE_UNAVAILABLE' | 'STORAGE_TIMEOUT';

  /**
   * @param message for the operator: names the file.
   * @param reason the engine's own words without the file ("database or disk is full"), fit for /health.
   * @param unknownOutcome the write may or may not have been stored (see `code`).
   */
  constructor(
    message: string,
    readonly reason: string = message,
    unknownOutcome = false,
  ) {
    super(message);
    this.code = unknownOutcome ? 'STORAGE_TIMEOUT' : 'STORAGE_UNAVAILABLE';
  }
}
