import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/** `npm start` builds a part only when it is missing or older than its sources, so a restart is quick. */

const SCRIPT = resolve(import.meta.dirname, '../../scripts/build-if-stale.mjs');

function run(root: string): string {
  return execFileSync(process.execPath, [SCRIPT, '--dry-run', '--root', root], { encoding: 'utf8' });
}

function file(root: string, path: string, at: number): void {
  const full = join(root, path);
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, '');
  utimesSync(full, at / 1000, at / 1000);
}

test('builds what is missing, then nothing while the build is newer than its sources, then what a change made stale', () => {
  const root = mkdtempSync(join(tmpdir(), 'logsentinel-start-'));
  try {
    const t = Date.parse('2026-01-01T00:00:00Z');
    file(root, 'server/main.ts', t);
    file(root, 'server/core/log.ts', t);
    file(root, 'web/src/main.ts', t);
    file(root, 'web/index.html', t);
    assert.equal(run(root), 'building the server (not built yet)\nbuilding the dashboard (not built yet)\n');

    file(root, 'dist/server/main.js', t + 1000);
    file(root, 'web/dist/index.html', t + 1000);
    // A file inside the build output is not a source.
    file(root, 'web/dist/assets/app.js', t + 5000);
    assert.equal(run(root), '');

    file(root, 'server/core/log.ts', t + 2000);
    assert.equal(run(root), 'building the server (its sources changed)\n');
    file(root, 'dist/server/main.js', t + 3000);
    file(root, 'server/api-types.ts', t + 4000);
    assert.equal(run(root), 'building the server (its sources changed)\nbuilding the dashboard (its sources changed)\n');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
