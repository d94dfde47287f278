/**
 * JSON written every legal way, for property tests of code that reads JSON bytes without
 * JSON.parse (or in pieces): any whitespace, \u escapes for any character, duplicate and
 * prototype-spelling keys, nesting, non-ASCII text.
 */
import fc from 'fast-check';

export const SEED = process.env.FC_SEED === undefined ? 20_241_121 : Number(process.env.FC_SEED);

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A JSON writer with choices JSON.stringify never makes: whitespace anywhere, \u escapes for any character. */
export interface Style {
  space: string;
  escape: boolean;
}

function str(s: string, style: Style): string {
  if (!style.escape) return JSON.stringify(s);
  let out = '"';
  for (let i = 0; i < s.length; i++) out += `\\u${s.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return `${out}"`;
}

export function write(v: Json, style: (depth: number) => Style, depth = 0): string {
  const st = style(depth);
  if (v === null || typeof v !== 'object') return typeof v === 'string' ? str(v, st) : JSON.stringify(v);
  const sp = st.space;
  if (Array.isArray(v)) return `[${sp}${v.map((x) => write(x, style, depth + 1)).join(`${sp},${sp}`)}${sp}]`;
  return `{${sp}${Object.entries(v)
    .map(([k, x]) => `${str(k, st)}${sp}:${sp}${write(x, style, depth + 1)}`)
    .join(`${sp},${sp}`)}${sp}}`;
}

export const text = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 8 }), fc.constantFrom('message', '__proto__', 'constructor', 'a"b\\c', '\n\t'));
export const key = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('message', 'timestamp', 'metadata', 'constructor', '__proto__'));
export const value: fc.Arbitrary<Json> = fc.letrec<{ v: Json }>((tie) => ({
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
export const styles = fc.record({ space: fc.constantFrom('', ' ', '\n', '\t  ', '\r\n'), escape: fc.boolean() });
