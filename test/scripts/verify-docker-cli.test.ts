import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * `npm run verify:docker -- --help` prints its usage; a wrong option is named, with the usage,
 * never a stack trace. A compose file or load balancer config that breaks the cluster profile
 * fails the static checks, which run before the slow part (npm ci, the servers), naming why.
 */

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
    assert.match(r.stdout, /--skip-cluster/);
    assert.match(r.stdout, /--nginx PATH/);
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

interface Edits {
  compose?: (text: string) => string;
  nginx?: (text: string) => string;
  config?: (text: string) => string;
}

/**
 * docker-compose.yml and deploy/ copied to a temporary folder (the build context still this
 * project), changed by `edits`, and checked. Killed after 60 s: a variant that passed the static
 * checks would go on to the slow part.
 */
async function verifyVariant(edits: Edits): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'verify-docker-cli-'));
  try {
    mkdirSync(join(dir, 'deploy'));
    const compose = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8').replace(/^(\s*(?:build|context): )\.$/gm, `$1${ROOT}`);
    assert.notEqual(compose, readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), 'the build contexts point at this project');
    writeFileSync(join(dir, 'docker-compose.yml'), edits.compose ? edits.compose(compose) : compose);
    for (const [name, edit] of [
      ['nginx.conf', edits.nginx],
      ['config.cluster.yaml', edits.config],
    ] as const) {
      const text = readFileSync(join(ROOT, 'deploy', name), 'utf8');
      if (edit) {
        const changed = edit(text);
        assert.notEqual(changed, text, `the edit of deploy/${name} changes it`);
        writeFileSync(join(dir, 'deploy', name), changed);
      } else copyFileSync(join(ROOT, 'deploy', name), join(dir, 'deploy', name));
    }
    return await new Promise((done, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/verify-docker.ts', '--skip-build', '--compose', join(dir, 'docker-compose.yml')], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 60_000);
      child.on('error', reject);
      child.on('close', (status) => {
        clearTimeout(timer);
        done({ status, stdout, stderr });
      });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const broken: { what: string; edits: Edits; says: RegExp }[] = [
  {
    what: 'app without a profile of its own',
    edits: { compose: (t) => t.replace(/^ {4}profiles: \[single\]\n/m, '') },
    says: /with --profile cluster, app and lb both publish host port 5050/,
  },
  {
    what: 'a replica with the REPLICA_ID of another',
    edits: { compose: (t) => t.replace(/REPLICA_ID: app-3/, 'REPLICA_ID: app-1') },
    says: /app-3: REPLICA_ID app-1 is app-1's too/,
  },
  {
    what: 'a replicas config that differs from config.yaml beyond trust_proxy',
    edits: { config: (t) => t.replace('demo-reader-token-005', 'demo-reader-token-006') },
    says: /config\.cluster\.yaml and config\.yaml configure the server differently at auth\.tokens\[4\]\.token: "demo-reader-token-006" against "demo-reader-token-005"/,
  },
  {
    what: 'an upstream missing a replica',
    edits: { nginx: (t) => t.replace(/^ *server app-3:5000 resolve;\n/m, '') },
    says: /app-3 is not in it/,
  },
  {
    what: 'a tail location that buffers',
    edits: { nginx: (t) => t.replace(/proxy_buffering off;/, 'proxy_buffering on;') },
    says: /proxy_buffering is not off/,
  },
  {
    what: "a location's own proxy_set_header, which drops the server's X-Forwarded-For",
    edits: { nginx: (t) => t.replace(/proxy_cache off;/, 'proxy_cache off;\n            proxy_set_header Accept text/event-stream;') },
    says: /X-Forwarded-For is not set/,
  },
];

test('a broken cluster profile fails the static checks, before npm ci, saying what is wrong', async () => {
  const results = await Promise.all(broken.map((b) => verifyVariant(b.edits)));
  broken.forEach((b, i) => {
    const r = results[i]!;
    assert.equal(r.status, 1, `${b.what}: exit ${r.status}\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /^verify-docker: FAILED: /, b.what);
    assert.match(r.stderr, b.says, b.what);
    assert.doesNotMatch(r.stdout, /npm ci/, `${b.what}: failed before the slow part`);
  });
});
