import { Type } from '@sinclair/typebox';
import { LEVELS } from '../../core/log.js';
import { Dict } from './common.js';
import { LevelSchema } from './logs.js';
import { Param, querystring } from './query.js';

/** The compatibility API (/logs, /stats): its names and its naive UTC times, `2025-04-01T12:00:00`. */

const NaiveTime = Type.String({ description: 'UTC without offset or fraction: 2025-04-01T12:00:00.' });

export const LegacyLogSchema = Type.Object({
  id: Type.Integer({ minimum: 1 }),
  timestamp: NaiveTime,
  service: Type.String(),
  severity: LevelSchema,
  message: Type.String(),
  received_at: NaiveTime,
  user_id: Type.Optional(Type.String()),
  metadata: Type.Optional(Dict(Type.Unknown())),
});

export const LEGACY_PAGE_DEFAULT = 1000;

export const LegacyQuerystring = querystring({
  timestamp_start: Param.time('Event time at or after'),
  timestamp_end: Param.time('Event time at or before'),
  received_at_start: Param.time('Receive time at or after'),
  received_at_end: Param.time('Receive time at or before'),
  service: Param.list('Only these services'),
  severity: Param.someOf(LEVELS, 'Only these severities', true),
  limit: Param.integer(1, 10_000, 'Logs to return', LEGACY_PAGE_DEFAULT),
  offset: Param.integer(0, Number.MAX_SAFE_INTEGER, 'Matches to skip first', 0),
});

export const LegacyStatsSchema = Type.Object({
  logs_per_service: Dict(Type.Integer({ minimum: 0 })),
  logs_per_severity: Dict(Type.Integer({ minimum: 0 })),
  last_log_per_service: Dict(NaiveTime),
});

export const LegacyMessageSchema = Type.Object({ message: Type.String() });

/** The log schema as POST /logs takes it: `severity` (any letter case) for `level`, and a timestamp without offset read as UTC. */
export function legacyInputSchema(log: Record<string, unknown>): Record<string, unknown> {
  const { level, timestamp, ...rest } = log.properties as Record<string, Record<string, unknown>>;
  return {
    ...log,
    required: (log.required as string[]).map((k) => (k === 'level' ? 'severity' : k)),
    properties: {
      timestamp: { ...timestamp, description: `${String(timestamp?.description ?? '')}; without an offset it is UTC` },
      severity: { type: 'string', description: `One of ${(level?.enum as string[]).join(', ')}, any letter case` },
      ...rest,
    },
  };
}
