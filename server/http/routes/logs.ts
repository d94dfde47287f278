import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Static } from '@sinclair/typebox';
import { toView } from '../../core/log.js';
import type { LogFilterFields, LogQuery } from '../../core/log-filter.js';
import { ERRORS } from '../schemas/common.js';
import { DeletedSchema, DeleteQuerystring, LOG_PAGE_DEFAULT, LogPageSchema, LogQuerystring, type LogFilterQuerystring } from '../schemas/logs.js';

/** GET /api/logs' filters (shared with its live tail) as the core's filter fields. */
export function logFilters(q: Static<typeof LogFilterQuerystring>): LogFilterFields {
  return {
    services: q.service,
    levels: q.level,
    from: q.from,
    to: q.to,
    receivedFrom: q.received_from,
    receivedTo: q.received_to,
    userId: q.user_id,
    text: q.q,
  };
}

export const logRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { core } = app;

  app.get(
    '/api/logs',
    {
      config: { access: { scope: 'read', door: 'api' } },
      schema: {
        summary: 'Query logs, newest first',
        description: 'Pages are cut by id: pass next_before_id as before_id for the next one, which stays exact while logs keep arriving.',
        tags: ['logs'],
        querystring: LogQuerystring,
        response: { 200: LogPageSchema, ...ERRORS },
      },
    },
    async (request) => {
      const q = request.query;
      const query: LogQuery = { ...logFilters(q), beforeId: q.before_id, limit: q.limit ?? LOG_PAGE_DEFAULT };
      const page = core.query(query);
      return { logs: page.logs.map(toView), count: page.logs.length, next_before_id: page.nextBeforeId };
    },
  );

  app.delete(
    '/api/logs',
    {
      config: { access: { scope: 'admin', door: 'api' } },
      schema: {
        summary: 'Delete logs older than a time',
        description:
          "From both tiers; the all-time counters stay. A token bound to a service deletes that service's logs only; an unbound admin token deletes every service's.",
        tags: ['logs'],
        querystring: DeleteQuerystring,
        response: { 200: DeletedSchema, ...ERRORS },
      },
    },
    async (request) => {
      const deleted = core.deleteBefore(request.query.before, request.principal.service);
      return { deleted, message: `${deleted} log(s) deleted` };
    },
  );
};
