import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

/** The header the dashboard sends with every request it makes (web/src/api.ts). */
export const DASHBOARD_HEADER = 'x-logsentinel-client';

/**
 * Fastify's request logging, as a person at the console wants it: one line per answered
 * request (`POST /api/logs 201`, with its time) instead of two, at info, but for what nobody
 * wants to read every few seconds: the dashboard's polls (the page marks its requests with
 * DASHBOARD_HEADER), GET /health and the pages' own files, which go at debug. Errors keep
 * Fastify's own lines; refusals are logged where they are decided (http/errors.ts).
 */
export class RequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) {
      super.requestCompleted(error, request, reply);
      return;
    }
    const level = routine(request, reply.statusCode) ? 'debug' : 'info';
    // pino's own check (FastifyBaseLogger leaves it out of its type): nothing is built for a line nobody will see.
    if (!(request.log as unknown as { isLevelEnabled(level: string): boolean }).isLevelEnabled(level)) return;
    request.log[level]({ statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 }, `${request.method} ${request.url} ${reply.statusCode}`);
  }
}

function routine(request: FastifyRequest, status: number): boolean {
  if (request.headers[DASHBOARD_HEADER] === 'dashboard' || request.url === '/health') return true;
  // A file of a page (the dashboard's, the API reference's): no access rule, served fine.
  return request.routeOptions.config.access === undefined && status < 400 && request.method === 'GET';
}
