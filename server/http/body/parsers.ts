import type { FastifyInstance, FastifyRequest } from 'fastify';
import { decodeBody } from './decode.js';
import { parseJsonBytes } from './json.js';
import { NDJSON_TYPES, parseNdjsonBytes } from './ndjson.js';

/**
 * What POST /api/logs' parsers give: the parsed body (a JSON value, or an NdjsonBody), and the
 * bytes and format it was parsed from. Ingest hands the bytes to the recent-logs buffer, which
 * keeps each log as its own bytes of the request, and to the durable tier; no other route
 * gets them.
 */
export class IngestBody {
  constructor(
    readonly value: unknown,
    readonly bytes: Buffer,
    readonly format: 'json' | 'ndjson',
  ) {}
}

type Done = (err: Error | null, value?: unknown) => void;

/** A content-type parser (parseAs 'buffer'): the body decoded and checked (decode.ts), then `parse`d. */
function bytesParser(parse: (bytes: Buffer) => unknown) {
  return (request: FastifyRequest, body: string | Buffer, done: Done): void => {
    decodeBody(request, body as Buffer, (err, bytes) => {
      if (err !== null) return done(err);
      let value: unknown;
      try {
        value = parse(bytes!);
      } catch (e) {
        return done(e as Error);
      }
      done(null, value);
    });
  };
}

/** A content-type parser reading the body as text, with decodeBody's checks, then `parse`. */
export function textBodyParser(parse: (text: string) => unknown) {
  return bytesParser((bytes) => parse(bytes.toString()));
}

/**
 * The app's body parsers: JSON (our own, with Fastify's checks, faster on large arrays) and
 * NDJSON. Nothing else: Fastify's text/plain parser would take any string as a log body.
 */
export function registerBodyParsers(app: FastifyInstance): void {
  app.removeContentTypeParser(['text/plain', 'application/json']);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, bytesParser(parseJsonBytes));
  app.addContentTypeParser(NDJSON_TYPES, { parseAs: 'buffer' }, bytesParser(parseNdjsonBytes));
}

/** POST /api/logs' parsers, in its own plugin: the same parsing, the value handed over with its bytes (IngestBody). */
export function registerIngestBodyParsers(app: FastifyInstance): void {
  app.removeContentTypeParser(['application/json', ...NDJSON_TYPES]);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, bytesParser((bytes) => new IngestBody(parseJsonBytes(bytes), bytes, 'json')));
  app.addContentTypeParser(NDJSON_TYPES, { parseAs: 'buffer' }, bytesParser((bytes) => new IngestBody(parseNdjsonBytes(bytes), bytes, 'ndjson')));
}
