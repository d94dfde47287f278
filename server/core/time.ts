/** A source of the current time in epoch milliseconds. Injected everywhere so tests control time. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

export const MINUTE_MS = 60_000;

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))?$/;
const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Earliest and latest years a log may carry; anything outside is a client bug, not a late log. */
export const MIN_YEAR = 1970;
export const MAX_YEAR = 9999;
/** The same bounds as instants, so an offset cannot carry a time across them. */
const MIN_MS = 0;
const MAX_MS = Date.UTC(MAX_YEAR + 1, 0, 1) - 1;

function inRange(ms: number): number {
  return ms >= MIN_MS && ms <= MAX_MS ? ms : Number.NaN;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function fieldsToMs(
  y: number,
  mo: number,
  d: number,
  h: number,
  mi: number,
  s: number,
  fraction: string | undefined,
  offsetMinutes: number,
): number {
  if (y < MIN_YEAR || y > MAX_YEAR || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return Number.NaN;
  if (h > 23 || mi > 59 || s > 60) return Number.NaN;
  const ms = fraction === undefined ? 0 : Math.floor(Number(fraction.padEnd(3, '0').slice(0, 3)));
  const utcMinutes = h * 60 + mi - offsetMinutes;
  if (s === 60) {
    // A leap second is valid only at 23:59:60 UTC; POSIX time has no slot for it, so it folds into :59.999.
    if (((utcMinutes % 1440) + 1440) % 1440 !== 1439) return Number.NaN;
    return inRange(Date.UTC(y, mo - 1, d, 0, utcMinutes, 59, 999));
  }
  return inRange(Date.UTC(y, mo - 1, d, 0, utcMinutes, s, ms));
}

/**
 * Parses an RFC 3339 date-time (offset required, as the log schema demands) to epoch ms.
 * Returns NaN for anything that is not one: wrong shape, impossible calendar date, offset
 * beyond ±23:59, a misplaced leap second, or a year outside 1970-9999.
 */
export function parseRfc3339(text: string): number {
  const m = RFC3339.exec(text);
  if (m === null) return Number.NaN;
  let offset = 0;
  if (m[8] === undefined) {
    if (m[9] === undefined) return Number.NaN;
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return Number.NaN;
    offset = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  return fieldsToMs(+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +m[6]!, m[7], offset);
}

/** True when `text` is a date-time without any offset (seed 000's `2025-04-01T12:00:00`). */
export function isNaiveDateTime(text: string): boolean {
  const m = RFC3339.exec(text);
  return m !== null && m[8] === undefined && m[9] === undefined;
}

/**
 * Lenient parse for query parameters: RFC 3339, a naive date-time taken as UTC, or a date
 * (midnight UTC). Returns NaN when it is none of them.
 */
export function parseQueryTime(text: string): number {
  const d = DATE_ONLY.exec(text);
  if (d !== null) return fieldsToMs(+d[1]!, +d[2]!, +d[3]!, 0, 0, 0, undefined, 0);
  return parseRfc3339(isNaiveDateTime(text) ? `${text}Z` : text);
}

export function toIso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Seed 000's rendering: UTC without offset or fraction, `2025-04-01T12:00:00`. */
export function toNaiveUtc(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19);
}

/** The bucket key of a minute, `2024-01-15T14:30`. */
export function minuteKey(minute: number): string {
  return new Date(minute * MINUTE_MS).toISOString().slice(0, 16);
}

export function minuteOf(ms: number): number {
  return Math.floor(ms / MINUTE_MS);
}
