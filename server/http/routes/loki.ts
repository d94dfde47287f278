import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { AppError } from '../../core/errors.js';
import type { IngestResult } from '../../core/ingest.js';
import { lokiPushToBatch, type EntryPosition } from '../adapters/loki.js';
import { UNKNOWN_SERVICE } from '../adapters/shared.js';
import { NdjsonBody } from '../body/ndjson.js';
import { ingestVia } from '../protocols.js';
import { ErrorBodySchema } from '../schemas/common.js';
import { LokiPushSchema, LokiRejectionSchema } from '../schemas/ingest.js';
import { batchReply, type BatchReply } from './ingest.js';

export const LOKI_PUSH_PATH = '/loki/api/v1/push';

/** A rejected entry: its place in the flattened batch and in the push. */
interface RejectedEntry {
  index: number;
  stream: number;
  entry: number;
  errors: string[];
}

export interface LokiRejection extends Omit<BatchReply, 'rejected_items'> {
  error: string;
  code: 'LOKI_ENTRIES_REJECTED';
  rejected_items: RejectedEntry[];
}

/** Promtail, Alloy and the Docker driver speak snappy protobuf only; these Loki clients can send JSON. */
const JSON_CLIENTS = "pino-loki, winston-loki (json: true), Vector's loki sink (compression gzip or none) and Fluent Bit's loki output send it";

function unsupportedType(request: FastifyRequest): AppError {
  const type = request.headers['content-type'];
  const protobuf = type !== undefined && /^application\/x-protobuf\b/i.test(type.trim());
  const what = protobuf
    ? "Loki's protobuf push (snappy-compressed, what Promtail, Grafana Alloy and the Loki Docker driver send) is not decoded here"
    : `Content-Type ${type ?? '(none)'} is not accepted on ${LOKI_PUSH_PATH}`;
  return new AppError(
    415,
    'UNSUPPORTED_MEDIA_TYPE',
    `${what}; this server takes Loki's JSON push (Content-Type: application/json, optionally gzip-compressed): ${JSON_CLIENTS}`,
  );
}

/** The 400 Loki answers when some entries were refused: the rest are stored, so the shipper must not resend. */
function rejection(result: IngestResult, positions: readonly EntryPosition[]): LokiRejection {
  const reply = batchReply(result);
  const total = result.accepted + result.rejected.length;
  return {
    error: `${result.rejected.length} of ${total} entries were rejected and ${result.accepted} stored; do not resend this push (the stored ones would be duplicated), fix the rejected entries listed in rejected_items`,
    code: 'LOKI_ENTRIES_REJECTED',
    ...reply,
    rejected_items: result.rejected.map((r) => ({ index: r.index, ...positions[r.index]!, errors: r.errors })),
  };
}

/** Loki push API (POST /loki/api/v1/push), JSON encoding: each entry becomes a log on the common ingest path. */
export async function lokiRoutes(app: FastifyInstance): Promise<void> {
  const { core } = app;
  const { limits } = app.config;
  // Encapsulated in this plugin: other routes keep the generic 415. Refused before a byte of the body is read.
  app.addContentTypeParser(['application/x-protobuf', '*'], (request, _payload, done) => done(unsupportedType(request), undefined));

  app.post(
    LOKI_PUSH_PATH,
    {
      config: {
        access: { scope: 'ingest', door: 'api' },
        // For GET /openapi.json only: this door checks each log itself and answers in its own shapes.
        docs: {
          summary: 'Loki push (JSON)',
          description:
            "Each entry becomes a log: the service from the stream label service, service_name or job (else the token's bound service, else unknown_service), the level from level, severity or detected_level; other labels and structured metadata become metadata. 204 when every entry was stored; 400 naming the rejected entries (the others are stored: do not resend).",
          tags: ['other protocols'],
          body: LokiPushSchema,
          response: { 204: { description: 'Every entry stored.', type: 'null' }, 400: Type.Union([LokiRejectionSchema, ErrorBodySchema]) },
        },
      },
    },
    async (request, reply) => {
      if (request.body instanceof NdjsonBody) throw unsupportedType(request);
      const batch = lokiPushToBatch(request.body, {
        defaultService: request.principal.service ?? UNKNOWN_SERVICE,
        maxItems: limits.max_batch_items,
        maxMetadataKeys: limits.max_metadata_keys,
      });
      if (batch.items.length === 0) return reply.code(204).send();
      const result = await ingestVia(core, 'loki', batch.items, { boundService: request.principal.service });
      if (result.rejected.length === 0) return reply.code(204).send();
      return reply.code(400).send(rejection(result, batch.positions));
    },
  );
}
