import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import type { TestContext } from 'node:test';
import type { FastifyInstance, FastifyRequest } from 'fastify';

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

/** What a test recorded of one request; `status` is filled in when it is answered. */
export interface Recorded {
  status?: number;
}

export interface Recording<T extends Recorded> {
  /** The recorded requests, in arrival order. */
  requests: T[];
  /** The entry of a request being handled, if it is recorded. */
  entryOf: (request: FastifyRequest) => T | undefined;
}

/**
 * Records the requests a shipper sends: `pick` makes an entry for a request worth recording
 * (undefined: not recorded), `parsed` may add what its parsed body held, and each entry gets
 * the status it is answered with (`answered` may keep more of the answer). The hooks are
 * added now, so hooks a test adds after them see the entry.
 */
export function recordRequests<T extends Recorded>(
  app: FastifyInstance,
  pick: (request: FastifyRequest) => T | undefined,
  more: { parsed?: (entry: T, body: unknown) => void; answered?: (entry: T, payload: unknown) => void } = {},
): Recording<T> {
  const requests: T[] = [];
  const seen = new WeakMap<FastifyRequest, T>();
  app.addHook('onRequest', async (request) => {
    const entry = pick(request);
    if (entry === undefined) return;
    seen.set(request, entry);
    requests.push(entry);
  });
  const { parsed, answered } = more;
  if (parsed !== undefined) {
    app.addHook('preHandler', async (request) => {
      const entry = seen.get(request);
      if (entry !== undefined) parsed(entry, request.body);
    });
  }
  app.addHook('onSend', async (request, reply, payload) => {
    const entry = seen.get(request);
    if (entry !== undefined) {
      entry.status = reply.statusCode;
      answered?.(entry, payload);
    }
    return payload;
  });
  return { requests, entryOf: (request) => seen.get(request) };
}
