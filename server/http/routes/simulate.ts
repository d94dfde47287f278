import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../../core/errors.js';
import { generateLog, type Random } from '../../core/simulator.js';
import { compileBodyCheck } from '../../core/validation.js';
import { NdjsonBody } from '../body/ndjson.js';
import { ingestVia } from '../protocols.js';

export const SIMULATE_LOGS_CAP = 1000;
export const SIMULATE_ERRORS_CAP = 500;

interface SimulateLogsBody {
  count?: number;
}
interface SimulateErrorsBody extends SimulateLogsBody {
  error_rate?: number;
  service?: string;
}

const INGEST = { access: { scope: 'ingest', door: 'api' } } as const;

/** A route's JSON body; NDJSON (parsed for the ingest routes) is a 415 here, not a confusing 400 about its parsed form. */
export function jsonBodyOf(request: FastifyRequest): unknown {
  if (request.body instanceof NdjsonBody) {
    throw new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', 'this route takes one JSON object with Content-Type: application/json, not NDJSON');
  }
  return request.body;
}

/** An absent body means "all defaults"; anything but an object is a 400. */
function bodyOf(request: FastifyRequest): unknown {
  return jsonBodyOf(request) ?? {};
}

export async function simulateRoutes(app: FastifyInstance, opts: { random: Random }): Promise<void> {
  const { core } = app;

  if (!app.config.simulation.enabled) {
    const disabled = async (): Promise<never> => {
      throw new AppError(404, 'SIMULATION_DISABLED', 'simulation is disabled on this server (simulation.enabled in config.yaml)');
    };
    app.post('/api/simulate-logs', { config: INGEST }, disabled);
    app.post('/api/simulate-errors', { config: INGEST }, disabled);
    return;
  }

  const checkLogs = compileBodyCheck<SimulateLogsBody>({
    type: 'object',
    additionalProperties: false,
    properties: { count: { type: 'integer', minimum: 1 } },
  });
  const checkErrors = compileBodyCheck<SimulateErrorsBody>({
    type: 'object',
    additionalProperties: false,
    properties: {
      count: { type: 'integer', minimum: 1 },
      error_rate: { type: 'number', minimum: 0, maximum: 1 },
      service: { type: 'string', minLength: 1, maxLength: app.config.limits.max_service_length },
    },
  });

  /** Generates `count` logs and sends them down the same ingest path real logs take. */
  async function simulate(request: FastifyRequest, count: number, spreadMs: number, errorRate?: number, service?: string) {
    const now = core.now();
    const bound = request.principal.service;
    const items = Array.from({ length: count }, () =>
      generateLog(opts.random, { now, spreadMs, service: service ?? bound, errorRate }),
    );
    const result = await ingestVia(core, 'simulate', items, { boundService: bound });
    return { status: 'simulated', requested: count, accepted: result.accepted };
  }

  app.post('/api/simulate-logs', { config: INGEST }, async (request) => {
    const body = checkLogs(bodyOf(request));
    return simulate(request, Math.min(body.count ?? 100, SIMULATE_LOGS_CAP), 5 * 60_000);
  });

  app.post('/api/simulate-errors', { config: INGEST }, async (request) => {
    const body = checkErrors(bodyOf(request));
    if (body.service !== undefined && !body.service.isWellFormed()) {
      // Every generated log would be refused for it, and the reply would be a 200 with nothing accepted.
      throw new AppError(400, 'INVALID_BODY', "'service' holds an unpaired UTF-16 surrogate, which is not valid Unicode; send valid UTF-8 text");
    }
    return simulate(request, Math.min(body.count ?? 50, SIMULATE_ERRORS_CAP), 2 * 60_000, body.error_rate ?? 0.5, body.service);
  });
}
