import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { AppError } from '../core/errors.js';
import { PROJECT_ROOT } from '../schemas.js';
import { DOCUMENT_HEADERS, sendHeaders } from './security-headers.js';
import type { UiConfig } from '../api-types.js';
import { UiConfigSchema } from './schemas/analytics.js';

export const DASHBOARD_DIR = join(PROJECT_ROOT, 'web', 'dist');

/** Serves the built dashboard; hashed assets are cached for a year, the page itself is revalidated. */
export async function dashboardRoutes(app: FastifyInstance, opts: { root?: string }): Promise<void> {
  const { config } = app;
  app.get(
    '/api/ui-config',
    { schema: { summary: 'What the page needs before its first request', description: 'Public.', tags: ['operations'], response: { 200: UiConfigSchema } } },
    async (): Promise<UiConfig> => ({
      refresh_seconds: config.dashboard.refresh_seconds,
      simulation_enabled: config.simulation.enabled,
      error_rate_threshold: config.alerting.error_rate_threshold,
      alert_window_minutes: config.alerting.window_minutes,
      min_samples: config.alerting.min_samples,
      max_minutes: config.analytics.max_buckets,
      anonymous_read: config.auth.anonymous_scopes.includes('read'),
      patterns_enabled: config.patterns.enabled,
    }),
  );

  // The page and its files in their own context: they get the page's headers, /api/ui-config keeps the API's.
  await app.register(pageRoutes, { root: opts.root ?? DASHBOARD_DIR });
}

async function pageRoutes(app: FastifyInstance, opts: { root: string }): Promise<void> {
  sendHeaders(app, DOCUMENT_HEADERS);
  const { root } = opts;
  if (!existsSync(join(root, 'index.html'))) {
    // The path is for whoever runs the server (the log), not for whoever asks for the page.
    app.log.warn({ page: join(root, 'index.html') }, 'the dashboard is not built; run npm run build');
    app.get('/', async () => {
      throw new AppError(503, 'DASHBOARD_NOT_BUILT', 'the dashboard is not built on this server; build it with npm run build');
    });
    return;
  }
  const assets = join(root, 'assets');
  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    wildcard: false,
    cacheControl: false,
    setHeaders(reply, path) {
      reply.header('cache-control', path.startsWith(assets) ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
}
