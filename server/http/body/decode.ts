import { isUtf8 } from 'node:buffer';
import { brotliDecompress, gunzip, inflate, type ZlibOptions } from 'node:zlib';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../../core/errors.js';

type Inflate = (body: Buffer, options: ZlibOptions, callback: (err: Error | null, result: Buffer) => void) => void;

const DECODERS: Readonly<Record<string, Inflate>> = {
  gzip: gunzip,
  'x-gzip': gunzip,
  deflate: inflate,
  br: brotliDecompress as Inflate,
};

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)/i;

/**
 * The body's bytes as text bytes for a parser: decompressed when it has a Content-Encoding
 * (shippers gzip by default), then checked to be UTF-8, or the 4xx that says why not: a
 * Content-Encoding we do not decode, a declared charset other than UTF-8, or bytes that are not
 * valid UTF-8 (decoding them would replace characters, and the log would be stored altered).
 *
 * Decompression is streamed, never done in one blocking call: zlib's asynchronous API inflates
 * in chunks on the libuv threadpool, so a large body does not hold up the event loop, and other
 * requests are served meanwhile. Its output is bounded by the same body limit as an
 * uncompressed body (zlib stops at `maxOutputLength`), so a small compressed body cannot expand
 * into an unbounded one. An uncompressed body (the common case) is answered synchronously.
 */
export function decodeBody(request: FastifyRequest, body: Buffer, done: (err: Error | null, bytes?: Buffer) => void): void {
  const header = request.headers['content-encoding'];
  const encoding = header?.trim().toLowerCase();
  if (encoding === undefined || encoding === '' || encoding === 'identity') {
    finish(request, body, done);
    return;
  }
  const inflateBody = DECODERS[encoding];
  if (inflateBody === undefined) {
    done(new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', `Content-Encoding ${header} is not supported; send gzip, deflate, br or an uncompressed body`));
    return;
  }
  const limit = request.routeOptions.bodyLimit ?? Number.MAX_SAFE_INTEGER;
  inflateBody(body, { maxOutputLength: limit }, (err, bytes) => {
    if (err === null) finish(request, bytes, done);
    else if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      done(new AppError(413, 'BODY_TOO_LARGE', `the ${encoding} body expands past the limit of ${limit} bytes (limits.max_body_bytes); split it into smaller batches`));
    } else {
      done(new AppError(400, 'BAD_ENCODING', `the body is not valid ${encoding} data (${err.message}); compress it whole, or send it uncompressed`));
    }
  });
}

/** The charset and UTF-8 checks of decoded bytes. */
function finish(request: FastifyRequest, bytes: Buffer, done: (err: Error | null, bytes?: Buffer) => void): void {
  const charset = CHARSET.exec(request.headers['content-type'] ?? '')?.[1]?.toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    done(new AppError(415, 'UNSUPPORTED_CHARSET', `charset ${charset} is not supported; send UTF-8 text (charset=utf-8, or no charset)`));
  } else if (!isUtf8(bytes)) {
    done(new AppError(400, 'INVALID_UTF8', 'the body is not valid UTF-8; JSON must be sent as UTF-8 text'));
  } else done(null, bytes);
}
