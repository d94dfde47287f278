import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * The headers helmet sets for `options`, worked out once. Our policy is the same for every
 * request, and @fastify/helmet builds a new helmet middleware per request, which measured at
 * about a tenth of single-log ingest; an onRequest hook then only copies this object.
 */
export function securityHeaders(options: Readonly<HelmetOptions>): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const res = {
    setHeader(name: string, value: string | number | readonly string[]): void {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader(name: string): void {
      delete headers[name.toLowerCase()];
    },
  };
  let finished = false;
  helmet(options)({} as IncomingMessage, res as unknown as ServerResponse, (err?: unknown) => {
    if (err) throw err;
    finished = true;
  });
  // helmet works synchronously for static options; a policy that needs the request would not.
  if (!finished) throw new Error('helmet did not finish synchronously: a per-request policy needs a per-request hook');
  return Object.freeze(headers);
}
