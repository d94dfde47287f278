import { AppError } from '../../core/errors.js';
import type { RawBatch } from '../../core/repository.js';
import { NdjsonBody } from './ndjson.js';
import { IngestBody } from './parsers.js';

export interface Batch {
  /** True for one JSON object (POST /api/logs' single-log shape), false for arrays and NDJSON. */
  single: boolean;
  items: unknown[];
  /** The bytes the items came from, when the route's parser kept them (IngestBody). */
  raw: RawBatch | undefined;
}

/** Classifies an ingest body; anything but an object, an array or NDJSON is a 400. */
export function toBatch(body: unknown, maxItems: number): Batch {
  const ingest = body instanceof IngestBody;
  const value = ingest ? body.value : body;
  // The bytes go in the one object literal: a property added afterwards changes the object's shape on every request.
  const raw: RawBatch | undefined = ingest ? { bytes: body.bytes, format: body.format } : undefined;
  let batch: Batch;
  if (value instanceof NdjsonBody) batch = { single: false, items: value.items, raw };
  else if (Array.isArray(value)) batch = { single: false, items: value, raw };
  else if (typeof value === 'object' && value !== null) batch = { single: true, items: [value], raw };
  else {
    throw new AppError(
      400,
      'BAD_BODY_SHAPE',
      `the body must be one log object, a JSON array of log objects, or NDJSON (one object per line with Content-Type: application/x-ndjson); got ${value === undefined ? 'no body' : value === null ? 'null' : typeof value}`,
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
