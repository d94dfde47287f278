import type { Holds } from '../log.js';
import type { AlertLevel, AlertStatus, AlertView, RuleName } from '../../api-types.js';

export type { AlertLevel, AlertStatus, AlertView, RuleName };

export const RULES = ['error_rate', 'high_volume', 'service_down', 'new_pattern'] as const satisfies readonly RuleName[];
/** Fails to compile unless RULES lists every rule of the wire contract. */
export type RulesComplete = Holds<Exclude<RuleName, (typeof RULES)[number]> extends never ? true : false>;

/** The service label of the rule that watches all services together. */
export const ALL_SERVICES = '*';

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
