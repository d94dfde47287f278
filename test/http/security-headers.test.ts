import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildTestApp } from '../helpers.js';

/**
 * The page and its files carry the page's policy (a CSP without inline script, helmet's other
 * headers); every JSON answer, errors and 404s included, carries the API's short set.
 */
describe('security headers', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildTestApp());
  });
  after(() => app.close());

  const documents = [
    { name: 'the dashboard page', url: '/' },
    { name: 'a file of the page', url: '/favicon.svg' },
  ] as const;

  for (const r of documents) {
    test(`${r.name}: the page's policy`, async () => {
      const res = await app.inject({ method: 'GET', url: r.url });
      assert.equal(res.statusCode, 200);
      const csp = String(res.headers['content-security-policy']);
      for (const directive of ["default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'"]) {
        assert.ok(csp.split(';').includes(directive), `${directive} in ${csp}`);
      }
      assert.ok(!csp.includes('unsafe-inline'), csp);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['x-frame-options'], 'SAMEORIGIN');
      assert.equal(res.headers['referrer-policy'], 'no-referrer');
      assert.equal(res.headers['x-powered-by'], undefined);
    });
  }

  const apiAnswers = [
    { name: 'an API read', method: 'GET', url: '/api/stats' },
    { name: 'the page settings (JSON)', method: 'GET', url: '/api/ui-config' },
    { name: 'an unknown route', method: 'GET', url: '/nope' },
    { name: 'an unknown file next to the page', method: 'GET', url: '/assets/nope.js' },
    { name: 'a body that is not JSON', method: 'POST', url: '/api/logs', payload: '{nope', headers: { 'content-type': 'application/json' } },
  ] as const;

  for (const r of apiAnswers) {
    test(`${r.name}: the API's headers`, async () => {
      const res = await app.inject({ method: r.method, url: r.url, payload: 'payload' in r ? r.payload : undefined, headers: 'headers' in r ? r.headers : {} });
      assert.equal(res.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'");
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['x-frame-options'], 'DENY');
      assert.equal(res.headers['cross-origin-resource-policy'], 'same-origin');
      assert.equal(res.headers['referrer-policy'], undefined, 'page-only headers are not sent with JSON');
      assert.equal(res.headers['x-powered-by'], undefined);
    });
  }
});
