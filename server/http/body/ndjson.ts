import { textStart } from '../../core/json-spans.js';
import { UnparseableLine } from '../../core/ingest.js';
import { MAX_PIECE_BYTES, PIECE_BYTES } from './pieces.js';
import { maySpellPoison, refusePoison } from './poison.js';

export const NDJSON_TYPES = ['application/x-ndjson', 'application/ndjson', 'application/jsonl'];

/** A parsed NDJSON body: one item per non-blank line, broken lines kept as UnparseableLine. */
export class NdjsonBody {
  constructor(readonly items: unknown[]) {}
}

/** A line of nothing but JSON whitespace other than newline (space, tab, CR): skipped, like an empty one. */
function isBlank(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13) return false;
  }
  return true;
}

/** Parses the lines of `text` into `items`; its first line is line `before` + 1 of the body. Returns the lines read. */
function ndjsonLines(text: string, items: unknown[], before: number): number {
  const lines = text.split('\n');
  const scan = maySpellPoison(text);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (isBlank(line)) continue;
    try {
      const value: unknown = JSON.parse(line);
      if (scan) refusePoison(value);
      items.push(value);
    } catch (e) {
      items.push(new UnparseableLine(before + i + 1, (e as Error).message));
    }
  }
  return before + lines.length;
}

export function parseNdjson(text: string): NdjsonBody {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const items: unknown[] = [];
  ndjsonLines(text, items, 0);
  return new NdjsonBody(items);
}

/** An NDJSON body, a large one turned into text in pieces cut at newlines (pieces.ts): the same lines as parseNdjson. */
export function parseNdjsonBytes(bytes: Buffer): NdjsonBody {
  if (bytes.length <= MAX_PIECE_BYTES) return parseNdjson(bytes.toString());
  const items: unknown[] = [];
  let lines = 0;
  let start = textStart(bytes);
  for (;;) {
    const cut = bytes.length - start > MAX_PIECE_BYTES ? bytes.indexOf(0x0a, start + PIECE_BYTES) : -1;
    lines = ndjsonLines(bytes.toString('utf8', start, cut === -1 ? bytes.length : cut), items, lines);
    if (cut === -1) break;
    start = cut + 1;
  }
  return new NdjsonBody(items);
}
