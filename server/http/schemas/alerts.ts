import { Type, type Static } from '@sinclair/typebox';
import type { AlertView } from '../../api-types.js';
import { RULES } from '../../core/alerting/types.js';
import { Dict, IsoTime, Nullable, type Holds, type Same } from './common.js';
import { Param, querystring } from './query.js';

const Count = Type.Integer({ minimum: 0 });

const RuleSchema = Type.Unsafe<(typeof RULES)[number]>({ type: 'string', enum: [...RULES] });

export const AlertViewSchema = Type.Object({
  rule: RuleSchema,
  level: Type.Unsafe<AlertView['level']>({ type: 'string', enum: ['WARNING', 'CRITICAL'] }),
  service: Type.String({ description: "The service, or '*' for the rule over all services together." }),
  message: Type.String({ description: 'What was measured, and the threshold.' }),
  timestamp: { ...IsoTime, description: 'When this episode started firing.' },
  last_notified: Nullable({ ...IsoTime, description: 'When a notification was last sent; null while every notice was held back (cooldown, silence).' }),
  status: Type.Unsafe<AlertView['status']>({ type: 'string', enum: ['firing', 'resolved'] }),
  value: Type.Number(),
  threshold: Type.Number(),
  fingerprint: Type.String({ description: 'Stable id of (rule, service), the same across episodes and restarts: what a silence names.' }),
  resolved_at: Type.Optional(IsoTime),
  silenced_until: Type.Optional(IsoTime),
});
export type AlertViewChecked = Holds<Same<Static<typeof AlertViewSchema>, AlertView>>;

export const AlertsQuerystring = querystring({
  status: Param.oneOf(['firing', 'resolved'] as const, 'Only firing, or only resolved alerts'),
  service: Param.list('Only alerts of these services'),
  rule: Param.someOf(RULES, 'Only alerts of these rules'),
});

export const AlertsSchema = Type.Object({
  alerts: Type.Array(AlertViewSchema, { description: 'Firing alerts newest first, then resolved ones newest first (at most alerting.history_size).' }),
  silences: Type.Array(Type.Object({ fingerprint: Type.String(), until: IsoTime })),
  rules: Dict(Type.Object({ fired: Count, notified: Count }), 'Per rule: alerts that started firing, and notifications sent for them.'),
  handlers: Type.Array(Type.Object({ name: Type.String(), delivered: Count, failed: Count })),
  webhooks: Type.Array(
    Type.Object({ url: Type.String(), queued: Count, sent: Count, failed: Count, retried: Count, dropped: Count }),
  ),
});
export const FingerprintParams = Type.Object({ fingerprint: Type.String({ description: 'From GET /api/alerts.' }) });

export const SilenceBody = Type.Object(
  {
    duration: Type.Union([Type.Integer({ minimum: 1 }), Type.String()], {
      description: 'Seconds, or text like 90s, 30m, 2h, 1d; at most 30 days.',
    }),
  },
  { additionalProperties: false },
);

export const SilencedSchema = Type.Object({ fingerprint: Type.String(), silenced_until: IsoTime });
