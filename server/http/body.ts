import { errorCodes, type FastifyInstance } from 'fastify';
import sjson from 'secure-json-parse';
import { AppError } from '../core/errors.js';
import { UnparseableLine } from '../core/ingest.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The body's bytes as they arrived (JSON and NDJSON bodies): durable storage keeps them as they are. */
    rawBody: Buffer | undefined;
  }
}

/** A parsed NDJSON body: one item per non-blank line, broken lines kept as UnparseableLine. */
export class NdjsonBody {
  constructor(readonly items: unknown[]) {}
}

export const NDJSON_TYPES = ['application/x-ndjson', 'application/ndjson', 'application/jsonl'];

const POISON = { protoAction: 'error', constructorAction: 'error' } as const;

/**
 * Whether a JSON text may hold a `__proto__` or `constructor` key. Those names can only be
 * spelled literally or with \u escapes, so text without either is clean and its parsed value
 * needs no scan. One pass of a plain alternation costs a quarter of secure-json-parse's two
 * expressions over the whole body, and half of three substring searches.
 */
const MAY_SPELL_POISON = /__proto__|constructor|\\u/;

/**
 * JSON.parse refusing prototype poisoning (a `__proto__` key, or `constructor` with a
 * `prototype`) with a SyntaxError, as Fastify's own parser does with `onProtoPoisoning: 'error'`.
 */
export function parseJsonText(text: string): unknown {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.length === 0) throw new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY();
  const value: unknown = JSON.parse(text);
  if (typeof value === 'object' && value !== null && MAY_SPELL_POISON.test(text)) sjson.scan(value, POISON);
  return value;
}

function isBlank(line: string): boolean {
  if (line.length === 0) return true;
  const c = line.charCodeAt(0);
  // JSON.parse skips surrounding whitespace itself; only a line that starts with some can be all whitespace.
  return (c === 32 || c === 9 || c === 13) && line.trim() === '';
}

export function parseNdjson(text: string): NdjsonBody {
  const items: unknown[] = [];
  const lines = text.split('\n');
  const scan = MAY_SPELL_POISON.test(text);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (isBlank(line)) continue;
    try {
      const value: unknown = JSON.parse(line);
      if (scan && typeof value === 'object' && value !== null) sjson.scan(value, POISON);
      items.push(value);
    } catch (e) {
      items.push(new UnparseableLine(i + 1, (e as Error).message));
    }
  }
  return new NdjsonBody(items);
}

export function registerBodyParsers(app: FastifyInstance): void {
  // Fastify parses text/plain by default; a log server accepting it would take any string as a log body.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest('rawBody', undefined);
  // Our own JSON parser: the same checks as Fastify's, faster on large bodies, and the bytes kept.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    request.rawBody = body as Buffer;
    let value: unknown;
    try {
      value = parseJsonText((body as Buffer).toString());
    } catch (e) {
      done(e as Error, undefined);
      return;
    }
    done(null, value);
  });
  app.addContentTypeParser(NDJSON_TYPES, { parseAs: 'buffer' }, (request, body, done) => {
    request.rawBody = body as Buffer;
    done(null, parseNdjson((body as Buffer).toString()));
  });
}

export interface Batch {
  /** True for one JSON object (seed 004's single-log shape), false for arrays and NDJSON. */
  single: boolean;
  items: unknown[];
}

/** Classifies an ingest body; anything but an object, an array or NDJSON is a 400. */
export function toBatch(body: unknown, maxItems: number): Batch {
  let batch: Batch;
  if (body instanceof NdjsonBody) batch = { single: false, items: body.items };
  else if (Array.isArray(body)) batch = { single: false, items: body };
  else if (typeof body === 'object' && body !== null) batch = { single: true, items: [body] };
  else {
    throw new AppError(
      400,
      'BAD_BODY_SHAPE',
      `the body must be one log object, a JSON array of log objects, or NDJSON (one object per line with Content-Type: application/x-ndjson); got ${body === undefined ? 'no body' : body === null ? 'null' : typeof body}`,
    );
  }
  if (batch.items.length === 0) {
    throw new AppError(400, 'EMPTY_BATCH', 'the batch holds no logs; send at least one log object');
  }
  if (batch.items.length > maxItems) {
    throw new AppError(
      413,
      'BATCH_TOO_LARGE',
      `the batch holds ${batch.items.length} logs, more than the limit of ${maxItems} (limits.max_batch_items); split it into smaller batches`,
    );
  }
  return batch;
}
