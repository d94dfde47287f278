import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { FastifyInstance } from 'fastify';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { ADMIN_TOKEN, auth, buildTestApp, log, postJson, registeredRoutes } from '../helpers.js';

/**
 * GET /openapi.json: a valid OpenAPI 3.1 document, generated from the route schemas, that lists
 * every route the app serves with the scope it needs; and the answers the routes give are what
 * their schemas say.
 */

interface Operation {
  security?: Record<string, string[]>[];
  'x-scope'?: string | null;
  description?: string;
  summary?: string;
  requestBody?: { content: Record<string, { schema: Record<string, unknown> }> };
  responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }>;
  parameters?: { name: string; in: string; required?: boolean }[];
}
type Paths = Record<string, Record<string, Operation>>;

/** Fastify's `/api/alerts/:fingerprint/silence` as OpenAPI writes it. */
const openApiPath = (url: string): string => url.replace(/:(\w+)/g, '{$1}');

/** Routes that are files of a page rather than API operations: the dashboard's assets and the reference's own files. */
const isPageFile = (path: string): boolean => /^\/(assets\/|index\.html$|favicon\.svg$|docs\b)/.test(path);

describe('GET /openapi.json', () => {
  let app: FastifyInstance;
  let doc: { openapi: string; paths: Paths; components: { securitySchemes: Record<string, unknown> } };

  before(async () => {
    ({ app } = await buildTestApp({ limits: { max_message_length: 500 } }));
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(res.statusCode, 200, res.body);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    doc = res.json();
  });
  after(async () => {
    await app.close();
  });

  test('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(doc as unknown as Parameters<Validator["validate"]>[0]);
    assert.equal(validator.version, '3.1');
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
  });

  test('lists every route the app serves (HEAD routes and page files aside), and no other', () => {
    const served = registeredRoutes(app)
      .filter((r) => !r.startsWith('HEAD '))
      .map((r) => r.split(' ') as [string, string])
      .filter(([, path]) => !isPageFile(path))
      .map(([method, path]) => `${method} ${openApiPath(path)}`)
      .sort();
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    assert.deepEqual(documented, served);
    assert.ok(served.length >= 25, `only ${served.length} routes`);
  });

  test('each operation says the scope it needs, with the security to match', () => {
    const expected: Record<string, string | null> = {
      'POST /api/logs': 'ingest',
      'GET /api/logs': 'read',
      'DELETE /api/logs': 'admin',
      'GET /api/logs/tail': 'read',
      'POST /api/alerts/{fingerprint}/silence': 'admin',
      'GET /api/alerts': 'read',
      'GET /metrics': 'read',
      'POST /loki/api/v1/push': 'ingest',
      'POST /v1/logs': 'ingest',
      'PUT /{index}/_bulk': 'ingest',
      'GET /logs': 'read',
      'DELETE /logs': 'admin',
      'GET /health': null,
      'GET /api/ui-config': null,
      'GET /openapi.json': null,
      'GET /': null,
    };
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const key = `${method.toUpperCase()} ${path}`;
        assert.ok('x-scope' in op || key === 'GET /', `${key}: no x-scope`);
        const scope = op['x-scope'] ?? null;
        if (key in expected) assert.equal(scope, expected[key], key);
        if (scope === null) {
          assert.deepEqual(op.security, [], `${key}: public, so no security requirement`);
        } else {
          assert.ok(op.description?.includes(`the \`${scope}\` scope`), `${key}: ${op.description}`);
          const schemes = op.security?.flatMap((s) => Object.keys(s)) ?? [];
          assert.deepEqual(schemes.sort(), ['basic', 'bearer', 'token'], key);
          for (const name of schemes) assert.ok(name in doc.components.securitySchemes, name);
        }
        assert.ok(op.summary, `${key}: no summary`);
      }
    }
    // The compatibility API always needs a token: no anonymous alternative, whatever anonymous_scopes says.
    assert.ok(!doc.paths['/logs']!.get!.security!.some((s) => Object.keys(s).length === 0));
    assert.ok(doc.paths['/api/logs']!.get!.security!.some((s) => Object.keys(s).length === 0), 'the test config lets anonymous callers read');
  });

  test("query parameters are declared with their kinds; DELETE's before is required", () => {
    const params = (path: string, method: string): string[] => (doc.paths[path]![method]!.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
    assert.deepEqual(params('/api/logs', 'get'), ['service', 'level', 'from', 'to', 'received_from', 'received_to', 'user_id', 'q', 'pattern', 'limit', 'cursor', 'before_id']);
    assert.deepEqual(params('/api/time-series', 'get'), ['minutes']);
    const before = doc.paths['/api/logs']!.delete!.parameters!.find((p) => p.name === 'before');
    assert.equal(before?.required, true);
  });

  test('ingest documents the log schema with this server’s limits', () => {
    const body = doc.paths['/api/logs']!.post!.requestBody!.content['application/json']!.schema as { anyOf: { properties?: Record<string, { maxLength?: number }> }[] };
    const one = body.anyOf.find((s) => s.properties !== undefined)!;
    assert.equal(one.properties!.message!.maxLength, 500);
    assert.ok('application/x-ndjson' in doc.paths['/api/logs']!.post!.requestBody!.content);
  });

  test('read routes answer what their response schema says', async () => {
    assert.equal((await postJson(app, '/api/logs', [log({ user_id: 'u1', metadata: { a: [1, { b: 'c' }] } }), log({ level: 'ERROR' })])).statusCode, 201);
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    for (const url of ['/api/logs', '/api/stats', '/api/time-series?minutes=3', '/api/advanced-dashboard-data', '/api/validation-stats', '/api/alerts', '/health', '/api/ui-config', '/logs', '/stats']) {
      const res = await app.inject({ method: 'GET', url, headers: auth(ADMIN_TOKEN) });
      assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
      const path = url.split('?')[0]!;
      const schema = doc.paths[path]!.get!.responses['200']!.content!['application/json']!.schema;
      const validate = ajv.compile({ ...schema, unevaluatedProperties: false });
      assert.ok(validate(res.json()), `${url}: ${JSON.stringify(validate.errors)}`);
    }
    // Nothing the client sent is dropped by the serializer: metadata comes back whole.
    const page = (await app.inject({ method: 'GET', url: '/api/logs?user_id=u1' })).json();
    assert.deepEqual(page.logs[0].metadata, { a: [1, { b: 'c' }] });
  });
});
