import type { LogRepository } from '../core/repository.js';
import { PostgresRepository, type PostgresOptions } from './postgres-repository.js';
import { SqliteRepository, type SqliteOptions } from './sqlite-repository.js';

/** The durable tier to open: none (a purely in-memory server), SQLite or PostgreSQL with its settings. */
export type StorageOptions =
  | { readonly engine: 'none' }
  | ({ readonly engine: 'sqlite' } & Omit<SqliteOptions, 'counterKey'>)
  | ({ readonly engine: 'postgres' } & Omit<PostgresOptions, 'counterKey' | 'userKey'>);

/** The keys the core counts under (its cardinality caps): a service's, a user id's. */
export interface CountingKeys {
  service(name: string): string;
  user(id: string): string;
}

/** Opens the durable tier `options` names, or undefined for none; its counters use the core's `keys`. */
export async function openRepository(options: StorageOptions, keys: CountingKeys): Promise<LogRepository | undefined> {
  switch (options.engine) {
    case 'none':
      return undefined;
    case 'sqlite':
      return new SqliteRepository({ ...options, counterKey: keys.service });
    case 'postgres':
      return PostgresRepository.open({ ...options, counterKey: keys.service, userKey: keys.user });
  }
}
