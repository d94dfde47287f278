import type { LogRepository } from '../core/repository.js';
import { PostgresRepository, type PostgresOptions } from './postgres-repository.js';
import { SqliteRepository, type SqliteOptions } from './sqlite-repository.js';

/** The durable tier to open: none (a purely in-memory server), SQLite or PostgreSQL with its settings. */
export type StorageOptions =
  | { readonly engine: 'none' }
  | ({ readonly engine: 'sqlite' } & Omit<SqliteOptions, 'counterKey'>)
  | ({ readonly engine: 'postgres' } & Omit<PostgresOptions, 'counterKey'>);

/**
 * Opens the durable tier `options` names, or undefined for none. `counterKey` maps a service
 * to the key its all-time counters are kept under (the core's cardinality cap).
 */
export async function openRepository(options: StorageOptions, counterKey: (service: string) => string): Promise<LogRepository | undefined> {
  switch (options.engine) {
    case 'none':
      return undefined;
    case 'sqlite':
      return new SqliteRepository({ ...options, counterKey });
    case 'postgres':
      return PostgresRepository.open({ ...options, counterKey });
  }
}
