import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { AppError } from '../core/errors.js';
import { PROJECT_ROOT } from '../schemas.js';
import type { UiConfig } from './ui-config.js';

export const DASHBOARD_DIR = join(PROJECT_ROOT, 'web', 'dist');

/** Serves the built dashboard; hashed assets are cached for a year, the page itself is revalidated. */
export async function dashboardRoutes(app: FastifyInstance, opts: { root?: string }): Promise<void> {
  const { config } = app.core;
  app.get('/api/ui-config', async (): Promise<UiConfig> => ({
    refresh_seconds: config.dashboard.refresh_seconds,
    simulation_enabled: config.simulation.enabled,
    error_rate_threshold: config.alerting.error_rate_threshold,
    max_minutes: config.analytics.max_buckets,
    anonymous_read: config.auth.anonymous_scopes.includes('read'),
  }));

  const root = opts.root ?? DASHBOARD_DIR;
  if (!existsSync(join(root, 'index.html'))) {
    app.get('/', async () => {
      throw new AppError(503, 'DASHBOARD_NOT_BUILT', `the dashboard is not built (no ${join(root, 'index.html')}); run npm run build`);
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
