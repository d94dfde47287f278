import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { toIso } from '../../core/time.js';
import { DashboardSchema, minutesQuerystring, StatsSchema, TimeSeriesSchema, ValidationStatsSchema } from '../schemas/analytics.js';
import { ERRORS } from '../schemas/common.js';
import { NO_QUERY } from '../schemas/query.js';

const READ = { access: { scope: 'read', door: 'api' } } as const;
const TAGS = ['analytics'];

export const analyticsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { core } = app;
  const maxMinutes = core.analytics.maxBuckets;
  const defaultMinutes = Math.min(30, maxMinutes);
  const minutes = minutesQuerystring(maxMinutes, defaultMinutes);

  app.get(
    '/api/stats',
    { config: READ, schema: { summary: 'All-time counts per service and level', tags: TAGS, querystring: NO_QUERY, response: { 200: StatsSchema, ...ERRORS } } },
    async () => {
      const { stats } = core;
      return {
        total_logs: stats.total,
        logs_per_service: stats.countPerService(),
        logs_per_level: stats.levelCounts(),
        last_log_per_service: stats.lastEventPerService(toIso),
        out_of_window: core.analytics.outOfWindow,
        cardinality: core.cardinality(),
      };
    },
  );

  app.get(
    '/api/time-series',
    {
      config: READ,
      schema: { summary: 'Logs and errors per minute', tags: TAGS, querystring: minutes, response: { 200: TimeSeriesSchema, ...ERRORS } },
    },
    async (request) => core.analytics.timeSeries(request.query.minutes ?? defaultMinutes),
  );

  app.get(
    '/api/advanced-dashboard-data',
    {
      config: READ,
      schema: {
        summary: "The dashboard's figures",
        description: 'Built from the minute buckets and counters: its cost does not grow with the logs stored.',
        tags: TAGS,
        querystring: minutes,
        response: { 200: DashboardSchema, ...ERRORS },
      },
    },
    async (request) => core.dashboard(request.query.minutes ?? defaultMinutes),
  );

  app.get(
    '/api/validation-stats',
    {
      config: READ,
      schema: { summary: 'Validation outcomes, kept across restarts', tags: TAGS, querystring: NO_QUERY, response: { 200: ValidationStatsSchema, ...ERRORS } },
    },
    async () => core.validation.toJSON(),
  );
};
