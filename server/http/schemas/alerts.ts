import { Type, type Static } from '@sinclair/typebox';
import type { AlertPatternView, AlertView } from '../../api-types.js';
import { RULES } from '../../core/alerting/types.js';
import { Dict, IsoTime, Nullable, type Holds, type Same } from './common.js';
import { LogViewSchema } from './logs.js';
import { Param, querystring } from './query.js';

const Count = Type.Integer({ minimum: 0 });

const RuleSchema = Type.Unsafe<(typeof RULES)[number]>({ type: 'string', enum: [...RULES] });

function AlertPatternSchema() {
  return Type.Object({ id: Type.Integer({ minimum: 1 }), template: Type.String(), count: Count });
}
export type AlertPatternChecked = Holds<Same<Static<ReturnType<typeof AlertPatternSchema>>, AlertPatternView>>;

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
  fingerprint: Type.String({ description: 'Stable id of (rule, service), or (rule, service, pattern) for new_pattern, the same across episodes and restarts: what a silence names.' }),
  resolved_at: Type.Optional(IsoTime),
  silenced_until: Type.Optional(IsoTime),
  pattern_id: Type.Optional(Type.Integer({ minimum: 1, description: 'The pattern a new_pattern alert is about.' })),
  query: Type.String({ description: 'The GET /api/logs query string that returns exactly the logs behind the alert: its service, levels and the minutes of its window.' }),
  logs_url: Type.String({ description: 'alerting.external_url plus the dashboard view of those logs.' }),
  samples: Type.Array(LogViewSchema, { description: 'Up to 5 of those logs, newest first.' }),
  top_patterns: Type.Array(AlertPatternSchema(), { description: 'Up to 3 patterns with most of those logs in the window, with their counts.' }),
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
