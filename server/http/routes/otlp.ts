import type { FastifyInstance } from 'fastify';
import { AppError } from '../../core/errors.js';
import { exportLogsResponse, mapExportLogsRequest } from '../adapters/otlp.js';
import { ingestVia } from '../protocols.js';
import { ErrorBodySchema } from '../schemas/common.js';
import { OtlpRequestSchema, OtlpResponseSchema } from '../schemas/ingest.js';

const PROTOBUF_REFUSED =
  'this server takes OTLP/HTTP logs in the JSON encoding only; send Content-Type: application/json ' +
  '(OTEL_EXPORTER_OTLP_LOGS_PROTOCOL=http/json where the SDK supports it, @opentelemetry/exporter-logs-otlp-http in JavaScript), ' +
  'or relay through an OpenTelemetry Collector whose otlphttp exporter has encoding: json';

/**
 * OTLP/HTTP logs (POST /v1/logs), JSON encoding. Not wrapped in fastify-plugin, so the protobuf
 * parser below stays inside this plugin. Refusals keep the API's {error, code} body rather than
 * a google.rpc.Status: OTLP exporters only log a refusal's body, and our clients branch on `code`.
 */
export async function otlpRoutes(app: FastifyInstance): Promise<void> {
  const { core } = app;
  const { max_batch_items: maxItems, max_metadata_depth: maxDepth } = app.config.limits;

  // Without these a protobuf exporter would be told to send log objects; it is told how to switch to JSON instead.
  const refuse = (_request: unknown, _payload: unknown, done: (err: Error | null, body?: unknown) => void): void => {
    done(new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', PROTOBUF_REFUSED), undefined);
  };
  app.addContentTypeParser(['application/x-protobuf', 'application/protobuf'], refuse);
  app.addContentTypeParser('*', refuse);

  app.post(
    '/v1/logs',
    {
      config: {
        access: { scope: 'ingest', door: 'api' },
        // For GET /openapi.json only: this door checks each log itself and answers in its own shapes.
        docs: {
          summary: 'OTLP/HTTP logs (JSON encoding)',
          description:
            'Each LogRecord becomes a log: the service from the resource attribute service.name, the level from severityText or severityNumber, attributes become metadata. 200 with a partialSuccess naming the rejected records when some were refused.',
          tags: ['other protocols'],
          body: OtlpRequestSchema,
          response: { 200: OtlpResponseSchema, '4xx': ErrorBodySchema },
        },
      },
    },
    async (request, reply) => {
      const boundService = request.principal.service;
      const batch = mapExportLogsRequest(request.body, { boundService, maxItems, maxDepth });
      const result = await ingestVia(core, 'otlp', batch.items, { boundService });
      // Exactly `application/json`, as a Buffer so Fastify appends no charset: the Collector's
      // otlphttp exporter reads a partial success only under that exact Content-Type.
      return reply.code(200).type('application/json').send(Buffer.from(JSON.stringify(exportLogsResponse(result, batch))));
    },
  );
}
