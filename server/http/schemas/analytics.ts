import { Type, type Static } from '@sinclair/typebox';
import type { DashboardData, ServiceHealth, TimePoint, UiConfig, ValidationStatsView } from '../../api-types.js';
import { AlertViewSchema } from './alerts.js';
import { Dict, IsoTime, Nullable, type Holds, type Same } from './common.js';
import { LogViewSchema } from './logs.js';
import { Param, querystring } from './query.js';

const Count = Type.Integer({ minimum: 0 });
const Ratio = Type.Number({ minimum: 0, maximum: 1, description: 'A share, 0..1, to 4 decimals.' });

/** `minutes` of the analytics routes: at most the minutes kept (`analytics.max_buckets`). */
export function minutesQuerystring(maxMinutes: number, defaultMinutes: number) {
  return querystring({ minutes: Param.integer(1, maxMinutes, 'Minutes of history, ending at the current minute', defaultMinutes) });
}

const TimePointSchema = Type.Object({
  time: Type.String({ description: 'The minute, UTC: 2024-01-15T14:30.' }),
  total: Count,
  errors: Count,
});
export type TimePointChecked = Holds<Same<Static<typeof TimePointSchema>, TimePoint>>;

export const TimeSeriesSchema = Type.Array(TimePointSchema, { description: 'Exactly `minutes` consecutive minutes ending now, oldest first, zeros where empty.' });

const CardinalityCap = Type.Object({
  tracked: Count,
  cap: Count,
  folded: Type.Integer({ minimum: 0, description: "Logs counted under 'other' because the cap was reached." }),
});
const CardinalitySchema = Type.Object({ services: CardinalityCap, users: CardinalityCap });

export const StatsSchema = Type.Object({
  total_logs: Count,
  logs_per_service: Dict(Count),
  logs_per_level: Dict(Count),
  last_log_per_service: Dict(IsoTime, 'The latest event time per service.'),
  out_of_window: Type.Integer({ minimum: 0, description: 'Logs too old or too far ahead to be counted in a minute bucket.' }),
  cardinality: CardinalitySchema,
});

export const ValidationStatsSchema = Type.Object({
  total: Count,
  valid: Count,
  invalid: Count,
  error_types: Dict(Count, 'Rejected logs per schema keyword of their problems.'),
});
export type ValidationStatsChecked = Holds<Same<Static<typeof ValidationStatsSchema>, ValidationStatsView>>;

const ServiceHealthSchema = Type.Object({
  status: Type.Unsafe<ServiceHealth['status']>({ type: 'string', enum: ['healthy', 'critical', 'down', 'too_few_logs'], description: 'By the alert rules: critical at or over the error-rate threshold, too_few_logs under min_samples in the window, down when silent past service_down_minutes.' }),
  last_seen: IsoTime,
  log_count: Count,
  error_rate: Ratio,
});
export type ServiceHealthChecked = Holds<Same<Static<typeof ServiceHealthSchema>, ServiceHealth>>;

export const DashboardSchema = Type.Object({
  summary: Type.Object({
    total_logs: Count,
    total_errors: Count,
    error_rate: Ratio,
    active_services: Count,
    time_range: Type.Object({ first: Nullable(Type.String()), last: Nullable(Type.String()) }),
  }),
  time_series: Type.Array(TimePointSchema),
  levels_per_minute: Type.Array(
    Type.Object({
      time: Type.String(),
      counts: Type.Object({ DEBUG: Count, INFO: Count, WARNING: Count, ERROR: Count, CRITICAL: Count }),
    }),
    { description: 'The minutes of time_series, counted by level.' },
  ),
  error_trends: Type.Array(Type.Object({ time: Type.String(), error_rate: Ratio })),
  service_health: Dict(ServiceHealthSchema),
  most_active_services: Type.Array(Type.Object({ service: Type.String(), count: Count })),
  user_activity: Type.Array(Type.Object({ user_id: Type.String(), count: Count })),
  recent_logs: Type.Array(LogViewSchema),
  active_alerts: Type.Array(AlertViewSchema),
  validation_stats: ValidationStatsSchema,
  replicas: Type.Optional(
    Type.Array(
      Type.Object({
        replica: Type.String(),
        started_at: IsoTime,
        last_seen: IsoTime,
        self: Type.Boolean({ description: 'The replica answering this request.' }),
      }),
      { description: 'With storage.backend postgres: the replicas that said they were up in the last minute.' },
    ),
  ),
});
export type DashboardChecked = Holds<Same<Static<typeof DashboardSchema>, DashboardData>>;

export const UiConfigSchema = Type.Object({
  refresh_seconds: Type.Number(),
  simulation_enabled: Type.Boolean(),
  error_rate_threshold: Ratio,
  alert_window_minutes: Type.Integer({ description: 'The minutes the error-rate rule and service health read.' }),
  min_samples: Type.Integer({ description: 'Logs a service needs in that window before its error rate is judged.' }),
  max_minutes: Type.Integer(),
  anonymous_read: Type.Boolean({ description: 'Whether reading works without a token; if not, the page asks for one.' }),
  patterns_enabled: Type.Boolean({ description: 'Whether logs get message patterns (patterns.enabled); GET /api/patterns answers only then.' }),
});
export type UiConfigChecked = Holds<Same<Static<typeof UiConfigSchema>, UiConfig>>;

const Limit = Type.Number({ description: '0: not checked.' });

export const HealthSchema = Type.Object({
  status: Type.Unsafe<'healthy' | 'degraded'>({ type: 'string', enum: ['healthy', 'degraded'], description: 'degraded (and 503) while the durable tier fails.' }),
  total_logs: Count,
  current_stored: Type.Integer({ minimum: 0, description: 'Logs in the recent-logs buffer.' }),
  buffer_capacity: Count,
  uptime_seconds: Count,
  out_of_window: Count,
  cardinality: CardinalitySchema,
  storage: Type.Object({
    engine: Type.String({ description: 'sqlite, postgres, or memory without persistence.' }),
    replica: Type.Optional(Type.String({ description: 'With postgres: this replica\'s name (cluster.replica_id).' })),
    status: Type.Unsafe<'ok' | 'failing'>({ type: 'string', enum: ['ok', 'failing'] }),
    error: Type.Optional(Type.String({ description: 'Why the last write (or, with postgres, the last read) failed.' })),
    since: Type.Optional({ ...IsoTime, description: 'When writes started failing.' }),
  }),
  pressure: Type.Object({
    status: Type.Unsafe<'off' | 'ok' | 'shedding'>({ type: 'string', enum: ['off', 'ok', 'shedding'] }),
    reason: Type.Optional(Type.String()),
    event_loop_delay_ms: Nullable(Type.Number()),
    heap_used_bytes: Count,
    rss_bytes: Count,
    limits: Type.Object({ max_event_loop_delay_ms: Limit, max_heap_used_bytes: Limit, max_rss_bytes: Limit }),
    shed: Type.Integer({ minimum: 0, description: 'Requests answered 503 by load shedding since start.' }),
  }),
  rate_limit: Type.Object({ enabled: Type.Boolean(), refused: Count }),
});
