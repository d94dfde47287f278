/**
 * The baselines every figure is put beside, measured in the same run with the same tool,
 * bodies and connections: a bare Fastify route (bench/bare-server.ts) and a plain JSON.parse
 * loop (bench/json-parse.ts), both as children pinned to the server's CPU.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BodySet } from './data.js';
import { PROJECT_ROOT, spawnPinned } from './machine.js';
import { freePort } from '../../scripts/free-port.js';
import { captureTail, stopChild, track, waitForStatus } from './server.js';

const TSX = ['--import', 'tsx'];

export interface BareServer {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startBare(bodyLimit: number): Promise<BareServer> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), BENCH_BODY_LIMIT: String(bodyLimit) };
  delete env.NODE_OPTIONS;
  const t0 = performance.now();
  const child = spawnPinned(process.execPath, [...TSX, join(PROJECT_ROOT, 'bench', 'bare-server.ts')], {
    cwd: PROJECT_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  const output = captureTail(child);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForStatus(`${url}/health`, t0, { timeoutMs: 60_000, child, output, name: 'bare route' });
  } catch (e) {
    await stopChild(child);
    throw e;
  }
  return { url, pid: child.pid!, stop: () => stopChild(child) };
}

/** Runs bench/json-parse.ts with `args`; returns the JSON line it prints. */
function parseChild<T>(args: string[], timeoutMs: number, nodeFlags: string[] = []): Promise<T> {
  return jsonChild<T>('json-parse.ts', args, timeoutMs, 'json-parse child', nodeFlags);
}

/**
 * Runs the script `bench/<script>` with `args` in a child pinned to the server's CPU; returns
 * the JSON of the last line it prints. `what` names it when it fails or prints nothing.
 */
export async function jsonChild<T>(script: string, args: string[], timeoutMs: number, what: string, nodeFlags: string[] = []): Promise<T> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  const child = spawnPinned(process.execPath, [...nodeFlags, ...TSX, join(PROJECT_ROOT, 'bench', script), ...args], {
    cwd: PROJECT_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString('utf8')).slice(-4000)));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  const line = out.trim().split('\n').pop() ?? '';
  if (code !== 0 || line === '') throw new Error(`${what} failed (exit ${code}): ${err}`);
  return JSON.parse(line) as T;
}

/** Writes a body set where a child reads it (`prefix` keeps two readers' files apart); its path. */
export function writeBodies(dir: string, set: BodySet, prefix = ''): string {
  const file = join(dir, `${prefix}bodies-${set.logsPerBody}-${set.format}.json`);
  writeFileSync(file, JSON.stringify(set.bodies));
  return file;
}

export interface ParseRate {
  logsPerSec: number;
  bytesPerSec: number;
  /** CPU time over wall time of the loop: below 1 when something else held the CPU. */
  cpuShare: number;
}

export function jsonParseRate(dir: string, set: BodySet, seconds: number, warmupSeconds: number): Promise<ParseRate> {
  const file = writeBodies(dir, set);
  return parseChild<ParseRate>(
    ['--file', file, '--format', set.format, '--seconds', String(seconds), '--warmup', String(warmupSeconds)],
    (seconds + warmupSeconds + 60) * 1000,
  );
}

export interface HeldCost {
  logs: number;
  heapPerLog: number;
  rssPerLog: number;
}

/** Heap and RSS growth per log of `count` parsed logs kept in a plain array (1000-log JSON array bodies). */
export function heldParsedCost(dir: string, set: BodySet, count: number): Promise<HeldCost> {
  if (set.format !== 'json') throw new Error('hold mode takes JSON array bodies');
  return parseChild<HeldCost>(['--file', writeBodies(dir, set), '--hold', String(count)], 300_000, ['--expose-gc']);
}
