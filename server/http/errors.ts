import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../core/errors.js';

export interface ErrorBody {
  error: string;
  code: string;
}

const ACCEPTED_BODIES =
  'send Content-Type: application/json with one log object or an array of them, or application/x-ndjson with one log object per line';

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
      return new AppError(400, 'INVALID_JSON', `the body is not valid JSON (${err.message}); ${ACCEPTED_BODIES}`);
    default:
      break;
  }
  if (err instanceof SyntaxError || (err.statusCode === 400 && /JSON|prototype|constructor/i.test(err.message))) {
    return new AppError(400, 'INVALID_JSON', `the body is not valid JSON (${err.message}); ${ACCEPTED_BODIES}`);
  }
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return new AppError(err.statusCode, err.code ?? 'BAD_REQUEST', err.message);
  }
  return undefined;
}

/** One error handler: client errors say what is wrong; server errors say nothing internal and are logged with the request id. */
export function registerErrorHandling(app: FastifyInstance, limitBytes: number): void {
  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const known = err instanceof AppError ? err : fromFastify(err, limitBytes);
    if (known !== undefined) {
      request.log.info({ code: known.code, statusCode: known.statusCode }, known.message);
      return reply.code(known.statusCode).headers(known.headers).send({ error: known.message, code: known.code } satisfies ErrorBody);
    }
    request.log.error({ err }, 'request failed');
    return reply.code(500).send({
      error: `internal error; quote request id ${request.id} when reporting it`,
      code: 'INTERNAL',
    } satisfies ErrorBody);
  });

  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0];
    return reply.code(404).send({
      error: `no route ${request.method} ${path}; see the API reference in the README`,
      code: 'NOT_FOUND',
    } satisfies ErrorBody);
  });
}
