import type { FastifyInstance } from 'fastify';
import { AppError } from '../../core/errors.js';
import { LEVELS, toView } from '../../core/log.js';
import type { LogQuery } from '../../core/log-store.js';
import { QueryReader } from '../query.js';

const QUERY_PARAMS = ['service', 'level', 'from', 'to', 'received_from', 'received_to', 'user_id', 'q', 'limit', 'before_id'];

/** GET /api/logs query parameters to a LogQuery; 400 naming the parameter when one is malformed. */
export function readLogQuery(raw: Record<string, string | string[] | undefined>): LogQuery {
  const r = new QueryReader(raw, QUERY_PARAMS);
  const query: LogQuery = { limit: r.int('limit', 1, 1000) ?? 100 };
  const services = r.list('service');
  const levels = r.enumList('level', LEVELS);
  const from = r.time('from');
  const to = r.time('to');
  const receivedFrom = r.time('received_from');
  const receivedTo = r.time('received_to');
  const userId = r.string('user_id');
  const text = r.string('q');
  const beforeId = r.int('before_id', 1, Number.MAX_SAFE_INTEGER);
  if (services) query.services = services;
  if (levels) query.levels = levels;
  if (from !== undefined) query.from = from;
  if (to !== undefined) query.to = to;
  if (receivedFrom !== undefined) query.receivedFrom = receivedFrom;
  if (receivedTo !== undefined) query.receivedTo = receivedTo;
  if (userId !== undefined) query.userId = userId;
  if (text !== undefined) query.text = text;
  if (beforeId !== undefined) query.beforeId = beforeId;
  return query;
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
