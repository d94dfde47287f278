import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { after } from 'node:test';
import { freePort } from './helpers.js';

/** The real server (server/main.ts) as a child process, for tests of what only a process shows: signals, exit codes, files. */

const ROOT = resolve(import.meta.dirname, '..');

const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  base: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Spawns `node --import tsx server/main.ts` with `configPath` and waits (bounded) until GET
 * /health answers. Logging at warn unless `env` says otherwise. Killed when the test file ends.
 */
export async function startServerProcess(configPath: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, CONFIG_PATH: configPath, PORT: String(port), LOG_LEVEL: 'warn', LOG_FORMAT: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.on('exit', (code, signal) => done({ code, signal })));
  let gone = false;
  void exited.then(() => (gone = true));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (gone) assert.fail(`the server exited before answering: ${output}`);
    try {
      if ((await fetch(`${base}/health`)).status === 200) return { child, port, base, output: () => output, exited };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  assert.fail(`the server did not answer /health within 30 s: ${output}`);
}
