import { isUtf8 } from 'node:buffer';
import { brotliDecompressSync, gunzipSync, inflateSync, type ZlibOptions } from 'node:zlib';
import { errorCodes, type FastifyInstance, type FastifyRequest } from 'fastify';
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

/** A line of nothing but JSON whitespace other than newline (space, tab, CR): skipped, like an empty one. */
function isBlank(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13) return false;
  }
  return true;
}

export function parseNdjson(text: string): NdjsonBody {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
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

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)/i;

const DECODERS: Record<string, (body: Buffer, options: ZlibOptions) => Buffer> = {
  gzip: gunzipSync,
  'x-gzip': gunzipSync,
  deflate: inflateSync,
  br: brotliDecompressSync,
};

/**
 * The body as sent, decompressed when it has a Content-Encoding (shippers gzip by default).
 * The decompressed size is held to the same body limit as an uncompressed body, so a small
 * compressed body cannot expand into an unbounded one.
 */
function decoded(request: FastifyRequest, body: Buffer): Buffer {
  const header = request.headers['content-encoding'];
  const encoding = header?.trim().toLowerCase();
  if (encoding === undefined || encoding === '' || encoding === 'identity') return body;
  const decode = DECODERS[encoding];
  if (decode === undefined) {
    throw new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', `Content-Encoding ${header} is not supported; send gzip, deflate, br or an uncompressed body`);
  }
  const limit = request.routeOptions.bodyLimit ?? Number.MAX_SAFE_INTEGER;
  try {
    return decode(body, { maxOutputLength: limit });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new AppError(413, 'BODY_TOO_LARGE', `the ${encoding} body expands past the limit of ${limit} bytes (limits.max_body_bytes); split it into smaller batches`);
    }
    throw new AppError(400, 'BAD_ENCODING', `the body is not valid ${encoding} data (${(e as Error).message}); compress it whole, or send it uncompressed`);
  }
}

/**
 * The body as text, or the 4xx that says why it is not: a Content-Encoding we do not decode,
 * a declared charset other than UTF-8, or bytes that are not valid UTF-8 (decoding them would
 * replace characters, and the log would be stored altered). Keeps the decoded bytes as
 * `request.rawBody` for the durable tier.
 */
export function bodyText(request: FastifyRequest, body: Buffer): string {
  const bytes = decoded(request, body);
  request.rawBody = bytes;
  const charset = CHARSET.exec(request.headers['content-type'] ?? '')?.[1]?.toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new AppError(415, 'UNSUPPORTED_CHARSET', `charset ${charset} is not supported; send UTF-8 text (charset=utf-8, or no charset)`);
  }
  if (!isUtf8(bytes)) {
    throw new AppError(400, 'INVALID_UTF8', 'the body is not valid UTF-8; JSON must be sent as UTF-8 text');
  }
  return bytes.toString();
}

/** A content-type parser (parseAs 'buffer') reading the body as text with bodyText's checks, then `parse`. */
export function textBodyParser(parse: (text: string) => unknown) {
  return (request: FastifyRequest, body: string | Buffer, done: (err: Error | null, value?: unknown) => void): void => {
    let value: unknown;
    try {
      value = parse(bodyText(request, body as Buffer));
    } catch (e) {
      done(e as Error, undefined);
      return;
    }
    done(null, value);
  };
}

export function registerBodyParsers(app: FastifyInstance): void {
  // Fastify parses text/plain by default; a log server accepting it would take any string as a log body.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest('rawBody', undefined);
  // Our own JSON parser: the same checks as Fastify's, faster on large bodies, and the bytes kept.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, textBodyParser(parseJsonText));
  app.addContentTypeParser(NDJSON_TYPES, { parseAs: 'buffer' }, textBodyParser(parseNdjson));
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
