/**
 * The wire contract: the JSON the read API answers with, as types. The dashboard (web/)
 * imports this file and nothing else of the server, so it imports nothing itself and holds no
 * code. The route schemas (server/http/schemas/) describe the same shapes for validation,
 * serialization and GET /openapi.json; the compiler holds the two to each other.
 */

export type Level = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR' | 'CRITICAL';

/** A log as a client sends it to POST /api/logs (after validation against schemas/log.schema.json). */
export interface LogInput {
  timestamp: string;
  level: Level;
  service: string;
  message: string;
  user_id?: string;
  metadata?: Record<string, unknown>;
}

/** A log in /api answers: what was sent, plus the id and receive time the server added. */
export interface LogView extends LogInput {
  id: number;
  received_at: string;
  /** Its message pattern (GET /api/patterns); absent only for logs stored before patterns were mined. */
  pattern_id?: number;
}

/** GET /api/logs. */
export interface LogPageView {
  logs: LogView[];
  count: number;
  /** Pass as `cursor` for the next page; null on the last. */
  next_cursor: string | null;
  /** The last log's id: as `before_id`, the next page too (while that log is stored); null on the last. */
  next_before_id: number | null;
}

export type RuleName = 'error_rate' | 'high_volume' | 'service_down' | 'new_pattern';
export type AlertLevel = 'WARNING' | 'CRITICAL';
export type AlertStatus = 'firing' | 'resolved';

/** An alert in GET /api/alerts and the dashboard. */
export interface AlertView {
  rule: RuleName;
  level: AlertLevel;
  service: string;
  /** Human text with the measured value and the threshold. */
  message: string;
  /** When it first fired (this episode), ISO 8601. */
  timestamp: string;
  /** When a notification for it was last sent; null while every notice was held back (cooldown, silence). */
  last_notified: string | null;
  status: AlertStatus;
  value: number;
  threshold: number;
  /** Stable id of (rule, service), (rule, service, pattern) for new_pattern: the same across episodes and restarts. */
  fingerprint: string;
  resolved_at?: string;
  silenced_until?: string;
  /** The pattern a new_pattern alert is about. */
  pattern_id?: number;
  /** The GET /api/logs query string that returns exactly the logs behind the alert. */
  query: string;
  /** The dashboard showing those logs: alerting.external_url plus the view. */
  logs_url: string;
  /** Up to 5 of those logs, newest first. */
  samples: LogView[];
  /** Up to 3 patterns with most of those logs, with their counts. */
  top_patterns: AlertPatternView[];
}

/** A message pattern over a range (GET /api/patterns). */
export interface PatternView {
  id: number;
  service: string;
  /** The message with its variable parts as `<*>`. */
  template: string;
  /** Logs in the range (of the levels asked for). */
  count: number;
  /** All-time logs. */
  total: number;
  /** Logs in the range per level, levels with none left out. */
  levels: Partial<Record<Level, number>>;
  first_seen: string;
  last_seen: string;
  /** Logs per minute of the range, oldest first. */
  per_minute: number[];
  /** The message of its latest log. */
  sample: string;
  /** First seen within the range. */
  new: boolean;
}

/** GET /api/patterns. */
export interface PatternsPage {
  patterns: PatternView[];
  /** The first minute counted, and the end of the last. */
  from: string;
  to: string;
}

/** A pattern among an alert's logs. */
export interface AlertPatternView {
  id: number;
  template: string;
  count: number;
}

/** healthy; critical: error rate at or over the alert threshold; down: silent past service_down_minutes; too_few_logs: under min_samples in the window. */
export type HealthStatus = 'healthy' | 'critical' | 'down' | 'too_few_logs';

export interface ServiceHealth {
  status: HealthStatus;
  /** Last server receive time, ISO 8601. */
  last_seen: string;
  log_count: number;
  /** Error rate over the alert window, 0..1. */
  error_rate: number;
}

/** One minute of GET /api/time-series: `time` is the minute's key, `2024-01-15T14:30` (UTC). */
export interface TimePoint {
  time: string;
  total: number;
  errors: number;
}

/** One minute of the dashboard's volume chart: the logs of each level in it. */
export interface LevelsPoint {
  time: string;
  counts: Record<'DEBUG' | 'INFO' | 'WARNING' | 'ERROR' | 'CRITICAL', number>;
}

export interface ErrorTrendPoint {
  time: string;
  error_rate: number;
}

/** GET /api/validation-stats: outcomes since start, failures counted per schema keyword. */
export interface ValidationStatsView {
  total: number;
  valid: number;
  invalid: number;
  error_types: Record<string, number>;
}

/** GET /api/advanced-dashboard-data. */
export interface DashboardData {
  summary: {
    total_logs: number;
    total_errors: number;
    error_rate: number;
    active_services: number;
    time_range: { first: string | null; last: string | null };
  };
  time_series: TimePoint[];
  /** The same minutes as time_series, by level (the volume chart's stacked bars). */
  levels_per_minute: LevelsPoint[];
  error_trends: ErrorTrendPoint[];
  service_health: Record<string, ServiceHealth>;
  most_active_services: { service: string; count: number }[];
  user_activity: { user_id: string; count: number }[];
  recent_logs: LogView[];
  active_alerts: AlertView[];
  validation_stats: ValidationStatsView;
  /** With a shared store: the servers (replicas) that said they were up in the last minute. */
  replicas?: ReplicaView[];
}

/** A server sharing the store, as the dashboard lists it. */
export interface ReplicaView {
  replica: string;
  started_at: string;
  last_seen: string;
  /** The one answering this request. */
  self: boolean;
}

/** GET /api/ui-config (public): what the page needs before its first data request. */
export interface UiConfig {
  refresh_seconds: number;
  simulation_enabled: boolean;
  error_rate_threshold: number;
  /** The minutes the error-rate rule, service health and the error-rate card read (alerting.window_minutes). */
  alert_window_minutes: number;
  /** Logs a service needs in that window before its error rate is judged (alerting.min_samples). */
  min_samples: number;
  max_minutes: number;
  /** Whether reading works without a token; if not, the page asks for one. */
  anonymous_read: boolean;
  /** Whether logs get message patterns (patterns.enabled): GET /api/patterns answers only then. */
  patterns_enabled: boolean;
}

/** Every 4xx and 5xx of the API: what is wrong and what to do, and a stable code to branch on. */
export interface ErrorBody {
  error: string;
  code: string;
}
