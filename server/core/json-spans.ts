/**
 * Where each log object sits in JSON bytes that JSON.parse has already accepted, so the
 * buffer can keep a log as the bytes it came in (no re-encoding, nothing on the V8 heap) and
 * find its message there again for text search.
 *
 * One pass over the bytes, tracking strings and nesting only: valid JSON is assumed. UTF-8
 * multi-byte sequences never contain bytes below 0x80, so structural characters are found
 * by byte value alone.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

/**
 * Set by each scan: whether the text may hold a `__proto__` or `constructor` key, that is
 * whether some string, key or value, at any depth, is spelled exactly so or holds a `\u`
 * escape (which could spell them). When false, the parsed value needs no prototype-poisoning
 * scan.
 */
export const scanState = { risky: false };

const POISON_WORDS = ['__proto__', 'constructor'].map((w) => Buffer.from(w));

function isPoisonWord(b: Uint8Array, start: number, length: number): boolean {
  const word = POISON_WORDS[length === 9 ? 0 : 1]!;
  for (let k = 0; k < length; k++) if (b[start + k] !== word[k]) return false;
  return true;
}

/** Ints per span: start, end (exclusive) of the object; start, end of its message's text between the quotes, or -1, -1. */
export const SPAN_INTS = 4;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** The seven bytes of `message`, the only key whose value is looked for. */
function isMessageKey(b: Uint8Array, start: number, end: number): boolean {
  return (
    end - start === 7 &&
    b[start] === 0x6d &&
    b[start + 1] === 0x65 &&
    b[start + 2] === 0x73 &&
    b[start + 3] === 0x73 &&
    b[start + 4] === 0x61 &&
    b[start + 5] === 0x67 &&
    b[start + 6] === 0x65
  );
}

/**
 * Scans `b[from, to)` and writes a span per object at nesting depth `outer` + 1 into `out` at
 * `slot`, `slot + 1`, ... (`outer` 0: the text is one object; 1: an array whose elements are
 * objects). Returns how many objects it found, or -1 when something other than an object sits
 * where an object was expected (an array element that is a number, say): the caller then has
 * no spans for that text.
 *
 * The message span is the raw text between the quotes of the last top-level `message` key's
 * string value (JSON keeps the last of duplicate keys), escapes and all; -1 when that value is
 * not a string or when a top-level key is written with escapes (`"messag\u0065"` would be the
 * same key), so the reader parses the object instead.
 */
export function scanObjects(b: Uint8Array, from: number, to: number, outer: 0 | 1, out: Int32Array, slot: number): number {
  let depth = 0;
  let found = 0;
  const inner = outer + 1;
  let start = -1;
  let msgStart = -1;
  let msgEnd = -1;
  let expectKey = false;
  let nextIsMessage = false;
  let unsure = false;
  let risky = false;
  scanState.risky = true;
  for (let i = from; i < to; i++) {
    const c = b[i]!;
    if (c === QUOTE) {
      const s = i + 1;
      // A \u escape could spell any character: such a key might be `message` or `__proto__`.
      let unicode = false;
      i = s;
      for (;;) {
        if (i >= to) return -1;
        const d = b[i]!;
        if (d === QUOTE) break;
        if (d === BACKSLASH) {
          if (b[i + 1] === 0x75) unicode = true;
          i++;
        }
        i++;
      }
      if (unicode) risky = true;
      const length = i - s;
      if ((length === 9 || length === 11) && isPoisonWord(b, s, length)) risky = true;
      if (depth === inner) {
        if (expectKey) {
          if (unicode) unsure = true;
          nextIsMessage = isMessageKey(b, s, i);
          expectKey = false;
        } else if (nextIsMessage) {
          msgStart = s;
          msgEnd = i;
          nextIsMessage = false;
        }
      } else if (depth === outer) return -1;
      continue;
    }
    if (c === LBRACE || c === LBRACKET) {
      if (depth === outer) {
        if (c !== LBRACE) return -1;
        start = i;
        msgStart = -1;
        msgEnd = -1;
        expectKey = true;
        nextIsMessage = false;
        unsure = false;
      } else if (depth === inner && nextIsMessage) {
        // The message is not a string: it is the last one so far, so there is no message span.
        msgStart = msgEnd = -1;
        nextIsMessage = false;
      }
      depth++;
      continue;
    }
    if (c === RBRACE || c === RBRACKET) {
      depth--;
      if (depth === outer && c === RBRACE) {
        const at = (slot + found) * SPAN_INTS;
        if (at + SPAN_INTS > out.length) return -1;
        out[at] = start;
        out[at + 1] = i + 1;
        out[at + 2] = unsure ? -1 : msgStart;
        out[at + 3] = unsure ? -1 : msgEnd;
        found++;
      }
      continue;
    }
    if (depth === inner) {
      if (c === COMMA) {
        expectKey = true;
        nextIsMessage = false;
      } else if (nextIsMessage && c !== COLON && !isSpace(c)) {
        msgStart = msgEnd = -1;
        nextIsMessage = false;
      }
    } else if (depth === outer && outer === 1 && c !== COMMA && !isSpace(c)) return -1;
  }
  scanState.risky = risky;
  return found;
}

/**
 * Spans of the `count` log objects of a JSON body (an array of objects, or one object) that
 * JSON.parse accepted, in item order; undefined when the body is not that shape (an element
 * that is not an object). Sets `scanState.risky` when it returns spans.
 */
export function jsonSpans(bytes: Uint8Array, count: number): Int32Array | undefined {
  const out = new Int32Array(count * SPAN_INTS);
  let i = 0;
  while (i < bytes.length && bytes[i] !== LBRACE && bytes[i] !== LBRACKET) i++;
  const found = scanObjects(bytes, i, bytes.length, bytes[i] === LBRACKET ? 1 : 0, out, 0);
  return found === count ? out : undefined;
}
