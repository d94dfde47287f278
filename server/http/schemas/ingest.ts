import { Type } from '@sinclair/typebox';
import { NO_CONTROL_CHARACTERS } from '../../core/validation.js';

/**
 * The ingest doors' bodies and answers, for GET /openapi.json. These routes check their own
 * bodies (each log on its own, so one bad log never blocks the rest) and answer in their own
 * shapes, so they carry these as `config.docs`, which only the OpenAPI document reads
 * (http/openapi.ts): a route `schema` would have Fastify pick a validator and a serializer on
 * every request, about 5 % of a single-log ingest, for nothing.
 */

const Count = Type.Integer({ minimum: 0 });

const RejectedItem = Type.Object({
  index: Type.Integer({ minimum: 0, description: 'Position of the item in the batch (NDJSON: among the non-blank lines).' }),
  errors: Type.Array(Type.String(), { description: 'What is wrong with it, each in words.' }),
});

export const BatchReplySchema = Type.Object({
  status: Type.Unsafe<'accepted' | 'partial' | 'invalid'>({ type: 'string', enum: ['accepted', 'partial', 'invalid'] }),
  accepted: Count,
  rejected: Count,
  rejected_items: Type.Array(RejectedItem),
});

/** POST /api/logs and POST /logs take one log, a JSON array of logs, or NDJSON; `log` is the log schema with this server's limits. */
export function batchBody(logSchema: Record<string, unknown>, description: string) {
  const log = Type.Unsafe(logSchema);
  return {
    description,
    content: {
      'application/json': { schema: Type.Union([log, Type.Array(log, { minItems: 1 })]) },
      'application/x-ndjson': { schema: Type.String({ description: 'One log object per line; blank lines are skipped.' }) },
    },
  };
}

export const SingleAcceptedSchema = Type.Object({ status: Type.Literal('accepted') });
export const SingleInvalidSchema = Type.Object({ status: Type.Literal('invalid'), errors: Type.Array(Type.String()) });

export const LokiPushSchema = Type.Object(
  {
    streams: Type.Array(
      Type.Object({
        stream: Type.Record(Type.String(), Type.String(), { description: 'Labels: service (or service_name, job), level (or severity, detected_level), others become metadata.' }),
        values: Type.Array(
          Type.Array(Type.Unknown(), {
            minItems: 2,
            maxItems: 3,
            description: '[unix epoch nanoseconds as a string, log line, optional structured metadata object]',
          }),
        ),
      }),
    ),
  },
  { description: "Loki's JSON push (Content-Type: application/json, optionally gzip). Protobuf is refused with 415." },
);

export const LokiRejectionSchema = Type.Object({
  error: Type.String(),
  code: Type.Literal('LOKI_ENTRIES_REJECTED'),
  ...BatchReplySchema.properties,
  rejected_items: Type.Array(Type.Object({ index: Count, stream: Count, entry: Count, errors: Type.Array(Type.String()) })),
});

export const OtlpRequestSchema = Type.Object(
  { resourceLogs: Type.Array(Type.Unknown()) },
  { description: 'OTLP/HTTP ExportLogsServiceRequest in the JSON encoding (opentelemetry-proto). Protobuf is refused with 415.' },
);

export const OtlpResponseSchema = Type.Object(
  {
    partialSuccess: Type.Optional(Type.Object({ rejectedLogRecords: Type.String(), errorMessage: Type.String() })),
  },
  { description: 'ExportLogsServiceResponse: empty when every record was stored.' },
);

export const BulkBodySchema = Type.String({
  description: 'Elasticsearch bulk NDJSON: an action line (index or create) then the document, for each log.',
});

export const BulkResponseSchema = Type.Object(
  { took: Count, errors: Type.Boolean(), items: Type.Array(Type.Record(Type.String(), Type.Unknown())) },
  { description: "Elasticsearch's bulk answer: an item per action, status 201 or 400 with the reasons." },
);

export const BulkErrorSchema = Type.Object({
  error: Type.Object({ root_cause: Type.Array(Type.Unknown()), type: Type.String(), reason: Type.String() }),
  status: Type.Literal(400),
  code: Type.String(),
});

export const IndexParams = Type.Object({ index: Type.String({ description: 'The index name; it becomes the service unless the document names one.' }) });

export const SimulateLogsBody = Type.Object(
  { count: Type.Optional(Type.Integer({ minimum: 1, description: 'Logs to generate (default 100, at most 1000).' })) },
  { additionalProperties: false },
);

export function simulateErrorsBody(maxServiceLength: number) {
  return Type.Object(
    {
      count: Type.Optional(Type.Integer({ minimum: 1, description: 'Logs to generate (default 50, at most 500).' })),
      error_rate: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'Share of ERROR and CRITICAL (default 0.5).' })),
      service: Type.Optional(
        Type.String({ minLength: 1, maxLength: maxServiceLength, pattern: NO_CONTROL_CHARACTERS, description: 'One service for all of them (default: random).' }),
      ),
    },
    { additionalProperties: false },
  );
}

export const SimulatedSchema = Type.Object({ status: Type.Literal('simulated'), requested: Count, accepted: Count });
