import type { StoredLog } from '../core/log.js';
import type { LogPage, LogQuery } from '../core/log-store.js';

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
 * The durable tier. Ingestion depends on this interface, never on an engine: SQLite is the
 * first implementation. `append` resolves only once the logs are committed; `query` answers
 * the same filters as the in-memory tier, with the same meaning.
 */
export interface LogRepository {
  readonly description: string;
  append(logs: readonly StoredLog[]): Promise<void>;
  query(q: LogQuery): LogPage;
  /** The newest `n` logs, oldest first (to refill the ring buffer at start). */
  recent(n: number): StoredLog[];
  /** Logs with event time at or after `ts`, oldest first (to rebuild the analytics window). */
  since(ts: number): Iterable<StoredLog>;
  counters(): CounterRow[];
  /** The largest id ever committed, even if that log has since been deleted. */
  lastAssignedId(): number;
  minId(): number;
  count(): number;
  deleteBefore(ts: number): number;
  /** One bounded step of retention; returns 0 deleted when nothing is left to do. */
  retentionStep(now: number): RetentionResult;
  close(): Promise<void>;
}

/** A storage problem with the file named: start-up stops on it, ingestion answers 503. */
export class StorageError extends Error {
  readonly code = 'STORAGE_UNAVAILABLE';
}
