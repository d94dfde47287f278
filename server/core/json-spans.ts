/**
 * Where each log object sits in JSON bytes that JSON.parse has already accepted, so the
 * buffer can keep a log as the bytes it came in (no re-encoding, nothing on the V8 heap) and
 * find it, and its message for text search, when it is read.
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

/** Ints per span: start, end (exclusive) of the object; start, end of its message's text between the quotes, or -1, -1. */
export const SPAN_INTS = 4;

/** A JSON whitespace byte: space, newline, carriage return, tab. */
export function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Where the text of a body starts: past a UTF-8 byte order mark (JSON.parse would refuse it). */
export function textStart(bytes: Uint8Array): number {
  return bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
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
 * Scans `b[from, to)`, valid JSON, and writes a span for each object at nesting depth
 * `outer` + 1 into `out` at `slot` + its element index (`outer` 0: the text is one object, at
 * index 0; 1: an array, whose elements are numbered from 0 and may be of any type: an element
 * that is not an object gets no span). Returns the number of elements: 1 or 0 for `outer` 0
 * (-1 when the text holds more than one value), the array's length for `outer` 1.
 *
 * The message span is the raw text between the quotes of the last top-level `message` key's
 * string value (JSON keeps the last of duplicate keys), escapes and all; -1 when that value is
 * not a string or when a top-level key is written with \u escapes (`"messag\u0065"` would be
 * the same key), so the reader parses the object instead.
 */
export function scanObjects(b: Uint8Array, from: number, to: number, outer: 0 | 1, out: Int32Array, slot: number): number {
  let depth = 0;
  let element = 0;
  let elements = 0;
  const inner = outer + 1;
  let start = -1;
  let msgStart = -1;
  let msgEnd = -1;
  let expectKey = false;
  let nextIsMessage = false;
  let unsure = false;
  let i = from;
  while (i < to) {
    const c = b[i]!;
    if (c === QUOTE) {
      const s = ++i;
      let unicode = false;
      let d = b[i]!;
      while (d !== QUOTE) {
        if (d === BACKSLASH) {
          if (b[i + 1] === 0x75) unicode = true;
          i++;
        } else if (i >= to) return -1;
        d = b[++i]!;
      }
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
      } else if (depth === outer) elements = element + 1;
    } else if (c === LBRACE || c === LBRACKET) {
      if (depth === outer) {
        elements = element + 1;
        if (c === LBRACE) {
          start = i;
          msgStart = -1;
          msgEnd = -1;
          expectKey = true;
          nextIsMessage = false;
          unsure = false;
        }
      } else if (depth === inner && nextIsMessage) {
        // The message is not a string: it is the last one so far, so there is no message span.
        msgStart = msgEnd = -1;
        nextIsMessage = false;
      }
      depth++;
    } else if (c === RBRACE || c === RBRACKET) {
      depth--;
      if (depth === outer && c === RBRACE) {
        if (outer === 0 && element > 0) return -1;
        const at = (slot + element) * SPAN_INTS;
        if (at + SPAN_INTS <= out.length) {
          out[at] = start;
          out[at + 1] = i + 1;
          out[at + 2] = unsure ? -1 : msgStart;
          out[at + 3] = unsure ? -1 : msgEnd;
        }
        if (outer === 0) element++;
      }
    } else if (depth === inner) {
      if (c === COMMA) {
        expectKey = true;
        nextIsMessage = false;
      } else if (nextIsMessage && c !== COLON && !isSpace(c)) {
        msgStart = msgEnd = -1;
        nextIsMessage = false;
      }
    } else if (depth === outer && outer === 1) {
      if (c === COMMA) element++;
      else if (!isSpace(c)) elements = element + 1;
    }
    i++;
  }
  return outer === 0 ? element : elements;
}

/**
 * Spans of the `count` items of a JSON body that JSON.parse accepted (an array, or one
 * object), in item order; an item that is not an object has a span of -1s. Undefined when
 * the body does not have `count` items.
 */
export function jsonSpans(bytes: Uint8Array, count: number): Int32Array | undefined {
  const out = new Int32Array(count * SPAN_INTS).fill(-1);
  let i = 0;
  while (i < bytes.length && bytes[i] !== LBRACE && bytes[i] !== LBRACKET) i++;
  const found = scanObjects(bytes, i, bytes.length, bytes[i] === LBRACKET ? 1 : 0, out, 0);
  return found === count ? out : undefined;
}

/**
 * Spans of the `count` items of an NDJSON body, one per non-blank line as the NDJSON parser
 * counts them (a byte order mark skipped; blank: nothing but space, tab, CR); a line that is
 * not one object has a span of -1s. Undefined when the body does not have `count` items.
 */
export function ndjsonSpans(bytes: Uint8Array, count: number): Int32Array | undefined {
  const out = new Int32Array(count * SPAN_INTS).fill(-1);
  let pos = textStart(bytes);
  let item = 0;
  while (pos <= bytes.length) {
    let end = bytes.indexOf(0x0a, pos);
    if (end === -1) end = bytes.length;
    let blank = true;
    for (let j = pos; j < end; j++) {
      const c = bytes[j]!;
      if (c !== 0x20 && c !== 0x09 && c !== 0x0d) {
        blank = false;
        break;
      }
    }
    if (!blank) {
      if (item === count) return undefined;
      if (scanObjects(bytes, pos, end, 0, out, item) !== 1) out.fill(-1, item * SPAN_INTS, (item + 1) * SPAN_INTS);
      item++;
    }
    pos = end + 1;
  }
  return item === count ? out : undefined;
}
