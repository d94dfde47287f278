import type { FastifyInstance } from 'fastify';
import { UnparseableLine, type IngestResult } from '../../core/ingest.js';
import type { StoredLog } from '../../core/log.js';
import type { LogQuery } from '../../core/log-filter.js';
import { isNaiveDateTime, toNaiveUtc } from '../../core/time.js';
import { toBatch } from '../body/batch.js';
import { QueryReader, refuseQuery } from '../query.js';
import { batchReply, batchStatus } from './ingest.js';
import { readBefore, readFilters } from './logs.js';
import { ingestVia } from '../protocols.js';

/**
 * The compatibility API (POST/GET/DELETE /logs, GET /stats) as a thin adapter over the same core:
 * its `severity` field is our `level`, its naive timestamps are UTC, its times render as
 * `YYYY-MM-DDTHH:MM:SS` in UTC, and every route needs a token.
 */

const LEGACY_PARAMS = ['timestamp_start', 'timestamp_end', 'received_at_start', 'received_at_end', 'service', 'severity', 'limit', 'offset'];

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

function toLegacyView(log: StoredLog): Record<string, unknown> {
  const view: Record<string, unknown> = {
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

export function readLegacyQuery(raw: Record<string, string | string[] | undefined>): LogQuery {
  const r = new QueryReader(raw, LEGACY_PARAMS);
  return {
    ...readFilters(r, {
      service: 'service',
      level: 'severity',
      from: 'timestamp_start',
      to: 'timestamp_end',
      receivedFrom: 'received_at_start',
      receivedTo: 'received_at_end',
    }),
    limit: r.int('limit', 1, 10_000) ?? 1000,
    offset: r.int('offset', 0, Number.MAX_SAFE_INTEGER) ?? 0,
  };
}

export async function legacyRoutes(app: FastifyInstance): Promise<void> {
  const { core } = app;
  const access = (scope: 'ingest' | 'read' | 'admin') => ({ access: { scope, door: 'legacy' as const } });

  app.post('/logs', { config: access('ingest') }, async (request, reply) => {
    const batch = toBatch(request.body, app.config.limits.max_batch_items);
    const result = toLegacyErrors(await ingestVia(core, 'legacy', batch.items.map(fromLegacy), { boundService: request.principal.service }));
    const code = batchStatus(result);
    if (code === 201) return reply.code(201).send({ message: 'Log(s) saved successfully' });
    return reply.code(code).send({
      error: `${result.rejected.length} of ${batch.items.length} log(s) rejected; fix them and send those again`,
      ...batchReply(result),
    });
  });

  app.get('/logs', { config: access('read') }, async (request) =>
    core.query(readLegacyQuery(request.query as Record<string, string>)).logs.map(toLegacyView),
  );

  app.get('/stats', { config: access('read') }, async (request) => {
    refuseQuery(request.query as Record<string, string>);
    const { stats } = core;
    return {
      logs_per_service: stats.countPerService(),
      logs_per_severity: stats.levelCounts(),
      last_log_per_service: stats.lastEventPerService(toNaiveUtc),
    };
  });

  app.delete('/logs', { config: access('admin') }, async (request) => {
    const deleted = core.deleteBefore(readBefore(request.query as Record<string, string>));
    return { message: `${deleted} log(s) deleted` };
  });
}
