import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { IngestResult, RejectedItem } from '../../core/ingest.js';
import type { RawBatch } from '../../storage/log-repository.js';
import { NdjsonBody, toBatch } from '../body.js';

export interface BatchReply {
  status: 'accepted' | 'partial' | 'invalid';
  accepted: number;
  rejected: number;
  rejected_items: RejectedItem[];
}

/** 201 when every log was accepted, 207 when some were, 400 when none. */
export function batchStatus(result: IngestResult): 201 | 207 | 400 {
  if (result.rejected.length === 0) return 201;
  return result.accepted > 0 ? 207 : 400;
}

export function batchReply(result: IngestResult): BatchReply {
  const code = batchStatus(result);
  return {
    status: code === 201 ? 'accepted' : code === 207 ? 'partial' : 'invalid',
    accepted: result.accepted,
    rejected: result.rejected.length,
    rejected_items: result.rejected,
  };
}

/** The body's bytes for the durable tier, which keeps them as they came when every item is accepted. */
function rawBatchOf(request: FastifyRequest): RawBatch | undefined {
  const bytes = request.rawBody;
  return bytes === undefined ? undefined : { bytes, format: request.body instanceof NdjsonBody ? 'ndjson' : 'json' };
}

/** POST /api/logs: one object (seed 004's shapes), a JSON array or NDJSON (batch shapes). */
export async function ingestRoutes(app: FastifyInstance): Promise<void> {
  const { core } = app;
  app.post('/api/logs', { config: { access: { scope: 'ingest', door: 'api' } } }, async (request, reply) => {
    const batch = toBatch(request.body, core.config.limits.max_batch_items);
    const result = await core.pipeline.ingest(batch.items, { boundService: request.principal.service, raw: rawBatchOf(request), protocol: 'api' });
    if (batch.single) {
      if (result.accepted === 1) return reply.code(201).send({ status: 'accepted' });
      return reply.code(400).send({ status: 'invalid', errors: result.rejected[0]!.errors });
    }
    return reply.code(batchStatus(result)).send(batchReply(result));
  });
}
