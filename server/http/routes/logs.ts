import type { FastifyInstance } from 'fastify';
import { AppError } from '../../core/errors.js';
import { LEVELS, toView } from '../../core/log.js';
import type { LogQuery } from '../../core/log-filter.js';
import { QueryReader } from '../query.js';

const QUERY_PARAMS = ['service', 'level', 'from', 'to', 'received_from', 'received_to', 'user_id', 'q', 'limit', 'before_id'];

/** The names a door gives the filters every log query shares. */
export interface FilterNames {
  service: string;
  level: string;
  from: string;
  to: string;
  receivedFrom: string;
  receivedTo: string;
}

/** Reads the shared filters under a door's parameter names; 400 naming the parameter when one is malformed. */
export function readFilters(r: QueryReader, n: FilterNames): Omit<LogQuery, 'limit'> {
  return {
    services: r.list(n.service),
    levels: r.enumList(n.level, LEVELS),
    from: r.time(n.from),
    to: r.time(n.to),
    receivedFrom: r.time(n.receivedFrom),
    receivedTo: r.time(n.receivedTo),
  };
}

/** The filters of GET /api/logs under their own names, shared with the live tail. */
export function readLogFilters(r: QueryReader): Omit<LogQuery, 'limit' | 'beforeId' | 'offset'> {
  return {
    ...readFilters(r, { service: 'service', level: 'level', from: 'from', to: 'to', receivedFrom: 'received_from', receivedTo: 'received_to' }),
    userId: r.string('user_id'),
    text: r.string('q'),
  };
}

/** GET /api/logs query parameters to a LogQuery. */
export function readLogQuery(raw: Record<string, string | string[] | undefined>): LogQuery {
  const r = new QueryReader(raw, QUERY_PARAMS);
  return {
    ...readLogFilters(r),
    beforeId: r.int('before_id', 1, Number.MAX_SAFE_INTEGER),
    limit: r.int('limit', 1, 1000) ?? 100,
  };
}

/** `before` for a delete: required, a date-time. */
export function readBefore(raw: Record<string, string | string[] | undefined>): number {
  const before = new QueryReader(raw, ['before']).time('before');
  if (before === undefined) {
    throw new AppError(400, 'INVALID_QUERY', "query parameter 'before' is required, e.g. ?before=2025-01-01T00:00:00Z; logs with an event time before it are deleted");
  }
  return before;
}

export async function logRoutes(app: FastifyInstance): Promise<void> {
  const { core } = app;

  app.get('/api/logs', { config: { access: { scope: 'read', door: 'api' } } }, async (request) => {
    const page = core.query(readLogQuery(request.query as Record<string, string>));
    return { logs: page.logs.map(toView), count: page.logs.length, next_before_id: page.nextBeforeId };
  });

  app.delete('/api/logs', { config: { access: { scope: 'admin', door: 'api' } } }, async (request) => {
    const deleted = core.deleteBefore(readBefore(request.query as Record<string, string>));
    return { deleted, message: `${deleted} log(s) deleted` };
  });
}
