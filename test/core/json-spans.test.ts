/**
 * The byte scan that finds each log object (and its message) in a request body, checked
 * against JSON.parse on generated JSON written every legal way: any whitespace, keys and
 * strings with \u escapes, duplicate keys, nesting, non-ASCII text.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SPAN_INTS, jsonSpans, ndjsonSpans } from '../../server/core/json-spans.js';
import { SEED, key, styles, text, value, write, type Json } from '../json-text.js';

const logObject = fc.record({ message: fc.option(text, { nil: undefined }), rest: fc.dictionary(key, value, { maxKeys: 4 }), messageFirst: fc.boolean() });

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
  test('finds every object of an array (between elements of any other type), and its message, however the JSON is written', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(logObject.map(build), value), { maxLength: 6 }), fc.array(styles, { minLength: 1, maxLength: 4 }), (items, st) => {
        const objects = items as Record<string, Json>[];
        const body = Buffer.from(write(objects, (d) => st[d % st.length]!));
        const spans = jsonSpans(body, objects.length);
        assert.ok(spans, body.toString());
        objects.forEach((o, i) => {
          if (typeof o === 'object' && o !== null && !Array.isArray(o)) checkSpans(body, spans, i, o);
          else assert.equal(spans[i * SPAN_INTS], -1, 'an element that is not an object has no span');
        });
      }),
      { seed: SEED, numRuns: 400 },
    );
  });

  test('one object is one span; an array element that is not an object has none, and the others keep their numbers', () => {
    const one = Buffer.from(' \ufeff{"message":"hi","n":[1,{"message":"inner"}]} ');
    assert.deepEqual([...jsonSpans(one, 1)!], [4, one.length - 1, 16, 18]);
    const mixed = Buffer.from('[ 7 , "x,]" , [1,{"a":2}] , {"message":"m"} , null,{"b":[]}]');
    const spans = jsonSpans(mixed, 6)!;
    assert.deepEqual([...spans.subarray(0, 12)], Array(12).fill(-1));
    assert.equal(mixed.toString('utf8', spans[12]!, spans[13]!), '{"message":"m"}');
    assert.equal(mixed.toString('utf8', spans[14]!, spans[15]!), 'm');
    assert.deepEqual([...spans.subarray(16, 20)], [-1, -1, -1, -1]);
    assert.equal(mixed.toString('utf8', spans[20]!, spans[21]!), '{"b":[]}');
    assert.equal(jsonSpans(Buffer.from('[{"a":1},{"b":2}]'), 3), undefined, 'a count that does not match');
    assert.equal(jsonSpans(Buffer.from('[]'), 0)?.length, 0);
  });

  test('the message span is that of the last message key, and is missing when that value is not a string or a key is escaped', () => {
    const spansOf = (s: string): number[] => [...jsonSpans(Buffer.from(s), 1)!].slice(2);
    assert.deepEqual(spansOf('{"message":"a","message":"bc"}'), [26, 28]);
    assert.deepEqual(spansOf('{"message":"a","message":5}'), [-1, -1]);
    assert.deepEqual(spansOf('{"messag\\u0065":"a"}'), [-1, -1]);
    assert.deepEqual(spansOf('{"meta":{"message":"x"}}'), [-1, -1]);
  });

});

describe('ndjsonSpans', () => {
  test('a span per item, in step with the NDJSON parser: blank lines, CRLF, a byte order mark, broken and non-object lines', () => {
    const lines = ['\ufeff{"message":"é1"}', '', '  \t', '{"message":"two"}\r', 'not json', '[1]', '{"message":"thr\\"ee"}'];
    const bytes = Buffer.from(lines.join('\n'));
    assert.equal(ndjsonSpans(bytes, 4), undefined, 'a count that does not match');
    const spans = ndjsonSpans(bytes, 5)!;
    const span = (i: number): string => bytes.toString('utf8', spans[i * SPAN_INTS]!, spans[i * SPAN_INTS + 1]!);
    assert.equal(span(0), '{"message":"é1"}');
    assert.equal(span(1), '{"message":"two"}');
    assert.equal(spans[2 * SPAN_INTS], -1, 'a broken line has no span');
    assert.equal(spans[3 * SPAN_INTS], -1, 'a line that is not an object has no span');
    assert.equal(span(4), '{"message":"thr\\"ee"}');
    assert.equal(bytes.toString('utf8', spans[4 * SPAN_INTS + 2]!, spans[4 * SPAN_INTS + 3]!), 'thr\\"ee');
  });
});
