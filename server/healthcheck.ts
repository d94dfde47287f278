/**
 * Container health probe: GET http://127.0.0.1:${PORT:-5000}/health and exit 0 on a 2xx, or 1
 * with one line on stderr saying why. Plain Node, so the image needs no curl.
 *
 *   node dist/server/healthcheck.js
 *
 * HEALTHCHECK_TIMEOUT_MS (default 3000) bounds the whole request.
 */

const port = process.env.PORT && /^\d+$/.test(process.env.PORT) ? Number(process.env.PORT) : 5000;
const rawTimeout = process.env.HEALTHCHECK_TIMEOUT_MS;
const timeoutMs = rawTimeout && /^\d+$/.test(rawTimeout) && Number(rawTimeout) > 0 ? Number(rawTimeout) : 3000;
const url = `http://127.0.0.1:${port}/health`;

function fail(reason: string): never {
  process.stderr.write(`unhealthy: ${url}: ${reason}\n`);
  process.exit(1);
}

let res: Response;
try {
  res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
} catch (e) {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  fail(err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (err.cause?.code ?? err.cause?.message ?? err.message));
}
const body = await res.text().catch(() => '');
if (!res.ok) fail(`HTTP ${res.status} ${body.replace(/\s+/g, ' ').slice(0, 200)}`.trimEnd());
process.exit(0);
