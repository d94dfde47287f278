import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { startServerProcess } from '../server-process.js';
import { tempDir } from './support.js';

/**
 * Graceful shutdown of the real process (server/main.ts) within `server.shutdown_grace_seconds`:
 * on SIGTERM it stops accepting connections, lets requests in flight finish and commits them,
 * and exits 0; a request that never finishes (its body never comes) is cut one second before
 * the grace period ends, so the process still exits 0, in time.
 */

function writeConfig(dir: string, graceSeconds: number, commitIntervalMs: number): string {
  const path = join(dir, 'config.yaml');
  writeFileSync(
    path,
    `server:\n  host: 127.0.0.1\n  shutdown_grace_seconds: ${graceSeconds}\n` +
      `storage:\n  persistence:\n    enabled: true\n    path: ${JSON.stringify(join(dir, 'logs.db'))}\n    commit_interval_ms: ${commitIntervalMs}\n` +
      'alerting:\n  handlers:\n    log: false\n',
  );
  return path;
}


interface RawRequest {
  socket: Socket;
  /** Resolves when the server has taken the request (its `100 Continue`). */
  taken: Promise<void>;
  /** Everything the server wrote, once the connection ends. */
  answer: Promise<string>;
}

/**
 * POST /api/logs over a raw socket with `Expect: 100-continue`, so the test knows when the
 * server holds the request. `sendBody` false keeps the body from coming: a hung request.
 */
function rawPost(port: number, body: string, sendBody: boolean): RawRequest {
  const socket = connect(port, '127.0.0.1');
  let received = '';
  let onTaken: () => void;
  const taken = new Promise<void>((r) => (onTaken = r));
  let continued = false;
  const answer = new Promise<string>((done) => {
    socket.on('data', (d: Buffer) => {
      received += d.toString();
      if (!continued && received.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
        continued = true;
        onTaken();
        if (sendBody) socket.write(body);
      }
    });
    socket.on('close', () => done(received));
    socket.on('error', () => undefined);
  });
  socket.write(
    'POST /api/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\n\r\n`,
  );
  return { socket, taken, answer };
}

function logBody(message: string): string {
  return JSON.stringify({ timestamp: new Date().toISOString(), level: 'INFO', service: 'shutdown-test', message });
}

async function storedMessages(base: string): Promise<string[]> {
  const res = await fetch(`${base}/api/logs?service=shutdown-test&limit=1000`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { logs: { message: string }[] }).logs.map((l) => l.message).sort();
}

describe('graceful shutdown within server.shutdown_grace_seconds', () => {
  test('requests in flight at SIGTERM are answered and committed, and the process exits 0 without waiting out the grace period', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    // A long commit interval: at SIGTERM the requests wait for their commit group.
    const config = writeConfig(dir, 30, 300);
    const server = await startServerProcess(config);
    const messages = Array.from({ length: 5 }, (_, i) => `in flight ${i}`);
    const requests = messages.map((m) => rawPost(server.port, logBody(m), true));
    await Promise.all(requests.map((r) => r.taken));
    const t0 = Date.now();
    server.child.kill('SIGTERM');
    const answers = await Promise.all(requests.map((r) => r.answer));
    for (const a of answers) assert.match(a, /\r\n\r\nHTTP\/1\.1 201 Created\r\n/, a);
    const exit = await server.exited;
    const took = Date.now() - t0;
    assert.deepEqual(exit, { code: 0, signal: null }, server.output());
    assert.ok(took < 5_000, `shutdown took ${took} ms with nothing hung (grace 30 s)`);

    const again = await startServerProcess(config);
    try {
      assert.deepEqual(await storedMessages(again.base), [...messages].sort());
    } finally {
      again.child.kill('SIGTERM');
      await again.exited;
    }
  });

  test('a hung request does not hold the process past the grace period: new connections refused, it is cut, exit 0', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const graceMs = 2_000;
    const config = writeConfig(dir, graceMs / 1000, 2);
    const server = await startServerProcess(config);
    const before = await fetch(`${server.base}/api/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: logBody('acknowledged before') });
    assert.equal(before.status, 201);
    const hung = rawPost(server.port, logBody('never finished'), false);
    await hung.taken;
    hung.socket.write('{"timestamp":'); // part of the body, and then nothing

    const t0 = Date.now();
    server.child.kill('SIGTERM');
    // While the process waits for the hung request, it accepts no new connection.
    let refused = false;
    while (!refused && Date.now() - t0 < 800) {
      try {
        await (await fetch(`${server.base}/health`)).arrayBuffer();
      } catch (e) {
        // A pooled connection closed by the shutdown fails otherwise: only a refused connect counts.
        refused = (e as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED';
      }
    }
    assert.ok(refused, 'new connections are refused after SIGTERM');
    assert.equal(server.child.exitCode, null, 'the process is still finishing the request in flight');
    const exit = await server.exited;
    const took = Date.now() - t0;
    assert.deepEqual(exit, { code: 0, signal: null }, server.output());
    // It waited for the request (until 1 s before the end of the grace period), then cut it.
    assert.ok(took >= graceMs - 1000 - 50, `exited after ${took} ms: it did not wait for the request in flight`);
    assert.ok(took < graceMs, `exited after ${took} ms, past the ${graceMs} ms grace period`);
    assert.match(server.output(), /closing their connections \(server\.shutdown_grace_seconds\)/);
    const answer = await hung.answer;
    assert.doesNotMatch(answer, /HTTP\/1\.1 2\d\d/, 'the hung request was never acknowledged');

    const again = await startServerProcess(config);
    try {
      assert.deepEqual(await storedMessages(again.base), ['acknowledged before']);
    } finally {
      again.child.kill('SIGTERM');
      await again.exited;
    }
  });
});
