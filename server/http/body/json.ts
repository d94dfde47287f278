import { errorCodes } from 'fastify';
import { MAX_PIECE_BYTES, parseArrayInPieces } from './pieces.js';
import { maySpellPoison, refusePoison } from './poison.js';

/**
 * JSON.parse refusing prototype poisoning (a `__proto__` key, or `constructor` with a
 * `prototype`) with a SyntaxError, as Fastify's own parser does with `onProtoPoisoning: 'error'`.
 */
export function parseJsonText(text: string): unknown {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.length === 0) throw new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY();
  const value: unknown = JSON.parse(text);
  if (maySpellPoison(text)) refusePoison(value);
  return value;
}

/** A JSON body's value: a large array in pieces (pieces.ts), anything else as one text. */
export function parseJsonBytes(bytes: Buffer): unknown {
  if (bytes.length > MAX_PIECE_BYTES) {
    const items = parseArrayInPieces(bytes);
    if (items !== undefined) return items;
  }
  return parseJsonText(bytes.toString());
}
