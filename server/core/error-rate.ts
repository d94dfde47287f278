/**
 * The error-rate rule, once: the alert engine fires on it and service health turns red on it
 * (a service's health and its `error_rate` alert can never disagree), and every error rate
 * the API reports is rounded here.
 */

export interface ErrorRateRule {
  /** A window breaks the rule at or above this share of errors (0..1). */
  threshold: number;
  /** Fewer logs than this in the window are too few to judge. */
  minSamples: number;
}

export interface ErrorCounts {
  total: number;
  errors: number;
}

/** The share of errors, 0 for no logs. */
export function errorRate(c: ErrorCounts): number {
  return c.total === 0 ? 0 : c.errors / c.total;
}

/** Whether the window holds enough logs to judge and its error rate is at or over the threshold. */
export function breaksErrorRate(c: ErrorCounts, rule: ErrorRateRule): boolean {
  return c.total >= rule.minSamples && errorRate(c) >= rule.threshold;
}

/** A ratio as the API reports it: four decimals (0.1234, i.e. 12.34 %). */
export function roundRatio(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}
