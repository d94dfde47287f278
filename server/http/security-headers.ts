import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
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

/** The page's content policy: only its own files (no inline script, no CDN); `styleHashes` admit given inline `<style>` texts. */
function pagePolicy(styleHashes: readonly string[] = []): Readonly<HelmetOptions> {
  return {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", ...styleHashes.map((h) => `'sha256-${h}'`)],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
  };
}

/**
 * The dashboard's policy: it loads only its own bundled script and styles (no inline script, no
 * CDN), plus helmet's other defaults. Sent with the dashboard's files.
 */
export const DOCUMENT_HEADERS = securityHeaders(pagePolicy());

/**
 * The API reference's policy (/docs): the dashboard's, plus the one inline `<style>` element
 * Swagger UI 5.34's bundle inserts as it renders (refused, it logs a violation on every load).
 * Admitted by its hash alone, so a Swagger UI that inserts anything else is refused, and the
 * reference's browser test (test/e2e/docs.test.ts, which counts violations) says so.
 */
export const DOCS_HEADERS = securityHeaders(pagePolicy(['RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w=']));

/**
 * Every other answer is JSON for programs. It gets the headers that still matter for a
 * response that is not a page (OWASP's REST guidance): nothing it could load or run if a
 * browser ever rendered it, no framing, no MIME sniffing, no embedding by other sites.
 * helmet's page-only headers (referrer, opener, DNS prefetch and the like) would cost about a
 * tenth of a single-log ingest for nothing: Node checks each header of each answer.
 */
export const API_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'cross-origin-resource-policy': 'same-origin',
});

/** Sets `headers` on every answer of the routes in `app`'s context (errors and 404s included). */
export function sendHeaders(app: FastifyInstance, headers: Readonly<Record<string, string>>): void {
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers);
    done();
  });
}
