import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Config, Scope } from '../config.js';
import { AppError } from '../core/errors.js';

/** Who is calling, as far as the server can tell from the Authorization header. */
export interface Principal {
  readonly name: string;
  readonly scopes: ReadonlySet<Scope>;
  /** The only service this caller may ship logs for; undefined means any. */
  readonly service: string | undefined;
  readonly anonymous: boolean;
}

/**
 * Per-route access: `scope` is what the route needs (null: public); `door` says which API
 * the route belongs to: `api` routes let anonymous callers have the configured anonymous
 * scopes, `legacy` routes (the compatibility API: /logs, /stats) always need a token, as that API documents.
 */
export interface RouteAccess {
  scope: Scope | null;
  door?: 'api' | 'legacy';
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
  interface FastifyRequest {
    principal: Principal;
  }
}

const WHO_ARE_YOU =
  "Who are you? Send 'Authorization: Token <token>' (or 'Bearer <token>', or Basic with the token as the password) with a token from the server's config";

interface KnownToken {
  digest: Buffer;
  principal: Principal;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Finds the token's owner comparing every configured digest in constant time: no early exit. */
function lookup(tokens: readonly KnownToken[], presented: string): Principal | undefined {
  const d = digest(presented);
  let found: Principal | undefined;
  for (const t of tokens) if (timingSafeEqual(t.digest, d)) found = t.principal;
  return found;
}

const SCHEME = /^(Token|Bearer|Basic)\s+(\S+)\s*$/i;

/**
 * The token in `Authorization: Token <t>`, `Bearer <t>` or `Basic base64(user:<t>)`: shippers
 * (Promtail, Alloy, the OpenTelemetry exporters, rsyslog, Filebeat) can send Basic or Bearer.
 * Null when absent, undefined when malformed.
 */
function presentedToken(header: string | undefined): string | null | undefined {
  if (header === undefined || header === '') return null;
  const m = SCHEME.exec(header);
  if (m === null) return undefined;
  if (m[1]!.toLowerCase() !== 'basic') return m[2];
  const decoded = Buffer.from(m[2]!, 'base64').toString();
  const colon = decoded.indexOf(':');
  // The password is the token; the user name is free (a tenant, a service name, anything).
  return colon < 0 || colon === decoded.length - 1 ? undefined : decoded.slice(colon + 1);
}

function unauthorized(code: string, detail: string): AppError {
  return new AppError(401, code, `${WHO_ARE_YOU}. ${detail}`, { 'www-authenticate': 'Bearer realm="logsentinel"' });
}

async function authPlugin(app: FastifyInstance, opts: { config: Config }): Promise<void> {
  const tokens: KnownToken[] = opts.config.auth.tokens.map((t, i) => ({
    digest: digest(t.token),
    principal: {
      name: t.name ?? t.service ?? `token #${i + 1}`,
      scopes: new Set(t.scopes),
      service: t.service === undefined || t.service === '*' ? undefined : t.service,
      anonymous: false,
    },
  }));
  const anonymous: Principal = {
    name: 'anonymous',
    scopes: new Set(opts.config.auth.anonymous_scopes),
    service: undefined,
    anonymous: true,
  };

  app.decorateRequest('principal', null as unknown as Principal);

  app.addHook('onRequest', async (request: FastifyRequest) => {
    const access = request.routeOptions.config.access;
    request.principal = anonymous;
    if (access === undefined || access.scope === null) return;
    const token = presentedToken(request.headers.authorization);
    if (token === undefined) {
      throw unauthorized('AUTH_MALFORMED', "The Authorization header must be 'Token <token>', 'Bearer <token>' or Basic with the token as the password.");
    }
    let principal = anonymous;
    if (token !== null) {
      const known = lookup(tokens, token);
      if (known === undefined) throw unauthorized('AUTH_INVALID_TOKEN', 'The token sent is not one the server knows.');
      principal = known;
    }
    request.principal = principal;
    if (principal.anonymous && access.door === 'legacy') throw unauthorized('AUTH_REQUIRED', 'This route always needs a token.');
    if (principal.scopes.has(access.scope)) return;
    if (principal.anonymous) {
      throw unauthorized('AUTH_REQUIRED', `This route needs a token with the '${access.scope}' scope.`);
    }
    throw new AppError(
      403,
      'AUTH_SCOPE',
      `the token '${principal.name}' lacks the '${access.scope}' scope this route needs; it has: ${[...principal.scopes].join(', ')}`,
    );
  });
}

export default fp(authPlugin, { name: 'auth', fastify: '5.x' });
