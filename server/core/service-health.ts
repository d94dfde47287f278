import type { Analytics } from './analytics.js';
import type { LogStats } from './stats.js';
import { MINUTE_MS, type Clock } from './time.js';

export type HealthStatus = 'healthy' | 'warning' | 'down';

export interface ServiceHealth {
  status: HealthStatus;
  /** Last server receive time, ISO 8601. */
  last_seen: string;
  log_count: number;
  /** Error rate over the recent window, 0..1. */
  error_rate: number;
}

export interface HealthRules {
  errorRateThreshold: number;
  minSamples: number;
  windowMinutes: number;
  serviceDownMinutes: number;
}

/**
 * Health per service. Liveness comes from server receive time, so a client cannot fake it
 * with future timestamps; the error rate comes from the recent analytics window and only
 * counts once a service has sent `minSamples` logs in it.
 */
export function serviceHealth(
  stats: LogStats,
  analytics: Analytics,
  rules: HealthRules,
  now: Clock,
): Record<string, ServiceHealth> {
  const t = now();
  const recent = analytics.serviceCounts(rules.windowMinutes);
  // No prototype: a service may be called __proto__.
  const out: Record<string, ServiceHealth> = Object.create(null) as Record<string, ServiceHealth>;
  for (const [service, { lastSeen, count }] of stats.services) {
    const r = recent.get(service);
    const errorRate = r === undefined || r.total === 0 ? 0 : r.errors / r.total;
    let status: HealthStatus = 'healthy';
    if (t - lastSeen > rules.serviceDownMinutes * MINUTE_MS) status = 'down';
    else if (r !== undefined && r.total >= rules.minSamples && errorRate >= rules.errorRateThreshold) status = 'warning';
    out[service] = {
      status,
      last_seen: new Date(lastSeen).toISOString(),
      log_count: count,
      error_rate: Math.round(errorRate * 10_000) / 10_000,
    };
  }
  return out;
}
