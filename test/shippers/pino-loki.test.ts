import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { describe, test, type TestContext } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../server/app.js';
import type { LogView } from '../../server/core/log.js';
import { AUTH_SERVICE_TOKEN, INGEST_TOKEN, READER_TOKEN, testConfig, waitFor } from '../helpers.js';
import { recordRequests } from './support.js';

/**
 * pino with the pino-loki transport (a worker thread posting Loki's JSON push) against the real
 * server on an ephemeral loopback port: what pino logs is what the server stores.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const PUSH = '/loki/api/v1/push';
const WAIT_MS = 15_000;

function pinoLokiMissing(): string | false {
  const require = createRequire(import.meta.url);
  for (const name of ['pino', 'pino-loki']) {
    try {
      require.resolve(name);
    } catch {
      return `${name} is not installed (npm install --save-dev pino pino-loki)`;
    }
  }
  return false;
}

const skip = pinoLokiMissing();
if (skip) process.stdout.write(`# pino-loki shipper tests skipped: ${skip}\n`);

/** WAIT_MS on a timer that does not keep the test process alive once everything else is done. */
const timeout = (): Promise<void> => delay(WAIT_MS, undefined, { ref: false });


/** What the server saw of one push. */
interface SeenPush {
  contentType: string | undefined;
  contentEncoding: string | undefined;
  authorization: string | undefined;
  status?: number;
  body?: string;
}

interface Server {
  app: FastifyInstance;
  url: string;
  pushes: SeenPush[];
}

/** The real app (system clock, no persistence) on 127.0.0.1, recording every push and its answer. */
async function startServer(t: TestContext, overrides: Record<string, unknown> = {}): Promise<Server> {
  const app = await buildApp(testConfig(overrides));
  const { requests: pushes } = recordRequests<SeenPush>(
    app,
    (request) =>
      request.routeOptions.url !== PUSH
        ? undefined
        : { contentType: request.headers['content-type'], contentEncoding: request.headers['content-encoding'], authorization: request.headers.authorization },
    { answered: (entry, payload) => (entry.body = typeof payload === 'string' ? payload : undefined) },
  );
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => app.close());
  return { app, url, pushes };
}

async function storedLogs(app: FastifyInstance, query = ''): Promise<LogView[]> {
  const res = await app.inject({ method: 'GET', url: `/api/logs?limit=1000${query}`, headers: { authorization: `Bearer ${READER_TOKEN}` } });
  assert.equal(res.statusCode, 200, res.body);
  return (res.json() as { logs: LogView[] }).logs;
}

/** Polls until the server holds `count` logs, failing after WAIT_MS with what the pushes got. */
async function waitForLogs(server: Server, count: number): Promise<LogView[]> {
  let have = 0;
  return waitFor(
    async () => {
      const logs = await storedLogs(server.app);
      have = logs.length;
      return logs.length >= count ? logs : undefined;
    },
    { timeoutMs: WAIT_MS, intervalMs: 50, what: () => `${count} log(s), have ${have}; pushes: ${JSON.stringify(server.pushes)}` },
  );
}

/** One pino call in the logging process: `logger[level](fields, msg)`, on a child logger with `child` bindings if given. */
interface LogCall {
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  msg: string;
  fields?: Record<string, unknown>;
  child?: Record<string, unknown>;
}

/**
 * The application side, in its own process as in production: pino writing through the
 * pino-loki transport (a worker thread). It must not share a thread with the server: pino ends
 * a transport by blocking its thread until the worker has sent its last batch.
 *
 * It logs each step's calls, prints `logged <n>`, and waits for a line on stdin before the next
 * step; after the last, it ends the transport and exits once the worker has closed.
 */
const APP_SCRIPT = `
import { createInterface } from 'node:readline';
import { pino } from 'pino';
const { options, steps } = JSON.parse(process.argv[1]);
const transport = pino.transport({ target: 'pino-loki', options });
const logger = pino({ level: 'trace' }, transport);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
for (const [n, step] of steps.entries()) {
  for (const call of step) (call.child ? logger.child(call.child) : logger)[call.level](call.fields ?? {}, call.msg);
  process.stdout.write('logged ' + n + '\\n');
  await lines.next();
}
transport.on('close', () => process.exit(0));
transport.end();
`;

interface AppRun {
  /** Resolves once the app has logged step `n`. */
  logged: (n: number) => Promise<void>;
  /** Lets the app go on to the next step (after the last: end the transport and exit). */
  proceed: () => void;
  /** Resolves with the exit code once the app has exited. */
  exited: Promise<number | null>;
  output: () => string;
}

/** Starts the logging process with pino-loki `options`; killed when the test ends. */
function runApp(t: TestContext, options: Record<string, unknown>, steps: LogCall[][]): AppRun {
  const child = spawn(process.execPath, ['--input-type=module', '-e', APP_SCRIPT, JSON.stringify({ options, steps })], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  const waiting = new Map<number, () => void>();
  const done = new Set<number>();
  child.stdout!.on('data', (d: Buffer) => {
    output += d.toString();
    for (const m of output.matchAll(/^logged (\d+)$/gm)) {
      const n = Number(m[1]);
      done.add(n);
      waiting.get(n)?.();
    }
  });
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  t.after(async () => {
    if (!gone) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return {
    logged: (n) =>
      Promise.race([
        done.has(n) ? Promise.resolve() : new Promise<void>((resolve) => waiting.set(n, resolve)),
        exited.then(() => assert.fail(`the app exited before logging step ${n}: ${output}`)),
        timeout().then(() => assert.fail(`the app did not log step ${n} within ${WAIT_MS} ms: ${output}`)),
      ]),
    proceed: () => child.stdin!.write('\n'),
    exited,
    output: () => output,
  };
}

/** Runs the app through every step at once and waits (bounded) for it to exit cleanly. */
async function logAndExit(t: TestContext, options: Record<string, unknown>, calls: LogCall[]): Promise<void> {
  const app = runApp(t, options, [calls]);
  await app.logged(0);
  app.proceed();
  const code = await Promise.race([app.exited, timeout().then(() => 'timed out' as const)]);
  assert.equal(code, 0, `the app should exit 0 once its transport closed: ${app.output()}`);
}

/** pino-loki's timestamp: pino's epoch ms times 10^6 as a decimal string, i.e. that millisecond with six zeros of nanoseconds. */
function expectedTimestamp(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}000000Z`;
}

/** pino's levels, as pino-loki's default levelMap labels them and the server maps them. */
const LEVELS: [method: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal', lokiLabel: string, stored: string][] = [
  ['trace', 'debug', 'DEBUG'],
  ['debug', 'debug', 'DEBUG'],
  ['info', 'info', 'INFO'],
  ['warn', 'warning', 'WARNING'],
  ['error', 'error', 'ERROR'],
  ['fatal', 'critical', 'CRITICAL'],
];

const HOST = hostname();

describe('pino with the pino-loki transport', { skip }, () => {
  test('the default line (pino JSON): every level arrives mapped, labels and structured metadata in metadata', async (t) => {
    // Anonymous callers may only read: nothing arrives unless the Basic password (the token) is sent.
    const server = await startServer(t, { auth: { anonymous_scopes: ['read'] } });
    const calls: LogCall[] = LEVELS.map(([level]) => ({
      level,
      msg: `${level} from pino`,
      fields: { order_id: `o-${level}`, amount: 12.5, tags: ['a', 'b'], meta: { trace_id: `t-${level}`, attempt: 2 } },
    }));
    // A batch interval far past the test: the logs go out only as the transport closes, so closing must flush them.
    await logAndExit(t, { host: server.url, basicAuth: { username: 'pino', password: INGEST_TOKEN }, labels: { service: 'checkout', env: 'test' }, batching: { interval: 600 } }, calls);

    const logs = await waitForLogs(server, LEVELS.length);
    assert.equal(logs.length, LEVELS.length);
    for (const [method, lokiLabel, level] of LEVELS) {
      const log = logs.find((l) => (JSON.parse(l.message) as { msg?: string }).msg === `${method} from pino`);
      assert.ok(log, `no log for pino.${method}: ${JSON.stringify(logs)}`);
      assert.equal(log.level, level, `pino.${method} (Loki label ${lokiLabel})`);
      assert.equal(log.service, 'checkout');
      // The line is pino's JSON record, extra fields included (pino-loki moves only the hostname into a label).
      const line = JSON.parse(log.message) as Record<string, unknown>;
      assert.deepEqual(Object.keys(line).sort(), ['amount', 'level', 'meta', 'msg', 'order_id', 'pid', 'tags', 'time']);
      assert.deepEqual(
        { level: line.level, order_id: line.order_id, amount: line.amount, tags: line.tags, meta: line.meta, msg: line.msg },
        {
          level: { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 }[method],
          order_id: `o-${method}`,
          amount: 12.5,
          tags: ['a', 'b'],
          meta: { trace_id: `t-${method}`, attempt: 2 },
          msg: `${method} from pino`,
        },
      );
      assert.equal(log.timestamp, expectedTimestamp(line.time as number));
      // Labels other than service and level, and pino-loki's structured metadata (the `meta` field, as strings).
      assert.deepEqual(log.metadata, { hostname: HOST, env: 'test', trace_id: `t-${method}`, attempt: '2' });
    }

    assert.equal(server.pushes.length, 1, 'one batch, sent on close');
    assert.deepEqual(server.pushes[0], {
      contentType: 'application/json',
      // pino-loki has no compression option: its pushes are plain JSON (gzip is tested below with another sender).
      contentEncoding: undefined,
      authorization: `Basic ${Buffer.from(`pino:${INGEST_TOKEN}`).toString('base64')}`,
      status: 204,
      body: undefined,
    });
  });

  test('logFormat "{msg}" makes the message the text only; a child logger field becomes the service label', async (t) => {
    const server = await startServer(t);
    const before = Date.now();
    await logAndExit(
      t,
      {
        host: server.url,
        basicAuth: { username: 'pino', password: INGEST_TOKEN },
        labels: { env: 'staging' },
        propsToLabels: ['service'],
        logFormat: '{msg}',
        batching: { interval: 0.2 },
      },
      [
        { level: 'info', child: { service: 'payment-service' }, fields: { meta: { order: 'o-1' } }, msg: 'payment captured' },
        { level: 'warn', child: { service: 'payment-service' }, msg: 'card expires soon' },
        { level: 'error', child: { service: 'auth-service' }, fields: { meta: { user: 'u-7' } }, msg: 'login failed' },
        // No service field: no service label, and a token bound to no service ships it as Loki would.
        { level: 'debug', msg: 'no service here' },
      ],
    );

    const logs = await waitForLogs(server, 4);
    const view = logs.map(({ level, service, message, metadata }) => ({ level, service, message, metadata })).sort((a, b) => a.message.localeCompare(b.message));
    assert.deepEqual(view, [
      { level: 'WARNING', service: 'payment-service', message: 'card expires soon', metadata: { hostname: HOST, env: 'staging' } },
      { level: 'ERROR', service: 'auth-service', message: 'login failed', metadata: { hostname: HOST, env: 'staging', user: 'u-7' } },
      { level: 'DEBUG', service: 'unknown_service', message: 'no service here', metadata: { hostname: HOST, env: 'staging' } },
      { level: 'INFO', service: 'payment-service', message: 'payment captured', metadata: { hostname: HOST, env: 'staging', order: 'o-1' } },
    ]);
    for (const log of logs) {
      const ms = Date.parse(log.timestamp);
      assert.match(log.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}000000Z$/);
      assert.ok(ms >= before - 1000 && ms <= Date.now() + 1000, `${log.timestamp} is around when it was logged`);
    }
  });

  test('a token bound to a service: a push for another service is refused whole (403), its own are stored', async (t) => {
    const server = await startServer(t);
    const steps: LogCall[][] = [
      [{ level: 'info', msg: 'unlabelled, so the bound service' }],
      [{ level: 'info', child: { service: 'payment-service' }, msg: 'not this token’s service' }],
      [{ level: 'warn', child: { service: 'auth-service' }, msg: 'its own service' }],
    ];
    // Unbatched: one push per log. pino-loki does not wait for those on close, so each is awaited here before the next step.
    const app = runApp(
      t,
      { host: server.url, basicAuth: { username: 'pino', password: AUTH_SERVICE_TOKEN }, propsToLabels: ['service'], logFormat: '{msg}', batching: false, silenceErrors: true },
      steps,
    );
    for (const n of steps.keys()) {
      await app.logged(n);
      await waitFor(() => server.pushes.filter((p) => p.status !== undefined).length >= n + 1, {
        timeoutMs: WAIT_MS,
        intervalMs: 20,
        what: () => `push ${n + 1} to be answered; pushes: ${JSON.stringify(server.pushes)}; app: ${app.output()}`,
      });
      app.proceed();
    }
    assert.equal(await app.exited, 0, app.output());

    assert.deepEqual(
      server.pushes.map((p) => p.status),
      [204, 403, 204],
    );
    assert.equal(JSON.parse(server.pushes[1]!.body!).code, 'SERVICE_MISMATCH');
    const logs = await storedLogs(server.app);
    assert.deepEqual(
      logs.map((l) => [l.service, l.level, l.message]),
      [
        ['auth-service', 'WARNING', 'its own service'],
        ['auth-service', 'INFO', 'unlabelled, so the bound service'],
      ],
    );
  });

  test('over a real connection: a gzip push is stored, a protobuf push is refused with 415 without reading it', async (t) => {
    const server = await startServer(t);
    const body = { streams: [{ stream: { service: 'gzip-sender', level: 'warn' }, values: [['1705329000123456789', 'compressed on the wire', { k: 'v' }]] }] };
    const gz = await fetch(`${server.url}${PUSH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', authorization: `Basic ${Buffer.from(`x:${INGEST_TOKEN}`).toString('base64')}` },
      body: gzipSync(JSON.stringify(body)),
    });
    assert.equal(gz.status, 204, await gz.text());
    const [log] = await storedLogs(server.app, '&service=gzip-sender');
    assert.deepEqual(
      { timestamp: log?.timestamp, level: log?.level, message: log?.message, metadata: log?.metadata },
      { timestamp: '2024-01-15T14:30:00.123456789Z', level: 'WARNING', message: 'compressed on the wire', metadata: { k: 'v' } },
    );

    // A large body, as Promtail would send: refused at once, and the server stays usable.
    const proto = await fetch(`${server.url}${PUSH}`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: Buffer.alloc(2 * 1024 * 1024, 7) });
    assert.equal(proto.status, 415);
    assert.match(((await proto.json()) as { error: string }).error, /Promtail, Grafana Alloy/);
    const after = await fetch(`${server.url}/health`);
    assert.equal(after.status, 200);
  });
});
