import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { NODE_FLAGS } from '../server/node-flags.js';

/** The benchmark starts the server with NODE_FLAGS: every production start must pass the same, or it measures something else. */

const ROOT = resolve(import.meta.dirname, '..');

test('npm start runs node with exactly the flags in server/node-flags.ts', () => {
  const start = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')).scripts.start as string;
  const m = /\bnode((?:\s+--\S+)*)\s+dist\/server\/main\.js\b/.exec(start);
  assert.ok(m, `the start script runs node dist/server/main.js: ${start}`);
  assert.deepEqual(m[1]!.trim().split(/\s+/).filter(Boolean), [...NODE_FLAGS]);
});

test("the Dockerfile's last CMD runs node with exactly those flags", () => {
  const cmds = readFileSync(resolve(ROOT, 'Dockerfile'), 'utf8')
    .split('\n')
    .filter((line) => /^CMD\s+\[/.test(line));
  const cmd = JSON.parse(cmds.at(-1)!.replace(/^CMD\s+/, '')) as string[];
  assert.deepEqual(cmd, ['node', ...NODE_FLAGS, 'dist/server/main.js']);
});
