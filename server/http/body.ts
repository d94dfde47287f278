import type { FastifyInstance } from 'fastify';
import sjson from 'secure-json-parse';
import { AppError } from '../core/errors.js';
import { UnparseableLine } from '../core/ingest.js';

/** A parsed NDJSON body: one item per non-blank line, broken lines kept as UnparseableLine. */
export class NdjsonBody {
  constructor(readonly items: unknown[]) {}
}

export const NDJSON_TYPES = ['application/x-ndjson', 'application/ndjson', 'application/jsonl'];

export function parseNdjson(text: string): NdjsonBody {
  const items: unknown[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    try {
      items.push(sjson.parse(line, null, { protoAction: 'error', constructorAction: 'error' }));
    } catch (e) {
      items.push(new UnparseableLine(i + 1, (e as Error).message));
    }
  }
  return new NdjsonBody(items);
}

export function registerBodyParsers(app: FastifyInstance): void {
  // Fastify parses text/plain by default; a log server accepting it would take any string as a log body.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser(NDJSON_TYPES, { parseAs: 'string' }, (_req, body, done) => {
    done(null, parseNdjson(body as string));
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
