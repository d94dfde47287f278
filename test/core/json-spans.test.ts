/**
 * The byte scan that finds each log object (and its message) in a request body, checked
 * against JSON.parse on generated JSON written every legal way: any whitespace, keys and
 * strings with \u escapes, duplicate keys, nesting, non-ASCII text.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SPAN_INTS, jsonSpans, scanState } from '../../server/core/json-spans.js';
import { parseNdjson } from '../../server/http/body.js';

const SEED = process.env.FC_SEED === undefined ? 20_241_121 : Number(process.env.FC_SEED);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A JSON writer with choices JSON.stringify never makes: whitespace anywhere, \u escapes for any character. */
interface Style {
  space: string;
  escape: boolean;
}

function str(s: string, style: Style): string {
  if (!style.escape) return JSON.stringify(s);
  let out = '"';
  for (let i = 0; i < s.length; i++) out += `\\u${s.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return `${out}"`;
}

function write(v: Json, style: (depth: number) => Style, depth = 0): string {
  const st = style(depth);
  if (v === null || typeof v !== 'object') return typeof v === 'string' ? str(v, st) : JSON.stringify(v);
  const sp = st.space;
  if (Array.isArray(v)) return `[${sp}${v.map((x) => write(x, style, depth + 1)).join(`${sp},${sp}`)}${sp}]`;
  return `{${sp}${Object.entries(v)
    .map(([k, x]) => `${str(k, st)}${sp}:${sp}${write(x, style, depth + 1)}`)
    .join(`${sp},${sp}`)}${sp}}`;
}

const text = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 8 }), fc.constantFrom('message', '__proto__', 'constructor', 'a"b\\c', '\n\t'));
const key = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('message', 'timestamp', 'metadata', 'constructor', '__proto__'));
const value: fc.Arbitrary<Json> = fc.letrec<{ v: Json }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    text,
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(key, tie('v'), { maxKeys: 3 }),
  ),
})).v;
const logObject = fc.record({ message: fc.option(text, { nil: undefined }), rest: fc.dictionary(key, value, { maxKeys: 4 }), messageFirst: fc.boolean() });
const styles = fc.record({ space: fc.constantFrom('', ' ', '\n', '\t  ', '\r\n'), escape: fc.boolean() });

/** An object from the parts, with `message` first or last (JSON keeps the last of duplicate keys, and so must the scan). */
function build(o: { message: string | undefined; rest: Record<string, Json>; messageFirst: boolean }): Record<string, Json> {
  const out: Record<string, Json> = {};
  if (o.messageFirst && o.message !== undefined) out.message = o.message;
  for (const [k, v] of Object.entries(o.rest)) if (k !== '__proto__') out[k] = v;
  if (!o.messageFirst && o.message !== undefined) out.message = o.message;
  return out;
}

/** A real \u escape: an odd number of backslashes before the u. */
const UNICODE_ESCAPE = /(?<!\\)(?:\\\\)*\\u/;

function hasPoisonKey(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  for (const k of Object.keys(v)) if (k === '__proto__' || k === 'constructor' || hasPoisonKey((v as Record<string, unknown>)[k])) return true;
  return false;
}

function checkSpans(bytes: Buffer, spans: Int32Array, index: number, expected: Record<string, Json>): void {
  const at = index * SPAN_INTS;
  const [start, end, msgStart, msgEnd] = [spans[at]!, spans[at + 1]!, spans[at + 2]!, spans[at + 3]!];
  assert.deepEqual(JSON.parse(bytes.toString('utf8', start, end)), JSON.parse(JSON.stringify(expected)));
  if (msgStart >= 0) {
    assert.equal(JSON.parse(`"${bytes.toString('utf8', msgStart, msgEnd)}"`), expected.message);
  } else {
    const parsed = JSON.parse(bytes.toString('utf8', start, end)) as { message?: unknown };
    // -1 only when the message is not a plain string value found by its literal key.
    assert.ok(typeof parsed.message !== 'string' || UNICODE_ESCAPE.test(bytes.toString('utf8', start, end)), 'a plainly written string message has a span');
  }
}

describe('jsonSpans', () => {
  test('finds every object of an array, and its message, however the JSON is written', () => {
    fc.assert(
      fc.property(fc.array(logObject, { maxLength: 6 }), fc.array(styles, { minLength: 1, maxLength: 4 }), (parts, st) => {
        const objects = parts.map(build);
        const body = Buffer.from(write(objects, (d) => st[d % st.length]!));
        const spans = jsonSpans(body, objects.length);
        assert.ok(spans, body.toString());
        objects.forEach((o, i) => checkSpans(body, spans, i, o));
        if (!scanState.risky) assert.ok(!hasPoisonKey(JSON.parse(body.toString())) && !UNICODE_ESCAPE.test(body.toString()), 'a body with a risky key is flagged');
      }),
      { seed: SEED, numRuns: 400 },
    );
  });

  test('one object is one span; a top-level array with anything but objects in it has none', () => {
    const one = Buffer.from(' \ufeff{"message":"hi","n":[1,{"message":"inner"}]} ');
    const spans = jsonSpans(one, 1)!;
    assert.deepEqual([...spans], [4, one.length - 1, 16, 18]);
    for (const body of ['[{"a":1},2]', '[{"a":1},"x"]', '[{"a":1},[]]', '[{"a":1},null]']) assert.equal(jsonSpans(Buffer.from(body), 2), undefined, body);
    assert.equal(jsonSpans(Buffer.from('[{"a":1},{"b":2}]'), 3), undefined, 'a count that does not match');
  });

  test('the message span is that of the last message key, and is missing when that value is not a string or a key is escaped', () => {
    const spansOf = (s: string): number[] => [...jsonSpans(Buffer.from(s), 1)!].slice(2);
    assert.deepEqual(spansOf('{"message":"a","message":"bc"}'), [26, 28]);
    assert.deepEqual(spansOf('{"message":"a","message":5}'), [-1, -1]);
    assert.deepEqual(spansOf('{"messag\\u0065":"a"}'), [-1, -1]);
    assert.deepEqual(spansOf('{"meta":{"message":"x"}}'), [-1, -1]);
  });

  test('flags poisoning candidates at any depth, and escapes, and nothing else', () => {
    const risky = (s: string): boolean => {
      assert.ok(jsonSpans(Buffer.from(s), 1));
      return scanState.risky;
    };
    assert.equal(risky('{"a":{"b":[{"__proto__":1}]}}'), true);
    assert.equal(risky('{"constructor":{"prototype":1}}'), true);
    assert.equal(risky('{"a":"\\u0041"}'), true);
    assert.equal(risky('{"a":"constructors","b":"__proto__x","c":"\\\\u"}'), false);
  });
});

describe('parseNdjson with the body bytes', () => {
  test('a span per item, in step with the items: blank lines, CRLF, a byte order mark, broken and non-object lines', () => {
    const lines = ['\ufeff{"message":"é1"}', '', '  \t', '{"message":"two"}\r', 'not json', '[1]', '{"message":"thr\\"ee"}'];
    const bytes = Buffer.from(lines.join('\n'));
    const body = parseNdjson(bytes.toString(), bytes);
    assert.equal(body.items.length, 5);
    const spans = body.spans!;
    const span = (i: number): string => bytes.toString('utf8', spans[i * SPAN_INTS]!, spans[i * SPAN_INTS + 1]!);
    assert.equal(span(0), '{"message":"é1"}');
    assert.equal(span(1), '{"message":"two"}');
    assert.equal(spans[2 * SPAN_INTS], -1, 'a broken line has no span');
    assert.equal(spans[3 * SPAN_INTS], -1, 'a line that is not an object has no span');
    assert.equal(span(4), '{"message":"thr\\"ee"}');
    assert.equal(bytes.toString('utf8', spans[4 * SPAN_INTS + 2]!, spans[4 * SPAN_INTS + 3]!), 'thr\\"ee');
  });
});
