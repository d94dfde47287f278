import type { PoolClient, QueryConfig } from 'pg';

/**
 * The PostgreSQL schema, versioned. Every replica runs `migrate` at start; the first to take
 * the advisory lock applies what is missing and the others, waiting on the same lock, then
 * find nothing to do. A database written by a newer server is refused, as SQLite refuses a
 * newer file.
 *
 * Times are epoch milliseconds (bigint), as everywhere in the server, so a cursor or a bound
 * crosses into SQL unchanged; `timestamp` keeps the text the client sent. `metadata` is the
 * JSON text. A message PostgreSQL text cannot hold (a NUL, a lone surrogate) is kept whole as
 * JSON in `message_json`, and `message` holds it with U+FFFD in their place, for search.
 */

export const PG_SCHEMA_VERSION = 2;

/** How long a replica waits for another's migration before it gives up starting. */
const MIGRATION_WAIT_MS = 600_000;

/** The lock key every replica's migration takes (`pg_advisory_lock`): the text's hash, fixed. */
export const MIGRATION_LOCK = 0x4c6f6753; // "LogS"

/** One day, the width of a partition of `logs`. */
export const PARTITION_MS = 86_400_000;

/**
 * Version 1:
 * - `logs`, partitioned by event time, a UTC day a partition (created on demand), so retention
 *   by age drops whole partitions. A BRIN index on `ts` (tiny; time ranges), a btree on
 *   (ts, id) for the listing order (newest first, core/listing-order.ts), and a btree on
 *   (service, level, ts, id) for the filtered listing every dashboard asks.
 * - `id_blocks`: one row, the last id handed out. A replica reserves a range of ids at a time
 *   (`UPDATE ... RETURNING`), so ids are unique cluster-wide with no round trip per log.
 * - `counters`: all-time counts per (service, level), and `log_counts`, the logs stored, one
 *   row per replica each, so replicas committing side by side never wait on each other's row
 *   locks; readers sum over replicas. A commit writes them in the statement that adds the rows.
 * - `minutes` and `minute_users`: the analytics, per event-time minute (epoch minutes), per
 *   replica likewise and written by the same statement, so every replica reads the same exact
 *   figures: the sums. Rows older than the analytics window are deleted by retention.
 * - `replicas`: who is up (each writes its row every few seconds), for the dashboard.
 * - the alert state (as SQLite keeps it: storage/sqlite-repository.ts) and the runtime
 *   counters (one row per replica; the cluster's are their sums).
 */
const V1 = (s: string): string => `
CREATE TABLE ${s}.logs (
  id bigint NOT NULL,
  ts bigint NOT NULL,
  timestamp text NOT NULL,
  level smallint NOT NULL,
  service text NOT NULL,
  message text NOT NULL,
  message_json text,
  user_id text,
  metadata text,
  received_at bigint NOT NULL
) PARTITION BY RANGE (ts);
CREATE INDEX logs_ts_brin ON ${s}.logs USING brin (ts);
CREATE INDEX logs_listing ON ${s}.logs (ts, id);
CREATE INDEX logs_service_level ON ${s}.logs (service, level, ts, id);
CREATE TABLE ${s}.id_blocks (one boolean PRIMARY KEY DEFAULT true CHECK (one), last_id bigint NOT NULL);
INSERT INTO ${s}.id_blocks (last_id) VALUES (0);
CREATE TABLE ${s}.log_counts (replica text PRIMARY KEY, count bigint NOT NULL);
CREATE TABLE ${s}.counters (
  service text NOT NULL,
  level smallint NOT NULL,
  replica text NOT NULL,
  count bigint NOT NULL,
  last_ts bigint NOT NULL,
  last_received bigint NOT NULL,
  PRIMARY KEY (service, level, replica)
);
CREATE TABLE ${s}.minutes (
  minute bigint NOT NULL,
  service text NOT NULL,
  level smallint NOT NULL,
  replica text NOT NULL,
  count bigint NOT NULL,
  PRIMARY KEY (minute, service, level, replica)
);
CREATE TABLE ${s}.minute_users (
  minute bigint NOT NULL,
  user_id text NOT NULL,
  replica text NOT NULL,
  count bigint NOT NULL,
  PRIMARY KEY (minute, user_id, replica)
);
CREATE TABLE ${s}.replicas (replica text PRIMARY KEY, started_at bigint NOT NULL, seen_at bigint NOT NULL);
CREATE TABLE ${s}.alerts (
  fingerprint text NOT NULL,
  fired_at bigint NOT NULL,
  rule text NOT NULL,
  service text NOT NULL,
  level text NOT NULL,
  status text NOT NULL,
  last_notified_at bigint,
  resolved_at bigint,
  value double precision NOT NULL,
  threshold double precision NOT NULL,
  message text NOT NULL,
  PRIMARY KEY (fingerprint, fired_at)
);
CREATE TABLE ${s}.alert_notifications (
  id bigserial PRIMARY KEY,
  fingerprint text NOT NULL,
  status text NOT NULL,
  at bigint NOT NULL
);
CREATE INDEX alert_notifications_at ON ${s}.alert_notifications (at);
CREATE TABLE ${s}.silences (fingerprint text PRIMARY KEY, until bigint NOT NULL);
CREATE TABLE ${s}.runtime (replica text PRIMARY KEY, value jsonb NOT NULL);
`;

/**
 * Version 2, message patterns (core/patterns/):
 * - `logs.pattern_id`: each log's pattern, NULL for none (0 in StoredLog: logs stored before
 *   patterns were mined). Partial btree on (pattern_id, ts, id): `?pattern=` lists one pattern
 *   newest first from one index range per partition, and the logs of no pattern add nothing.
 * - `patterns`: each pattern's all-time figures, one row per (replica, pattern), written by the
 *   commit that stores its logs (readers sum over replicas, as for `counters`).
 * - `pattern_minutes`: logs per (event-time minute, pattern, level), per replica, like `minutes`
 *   (same window rule, same retention).
 * - `pattern_seqs`: per replica, the number of its commits that wrote either table. Each row a
 *   commit writes carries that number (`seq`), so a reader that has read a replica's rows up to
 *   seq n reads only the rows with a greater one next time (`figures`, every second): the
 *   commits of a replica that write them take its `pattern_seqs` row's lock in turn and hold it
 *   to their end (two may be under way at once), so they commit in seq order and those a reader
 *   can see are a prefix.
 * - `alerts.pattern_id`: the pattern a new_pattern alert is about.
 */
const V2 = (s: string): string => `
ALTER TABLE ${s}.logs ADD COLUMN pattern_id bigint;
CREATE INDEX logs_pattern ON ${s}.logs (pattern_id, ts, id) WHERE pattern_id IS NOT NULL;
CREATE TABLE ${s}.pattern_seqs (replica text PRIMARY KEY, seq bigint NOT NULL);
CREATE TABLE ${s}.patterns (
  replica text NOT NULL,
  id bigint NOT NULL,
  service text NOT NULL,
  template text NOT NULL,
  first_seen bigint NOT NULL,
  last_seen bigint NOT NULL,
  sample text NOT NULL,
  debug bigint NOT NULL,
  info bigint NOT NULL,
  warning bigint NOT NULL,
  error bigint NOT NULL,
  critical bigint NOT NULL,
  seq bigint NOT NULL,
  PRIMARY KEY (replica, id)
);
CREATE INDEX patterns_seq ON ${s}.patterns (replica, seq);
CREATE TABLE ${s}.pattern_minutes (
  minute bigint NOT NULL,
  pattern bigint NOT NULL,
  level smallint NOT NULL,
  replica text NOT NULL,
  count bigint NOT NULL,
  seq bigint NOT NULL,
  PRIMARY KEY (minute, pattern, level, replica)
);
CREATE INDEX pattern_minutes_seq ON ${s}.pattern_minutes (replica, seq);
ALTER TABLE ${s}.alerts ADD COLUMN pattern_id bigint;
`;

/** MIGRATIONS[v] takes the schema from version v to v + 1; [0] creates it. */
const MIGRATIONS: readonly ((schema: string) => string)[] = [V1, V2];

/**
 * Brings `schema` to PG_SCHEMA_VERSION under the migration lock; returns the version found.
 * Throws when the database is newer than this server.
 */
export async function migrate(client: PoolClient, schema: string): Promise<number> {
  const s = quoteIdent(schema);
  // Another replica may hold the lock for as long as its migration takes: no statement timeout here.
  await client.query('SET statement_timeout = 0');
  await client.query({ text: 'SELECT pg_advisory_lock($1)', values: [MIGRATION_LOCK], query_timeout: MIGRATION_WAIT_MS } as QueryConfig);
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_version (version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const found = Number((await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${s}.schema_version`)).rows[0]!.v ?? 0);
    if (found > PG_SCHEMA_VERSION) {
      throw new Error(`its schema version ${found} is newer than this server's ${PG_SCHEMA_VERSION}; run a newer server or point storage.postgres.schema elsewhere`);
    }
    for (let v = found; v < PG_SCHEMA_VERSION; v++) {
      await client.query('BEGIN');
      try {
        await client.query(MIGRATIONS[v]!(s));
        await client.query(`INSERT INTO ${s}.schema_version (version) VALUES ($1)`, [v + 1]);
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK');
        throw e;
      }
    }
    return found;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    await client.query('RESET statement_timeout');
  }
}

/** A safe SQL identifier for a name (schema names come from the config). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The partition of `logs` holding event times of the UTC day `day` (days since the epoch). */
export function partitionName(day: number): string {
  // Event times are RFC 3339 (years 0000-9999); days before 1970 get a name of their own.
  if (day < 0) return `logs_before_epoch_${-day}`;
  return `logs_${new Date(day * PARTITION_MS).toISOString().slice(0, 10).replace(/-/g, '')}`;
}
