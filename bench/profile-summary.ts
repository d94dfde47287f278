/**
 * Where a server's CPU time went, from the profile `npm run bench -- --profile DIR` wrote:
 *
 *   npm run bench:profile -- DIR/<server name>     (a folder holding one .cpuprofile, or the file)
 *
 * Self time is grouped into what a log costs on its way in (bytes to text, JSON.parse,
 * validation, timestamps, the in-memory sinks, SQLite, garbage collection, HTTP), as shares
 * of the time the process was busy; then the busiest functions. Start-up is included: keep
 * the measured run long (the default 10 s) so it stays small.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** First match wins; tested against "function url". */
const GROUPS: [string, RegExp][] = [
  ['idle (waiting for the network or a timer)', /^\(idle\) /],
  ['garbage collection', /^\(garbage collector\) /],
  ['bytes to text (Buffer#toString, UTF-8 check)', /^(toString|utf8Slice|latin1Slice|isUtf8|bodyText|bodyBytes) |^slice node:buffer/],
  ['JSON.parse and the prototype-key check', /^(parseJsonText|parseJsonBytes|parseArrayInPieces|parseNdjson|parseNdjsonBytes|ndjsonLines|maySpellPoison|RegExp: __proto__.*|isBlank) |secure-json-parse/],
  ['validation (ajv, field checks)', /^(validate\d*|checkItem|ucs2length|nestedDeeperThan) |core\/validation/],
  ['timestamps', /core\/time/],
  ['ingest, counters, analytics, alerts', /server\/core\//],
  ['SQLite (durable tier)', /server\/storage\/|better-sqlite3/],
  ['HTTP, Fastify, streams', /node:_http|node:net|node:internal\/stream|node:stream|streams\/|fastify|find-my-way|light-my-request|^(writev|writeBuffer|writeUtf8String|readv|onStreamRead|writevGeneric|parserOn\w+) |server\/http\//],
  ['start-up (module loading, schema compiling)', /cjs\/loader|esm\/|ajv\/dist\/compile|ajv\/dist\/core|codegen|wrapSafe|internalModule/],
];

function load(path: string): Profile {
  let file = path;
  if (statSync(path).isDirectory()) {
    // One file per thread; the main thread's is the largest.
    const found = readdirSync(path)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(path, f))
      .sort((a, b) => statSync(b).size - statSync(a).size);
    if (found.length === 0) throw new Error(`no .cpuprofile in ${path}`);
    file = found[0]!;
  }
  return JSON.parse(readFileSync(file, 'utf8')) as Profile;
}

const target = process.argv[2];
if (target === undefined) {
  process.stderr.write('usage: npm run bench:profile -- DIR/<server name> | FILE.cpuprofile\n');
  process.exit(2);
}
const profile = load(target);
const selfUs = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]!;
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}

const byGroup = new Map<string, number>();
const byFunction = new Map<string, number>();
let total = 0;
let idle = 0;
for (const node of profile.nodes) {
  const us = selfUs.get(node.id) ?? 0;
  if (us === 0) continue;
  const { functionName, url, lineNumber } = node.callFrame;
  const key = `${functionName || '(anonymous)'} ${url}`;
  const group = GROUPS.find(([, re]) => re.test(key))?.[0] ?? 'other';
  total += us;
  if (group.startsWith('idle')) {
    idle += us;
    continue;
  }
  byGroup.set(group, (byGroup.get(group) ?? 0) + us);
  const where = url ? `${url.split('/').slice(-2).join('/')}:${lineNumber + 1}` : '(native)';
  const fn = `${functionName || '(anonymous)'}  ${where}`;
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
}
const busy = total - idle;
const pct = (us: number): string => `${((100 * us) / busy).toFixed(1).padStart(5)} %`;

process.stdout.write(`${target}: ${(total / 1e6).toFixed(1)} s profiled, busy ${(busy / 1e6).toFixed(1)} s (${((100 * busy) / total).toFixed(0)} %)\n\n`);
process.stdout.write('share of busy time by stage\n');
for (const [group, us] of [...byGroup].sort((a, b) => b[1] - a[1])) process.stdout.write(`  ${pct(us)}  ${group}\n`);
process.stdout.write('\nbusiest functions (self time)\n');
for (const [fn, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 15)) process.stdout.write(`  ${pct(us)}  ${fn}\n`);
