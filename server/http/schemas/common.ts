import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { ErrorBody } from '../../api-types.js';
import type { Holds } from '../../core/log.js';

/** True when A and B are the same type: with Holds, holds a schema to the wire type it describes (server/api-types.ts). */
export type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export type { Holds };

/** An object with any keys (service names, user ids) and values of `value`. */
export function Dict<V extends TSchema>(value: V, description?: string) {
  return Type.Unsafe<Record<string, Static<V>>>({ type: 'object', additionalProperties: value, ...(description ? { description } : {}) });
}

/** `schema`, or null. */
export function Nullable<S extends TSchema>(schema: S) {
  const { type, ...rest } = schema as { type?: string };
  return Type.Unsafe<Static<S> | null>({ ...rest, type: [type, 'null'] });
}

/** A date-time rendered by the server, ISO 8601 UTC. */
export const IsoTime = Type.String({ format: 'date-time' });

/** Every 4xx and 5xx of the API (but the ingest routes' per-item answers and the other protocols' own shapes). */
export const ErrorBodySchema = Type.Object(
  {
    error: Type.String({ description: 'What is wrong and what to do about it.' }),
    code: Type.String({ description: 'A stable code to branch on, e.g. INVALID_QUERY, AUTH_REQUIRED, RATE_LIMITED.' }),
  },
  { description: 'An error: what is wrong and what to do, and a stable code.' },
);
export type ErrorBodyChecked = Holds<Same<Static<typeof ErrorBodySchema>, ErrorBody>>;

/** The refusals any API route may answer with, for its response schema. */
export const ERRORS = {
  '4xx': ErrorBodySchema,
  '5xx': ErrorBodySchema,
} as const;
