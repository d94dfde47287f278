/**
 * Generic masking of variable values in a log message, before the message is cut into tokens
 * for the Drain tree (drain.ts). Drain compares messages token by token; a value that varies
 * (an id, an address, a number) lowers the similarity of two logs of one event and, among the
 * first tokens, sends them down different paths of the tree. Masking such values first is
 * what lets one configuration serve every service: the masks know what variables look like in
 * any log, so nothing is tuned per service.
 *
 * What is masked, in the order of preference at a position (one compiled regular expression,
 * tried only in the words that could hold a value: see WORTH_A_LOOK):
 *   - quoted values "..." and '...' (quotes kept): the value of a key (`err="..."`, `: "..."`)
 *     or any text but a plain phrase, so a free-text value is one token whatever its length;
 *     an HTTP request line keeps its method ("GET <*>"); a single word stays (`kind="Pod"`,
 *     Drain decides whether it varies), and so does a phrase that is not the value of a key
 *     (Kubernetes quotes its messages: "SyncLoop ADD")
 *   - URLs, e-mail addresses, UUIDs
 *   - dates and times: ISO, syslog and Apache styles (Jan 15 14:30:00, 15/Jan/2024:14:30:00
 *     +0000, Mon Jan 15 14:30:00.123 2024), clock times, kernel uptimes ([ 12.345678])
 *   - IPv4 addresses (with /prefix and :port), IPv6 and MAC addresses (and longer
 *     colon-separated hex bytes, such as the MAC field of a firewall line)
 *   - file paths: /unix/style, ./relative, ~/home, C:\windows, \\unc
 *   - numbers not joined to a letter, with their sign (blk_-1608 becomes blk_<*>, user-42
 *     becomes user-<*>), decimals, lists such as 1,234 or 12:30, and a unit of time or size
 *     (250ms, 1.5s, 1m20s, 12KB, 99%); hex values (0x1f, and runs of 6 or more hex digits
 *     such as a3f9c2e1); versions (v1.2.3)
 * Kept as they are: words that hold digits but are names or codes (SOCKS5, AH00128, eth0,
 * IPv6, x86), and protocol tokens such as HTTP/1.1. A word that is an id (user42) is left to
 * Drain, which turns a position that varies into `<*>`.
 *
 * A masked value becomes `<*>`; what surrounds it in its token stays, so `user-<*>` or
 * `(<*>)` are tokens whose shape is constant across the logs of an event.
 */

/** How a variable shows in a masked message and in a template. */
export const WILDCARD = '<*>';

const MONTH = 'Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t|tember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?';
const DAY = 'Mon(?:day)?|Tue(?:sday)?|Wed(?:nesday)?|Thu(?:rsday)?|Fri(?:day)?|Sat(?:urday)?|Sun(?:day)?';
/** Not preceded / followed by a letter or digit: the value is a whole word. */
const START = '(?<![A-Za-z0-9])';
const END = '(?![A-Za-z0-9])';
const CLOCK = String.raw`\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?`;
/** Ends a path: whitespace, quotes, brackets and the separators a path is followed by in prose. */
const PATH_BODY = String.raw`[^\s"'<>()\[\]{},;|]*`;
const TIME_UNIT = '(?:ns|us|µs|ms|s|m|h|d)';
const UNIT = `(?:${TIME_UNIT}|sec|secs|min|mins|hr|hrs|[KMGTP]i?B|[kKMG]|B|bytes|%)`;

/** Each mask by name; the order is the order of preference at a position. */
const MASKS = {
  doubleQuoted: String.raw`"(?:[^"\\]|\\.)*"`,
  singleQuoted: String.raw`${START}'[^'\n]*'${END}`,
  url: String.raw`[A-Za-z][A-Za-z0-9+.\-]*:\/\/[^\s"'<>]+`,
  email: String.raw`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}${END}`,
  uuid: String.raw`${START}[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}${END}`,
  isoDate: String.raw`${START}\d{4}[\-\/]\d\d[\-\/]\d\d(?:[T ]${CLOCK}(?:Z|[+\-]\d\d:?\d\d)?)?${END}`,
  textDate: String.raw`${START}(?:(?:${DAY}),?\s+)?(?:${MONTH})\.?\s+\d{1,2}(?:,?\s+\d{4})?(?:\s+${CLOCK})?(?:\s+\d{4})?${END}`,
  dayMonthYear: String.raw`${START}\d{1,2}[ \/\-](?:${MONTH})[ \/\-]\d{4}(?:[ :]${CLOCK})?(?:\s[+\-]\d{4})?${END}`,
  clock: String.raw`(?<![A-Za-z0-9:])\d{1,2}:\d\d:\d\d(?:[.,]\d+)?(?![A-Za-z0-9:])`,
  uptime: String.raw`\[\s*\d+\.\d+\]`,
  ipv4: String.raw`(?<![A-Za-z0-9.])(?:\d{1,3}\.){3}\d{1,3}(?:\/\d{1,2})?(?::\d{1,5})?(?![A-Za-z0-9]|\.\d)`,
  hexPairs: String.raw`${START}(?:[0-9A-Fa-f]{2}:){5,}[0-9A-Fa-f]{2}${END}`,
  ipv6: String.raw`\[?(?<![A-Za-z0-9:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%[A-Za-z0-9]+)?(?![A-Za-z0-9:])\]?(?::\d{1,5})?`,
  mac: String.raw`${START}(?:[0-9A-Fa-f]{2}-){5}[0-9A-Fa-f]{2}${END}`,
  path: String.raw`(?<![A-Za-z0-9_.\/\\\-])(?:~|\.{1,2})?\/${PATH_BODY}`,
  windowsPath: String.raw`${START}(?:[A-Za-z]:\\|\\\\[A-Za-z0-9])${PATH_BODY}`,
  protocol: String.raw`${START}[A-Z]{2,}\/\d+(?:\.\d+)?(?![A-Za-z0-9.])`,
  hex: String.raw`${START}(?:0[xX][0-9A-Fa-f]+|(?=[0-9A-Fa-f]*[A-Fa-f])(?=[0-9A-Fa-f]*\d)[0-9A-Fa-f]{6,})${END}`,
  version: String.raw`${START}[vV]\d+(?:\.\d+)+${END}`,
  duration: String.raw`${START}(?:\d+(?:\.\d+)?${TIME_UNIT}){2,}${END}`,
  number: String.raw`${START}[\-+]?\d+(?:[.,:]\d+)*(?:[eE][\-+]?\d+)?${UNIT}?${END}`,
} as const;

/** The characters each mask can start with: at a position, only the masks its character can start are tried. */
const FIRST: Record<MaskName, RegExp> = {
  doubleQuoted: /"/,
  singleQuoted: /'/,
  url: /[A-Za-z]/,
  email: /[A-Za-z0-9._%+-]/,
  uuid: /[0-9A-Fa-f]/,
  isoDate: /\d/,
  textDate: /[A-Z]/,
  dayMonthYear: /\d/,
  clock: /\d/,
  uptime: /\[/,
  ipv4: /\d/,
  hexPairs: /[0-9A-Fa-f]/,
  ipv6: /[[0-9A-Fa-f:]/,
  mac: /[0-9A-Fa-f]/,
  path: /[~./]/,
  windowsPath: /[A-Za-z\\]/,
  protocol: /[A-Z]/,
  hex: /[0-9A-Fa-f]/,
  version: /[vV]/,
  duration: /\d/,
  number: /[-+\d]/,
};

type MaskName = keyof typeof MASKS;

/** Some masks as one sticky regular expression, each mask a capture group, in the order of `names`. */
interface Masks {
  re: RegExp;
  names: MaskName[];
}

/** Masks that need a character other masks do not (`://`, `@`): tried only in a word that has it. */
const NEEDS: Partial<Record<MaskName, string>> = { url: '://', email: '@' };

/**
 * For each ASCII character, the masks it can start, as one sticky regular expression (in the
 * order of MASKS); undefined where none can. `withAll` also holds the masks of NEEDS.
 */
function masksByFirstCharacter(withAll: boolean): (Masks | undefined)[] {
  const bySet = new Map<string, Masks>();
  const table: (Masks | undefined)[] = [];
  for (let code = 0; code < 128; code++) {
    const c = String.fromCharCode(code);
    const names = (Object.keys(MASKS) as MaskName[]).filter((name) => FIRST[name].test(c) && (withAll || NEEDS[name] === undefined));
    if (names.length === 0) continue;
    const key = names.join();
    let masks = bySet.get(key);
    if (masks === undefined) {
      // Plain groups, not named ones: a match then allocates no groups object.
      masks = { re: new RegExp(names.map((name) => `(${MASKS[name]})`).join('|'), 'y'), names };
      bySet.set(key, masks);
    }
    table[code] = masks;
  }
  return table;
}

const MASKS_AT = masksByFirstCharacter(false);
const ALL_MASKS_AT = masksByFirstCharacter(true);

/**
 * What a mask can start in the word of: a digit, a quote, a slash or backslash, `@`, `::`, a
 * bracketed uptime, a month or day name. Words without any are skipped whole, which is most of
 * the words of most messages, so the masks above are tried at few positions.
 */
const WORTH_A_LOOK = /["'\d\/\\@]|::|\[\s+\d|\b[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}:|\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Mon|Tue|Wed|Thu|Fri|Sat|Sun)/g;

/** Punctuation that ends a sentence or a clause after a path rather than belonging to it. */
const PATH_TRAILER = /[.:!?]+$/;
/** Words and spaces only: a phrase in quotes, such as the message of a structured log line. */
const PHRASE = /^[A-Za-z][A-Za-z ,.()'-]* [A-Za-z ,.()'-]*$/;
/** One word of letters, or nothing: quoting it does not make it a value; Drain decides whether it varies. */
const WORD = /^[A-Za-z_\-]*$/;
/** An HTTP request line: method, target, protocol. */
const REQUEST_LINE = /^([A-Z]{3,7}) \S+(?: [A-Z]{2,}\/\d(?:\.\d)?)?$/;

/** The masked form of a quoted value (see the list at the top). */
function quoted(match: string, offset: number, whole: string): string {
  const quote = match[0]!;
  const body = match.slice(1, -1);
  const request = REQUEST_LINE.exec(body);
  if (request !== null) return `${quote}${request[1]} ${WILDCARD}${quote}`;
  if (WORD.test(body)) return match;
  const before = whole.charCodeAt(offset - 1);
  const isValue = before === 0x3d /* = */ || before === 0x3a /* : */ || (before === 0x20 && whole.charCodeAt(offset - 2) === 0x3a);
  if (!isValue && PHRASE.test(body)) return match;
  return `${quote}${WILDCARD}${quote}`;
}

/** What mask `name` matched at `offset` becomes. */
function replacement(match: string, name: MaskName, offset: number, whole: string): string {
  switch (name) {
    case 'doubleQuoted':
    case 'singleQuoted':
      return quoted(match, offset, whole);
    case 'protocol':
      return match;
    case 'uptime':
      return `[${WILDCARD}]`;
    case 'ipv6':
      // Colon-separated words of hex letters (a:b:c, dead:beef:cafe) are seldom addresses; an address has a digit or "::".
      return /\d|::/.test(match) ? WILDCARD : match;
    case 'path': {
      const trailer = PATH_TRAILER.exec(match);
      return trailer !== null && trailer.index > 1 ? WILDCARD + trailer[0] : WILDCARD;
    }
    default:
      return WILDCARD;
  }
}

function isSpace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d);
}

function isAlphanumeric(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || ((code | 0x20) >= 0x61 && (code | 0x20) <= 0x7a);
}

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

/** Characters after which a run of digits is a whole number: the end of a word, or punctuation that closes. */
const CLOSES_NUMBER = new Set([...',;)]}"\''].map((c) => c.charCodeAt(0)));
/** A month name after "15 ": a date (dayMonthYear), not a number. */
const MONTH_NEXT = new RegExp(`(?:${MONTH})\\b`, 'y');

/**
 * Where a plain number starting at `at` ends (a sign and digits, then the end of the word or a
 * closing `,;)]}"'`), or 0 when the text there is anything else. Such a number is what the
 * masks would make of it (only the `number` mask can match there), found without them: most
 * values in logs are plain numbers, and trying every mask costs ~1 us a number.
 */
function plainNumberEnd(message: string, at: number): number {
  let i = at;
  const first = message.charCodeAt(i);
  if (first === 0x2d /* - */ || first === 0x2b /* + */) i++;
  const digits = i;
  while (isDigit(message.charCodeAt(i))) i++;
  if (i === digits) return 0;
  if (i === message.length) return i;
  const next = message.charCodeAt(i);
  if (isSpace(next)) {
    MONTH_NEXT.lastIndex = i + 1;
    return i - digits <= 2 && MONTH_NEXT.test(message) ? 0 : i;
  }
  if (!CLOSES_NUMBER.has(next)) return 0;
  // "1,234" goes on as one number.
  return next === 0x2c /* , */ && isDigit(message.charCodeAt(i + 1)) ? 0 : i;
}

/** The message with its variable values replaced by `<*>`. */
export function maskMessage(message: string): string {
  // Pieces joined at the end: one flat string, which the tokenizer then reads fast.
  const out: string[] = [];
  let copied = 0;
  WORTH_A_LOOK.lastIndex = 0;
  for (let hint = WORTH_A_LOOK.exec(message); hint !== null; hint = WORTH_A_LOOK.exec(message)) {
    // The positions of the hint's word, left to right, as one scan of the whole message would try them.
    let at = hint.index;
    while (at > copied && !isSpace(message.charCodeAt(at - 1))) at--;
    let end = hint.index;
    while (end < message.length && !isSpace(message.charCodeAt(end))) end++;
    const word = message.slice(at, end);
    const table = word.includes('@') || word.includes('://') ? ALL_MASKS_AT : MASKS_AT;
    while (at < end) {
      const code = message.charCodeAt(at);
      // Every mask starts after a character that is not a letter or digit, or at a quote.
      if (at > 0 && isAlphanumeric(message.charCodeAt(at - 1)) && code !== 0x22 && code !== 0x27) {
        at++;
        continue;
      }
      const plain = plainNumberEnd(message, at);
      if (plain > 0) {
        out.push(message.slice(copied, at), WILDCARD);
        copied = at = plain;
        continue;
      }
      const masks = table[code];
      if (masks === undefined) {
        at++;
        continue;
      }
      masks.re.lastIndex = at;
      const m = masks.re.exec(message);
      if (m === null || m[0].length === 0) {
        at++;
        continue;
      }
      let group = 1;
      while (m[group] === undefined) group++;
      out.push(message.slice(copied, at), replacement(m[0], masks.names[group - 1]!, at, message));
      copied = at = masks.re.lastIndex;
    }
    WORTH_A_LOOK.lastIndex = Math.max(at, hint.index + 1);
  }
  if (copied === 0) return message;
  out.push(message.slice(copied));
  return out.join('');
}

/**
 * Longest token list kept: a longer message (a stack trace, a dumped object) keeps its first
 * tokens and one `<*>` for the rest, so one huge log costs a bounded amount and long variants
 * of one event still share a shape.
 */
export const MAX_TOKENS = 80;

const TOKEN = /\S+/g;

/** The tokens of a masked message: whitespace separates them. */
export function tokenize(masked: string): string[] {
  const tokens: string[] = masked.match(TOKEN) ?? [];
  if (tokens.length > MAX_TOKENS) {
    tokens.length = MAX_TOKENS - 1;
    tokens.push(WILDCARD);
  }
  return tokens;
}
