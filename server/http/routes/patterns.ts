import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AppError } from '../../core/errors.js';
import { ERRORS } from '../schemas/common.js';
import { PATTERNS_DEFAULT, PatternsQuerystring, PatternsSchema } from '../schemas/patterns.js';

export const patternRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { core } = app;

  app.get(
    '/api/patterns',
    {
      config: { access: { scope: 'read', door: 'api' } },
      schema: {
        summary: 'Message patterns with their counts',
        description:
          'Every accepted log is counted in its pattern (docs/patterns.md): counts are exact over the minutes of the range that the analytics window holds, with the all-time count beside them. Most logs first.',
        tags: ['patterns'],
        querystring: PatternsQuerystring,
        response: { 200: PatternsSchema, ...ERRORS },
      },
    },
    async (request) => {
      const q = request.query;
      if (core.miner === undefined) throw new AppError(404, 'PATTERNS_DISABLED', 'patterns are not mined on this server; set patterns.enabled: true in the config');
      const range = { service: q.service, levels: q.level, from: q.from, to: q.to };
      const bounds = core.patterns.bounds(range);
      return { patterns: core.listPatterns(range, q.limit ?? PATTERNS_DEFAULT), from: new Date(bounds.from).toISOString(), to: new Date(bounds.to).toISOString() };
    },
  );
};
