import { performance } from 'node:perf_hooks';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BulkBodyError, bulkErrorBody, bulkResponse, parseBulk, type BulkBatch } from '../adapters/elasticsearch.js';
import { UNKNOWN_SERVICE } from '../adapters/shared.js';
import { NDJSON_TYPES } from '../body/ndjson.js';
import { textBodyParser } from '../body/parsers.js';
import { ingestVia } from '../protocols.js';
import { BulkBodySchema, BulkErrorSchema, BulkResponseSchema, IndexParams } from '../schemas/ingest.js';

/**
 * What Elasticsearch clients send a bulk body as: NDJSON under its own name, and under
 * application/json (rsyslog's omelasticsearch), and the versioned types of the official clients.
 */
const BULK_TYPES = [
  ...NDJSON_TYPES,
  'application/json',
  'application/vnd.elasticsearch+x-ndjson',
  'application/vnd.elasticsearch+json',
];

type BulkRequest = FastifyRequest<{ Params: { index?: string } }>;

/**
 * Elasticsearch bulk API (POST or PUT /_bulk and /<index>/_bulk): rsyslog's omelasticsearch,
 * Filebeat, Vector and Fluent Bit ship through it. A plugin of its own (no fastify-plugin):
 * its body parsers apply to its routes only.
 */
export async function elasticsearchRoutes(app: FastifyInstance): Promise<void> {
  const { core } = app;

  // Every type reads as text here: the bulk format is NDJSON whatever the client calls it.
  app.removeContentTypeParser(['application/json', ...NDJSON_TYPES]);
  app.addContentTypeParser(BULK_TYPES, { parseAs: 'buffer' }, textBodyParser((text) => text));

  const bulk = async (request: BulkRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const started = performance.now();
    const boundService = request.principal.service;
    let batch: BulkBatch;
    try {
      batch = parseBulk(typeof request.body === 'string' ? request.body : '', {
        pathIndex: request.params.index,
        defaultService: boundService ?? UNKNOWN_SERVICE,
        maxItems: app.config.limits.max_batch_items,
      });
    } catch (e) {
      if (!(e instanceof BulkBodyError)) throw e;
      // Elasticsearch's shape, so shippers log the reason as they would Elasticsearch's.
      request.log.info({ code: e.code, statusCode: 400 }, e.message);
      return reply.code(400).header('x-request-id', request.id).send(bulkErrorBody(e));
    }
    const pending = ingestVia(core, 'elasticsearch', batch.items, { boundService });
    // The pipeline numbers a batch's accepted logs in order, with no gap, before it first
    // waits: read now, before any other request can ingest, the last of them is the current id.
    const lastId = core.pipeline.currentId;
    const result = await pending;
    const took = Math.round(performance.now() - started);
    return reply.code(200).send(bulkResponse(batch, result, lastId - result.accepted + 1, took));
  };

  for (const url of ['/_bulk', '/:index/_bulk']) {
    const options = {
      config: {
        access: { scope: 'ingest' as const, door: 'api' as const },
        // For GET /openapi.json only: this door checks each log itself and answers in its own shapes.
        docs: {
          summary: `Elasticsearch bulk${url === '/_bulk' ? '' : ' into an index'}`,
          description:
            'index and create actions, each followed by its document: the service from service.name, service or the index, the level from log.level or level, the message from message, the time from @timestamp. Always 200 with an item per action unless the body cannot be read (400 in Elasticsearch\'s shape).',
          tags: ['other protocols'],
          ...(url === '/_bulk' ? {} : { params: IndexParams }),
          body: { content: { 'application/x-ndjson': { schema: BulkBodySchema }, 'application/json': { schema: BulkBodySchema } } },
          response: { 200: BulkResponseSchema, 400: BulkErrorSchema },
        },
      },
    };
    app.post(url, options, bulk);
    app.put(url, options, bulk);
  }
}
