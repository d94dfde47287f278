import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { DASHBOARD_DIR } from '../../server/http/dashboard.js';
import { buildTestApp, log, registeredRoutes } from '../helpers.js';

/**
 * Every route the app registers, called with every kind of credential. The routes come from
 * the app itself (printRoutes), so a route added without a row in ROUTES below fails here
 * until someone decides which scope it needs.
 */

type Scope = 'ingest' | 'read' | 'admin';
type Need = Scope | 'public';

interface RequestContext {
  /** The service the request names (in the log it sends, or as a filter). */
  service: string;
  /** An alert the app knows, for the silence route. */
  fingerprint: string;
}

interface RouteRow {
  need: Need;
  /** `legacy`: the compatibility API's routes, which always need a token whatever `auth.anonymous_scopes` says. */
  door?: 'api' | 'legacy';
  /** The request (without its method) that succeeds for a caller with the scope. */
  request: (ctx: RequestContext) => Omit<InjectOptions, 'method'>;
  /** Status of that success. */
  ok: number;
  /** The request ships logs for `service`: a token bound to another service gets 403 SERVICE_MISMATCH. */
  namesService?: boolean;
  /** One of the simulation routes: 404 SIMULATION_DISABLED once past auth when simulation.enabled is false. */
  simulation?: boolean;
  /** A look at a successful (non-HEAD) body. */
  check?: (body: unknown) => void;
  /**
   * An answer that never ends by itself (Server-Sent Events): the request is injected with
   * `payloadAsStream`, a success is judged on its status and headers and then disconnected
   * (as a client going away), and a refusal's body is read to its end.
   */
  stream?: boolean;
}

const BOUND_SERVICE = 'auth-service';
const OTHER_SERVICE = 'payment-service';

function json(url: string, body: unknown): Omit<InjectOptions, 'method'> {
  return { url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } };
}

const accepted = (body: unknown): void => assert.deepEqual(body, { status: 'accepted' });
const simulated = (body: unknown): void => assert.equal((body as { status: string }).status, 'simulated');

/** An Elasticsearch bulk body (NDJSON: an action line, then the document) shipping one log for `service`. */
function bulk(url: string, service: string): Omit<InjectOptions, 'method'> {
  const lines = [{ create: { _index: 'matrix' } }, { '@timestamp': '2024-01-15T14:29:30Z', 'service.name': service, message: 'matrix' }];
  return { url, payload: `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`, headers: { 'content-type': 'application/x-ndjson' } };
}
const bulkStored = (body: unknown): void => assert.equal((body as { errors: boolean }).errors, false);

/** One row per route (HEAD routes take their GET's row; the dashboard's files are added from web/dist below). */
const ROUTES: Record<string, RouteRow> = {
  'POST /api/logs': { need: 'ingest', door: 'api', ok: 201, namesService: true, check: accepted, request: ({ service }) => json('/api/logs', log({ service, message: 'matrix' })) },
  'GET /api/logs': { need: 'read', door: 'api', ok: 200, request: ({ service }) => ({ url: `/api/logs?service=${service}` }) },
  'GET /api/logs/tail': { need: 'read', door: 'api', ok: 200, stream: true, request: ({ service }) => ({ url: `/api/logs/tail?service=${service}` }) },
  'DELETE /api/logs': { need: 'admin', door: 'api', ok: 200, request: () => ({ url: '/api/logs?before=2000-01-01T00:00:00Z' }) },
  'GET /api/stats': { need: 'read', door: 'api', ok: 200, request: () => ({ url: '/api/stats' }) },
  'GET /api/time-series': { need: 'read', door: 'api', ok: 200, request: () => ({ url: '/api/time-series?minutes=5' }) },
  'GET /api/advanced-dashboard-data': { need: 'read', door: 'api', ok: 200, request: () => ({ url: '/api/advanced-dashboard-data' }) },
  'GET /api/validation-stats': { need: 'read', door: 'api', ok: 200, request: () => ({ url: '/api/validation-stats' }) },
  'GET /api/patterns': { need: 'read', door: 'api', ok: 200, request: ({ service }) => ({ url: `/api/patterns?service=${service}` }) },
  'GET /api/alerts': { need: 'read', door: 'api', ok: 200, request: ({ service }) => ({ url: `/api/alerts?service=${service}` }) },
  'POST /api/alerts/:fingerprint/silence': {
    need: 'admin',
    door: 'api',
    ok: 200,
    request: ({ fingerprint }) => json(`/api/alerts/${fingerprint}/silence`, { duration: '5m' }),
  },
  'POST /api/simulate-logs': { need: 'ingest', door: 'api', ok: 200, simulation: true, check: simulated, request: () => json('/api/simulate-logs', { count: 2 }) },
  'POST /api/simulate-errors': {
    need: 'ingest',
    door: 'api',
    ok: 200,
    simulation: true,
    namesService: true,
    check: simulated,
    request: ({ service }) => json('/api/simulate-errors', { count: 2, service }),
  },
  'GET /api/ui-config': { need: 'public', ok: 200, request: () => ({ url: '/api/ui-config' }) },
  'GET /health': { need: 'public', ok: 200, request: () => ({ url: '/health' }) },
  'GET /openapi.json': { need: 'public', ok: 200, check: (body) => assert.match((body as { openapi: string }).openapi, /^3\.1\./), request: () => ({ url: '/openapi.json' }) },
  // The API reference (@fastify/swagger-ui): its page, its files, and the document again.
  'GET /docs': { need: 'public', ok: 200, request: () => ({ url: '/docs' }) },
  // Redirects to the page at /docs.
  'GET /docs/static/index.html': { need: 'public', ok: 302, request: () => ({ url: '/docs/static/index.html' }) },
  'GET /docs/static/swagger-initializer.js': { need: 'public', ok: 200, request: () => ({ url: '/docs/static/swagger-initializer.js' }) },
  'GET /docs/static/*': { need: 'public', ok: 200, request: () => ({ url: '/docs/static/swagger-ui.css' }) },
  'GET /docs/json': { need: 'public', ok: 200, request: () => ({ url: '/docs/json' }) },
  'GET /docs/yaml': { need: 'public', ok: 200, request: () => ({ url: '/docs/yaml' }) },
  'GET /metrics': { need: 'read', door: 'api', ok: 200, request: () => ({ url: '/metrics' }) },
  'POST /logs': {
    need: 'ingest',
    door: 'legacy',
    ok: 201,
    namesService: true,
    check: (body) => assert.deepEqual(body, { message: 'Log(s) saved successfully' }),
    request: ({ service }) => json('/logs', { timestamp: '2024-01-15T14:29:30', service, severity: 'INFO', message: 'matrix' }),
  },
  'GET /logs': { need: 'read', door: 'legacy', ok: 200, request: ({ service }) => ({ url: `/logs?service=${service}` }) },
  'DELETE /logs': { need: 'admin', door: 'legacy', ok: 200, request: () => ({ url: '/logs?before=2000-01-01T00:00:00' }) },
  'GET /stats': { need: 'read', door: 'legacy', ok: 200, request: () => ({ url: '/stats' }) },
  'POST /loki/api/v1/push': {
    need: 'ingest',
    door: 'api',
    ok: 204,
    namesService: true,
    request: ({ service }) => json('/loki/api/v1/push', { streams: [{ stream: { service }, values: [['1705329000000000000', 'matrix']] }] }),
  },
  'POST /v1/logs': {
    need: 'ingest',
    door: 'api',
    ok: 200,
    namesService: true,
    check: (body) => assert.deepEqual(body, {}),
    request: ({ service }) =>
      json('/v1/logs', {
        resourceLogs: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
            scopeLogs: [{ logRecords: [{ timeUnixNano: '1705329000000000000', body: { stringValue: 'matrix' } }] }],
          },
        ],
      }),
  },
  'POST /_bulk': { need: 'ingest', door: 'api', ok: 200, namesService: true, check: bulkStored, request: ({ service }) => bulk('/_bulk', service) },
  'PUT /_bulk': { need: 'ingest', door: 'api', ok: 200, namesService: true, check: bulkStored, request: ({ service }) => bulk('/_bulk', service) },
  'POST /:index/_bulk': { need: 'ingest', door: 'api', ok: 200, namesService: true, check: bulkStored, request: ({ service }) => bulk('/matrix/_bulk', service) },
  'PUT /:index/_bulk': { need: 'ingest', door: 'api', ok: 200, namesService: true, check: bulkStored, request: ({ service }) => bulk('/matrix/_bulk', service) },
};

/** The dashboard's files, each a public GET route (@fastify/static registers one per file found at start). */
function dashboardRows(root: string): Record<string, RouteRow> {
  if (!existsSync(join(root, 'index.html'))) {
    // Not built: '/' answers 503 DASHBOARD_NOT_BUILT, still without auth.
    return { 'GET /': { need: 'public', ok: 503, request: () => ({ url: '/' }) } };
  }
  const rows: Record<string, RouteRow> = { 'GET /': { need: 'public', ok: 200, request: () => ({ url: '/' }) } };
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else {
        const url = `/${relative(root, full).split(sep).join('/')}`;
        rows[`GET ${url}`] = { need: 'public', ok: 200, request: () => ({ url }) };
      }
    }
  };
  walk(root);
  return rows;
}

const TABLE: Record<string, RouteRow> = { ...ROUTES, ...dashboardRows(DASHBOARD_DIR) };

/** The row for a registered route: its own, or its GET's for a HEAD route (Fastify adds one per GET). */
function rowOf(route: string): RouteRow | undefined {
  if (TABLE[route] !== undefined) return TABLE[route];
  if (route.startsWith('HEAD ')) return TABLE[`GET ${route.slice(5)}`];
  return undefined;
}

interface Credential {
  name: string;
  kind: 'anonymous' | 'malformed' | 'wrong' | 'token';
  authorization?: string;
  scopes?: readonly Scope[];
  boundTo?: string;
  /** The service its requests name. */
  service: string;
}

const TOKENS = {
  ingest: 'matrix-ingest-only-token-0001',
  read: 'matrix-read-only-token-00002',
  admin: 'matrix-admin-only-token-0003',
  all: 'matrix-all-scopes-token-0004',
  bound: 'matrix-bound-auth-service-05',
};

/** How Loki, OTLP and Elasticsearch shippers send a token: Basic with the token as the password. */
function basic(token: string): string {
  return `Basic ${Buffer.from(`shipper:${token}`).toString('base64')}`;
}

const ANONYMOUS: Credential = { name: 'no token', kind: 'anonymous', service: BOUND_SERVICE };
const CREDENTIALS: readonly Credential[] = [
  ANONYMOUS,
  { name: 'malformed Authorization header (Basic without a password)', kind: 'malformed', authorization: 'Basic dXNlcg==', service: BOUND_SERVICE },
  { name: 'wrong token', kind: 'wrong', authorization: 'Bearer matrix-not-a-configured-token', service: BOUND_SERVICE },
  { name: 'wrong token as a Basic password', kind: 'wrong', authorization: basic('matrix-not-a-configured-token'), service: BOUND_SERVICE },
  { name: 'token with read only, as a Basic password', kind: 'token', authorization: basic(TOKENS.read), scopes: ['read'], service: BOUND_SERVICE },
  { name: 'token with ingest only', kind: 'token', authorization: `Bearer ${TOKENS.ingest}`, scopes: ['ingest'], service: BOUND_SERVICE },
  { name: 'token with read only', kind: 'token', authorization: `Token ${TOKENS.read}`, scopes: ['read'], service: BOUND_SERVICE },
  { name: 'token with admin only', kind: 'token', authorization: `Bearer ${TOKENS.admin}`, scopes: ['admin'], service: BOUND_SERVICE },
  { name: 'token with all scopes', kind: 'token', authorization: `Bearer ${TOKENS.all}`, scopes: ['ingest', 'read', 'admin'], service: BOUND_SERVICE },
  {
    name: `token bound to ${BOUND_SERVICE} (all scopes), request naming ${OTHER_SERVICE}`,
    kind: 'token',
    authorization: `Bearer ${TOKENS.bound}`,
    scopes: ['ingest', 'read', 'admin'],
    boundTo: BOUND_SERVICE,
    service: OTHER_SERVICE,
  },
  {
    name: `token bound to ${BOUND_SERVICE} (all scopes), request naming ${BOUND_SERVICE}`,
    kind: 'token',
    authorization: `Token ${TOKENS.bound}`,
    scopes: ['ingest', 'read', 'admin'],
    boundTo: BOUND_SERVICE,
    service: BOUND_SERVICE,
  },
];

interface Scenario {
  name: string;
  anonymousScopes: readonly Scope[];
  simulation: boolean;
  credentials: readonly Credential[];
  /** Which routes this scenario calls (all by default). */
  routes?: (row: RouteRow) => boolean;
}

const SCENARIOS: readonly Scenario[] = [
  { name: 'auth.anonymous_scopes [ingest, read] (the default)', anonymousScopes: ['ingest', 'read'], simulation: true, credentials: CREDENTIALS },
  { name: 'auth.anonymous_scopes []', anonymousScopes: [], simulation: true, credentials: [ANONYMOUS] },
  { name: 'auth.anonymous_scopes [read]', anonymousScopes: ['read'], simulation: true, credentials: [ANONYMOUS] },
  { name: 'auth.anonymous_scopes [ingest]', anonymousScopes: ['ingest'], simulation: true, credentials: [ANONYMOUS] },
  {
    name: 'simulation.enabled false',
    anonymousScopes: ['ingest', 'read'],
    simulation: false,
    credentials: CREDENTIALS,
    routes: (row) => row.simulation === true,
  },
];

interface Expectation {
  status: number;
  code?: string;
  /** The scope a 403 AUTH_SCOPE must name. */
  missing?: Scope;
  label: string;
}

function expectationFor(row: RouteRow, cred: Credential, scenario: Scenario): Expectation {
  const success = (): Expectation =>
    row.simulation === true && !scenario.simulation
      ? { status: 404, code: 'SIMULATION_DISABLED', label: '404 SIMULATION_DISABLED' }
      : { status: row.ok, label: String(row.ok) };
  if (row.need === 'public') return success();
  const scope = row.need;
  switch (cred.kind) {
    case 'malformed':
      return { status: 401, code: 'AUTH_MALFORMED', label: '401 AUTH_MALFORMED' };
    case 'wrong':
      return { status: 401, code: 'AUTH_INVALID_TOKEN', label: '401 AUTH_INVALID_TOKEN' };
    case 'anonymous':
      if (row.door === 'legacy' || !scenario.anonymousScopes.includes(scope)) return { status: 401, code: 'AUTH_REQUIRED', label: '401 AUTH_REQUIRED' };
      return success();
    case 'token':
      if (!cred.scopes!.includes(scope)) return { status: 403, code: 'AUTH_SCOPE', missing: scope, label: `403 AUTH_SCOPE naming '${scope}'` };
      if (cred.boundTo !== undefined && row.namesService === true && cred.service !== cred.boundTo && (scenario.simulation || row.simulation !== true)) {
        return { status: 403, code: 'SERVICE_MISMATCH', label: '403 SERVICE_MISMATCH' };
      }
      return success();
  }
}

/** What `check` reads of an answer. */
type Answer = Pick<LightMyRequestResponse, 'statusCode' | 'headers' | 'body' | 'json'>;

/** Injects a streaming row's request: a success is cut after its head, a refusal read whole. */
async function injectStream(app: FastifyInstance, options: InjectOptions): Promise<Answer> {
  const res = await app.inject({ ...options, payloadAsStream: true });
  let body = '';
  if (res.statusCode >= 400 || options.method === 'HEAD') {
    for await (const chunk of res.stream()) body += String(chunk);
  } else {
    assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
    res.raw.res.destroy();
  }
  return { statusCode: res.statusCode, headers: res.headers, body, json: <T>() => JSON.parse(body) as T };
}

function check(res: Answer, method: string, row: RouteRow, cred: Credential, want: Expectation): void {
  const context = `${res.statusCode} ${res.body.slice(0, 300)}`;
  assert.equal(res.statusCode, want.status, context);
  // The page's files carry the page's policy, every other answer the API's (server/http/security-headers.ts).
  assert.match(String(res.headers['content-security-policy']), /frame-ancestors 'none'/, 'security headers on every answer');
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  if (cred.authorization !== undefined) {
    const secret = cred.authorization.split(' ')[1]!;
    assert.equal(res.body.includes(secret), false, 'the credential sent is never echoed');
  }
  if (method === 'HEAD') {
    assert.equal(res.body, '');
  }
  if (want.status >= 400) {
    assert.ok(res.headers['x-request-id'], 'error answers carry x-request-id');
    if (want.status === 401) assert.match(String(res.headers['www-authenticate']), /^Bearer realm="logsentinel"$/);
    else assert.equal(res.headers['www-authenticate'], undefined);
    if (method === 'HEAD') return;
    const body = res.json() as { error: string; code: string };
    assert.deepEqual(Object.keys(body).sort(), ['code', 'error'], context);
    assert.equal(body.code, want.code, context);
    if (want.missing !== undefined) assert.ok(body.error.includes(`'${want.missing}'`), body.error);
    if (want.code === 'SERVICE_MISMATCH') {
      assert.ok(body.error.includes(`'${cred.boundTo}'`) && body.error.includes(`'${cred.service}'`), body.error);
    }
    return;
  }
  if (method !== 'HEAD' && row.check !== undefined) row.check(res.json());
}

async function setUp(scenario: Scenario): Promise<{ app: FastifyInstance; fingerprint: string }> {
  const { app } = await buildTestApp({
    auth: {
      anonymous_scopes: scenario.anonymousScopes,
      tokens: [
        { name: 'ingest-only', token: TOKENS.ingest, service: '*', scopes: ['ingest'] },
        { name: 'read-only', token: TOKENS.read, scopes: ['read'] },
        { name: 'admin-only', token: TOKENS.admin, scopes: ['admin'] },
        { name: 'all-scopes', token: TOKENS.all, scopes: ['ingest', 'read', 'admin'] },
        { name: 'bound', token: TOKENS.bound, service: BOUND_SERVICE, scopes: ['ingest', 'read', 'admin'] },
      ],
    },
    simulation: { enabled: scenario.simulation },
  });
  // An error burst, so there is an alert for the silence route to find.
  const all = { authorization: `Bearer ${TOKENS.all}`, 'content-type': 'application/json' };
  const burst = Array.from({ length: 30 }, () => log({ service: OTHER_SERVICE, level: 'ERROR', message: 'burst' }));
  const posted = await app.inject({ method: 'POST', url: '/api/logs', payload: JSON.stringify(burst), headers: all });
  assert.equal(posted.statusCode, 201, posted.body);
  const alerts = (await app.inject({ method: 'GET', url: '/api/alerts', headers: all })).json() as { alerts: { fingerprint: string }[] };
  const fingerprint = alerts.alerts[0]?.fingerprint;
  assert.ok(fingerprint, 'the burst fired an alert');
  return { app, fingerprint };
}

const apps: FastifyInstance[] = [];
after(async () => {
  await Promise.all(apps.map((a) => a.close()));
});

for (const scenario of SCENARIOS) {
  const { app, fingerprint } = await setUp(scenario);
  apps.push(app);
  const routes = registeredRoutes(app);

  describe(`security matrix, ${scenario.name}`, () => {
    test('every table row is a route the app registers', () => {
      const registered = new Set(routes);
      const stale = Object.keys(TABLE).filter((key) => !registered.has(key));
      assert.deepEqual(stale, [], 'rows for routes that no longer exist');
    });

    for (const route of routes) {
      const row = rowOf(route);
      if (row === undefined) {
        test(`${route} has a row in the security matrix`, () => {
          assert.fail(`${route} is registered but test/security/matrix.test.ts has no row for it: add one saying which scope it needs`);
        });
        continue;
      }
      if (scenario.routes !== undefined && !scenario.routes(row)) continue;
      const method = route.slice(0, route.indexOf(' '));
      for (const cred of scenario.credentials) {
        const want = expectationFor(row, cred, scenario);
        test(`${route} [${row.need}${row.door === 'legacy' ? ', compatibility API' : ''}] · ${cred.name} → ${want.label}`, async () => {
          const req = row.request({ service: cred.service, fingerprint });
          const headers: Record<string, string> = { ...(req.headers as Record<string, string> | undefined) };
          if (cred.authorization !== undefined) headers.authorization = cred.authorization;
          const options: InjectOptions = { ...req, method: method as InjectOptions['method'], headers };
          const res = row.stream === true ? await injectStream(app, options) : await app.inject(options);
          check(res, method, row, cred, want);
        });
      }
    }
  });
}

/**
 * What an admin credential may delete: a token bound to a service deletes that service's logs
 * only (DELETE /api/logs, DELETE /logs); an unbound admin token deletes every service's.
 */
describe('DELETE routes: a service-bound admin token deletes its own service only', () => {
  const deleteRoutes = Object.keys(TABLE).filter((route) => route.startsWith('DELETE '));
  const admins: { name: string; token: string; deletes: readonly string[] }[] = [
    { name: 'admin-only token (unbound)', token: TOKENS.admin, deletes: [BOUND_SERVICE, OTHER_SERVICE] },
    { name: 'all-scopes token (unbound)', token: TOKENS.all, deletes: [BOUND_SERVICE, OTHER_SERVICE] },
    { name: `token bound to ${BOUND_SERVICE}`, token: TOKENS.bound, deletes: [BOUND_SERVICE] },
  ];
  test('the table has both delete routes', () => assert.deepEqual(deleteRoutes.sort(), ['DELETE /api/logs', 'DELETE /logs']));
  for (const route of deleteRoutes) {
    for (const admin of admins) {
      test(`${route} · ${admin.name} deletes ${admin.deletes.join(' and ')}`, async () => {
        const { app } = await buildTestApp({
          auth: {
            anonymous_scopes: [],
            tokens: [
              { name: 'admin-only', token: TOKENS.admin, scopes: ['admin'] },
              { name: 'all-scopes', token: TOKENS.all, scopes: ['ingest', 'read', 'admin'] },
              { name: 'bound', token: TOKENS.bound, service: BOUND_SERVICE, scopes: ['ingest', 'read', 'admin'] },
            ],
          },
        });
        try {
          const old = [BOUND_SERVICE, OTHER_SERVICE].flatMap((service) => [1, 2, 3].map((i) => log({ service, timestamp: '2020-01-01T00:00:00Z', message: `${service} ${i}` })));
          const all = { authorization: `Bearer ${TOKENS.all}`, 'content-type': 'application/json' };
          assert.equal((await app.inject({ method: 'POST', url: '/api/logs', payload: JSON.stringify(old), headers: all })).statusCode, 201);
          const url = route === 'DELETE /logs' ? '/logs?before=2021-01-01T00:00:00' : '/api/logs?before=2021-01-01T00:00:00Z';
          const res = await app.inject({ method: 'DELETE', url, headers: { authorization: `Bearer ${admin.token}` } });
          assert.equal(res.statusCode, 200, res.body);
          assert.match(res.json().message, new RegExp(`^${admin.deletes.length * 3} log\\(s\\) deleted$`));
          const left = (await app.inject({ method: 'GET', url: '/api/logs', headers: all })).json().logs as { service: string }[];
          const services = [...new Set(left.map((l) => l.service))].sort();
          assert.deepEqual(services, [BOUND_SERVICE, OTHER_SERVICE].filter((s) => !admin.deletes.includes(s)));
        } finally {
          await app.close();
        }
      });
    }
  }
});
