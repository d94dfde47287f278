import { Type, type Static } from '@sinclair/typebox';
import { LEVELS } from '../../core/log.js';
import type { PatternView, PatternsPage } from '../../api-types.js';
import { IsoTime, type Holds, type Same } from './common.js';
import { Param, querystring } from './query.js';

const Count = Type.Integer({ minimum: 0 });

export const PATTERNS_DEFAULT = 100;

export const PatternsQuerystring = querystring({
  service: Param.text('Only patterns of this service'),
  level: Param.someOf(LEVELS, 'Count only logs of these levels (a pattern with none of them in the range is left out)', true),
  from: Param.time('Event time at or after (its whole minute counts); default: the start of the analytics window'),
  to: Param.time('Event time at or before (its whole minute counts); default: now'),
  limit: Param.integer(1, 10_000, 'Patterns in the answer, most logs first', PATTERNS_DEFAULT),
});

export const PatternSchema = Type.Object({
  id: Type.Integer({ minimum: 1, description: "The pattern's id: logs carry it as pattern_id, and GET /api/logs?pattern=ID lists them. It never changes." }),
  service: Type.String({ description: "The service (its cardinality key: 'other' past limits.max_services)." }),
  template: Type.String({ description: "The message with its variable parts as <*>; '<other>' for the service's overflow pattern past patterns.max_per_service." }),
  count: Type.Integer({ minimum: 1, description: 'Logs in the range (of the levels asked for): exact, every log counted.' }),
  total: Type.Integer({ minimum: 1, description: 'Logs of every level since the pattern was first seen.' }),
  levels: Type.Record(Type.String(), Count, { description: 'Logs in the range per level; levels with none left out.' }),
  first_seen: { ...IsoTime, description: 'Event time of its first log.' },
  last_seen: { ...IsoTime, description: 'Event time of its latest log.' },
  per_minute: Type.Array(Count, { description: 'Logs per minute of the range (of the levels asked for), oldest first.' }),
  sample: Type.String({ description: 'The message of its latest log.' }),
  new: Type.Boolean({ description: 'First seen within the range.' }),
});
export type PatternChecked = Holds<Same<Static<typeof PatternSchema>, Omit<PatternView, 'levels'> & { levels: Record<string, number> }>>;

export const PatternsSchema = Type.Object({
  patterns: Type.Array(PatternSchema),
  from: { ...IsoTime, description: 'The first minute counted.' },
  to: { ...IsoTime, description: 'The end of the last minute counted.' },
});
export type PatternsChecked = Holds<Same<Static<typeof PatternsSchema>, Omit<PatternsPage, 'patterns'> & { patterns: Static<typeof PatternSchema>[] }>>;
