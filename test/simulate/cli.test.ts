import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import type { ShipSummary } from '../../server/simulate/shipper.js';
import { ADMIN_TOKEN } from '../helpers.js';
import { freePort, onExit, startServer, storedCounts, tempDir, waitFor, writeFile } from './support.js';

/** `node --import tsx server/simulate/cli.ts ...` as a child process against the in-process server. */

const ROOT = resolve(import.meta.dirname, '../..');

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Cli {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<Exit>;
}

const children = new Set<ChildProcess>();
onExit(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Starts the CLI with `args`; its environment has no CONFIG_PATH or LOGSENTINEL_URL. Killed after `limitMs`. */
function spawnCli(args: string[], limitMs = 30_000): Cli {
  const env = { ...process.env };
  delete env.CONFIG_PATH;
  delete env.LOGSENTINEL_URL;
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/simulate/cli.ts', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const limit = setTimeout(() => child.kill('SIGKILL'), limitMs);
  const exited = new Promise<Exit>((done) =>
    child.on('close', (code, signal) => {
      clearTimeout(limit);
      done({ code, signal, stdout, stderr });
    }),
  );
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

function runCli(args: string[], limitMs?: number): Promise<Exit> {
  return spawnCli(args, limitMs).exited;
}

function assertNoStack(text: string): void {
  assert.doesNotMatch(text, /^\s+at /m, `no stack trace:\n${text}`);
  assert.doesNotMatch(text, /Error:|node:internal/, `no error dump:\n${text}`);
}

const FAST = ['--rate', '1000', '--batch', '5', '--backoff', '10ms', '--backoff-max', '50ms'];

describe('the simulate CLI', () => {
  test('--help prints the usage and exits 0', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await runCli(['--no-config', flag]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Usage: logsentinel-simulate \[options\]/);
      assert.match(r.stdout, /--flush-timeout DURATION/);
      assert.match(r.stdout, /Exit status: 0 when every log was accepted/);
      assert.equal(r.stderr, '');
    }
  });

  test('a bad flag exits 2 with a one-line message naming it, and no stack trace', async () => {
    const cases: [string[], RegExp][] = [
      [['--bogus'], /^simulate: Unknown option '--bogus'$/],
      [['--rate', 'fast'], /^simulate: --rate: "fast" must be a number/],
      [['--format', 'xml'], /^simulate: --format: "xml" is not json or ndjson$/],
      [['--url', 'ftp://127.0.0.1/x'], /^simulate: --url: only http/],
      [['--duration', '600h'], /^simulate: --duration: /],
    ];
    // Should a flag get through, the run goes nowhere and ends at once.
    const nowhere = ['--url', `http://127.0.0.1:${await freePort()}`, '--flush-timeout', '200ms'];
    const results = await Promise.all(cases.map(([args]) => runCli(['--no-config', ...nowhere, ...args], 15_000)));
    results.forEach((r, i) => {
      const [args, message] = cases[i]!;
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      const lines = r.stderr.trimEnd().split('\n');
      assert.match(lines[0]!, message);
      assert.deepEqual(lines.slice(1), ['Run with --help to see the options.']);
      assertNoStack(r.stderr);
    });
  });

  test('--count 40 --json --quiet: exit 0, the JSON summary on stdout agrees with the server', async () => {
    const server = await startServer();
    const r = await runCli(['--no-config', '--url', server.base, '--count', '40', '--json', '--quiet', ...FAST]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', 'quiet');
    const summary = JSON.parse(r.stdout) as ShipSummary;
    assert.equal(summary.endpoint, `${server.base}/api/logs`);
    assert.equal(summary.aborted, false);
    assert.equal(summary.total.generated, 40);
    assert.equal(summary.total.accepted, 40);
    assert.equal(summary.total.dropped, 0);
    assert.equal(summary.services.length, 5);
    const counts = await storedCounts(server.app);
    for (const s of summary.services) {
      assert.equal(s.accepted, 8, s.service);
      assert.equal(s.state, 'done');
      assert.equal(counts[s.service], s.accepted, `${s.service}: the server holds what the summary says`);
    }
    assert.equal(Object.keys(counts).length, 5);
  });

  test('not on a terminal, without --quiet: a start line on stderr, the summary table on stdout', async () => {
    const server = await startServer();
    const r = await runCli(['--no-config', '--url', server.base, '--count', '20', '--services', '2', ...FAST]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`^Shipping to ${server.base}/api/logs: 2 services, 1,000 logs/s each in json batches of 5, until 20 logs\\.`));
    assert.match(r.stderr, /Tokens: auth-service \(anonymous\), payment-service \(anonymous\)/);
    assert.doesNotMatch(r.stderr + r.stdout, /\x1b\[/, 'no cursor movement when not on a terminal');
    assert.match(r.stdout, /^20 logs generated in \d+\.\d s, shipped to http:\/\/127\.0\.0\.1:\d+\/api\/logs as json$/m);
    assert.match(r.stdout, /^service\s+sent\s+accepted\s+rejected\s+retried\s+dropped\s+logs\/s$/m);
    assert.match(r.stdout, /^auth-service\s+10\s+10\s+0\s+0\s+0\s+\d/m);
    assert.match(r.stdout, /^payment-service\s+10\s+10\s+0\s+0\s+0\s+\d/m);
    assert.match(r.stdout, /^total\s+20\s+20\s+0\s+0\s+0\s+\d/m);
    assert.match(r.stdout, /^-+$/m);
  });

  test('--config: each service ships with its token from the server config', async () => {
    const tokens = { 'auth-service': 'cli-auth-service-token-001', 'payment-service': 'cli-payment-service-tok-01' };
    const auth = {
      anonymous_scopes: [],
      tokens: [
        { token: ADMIN_TOKEN, scopes: ['ingest', 'read', 'admin'] },
        ...Object.entries(tokens).map(([service, token]) => ({ token, service, scopes: ['ingest'] })),
      ],
    };
    const server = await startServer({ auth });
    const config = writeFile(tempDir(), 'server.yaml', JSON.stringify({ auth }));
    const r = await runCli(['--config', config, '--url', server.base, '--count', '20', '--services', '2', '--json', ...FAST]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`Tokens: auth-service \\(${config}\\), payment-service \\(${config}\\)`));
    assert.equal((JSON.parse(r.stdout) as ShipSummary).total.accepted, 20);
    for (const [service, token] of Object.entries(tokens)) {
      const mine = server.answers.filter((a) => a.authorization === `Bearer ${token}`);
      assert.ok(mine.length > 0 && mine.every((a) => a.status === 201), service);
    }
    assert.equal(server.answers.length, server.answers.filter((a) => a.status === 201).length);
  });

  test('--quiet with a refused token: one line per stopped service on stderr, exit 1', async () => {
    const server = await startServer({ auth: { anonymous_scopes: [] } });
    const r = await runCli(['--no-config', '--url', server.base, '--count', '20', '--services', '2', '--quiet', '--token', 'wrong-token-000000000001', ...FAST]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 2, r.stderr);
    assert.match(lines[0]!, /^simulate: auth-service stopped after HTTP 401: /);
    assert.match(lines[1]!, /^simulate: payment-service stopped after HTTP 401: /);
    assert.equal(server.answers.length, 2, 'one request per service');
  });

  test('SIGINT mid-run: it stops generating, flushes what is queued and in flight, and exits 0', { timeout: 60_000 }, async () => {
    const server = await startServer();
    const cli = spawnCli(['--no-config', '--url', server.base, '--services', '2', '--duration', '60s', '--rate', '100', '--batch', '5', '--json']);
    await waitFor('the server has logs from the CLI', async () => (await server.app.inject({ method: 'GET', url: '/health' })).json().total_logs >= 20, 20_000);
    // Hold the next request of each service at the server, so logs are in flight and queued at the signal.
    server.gate.close();
    await waitFor('a request from each service is held', () => server.gate.held === 2);
    cli.child.kill('SIGINT');
    await waitFor('the CLI says it is stopping', () => /SIGINT: stopping; delivering queued logs for up to 30 s/.test(cli.stderr()));
    const t0 = Date.now();
    server.gate.open();
    const r = await cli.exited;
    assert.ok(Date.now() - t0 < 5000, `exited ${Date.now() - t0} ms after the flush could start`);
    assert.equal(r.code, 0, r.stderr);
    assertNoStack(r.stderr);
    const summary = JSON.parse(r.stdout) as ShipSummary;
    assert.equal(summary.aborted, false);
    assert.equal(summary.total.dropped, 0);
    assert.equal(summary.total.rejected, 0);
    assert.equal(summary.total.accepted, summary.total.generated);
    assert.ok(summary.elapsed_s < 30, 'it did not run for the whole duration');
    const counts = await storedCounts(server.app);
    for (const s of summary.services) assert.equal(counts[s.service], s.accepted, `${s.service}: the server holds what was accepted`);
    assert.equal(Object.keys(counts).length, 2);
  });

  test('a second SIGINT gives up at once: exit 1, the undelivered counted dropped', { timeout: 60_000 }, async () => {
    const server = await startServer();
    const cli = spawnCli(['--no-config', '--url', server.base, '--services', '2', '--duration', '60s', '--rate', '100', '--batch', '5', '--json']);
    await waitFor('the server has logs from the CLI', async () => (await server.app.inject({ method: 'GET', url: '/health' })).json().total_logs >= 20, 20_000);
    server.gate.close();
    await waitFor('a request from each service is held', () => server.gate.held === 2);
    cli.child.kill('SIGINT');
    await waitFor('the CLI says it is stopping', () => /SIGINT: stopping/.test(cli.stderr()));
    const t0 = Date.now();
    cli.child.kill('SIGINT');
    const r = await cli.exited;
    assert.ok(Date.now() - t0 < 5000, `exited ${Date.now() - t0} ms after the second SIGINT`);
    assert.equal(r.code, 1, r.stderr);
    const summary = JSON.parse(r.stdout) as ShipSummary;
    assert.equal(summary.aborted, true);
    assert.ok(summary.total.dropped_at_exit >= 10, `the held batches were dropped: ${summary.total.dropped_at_exit}`);
    assert.equal(summary.total.generated, summary.total.accepted + summary.total.dropped);
  });

  test('refused connection with a short --flush-timeout: exit 1, no stack trace, the summary shows the logs dropped', async () => {
    const port = await freePort();
    const r = await runCli(['--no-config', '--url', `http://127.0.0.1:${port}`, '--count', '20', '--services', '2', '--flush-timeout', '300ms', ...FAST]);
    assert.equal(r.code, 1, r.stderr);
    assertNoStack(r.stderr);
    assertNoStack(r.stdout);
    assert.match(r.stdout, /^auth-service\s+0\s+0\s+0\s+[1-9]\d*\s+10\s/m);
    assert.match(r.stdout, /^payment-service\s+0\s+0\s+0\s+[1-9]\d*\s+10\s/m);
    assert.match(r.stdout, /^total\s+0\s+0\s+0\s+[1-9]\d*\s+20\s/m);
    assert.match(r.stdout, /^auth-service: 10 undelivered at exit; last error: ECONNREFUSED$/m);
    assert.match(r.stdout, /^payment-service: 10 undelivered at exit; last error: ECONNREFUSED$/m);
  });
});
