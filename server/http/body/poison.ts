import sjson from 'secure-json-parse';

/** secure-json-parse's refusal of both prototype-poisoning keys, with the error it throws. */
const POISON = { protoAction: 'error', constructorAction: 'error' } as const;

/** The two keys secure-json-parse refuses on: `__proto__`, and `prototype` inside a `constructor` object. */
const POISON_KEYS = /__proto__|prototype/;

/**
 * Whether a JSON text may hold a `__proto__` key, or a `constructor` key whose object has a
 * `prototype` key: the only keys the scan refuses. Spelled literally, both contain `proto`;
 * spelled any other way, they contain a `\u` escape (no other JSON escape makes a letter). So
 * text without `\u` and without `proto` is clean, and its parsed value needs no scan. The two
 * substring searches are the common case (a backslash is rare in logs and found by a
 * vectorized scan; `proto` is one literal for the engine to skip along): 39 ns a log against
 * 63 for an alternation of the names, whose shortest branch bounds how far the regular
 * expression engine may skip. Text that does say `proto` (a message about a protocol) is then
 * searched for the two keys before the scan is paid.
 */
export function maySpellPoison(text: string): boolean {
  return text.includes('\\u') || (text.includes('proto') && POISON_KEYS.test(text));
}

/** Throws a SyntaxError when `value` (parsed from JSON) holds a prototype-poisoning key, as Fastify's own parser does with `onProtoPoisoning: 'error'`. */
export function refusePoison(value: unknown): void {
  if (typeof value === 'object' && value !== null) sjson.scan(value, POISON);
}
