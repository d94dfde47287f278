import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { parse as parseYaml } from 'yaml';
import type { RuleName } from './core/alerting/types.js';
import type { WebhookConfig } from './core/alerting/webhook.js';
import type { CoreOptions } from './core/options.js';
import { loadSchema } from './schemas.js';
import type { StorageOptions } from './storage/open.js';

export type Scope = 'ingest' | 'read' | 'admin';

export interface TokenConfig {
  readonly name?: string;
  readonly token: string;
  /** Service the token may ship logs for; absent or `*` means any. */
  readonly service?: string;
  readonly scopes: readonly Scope[];
}

export interface Config {
  readonly server: {
    readonly host: string;
    readonly port: number;
    readonly log_level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
    /** The server's own log lines: readable (pretty), JSON lines, or pretty on a terminal and JSON otherwise (auto). */
    readonly log_format: 'auto' | 'pretty' | 'json';
    readonly trust_proxy: boolean;
    /** Everything shutdown may take after SIGTERM/SIGINT, in-flight requests and the final commit included. */
    readonly shutdown_grace_seconds: number;
  };
  readonly storage: {
    /** Where accepted logs are kept: SQLite (embedded) or PostgreSQL (shared by replicas). */
    readonly backend: 'sqlite' | 'postgres';
    readonly max_logs: number;
    readonly persistence: {
      readonly enabled: boolean;
      readonly path: string;
      readonly synchronous: 'normal' | 'full';
      readonly commit_interval_ms: number;
      readonly commit_max_rows: number;
    };
    readonly postgres: { readonly url: string; readonly pool_size: number; readonly schema: string };
    readonly retention: {
      readonly max_age_days: number;
      readonly max_rows: number;
      readonly interval_seconds: number;
      readonly batch_size: number;
    };
  };
  readonly limits: {
    readonly max_body_bytes: number;
    readonly max_batch_items: number;
    readonly max_service_length: number;
    readonly max_user_id_length: number;
    readonly max_message_length: number;
    readonly max_metadata_keys: number;
    readonly max_metadata_depth: number;
    readonly max_services: number;
    readonly max_users: number;
  };
  readonly analytics: { readonly max_buckets: number; readonly future_skew_seconds: number };
  /** Message patterns mined from every accepted log (docs/patterns.md). */
  readonly patterns: { readonly enabled: boolean; readonly max_per_service: number };
  readonly alerting: {
    readonly error_rate_threshold: number;
    readonly high_volume_threshold: number;
    readonly service_down_minutes: number;
    readonly cooldown_seconds: number;
    readonly window_minutes: number;
    readonly min_samples: number;
    /** The new_pattern rule: ERROR-or-above logs a pattern first seen in the window needs before it fires. */
    readonly new_pattern_min_logs: number;
    readonly history_size: number;
    readonly check_interval_seconds: number;
    readonly external_url: string;
    readonly rules: Readonly<Record<RuleName, boolean>>;
    readonly handlers: {
      readonly log: boolean;
      readonly webhooks: readonly WebhookConfig[];
    };
  };
  readonly auth: {
    readonly anonymous_scopes: readonly Exclude<Scope, 'admin'>[];
    readonly tokens: readonly TokenConfig[];
  };
  readonly simulation: { readonly enabled: boolean };
  readonly dashboard: { readonly refresh_seconds: number };
  /** Requests per `window_seconds` per caller: each token, or each client address without one. */
  readonly rate_limit: {
    readonly enabled: boolean;
    readonly window_seconds: number;
    readonly token: RateBudget;
    readonly anonymous: RateBudget;
  };
  /** 503 instead of falling over; a threshold of 0 is not checked. */
  readonly load_shedding: {
    readonly enabled: boolean;
    readonly max_event_loop_delay_ms: number;
    readonly max_heap_used_bytes: number;
    readonly max_rss_bytes: number;
    readonly retry_after_seconds: number;
  };
  /** Origins whose pages may call the API from a browser (`*`: any); empty: no CORS headers at all. */
  readonly cors: { readonly origins: readonly string[] };
  /** GET /metrics (Prometheus text): off (404), or behind the read scope unless public. */
  readonly metrics: { readonly enabled: boolean; readonly public: boolean };
  /** GET /api/logs/tail (Server-Sent Events). */
  readonly tail: {
    /** Concurrent tails; past it a new one is 429. 0: tailing is off. */
    readonly max_clients: number;
    /** Events a tail may have queued but unsent; past it the client is dropped with a final event. */
    readonly max_pending_events: number;
    readonly heartbeat_seconds: number;
  };
  /** Replicas sharing one PostgreSQL store (docs/scaling.md). */
  readonly cluster: {
    /** This server's name among the replicas; empty: the host name and port. */
    readonly replica_id: string;
  };
}

/** Requests per window to routes needing the ingest scope, and to every other limited route. */
export interface RateBudget {
  readonly ingest: number;
  readonly read: number;
}

/** The embedded defaults: what the server runs with when no config file exists. */
export const DEFAULTS: Config = {
  server: { host: '0.0.0.0', port: 5000, log_level: 'info', log_format: 'auto', trust_proxy: false, shutdown_grace_seconds: 10 },
  storage: {
    backend: 'sqlite',
    max_logs: 100_000,
    persistence: { enabled: true, path: './data/logs.db', synchronous: 'normal', commit_interval_ms: 0, commit_max_rows: 20_000 },
    postgres: { url: 'postgres://logsentinel@localhost:5432/logsentinel', pool_size: 10, schema: 'logsentinel' },
    retention: { max_age_days: 7, max_rows: 10_000_000, interval_seconds: 60, batch_size: 5_000 },
  },
  cluster: { replica_id: '' },
  limits: {
    max_body_bytes: 10 * 1024 * 1024,
    max_batch_items: 10_000,
    max_service_length: 128,
    max_user_id_length: 256,
    max_message_length: 16_384,
    max_metadata_keys: 64,
    max_metadata_depth: 8,
    max_services: 1_000,
    max_users: 10_000,
  },
  analytics: { max_buckets: 60, future_skew_seconds: 120 },
  patterns: { enabled: true, max_per_service: 1_000 },
  alerting: {
    error_rate_threshold: 0.1,
    high_volume_threshold: 100,
    service_down_minutes: 2,
    cooldown_seconds: 300,
    window_minutes: 5,
    min_samples: 20,
    new_pattern_min_logs: 5,
    history_size: 100,
    check_interval_seconds: 30,
    external_url: 'http://localhost:5000',
    rules: { error_rate: true, high_volume: true, service_down: true, new_pattern: true },
    handlers: { log: true, webhooks: [] },
  },
  auth: { anonymous_scopes: ['ingest', 'read'], tokens: [] },
  simulation: { enabled: true },
  dashboard: { refresh_seconds: 5 },
  // Per caller, 10 s windows: 1,000 ingest requests/s and 100 reads/s, hundreds of times what a
  // batching shipper or a polling dashboard sends, far below what a client in a loop sends.
  rate_limit: {
    enabled: true,
    window_seconds: 10,
    token: { ingest: 10_000, read: 1_000 },
    anonymous: { ingest: 10_000, read: 1_000 },
  },
  // Shed only when the process is really in trouble: a second behind, or near V8's heap limit
  // (past it the process dies). RSS is not checked unless told the memory the process may use.
  load_shedding: {
    enabled: true,
    max_event_loop_delay_ms: 1_000,
    max_heap_used_bytes: Math.floor(getHeapStatistics().heap_size_limit * 0.9),
    max_rss_bytes: 0,
    retry_after_seconds: 5,
  },
  cors: { origins: [] },
  metrics: { enabled: true, public: false },
  tail: { max_clients: 32, max_pending_events: 5_000, heartbeat_seconds: 15 },
};

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
}

/** Environment variables that override a config key, and how their text becomes a value. */
const ENV_OVERRIDES: ReadonlyArray<{ env: string; path: readonly [string, ...string[]]; parse: (v: string) => unknown }> = [
  { env: 'PORT', path: ['server', 'port'], parse: (v) => (/^\d+$/.test(v) ? Number(v) : v) },
  { env: 'HOST', path: ['server', 'host'], parse: (v) => v },
  { env: 'LOG_LEVEL', path: ['server', 'log_level'], parse: (v) => v },
  { env: 'LOG_FORMAT', path: ['server', 'log_format'], parse: (v) => v },
  { env: 'STORAGE_PATH', path: ['storage', 'persistence', 'path'], parse: (v) => v },
  { env: 'STORAGE_BACKEND', path: ['storage', 'backend'], parse: (v) => v },
  { env: 'DATABASE_URL', path: ['storage', 'postgres', 'url'], parse: (v) => v },
  { env: 'REPLICA_ID', path: ['cluster', 'replica_id'], parse: (v) => v },
  { env: 'EXTERNAL_URL', path: ['alerting', 'external_url'], parse: (v) => v },
];

/** A copy of `obj` with the value at `path` replaced; objects along the way are copied, anything else becomes one. */
function setPath(obj: unknown, path: readonly string[], value: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = isPlainObject(obj) ? { ...obj } : {};
  const [key, ...rest] = path;
  if (key === undefined) return out;
  out[key] = rest.length === 0 ? value : setPath(out[key], rest, value);
  return out;
}

// useDefaults fills each webhook's optional settings, which a deep merge cannot reach inside arrays.
const ajv = new Ajv2020({ allErrors: false, strict: true, useDefaults: true });
const validateConfig = ajv.compile<Config>(loadSchema('config.schema.json'));

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Objects merge key by key; arrays and scalars from `over` replace what `base` had. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function describeError(err: ErrorObject, envSources: Map<string, string>): string {
  const segments = err.instancePath.split('/').slice(1);
  let key = segments.join('.');
  let problem = err.message ?? 'is invalid';
  if (err.keyword === 'additionalProperties') {
    const extra = String((err.params as { additionalProperty: string }).additionalProperty);
    key = key ? `${key}.${extra}` : extra;
    problem = 'is not a known key (check its spelling against docs/configuration.md)';
  } else if (err.keyword === 'required') {
    const missing = String((err.params as { missingProperty: string }).missingProperty);
    key = key ? `${key}.${missing}` : missing;
    problem = 'is required';
  } else if (err.keyword === 'enum') {
    problem = `must be one of ${(err.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  const env = envSources.get(key);
  return `${key || '(root)'}${env ? ` (from ${env})` : ''} ${problem}`;
}

export interface LoadConfigOptions {
  /** Path of the YAML file; when it does not exist and was not asked for explicitly, the defaults are used. */
  path?: string;
  /** Whether a missing file is an error (true when CONFIG_PATH was set). */
  required?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** Parses raw config (already read from YAML) over the defaults, applies env overrides and validates. */
export function resolveConfig(raw: unknown, env: NodeJS.ProcessEnv = {}, source = 'config'): Config {
  if (raw !== undefined && raw !== null && !isPlainObject(raw)) {
    throw new ConfigError(`${source}: the top level must be a mapping of sections (server, storage, ...)`);
  }
  let merged = deepMerge(structuredClone(DEFAULTS), raw ?? {}) as Record<string, unknown>;
  const envSources = new Map<string, string>();
  for (const o of ENV_OVERRIDES) {
    const value = env[o.env];
    if (value === undefined || value === '') continue;
    merged = setPath(merged, o.path, o.parse(value));
    envSources.set(o.path.join('.'), o.env);
  }
  if (!validateConfig(merged)) {
    const err = validateConfig.errors![0]!;
    throw new ConfigError(`${source}: ${describeError(err, envSources)}`);
  }
  return deepFreeze(merged as unknown as Config);
}

export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const path = options.path ?? env.CONFIG_PATH ?? './config.yaml';
  const required = options.required ?? Boolean(env.CONFIG_PATH);
  let raw: unknown;
  if (existsSync(path)) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new ConfigError(`${path}: cannot be read (${(e as Error).message})`);
    }
    try {
      raw = parseYaml(text);
    } catch (e) {
      throw new ConfigError(`${path}: is not valid YAML (${(e as Error).message.split('\n')[0]})`);
    }
  } else if (required) {
    throw new ConfigError(`${path}: no such file (CONFIG_PATH points at it; unset it to use the embedded defaults)`);
  }
  return resolveConfig(raw, env, path);
}

/** The core's options (core/options.ts) from a validated config. */
export function coreOptions(config: Config): CoreOptions {
  return {
    bufferLogs: config.storage.max_logs,
    limits: config.limits,
    analytics: config.analytics,
    patterns: config.patterns,
    alerting: config.alerting,
    tail: config.tail,
  };
}

/** This server's name among replicas: `cluster.replica_id`, or the host name and port. */
export function replicaId(config: Config): string {
  return config.cluster.replica_id || `${hostname()}:${config.server.port}`.slice(0, 63);
}

/** The durable tier's options (storage/open.ts) from a validated config. */
export function storageOptions(config: Config): StorageOptions {
  const { backend, persistence, postgres, retention } = config.storage;
  const common = {
    commitIntervalMs: persistence.commit_interval_ms,
    commitMaxRows: persistence.commit_max_rows,
    retention: { maxAgeMs: retention.max_age_days * 86_400_000, maxRows: retention.max_rows, batchSize: retention.batch_size },
  };
  if (backend === 'postgres') {
    return {
      engine: 'postgres',
      url: postgres.url,
      poolSize: postgres.pool_size,
      schema: postgres.schema,
      replicaId: replicaId(config),
      analyticsWindow: { maxBuckets: config.analytics.max_buckets, futureSkewMs: config.analytics.future_skew_seconds * 1000 },
      ...common,
    };
  }
  if (!persistence.enabled) return { engine: 'none' };
  return { engine: 'sqlite', path: persistence.path, synchronous: persistence.synchronous, ...common };
}
