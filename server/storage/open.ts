import type { LogRepository } from '../core/repository.js';
import { SqliteRepository, type SqliteOptions } from './sqlite-repository.js';

/** The durable tier to open: none (a purely in-memory server), or SQLite with its settings. */
export type StorageOptions = { readonly engine: 'none' } | ({ readonly engine: 'sqlite' } & Omit<SqliteOptions, 'counterKey'>);

/**
 * Opens the durable tier `options` names, or undefined for none. `counterKey` maps a service
 * to the key its all-time counters are kept under (the core's cardinality cap).
 */
export function openRepository(options: StorageOptions, counterKey: (service: string) => string): LogRepository | undefined {
  if (options.engine === 'none') return undefined;
  return new SqliteRepository({ ...options, counterKey });
}
