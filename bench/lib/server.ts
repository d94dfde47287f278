/**
 * The real server as a child process: dist/server/main.js (build it first), the production
 * entry point and options, a generated config in a temporary folder, logging at warn,
 * loopback only, pinned to CPU 0 where possible.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { NODE_FLAGS } from '../../server/node-flags.js';
import { freePort } from '../../scripts/free-port.js';
import { PROJECT_ROOT, spawnPinned } from './machine.js';

const MAIN = join(PROJECT_ROOT, 'dist', 'server', 'main.js');
const PROBE = pathToFileURL(join(PROJECT_ROOT, 'bench', 'lib', 'memory-probe.mjs')).href;


/** Children still running, stopped on the way out whatever happens. */
const live = new Set<ChildProcess>();

/** Kills every child still running (on the way out). */
export function killAll(): void {
  for (const child of live) child.kill('SIGKILL');
}
process.on('exit', killAll);

export function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
}

/** Keeps the last few KB a child wrote, to show when it fails. */
export function captureTail(child: ChildProcess, limit = 8192): () => string {
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-limit);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => tail;
}

/** Polls `url` until it answers `status`; returns ms since `t0`. */
export async function waitForStatus(url: string, t0: number, opts: { timeoutMs: number; child: ChildProcess; output: () => string; name: string }): Promise<number> {
  const deadline = t0 + opts.timeoutMs;
  for (;;) {
    if (opts.child.exitCode !== null || opts.child.signalCode !== null) {
      throw new Error(`${opts.name}: exited (${opts.child.exitCode ?? opts.child.signalCode}) before ${url} answered\n${opts.output()}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return performance.now() - t0;
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) throw new Error(`${opts.name}: ${url} did not answer 200 within ${opts.timeoutMs / 1000} s\n${opts.output()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Sends SIGTERM, waits for the exit (SIGKILL after `graceMs`). */
export async function stopChild(child: ChildProcess, graceMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.connected) child.disconnect();
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export interface Memory {
  /** VmRSS from /proc/<pid>/status (process.memoryUsage().rss where /proc is missing), bytes. */
  rss: number;
  /** V8 heap in use after a full collection, bytes. */
  heapUsed: number;
  external: number;
}

export interface ServerOptions {
  name: string;
  /** Folder for the config (and whatever the config points into). */
  dir: string;
  /** Merged over the embedded defaults by the server, like any config.yaml. */
  config: Record<string, unknown>;
  /** Opt-in memory channel: --expose-gc, the bench-only preload and an IPC channel. */
  probe?: boolean;
  /** How long start-up may take before giving up. */
  startTimeoutMs?: number;
}

export interface RunningServer {
  name: string;
  url: string;
  pid: number;
  /** ms from spawn to the first 200 from /health. */
  startMs: number;
  health(): Promise<{ total_logs: number; current_stored: number; status: string }>;
  memory(): Promise<Memory>;
  stop(): Promise<void>;
}

/** Where CPU profiles of the servers go (`--profile DIR`): one folder per server name. */
let profileDir: string | undefined;

export function profileServersInto(dir: string): void {
  profileDir = dir;
}

/** What the memory probe answers: process.memoryUsage() right after a full collection. */
export interface ProbeReply {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** False when the probe could not collect garbage (--expose-gc missing). */
  gc: boolean;
}

/** Asks a server started with the probe for its memory after a full GC, over the IPC channel. */
export function askProbe(child: ChildProcess, name: string, timeoutMs: number): Promise<ProbeReply> {
  if (!child.connected) return Promise.reject(new Error(`${name}: started without the memory probe`));
  const id = ++probeRequests;
  return new Promise<ProbeReply>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`${name}: no memory reply within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    const onMessage = (m: unknown): void => {
      const msg = m as { type?: string; id?: number } & ProbeReply;
      if (msg.type !== 'memory' || msg.id !== id) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(msg);
    };
    child.on('message', onMessage);
    child.send({ type: 'memory', id });
  });
}
let probeRequests = 0;

/**
 * Spawns dist/server/main.js the way every benchmark and the soak run do: the config written
 * to `dir`, CONFIG_PATH, a free loopback port, logging at warn, pinned where possible,
 * tracked so it is killed on the way out. Does not wait for it.
 */
export async function spawnServer(o: Pick<ServerOptions, 'name' | 'dir' | 'config' | 'probe'>): Promise<{ child: ChildProcess; url: string; t0: number }> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build:server first`);
  const port = await freePort();
  const configPath = join(o.dir, `${o.name}.yaml`);
  writeFileSync(configPath, stringify(o.config));
  const env: NodeJS.ProcessEnv = { ...process.env, CONFIG_PATH: configPath, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' };
  for (const k of ['NODE_OPTIONS', 'STORAGE_PATH', 'EXTERNAL_URL', 'LOGSENTINEL_BENCH_PROBE']) delete env[k];
  if (o.probe) env.LOGSENTINEL_BENCH_PROBE = '1';
  const profile = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, o.name)}`];
  const nodeArgs = [...NODE_FLAGS, ...profile, ...(o.probe ? ['--expose-gc', '--import', PROBE, MAIN] : [MAIN])];
  const t0 = performance.now();
  const child = spawnPinned(process.execPath, nodeArgs, {
    cwd: o.dir,
    env,
    stdio: o.probe ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  return { child, url: `http://127.0.0.1:${port}`, t0 };
}

export async function startServer(o: ServerOptions): Promise<RunningServer> {
  const { child, url, t0 } = await spawnServer(o);
  const output = captureTail(child);
  let startMs: number;
  try {
    startMs = await waitForStatus(`${url}/health`, t0, { timeoutMs: o.startTimeoutMs ?? 60_000, child, output, name: o.name });
  } catch (e) {
    await stopChild(child);
    throw e;
  }

  const memory = async (): Promise<Memory> => {
    if (!o.probe) throw new Error(`${o.name}: started without the memory probe`);
    const reply = await askProbe(child, o.name, 60_000);
    if (!reply.gc) throw new Error(`${o.name}: the probe could not collect garbage (--expose-gc missing)`);
    let rss = reply.rss;
    try {
      const kb = /VmRSS:\s*(\d+)\s*kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
      if (kb !== undefined) rss = Number(kb) * 1024;
    } catch {
      // no /proc: the process's own figure
    }
    return { rss, heapUsed: reply.heapUsed, external: reply.external };
  };

  return {
    name: o.name,
    url,
    pid: child.pid!,
    startMs,
    async health() {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(10_000) });
      return (await res.json()) as { total_logs: number; current_stored: number; status: string };
    },
    memory,
    stop: () => stopChild(child),
  };
}

/** A config for the server: the embedded defaults (the production options) plus `overrides`. */
export function serverConfig(o: { persistence: false } | { persistence: true; path: string }, overrides: { max_logs?: number } = {}): Record<string, unknown> {
  const storage: Record<string, unknown> = {
    persistence: o.persistence ? { enabled: true, path: o.path } : { enabled: false },
  };
  if (overrides.max_logs !== undefined) storage.max_logs = overrides.max_logs;
  // One loopback address sends far past the default per-caller rate limit: measure the server, not its 429s.
  return { storage, rate_limit: { enabled: false } };
}
