import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import type { FastifyInstance } from 'fastify';
import type { TSchema } from '@sinclair/typebox';
import { AppError } from '../core/errors.js';
import { describe } from '../core/validation.js';
import { compileQuerystring } from './schemas/query.js';

/**
 * How Fastify validates what routes declare in their schemas. Querystrings are read by
 * schemas/query.ts (strict about how numbers and times are written, and precise in its 400s);
 * bodies and path parameters by ajv, without type coercion or removal of unknown properties
 * (a `"count": "50"` or an unknown key is an error, never silently changed), every problem
 * named in words (core/validation.ts's `describe`) under the code INVALID_BODY.
 */
export function registerValidation(app: FastifyInstance): void {
  const ajv = new Ajv2020({ allErrors: true, strict: true, verbose: true });
  app.setValidatorCompiler<TSchema>(({ schema, httpPart }) => (httpPart === 'querystring' ? compileQuerystring(schema) : ajv.compile(schema)));
  app.setSchemaErrorFormatter(
    (errors, dataVar) => new AppError(400, dataVar === 'body' ? 'INVALID_BODY' : 'INVALID_REQUEST', errors.map((e) => describe(e as ErrorObject)).join('; ')),
  );
}
