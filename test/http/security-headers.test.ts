import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildTestApp } from '../helpers.js';

/** Every answer carries the same security headers: the page, the API, 404s and refused bodies. */
describe('security headers', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildTestApp());
  });
  after(() => app.close());

  const requests = [
    { name: 'the dashboard page', method: 'GET', url: '/' },
    { name: 'an API read', method: 'GET', url: '/api/stats' },
    { name: 'an unknown route', method: 'GET', url: '/nope' },
    { name: 'a body that is not JSON', method: 'POST', url: '/api/logs', payload: '{nope', headers: { 'content-type': 'application/json' } },
  ] as const;

  for (const r of requests) {
    test(`${r.name}`, async () => {
      const res = await app.inject({ method: r.method, url: r.url, payload: 'payload' in r ? r.payload : undefined, headers: 'headers' in r ? r.headers : {} });
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
});
