import type { FastifyInstance } from 'fastify';
import { QueryReader, refuseQuery } from '../query.js';
import { toIso } from '../../core/time.js';

const READ = { access: { scope: 'read', door: 'api' } } as const;

export async function analyticsRoutes(app: FastifyInstance): Promise<void> {
  const { core } = app;
  const maxMinutes = core.analytics.maxBuckets;
  const minutesOf = (query: unknown): number =>
    new QueryReader(query as Record<string, string>, ['minutes']).int('minutes', 1, maxMinutes) ?? Math.min(30, maxMinutes);

  // 503 while the durable tier fails, so an orchestrator's health check sees it.
  app.get('/health', async (_request, reply) => {
    const failing = core.storageState.status !== 'ok';
    return reply.code(failing ? 503 : 200).send({
      status: failing ? 'degraded' : 'healthy',
      total_logs: core.stats.total,
      current_stored: core.recent.size,
      buffer_capacity: core.recent.capacity,
      uptime_seconds: Math.floor((core.now() - core.startedAt) / 1000),
      out_of_window: core.analytics.outOfWindow,
      cardinality: core.cardinality(),
      storage: core.repository ? { engine: core.repository.engine, ...core.storageState } : { engine: 'memory', status: 'ok' },
    });
  });

  app.get('/api/stats', { config: READ }, async (request) => {
    refuseQuery(request.query as Record<string, string>);
    const { stats } = core;
    return {
      total_logs: stats.total,
      logs_per_service: stats.countPerService(),
      logs_per_level: stats.levelCounts(),
      last_log_per_service: stats.lastEventPerService(toIso),
      out_of_window: core.analytics.outOfWindow,
      cardinality: core.cardinality(),
    };
  });

  app.get('/api/time-series', { config: READ }, async (request) => core.analytics.timeSeries(minutesOf(request.query)));

  app.get('/api/advanced-dashboard-data', { config: READ }, async (request) => core.dashboard(minutesOf(request.query)));

  app.get('/api/validation-stats', { config: READ }, async (request) => {
    refuseQuery(request.query as Record<string, string>);
    return core.validationStats.toJSON();
  });
}
