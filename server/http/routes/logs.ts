import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Static } from '@sinclair/typebox';
import { AppError } from '../../core/errors.js';
import { formatCursor } from '../../core/listing-order.js';
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
    patternId: q.pattern,
  };
}

export const logRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { core } = app;

  app.get(
    '/api/logs',
    {
      config: { access: { scope: 'read', door: 'api' } },
      schema: {
        summary: 'Query logs, newest event time first',
        description:
          'Listed by event time, newest first, ties by id (the later received first). Pass next_cursor as cursor for the next page: exact while logs keep arriving, a late log lands where its event time puts it.',
        tags: ['logs'],
        querystring: LogQuerystring,
        response: { 200: LogPageSchema, ...ERRORS },
      },
    },
    async (request) => {
      const q = request.query;
      if (q.cursor !== undefined && q.before_id !== undefined) throw new AppError(400, 'INVALID_QUERY', "give cursor or before_id, not both: cursor is the next_cursor of the previous page");
      let before = q.cursor;
      if (q.before_id !== undefined) {
        before = await core.cursorAt(q.before_id);
        if (before === undefined) {
          throw new AppError(400, 'INVALID_QUERY', `query parameter 'before_id' names log ${q.before_id}, which is not stored (deleted, or never assigned); page with cursor=<next_cursor> instead`);
        }
      }
      const query: LogQuery = { ...logFilters(q), before, limit: q.limit ?? LOG_PAGE_DEFAULT };
      const page = await core.query(query);
      return {
        logs: page.logs.map(toView),
        count: page.logs.length,
        next_cursor: page.next === null ? null : formatCursor(page.next),
        next_before_id: page.next === null ? null : page.next.id,
      };
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
      const deleted = await core.deleteBefore(request.query.before, request.principal.service);
      return { deleted, message: `${deleted} log(s) deleted` };
    },
  );
};
