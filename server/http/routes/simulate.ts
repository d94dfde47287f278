import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../../core/errors.js';
import { generateLog, type Random } from '../../core/simulator.js';
import { NdjsonBody } from '../body/ndjson.js';
import { ingestVia } from '../protocols.js';
import { ERRORS } from '../schemas/common.js';
import { SimulatedSchema, SimulateLogsBody, simulateErrorsBody } from '../schemas/ingest.js';

export const SIMULATE_LOGS_CAP = 1000;
export const SIMULATE_ERRORS_CAP = 500;

/**
 * A preValidation hook for routes taking one small JSON object: no body means all defaults
 * (`{}`), and NDJSON (parsed for the ingest routes) is a 415, not a confusing 400 about its
 * parsed form. The route's body schema then checks the object.
 */
export async function jsonObjectBody(request: FastifyRequest): Promise<void> {
  if (request.body instanceof NdjsonBody) {
    throw new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', 'this route takes one JSON object with Content-Type: application/json, not NDJSON');
  }
  request.body ??= {};
}

const TAGS = ['simulation'];

export const simulateRoutes: FastifyPluginAsyncTypebox<{ random: Random }> = async (app, opts) => {
  const { core } = app;
  const INGEST = { access: { scope: 'ingest', door: 'api' } } as const;

  if (!app.config.simulation.enabled) {
    const disabled = async (): Promise<never> => {
      throw new AppError(404, 'SIMULATION_DISABLED', 'simulation is disabled on this server (simulation.enabled in config.yaml)');
    };
    const schema = { summary: 'Off on this server (simulation.enabled: false): 404', tags: TAGS };
    app.post('/api/simulate-logs', { config: INGEST, schema }, disabled);
    app.post('/api/simulate-errors', { config: INGEST, schema }, disabled);
    return;
  }

  /** Generates `count` logs and sends them down the same ingest path real logs take. */
  async function simulate(request: FastifyRequest, count: number, spreadMs: number, errorRate?: number, service?: string) {
    const now = core.now();
    const bound = request.principal.service;
    const items = Array.from({ length: count }, () => generateLog(opts.random, { now, spreadMs, service: service ?? bound, errorRate }));
    const result = await ingestVia(core, 'simulate', items, { boundService: bound });
    return { status: 'simulated' as const, requested: count, accepted: result.accepted };
  }

  app.post(
    '/api/simulate-logs',
    {
      config: INGEST,
      preValidation: jsonObjectBody,
      schema: {
        summary: 'Generate normal traffic',
        description: `Logs from the simulated services over the last 5 minutes, through the ingest path real logs take; count capped at ${SIMULATE_LOGS_CAP}.`,
        tags: TAGS,
        body: SimulateLogsBody,
        response: { 200: SimulatedSchema, ...ERRORS },
      },
    },
    async (request) => simulate(request, Math.min(request.body.count ?? 100, SIMULATE_LOGS_CAP), 5 * 60_000),
  );

  app.post(
    '/api/simulate-errors',
    {
      config: INGEST,
      preValidation: jsonObjectBody,
      schema: {
        summary: 'Generate an error burst',
        description: `Logs over the last 2 minutes, error_rate of them ERROR or CRITICAL; count capped at ${SIMULATE_ERRORS_CAP}.`,
        tags: TAGS,
        body: simulateErrorsBody(app.config.limits.max_service_length),
        response: { 200: SimulatedSchema, ...ERRORS },
      },
    },
    async (request) => {
      const body = request.body;
      if (body.service !== undefined && !body.service.isWellFormed()) {
        // Every generated log would be refused for it, and the reply would be a 200 with nothing accepted.
        throw new AppError(400, 'INVALID_BODY', "'service' holds an unpaired UTF-16 surrogate, which is not valid Unicode; send valid UTF-8 text");
      }
      return simulate(request, Math.min(body.count ?? 50, SIMULATE_ERRORS_CAP), 2 * 60_000, body.error_rate ?? 0.5, body.service);
    },
  );
};
