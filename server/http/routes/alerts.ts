import type { FastifyInstance } from 'fastify';
import { RULES } from '../../core/alerting/types.js';
import { AppError } from '../../core/errors.js';
import { compileBodyCheck } from '../../core/validation.js';
import { QueryReader } from '../query.js';
import { jsonBodyOf } from './simulate.js';

const MAX_SILENCE_SECONDS = 30 * 24 * 3600;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** `duration` as seconds (a number) or text like `90s`, `30m`, `2h`, `1d`. */
export function parseDuration(value: number | string): number {
  if (typeof value === 'number') return value;
  const m = /^(\d+)\s*([smhd])$/.exec(value.trim());
  if (m === null) throw new AppError(400, 'INVALID_BODY', `'duration' must be seconds or text like 90s, 30m, 2h, 1d (got ${JSON.stringify(value)})`);
  return Number(m[1]) * UNIT_SECONDS[m[2]!]!;
}

export async function alertRoutes(app: FastifyInstance): Promise<void> {
  const { core } = app;
  const checkSilence = compileBodyCheck<{ duration: number | string }>({
    type: 'object',
    additionalProperties: false,
    required: ['duration'],
    properties: { duration: { anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string' }] } },
  });

  app.get('/api/alerts', { config: { access: { scope: 'read', door: 'api' } } }, async (request) => {
    const r = new QueryReader(request.query as Record<string, string>, ['status', 'service', 'rule']);
    const status = r.string('status');
    if (status !== undefined && status !== 'firing' && status !== 'resolved') {
      throw new AppError(400, 'INVALID_QUERY', `query parameter 'status' must be firing or resolved (got '${status.slice(0, 40)}')`);
    }
    const services = r.list('service');
    const rules = r.list('rule');
    for (const rule of rules ?? []) {
      if (!(RULES as readonly string[]).includes(rule)) {
        throw new AppError(400, 'INVALID_QUERY', `query parameter 'rule' must be one or more of ${RULES.join(', ')} (got '${rule.slice(0, 40)}')`);
      }
    }
    const all = [
      ...(status === 'resolved' ? [] : core.alerts.activeAlerts()),
      ...(status === 'firing' ? [] : core.alerts.resolvedAlerts()),
    ];
    return {
      alerts: all.filter((a) => (services === undefined || services.includes(a.service)) && (rules === undefined || rules.includes(a.rule))),
      silences: core.alerts.activeSilences(),
      rules: core.alerts.counters,
      handlers: core.dispatcher.stats(),
      webhooks: core.webhooks.map((w) => w.stats()),
    };
  });

  app.post<{ Params: { fingerprint: string } }>(
    '/api/alerts/:fingerprint/silence',
    { config: { access: { scope: 'admin', door: 'api' } } },
    async (request) => {
      const seconds = parseDuration(checkSilence(jsonBodyOf(request) ?? {}).duration);
      if (seconds < 1 || seconds > MAX_SILENCE_SECONDS) {
        throw new AppError(400, 'INVALID_BODY', `'duration' must be from 1 s to 30 days (got ${seconds} s)`);
      }
      const { fingerprint } = request.params;
      const until = core.now() + seconds * 1000;
      if (!core.alerts.silence(fingerprint, until)) {
        throw new AppError(404, 'ALERT_NOT_FOUND', `no alert with fingerprint '${fingerprint.slice(0, 40)}'; GET /api/alerts lists them`);
      }
      return { fingerprint, silenced_until: new Date(until).toISOString() };
    },
  );
}
