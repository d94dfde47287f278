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

/** A real day of a year in MIN_YEAR..MAX_YEAR. */
function isCalendarDate(y: number, mo: number, d: number): boolean {
  return y >= MIN_YEAR && y <= MAX_YEAR && mo >= 1 && mo <= 12 && d >= 1 && d <= daysInMonth(y, mo);
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
  const ms = fraction === undefined ? 0 : Math.floor(Number(fraction.padEnd(3, '0').slice(0, 3)));
  return fieldsToMsExact(y, mo, d, h, mi, s, ms, offsetMinutes);
}

function fieldsToMsExact(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number, offsetMinutes: number): number {
  if (!isCalendarDate(y, mo, d)) return Number.NaN;
  if (h > 23 || mi > 59 || s > 60) return Number.NaN;
  const utcMinutes = h * 60 + mi - offsetMinutes;
  if (s === 60) {
    // A leap second is valid only at 23:59:60 UTC; POSIX time has no slot for it, so it folds into :59.999.
    if (((utcMinutes % 1440) + 1440) % 1440 !== 1439) return Number.NaN;
    return inRange(Date.UTC(y, mo - 1, d, 0, utcMinutes, 59, 999));
  }
  return inRange(Date.UTC(y, mo - 1, d, 0, utcMinutes, s, ms));
}

/** The digit at `i` as a number, or -1 when it is not an ASCII digit. */
function digit(text: string, i: number): number {
  const d = text.charCodeAt(i) - 48;
  return d >= 0 && d <= 9 ? d : -1;
}

/** Two digits at `i` as a number, or -1. */
function two(text: string, i: number): number {
  const a = digit(text, i);
  const b = digit(text, i + 1);
  return a < 0 || b < 0 ? -1 : a * 10 + b;
}

/**
 * Parses an RFC 3339 date-time (offset required, as the log schema demands) to epoch ms.
 * Returns NaN for anything that is not one: wrong shape, impossible calendar date, offset
 * beyond ±23:59, a misplaced leap second, or a year outside 1970-9999.
 *
 * It runs once per ingested log, so it reads character codes instead of matching the
 * RFC3339 expression; a property test holds it to the same answers as `parseRfc3339Slow`.
 */
export function parseRfc3339(text: string): number {
  const n = text.length;
  if (n < 20) return Number.NaN;
  const y1 = two(text, 0);
  const y2 = two(text, 2);
  const mo = two(text, 5);
  const d = two(text, 8);
  const h = two(text, 11);
  const mi = two(text, 14);
  const s = two(text, 17);
  if ((y1 | y2 | mo | d | h | mi | s) < 0) return Number.NaN;
  const sep = text.charCodeAt(10);
  if (
    text.charCodeAt(4) !== 45 || // -
    text.charCodeAt(7) !== 45 ||
    (sep !== 84 && sep !== 116 && sep !== 32) || // T t space
    text.charCodeAt(13) !== 58 || // :
    text.charCodeAt(16) !== 58
  ) {
    return Number.NaN;
  }
  let i = 19;
  let ms = 0;
  if (text.charCodeAt(i) === 46) {
    // A fraction of 1-9 digits; milliseconds are its first three, truncated.
    const start = ++i;
    while (i < n && i - start < 10 && digit(text, i) >= 0) {
      if (i - start < 3) ms = ms * 10 + digit(text, i);
      i++;
    }
    const len = i - start;
    if (len === 0 || len > 9) return Number.NaN;
    for (let k = len; k < 3; k++) ms *= 10;
  }
  const z = text.charCodeAt(i);
  let offset = 0;
  if (z === 90 || z === 122) {
    // Z z
    if (i + 1 !== n) return Number.NaN;
  } else if (z === 43 || z === 45) {
    // + -
    if (i + 6 !== n || text.charCodeAt(i + 3) !== 58) return Number.NaN;
    const oh = two(text, i + 1);
    const om = two(text, i + 4);
    if (oh < 0 || om < 0 || oh > 23 || om > 59) return Number.NaN;
    offset = (z === 45 ? -1 : 1) * (oh * 60 + om);
  } else {
    return Number.NaN;
  }
  const y = y1 * 100 + y2;
  if (s > 59 || h > 23 || mi > 59) return fieldsToMsExact(y, mo, d, h, mi, s, ms, offset);
  // Logs of one batch mostly share a day: its start is worked out (and checked) once.
  const day = y * 10_000 + mo * 100 + d;
  if (day !== lastDay) {
    if (!isCalendarDate(y, mo, d)) return Number.NaN;
    lastDay = day;
    lastDayMs = Date.UTC(y, mo - 1, d);
  }
  return inRange(lastDayMs + (h * 60 + mi - offset) * 60_000 + s * 1000 + ms);
}

/** The last calendar day `parseRfc3339` saw (yyyymmdd) and its start in epoch ms. */
let lastDay = -1;
let lastDayMs = 0;

/** The reference parser: the RFC3339 expression. Query parameters use it; tests hold `parseRfc3339` to it. */
export function parseRfc3339Slow(text: string): number {
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

/** True when `text` is a date-time without any offset (POST /logs' `2025-04-01T12:00:00`). */
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
  return parseRfc3339Slow(isNaiveDateTime(text) ? `${text}Z` : text);
}

export function toIso(ms: number): string {
  return new Date(ms).toISOString();
}

/** GET /logs' rendering: UTC without offset or fraction, `2025-04-01T12:00:00`. */
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
