/**
 * The real server for the soak run: dist/server/main.js as a child process, started the way
 * the benchmark starts it (bench/lib/server.ts: a generated config in a temporary folder,
 * CONFIG_PATH, logging at warn, loopback only, pinned to CPU 0 where possible), but keeping
 * the child so the soak can watch for a crash and read its exit code after SIGTERM.
 */
import type { ChildProcess } from 'node:child_process';
import { askProbe, spawnServer, waitForStatus } from '../../bench/lib/server.js';

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
  const { child, url, t0 } = await spawnServer(o);
  const output = watchOutput(child);
  const server: SoakServer = {
    url,
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
    async liveMemory(): Promise<LiveMemory> {
      if (!o.probe) throw new Error(`${o.name}: started without the memory probe`);
      const msg = await askProbe(child, o.name, 30_000);
      if (!msg.gc) throw new Error(`${o.name}: the probe could not collect garbage`);
      return { rss: msg.rss, heapUsed: msg.heapUsed, heapTotal: msg.heapTotal, external: msg.external, arrayBuffers: msg.arrayBuffers };
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
