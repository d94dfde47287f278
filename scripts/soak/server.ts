/**
 * The real server for the soak run: dist/server/main.js as a child process, started the way
 * the benchmark starts it (bench/lib/server.ts: a generated config in a temporary folder,
 * CONFIG_PATH, logging at warn, loopback only, pinned to CPU 0 where possible), but keeping
 * the child so the soak can watch for a crash and read its exit code after SIGTERM.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { PROJECT_ROOT, spawnPinned } from '../../bench/lib/machine.js';
import { track, waitForStatus } from '../../bench/lib/server.js';
import { freePort } from '../free-port.js';

const MAIN = join(PROJECT_ROOT, 'dist', 'server', 'main.js');
/** The benchmark's opt-in preload: on an IPC request it runs a full GC and answers process.memoryUsage(). */
const PROBE = pathToFileURL(join(PROJECT_ROOT, 'bench', 'lib', 'memory-probe.mjs')).href;

/** process.memoryUsage() in the server right after a full garbage collection, bytes. */
export interface LiveMemory {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StopResult extends Exit {
  /** ms from SIGTERM to the exit. */
  ms: number;
  /** True when it had not exited in time and was killed with SIGKILL. */
  killed: boolean;
}

/** What the server wrote: lines per pino level, the last error lines and the tail of the output. */
export interface ServerOutput {
  lines: { warn: number; error: number; fatal: number; other: number };
  lastErrors: string[];
  tail(): string;
}

export interface SoakServer {
  url: string;
  pid: number;
  child: ChildProcess;
  /** ms from spawn to the first 200 from /health. */
  startMs: number;
  output: ServerOutput;
  /** Resolves when the process exits, for whatever reason. */
  exited: Promise<Exit>;
  /** Null while it runs. */
  exit: Exit | null;
  /** SIGTERM, then waits up to `waitMs` for the exit; SIGKILL after that. */
  stop(waitMs: number): Promise<StopResult>;
  /** Memory after a full GC, through the benchmark's probe (started with `probe: true` only). */
  liveMemory(): Promise<LiveMemory>;
}

function watchOutput(child: ChildProcess): ServerOutput {
  let tail = '';
  let partial = '';
  const out: ServerOutput = { lines: { warn: 0, error: 0, fatal: 0, other: 0 }, lastErrors: [], tail: () => tail };
  const onData = (chunk: Buffer): void => {
    const text = chunk.toString('utf8');
    tail = (tail + text).slice(-8192);
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    if (partial.length > 65_536) partial = partial.slice(-65_536);
    for (const line of lines) {
      if (line.trim() === '') continue;
      const level = /"level":(\d+)/.exec(line)?.[1];
      if (level === '40') out.lines.warn++;
      else if (level === '50') out.lines.error++;
      else if (level === '60') out.lines.fatal++;
      else out.lines.other++;
      if (level === '50' || level === '60' || level === undefined) {
        out.lastErrors.push(line.slice(0, 600));
        if (out.lastErrors.length > 5) out.lastErrors.shift();
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  return out;
}

export async function startSoakServer(o: { name: string; dir: string; config: Record<string, unknown>; startTimeoutMs: number; probe?: boolean }): Promise<SoakServer> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build:server first`);
  const port = await freePort();
  const configPath = join(o.dir, `${o.name}.yaml`);
  writeFileSync(configPath, stringify(o.config));
  const env: NodeJS.ProcessEnv = { ...process.env, CONFIG_PATH: configPath, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' };
  for (const k of ['NODE_OPTIONS', 'STORAGE_PATH', 'EXTERNAL_URL', 'LOGSENTINEL_BENCH_PROBE']) delete env[k];
  if (o.probe) env.LOGSENTINEL_BENCH_PROBE = '1';
  const t0 = performance.now();
  const child = spawnPinned(process.execPath, o.probe ? ['--expose-gc', '--import', PROBE, MAIN] : [MAIN], {
    cwd: o.dir,
    env,
    stdio: o.probe ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  let nextId = 0;
  track(child);
  const output = watchOutput(child);
  const server: SoakServer = {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    child,
    startMs: 0,
    output,
    exit: null,
    exited: new Promise<Exit>((resolve) => {
      child.once('exit', (code, signal) => {
        server.exit = { code, signal };
        resolve(server.exit);
      });
    }),
    async stop(waitMs: number): Promise<StopResult> {
      const t = performance.now();
      if (server.exit !== null) return { ...server.exit, ms: 0, killed: false };
      if (child.connected) child.disconnect();
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), waitMs)));
      const first = await Promise.race([server.exited, late]);
      clearTimeout(timer);
      if (first === 'late') {
        child.kill('SIGKILL');
        const exit = await server.exited;
        return { ...exit, ms: performance.now() - t, killed: true };
      }
      return { ...first, ms: performance.now() - t, killed: false };
    },
    liveMemory(): Promise<LiveMemory> {
      if (!o.probe || !child.connected) return Promise.reject(new Error(`${o.name}: started without the memory probe`));
      const id = ++nextId;
      return new Promise<LiveMemory>((resolve, reject) => {
        const timer = setTimeout(() => {
          child.off('message', onMessage);
          reject(new Error(`${o.name}: no memory reply within 30 s`));
        }, 30_000);
        const onMessage = (m: unknown): void => {
          const msg = m as { type?: string; id?: number; gc?: boolean } & LiveMemory;
          if (msg.type !== 'memory' || msg.id !== id) return;
          clearTimeout(timer);
          child.off('message', onMessage);
          if (!msg.gc) reject(new Error(`${o.name}: the probe could not collect garbage`));
          else resolve({ rss: msg.rss, heapUsed: msg.heapUsed, heapTotal: msg.heapTotal, external: msg.external, arrayBuffers: msg.arrayBuffers });
        };
        child.on('message', onMessage);
        child.send({ type: 'memory', id });
      });
    },
  };
  try {
    server.startMs = await waitForStatus(`${server.url}/health`, t0, { timeoutMs: o.startTimeoutMs, child, output: output.tail, name: o.name });
  } catch (e) {
    await server.stop(5000);
    throw e;
  }
  return server;
}
