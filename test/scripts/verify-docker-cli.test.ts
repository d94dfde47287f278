import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

/** `npm run verify:docker -- --help` prints its usage; a wrong option is named, with the usage, never a stack trace. */

const ROOT = resolve(import.meta.dirname, '../..');

function run(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'scripts/verify-docker.ts', ...args], { cwd: ROOT, encoding: 'utf8' });
}

test('--help and -h print the usage and exit 0', () => {
  for (const flag of ['--help', '-h']) {
    const r = run(flag);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Checks the Docker recipe without a Docker engine/);
    assert.match(r.stdout, /--skip-build/);
    assert.equal(r.stderr, '');
  }
});

test('an unknown option exits 2 naming it, with the usage and no stack trace', () => {
  const r = run('--bogus');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^Unknown option '--bogus'/);
  assert.match(r.stderr, /Usage: npm run verify:docker/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});
