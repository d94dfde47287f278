import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'logsentinel-reliability-'));
  dirs.push(dir);
  return dir;
}

/** A stand-in for the built dashboard (index.html and one hashed asset), so tests do not depend on a build. */
export function fakeDashboard(): string {
  const root = tempDir();
  mkdirSync(join(root, 'assets'));
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>LogSentinel</title>');
  writeFileSync(join(root, 'assets', 'app-1234.js'), 'console.log(1);');
  return root;
}

/** Asserts our error shape: exactly `{error, code}` with the given status and code; returns the message. */
export function expectError(res: LightMyRequestResponse, status: number, code: string): string {
  assert.equal(res.statusCode, status, res.body);
  const body = res.json() as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error'], res.body);
  assert.equal(body.code, code);
  assert.equal(typeof body.error, 'string');
  return body.error as string;
}
