import type { HealthStatus, ServiceHealth } from '../api-types.js';
import type { Analytics } from './analytics.js';
import { breaksErrorRate, errorRate, roundRatio, type ErrorRateRule } from './error-rate.js';
import type { LogStats } from './stats.js';
import { MINUTE_MS, type Clock } from './time.js';

export interface HealthRules {
  errorRate: ErrorRateRule;
  windowMinutes: number;
  serviceDownMinutes: number;
}

/**
 * Health per service, by the same rules the alerts use. Liveness comes from server receive
 * time, so a client cannot fake it with future timestamps. The error rate comes from the
 * alert window: at or over the threshold the service is `critical` (an error_rate alert fires
 * on the same numbers); with fewer than `min_samples` logs in the window it is
 * `too_few_logs`: no verdict, rather than a "healthy" at 100 % errors.
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
    const r = recent.get(service) ?? { total: 0, errors: 0 };
    let status: HealthStatus = 'healthy';
    if (t - lastSeen > rules.serviceDownMinutes * MINUTE_MS) status = 'down';
    else if (breaksErrorRate(r, rules.errorRate)) status = 'critical';
    else if (r.total < rules.errorRate.minSamples) status = 'too_few_logs';
    out[service] = {
      status,
      last_seen: new Date(lastSeen).toISOString(),
      log_count: count,
      error_rate: roundRatio(errorRate(r)),
    };
  }
  return out;
}
