import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HealthSchema } from '../schemas/analytics.js';

/**
 * GET /health: public, never rate limited or shed, so an orchestrator can always ask. 503
 * while the durable tier fails. The pressure figures come from the protection layer
 * (protection.ts), which measures them.
 */
export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { core } = app;
  app.get(
    '/health',
    {
      schema: {
        summary: 'Liveness, storage state and load',
        description: 'Public. 200 healthy; 503 degraded while the durable tier cannot be written.',
        tags: ['operations'],
        response: { 200: HealthSchema, 503: HealthSchema },
      },
    },
    async (_request, reply) => {
      const failing = core.storageState.status !== 'ok';
      return reply.code(failing ? 503 : 200).send({
        status: failing ? 'degraded' : 'healthy',
        total_logs: core.stats.total,
        current_stored: core.recent.size,
        buffer_capacity: core.recent.capacity,
        uptime_seconds: Math.floor((core.now() - core.startedAt) / 1000),
        out_of_window: core.analytics.outOfWindow,
        cardinality: core.cardinality(),
        storage: core.repository
          ? { engine: core.repository.engine, ...(core.replicaId !== undefined && { replica: core.replicaId }), ...core.storageState }
          : { engine: 'memory', status: 'ok' as const },
        ...app.protectionReport(),
      });
    },
  );
};
