import { LEVELS, levelIndex } from '../core/log.js';
import type { LogQuery } from '../core/log-filter.js';

/**
 * A LogQuery as SQL over `logs`: the same fields as core/log-filter.ts, each translated to the
 * clause that means the same. The text search is the one exception: SQL narrows to a superset
 * (likePattern) and the listing passes every row it reads through the core's LogFilter, so
 * what it lists means exactly what the buffer would list, whatever the database's locale.
 */

/** A WHERE clause and its parameters, numbered from 1. */
export interface SqlFilter {
  where: string;
  params: unknown[];
}

/**
 * An ILIKE pattern (under COLLATE "C", which folds ASCII letters only) matching every message
 * the core's search matches, and maybe more. The core folds case as a JavaScript
 * case-insensitive RegExp does: an ASCII letter matches only its ASCII other case, and a
 * non-ASCII character only non-ASCII ones, decided per UTF-16 unit. So ASCII stays as it is
 * (its wildcards escaped), a character beyond the BMP stays (surrogates have no case), and any
 * other non-ASCII character becomes `_`, one character of any kind. NUL, which PostgreSQL text
 * cannot hold, becomes `_` too (stored messages hold U+FFFD for it: see postgres-repository.ts).
 */
export function likePattern(text: string): string {
  let p = '';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (code === 0) p += '_';
    else if (code < 128) p += ch === '\\' || ch === '%' || ch === '_' ? `\\${ch}` : ch;
    else if (code > 0xffff) p += ch;
    else p += '_';
  }
  return `%${p}%`;
}

/**
 * The filter fields of `q` (not its page: before, idBelow, limit) as a WHERE clause, plus the
 * extra conditions given (already numbered after them by the caller through `param`).
 */
export class SqlBuilder {
  readonly params: unknown[] = [];
  readonly conditions: string[] = [];

  /** Adds a parameter; its placeholder. */
  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  /** The filter fields of `q`, except services and levels when `withKeys` is false (a caller that fixes them per branch). */
  filters(q: Omit<LogQuery, 'limit'>, withKeys = true): this {
    const c = this.conditions;
    if (withKeys && q.services && q.services.length > 0) c.push(`service = ANY(${this.param(q.services)}::text[])`);
    if (withKeys && q.levels && q.levels.length > 0) c.push(`level = ANY(${this.param(q.levels.map(levelIndex))}::smallint[])`);
    if (q.from !== undefined) c.push(`ts >= ${this.param(q.from)}`);
    if (q.to !== undefined) c.push(`ts <= ${this.param(q.to)}`);
    if (q.receivedFrom !== undefined) c.push(`received_at >= ${this.param(q.receivedFrom)}`);
    if (q.receivedTo !== undefined) c.push(`received_at <= ${this.param(q.receivedTo)}`);
    if (q.userId !== undefined) c.push(`user_id = ${this.param(q.userId)}`);
    // A log of no pattern (0 in StoredLog) holds NULL.
    if (q.patternId !== undefined) c.push(q.patternId > 0 ? `pattern_id = ${this.param(q.patternId)}` : 'pattern_id IS NULL');
    if (q.text) c.push(`message ILIKE ${this.param(likePattern(q.text))} COLLATE "C"`);
    if (q.before !== undefined) c.push(`(ts, id) < (${this.param(q.before.ts)}, ${this.param(q.before.id)})`);
    if (q.idBelow !== undefined) c.push(`id < ${this.param(q.idBelow)}`);
    return this;
  }

  where(extra: string[] = []): string {
    const all = [...this.conditions, ...extra];
    return all.length === 0 ? '' : `WHERE ${all.join(' AND ')}`;
  }
}

/** The (service, level) pairs a query names, when it names both and they are few: each is one index range. */
export function keyPairs(q: Pick<LogQuery, 'services' | 'levels'>, max = 32): [string, number][] | undefined {
  if (!q.services?.length || !q.levels?.length) return undefined;
  const levels = [...new Set(q.levels.map(levelIndex))];
  const services = [...new Set(q.services)];
  if (services.length * levels.length > max) return undefined;
  return services.flatMap((s) => levels.map((l): [string, number] => [s, l]));
}

/** The level name stored as its index. */
export function levelAt(index: number): (typeof LEVELS)[number] {
  const level = LEVELS[index];
  if (level === undefined) throw new Error(`level index ${index} is not a level`);
  return level;
}
