import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { AppError } from '../core/errors.js';
import { PROJECT_ROOT } from '../schemas.js';

export const DASHBOARD_DIR = join(PROJECT_ROOT, 'web', 'dist');

/** Serves the built dashboard; hashed assets are cached for a year, the page itself is revalidated. */
export async function dashboardRoutes(app: FastifyInstance, opts: { root?: string }): Promise<void> {
  const root = opts.root ?? DASHBOARD_DIR;
  if (!existsSync(join(root, 'index.html'))) {
    app.get('/', async () => {
      throw new AppError(503, 'DASHBOARD_NOT_BUILT', `the dashboard is not built (no ${join(root, 'index.html')}); run npm run build`);
    });
    return;
  }
  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    wildcard: false,
    cacheControl: false,
    setHeaders(res, path) {
      res.header('cache-control', path.includes(`${join(root, 'assets')}`) ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
}
