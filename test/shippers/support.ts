import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import type { TestContext } from 'node:test';

/** A shipper process a test runs: what it printed lately, and whether it is gone. */
export interface Supervised {
  output: () => string;
  exited: () => boolean;
}

/**
 * Keeps the last 20,000 characters a child printed and, when the test ends, stops it (SIGTERM,
 * SIGKILL after 5 s) and removes `dir`, its temp folder.
 */
export function supervise(t: TestContext, child: ChildProcess, dir: string): Supervised {
  let output = '';
  const collect = (d: Buffer): void => {
    output = (output + d.toString()).slice(-20_000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let gone = false;
  const exited = new Promise<void>((done) => child.on('exit', () => done()));
  void exited.then(() => (gone = true));
  t.after(async () => {
    if (!gone) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  });
  return { output: () => output, exited: () => gone };
}
