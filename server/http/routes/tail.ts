import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../core/errors.js';
import type { TailFilters } from '../../core/tail.js';
import { QueryReader } from '../query.js';
import { readLogFilters } from './logs.js';

const TAIL_PARAMS = ['service', 'level', 'from', 'to', 'received_from', 'received_to', 'user_id', 'q', 'limit'];

const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  // nginx buffers proxied answers unless told not to; a tail must reach the client as it is written.
  'x-accel-buffering': 'no',
};

/** How long an ended tail's last bytes may take to reach a client that stopped reading before its socket is cut. */
const END_GRACE_MS = 5000;

export interface TailQuery {
  filters: TailFilters;
  /** The newest buffered matches to send first on a fresh tail. */
  limit: number | undefined;
}

/** GET /api/logs/tail's query: the filters of GET /api/logs, and `limit` (0-1000); 400 naming a parameter that is wrong. */
export function readTailQuery(raw: Record<string, string | string[] | undefined>): TailQuery {
  if (raw.before_id !== undefined) {
    throw new AppError(
      400,
      'INVALID_QUERY',
      "query parameter 'before_id' does not apply to a live tail, which sends logs as they arrive; send the Last-Event-ID header to resume after an id, or page older logs with GET /api/logs?before_id=",
    );
  }
  const r = new QueryReader(raw, TAIL_PARAMS);
  return {
    filters: readLogFilters(r),
    limit: r.int('limit', 0, 1000),
  };
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
export async function tailRoutes(app: FastifyInstance): Promise<void> {
  const hub = app.core.tail;
  /** Sockets of tails ended by shutdown: they are closed once their last event is out. */
  let closing = false;

  // Before the server waits for open connections: a tail never ends by itself.
  app.addHook('preClose', async () => {
    closing = true;
    hub.closeAll();
  });

  app.get('/api/logs/tail', { config: { access: { scope: 'read', door: 'api' } } }, async (request, reply) => {
    hub.requireEnabled();
    const query = readTailQuery(request.query as Record<string, string>);
    const lastEventId = readLastEventId(request.headers['last-event-id']);
    // HEAD says what a GET would get, without opening a tail that would never end.
    if (request.method === 'HEAD') return reply.headers(SSE_HEADERS).send();
    hub.admit();

    reply.hijack();
    const res = reply.raw;
    const socket = res.socket;
    // Hijacked, the reply sends nothing itself: the headers the hooks set (security, CORS) go out with ours.
    res.writeHead(200, { ...(reply.getHeaders() as OutgoingHttpHeaders), ...SSE_HEADERS });
    res.flushHeaders();
    const tail = hub.open({
      filters: query.filters,
      limit: query.limit,
      lastEventId,
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
  });
}
