import type { AlertRulesConfig } from './alerting/engine.js';
import type { WebhookConfig } from './alerting/webhook.js';
import type { FieldLimits } from './validation.js';

/**
 * What the core is configured with, in its own terms: server/config.ts maps the validated
 * config file onto this (`coreOptions`), and the core never reads the config file itself.
 * Sections keep the config file's key names, so a setting is found by the same name in both.
 */
export interface CoreOptions {
  /** Logs the recent-logs buffer holds (`storage.max_logs`). */
  readonly bufferLogs: number;
  readonly limits: FieldLimits & { readonly max_services: number; readonly max_users: number };
  readonly analytics: { readonly max_buckets: number; readonly future_skew_seconds: number };
  readonly patterns: { readonly enabled: boolean; readonly max_per_service: number };
  readonly alerting: AlertRulesConfig & {
    readonly external_url: string;
    readonly handlers: { readonly log: boolean; readonly webhooks: readonly WebhookConfig[] };
  };
  readonly tail: { readonly max_clients: number; readonly max_pending_events: number; readonly heartbeat_seconds: number };
}
