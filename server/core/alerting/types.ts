export const RULES = ['error_rate', 'high_volume', 'service_down'] as const;
export type RuleName = (typeof RULES)[number];

/** The service label of the rule that watches all services together. */
export const ALL_SERVICES = '*';

export type AlertLevel = 'WARNING' | 'CRITICAL';
export type AlertStatus = 'firing' | 'resolved';

/** An alert as the API shows it. */
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
  /** Stable id of (rule, service): the same across episodes and restarts. */
  fingerprint: string;
  resolved_at?: string;
  silenced_until?: string;
}

/** What handlers receive: a firing (first or repeated after the cooldown) or a resolution. */
export interface AlertNotification {
  status: AlertStatus;
  alert: AlertView;
}

/** What became of notifications: sent, failed (after retries), dropped (never attempted: a full queue, or shutdown). */
export interface Outcomes {
  sent: number;
  failed: number;
  dropped: number;
}

/** Outcomes per rule of the alert notified, zero for every rule. */
export type OutcomesByRule = Record<RuleName, Outcomes>;

export function outcomesByRule(): OutcomesByRule {
  return Object.fromEntries(RULES.map((rule) => [rule, { sent: 0, failed: 0, dropped: 0 }])) as OutcomesByRule;
}

/** What became of the notifications a handler took, as the handler itself counts them. */
export interface Deliveries {
  byRule: OutcomesByRule;
  /** Waiting in the handler's queue now. */
  queued: number;
}

/**
 * A notification handler. Any object of this shape works: no base class to extend.
 * `handle` runs off the ingest path; a throw or a rejected promise is caught, logged and
 * counted, and never reaches ingestion or the other handlers.
 */
export interface AlertHandler {
  readonly name: string;
  handle(notification: AlertNotification): void | Promise<void>;
  /**
   * For a handler whose `handle` only queues the work (the webhook): what became of it. A
   * handler without it has sent a notification when `handle` returns or resolves.
   */
  deliveries?(): Deliveries;
  close?(): void | Promise<void>;
}
