import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { IngestResult, RejectedItem } from '../../core/ingest.js';
import { toBatch } from '../body/batch.js';
import { registerIngestBodyParsers } from '../body/parsers.js';
import { ingestVia } from '../protocols.js';
import { ErrorBodySchema } from '../schemas/common.js';
import { BatchReplySchema, batchBody, SingleAcceptedSchema, SingleInvalidSchema } from '../schemas/ingest.js';

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
export const ingestRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { core } = app;
  registerIngestBodyParsers(app);
  app.post(
    '/api/logs',
    {
      config: {
        access: { scope: 'ingest', door: 'api' },
        // For GET /openapi.json only: this door checks each log itself and answers in its own shapes.
        docs: {
          summary: 'Store logs',
          description:
            'Each log is checked on its own against the log schema: one bad log never blocks the rest. One object: 201 or 400 with its errors. A batch: 201, 207 (some stored) or 400 (none), with each rejected item named. Answered after the logs are committed. gzip, deflate and br bodies are decompressed.',
          tags: ['logs'],
          body: batchBody(app.logSchema, 'One log, a JSON array of logs, or NDJSON (application/x-ndjson).'),
          response: {
            201: Type.Union([SingleAcceptedSchema, BatchReplySchema]),
            207: BatchReplySchema,
            400: Type.Union([SingleInvalidSchema, BatchReplySchema, ErrorBodySchema]),
          },
        },
      },
    },
    async (request, reply) => {
      const batch = toBatch(request.body, app.config.limits.max_batch_items);
      const result = await ingestVia(core, 'api', batch.items, { boundService: request.principal.service, raw: batch.raw });
      if (batch.single) {
        if (result.accepted === 1) return reply.code(201).send({ status: 'accepted' });
        return reply.code(400).send({ status: 'invalid', errors: result.rejected[0]!.errors });
      }
      return reply.code(batchStatus(result)).send(batchReply(result));
    },
  );
};
