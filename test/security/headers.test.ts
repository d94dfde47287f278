import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../server/app.js';
import { DASHBOARD_DIR } from '../../server/http/dashboard.js';
import { ManualClock, READER_TOKEN, auth, testConfig } from '../helpers.js';

/**
 * The dashboard runs under a Content-Security-Policy that allows scripts, styles and
 * connections from its own origin only, and the built page needs nothing more: no inline
 * script, no inline handler, no inline style, nothing from another origin.
 */

const BUILT = existsSync(join(DASHBOARD_DIR, 'index.html'));
const NOT_BUILT = BUILT ? false : 'web/dist is not built (npm run build:web)';

const EXPECTED_CSP: Record<string, string> = {
  'default-src': "'self'",
  'script-src': "'self'",
  'style-src': "'self'",
  'img-src': "'self' data:",
  'connect-src': "'self'",
  'font-src': "'self'",
  'object-src': "'none'",
  'base-uri': "'none'",
  'form-action': "'self'",
  'frame-ancestors': "'none'",
};

/** helmet's other headers, as set on the page and its files (server/http/security-headers.ts). */
const EXPECTED_HEADERS: Record<string, string> = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'SAMEORIGIN',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
};

/** What every JSON answer carries: nothing to load or run if rendered, no framing, no sniffing, no embedding elsewhere. */
const EXPECTED_API_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'cross-origin-resource-policy': 'same-origin',
};

function cspOf(res: LightMyRequestResponse): Record<string, string> {
  const header = String(res.headers['content-security-policy'] ?? '');
  const out: Record<string, string> = {};
  for (const part of header.split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) out[name] = values.join(' ');
  }
  return out;
}

/** What in an HTML page a CSP without 'unsafe-inline' would block, or what loads from elsewhere. */
function inlineProblems(html: string): string[] {
  const problems: string[] = [];
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script\s*>/gi)) {
    const attrs = m[1]!;
    const src = /\bsrc\s*=\s*["']([^"']*)["']/i.exec(attrs)?.[1];
    if (src === undefined) problems.push(`inline <script>: ${m[0].slice(0, 80)}`);
    else if (!src.startsWith('/') || src.startsWith('//')) problems.push(`script from another origin: ${src}`);
    else if (m[2]!.trim() !== '') problems.push(`<script src> with inline content: ${m[0].slice(0, 80)}`);
    if (/type\s*=\s*["']?importmap/i.test(attrs)) problems.push('an import map (inline script)');
  }
  for (const m of html.matchAll(/<[a-z][^>]*\son[a-z]+\s*=/gi)) problems.push(`inline event handler: ${m[0].slice(0, 80)}`);
  if (/javascript:/i.test(html)) problems.push('a javascript: URL');
  if (/<style\b/i.test(html)) problems.push('an inline <style> element');
  for (const m of html.matchAll(/<[a-z][^>]*\sstyle\s*=/gi)) problems.push(`an inline style attribute: ${m[0].slice(0, 80)}`);
  for (const m of html.matchAll(/\b(?:src|href)\s*=\s*["']((?:https?:)?\/\/[^"']+)["']/gi)) problems.push(`a resource from another origin: ${m[1]}`);
  return problems;
}

describe('the Content-Security-Policy and the dashboard page', () => {
  let app: FastifyInstance;
  before(async () => {
    app = await buildApp(testConfig({ limits: { max_body_bytes: 4096 } }), { now: new ManualClock().now });
    app.get('/test-only/boom', async () => {
      throw new Error('boom');
    });
    await app.ready();
  });
  after(() => app.close());

  test('the page is served with a CSP of exactly its own origin: no unsafe-inline, unsafe-eval, nonce, hash or wildcard', { skip: NOT_BUILT }, async () => {
    const res = await app.inject({ method: 'GET', url: '/' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/html/);
    assert.deepEqual(cspOf(res), EXPECTED_CSP);
    assert.doesNotMatch(String(res.headers['content-security-policy']), /unsafe-|nonce-|sha\d+-|\*|https?:/);
  });

  test('the page as served has no inline script, handler or style and loads nothing from another origin', { skip: NOT_BUILT }, async () => {
    for (const url of ['/', '/index.html']) {
      const res = await app.inject({ method: 'GET', url });
      assert.deepEqual(inlineProblems(res.body), [], url);
      assert.ok(/<script\b[^>]*\bsrc="\/assets\/[^"]+\.js"/.test(res.body), `${url} loads its bundled script`);
    }
  });

  test('the built page in web/dist has no inline script either, and every asset it names exists', { skip: NOT_BUILT }, () => {
    const html = readFileSync(join(DASHBOARD_DIR, 'index.html'), 'utf8');
    assert.deepEqual(inlineProblems(html), []);
    const assets = new Set(readdirSync(join(DASHBOARD_DIR, 'assets')));
    for (const m of html.matchAll(/\b(?:src|href)="\/assets\/([^"]+)"/g)) assert.ok(assets.has(m[1]!), `${m[1]} is built`);
  });

  test('the checker itself finds what it looks for', () => {
    assert.equal(inlineProblems('<script>alert(1)</script>').length, 1);
    assert.equal(inlineProblems('<script type="module">import "/a.js"</script>').length, 1);
    assert.equal(inlineProblems('<button onclick="x()">').length, 1);
    assert.equal(inlineProblems('<div style="color:red">').length, 1);
    assert.equal(inlineProblems('<script src="https://cdn.example/x.js"></script>').length, 2);
    assert.deepEqual(inlineProblems('<script type="module" crossorigin src="/assets/index-1.js"></script>'), []);
  });

  const pages: Array<[string, InjectOptions]> = [
    ['the page', { method: 'GET', url: '/' }],
    ['a bundled asset', { method: 'GET', url: '/favicon.svg' }],
  ];
  for (const [what, opts] of pages) {
    test(`${what} carries the page's CSP and helmet's other headers`, async () => {
      const res = await app.inject(opts);
      assert.deepEqual(cspOf(res), EXPECTED_CSP, what);
      for (const [name, value] of Object.entries(EXPECTED_HEADERS)) assert.equal(res.headers[name], value, `${what}: ${name}`);
      assert.equal(res.headers['x-powered-by'], undefined);
      assert.equal(res.headers['access-control-allow-origin'], undefined, 'no CORS: other origins cannot read answers');
    });
  }

  const answers: Array<[string, InjectOptions]> = [
    ['an API read', { method: 'GET', url: '/api/stats' }],
    ['an ingest', { method: 'POST', url: '/api/logs', payload: '[]', headers: { 'content-type': 'application/json' } }],
    ['a 401', { method: 'GET', url: '/api/logs', headers: auth('not-a-token-at-all') }],
    ['a 403', { method: 'DELETE', url: '/api/logs?before=2000-01-01', headers: auth(READER_TOKEN) }],
    ['a 404', { method: 'GET', url: '/nothing' }],
    ['a 413', { method: 'POST', url: '/api/logs', payload: `[${'0,'.repeat(4096)}0]`, headers: { 'content-type': 'application/json' } }],
    ['a 415', { method: 'POST', url: '/api/logs', payload: 'x', headers: { 'content-type': 'text/html' } }],
    ['a 500', { method: 'GET', url: '/test-only/boom' }],
    ['/health', { method: 'HEAD', url: '/health' }],
  ];
  for (const [what, opts] of answers) {
    test(`${what} carries the API's headers`, async () => {
      const res = await app.inject(opts);
      assert.deepEqual(cspOf(res), { 'default-src': "'none'", 'frame-ancestors': "'none'" }, what);
      for (const [name, value] of Object.entries(EXPECTED_API_HEADERS)) assert.equal(res.headers[name], value, `${what}: ${name}`);
      assert.equal(res.headers['referrer-policy'], undefined, `${what}: page-only headers are not sent with JSON`);
      assert.equal(res.headers['x-powered-by'], undefined);
      assert.equal(res.headers['access-control-allow-origin'], undefined, 'no CORS: other origins cannot read answers');
    });
  }

  test('no CORS preflight is answered, so a page on another origin cannot send JSON or NDJSON here', async () => {
    const res = await app.inject({
      method: 'OPTIONS',
      url: '/api/logs',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    assert.equal(res.statusCode, 404);
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    // The content types a cross-origin form may send without a preflight are refused.
    for (const type of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/plain']) {
      const post = await app.inject({ method: 'POST', url: '/api/logs', payload: '{}', headers: { 'content-type': type, origin: 'https://evil.example' } });
      assert.equal(post.statusCode, 415, type);
    }
  });
});
