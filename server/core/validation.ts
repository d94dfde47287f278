import { Ajv2020, _, type ErrorObject, type KeywordCxt, type ValidateFunction } from 'ajv/dist/2020.js';
import { parseRfc3339 } from './time.js';
import type { LogInput } from './log.js';

export interface FieldLimits {
  max_service_length: number;
  max_user_id_length: number;
  max_message_length: number;
  max_metadata_keys: number;
  max_metadata_depth: number;
}

/**
 * True when `value` nests objects or arrays deeper than `limit` levels (the value itself is
 * level 1). Iterative and stops at the limit: a hostile depth cannot overflow the stack here,
 * and a stored log can always be serialized back.
 */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  // Most metadata is one flat object: say so without building the stack.
  if (limit >= 1 && typeof value === 'object' && value !== null && !Array.isArray(value)) {
    let flat = true;
    for (const key in value) {
      const child = (value as Record<string, unknown>)[key];
      if (typeof child === 'object' && child !== null) {
        flat = false;
        break;
      }
    }
    if (flat) return false;
  }
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (depth > limit) return true;
    for (const child of Object.values(v as object)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

/**
 * The pattern schemas/log.schema.json gives names a person reads in a list or a terminal
 * (service, user_id): no C0 or C1 control character, which would break a line of output or
 * hide what follows a NUL.
 */
export const NO_CONTROL_CHARACTERS = '^[^\\u0000-\\u001F\\u007F-\\u009F]*$';

/** A check failure in readable words plus the schema keyword it came from (for statistics). */
export interface Problem {
  keyword: string;
  message: string;
}

function fieldName(err: ErrorObject): string {
  return err.instancePath.split('/').slice(1).join('.');
}

/** A short rendering of a rejected value. Never serializes containers: they may be nested deep enough to overflow the stack. */
function show(value: unknown): string {
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function allowedKeys(err: ErrorObject): string {
  const props = (err.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties;
  return props ? Object.keys(props).join(', ') : 'none';
}

/** Turns one ajv error into a sentence that says what is wrong and what would be right. */
export function describe(err: ErrorObject): string {
  const field = fieldName(err);
  const subject = field ? `'${field}'` : 'the value';
  const p = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'required':
      return `'${field ? `${field}.` : ''}${String(p.missingProperty)}' is a required property`;
    case 'additionalProperties':
      return `'${String(p.additionalProperty)}' is not an allowed property${field ? ` of '${field}'` : ''}; allowed: ${allowedKeys(err)}`;
    case 'enum':
      return `${subject} must be one of ${(p.allowedValues as unknown[]).join(', ')} (got ${show(err.data)})`;
    case 'type':
      return `${subject} must be of type ${String(p.type)} (got ${err.data === null ? 'null' : Array.isArray(err.data) ? 'array' : typeof err.data})`;
    case 'format':
      return `${subject} must be an RFC 3339 date-time with an offset, e.g. 2024-01-15T14:30:00Z, in years 1970-9999 (got ${show(err.data)})`;
    case 'minLength':
      return `${subject} must not be empty`;
    case 'maxLength':
      return `${subject} is longer than the limit of ${String(p.limit)} characters`;
    case 'maxProperties':
      return `${subject} has more than the limit of ${String(p.limit)} keys`;
    case 'pattern':
      return p.pattern === NO_CONTROL_CHARACTERS
        ? `${subject} must not contain control characters (such as NUL, a tab or a line break; got ${show(err.data)}); remove or replace them`
        : `${subject} must match ${String(p.pattern)} (got ${show(err.data)})`;
    default:
      return `${subject} ${err.message ?? 'is invalid'}`;
  }
}

/**
 * The log schema (schemas/log.schema.json) with the configured caps in place of its defaults:
 * each property marked `x-limit` takes the limit that key names. What ingest validates
 * against, and what GET /openapi.json shows a client.
 */
export function withLimits(schema: Record<string, unknown>, limits: FieldLimits): Record<string, unknown> {
  const copy = structuredClone(schema) as { properties: Record<string, Record<string, unknown>> };
  for (const prop of Object.values(copy.properties)) {
    const limitKey = prop['x-limit'] as keyof FieldLimits | undefined;
    if (limitKey !== undefined) prop['maxProperties' in prop ? 'maxProperties' : 'maxLength'] = limits[limitKey];
  }
  return copy;
}

/**
 * Compiles the log schema with the configured length caps substituted for its defaults.
 *
 * With `codeUnits`, string lengths are measured with `.length` (UTF-16 code units) rather
 * than by counting code points, which walks the string: `maxLength` becomes `maxCodeUnits`,
 * and a `minLength` of 0 or 1 (where the two counts agree) `minCodeUnits`. A string never has
 * fewer code units than code points, so such a validator refuses nothing the schema accepts
 * but a string of characters beyond U+FFFF that fits its limit only by code points.
 */
export function compileLogSchema(
  schema: Record<string, unknown>,
  limits: FieldLimits,
  parseTime: (text: string) => number = parseRfc3339,
  allErrors = true,
  codeUnits = false,
): ValidateFunction<LogInput> {
  const copy = withLimits(schema, limits) as { properties: Record<string, Record<string, unknown>> };
  for (const prop of Object.values(copy.properties)) {
    if (!codeUnits) continue;
    if (typeof prop.maxLength === 'number') {
      prop.maxCodeUnits = prop.maxLength;
      delete prop.maxLength;
    }
    if (typeof prop.minLength === 'number' && prop.minLength <= 1) {
      prop.minCodeUnits = prop.minLength;
      delete prop.minLength;
    }
  }
  const ajv = new Ajv2020({ allErrors, strict: true, verbose: allErrors, keywords: ['x-limit'] });
  for (const [keyword, test] of [
    ['maxCodeUnits', (cxt: KeywordCxt) => _`${cxt.data}.length > ${cxt.schema as number}`],
    ['minCodeUnits', (cxt: KeywordCxt) => _`${cxt.data}.length < ${cxt.schema as number}`],
  ] as const) {
    ajv.addKeyword({ keyword, type: 'string', schemaType: 'number', code: (cxt) => cxt.fail(test(cxt)) });
  }
  ajv.addFormat('date-time', { type: 'string', validate: (s: string) => !Number.isNaN(parseTime(s)) });
  return ajv.compile<LogInput>(copy);
}

/** Counts of validation outcomes since start, by ajv keyword for the failures. */
export class ValidationStats {
  total = 0;
  valid = 0;
  invalid = 0;
  readonly errorTypes = new Map<string, number>();

  recordValid(): void {
    this.total++;
    this.valid++;
  }

  recordInvalid(problems: readonly Problem[]): void {
    this.total++;
    this.invalid++;
    for (const keyword of new Set(problems.map((p) => p.keyword))) {
      this.errorTypes.set(keyword, (this.errorTypes.get(keyword) ?? 0) + 1);
    }
  }

  toJSON(): { total: number; valid: number; invalid: number; error_types: Record<string, number> } {
    return { total: this.total, valid: this.valid, invalid: this.invalid, error_types: Object.fromEntries(this.errorTypes) };
  }
}

/**
 * Validates one candidate log and parses its timestamp (once) to epoch ms.
 *
 * Two validators come from the one schema: a quick one that stops at the first failure, run
 * on every log, and one that collects every failure with its details, run only on a log the
 * quick one refused, to say everything that is wrong with it. The quick one measures string
 * lengths with `.length` (counting code points cost ~6 % of batch ingest); the few strings
 * only code points fit in are refused by it and accepted by the thorough one.
 */
export class LogValidator {
  private readonly quick: ValidateFunction<LogInput>;
  private readonly thorough: ValidateFunction<LogInput>;
  private readonly maxDepth: number;
  /** The timestamp the format check parsed last, so an accepted log's is parsed once, not twice. */
  private lastText = '';
  private lastMs = Number.NaN;

  constructor(schema: Record<string, unknown>, limits: FieldLimits) {
    const remember = (text: string): number => {
      this.lastText = text;
      this.lastMs = parseRfc3339(text);
      return this.lastMs;
    };
    this.quick = compileLogSchema(schema, limits, remember, false, true);
    this.thorough = compileLogSchema(schema, limits, parseRfc3339, true);
    this.maxDepth = limits.max_metadata_depth;
  }

  /**
   * The event time (epoch ms) when `value` is a valid log, else every problem found. Allocates
   * nothing for a valid log: it runs once per ingested log. The fields stored as text (service,
   * message, user_id) must also be well-formed: an unpaired surrogate could not be stored and
   * read back unchanged.
   */
  validate(value: unknown): number | Problem[] {
    if (!this.quick(value) && !this.thorough(value)) {
      return this.thorough.errors!.map((e) => ({ keyword: e.keyword, message: describe(e) }));
    }
    const malformed = !value.service.isWellFormed()
      ? 'service'
      : !value.message.isWellFormed()
        ? 'message'
        : value.user_id !== undefined && !value.user_id.isWellFormed()
          ? 'user_id'
          : undefined;
    if (malformed !== undefined) {
      return [{ keyword: 'encoding', message: `'${malformed}' holds an unpaired UTF-16 surrogate, which is not valid Unicode; send valid UTF-8 text` }];
    }
    if (value.metadata !== undefined && nestedDeeperThan(value.metadata, this.maxDepth)) {
      return [{ keyword: 'maxDepth', message: `'metadata' nests deeper than the limit of ${this.maxDepth} levels (limits.max_metadata_depth); flatten it` }];
    }
    return value.timestamp === this.lastText ? this.lastMs : parseRfc3339(value.timestamp);
  }
}
