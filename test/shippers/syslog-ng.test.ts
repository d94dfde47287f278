import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../server/app.js';
import { NdjsonBody } from '../../server/http/body/ndjson.js';
import { IngestBody } from '../../server/http/body/parsers.js';
import { AUTH_SERVICE_TOKEN, INGEST_TOKEN, testConfig, waitFor } from '../helpers.js';
import { recordRequests, supervise } from './support.js';

/**
 * The shipped syslog-ng destination (examples/syslog-ng/logsentinel.conf) against the real
 * server: a real syslog-ng reads syslog lines from a file and posts them to /api/logs.
 */

const EXAMPLE_DIR = resolve(import.meta.dirname, '../../examples/syslog-ng');
const BLOCK_FILE = join(EXAMPLE_DIR, 'logsentinel.conf');
const INSTALL_HINT = 'apt-get install syslog-ng-core syslog-ng-mod-http';

/** syslog-ng runs in this zone (POSIX TZ, UTC+05:30) so timestamps carry a non-zero offset. */
const SYSLOG_TZ = 'IST-5:30';
const SYSLOG_OFFSET = '+05:30';
const OFFSET_MS = 330 * 60_000;
const WAIT_MS = 20_000;

/** SYSLOG_NG_PATH, else the first syslog-ng on PATH or in the sbin folders a non-root PATH lacks. */
function findSyslogNg(): string | undefined {
  const env = process.env.SYSLOG_NG_PATH;
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'].filter((dir) => isAbsolute(dir));
  const candidates = env ? [env] : dirs.map((dir) => join(dir, 'syslog-ng'));
  return candidates.find((path) => existsSync(path));
}

const SYSLOG_NG = findSyslogNg();

function syslogNgMissing(): string | false {
  if (SYSLOG_NG === undefined) return `syslog-ng not installed (${INSTALL_HINT}, or set SYSLOG_NG_PATH)`;
  const version = spawnSync(SYSLOG_NG, ['--version'], { encoding: 'utf8' });
  if (version.status !== 0) return `${SYSLOG_NG} --version failed (${INSTALL_HINT}): ${version.stderr}`;
  const modules = /^Available-Modules: (.*)$/m.exec(version.stdout)?.[1]?.split(',') ?? [];
  return modules.includes('http') ? false : `syslog-ng's http module is missing (apt-get install syslog-ng-mod-http)`;
}

const skip = syslogNgMissing();
if (skip) process.stdout.write(`# syslog-ng shipper tests skipped: ${skip}\n`);

interface StoredLog {
  id: number;
  received_at: string;
  timestamp: string;
  level: string;
  service: string;
  message: string;
  user_id?: string;
  metadata: Record<string, unknown>;
  pattern_id?: number;
}

/** What the server saw of one POST /api/logs. */
interface SeenRequest {
  contentType: string | undefined;
  authorization: string | undefined;
  shape?: 'ndjson' | 'array' | 'object';
  items?: number;
  status?: number;
}

interface Server {
  app: FastifyInstance;
  url: string;
  requests: SeenRequest[];
}

/**
 * The real app (system clock, no persistence) on an ephemeral loopback port, recording every
 * POST /api/logs; with `refuseFirst` the first one is answered 503 as an overloaded server would.
 */
async function startServer(t: TestContext, overrides: Record<string, unknown> = {}, refuseFirst = false): Promise<Server> {
  const app = await buildApp(testConfig(overrides));
  const { requests, entryOf } = recordRequests<SeenRequest>(
    app,
    (request) =>
      request.method === 'POST' && request.routeOptions.url === '/api/logs'
        ? { contentType: request.headers['content-type'], authorization: request.headers.authorization }
        : undefined,
    {
      parsed: (entry, parsed) => {
        // POST /api/logs' parser hands the value over with its bytes.
        const body = parsed instanceof IngestBody ? parsed.value : parsed;
        if (body instanceof NdjsonBody) [entry.shape, entry.items] = ['ndjson', body.items.length];
        else if (Array.isArray(body)) [entry.shape, entry.items] = ['array', body.length];
        else [entry.shape, entry.items] = ['object', 1];
      },
    },
  );
  if (refuseFirst) {
    app.addHook('onRequest', async (request, reply) => {
      if (requests.length === 1 && entryOf(request) === requests[0]) return reply.code(503).send({ error: 'overloaded, try again later', code: 'TEST_503' });
    });
  }
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => app.close());
  return { app, url, requests };
}

async function storedLogs(app: FastifyInstance): Promise<StoredLog[]> {
  const res = await app.inject({ method: 'GET', url: '/api/logs?limit=1000' });
  assert.equal(res.statusCode, 200, res.body);
  return (res.json() as { logs: StoredLog[] }).logs;
}

interface SyslogNg {
  /** Appends lines to the file syslog-ng reads. */
  write: (lines: string[]) => void;
  /** Everything syslog-ng printed so far (its own messages, thanks to -e). */
  output: () => string;
  exited: () => boolean;
}

/**
 * Runs `syslog-ng -F` as the current user with a config that includes the shipped block file,
 * reads a file in a fresh temp folder and sends it to `destination`. Its persist file, pid file
 * and control socket live in that folder too, so it never meets a system syslog-ng.
 */
function startSyslogNg(t: TestContext, destination: string): SyslogNg {
  const dir = mkdtempSync(join(tmpdir(), 'logsentinel-syslog-ng-'));
  const input = join(dir, 'input.log');
  const config = join(dir, 'syslog-ng.conf');
  writeFileSync(input, '');
  writeFileSync(
    config,
    [
      '@version: 3.38',
      `@include ${JSON.stringify(BLOCK_FILE)}`,
      // keep-hostname: the host comes from each line, as on a relay, so it can be asserted.
      'options { keep-hostname(yes); use-dns(no); dns-cache(no); stats-freq(0); };',
      `source s_input { file(${JSON.stringify(input)} follow-freq(0.1)); };`,
      `destination d_logsentinel { ${destination} };`,
      'log { source(s_input); destination(d_logsentinel); };',
      '',
    ].join('\n'),
  );
  const args = ['-F', '-e', '--no-caps', '-f', config, `--persist-file=${join(dir, 'syslog-ng.persist')}`];
  args.push(`--pidfile=${join(dir, 'syslog-ng.pid')}`, `--control=${join(dir, 'syslog-ng.ctl')}`);
  const child: ChildProcess = spawn(SYSLOG_NG!, args, { env: { ...process.env, TZ: SYSLOG_TZ }, stdio: ['ignore', 'pipe', 'pipe'] });
  const supervised = supervise(t, child, dir);
  return {
    write: (lines) => appendFileSync(input, lines.map((l) => `${l}\n`).join('')),
    ...supervised,
  };
}

/** Polls `probe` until it returns a value, failing after WAIT_MS or as soon as syslog-ng exits. */
async function waitWhileUp<T>(what: string, syslogNg: SyslogNg, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  return waitFor(
    async () => {
      const value = await probe();
      if (value === undefined && syslogNg.exited()) assert.fail(`syslog-ng exited while waiting for ${what}:\n${syslogNg.output()}`);
      return value;
    },
    { timeoutMs: WAIT_MS, intervalMs: 50, what: () => `${what}; syslog-ng said:\n${syslogNg.output()}` },
  );
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number): string => String(n).padStart(2, '0');

/** A whole second as an RFC 3164 header date in syslog-ng's zone, and the ISODATE it should become. */
function syslogTime(ms: number): { header: string; iso: string } {
  const local = new Date(Math.floor(ms / 1000) * 1000 + OFFSET_MS);
  const time = `${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}`;
  return {
    header: `${MONTHS[local.getUTCMonth()]} ${String(local.getUTCDate()).padStart(2, ' ')} ${time}`,
    iso: `${local.getUTCFullYear()}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}T${time}.000${SYSLOG_OFFSET}`,
  };
}

interface Case {
  line: string;
  /** The ISODATE expected, or undefined when the line has no date and syslog-ng stamps it on arrival. */
  timestamp: string | undefined;
  expected: Omit<StoredLog, 'id' | 'received_at' | 'timestamp' | 'pattern_id'>;
}

/** PRI = facility * 8 + severity (RFC 3164). */
const pri = (facility: number, severity: number): string => `<${facility * 8 + severity}>`;
const FAC = { kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, cron: 9, local0: 16, local7: 23 };

/** One line per syslog severity and the edge cases of the mapping, each with the log it must become. */
function syslogCases(): Case[] {
  const { header, iso } = syslogTime(Date.now() - 60_000);
  const host = 'web-01';
  const at = (facility: keyof typeof FAC, severity: number, rest: string): string => `${pri(FAC[facility], severity)}${header} ${host} ${rest}`;
  const meta = (facility: string, severity: string, pid?: number): Record<string, unknown> =>
    pid === undefined ? { host, facility, severity } : { host, facility, severity, pid };
  const dated = (line: string, level: string, service: string, message: string, metadata: Record<string, unknown>): Case => ({
    line,
    timestamp: iso,
    expected: { level, service, message, metadata },
  });
  const hostile = 'upstream sent "quoted" text, a back\\slash, a\ttab and ünïcødé ✓';
  return [
    dated(at('kern', 0, 'kernel: Out of memory: Killed process 4242'), 'CRITICAL', 'kernel', 'Out of memory: Killed process 4242', meta('kern', 'emerg')),
    dated(at('auth', 1, 'sshd[812]: Too many authentication failures'), 'CRITICAL', 'sshd', 'Too many authentication failures', meta('auth', 'alert', 812)),
    dated(at('daemon', 2, 'systemd[1]: Failed to start backup.service'), 'CRITICAL', 'systemd', 'Failed to start backup.service', meta('daemon', 'crit', 1)),
    dated(at('mail', 3, 'postfix/smtp[2210]: connect to mx.example: Connection timed out'), 'ERROR', 'postfix/smtp', 'connect to mx.example: Connection timed out', meta('mail', 'err', 2210)),
    dated(at('daemon', 4, `nginx[1234]: ${hostile}`), 'WARNING', 'nginx', hostile, meta('daemon', 'warning', 1234)),
    dated(at('cron', 5, 'CRON[5150]: (root) CMD (run-parts /etc/cron.hourly)'), 'INFO', 'CRON', '(root) CMD (run-parts /etc/cron.hourly)', meta('cron', 'notice', 5150)),
    // A pid that is not a plain number is left out rather than sent as invalid JSON.
    dated(at('local0', 6, 'billing[0012]: a pid with a leading zero'), 'INFO', 'billing', 'a pid with a leading zero', meta('local0', 'info')),
    dated(at('local7', 7, 'worker[x7]: a pid that is not a number'), 'DEBUG', 'worker', 'a pid that is not a number', meta('local7', 'debug')),
    // No program: the service falls back to "syslog". No message: a placeholder, as the server needs one.
    dated(at('user', 5, ': a message naming no program'), 'INFO', 'syslog', 'a message naming no program', meta('user', 'notice')),
    dated(at('user', 3, 'backup[31]:'), 'ERROR', 'backup', '(empty message)', meta('user', 'err', 31)),
    // No date and no host: syslog-ng stamps the arrival time and its own host name.
    {
      line: `${pri(FAC.user, 6)}logger[99]: a line with only a priority`,
      timestamp: undefined,
      expected: { level: 'INFO', service: 'logger', message: 'a line with only a priority', metadata: { host: hostname().split('.')[0], facility: 'user', severity: 'info', pid: 99 } },
    },
  ];
}

/** Every case arrived exactly once, mapped as expected. */
function assertDelivered(logs: StoredLog[], cases: Case[], sentAt: number): void {
  assert.equal(logs.length, cases.length, `expected ${cases.length} logs, got: ${JSON.stringify(logs, null, 1)}`);
  for (const c of cases) {
    const log = logs.find((l) => l.message === c.expected.message);
    assert.ok(log, `no log with message ${JSON.stringify(c.expected.message)} for line ${JSON.stringify(c.line)}`);
    const { id: _id, received_at: _receivedAt, timestamp, pattern_id, ...rest } = log;
    assert.ok(Number.isInteger(pattern_id) && pattern_id! > 0, `a syslog line gets a pattern like any other log (pattern_id ${pattern_id})`);
    assert.deepEqual(rest, c.expected, `line ${JSON.stringify(c.line)}`);
    if (c.timestamp !== undefined) {
      assert.equal(timestamp, c.timestamp, `line ${JSON.stringify(c.line)}`);
    } else {
      // Arrival time, in milliseconds, with syslog-ng's offset.
      assert.match(timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+05:30$/);
      const ms = Date.parse(timestamp);
      assert.ok(ms >= sentAt - 1_000 && ms <= Date.now() + 1_000, `arrival stamp ${timestamp} is not around the time the line was written`);
    }
  }
}

async function waitForLogs(server: Server, syslogNg: SyslogNg, count: number): Promise<StoredLog[]> {
  return waitWhileUp(`the server to hold ${count} log(s)`, syslogNg, async () => {
    const logs = await storedLogs(server.app);
    return logs.length >= count ? logs : undefined;
  });
}

/** Statuses are recorded once a reply is sent, which can be just after its logs are queryable. */
async function answeredRequests(server: Server, syslogNg: SyslogNg): Promise<SeenRequest[]> {
  return waitWhileUp('every request to be answered', syslogNg, () =>
    server.requests.every((r) => r.status !== undefined) ? server.requests : undefined,
  );
}

/** Every request syslog-ng made had this form and was accepted whole, and lines written together shared one. */
function assertBatched(
  requests: Awaited<ReturnType<typeof answeredRequests>>,
  expected: { contentType: string; authorization: string | undefined; shape: string },
): void {
  assert.ok(requests.length > 0);
  for (const r of requests) {
    assert.deepEqual(
      { contentType: r.contentType, authorization: r.authorization, shape: r.shape, status: r.status },
      { ...expected, status: 201 },
    );
  }
  assert.ok(requests.some((r) => (r.items ?? 0) > 1), `lines written together should share a batch: ${JSON.stringify(requests)}`);
}

describe('syslog-ng with the shipped LogSentinel destination', { skip }, () => {
  test('NDJSON batches with a token: every line arrives with the mapped fields', async (t) => {
    // Anonymous callers may only read here, so nothing arrives unless the token is sent.
    const server = await startServer(t, { auth: { anonymous_scopes: ['read'] } });
    const syslogNg = startSyslogNg(t, `logsentinel(url("${server.url}/api/logs") token("${INGEST_TOKEN}") batch-timeout(200));`);
    const cases = syslogCases();
    const sentAt = Date.now();
    syslogNg.write(cases.map((c) => c.line));

    assertDelivered(await waitForLogs(server, syslogNg, cases.length), cases, sentAt);
    assertBatched(await answeredRequests(server, syslogNg), { contentType: 'application/x-ndjson', authorization: `Bearer ${INGEST_TOKEN}`, shape: 'ndjson' });
  });

  test('JSON-array batches without a token: every line arrives with the mapped fields', async (t) => {
    const server = await startServer(t);
    const syslogNg = startSyslogNg(t, `logsentinel-json-array(url("${server.url}/api/logs") batch-timeout(200));`);
    const cases = syslogCases();
    const sentAt = Date.now();
    syslogNg.write(cases.map((c) => c.line));

    assertDelivered(await waitForLogs(server, syslogNg, cases.length), cases, sentAt);
    assertBatched(await answeredRequests(server, syslogNg), { contentType: 'application/json', authorization: undefined, shape: 'array' });
  });

  test('a 503 is sent again until accepted; 403, 400 and 413 batches are dropped, not sent again', async (t) => {
    // A token bound to auth-service, and limits small enough to refuse a long line (400) or body (413).
    const server = await startServer(t, { limits: { max_message_length: 500, max_body_bytes: 1024 } }, true);
    const syslogNg = startSyslogNg(
      t,
      `logsentinel(url("${server.url}/api/logs") token("${AUTH_SERVICE_TOKEN}") batch-timeout(100) time-reopen(1));`,
    );
    const { header } = syslogTime(Date.now());
    const line = (program: string, message: string): string => `${pri(FAC.auth, 6)}${header} web-01 ${program}[7]: ${message}`;
    const statuses = (): (number | undefined)[] => server.requests.map((r) => r.status);
    let stored = 0;
    /** Writes one line and waits until the server answered it, so every line is a batch of its own. */
    const send = async (program: string, message: string, answer: 'stored' | number): Promise<void> => {
      syslogNg.write([line(program, message)]);
      if (answer === 'stored') await waitForLogs(server, syslogNg, ++stored);
      else await waitWhileUp(`a ${answer}`, syslogNg, () => (statuses().includes(answer) ? true : undefined));
    };

    await send('auth-service', 'first sent while the server is overloaded', 'stored');
    // Each refused line is followed by a good one. Sent again, a refused line would share its
    // batch: a 403 or 413 again (the good line never arrives) or a 207 instead of a 201.
    await send('sshd', 'a service this token may not ship', 403);
    await send('auth-service', 'after the 403', 'stored');
    await send('auth-service', `too long for the server: ${'x'.repeat(600)}`, 400);
    await send('auth-service', 'after the 400', 'stored');
    await send('auth-service', `a body over max_body_bytes: ${'y'.repeat(2000)}`, 413);
    await send('auth-service', 'after the 413', 'stored');

    const logs = await storedLogs(server.app);
    assert.deepEqual(
      logs.map((l) => l.message),
      ['after the 413', 'after the 400', 'after the 403', 'first sent while the server is overloaded'],
    );
    await answeredRequests(server, syslogNg);
    assert.deepEqual(statuses(), [503, 201, 403, 201, 400, 201, 413, 201], syslogNg.output());
  });

  test('the example syslog-ng.conf is a valid configuration', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'logsentinel-syslog-ng-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const example = readFileSync(join(EXAMPLE_DIR, 'syslog-ng.conf'), 'utf8');
    // Installed, the include resolves in /etc/syslog-ng; here it points at the example folder.
    const include = '@include "logsentinel.conf"';
    assert.ok(example.includes(include), `the example should contain ${include}`);
    const config = join(dir, 'syslog-ng.conf');
    writeFileSync(config, example.replace(include, `@include ${JSON.stringify(BLOCK_FILE)}`));
    const check = spawnSync(SYSLOG_NG!, ['--syntax-only', '-f', config], { encoding: 'utf8' });
    assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
  });
});
