import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AppError } from '../../core/errors.js';
import { ERRORS } from '../schemas/common.js';
import { AlertsQuerystring, AlertsSchema, FingerprintParams, SilenceBody, SilencedSchema } from '../schemas/alerts.js';
import { jsonObjectBody } from './simulate.js';

const MAX_SILENCE_SECONDS = 30 * 24 * 3600;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** `duration` as seconds (a number) or text like `90s`, `30m`, `2h`, `1d`. */
export function parseDuration(value: number | string): number {
  if (typeof value === 'number') return value;
  const m = /^(\d+)\s*([smhd])$/.exec(value.trim());
  if (m === null) throw new AppError(400, 'INVALID_BODY', `'duration' must be seconds or text like 90s, 30m, 2h, 1d (got ${JSON.stringify(value)})`);
  return Number(m[1]) * UNIT_SECONDS[m[2]!]!;
}

const TAGS = ['alerts'];

export const alertRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { core } = app;

  app.get(
    '/api/alerts',
    {
      config: { access: { scope: 'read', door: 'api' } },
      schema: {
        summary: 'Alerts, silences and notification counts',
        tags: TAGS,
        querystring: AlertsQuerystring,
        response: { 200: AlertsSchema, ...ERRORS },
      },
    },
    async (request) => {
      const { status, service: services, rule: rules } = request.query;
      const all = [...(status === 'resolved' ? [] : core.alerts.activeAlerts()), ...(status === 'firing' ? [] : core.alerts.resolvedAlerts())];
      return {
        alerts: await core.withLogsAll(all.filter((a) => (services === undefined || services.includes(a.service)) && (rules === undefined || rules.includes(a.rule)))),
        silences: core.alerts.activeSilences(),
        rules: core.alerts.counters,
        handlers: core.dispatcher.stats(),
        webhooks: core.webhooks.map((w) => w.stats()),
      };
    },
  );

  app.post(
    '/api/alerts/:fingerprint/silence',
    {
      config: { access: { scope: 'admin', door: 'api' } },
      preValidation: jsonObjectBody,
      schema: {
        summary: 'Silence an alert',
        description: 'Mutes its notifications (firing and resolved) until the time given; it keeps being evaluated and listed.',
        tags: TAGS,
        params: FingerprintParams,
        body: SilenceBody,
        response: { 200: SilencedSchema, ...ERRORS },
      },
    },
    async (request) => {
      const seconds = parseDuration(request.body.duration);
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
};
