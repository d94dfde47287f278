import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify';
import { Type } from '@sinclair/typebox';
import { DASHBOARD_DIR } from './dashboard.js';
import { DOCS_HEADERS, sendHeaders } from './security-headers.js';

/**
 * The API describes itself: @fastify/swagger builds an OpenAPI 3.1 document from every route's
 * schema (served at GET /openapi.json), and @fastify/swagger-ui serves a browsable reference at
 * /docs from its bundled files (no CDN) under the dashboard's CSP (security-headers.ts). Each operation says which
 * scope it needs (`x-scope`, and in words), as read from the route's access rule (auth.ts).
 */

/** The dashboard's icon as the reference's logo, a link back to the dashboard; Swagger UI's own while the page is not built. */
function logo(): { type: string; content: Buffer; href: string; target: '_self' } | undefined {
  const icon = join(DASHBOARD_DIR, 'favicon.svg');
  return existsSync(icon) ? { type: 'image/svg+xml', content: readFileSync(icon), href: '/', target: '_self' } : undefined;
}

const SECURITY_SCHEMES = {
  bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <token>' },
  token: { type: 'apiKey', in: 'header', name: 'Authorization', description: 'Authorization: Token <token>' },
  basic: { type: 'http', scheme: 'basic', description: 'Basic, with the token as the password (any user name): what shippers can send.' },
} as const;

const TAGS = [
  { name: 'logs', description: 'Ingest, query, tail and delete logs.' },
  { name: 'analytics', description: 'Counts, per-minute series and the dashboard figures.' },
  { name: 'patterns', description: 'Message patterns mined from every log, with exact counts.' },
  { name: 'alerts', description: 'Alerts with the logs behind them, silences and notification counts.' },
  { name: 'simulation', description: 'Generated traffic through the real ingest path.' },
  { name: 'other protocols', description: "Loki push, OTLP/HTTP and Elasticsearch bulk: other shippers' doors to the same ingest path." },
  { name: 'compatibility API', description: 'The /logs and /stats API, kept working as it was specified: `severity`, naive UTC times, a token always.' },
  { name: 'operations', description: 'Health, metrics, this document, the page.' },
];

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A route's description for GET /openapi.json alone, when Fastify must not check or serialize by it (the ingest doors). */
    docs?: FastifySchema;
  }
}

/** The words and the security requirement of a route's access rule. */
function accessDoc(route: RouteOptions, anonymousScopes: readonly string[]): Pick<FastifySchema, 'security'> & { description: string; 'x-scope': string | null } {
  const access = route.config?.access;
  const scope = access?.scope ?? null;
  if (scope === null) return { security: [], 'x-scope': null, description: 'Public: no token needed.' };
  const anonymous = access?.door !== 'legacy' && anonymousScopes.includes(scope);
  const who = access?.door === 'legacy' ? 'always with a token' : anonymous ? 'or without a token while auth.anonymous_scopes holds it' : 'a token is required';
  return {
    security: [{ bearer: [] }, { token: [] }, { basic: [] }, ...(anonymous ? [{}] : [])],
    'x-scope': scope,
    description: `Needs the \`${scope}\` scope (${who}).`,
  };
}

/** Registers the document builder: before the routes, whose registration it records. */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  const anonymousScopes = app.config.auth.anonymous_scopes;
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'LogSentinel',
        version: '0.1.0',
        description:
          'A small log server: structured JSON logs over HTTP (also Loki push, OTLP/HTTP, Elasticsearch bulk), queries, a live tail, per-minute analytics and alerts. Every error is `{"error", "code"}`: what is wrong and what to do.',
      },
      components: { securitySchemes: SECURITY_SCHEMES },
      tags: TAGS,
    },
    transform: ({ schema: declared, url, route }) => {
      const schema = declared ?? route.config?.docs;
      // Routes without a schema are the page's files (the page itself is added below).
      if (schema === undefined || (schema as { hide?: boolean }).hide) return { schema: { ...schema, hide: true }, url };
      const { description, ...access } = accessDoc(route, anonymousScopes);
      const doc = schema as FastifySchema & { description?: string };
      return { schema: { ...doc, ...access, description: doc.description ? `${doc.description}\n\n${description}` : description }, url };
    },
    transformObject: (document) => {
      if (!('openapiObject' in document)) return document.swaggerObject;
      const { openapiObject } = document;
      const paths: Record<string, unknown> = { ...openapiObject.paths };
      paths['/'] = {
        get: {
          summary: 'The dashboard',
          description: 'The page (HTML); it reads the API with the token it asks for when reading needs one. Public.',
          tags: ['operations'],
          security: [],
          responses: { 200: { description: 'The page.', content: { 'text/html': { schema: { type: 'string' } } } } },
        },
      };
      return { ...openapiObject, paths } as typeof openapiObject;
    },
  });
}

/** GET /openapi.json and the reference at /docs: after the routes, so the document holds them all. */
export async function openApiRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/openapi.json',
    {
      schema: {
        summary: 'This document',
        description: 'OpenAPI 3.1, generated from the route schemas. Browsable at /docs.',
        tags: ['operations'],
        response: { 200: Type.Object({}, { additionalProperties: true }) },
      },
    },
    async () => app.swagger(),
  );
  await app.register(docsPage);
}

async function docsPage(app: FastifyInstance): Promise<void> {
  // A page's policy, not the API's (which forbids every script).
  sendHeaders(app, DOCS_HEADERS);
  await app.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    staticCSP: false,
    // No calls to validator.swagger.io: the page talks to this server only.
    validatorUrl: false,
    uiConfig: { docExpansion: 'list', deepLinking: true, defaultModelsExpandDepth: 0 },
    theme: { title: 'LogSentinel API' },
    logo: logo(),
  });
}
