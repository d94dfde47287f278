/**
 * The ceiling for batch ingest: a plain loop of JSON.parse over the same bodies the server
 * gets, in its own process (pinned to the server's CPU by bench/run.ts). NDJSON is split on
 * newlines and parsed line by line, blank lines skipped, the way a reasonable parser would.
 *
 *   rate mode: --file bodies.json --format json|ndjson --logs-per-body N --seconds S --warmup W
 *     prints {"logsPerSec", "bytesPerSec", "bodies", "seconds", "cpuShare"}
 *   hold mode: --file bodies.json --hold N   (needs --expose-gc; 1000-log JSON array bodies)
 *     keeps N parsed logs in one array and prints the heap and RSS growth per log
 *
 * The bodies file is a JSON array of strings, written by bench/run.ts.
 */
import { readFileSync } from 'node:fs';

const argv = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? undefined : argv[i + 1];
};

const file = arg('file');
if (file === undefined) throw new Error('--file is required');
const bodies = JSON.parse(readFileSync(file, 'utf8')) as string[];
const bytes = bodies.map((b) => Buffer.byteLength(b));

/** Parsed values land here so no parse can be skipped. */
let sink: unknown;

function parseNdjson(text: string): number {
  let n = 0;
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    sink = JSON.parse(line);
    n++;
  }
  return n;
}

function parseJson(text: string): number {
  const value = JSON.parse(text) as unknown[];
  sink = value;
  return value.length;
}

function rate(): void {
  const format = arg('format');
  if (format !== 'json' && format !== 'ndjson') throw new Error('--format must be json or ndjson');
  const parse = format === 'json' ? parseJson : parseNdjson;
  const seconds = Number(arg('seconds') ?? 5);
  const warmup = Number(arg('warmup') ?? 1);
  const loop = (ms: number): { logs: number; bytes: number; bodies: number; ms: number } => {
    let logs = 0;
    let sent = 0;
    let i = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < ms) {
      const k = i++ % bodies.length;
      logs += parse(bodies[k]!);
      sent += bytes[k]!;
      t = performance.now();
    }
    return { logs, bytes: sent, bodies: i, ms: t - t0 };
  };
  loop(warmup * 1000);
  const cpu0 = process.cpuUsage();
  const r = loop(seconds * 1000);
  const cpu = process.cpuUsage(cpu0);
  // A busy loop on one thread: CPU time short of wall time is time another process held the CPU.
  const cpuShare = (cpu.user + cpu.system) / 1000 / r.ms;
  process.stdout.write(`${JSON.stringify({ logsPerSec: (r.logs * 1000) / r.ms, bytesPerSec: (r.bytes * 1000) / r.ms, bodies: r.bodies, seconds: r.ms / 1000, cpuShare, sinkType: typeof sink })}\n`);
}

function hold(count: number): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('hold mode needs --expose-gc');
  const rssNow = (): number => {
    try {
      const kb = /VmRSS:\s*(\d+)\s*kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
      if (kb !== undefined) return Number(kb) * 1024;
    } catch {
      // no /proc
    }
    return process.memoryUsage().rss;
  };
  const held: unknown[] = [];
  gc();
  gc();
  const before = { heap: process.memoryUsage().heapUsed, rss: rssNow() };
  let n = 0;
  for (let i = 0; n < count; i++) {
    for (const log of JSON.parse(bodies[i % bodies.length]!) as unknown[]) {
      if (n === count) break;
      held.push(log);
      n++;
    }
  }
  gc();
  gc();
  const after = { heap: process.memoryUsage().heapUsed, rss: rssNow() };
  process.stdout.write(`${JSON.stringify({ logs: n, heapPerLog: (after.heap - before.heap) / n, rssPerLog: (after.rss - before.rss) / n, held: held.length })}\n`);
}

const holdCount = arg('hold');
if (holdCount !== undefined) hold(Number(holdCount));
else rate();
