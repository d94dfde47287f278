import { AppError } from '../core/errors.js';
import { parseQueryTime } from '../core/time.js';

type Raw = Record<string, string | string[] | undefined>;

/** The space an unencoded '+' of an offset becomes in a query string. */
const UNENCODED_PLUS = / (\d{2}:\d{2})$/;

function bad(name: string, problem: string): AppError {
  return new AppError(400, 'INVALID_QUERY', `query parameter '${name}' ${problem}`);
}

/** For a route that takes no query parameters: any one is a 400 naming it, rather than silently ignored. */
export function refuseQuery(raw: Raw): void {
  new QueryReader(raw, []);
}

/**
 * Reads query parameters strictly: unknown names, repeated single-valued parameters and
 * malformed values are 400s that name the parameter, rather than silently ignored.
 */
export class QueryReader {
  constructor(
    private readonly raw: Raw,
    known: readonly string[],
  ) {
    for (const name of Object.keys(raw)) {
      if (!known.includes(name)) {
        throw bad(name, `is not known here; ${known.length === 0 ? 'this route takes no query parameters' : `known parameters: ${known.join(', ')}`}`);
      }
    }
  }

  string(name: string): string | undefined {
    const v = this.raw[name];
    if (v === undefined) return undefined;
    if (Array.isArray(v)) throw bad(name, 'was given more than once; give it once');
    if (v === '') throw bad(name, 'is empty; give a value or leave it out');
    return v;
  }

  /** A repeatable parameter, also accepting a comma-separated list. */
  list(name: string): string[] | undefined {
    const v = this.raw[name];
    if (v === undefined) return undefined;
    const items = (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim());
    if (items.some((s) => s === '')) throw bad(name, 'has an empty item; give comma-separated values');
    return items;
  }

  int(name: string, min: number, max: number): number | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    if (!/^-?\d+$/.test(v)) throw bad(name, `must be a whole number from ${min} to ${max} (got '${v.slice(0, 40)}')`);
    const n = Number(v);
    if (n < min || n > max) throw bad(name, `must be from ${min} to ${max} (got ${v.slice(0, 40)})`);
    return n;
  }

  /** A time as RFC 3339, a naive date-time (taken as UTC), or a date; epoch ms. */
  time(name: string): number | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    const ms = parseQueryTime(v);
    if (Number.isNaN(ms)) {
      // An unencoded '+' in a URL reads as a space: '...T14:30:00+01:00' arrives as '...T14:30:00 01:00'.
      const plus = UNENCODED_PLUS.test(v) && !Number.isNaN(parseQueryTime(v.replace(UNENCODED_PLUS, '+$1')));
      throw bad(
        name,
        `must be a date-time like 2024-01-15T14:30:00Z (a time without offset is UTC) or a date like 2024-01-15 (got '${v.slice(0, 40)}')${plus ? "; a '+' in a URL reads as a space: encode the offset's '+' as %2B" : ''}`,
      );
    }
    return ms;
  }

  enumList<T extends string>(name: string, allowed: readonly T[]): T[] | undefined {
    const items = this.list(name);
    if (items === undefined) return undefined;
    for (const item of items) {
      if (!(allowed as readonly string[]).includes(item.toUpperCase())) {
        throw bad(name, `must be one or more of ${allowed.join(', ')} (got '${item.slice(0, 40)}')`);
      }
    }
    return items.map((i) => i.toUpperCase() as T);
  }
}
