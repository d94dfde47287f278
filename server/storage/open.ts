import type { Config } from '../config.js';
import type { LogRepository } from './log-repository.js';
import { SqliteRepository } from './sqlite-repository.js';

/** The durable tier the config asks for, or undefined for a purely in-memory server. */
export function openRepository(config: Config, counterKey: (service: string) => string): LogRepository | undefined {
  const { persistence, retention } = config.storage;
  if (!persistence.enabled) return undefined;
  return new SqliteRepository({
    path: persistence.path,
    synchronous: persistence.synchronous,
    commitIntervalMs: persistence.commit_interval_ms,
    commitMaxRows: persistence.commit_max_rows,
    retention: { maxAgeMs: retention.max_age_days * 86_400_000, maxRows: retention.max_rows, batchSize: retention.batch_size },
    counterKey,
  });
}
