import { isSpace, textStart } from '../../core/json-spans.js';
import { maySpellPoison, refusePoison } from './poison.js';

/**
 * Large bodies are turned into text in pieces of about this many bytes. V8 keeps a string of
 * more than 128 KiB in its large-object space, on pages mapped for that string alone and
 * given back when it dies: every large body cost one page fault per 4 KiB (about 60 for a
 * 1000-log batch), 9 % of batch ingest on the benchmark machine, where a fault costs ~3.6 µs.
 * Smaller strings come from pages the heap reuses. Pieces stay under 64 KiB of bytes, so
 * under 128 KiB even as two-byte strings (text outside Latin-1).
 */
export const PIECE_BYTES = 32 * 1024;
/** A body or a remainder up to this size is one piece. */
export const MAX_PIECE_BYTES = 60 * 1024;

const OBJECT_THEN_COMMA = Buffer.from('},');
/**
 * Where a piece is put between brackets before it becomes text: decoding `[`, the piece and
 * `]` from one buffer makes a flat string, where a template string makes a cons string that
 * JSON.parse first copies flat. Used synchronously only, so one serves every request.
 */
const bracketed = Buffer.allocUnsafeSlow(MAX_PIECE_BYTES + 2);
bracketed[0] = 0x5b;
/** Failed cuts (each a parse of up to a piece) after which a body is parsed whole. */
const MAX_MISSES = 3;

/** The first byte at or after `i` that is not JSON whitespace. */
function skipSpace(bytes: Buffer, i: number): number {
  while (i < bytes.length && isSpace(bytes[i]!)) i++;
  return i;
}

/**
 * The elements of a large JSON array body, parsed in pieces cut after a `},` and each read as
 * `[piece]`. A cut that falls inside a string or a nested value leaves a piece that is not
 * valid JSON (its string or brackets are left open), so when every piece parses, every cut
 * was between two elements of the array and the pieces' elements, in order, are the body's.
 * Undefined when the body is not an array, has no cut point close enough, or its cuts keep
 * failing (or it is not valid JSON): the caller then parses the body whole, which also gives
 * the error a client sees.
 */
export function parseArrayInPieces(bytes: Buffer): unknown[] | undefined {
  let start = skipSpace(bytes, textStart(bytes));
  if (bytes[start] !== 0x5b) return undefined;
  start++;
  const pieces: unknown[][] = [];
  const toScan: unknown[][] = [];
  let misses = 0;
  let from = start + PIECE_BYTES;
  for (;;) {
    const last = bytes.length - start <= MAX_PIECE_BYTES;
    const cut = last ? -1 : bytes.indexOf(OBJECT_THEN_COMMA, from);
    if (!last && (cut === -1 || cut + 1 - start > MAX_PIECE_BYTES)) return undefined;
    // Between two log objects the next thing is an object: skip `},"key"` inside one without parsing.
    if (!last && bytes[skipSpace(bytes, cut + 2)] !== 0x7b) {
      from = cut + 1;
      continue;
    }
    // The last piece ends with the body's own `]` (and any whitespace after it).
    const length = bytes.copy(bracketed, 1, start, last ? bytes.length : cut + 1);
    if (!last) bracketed[length + 1] = 0x5d;
    const text = bracketed.toString('utf8', 0, last ? length + 1 : length + 2);
    let value: unknown[];
    try {
      value = JSON.parse(text) as unknown[];
    } catch {
      // A cut inside a string or a nested array of objects: try the next few, then give up.
      if (last || ++misses > MAX_MISSES) return undefined;
      from = cut + 1;
      continue;
    }
    // Scanned once every piece has parsed, so a body both poisoned and broken gets the same error as when parsed whole.
    if (maySpellPoison(text)) toScan.push(value);
    pieces.push(value);
    if (last) break;
    start = cut + 2;
    from = start + PIECE_BYTES;
  }
  for (const value of toScan) refusePoison(value);
  // One concat of all the pieces copies their elements in bulk, faster than pushing one by one.
  return ([] as unknown[]).concat(...pieces);
}
