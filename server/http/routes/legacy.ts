import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import { UnparseableLine, type IngestResult } from '../../core/ingest.js';
import type { StoredLog } from '../../core/log.js';
import { isNaiveDateTime, toNaiveUtc } from '../../core/time.js';
import { toBatch } from '../body/batch.js';
import { ingestVia } from '../protocols.js';
import { ERRORS } from '../schemas/common.js';
import { BatchReplySchema, batchBody } from '../schemas/ingest.js';
import { LEGACY_PAGE_DEFAULT, LegacyLogSchema, LegacyMessageSchema, LegacyQuerystring, LegacyStatsSchema, legacyInputSchema } from '../schemas/legacy.js';
import { DeleteQuerystring } from '../schemas/logs.js';
import { NO_QUERY } from '../schemas/query.js';
import { batchReply, batchStatus } from './ingest.js';

/**
 * The compatibility API (POST/GET/DELETE /logs, GET /stats) as a thin adapter over the same core:
 * its `severity` field is our `level`, its naive timestamps are UTC, its times render as
 * `YYYY-MM-DDTHH:MM:SS` in UTC, and every route needs a token.
 */

/** A log in POST /logs' shape to ours: `severity` becomes `level`, a naive timestamp gets a `Z`. */
export function fromLegacy(item: unknown): unknown {
  // An NDJSON line that was not JSON stays one, so it is rejected with its line number.
  if (typeof item !== 'object' || item === null || Array.isArray(item) || item instanceof UnparseableLine) return item;
  const { severity, ...rest } = item as Record<string, unknown>;
  const out: Record<string, unknown> = rest;
  if (severity !== undefined && out.level === undefined) out.level = typeof severity === 'string' ? severity.toUpperCase() : severity;
  if (typeof out.timestamp === 'string' && isNaiveDateTime(out.timestamp)) out.timestamp = `${out.timestamp}Z`;
  return out;
}

/** Our validation messages in POST /logs' words: its clients know the field as `severity`. */
export function toLegacyErrors(result: IngestResult): IngestResult {
  const rename = (m: string): string => m.replace(/'level'/g, "'severity'").replace(/\blevel(?=, service\b)/, 'severity');
  return { ...result, rejected: result.rejected.map((r) => ({ ...r, errors: r.errors.map(rename) })) };
}

function toLegacyView(log: StoredLog): Static<typeof LegacyLogSchema> {
  const view: Static<typeof LegacyLogSchema> = {
    id: log.id,
    timestamp: toNaiveUtc(log.ts),
    service: log.service,
    severity: log.level,
    message: log.message,
    received_at: toNaiveUtc(log.receivedAt),
  };
  if (log.userId !== undefined) view.user_id = log.userId;
  if (log.metadata !== undefined) view.metadata = log.metadata;
  return view;
}

const TAGS = ['compatibility API'];

export const legacyRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { core } = app;
  const access = (scope: 'ingest' | 'read' | 'admin') => ({ access: { scope, door: 'legacy' as const } });

  app.post(
    '/logs',
    {
      config: {
        ...access('ingest'),
        // For GET /openapi.json only: this door checks each log itself and answers in its own shapes.
        docs: {
          summary: 'Store logs (compatibility API)',
          description: "`severity` in place of `level` (any case); a timestamp without offset is UTC. Each log is checked on its own: 207 when some were stored.",
          tags: TAGS,
          body: batchBody(legacyInputSchema(app.logSchema), 'One log, a JSON array of logs, or NDJSON.'),
          response: {
            201: LegacyMessageSchema,
            207: Type.Object({ error: Type.String(), ...BatchReplySchema.properties }),
            400: Type.Object({ error: Type.String(), ...BatchReplySchema.properties }),
          },
        },
      },
    },
    async (request, reply) => {
      const batch = toBatch(request.body, app.config.limits.max_batch_items);
      const result = toLegacyErrors(await ingestVia(core, 'legacy', batch.items.map(fromLegacy), { boundService: request.principal.service }));
      const code = batchStatus(result);
      if (code === 201) return reply.code(201).send({ message: 'Log(s) saved successfully' });
      return reply.code(code).send({
        error: `${result.rejected.length} of ${batch.items.length} log(s) rejected; fix them and send those again`,
        ...batchReply(result),
      });
    },
  );

  app.get(
    '/logs',
    {
      config: access('read'),
      schema: {
        summary: 'Query logs (compatibility API)',
        description: 'Newest first, paged by offset.',
        tags: TAGS,
        querystring: LegacyQuerystring,
        response: { 200: Type.Array(LegacyLogSchema), ...ERRORS },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await core.query({
        services: q.service,
        levels: q.severity,
        from: q.timestamp_start,
        to: q.timestamp_end,
        receivedFrom: q.received_at_start,
        receivedTo: q.received_at_end,
        limit: q.limit ?? LEGACY_PAGE_DEFAULT,
        offset: q.offset ?? 0,
      });
      return page.logs.map(toLegacyView);
    },
  );

  app.get(
    '/stats',
    {
      config: access('read'),
      schema: { summary: 'All-time counts (compatibility API)', tags: TAGS, querystring: NO_QUERY, response: { 200: LegacyStatsSchema, ...ERRORS } },
    },
    async () => {
      const { stats } = core;
      return {
        logs_per_service: stats.countPerService(),
        logs_per_severity: stats.levelCounts(),
        last_log_per_service: stats.lastEventPerService(toNaiveUtc),
      };
    },
  );

  app.delete(
    '/logs',
    {
      config: access('admin'),
      schema: {
        summary: 'Delete logs older than a time (compatibility API)',
        description: "A token bound to a service deletes that service's logs only; an unbound admin token deletes every service's.",
        tags: TAGS,
        querystring: DeleteQuerystring,
        response: { 200: LegacyMessageSchema, ...ERRORS },
      },
    },
    async (request) => {
      const deleted = await core.deleteBefore(request.query.before, request.principal.service);
      return { message: `${deleted} log(s) deleted` };
    },
  );
};
