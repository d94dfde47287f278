import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { AppError } from '../../core/errors.js';
import { ERRORS } from '../schemas/common.js';
import { logFilterParams } from '../schemas/logs.js';
import { Param, querystring } from '../schemas/query.js';
import { logFilters } from './logs.js';

const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  // nginx buffers proxied answers unless told not to; a tail must reach the client as it is written.
  'x-accel-buffering': 'no',
};

/** How long an ended tail's last bytes may take to reach a client that stopped reading before its socket is cut. */
const END_GRACE_MS = 5000;

const TailQuerystring = querystring({
  ...logFilterParams,
  limit: Param.integer(0, 1000, 'Buffered matches sent first, newest of them last (fresh tails only; 0 by default)'),
});

/** `before_id` pages GET /api/logs; on a tail it is a mistake worth its own words, before the schema calls it unknown. */
async function refuseBeforeId(request: FastifyRequest): Promise<void> {
  if ((request.query as Record<string, unknown>).before_id !== undefined) {
    throw new AppError(
      400,
      'INVALID_QUERY',
      "query parameter 'before_id' does not apply to a live tail, which sends logs as they arrive; send the Last-Event-ID header to resume after an id, or page older logs with GET /api/logs?before_id=",
    );
  }
}

/** The `Last-Event-ID` header EventSource sends on reconnect: the id of the last log it got. */
export function readLastEventId(header: string | string[] | undefined): number | undefined {
  if (header === undefined || header === '') return undefined;
  const value = Array.isArray(header) ? header.join(',') : header;
  if (!/^\d{1,15}$/.test(value.trim())) {
    throw new AppError(
      400,
      'INVALID_LAST_EVENT_ID',
      `the Last-Event-ID header must be the id of the last log received, a whole number (got '${value.slice(0, 40)}'); leave it out to start from now`,
    );
  }
  return Number(value.trim());
}

/**
 * GET /api/logs/tail: Server-Sent Events, one `log` event per new matching log. The core's
 * TailHub does the matching, backlog and drop policy; this adapter owns the socket.
 */
export const tailRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const hub = app.core.tail;
  /** Sockets of tails ended by shutdown: they are closed once their last event is out. */
  let closing = false;

  // Before the server waits for open connections: a tail never ends by itself.
  app.addHook('preClose', async () => {
    closing = true;
    hub.closeAll();
  });

  app.get(
    '/api/logs/tail',
    {
      config: { access: { scope: 'read', door: 'api' } },
      // Before the querystring is read: tailing off is a 404 whatever the parameters.
      onRequest: async () => hub.requireEnabled(),
      preValidation: refuseBeforeId,
      schema: {
        summary: 'Live tail of new logs (Server-Sent Events)',
        description:
          'One `log` event per new matching log (`id:` its id, `data:` the log as GET /api/logs shows it), a `ready` event after the backlog, a `: ping` comment every tail.heartbeat_seconds. Send Last-Event-ID to resume after an id. A client that reads too slowly gets a final `dropped` event.',
        tags: ['logs'],
        querystring: TailQuerystring,
        headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ description: 'The id of the last log received, to resume after it.' })) }),
        response: { 200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: Type.String() } } }, ...ERRORS },
      },
    },
    async (request, reply) => {
      const query = request.query;
      const lastEventId = readLastEventId(request.headers['last-event-id']);
      // HEAD says what a GET would get, without opening a tail that would never end.
      if (request.method === 'HEAD') return reply.headers(SSE_HEADERS).send('');
      hub.admit();

      reply.hijack();
      const res = reply.raw;
      const socket = res.socket;
      // Hijacked, the reply sends nothing itself: the headers the hooks set (security, CORS) go out with ours.
      res.writeHead(200, { ...(reply.getHeaders() as OutgoingHttpHeaders), ...SSE_HEADERS });
      res.flushHeaders();
      const filters = logFilters(query);
      const tail = hub.open({
        filters,
        limit: query.limit,
        lastEventId,
        backlog: lastEventId === undefined ? app.core.sharedBacklog(filters, query.limit) : undefined,
        writer: {
          write: (chunk) => res.write(chunk),
          end: (chunk) => {
            res.end(chunk);
            if (closing) socket?.end();
            const cut = setTimeout(() => socket?.destroy(), END_GRACE_MS);
            cut.unref();
            res.once('close', () => clearTimeout(cut));
          },
        },
      });
      res.on('drain', () => tail.drained());
      res.on('close', () => tail.close());
      res.on('error', () => tail.close());
      // A client gone while auth ran has closed before these listeners existed.
      if (socket === null || socket.destroyed) tail.close();
    },
  );
};
