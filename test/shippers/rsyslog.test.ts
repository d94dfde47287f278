import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../server/app.js';
import { INGEST_TOKEN, freePort, testConfig, waitFor } from '../helpers.js';
import type { LogView } from '../../server/core/log.js';
import { recordRequests, supervise } from './support.js';

/**
 * The shipped rsyslog output (examples/rsyslog/logsentinel.conf) against the real server: a
 * real rsyslogd reads syslog lines from a file with imfile and ships them with
 * omelasticsearch to the Elasticsearch bulk endpoint.
 */

const SHIPPED_FILE = resolve(import.meta.dirname, '../../examples/rsyslog/logsentinel.conf');
const INSTALL_HINT = 'apt-get install rsyslog rsyslog-elasticsearch, or set RSYSLOGD_PATH and RSYSLOG_MODULE_DIR';

/** rsyslogd runs in this zone (POSIX TZ, UTC+05:30) so the timestamps it stamps carry a non-zero offset. */
const RSYSLOG_TZ = 'IST-5:30';
const WAIT_MS = 20_000;
/** The shipped action tries an unreachable server again after action.resumeInterval, 10 s. */
const RESUME_WAIT_MS = 45_000;
/** The test server's limits.max_message_length: a longer line is a document it refuses. */
const MAX_MESSAGE = 200;

/** RSYSLOGD_PATH, else the first rsyslogd on PATH or in the sbin folders a non-root PATH lacks. */
function findRsyslogd(): string | undefined {
  const env = process.env.RSYSLOGD_PATH;
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'].filter((dir) => isAbsolute(dir));
  const candidates = env ? [env] : dirs.map((dir) => join(dir, 'rsyslogd'));
  return candidates.find((path) => existsSync(path));
}

const RSYSLOGD = findRsyslogd();
/**
 * RSYSLOG_MODULE_DIR: where imfile and omelasticsearch are, for an rsyslogd unpacked outside
 * /usr (CI does that: Debian's rsyslog and syslog-ng packages cannot be installed together).
 */
const MODULE_ARGS = process.env.RSYSLOG_MODULE_DIR ? ['-M', process.env.RSYSLOG_MODULE_DIR] : [];

/** Why the tests cannot run here, or false: rsyslogd must run and load omelasticsearch. */
function rsyslogMissing(): string | false {
  if (RSYSLOGD === undefined) return `rsyslogd not installed (${INSTALL_HINT})`;
  const dir = mkdtempSync(join(tmpdir(), 'logsentinel-rsyslog-check-'));
  try {
    const config = join(dir, 'check.conf');
    // -N1 only checks the config (it needs an action to accept one): nothing is sent.
    writeFileSync(config, `global(workDirectory="${dir}")\nmodule(load="omelasticsearch")\naction(type="omelasticsearch" server="127.0.0.1")\n`);
    const check = spawnSync(RSYSLOGD, [...MODULE_ARGS, '-N1', '-f', config], { encoding: 'utf8' });
    if (check.error !== undefined) return `${RSYSLOGD} does not run (${INSTALL_HINT}): ${check.error.message}`;
    return check.status === 0 ? false : `rsyslog's omelasticsearch module is missing (apt-get install rsyslog-elasticsearch): ${check.stderr.trim()}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const skip = rsyslogMissing();
if (skip) process.stdout.write(`# rsyslog shipper tests skipped: ${skip}\n`);

/** What the server saw of one request. */
interface SeenRequest {
  method: string;
  url: string;
  contentType: string | undefined;
  authorization: string | undefined;
  status?: number;
}

interface Server {
  app: FastifyInstance;
  requests: SeenRequest[];
  listen: () => Promise<void>;
}

/** The real app (system clock, no persistence) for 127.0.0.1:`port`, recording every request; it listens once `listen` is called. */
async function makeServer(t: TestContext, port: number): Promise<Server> {
  const app = await buildApp(testConfig({ auth: { anonymous_scopes: ['read'] }, limits: { max_message_length: MAX_MESSAGE } }));
  const { requests } = recordRequests<SeenRequest>(app, (request) =>
    request.method === 'GET' && request.url.startsWith('/api/logs')
      ? undefined
      : { method: request.method, url: request.url, contentType: request.headers['content-type'], authorization: request.headers.authorization },
  );
  t.after(() => app.close());
  return {
    app,
    requests,
    listen: async () => {
      await app.listen({ host: '127.0.0.1', port });
    },
  };
}

async function storedLogs(app: FastifyInstance): Promise<LogView[]> {
  const res = await app.inject({ method: 'GET', url: '/api/logs?limit=1000' });
  assert.equal(res.statusCode, 200, res.body);
  return (res.json() as { logs: LogView[] }).logs;
}

interface Rsyslog {
  /** Appends lines to the file rsyslog reads. */
  write: (lines: string[]) => void;
  /** Everything rsyslogd printed so far (its own error messages go to stderr with -n). */
  output: () => string;
  exited: () => boolean;
  /** Where omelasticsearch writes the requests the server refused, with the replies. */
  errorFile: string;
}

/**
 * Runs `rsyslogd -n` as the current user with a config that includes the shipped file and
 * reads one file with imfile (its only input: it never opens the system log socket), in a
 * fresh temp folder that is also its work directory and holds its pid file.
 */
function startRsyslog(t: TestContext, port: number): Rsyslog {
  const dir = mkdtempSync(join(tmpdir(), 'logsentinel-rsyslog-'));
  const work = join(dir, 'work');
  mkdirSync(work);
  const input = join(dir, 'input.log');
  const config = join(dir, 'rsyslog.conf');
  const errorFile = join(dir, 'errors.json');
  writeFileSync(input, '');
  writeFileSync(
    config,
    [
      `global(workDirectory=${JSON.stringify(work)})`,
      'module(load="imfile")',
      `include(file=${JSON.stringify(SHIPPED_FILE)})`,
      // needParse: each line is parsed as a syslog message (priority, time, program), as if it came from the network.
      `input(type="imfile" file=${JSON.stringify(input)} tag="file:" needParse="on" ruleset="logsentinel")`,
      '',
    ].join('\n'),
  );
  const env = {
    ...process.env,
    TZ: RSYSLOG_TZ,
    LOGSENTINEL_URL: `http://127.0.0.1:${port}`,
    LOGSENTINEL_TOKEN: INGEST_TOKEN,
    LOGSENTINEL_ERRORFILE: errorFile,
  };
  const child: ChildProcess = spawn(RSYSLOGD!, [...MODULE_ARGS, '-n', '-f', config, '-i', join(dir, 'rsyslogd.pid')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const supervised = supervise(t, child, dir);
  return {
    write: (lines) => appendFileSync(input, lines.map((l) => `${l}\n`).join('')),
    ...supervised,
    errorFile,
  };
}

/** Polls `probe` until it returns a value, failing after `waitMs` or as soon as rsyslogd exits. */
async function waitWhileUp<T>(what: string, rsyslog: Rsyslog, probe: () => Promise<T | undefined> | T | undefined, waitMs = WAIT_MS): Promise<T> {
  return waitFor(
    async () => {
      const value = await probe();
      if (value === undefined && rsyslog.exited()) assert.fail(`rsyslogd exited while waiting for ${what}:\n${rsyslog.output()}`);
      return value;
    },
    { timeoutMs: waitMs, intervalMs: 50, what: () => `${what}; rsyslogd said:\n${rsyslog.output()}` },
  );
}

/** PRI = facility * 8 + severity (RFC 3164). */
const pri = (facility: number, severity: number): string => `<${facility * 8 + severity}>`;
const FAC = { user: 1, mail: 2, daemon: 3, auth: 4, cron: 9, local0: 16, local7: 23 };

interface Case {
  line: string;
  /** The timestamp expected as sent, or undefined when the line has none and rsyslog stamps its arrival. */
  timestamp: string | undefined;
  expected: Pick<LogView, 'level' | 'service' | 'message' | 'metadata'>;
}

/** One line per syslog severity and the edge cases of the shipped mapping, each with the log it must become. */
function cases(): Case[] {
  const host = hostname().split('.')[0]!;
  const meta = (facility: string, host_ = host): Record<string, unknown> => ({ 'host.name': host_, 'log.syslog.facility.name': facility, _index: 'syslog' });
  const arrived = (line: string, level: LogView['level'], service: string, message: string, facility: string): Case => ({
    line,
    timestamp: undefined,
    expected: { level, service, message, metadata: meta(facility) },
  });
  const hostile = 'upstream sent "quoted" text, a back\\slash and ünïcødé ✓';
  return [
    arrived(`${pri(FAC.user, 1)}watchdog[7]: Too many open files`, 'CRITICAL', 'watchdog', 'Too many open files', 'user'),
    arrived(`${pri(FAC.auth, 2)}sshd[812]: Too many authentication failures`, 'CRITICAL', 'sshd', 'Too many authentication failures', 'auth'),
    arrived(`${pri(FAC.mail, 3)}postfix/smtp[2210]: connect to mx.example: Connection timed out`, 'ERROR', 'postfix', 'connect to mx.example: Connection timed out', 'mail'),
    arrived(`${pri(FAC.daemon, 4)}nginx[1234]: ${hostile}`, 'WARNING', 'nginx', hostile, 'daemon'),
    arrived(`${pri(FAC.cron, 5)}CRON[5150]: (root) CMD (run-parts /etc/cron.hourly)`, 'INFO', 'CRON', '(root) CMD (run-parts /etc/cron.hourly)', 'cron'),
    arrived(`${pri(FAC.local0, 6)}billing: invoice 42 sent`, 'INFO', 'billing', 'invoice 42 sent', 'local0'),
    arrived(`${pri(FAC.local7, 7)}worker[9]: cache warm`, 'DEBUG', 'worker', 'cache warm', 'local7'),
    // rsyslog escapes control characters as it receives them (its default), before JSON ever sees them.
    arrived(`${pri(FAC.local0, 4)}tabs: a\ttab`, 'WARNING', 'tabs', 'a#011tab', 'local0'),
    // No message: the shipped ruleset sends a placeholder, as the server refuses empty ones.
    arrived(`${pri(FAC.user, 3)}backup[31]:`, 'ERROR', 'backup', '(empty message)', 'user'),
    // No program: the service falls back to "syslog".
    arrived(`${pri(FAC.user, 5)}: a message naming no program`, 'INFO', 'syslog', 'a message naming no program', 'user'),
    // An RFC 5424 line: its own time is kept exactly as sent, offset and fraction included.
    {
      line: `${pri(FAC.user, 6)}1 2024-01-15T14:30:00.123+02:00 web-02 payments 77 - - settled batch 9`,
      timestamp: '2024-01-15T14:30:00.123+02:00',
      expected: { level: 'INFO', service: 'payments', message: 'settled batch 9', metadata: meta('user', 'web-02') },
    },
  ];
}

/** Every case arrived exactly once, mapped as expected. */
function assertDelivered(logs: LogView[], expected: Case[], sentAt: number): void {
  for (const c of expected) {
    const matching = logs.filter((l) => l.message === c.expected.message);
    assert.equal(matching.length, 1, `exactly one log with message ${JSON.stringify(c.expected.message)}: ${JSON.stringify(logs, null, 1)}`);
    const { id: _id, received_at: _receivedAt, timestamp, pattern_id, ...rest } = matching[0]!;
    assert.ok(Number.isInteger(pattern_id) && pattern_id! > 0, `a syslog line gets a pattern like any other log (pattern_id ${pattern_id})`);
    assert.deepEqual(rest, c.expected, `line ${JSON.stringify(c.line)}`);
    if (c.timestamp !== undefined) {
      assert.equal(timestamp, c.timestamp, `line ${JSON.stringify(c.line)}`);
    } else {
      // Arrival time, to the microsecond, in rsyslogd's zone.
      assert.match(timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+05:30$/);
      const ms = Date.parse(timestamp);
      assert.ok(ms >= sentAt - 1_000 && ms <= Date.now() + 1_000, `arrival stamp ${timestamp} is not around the time the line was written`);
    }
  }
}

interface ErrorRecord {
  request: { url: string; postdata: string };
  reply: { errors?: boolean; items?: Record<string, { status: number; error?: { type: string; reason: string } }>[] };
}

/** The records omelasticsearch wrote to its error file: one JSON object per line. */
function errorRecords(path: string): ErrorRecord[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as ErrorRecord);
}

describe('rsyslog omelasticsearch with the shipped LogSentinel output', { skip }, () => {
  test('bulk requests with Basic auth: every line arrives mapped, and a refused document is reported to rsyslog per item', async (t) => {
    const port = await freePort();
    const server = await makeServer(t, port);
    await server.listen();
    const rsyslog = startRsyslog(t, port);
    const expected = cases();
    const tooLong = `${pri(FAC.daemon, 3)}chatty[5]: ${'x'.repeat(MAX_MESSAGE + 50)}`;
    const sentAt = Date.now();
    rsyslog.write([...expected.slice(0, 4).map((c) => c.line), tooLong, ...expected.slice(4).map((c) => c.line)]);

    const logs = await waitWhileUp(`the server to hold ${expected.length} logs`, rsyslog, async () => {
      const stored = await storedLogs(server.app);
      return stored.length >= expected.length ? stored : undefined;
    });
    assertDelivered(logs, expected, sentAt);
    assert.equal(logs.length, expected.length, 'the refused document is not stored');

    // rsyslog saw the per-item failure: its error file holds the request and our reply, whose
    // item for the long line is a 400 naming the limit, while the items around it are 201.
    const records = await waitWhileUp('rsyslog to write its error file', rsyslog, () => {
      const found = errorRecords(rsyslog.errorFile);
      return found.length > 0 ? found : undefined;
    });
    assert.equal(records.length, 1, JSON.stringify(records));
    const [record] = records;
    assert.ok(record!.request.postdata.includes('x'.repeat(MAX_MESSAGE + 50)), 'the error file holds the request with the refused document');
    assert.equal(record!.reply.errors, true);
    const statuses = record!.reply.items!.map((item) => item.index!.status);
    assert.ok(statuses.includes(201), `the refused document's neighbours were stored: ${statuses.join(', ')}`);
    const failed = record!.reply.items!.filter((item) => item.index!.status !== 201);
    assert.deepEqual(failed, [
      {
        index: { _index: 'syslog', _id: null, status: 400, error: { type: 'document_parsing_exception', reason: `'message' is longer than the limit of ${MAX_MESSAGE} characters` } },
      },
    ]);

    const bulkRequests = server.requests.filter((r) => r.url === '/_bulk');
    assert.ok(bulkRequests.length > 0);
    const basic = `Basic ${Buffer.from(`rsyslog:${INGEST_TOKEN}`).toString('base64')}`;
    for (const r of bulkRequests) {
      assert.deepEqual(r, { method: 'POST', url: '/_bulk', contentType: 'application/json; charset=utf-8', authorization: basic, status: 200 });
    }
    assert.deepEqual(
      server.requests.filter((r) => r.url !== '/_bulk'),
      [],
      'rsyslog made no request but bulk ones while the server was up',
    );
  });

  test('a server not up yet: rsyslog keeps the lines, probes GET /_cat/health (404 here) and then delivers them', { timeout: RESUME_WAIT_MS + 15_000 }, async (t) => {
    const port = await freePort();
    const server = await makeServer(t, port);
    const rsyslog = startRsyslog(t, port);
    const expected = cases().slice(0, 3);
    rsyslog.write(expected.map((c) => c.line));
    await waitWhileUp('rsyslog to find the server unreachable', rsyslog, () => (/suspend|Couldn't connect/i.test(rsyslog.output()) ? true : undefined));
    await server.listen();

    const logs = await waitWhileUp(
      `the server to hold ${expected.length} logs`,
      rsyslog,
      async () => {
        const stored = await storedLogs(server.app);
        return stored.length >= expected.length ? stored : undefined;
      },
      RESUME_WAIT_MS,
    );
    assert.deepEqual(logs.map((l) => l.message).sort(), expected.map((c) => c.expected.message).sort());
    const probes = server.requests.filter((r) => r.url !== '/_bulk');
    assert.ok(probes.length > 0, 'rsyslog probed the server before sending again');
    for (const probe of probes) assert.deepEqual([probe.method, probe.url, probe.status], ['GET', '/_cat/health', 404]);
    assert.ok(server.requests.some((r) => r.url === '/_bulk' && r.status === 200));
  });
});
