import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { loadSchema } from '../../server/schemas.js';
import type { LogInput } from '../../server/core/log.js';
import { LogValidator, ValidationStats, nestedDeeperThan, type FieldLimits, type Problem } from '../../server/core/validation.js';

type Verdict = { ok: true; log: LogInput; ts: number } | { ok: false; problems: Problem[] };

/** What `validate` answers, as a verdict a test can read. */
function checkWith(v: LogValidator, value: unknown): Verdict {
  const result = v.validate(value);
  return typeof result === 'number' ? { ok: true, log: value as LogInput, ts: result } : { ok: false, problems: result };
}
import { DEFAULTS } from '../../server/config.js';

const LIMITS: FieldLimits = {
  max_service_length: 10,
  max_user_id_length: 8,
  max_message_length: 20,
  max_metadata_keys: 2,
  max_metadata_depth: 3,
};

const validator = new LogValidator(loadSchema('log.schema.json'), LIMITS);

function valid(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { timestamp: '2024-01-15T14:30:00.250+01:00', level: 'INFO', service: 'auth', message: 'hello', ...over };
}

function without(key: string): Record<string, unknown> {
  const v = valid();
  delete v[key];
  return v;
}

function problems(value: unknown): { keyword: string; message: string }[] {
  const verdict = checkWith(validator, value);
  assert.equal(verdict.ok, false, `expected ${JSON.stringify(value)} to be rejected`);
  return verdict.ok ? [] : verdict.problems;
}

function messages(value: unknown): string[] {
  return problems(value).map((p) => p.message);
}

describe('LogValidator', () => {
  test('a valid log passes and returns the parsed ts', () => {
    const input = valid({ user_id: 'u1', metadata: { a: 1, b: 'x' } });
    const verdict = checkWith(validator, input);
    assert.equal(verdict.ok, true);
    if (!verdict.ok) return;
    assert.equal(verdict.ts, Date.parse('2024-01-15T13:30:00.250Z'));
    assert.equal(verdict.log, input);
  });

  test('values exactly at the configured limits pass', () => {
    const verdict = checkWith(validator, 
      valid({ service: 's'.repeat(10), user_id: 'u'.repeat(8), message: 'm'.repeat(20), metadata: { a: 1, b: 2 } }),
    );
    assert.equal(verdict.ok, true);
  });

  test('leap second timestamp passes with ts at :59.999', () => {
    const verdict = checkWith(validator, valid({ timestamp: '2016-12-31T23:59:60Z' }));
    assert.equal(verdict.ok, true);
    if (verdict.ok) assert.equal(verdict.ts, Date.parse('2016-12-31T23:59:59.999Z'));
  });

  test('required: names the missing property', () => {
    assert.deepEqual(problems(without('message')), [{ keyword: 'required', message: "'message' is a required property" }]);
    const all = messages({});
    assert.deepEqual(all.sort(), [
      "'level' is a required property",
      "'message' is a required property",
      "'service' is a required property",
      "'timestamp' is a required property",
    ]);
  });

  test('enum: lists the allowed levels and the bad value', () => {
    assert.deepEqual(problems(valid({ level: 'FATAL' })), [
      { keyword: 'enum', message: `'level' must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (got "FATAL")` },
    ]);
    // Lowercase is not a level.
    assert.equal(problems(valid({ level: 'info' }))[0]!.keyword, 'enum');
  });

  test('additionalProperties: names the extra key and the allowed ones', () => {
    assert.deepEqual(problems(valid({ severity: 'high' })), [
      {
        keyword: 'additionalProperties',
        message: "'severity' is not an allowed property; allowed: timestamp, level, service, message, user_id, metadata",
      },
    ]);
  });

  test('format: a naive timestamp is rejected with an example', () => {
    assert.deepEqual(problems(valid({ timestamp: '2024-01-15T14:30:00' })), [
      {
        keyword: 'format',
        message:
          "'timestamp' must be an RFC 3339 date-time with an offset, e.g. 2024-01-15T14:30:00Z, in years 1970-9999 (got \"2024-01-15T14:30:00\")",
      },
    ]);
    for (const bad of ['2023-02-29T00:00:00Z', '1969-12-31T23:59:59Z', '2024-01-15T14:30:00+25:00', 'yesterday']) {
      assert.deepEqual(
        problems(valid({ timestamp: bad })).map((p) => p.keyword),
        ['format'],
        bad,
      );
    }
  });

  test('format: a long bad value is shortened in the message', () => {
    const long = 'x'.repeat(200);
    const [msg] = messages(valid({ timestamp: long }));
    assert.ok(msg!.endsWith(`(got "${'x'.repeat(56)}...)`), msg);
  });

  test('type: names the expected and the actual type', () => {
    assert.deepEqual(problems(valid({ service: 42 })), [{ keyword: 'type', message: "'service' must be of type string (got number)" }]);
    assert.deepEqual(problems(valid({ metadata: [1, 2] })), [
      { keyword: 'type', message: "'metadata' must be of type object (got array)" },
    ]);
    assert.deepEqual(messages(valid({ message: null })), ["'message' must be of type string (got null)"]);
    assert.deepEqual(messages([valid()]), ['the value must be of type object (got array)']);
    assert.deepEqual(messages('a string'), ['the value must be of type object (got string)']);
  });

  test('minLength: empty strings are rejected', () => {
    assert.deepEqual(problems(valid({ service: '' })), [{ keyword: 'minLength', message: "'service' must not be empty" }]);
    assert.deepEqual(messages(valid({ user_id: '' })), ["'user_id' must not be empty"]);
    assert.deepEqual(messages(valid({ message: '' })), ["'message' must not be empty"]);
  });

  test('maxLength: uses the configured limit, not the schema default', () => {
    assert.deepEqual(problems(valid({ service: 's'.repeat(11) })), [
      { keyword: 'maxLength', message: "'service' is longer than the limit of 10 characters" },
    ]);
    assert.deepEqual(messages(valid({ user_id: 'u'.repeat(9) })), ["'user_id' is longer than the limit of 8 characters"]);
    assert.deepEqual(messages(valid({ message: 'm'.repeat(21) })), ["'message' is longer than the limit of 20 characters"]);
  });

  test('maxLength counts a character beyond U+FFFF as one, though it is two UTF-16 code units', () => {
    // The quick validator measures .length and refuses these; the thorough one counts code points and accepts them.
    const atLimit = valid({ service: '🙂'.repeat(10), user_id: '🙂'.repeat(8), message: `${'🙂'.repeat(19)}x` });
    const verdict = checkWith(validator, atLimit);
    assert.equal(verdict.ok, true);
    if (verdict.ok) assert.equal(verdict.ts, Date.parse(atLimit.timestamp as string));
    assert.deepEqual(messages(valid({ service: '🙂'.repeat(11) })), ["'service' is longer than the limit of 10 characters"]);
    assert.deepEqual(messages(valid({ message: `${'🙂'.repeat(20)}x` })), ["'message' is longer than the limit of 20 characters"]);
  });

  test('maxLength: the default limits come from the schema defaults when configured so', () => {
    const def = new LogValidator(loadSchema('log.schema.json'), DEFAULTS.limits);
    assert.equal(checkWith(def, valid({ service: 's'.repeat(128) })).ok, true);
    const v = checkWith(def, valid({ service: 's'.repeat(129) }));
    assert.equal(v.ok, false);
    if (!v.ok) assert.deepEqual(v.problems.map((p) => p.message), ["'service' is longer than the limit of 128 characters"]);
  });

  test('maxProperties: metadata with too many keys', () => {
    assert.deepEqual(problems(valid({ metadata: { a: 1, b: 2, c: 3 } })), [
      { keyword: 'maxProperties', message: "'metadata' has more than the limit of 2 keys" },
    ]);
  });

  test('maxDepth: metadata nested deeper than the configured limit', () => {
    // metadata itself is level 1; the limit is 3.
    assert.equal(checkWith(validator, valid({ metadata: { a: { b: { c: 1 } } } })).ok, true);
    assert.equal(checkWith(validator, valid({ metadata: { a: [[1]] } })).ok, true);
    assert.deepEqual(problems(valid({ metadata: { a: { b: { c: { d: 1 } } } } })), [
      {
        keyword: 'maxDepth',
        message: "'metadata' nests deeper than the limit of 3 levels (limits.max_metadata_depth); flatten it",
      },
    ]);
    assert.equal(problems(valid({ metadata: { a: [[[1]]] } }))[0]!.keyword, 'maxDepth');
  });

  test('nestedDeeperThan counts the value itself as level 1 and handles hostile depth', () => {
    assert.equal(nestedDeeperThan({}, 1), false);
    assert.equal(nestedDeeperThan({ a: {} }, 1), true);
    assert.equal(nestedDeeperThan({ a: 1, b: 'x', c: null }, 1), false);
    assert.equal(nestedDeeperThan({ a: [{}] }, 3), false);
    assert.equal(nestedDeeperThan({ a: [{}] }, 2), true);
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 100_000; i++) deep = { d: deep };
    assert.equal(nestedDeeperThan(deep, 8), true);
  });

  test('type error on a container value names its kind without serializing it', () => {
    assert.deepEqual(messages(valid({ level: { x: 1 } })), [
      "'level' must be of type string (got object)",
      "'level' must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (got an object)",
    ]);
    assert.deepEqual(messages(valid({ level: [1] })), [
      "'level' must be of type string (got array)",
      "'level' must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (got an array)",
    ]);
  });

  test('every problem of a log is reported (allErrors)', () => {
    const kws = problems({ timestamp: 'bad', level: 'NOPE', service: '', message: 'm'.repeat(30), extra: 1 })
      .map((p) => p.keyword)
      .sort();
    assert.deepEqual(kws, ['additionalProperties', 'enum', 'format', 'maxLength', 'minLength']);
  });
});

describe('ValidationStats', () => {
  test('counts totals and error_types by keyword once per log', () => {
    const stats = new ValidationStats();
    const record = (value: unknown): Verdict => {
      const v = checkWith(validator, value);
      if (v.ok) stats.recordValid();
      else stats.recordInvalid(v.problems);
      return v;
    };
    record(valid());
    // Two maxLength problems in one log count once.
    const two = record(valid({ service: 's'.repeat(11), message: 'm'.repeat(21) }));
    assert.equal(two.ok ? 0 : two.problems.length, 2);
    record(valid({ message: 'm'.repeat(21) }));
    record({}); // four required problems, counted once
    record(valid({ level: 'X', extra: true }));
    assert.deepEqual(stats.toJSON(), {
      total: 5,
      valid: 1,
      invalid: 4,
      error_types: { maxLength: 2, required: 1, enum: 1, additionalProperties: 1 },
    });
  });

  test('a fresh stats object is all zeros', () => {
    assert.deepEqual(new ValidationStats().toJSON(), { total: 0, valid: 0, invalid: 0, error_types: {} });
  });
});
