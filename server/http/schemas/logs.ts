import { Type, type Static } from '@sinclair/typebox';
import type { LogPageView, LogView } from '../../api-types.js';
import { LEVELS } from '../../core/log.js';
import { Dict, IsoTime, Nullable, type Holds, type Same } from './common.js';
import { Param, querystring } from './query.js';

/** The five levels, rising severity. */
export const LevelSchema = Type.Unsafe<(typeof LEVELS)[number]>({ type: 'string', enum: [...LEVELS] });

const logFields = {
  timestamp: Type.String({ description: 'Event time as the client sent it: RFC 3339 with an offset.' }),
  level: LevelSchema,
  service: Type.String(),
  message: Type.String(),
  user_id: Type.Optional(Type.String()),
  metadata: Type.Optional(Dict(Type.Unknown(), 'Any JSON object the client sent.')),
};

export const LogViewSchema = Type.Object({
  id: Type.Integer({ minimum: 1 }),
  ...logFields,
  received_at: { ...IsoTime, description: 'When the server accepted it.' },
  pattern_id: Type.Optional(Type.Integer({ minimum: 1, description: 'Its message pattern (GET /api/patterns), given at ingest and never changed; absent only for logs stored before patterns were mined.' })),
});
export type LogViewChecked = Holds<Same<Static<typeof LogViewSchema>, LogView>>;

export const LogPageSchema = Type.Object({
  logs: Type.Array(LogViewSchema),
  count: Type.Integer({ minimum: 0 }),
  next_cursor: Nullable(Type.String({ description: 'Pass as cursor for the next page; null on the last page.' })),
  next_before_id: Nullable(Type.Integer({ description: 'The id of the last log of this page: passed as before_id, the next page too; null on the last page.' })),
});
export type LogPageChecked = Holds<Same<Static<typeof LogPageSchema>, LogPageView>>;

/** The filters GET /api/logs and its live tail share. */
export const logFilterParams = {
  service: Param.list('Only these services'),
  level: Param.someOf(LEVELS, 'Only these levels', true),
  from: Param.time('Event time at or after'),
  to: Param.time('Event time at or before'),
  received_from: Param.time('Receive time at or after'),
  received_to: Param.time('Receive time at or before'),
  user_id: Param.text('Only this user'),
  q: Param.text('Case-insensitive substring of the message'),
  pattern: Param.integer(1, Number.MAX_SAFE_INTEGER, 'Only logs of this message pattern (an id from GET /api/patterns or a log\'s pattern_id)'),
};

/** The filters alone: what the live tail reads beside its own `limit`. */
export const LogFilterQuerystring = querystring(logFilterParams);

export const LOG_PAGE_DEFAULT = 100;

export const LogQuerystring = querystring({
  ...logFilterParams,
  limit: Param.integer(1, 1000, 'Logs in the page', LOG_PAGE_DEFAULT),
  cursor: Param.cursor('Only logs listed after this position: the next_cursor of the previous page'),
  before_id: Param.integer(1, Number.MAX_SAFE_INTEGER, 'Only logs listed after the log with this id (the next_before_id of the previous page); it must still be stored'),
});

export const DeleteQuerystring = querystring({
  before: Param.requiredTime('Logs with an event time before this are deleted', '2025-01-01T00:00:00Z', 'logs with an event time before it are deleted'),
});

export const DeletedSchema = Type.Object({
  deleted: Type.Integer({ minimum: 0 }),
  message: Type.String(),
});
