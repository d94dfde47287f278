/** What the adapters share: the fallback service name, JSON shape checks, and exact nanosecond times. */

/** The service of a log that names none and comes from an unbound token: what Loki and the OpenTelemetry SDKs call it. */
export const UNKNOWN_SERVICE = 'unknown_service';

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The kind of a JSON value, for messages: "null", "an array", "an object", "a string"... */
export function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

const NANOS_PER_SECOND = 1_000_000_000n;

/**
 * Unix nanoseconds as an RFC 3339 UTC timestamp with all nine fraction digits, exactly: a count
 * of 19 digits is past what a double holds. The caller keeps `ns` within the years 1970-9999.
 */
export function rfc3339FromNanos(ns: bigint): string {
  const fraction = (ns % NANOS_PER_SECOND).toString().padStart(9, '0');
  // toISOString gives YYYY-MM-DDTHH:MM:SS.000Z for whole seconds: its milliseconds become the exact nanoseconds.
  return `${new Date(Number(ns / NANOS_PER_SECOND) * 1000).toISOString().slice(0, 19)}.${fraction}Z`;
}
