import type { FastifyInstance } from 'fastify';
import type { IngestResult, RejectedItem } from '../../core/ingest.js';
import { toBatch } from '../body/batch.js';
import { registerIngestBodyParsers } from '../body/parsers.js';
import { ingestVia } from '../protocols.js';

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

/**
 * POST /api/logs: one object, a JSON array or NDJSON. Its own plugin, so its parsers (which
 * keep the request's bytes for the recent-logs buffer and the durable tier) serve it alone.
 */
export async function ingestRoutes(app: FastifyInstance): Promise<void> {
  const { core } = app;
  registerIngestBodyParsers(app);
  app.post('/api/logs', { config: { access: { scope: 'ingest', door: 'api' } } }, async (request, reply) => {
    const batch = toBatch(request.body, app.config.limits.max_batch_items);
    const result = await ingestVia(core, 'api', batch.items, { boundService: request.principal.service, raw: batch.raw });
    if (batch.single) {
      if (result.accepted === 1) return reply.code(201).send({ status: 'accepted' });
      return reply.code(400).send({ status: 'invalid', errors: result.rejected[0]!.errors });
    }
    return reply.code(batchStatus(result)).send(batchReply(result));
  });
}
