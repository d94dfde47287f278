import { Type, type TSchema } from '@sinclair/typebox';
import { AppError } from '../../core/errors.js';
import { parseCursor, type LogCursor } from '../../core/listing-order.js';
import { parseQueryTime } from '../../core/time.js';

/**
 * Query parameters: the kinds a route schema declares them as, and how Fastify reads them.
 *
 * A route's `schema.querystring` is an object of these kinds. Each kind is plain JSON Schema,
 * so GET /openapi.json shows it; its TypeBox type is what the handler receives, already
 * converted (a time as epoch ms, a list as an array). `compileQuerystring` is the validator
 * compiler Fastify runs for every querystring schema (http/validation.ts): it reads the values strictly and answers
 * a 400 INVALID_QUERY naming the parameter and what is wrong, rather than ignoring or guessing:
 * an unknown name, a single-valued parameter given twice, an empty value, a number that is not
 * written as plain digits (`1e3`, `+5`, `0x10`: what generic type coercion would accept).
 */

/** A whole number within [minimum, maximum], written as plain digits. */
function integer(minimum: number, maximum: number, description: string, defaultValue?: number) {
  return Type.Optional(Type.Integer({ minimum, maximum, description, ...(defaultValue === undefined ? {} : { default: defaultValue }) }));
}

/** A time: RFC 3339, a date-time without offset (taken as UTC), or a date (its midnight UTC); the handler gets epoch ms. */
function timeSchema(description: string) {
  return Type.Unsafe<number>({
    type: 'string',
    format: 'date-time',
    description: `${description}. RFC 3339 (encode an offset's '+' as %2B); without an offset it is UTC; a date alone is its midnight UTC.`,
    examples: ['2024-01-15T14:30:00Z'],
  });
}

function time(description: string) {
  return Type.Optional(timeSchema(description));
}

/** A time that must be given: when it is missing, the 400 shows `example` and says `why` it is needed. */
function requiredTime(description: string, example: string, why: string) {
  return Type.Unsafe<number>({ ...timeSchema(description), examples: [example], 'x-required': why });
}

/** A non-empty text. */
function text(description: string) {
  return Type.Optional(Type.String({ minLength: 1, description }));
}

/** One of `values`, exactly as written. */
function oneOf<T extends string>(values: readonly T[], description: string) {
  return Type.Optional(Type.Unsafe<T>({ type: 'string', enum: [...values], description }));
}

/** Repeatable and comma-separated (`?service=a,b&service=c`); every item non-empty. */
function list(description: string) {
  return Type.Optional(
    Type.Unsafe<string[]>({ type: 'array', items: { type: 'string', minLength: 1 }, description: `${description}. Repeat it, or separate values with commas.` }),
  );
}

/** A list of some of `values`; with `anyCase`, matched case-insensitively and handed over as written in `values`. */
function someOf<T extends string>(values: readonly T[], description: string, anyCase = false) {
  return Type.Optional(
    Type.Unsafe<T[]>({
      type: 'array',
      items: { type: 'string', enum: [...values] },
      description: `${description}. Repeat it, or separate values with commas${anyCase ? '; any letter case' : ''}.`,
      ...(anyCase ? { 'x-any-case': true } : {}),
    }),
  );
}

/** A position in a listing (core/listing-order.ts): the `next_cursor` of a page; the handler gets `{ ts, id }`. */
function cursor(description: string) {
  return Type.Optional(Type.Unsafe<LogCursor>({ type: 'string', pattern: '^-?[0-9]{1,16}[.][0-9]{1,16}$', description, examples: ['1705329000000.42'], 'x-cursor': true }));
}

export const Param = { integer, time, requiredTime, text, oneOf, list, someOf, cursor };

/** A route's querystring: exactly these parameters, no others. */
export function querystring<P extends Record<string, TSchema>>(params: P) {
  return Type.Object(params, { additionalProperties: false });
}

/** For routes that take no query parameters: any one is a 400 naming it, rather than silently ignored. */
export const NO_QUERY = querystring({});

type Raw = Record<string, string | string[] | undefined>;

interface ParamSchema {
  type?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  enum?: string[];
  items?: { enum?: string[] };
  description?: string;
  examples?: string[];
  'x-any-case'?: boolean;
  /** Why a required parameter is needed (Param.requiredTime). */
  'x-required'?: string;
  'x-cursor'?: boolean;
}

function bad(name: string, problem: string): AppError {
  return new AppError(400, 'INVALID_QUERY', `query parameter '${name}' ${problem}`);
}

/** The space an unencoded '+' of an offset becomes in a query string. */
const UNENCODED_PLUS = / (\d{2}:\d{2})$/;

/** Reads one parameter's raw value as its schema says; throws the 400 that names what is wrong. */
type Reader = (name: string, raw: string | string[]) => unknown;

/** A single value: given once, not empty. */
function single(name: string, raw: string | string[]): string {
  if (Array.isArray(raw)) throw bad(name, 'was given more than once; give it once');
  if (raw === '') throw bad(name, 'is empty; give a value or leave it out');
  return raw;
}

/** The items of a repeatable, comma-separated parameter. */
function items(name: string, raw: string | string[]): string[] {
  const all = (Array.isArray(raw) ? raw : [raw]).flatMap((s) => s.split(',')).map((s) => s.trim());
  if (all.some((s) => s === '')) throw bad(name, 'has an empty item; give comma-separated values');
  return all;
}

function readerFor(name: string, p: ParamSchema): Reader {
  if (p.type === 'integer') {
    const min = p.minimum ?? Number.MIN_SAFE_INTEGER;
    const max = p.maximum ?? Number.MAX_SAFE_INTEGER;
    return (n, raw) => {
      const v = single(n, raw);
      if (!/^-?\d+$/.test(v)) throw bad(n, `must be a whole number from ${min} to ${max} (got '${v.slice(0, 40)}')`);
      const value = Number(v);
      if (value < min || value > max) throw bad(n, `must be from ${min} to ${max} (got ${v.slice(0, 40)})`);
      return value;
    };
  }
  if (p.type === 'string' && p.format === 'date-time') {
    return (n, raw) => {
      const v = single(n, raw);
      const ms = parseQueryTime(v);
      if (!Number.isNaN(ms)) return ms;
      // An unencoded '+' in a URL reads as a space: '...T14:30:00+01:00' arrives as '...T14:30:00 01:00'.
      const plus = UNENCODED_PLUS.test(v) && !Number.isNaN(parseQueryTime(v.replace(UNENCODED_PLUS, '+$1')));
      throw bad(
        n,
        `must be a date-time like 2024-01-15T14:30:00Z (a time without offset is UTC) or a date like 2024-01-15 (got '${v.slice(0, 40)}')${plus ? "; a '+' in a URL reads as a space: encode the offset's '+' as %2B" : ''}`,
      );
    };
  }
  if (p.type === 'string' && p['x-cursor'] === true) {
    return (n, raw) => {
      const v = single(n, raw);
      const c = parseCursor(v);
      if (c === undefined) throw bad(n, `must be the next_cursor of a previous page, like 1705329000000.42 (got '${v.slice(0, 40)}')`);
      return c;
    };
  }
  if (p.type === 'string' && p.enum !== undefined) {
    const values = p.enum;
    const allowed = values.length === 2 ? `${values[0]} or ${values[1]}` : `one of ${values.join(', ')}`;
    return (n, raw) => {
      const v = single(n, raw);
      if (!values.includes(v)) throw bad(n, `must be ${allowed} (got '${v.slice(0, 40)}')`);
      return v;
    };
  }
  if (p.type === 'string') return single;
  if (p.type === 'array' && p.items?.enum !== undefined) {
    const values = p.items.enum;
    const anyCase = p['x-any-case'] === true;
    return (n, raw) =>
      items(n, raw).map((item) => {
        const found = anyCase ? item.toUpperCase() : item;
        if (!values.includes(found)) throw bad(n, `must be one or more of ${values.join(', ')} (got '${item.slice(0, 40)}')`);
        return found;
      });
  }
  if (p.type === 'array') return items;
  throw new Error(`query parameter '${name}': no reader for schema ${JSON.stringify(p)}`);
}

/**
 * Compiles a route's querystring schema into a reader (Fastify's validator compiler for that
 * part, http/validation.ts); Fastify replaces `request.query` with what it returns, or
 * answers its error.
 */
export function compileQuerystring(schema: TSchema): (raw: unknown) => { value: Record<string, unknown> } | { error: AppError } {
  const properties = ((schema as { properties?: Record<string, ParamSchema> }).properties ?? {}) as Record<string, ParamSchema>;
  const names = Object.keys(properties);
  const readers = names.map((name) => [name, readerFor(name, properties[name]!)] as const);
  const required = names.filter((name) => properties[name]!['x-required'] !== undefined);
  const unknown = (name: string): AppError =>
    bad(name, `is not known here; ${names.length === 0 ? 'this route takes no query parameters' : `known parameters: ${names.join(', ')}`}`);
  return (input) => {
    const raw = (input ?? {}) as Raw;
    try {
      for (const name of Object.keys(raw)) if (!Object.hasOwn(properties, name)) throw unknown(name);
      const value: Record<string, unknown> = {};
      for (const [name, read] of readers) {
        const v = raw[name];
        if (v !== undefined) value[name] = read(name, v);
      }
      for (const name of required) {
        if (value[name] === undefined) {
          const p = properties[name]!;
          throw bad(name, `is required, e.g. ?${name}=${p.examples?.[0] ?? '...'}; ${p['x-required']}`);
        }
      }
      return { value };
    } catch (e) {
      if (e instanceof AppError) return { error: e };
      throw e;
    }
  };
}

