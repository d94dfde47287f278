import { isUtf8 } from 'node:buffer';
import { brotliDecompressSync, gunzipSync, inflateSync, type ZlibOptions } from 'node:zlib';
import { errorCodes, type FastifyInstance, type FastifyRequest } from 'fastify';
import sjson from 'secure-json-parse';
import { AppError } from '../core/errors.js';
import { isSpace, textStart } from '../core/json-spans.js';
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

/** The two keys secure-json-parse refuses on: `__proto__`, and `prototype` inside a `constructor` object. */
const POISON_KEYS = /__proto__|prototype/;

/**
 * Whether a JSON text may hold a `__proto__` key, or a `constructor` key whose object has a
 * `prototype` key: the only keys the scan refuses. Spelled literally, both contain `proto`;
 * spelled any other way, they contain a `\u` escape (no other JSON escape makes a letter). So
 * text without `\u` and without `proto` is clean, and its parsed value needs no scan. The two
 * substring searches are the common case (a backslash is rare in logs and found by a
 * vectorized scan; `proto` is one literal for the engine to skip along): 39 ns a log against
 * 63 for an alternation of the names, whose shortest branch bounds how far the regular
 * expression engine may skip. Text that does say `proto` (a message about a protocol) is then
 * searched for the two keys before the scan is paid.
 */
function maySpellPoison(text: string): boolean {
  return text.includes('\\u') || (text.includes('proto') && POISON_KEYS.test(text));
}

/**
 * JSON.parse refusing prototype poisoning (a `__proto__` key, or `constructor` with a
 * `prototype`) with a SyntaxError, as Fastify's own parser does with `onProtoPoisoning: 'error'`.
 */
export function parseJsonText(text: string): unknown {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.length === 0) throw new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY();
  const value: unknown = JSON.parse(text);
  if (typeof value === 'object' && value !== null && maySpellPoison(text)) sjson.scan(value, POISON);
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

/** Parses the lines of `text` into `items`; its first line is line `before` + 1 of the body. Returns the lines read. */
function ndjsonLines(text: string, items: unknown[], before: number): number {
  const lines = text.split('\n');
  const scan = maySpellPoison(text);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (isBlank(line)) continue;
    try {
      const value: unknown = JSON.parse(line);
      if (scan && typeof value === 'object' && value !== null) sjson.scan(value, POISON);
      items.push(value);
    } catch (e) {
      items.push(new UnparseableLine(before + i + 1, (e as Error).message));
    }
  }
  return before + lines.length;
}

export function parseNdjson(text: string): NdjsonBody {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const items: unknown[] = [];
  ndjsonLines(text, items, 0);
  return new NdjsonBody(items);
}

/**
 * Large bodies are turned into text in pieces of about this many bytes. V8 keeps a string of
 * more than 128 KiB in its large-object space, on pages mapped for that string alone and
 * given back when it dies: every large body cost one page fault per 4 KiB (about 60 for a
 * 1000-log batch), 9 % of batch ingest on the benchmark machine, where a fault costs ~3.6 µs.
 * Smaller strings come from pages the heap reuses. Pieces stay under 64 KiB of bytes, so
 * under 128 KiB even as two-byte strings (text outside Latin-1).
 */
export const PIECE_BYTES = 32 * 1024;
const MAX_PIECE_BYTES = 60 * 1024;

const OBJECT_THEN_COMMA = Buffer.from('},');
/**
 * Where a piece is put between brackets before it becomes text: decoding `[`, the piece and
 * `]` from one buffer makes a flat string, where a template string makes a cons string that
 * JSON.parse first copies flat. Used synchronously only, so one serves every request.
 */
const bracketed = Buffer.allocUnsafeSlow(MAX_PIECE_BYTES + 2);
bracketed[0] = 0x5b;
/** Failed cuts (each a parse of up to a piece) after which a body is parsed whole. */
const MAX_MISSES = 3;

/** The first byte at or after `i` that is not JSON whitespace. */
function skipSpace(bytes: Buffer, i: number): number {
  while (i < bytes.length && isSpace(bytes[i]!)) i++;
  return i;
}

/**
 * The elements of a large JSON array body, parsed in pieces cut after a `},` and each read as
 * `[piece]`. A cut that falls inside a string or a nested value leaves a piece that is not
 * valid JSON (its string or brackets are left open), so when every piece parses, every cut
 * was between two elements of the array and the pieces' elements, in order, are the body's.
 * Undefined when the body is not an array, has no cut point close enough, or its cuts keep
 * failing (or it is not valid JSON): the caller then parses the body whole, which also gives
 * the error a client sees.
 */
export function parseArrayInPieces(bytes: Buffer): unknown[] | undefined {
  let start = skipSpace(bytes, textStart(bytes));
  if (bytes[start] !== 0x5b) return undefined;
  start++;
  const pieces: unknown[][] = [];
  const toScan: unknown[][] = [];
  let misses = 0;
  let from = start + PIECE_BYTES;
  for (;;) {
    const last = bytes.length - start <= MAX_PIECE_BYTES;
    const cut = last ? -1 : bytes.indexOf(OBJECT_THEN_COMMA, from);
    if (!last && (cut === -1 || cut + 1 - start > MAX_PIECE_BYTES)) return undefined;
    // Between two log objects the next thing is an object: skip `},"key"` inside one without parsing.
    if (!last && bytes[skipSpace(bytes, cut + 2)] !== 0x7b) {
      from = cut + 1;
      continue;
    }
    // The last piece ends with the body's own `]` (and any whitespace after it).
    const length = bytes.copy(bracketed, 1, start, last ? bytes.length : cut + 1);
    if (!last) bracketed[length + 1] = 0x5d;
    const text = bracketed.toString('utf8', 0, last ? length + 1 : length + 2);
    let value: unknown[];
    try {
      value = JSON.parse(text) as unknown[];
    } catch {
      // A cut inside a string or a nested array of objects: try the next few, then give up.
      if (last || ++misses > MAX_MISSES) return undefined;
      from = cut + 1;
      continue;
    }
    // Scanned once every piece has parsed, so a body both poisoned and broken gets the same error as when parsed whole.
    if (maySpellPoison(text)) toScan.push(value);
    pieces.push(value);
    if (last) break;
    start = cut + 2;
    from = start + PIECE_BYTES;
  }
  for (const value of toScan) sjson.scan(value, POISON);
  // One concat of all the pieces copies their elements in bulk, faster than pushing one by one.
  return ([] as unknown[]).concat(...pieces);
}

/** A JSON body's value: a large array in pieces (see PIECE_BYTES), anything else as one text. */
export function parseJsonBytes(bytes: Buffer): unknown {
  if (bytes.length > MAX_PIECE_BYTES) {
    const items = parseArrayInPieces(bytes);
    if (items !== undefined) return items;
  }
  return parseJsonText(bytes.toString());
}

/** An NDJSON body, a large one turned into text in pieces cut at newlines (see PIECE_BYTES): the same lines as parseNdjson. */
export function parseNdjsonBytes(bytes: Buffer): NdjsonBody {
  if (bytes.length <= MAX_PIECE_BYTES) return parseNdjson(bytes.toString());
  const items: unknown[] = [];
  let lines = 0;
  let start = textStart(bytes);
  for (;;) {
    const cut = bytes.length - start > MAX_PIECE_BYTES ? bytes.indexOf(0x0a, start + PIECE_BYTES) : -1;
    lines = ndjsonLines(bytes.toString('utf8', start, cut === -1 ? bytes.length : cut), items, lines);
    if (cut === -1) break;
    start = cut + 1;
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
 * The body's bytes, decompressed and checked to be UTF-8 text, or the 4xx that says why they
 * are not: a Content-Encoding we do not decode, a declared charset other than UTF-8, or bytes
 * that are not valid UTF-8 (decoding them would replace characters, and the log would be
 * stored altered). Keeps the bytes as `request.rawBody` for the durable tier.
 */
export function bodyBytes(request: FastifyRequest, body: Buffer): Buffer {
  const bytes = decoded(request, body);
  request.rawBody = bytes;
  const charset = CHARSET.exec(request.headers['content-type'] ?? '')?.[1]?.toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new AppError(415, 'UNSUPPORTED_CHARSET', `charset ${charset} is not supported; send UTF-8 text (charset=utf-8, or no charset)`);
  }
  if (!isUtf8(bytes)) {
    throw new AppError(400, 'INVALID_UTF8', 'the body is not valid UTF-8; JSON must be sent as UTF-8 text');
  }
  return bytes;
}

/** A content-type parser (parseAs 'buffer') checking the body with bodyBytes, then `parse`. */
export function bytesBodyParser(parse: (bytes: Buffer) => unknown) {
  return (request: FastifyRequest, body: string | Buffer, done: (err: Error | null, value?: unknown) => void): void => {
    let value: unknown;
    try {
      value = parse(bodyBytes(request, body as Buffer));
    } catch (e) {
      done(e as Error, undefined);
      return;
    }
    done(null, value);
  };
}

/** A content-type parser (parseAs 'buffer') reading the body as text with bodyBytes' checks, then `parse`. */
export function textBodyParser(parse: (text: string) => unknown) {
  return bytesBodyParser((bytes) => parse(bytes.toString()));
}

export function registerBodyParsers(app: FastifyInstance): void {
  // Fastify parses text/plain by default; a log server accepting it would take any string as a log body.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest('rawBody', undefined);
  // Our own JSON parser: the same checks as Fastify's, faster on large bodies, and the bytes kept.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, bytesBodyParser(parseJsonBytes));
  app.addContentTypeParser(NDJSON_TYPES, { parseAs: 'buffer' }, bytesBodyParser(parseNdjsonBytes));
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
