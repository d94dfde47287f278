/**
 * Large JSON and NDJSON bodies are turned into text and parsed in pieces (http/body/pieces.ts,
 * PIECE_BYTES), so no string lands in V8's large-object space. Whatever the cuts, the result
 * must be exactly what parsing the whole text gives: the same items, the same error, the
 * same refusal of prototype keys.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import sjson from 'secure-json-parse';
import { parseJsonBytes, parseJsonText } from '../../server/http/body/json.js';
import { NdjsonBody, parseNdjson, parseNdjsonBytes } from '../../server/http/body/ndjson.js';
import { PIECE_BYTES, parseArrayInPieces } from '../../server/http/body/pieces.js';
import { SEED, key, styles, text, value, write, type Json, type Style } from '../json-text.js';

/** What parsing the whole text does: its value, or its error's class and message. */
function outcome(parse: () => unknown): { value: unknown } | { error: string } {
  try {
    return { value: parse() };
  } catch (e) {
    return { error: `${(e as Error).name}: ${(e as Error).message}` };
  }
}

/** Text written to `style`, its element list repeated until the body passes `bytes`. */
function large(items: Json[], style: (depth: number) => Style, bytes: number): string {
  const times = Math.ceil(bytes / Buffer.byteLength(write(items, style))) + 1;
  return write(Array.from({ length: times }, () => items).flat(), style);
}

// Strings full of the cut mark, so cuts often land inside a string or a nested value.
const tricky = fc.oneof(text, fc.constantFrom('},', '"},{"', '}, {', '\\"},', 'é},€', '😀},'));
const element: fc.Arbitrary<Json> = fc.oneof(
  { weight: 3, arbitrary: fc.dictionary(fc.oneof(key, tricky), fc.oneof(value, tricky), { minKeys: 1, maxKeys: 4 }) },
  { weight: 1, arbitrary: value },
);

// Compact and pretty-printed (`},\n  {`) arrays are cut; `} , {` is not, and is parsed whole.
const oftenCompact = fc.oneof({ weight: 3, arbitrary: fc.record({ space: fc.constantFrom('', '\n  '), escape: fc.boolean() }) }, { weight: 1, arbitrary: styles });

describe('JSON bodies in pieces', () => {
  test('a large array body parses to what the whole text parses to, however it is written and wherever the cuts fall', () => {
    let cut = 0;
    fc.assert(
      fc.property(fc.array(element, { minLength: 1, maxLength: 8 }), fc.array(oftenCompact, { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 5 }), (items, st, k) => {
        const body = large(items, (d) => st[d % st.length]!, PIECE_BYTES * 2 * k);
        const bytes = Buffer.from(body);
        assert.deepEqual(outcome(() => parseJsonBytes(bytes)), outcome(() => parseJsonText(body)));
        const pieces = outcome(() => parseArrayInPieces(bytes));
        if (!('value' in pieces) || pieces.value !== undefined) cut++;
      }),
      { seed: SEED, numRuns: 60 },
    );
    assert.ok(cut >= 10, `only ${cut} of 60 bodies were parsed in pieces`);
  });

  test('a plain large batch really is parsed in pieces, with a byte order mark and whitespace before it', () => {
    const logs = Array.from({ length: 1000 }, (_, i) => ({ timestamp: '2026-11-21T10:00:00Z', level: 'INFO', service: 's', message: `m${i} é €`, metadata: { i } }));
    const body = `\ufeff \n${JSON.stringify(logs)}\n`;
    const pieces = parseArrayInPieces(Buffer.from(body));
    assert.ok(pieces, 'not left to the whole-text parse');
    assert.deepEqual(pieces, logs);
  });

  test('cuts that fall inside strings or nested values fall back to the whole text, with the same result', () => {
    // Every element is one long string full of `},`, then nested arrays of objects: no cut between elements is near.
    const filler = '},{"a":1},'.repeat(PIECE_BYTES / 8);
    const body = JSON.stringify([{ message: filler }, [{ a: 1 }, { b: 2 }], { message: filler }]);
    assert.equal(parseArrayInPieces(Buffer.from(body)), undefined);
    assert.deepEqual(parseJsonBytes(Buffer.from(body)), JSON.parse(body));
  });

  test('a broken large body gives the error of the whole text; a poisoned one is refused, unless it is also broken', () => {
    const logs = Array.from({ length: 2000 }, (_, i) => ({ message: `m${i}` }));
    const good = JSON.stringify(logs);
    const broken = `${good.slice(0, good.length - 5000)}x${good.slice(good.length - 5000)}`;
    assert.deepEqual(outcome(() => parseJsonBytes(Buffer.from(broken))), outcome(() => parseJsonText(broken)));
    assert.match(JSON.stringify(outcome(() => parseJsonBytes(Buffer.from(broken)))), /SyntaxError/);

    const poisoned = `[{"__proto__":{"x":1}},${good.slice(1)}`;
    assert.deepEqual(outcome(() => parseJsonBytes(Buffer.from(poisoned))), outcome(() => parseJsonText(poisoned)));
    assert.match(JSON.stringify(outcome(() => parseJsonBytes(Buffer.from(poisoned)))), /forbidden prototype property/);

    const both = `[{"__proto__":{"x":1}},${broken.slice(1)}`;
    assert.deepEqual(outcome(() => parseJsonBytes(Buffer.from(both))), outcome(() => parseJsonText(both)));
    assert.doesNotMatch(JSON.stringify(outcome(() => parseJsonBytes(Buffer.from(both)))), /prototype/);
  });

  test('a large single object and a large array of non-objects are parsed whole', () => {
    const object = JSON.stringify({ message: 'm', metadata: Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i])) });
    assert.deepEqual(parseJsonBytes(Buffer.from(object)), JSON.parse(object));
    const numbers = JSON.stringify(Array.from({ length: 30000 }, (_, i) => i));
    assert.equal(parseArrayInPieces(Buffer.from(numbers)), undefined);
    assert.deepEqual(parseJsonBytes(Buffer.from(numbers)), JSON.parse(numbers));
  });
});

describe('prototype keys', () => {
  // Refused by Fastify's parser (secure-json-parse, both actions 'error'): every spelling of the two keys.
  const refused = [
    '{"__proto__":{"x":1}}',
    '{"\\u005f_proto__":{}}',
    '{"__pr\\u006fto__":{}}',
    '{"constructor":{"prototype":{}}}',
    '{"constructor":{"prot\\u006ftype":{}}}',
    '{"\\u0063onstructor":{"prototype":{}}}',
    '{"metadata":{"a":[{"constructor":{"prototype":1}}]}}',
  ];
  // Accepted by it: the words as values, a constructor without a prototype, proto in other words.
  const accepted = [
    '{"message":"protocol error: a prototype pollution attempt through __proto__ and constructor"}',
    '{"constructor":{"x":1}}',
    '{"constructor":"prototype"}',
    '{"metadata":{"protocol":"h2","proto":1,"prototypes":[]}}',
  ];
  const filler = JSON.stringify({ message: 'm', metadata: { n: 1 } });
  const expected = (text: string): { value: unknown } | { error: string } =>
    outcome(() => sjson.parse(text, { protoAction: 'error', constructorAction: 'error' }) as unknown);

  test('are refused as Fastify refuses them, in a small body, in the middle of a large one and in an NDJSON line', () => {
    for (const obj of [...refused, ...accepted]) {
      const small = `[${obj}]`;
      const half = Array.from({ length: Math.ceil((PIECE_BYTES * 1.5) / filler.length) }, () => filler).join(',');
      const big = `[${half},${obj},${half}]`;
      assert.deepEqual(outcome(() => parseJsonBytes(Buffer.from(small))), expected(small), small);
      assert.deepEqual(outcome(() => parseJsonBytes(Buffer.from(big))), expected(big), obj);
      if (!refused.includes(obj)) assert.ok(parseArrayInPieces(Buffer.from(big)) !== undefined, `${obj}: not parsed in pieces`);
      const lines = parseNdjson(`${filler}\n${obj}\n`).items;
      const line = outcome(() => sjson.parse(obj, { protoAction: 'error', constructorAction: 'error' }) as unknown);
      if ('value' in line) assert.deepEqual(lines[1], line.value, obj);
      else assert.match(String((lines[1] as { reason?: string }).reason), /forbidden prototype property/, obj);
    }
    for (const obj of refused) assert.match(JSON.stringify(expected(`[${obj}]`)), /forbidden prototype property/, obj);
  });
});

describe('NDJSON bodies in pieces', () => {
  test('a large NDJSON body gives the items of the whole text: blank, CRLF, broken and poisoned lines numbered the same', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            element.map((e) => JSON.stringify(e)),
            fc.constantFrom('', '  \t', 'not json', '{"a":1}\r', '{"__proto__":{"x":1}}', '{"message":"é😀},"}', '[1,2]'),
          ),
          { minLength: 1, maxLength: 12 },
        ),
        fc.boolean(),
        (lines, bom) => {
          const times = Math.ceil((PIECE_BYTES * 3) / (Buffer.byteLength(lines.join('\n')) + 1)) + 1;
          const all = Array.from({ length: times }, () => lines).flat();
          const body = (bom ? '\ufeff' : '') + all.join('\n');
          const whole = parseNdjson(body);
          const pieces = parseNdjsonBytes(Buffer.from(body));
          assert.ok(pieces instanceof NdjsonBody);
          assert.deepEqual(pieces.items, whole.items);
        },
      ),
      { seed: SEED, numRuns: 40 },
    );
  });
});
