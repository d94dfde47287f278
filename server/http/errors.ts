import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../core/errors.js';
import { StorageError } from '../core/repository.js';

export interface ErrorBody {
  error: string;
  code: string;
}

const ACCEPTED_BODIES =
  'send Content-Type: application/json with one log object or an array of them, or application/x-ndjson with one log object per line';

/**
 * What a 5xx with a known code tells the caller. Its own message (a database path, a driver's
 * words) goes to the server log only: a 5xx is about the server, and the caller may be anyone.
 */
const PUBLIC_5XX: Readonly<Record<string, string>> = {
  STORAGE_UNAVAILABLE: 'the log database cannot be reached or written right now; nothing in this request was stored, send it again later',
  STORAGE_TIMEOUT:
    'the log database did not answer in time; this request may or may not have been stored: send it again later (its logs may then be stored twice)',
  DASHBOARD_NOT_BUILT: 'the dashboard is not built on this server; build it with npm run build',
  OVERLOADED:
    'the server is overloaded and refused this request before doing anything with it; retry after the seconds in the Retry-After header (GET /health shows which load_shedding limit is exceeded)',
};

/** Refusals that come in floods under overload, when the server has least to spare: the limiter and the load shedder log a summary, so each one goes at debug. */
const QUIET_CODES: ReadonlySet<string> = new Set(['RATE_LIMITED', 'OVERLOADED']);

/** A stack frame, a file URL or an absolute file path: what a library's message must not carry to the caller. */
const INTERNAL_DETAIL = /\n|\bat \S+ \(|file:\/\/|(?:^|[\s'"(=:])\/(?:[\w.@-]+\/)+[\w.@-]+\.[a-z]{1,4}\b|(?:^|[\s'"(=:])\/(?:[\w.@-]+\/){2,}|\b[A-Za-z]:\\|node_modules/;

/** A library's message for a client error, or the status text when the message looks internal. */
function clientMessage(err: FastifyError, status: number): string {
  return INTERNAL_DETAIL.test(err.message) ? (STATUS_CODES[status] ?? 'bad request') : err.message;
}

/** A read the durable tier could not answer (the database server away): 503, to be retried, like a failed write. */
function unreachable(err: StorageError): AppError {
  return new AppError(503, err.code, err.message, { 'retry-after': '5' });
}

/** Fastify's own client errors, reworded to say what to do. */
function fromFastify(err: FastifyError, limitBytes: number): AppError | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', `unsupported Content-Type; ${ACCEPTED_BODIES}`);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AppError(400, 'BAD_CONTENT_LENGTH', 'the Content-Length header does not match the body sent');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError(413, 'BODY_TOO_LARGE', `the request body is larger than the limit of ${limitBytes} bytes (limits.max_body_bytes); split it into smaller batches`);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError(400, 'EMPTY_BODY', `the body is empty; ${ACCEPTED_BODIES}`);
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AppError(400, 'INVALID_JSON', `the body is not valid JSON (${clientMessage(err, 400)}); ${ACCEPTED_BODIES}`);
    default:
      break;
  }
  if (err instanceof SyntaxError || (err.statusCode === 400 && /JSON|prototype|constructor/i.test(err.message))) {
    return new AppError(400, 'INVALID_JSON', `the body is not valid JSON (${clientMessage(err, 400)}); ${ACCEPTED_BODIES}`);
  }
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return new AppError(err.statusCode, err.code ?? 'BAD_REQUEST', clientMessage(err, err.statusCode));
  }
  return undefined;
}

/**
 * One error handler: client errors say what is wrong; server errors say nothing internal and
 * are logged with the request id. Every error reply carries that id in `x-request-id` too.
 */
export function registerErrorHandling(app: FastifyInstance, limitBytes: number): void {
  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    reply.header('x-request-id', request.id);
    const known = err instanceof AppError ? err : err instanceof StorageError ? unreachable(err) : fromFastify(err, limitBytes);
    if (known !== undefined && known.statusCode < 500) {
      request.log[QUIET_CODES.has(known.code) ? 'debug' : 'info']({ code: known.code, statusCode: known.statusCode }, known.message);
      return reply.code(known.statusCode).headers(known.headers).send({ error: known.message, code: known.code } satisfies ErrorBody);
    }
    if (known !== undefined) {
      // A server-side condition we know (storage failing, page not built): its code and headers (Retry-After) go out, its details do not.
      if (QUIET_CODES.has(known.code)) request.log.debug({ code: known.code, statusCode: known.statusCode }, known.message);
      else request.log.error({ err, code: known.code, statusCode: known.statusCode }, 'request failed');
      const what = PUBLIC_5XX[known.code] ?? 'the server cannot answer this request right now';
      return reply
        .code(known.statusCode)
        .headers(known.headers)
        .send({ error: `${what}; quote request id ${request.id} when reporting it`, code: known.code } satisfies ErrorBody);
    }
    request.log.error({ err }, 'request failed');
    return reply.code(500).send({
      error: `internal error; quote request id ${request.id} when reporting it`,
      code: 'INTERNAL',
    } satisfies ErrorBody);
  });

  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0];
    return reply.code(404).header('x-request-id', request.id).send({
      error: `no route ${request.method} ${path}; GET /openapi.json lists every route (browsable at /docs)`,
      code: 'NOT_FOUND',
    } satisfies ErrorBody);
  });
}
