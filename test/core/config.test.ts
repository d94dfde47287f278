import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostname } from 'node:os';
import { ConfigError, DEFAULTS, deepMerge, loadConfig, replicaId, resolveConfig, storageOptions } from '../../server/config.js';

const dir = mkdtempSync(join(tmpdir(), 'logsentinel-config-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text, 'utf8');
  return path;
}

/** Asserts `fn` throws a ConfigError and returns its message. */
function configError(fn: () => unknown): string {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.equal(caught.code, 'CONFIG_INVALID');
  return caught.message;
}

describe('resolveConfig', () => {
  test('no input equals DEFAULTS', () => {
    assert.deepEqual(resolveConfig(undefined), DEFAULTS);
    assert.deepEqual(resolveConfig(null), DEFAULTS);
    assert.deepEqual(resolveConfig({}), DEFAULTS);
    assert.deepEqual(resolveConfig(undefined, {}), DEFAULTS);
  });

  test('the result is deeply frozen and does not alias DEFAULTS', () => {
    const c = resolveConfig({});
    assert.equal(Object.isFrozen(c), true, 'config is frozen');
    assert.equal(Object.isFrozen(c.server), true, 'server section is frozen');
    assert.equal(Object.isFrozen(c.auth.anonymous_scopes), true, 'arrays are frozen');
    assert.notEqual(c.server, DEFAULTS.server);
  });

  test('deep merge keeps sibling defaults', () => {
    const c = resolveConfig({ server: { port: 8080 }, limits: { max_services: 5 } });
    assert.equal(c.server.port, 8080);
    assert.equal(c.server.host, DEFAULTS.server.host);
    assert.equal(c.server.log_level, DEFAULTS.server.log_level);
    assert.equal(c.server.trust_proxy, DEFAULTS.server.trust_proxy);
    assert.equal(c.limits.max_services, 5);
    assert.equal(c.limits.max_users, DEFAULTS.limits.max_users);
    assert.deepEqual(c.storage, DEFAULTS.storage);
    assert.deepEqual(c.alerting, DEFAULTS.alerting);
  });

  test('arrays replace rather than merge', () => {
    const c = resolveConfig({ auth: { anonymous_scopes: ['read'] } });
    assert.deepEqual(c.auth.anonymous_scopes, ['read']);
    assert.deepEqual(c.auth.tokens, []);
    const none = resolveConfig({ auth: { anonymous_scopes: [] } });
    assert.deepEqual(none.auth.anonymous_scopes, []);
    assert.deepEqual(deepMerge({ a: [1, 2, 3], b: 1 }, { a: [9] }), { a: [9], b: 1 });
  });

  test('deepMerge: undefined keeps the base, null and scalars replace', () => {
    assert.deepEqual(deepMerge({ a: 1 }, undefined), { a: 1 });
    assert.deepEqual(deepMerge({ a: { b: 1, c: 2 } }, { a: { c: 3 } }), { a: { b: 1, c: 3 } });
    assert.equal(deepMerge({ a: 1 }, null), null);
    assert.equal(deepMerge({ a: 1 }, 5), 5);
  });

  test('env PORT/HOST/LOG_LEVEL override the file', () => {
    const raw = { server: { port: 1234, host: 'file-host', log_level: 'warn' } };
    const c = resolveConfig(raw, { PORT: '8080', HOST: '127.0.0.1', LOG_LEVEL: 'debug' });
    assert.equal(c.server.port, 8080);
    assert.equal(c.server.host, '127.0.0.1');
    assert.equal(c.server.log_level, 'debug');
    // Without env the file values stand; empty env values are ignored.
    const f = resolveConfig(raw, { PORT: '', HOST: '' });
    assert.equal(f.server.port, 1234);
    assert.equal(f.server.host, 'file-host');
    assert.equal(f.server.log_level, 'warn');
  });

  test('PORT=abc names server.port (from PORT)', () => {
    const msg = configError(() => resolveConfig({}, { PORT: 'abc' }));
    assert.match(msg, /server\.port \(from PORT\)/);
    assert.equal(msg, 'config: server.port (from PORT) must be integer');
  });

  test('PORT out of range and bad LOG_LEVEL name their env var', () => {
    assert.match(configError(() => resolveConfig({}, { PORT: '70000' })), /^config: server\.port \(from PORT\) must be <= 65535$/);
    const lvl = configError(() => resolveConfig({}, { LOG_LEVEL: 'loud' }));
    assert.match(lvl, /^config: server\.log_level \(from LOG_LEVEL\) must be one of "fatal", "error"/);
  });

  test('env STORAGE_PATH and EXTERNAL_URL override nested keys and keep their siblings', () => {
    const raw = { storage: { persistence: { path: './file.db', synchronous: 'full' } }, alerting: { external_url: 'http://file.test' } };
    const c = resolveConfig(raw, { STORAGE_PATH: '/data/logs.db', EXTERNAL_URL: 'http://localhost:5050' });
    assert.equal(c.storage.persistence.path, '/data/logs.db');
    assert.equal(c.storage.persistence.synchronous, 'full');
    assert.equal(c.storage.persistence.enabled, DEFAULTS.storage.persistence.enabled);
    assert.equal(c.storage.max_logs, DEFAULTS.storage.max_logs);
    assert.equal(c.alerting.external_url, 'http://localhost:5050');
    assert.equal(c.alerting.error_rate_threshold, DEFAULTS.alerting.error_rate_threshold);
    // Without env (or with empty values) the file values stand.
    const f = resolveConfig(raw, { STORAGE_PATH: '', EXTERNAL_URL: '' });
    assert.equal(f.storage.persistence.path, './file.db');
    assert.equal(f.alerting.external_url, 'http://file.test');
    // Over the defaults alone.
    assert.equal(resolveConfig(undefined, { STORAGE_PATH: '/data/logs.db' }).storage.persistence.path, '/data/logs.db');
  });

  test('STORAGE_BACKEND, DATABASE_URL and REPLICA_ID select PostgreSQL; SQLite stays the default', () => {
    assert.equal(storageOptions(resolveConfig(undefined)).engine, 'sqlite');
    const c = resolveConfig({ server: { port: 5001 } }, { STORAGE_BACKEND: 'postgres', DATABASE_URL: 'postgres://app:secret@db:5432/logs', REPLICA_ID: 'app-2' });
    const o = storageOptions(c);
    assert.equal(o.engine, 'postgres');
    assert.ok(o.engine === 'postgres');
    assert.equal(o.url, 'postgres://app:secret@db:5432/logs');
    assert.equal(o.replicaId, 'app-2');
    assert.equal(o.schema, 'logsentinel');
    assert.equal(o.poolSize, DEFAULTS.storage.postgres.pool_size);
    assert.deepEqual(o.analyticsWindow, { maxBuckets: DEFAULTS.analytics.max_buckets, futureSkewMs: DEFAULTS.analytics.future_skew_seconds * 1000 });
    // Unnamed: the host name and the port, so replicas on one host differ.
    assert.equal(replicaId(resolveConfig({ server: { port: 5001 } })), `${hostname()}:5001`.slice(0, 63));
    assert.match(configError(() => resolveConfig({}, { DATABASE_URL: 'mysql://x' })), /storage\.postgres\.url \(from DATABASE_URL\) must match pattern/);
    assert.match(configError(() => resolveConfig({}, { STORAGE_BACKEND: 'mongo' })), /storage\.backend \(from STORAGE_BACKEND\) must be one of "sqlite", "postgres"/);
    assert.match(configError(() => resolveConfig({ storage: { postgres: { schema: 'a; drop' } } })), /storage\.postgres\.schema must match pattern/);
  });

  test('a bad EXTERNAL_URL names its env var and the dotted key', () => {
    const msg = configError(() => resolveConfig({}, { EXTERNAL_URL: 'localhost:5050' }));
    assert.match(msg, /^config: alerting\.external_url \(from EXTERNAL_URL\) must match pattern/);
  });

  test('an invalid file value without env does not mention env', () => {
    const msg = configError(() => resolveConfig({ server: { port: 'x' } }, {}));
    assert.equal(msg, 'config: server.port must be integer');
  });

  test('an unknown key names its dotted path', () => {
    const msg = configError(() => resolveConfig({ server: { prot: 80 } }));
    assert.match(msg, /^config: server\.prot is not a known key/);
    const top = configError(() => resolveConfig({ storag: {} }));
    assert.match(top, /^config: storag is not a known key/);
  });

  test('a wrong type names the dotted key', () => {
    const msg = configError(() => resolveConfig({ storage: { max_logs: 'many' } }));
    assert.equal(msg, 'config: storage.max_logs must be integer');
    const b = configError(() => resolveConfig({ simulation: { enabled: 'yes' } }));
    assert.equal(b, 'config: simulation.enabled must be boolean');
  });

  test('a negative number names the dotted key', () => {
    const msg = configError(() => resolveConfig({ analytics: { future_skew_seconds: -5 } }));
    assert.equal(msg, 'config: analytics.future_skew_seconds must be >= 0');
    const m2 = configError(() => resolveConfig({ limits: { max_services: -1 } }));
    assert.equal(m2, 'config: limits.max_services must be >= 1');
  });

  test('admin in auth.anonymous_scopes is rejected naming the key', () => {
    const msg = configError(() => resolveConfig({ auth: { anonymous_scopes: ['read', 'admin'] } }));
    assert.match(msg, /^config: auth\.anonymous_scopes(\.1)? /);
    assert.match(msg, /must be one of "ingest", "read"/);
  });

  test('a token shorter than 16 characters names the token path', () => {
    const msg = configError(() => resolveConfig({ auth: { tokens: [{ token: 'short', scopes: ['read'] }] } }));
    assert.match(msg, /^config: auth\.tokens\.0\.token /);
  });

  test('a top level that is not a mapping is rejected', () => {
    const msg = configError(() => resolveConfig(['a'], {}, 'my.yaml'));
    assert.match(msg, /^my\.yaml: the top level must be a mapping/);
    configError(() => resolveConfig('text'));
  });

  test('a section set to null is a type error naming the section', () => {
    assert.equal(configError(() => resolveConfig({ server: null })), 'config: server must be object');
  });
});

describe('loadConfig', () => {
  test('missing file with required=false returns the defaults', () => {
    const c = loadConfig({ path: join(dir, 'does-not-exist.yaml'), required: false, env: {} });
    assert.deepEqual(c, DEFAULTS);
  });

  test('missing file with required=true throws naming the path', () => {
    const path = join(dir, 'missing-required.yaml');
    const msg = configError(() => loadConfig({ path, required: true, env: {} }));
    assert.ok(msg.startsWith(`${path}: no such file`), msg);
  });

  test('CONFIG_PATH in env makes the file required', () => {
    const path = join(dir, 'missing-from-env.yaml');
    const msg = configError(() => loadConfig({ env: { CONFIG_PATH: path } }));
    assert.ok(msg.includes(path), msg);
  });

  test('a valid file is merged over the defaults and env still wins', () => {
    const path = file('good.yaml', 'server:\n  port: 7000\n  host: example.test\nstorage:\n  max_logs: 500\n');
    const c = loadConfig({ path, env: { HOST: 'env-host' } });
    assert.equal(c.server.port, 7000);
    assert.equal(c.server.host, 'env-host');
    assert.equal(c.storage.max_logs, 500);
    assert.equal(c.server.log_level, DEFAULTS.server.log_level);
  });

  test('the shipped config.yaml with the container image env keeps the database under /data', () => {
    const path = fileURLToPath(new URL('../../config.yaml', import.meta.url));
    const c = loadConfig({ env: { CONFIG_PATH: path, STORAGE_PATH: '/data/logs.db', EXTERNAL_URL: 'http://localhost:5050' } });
    assert.equal(c.storage.persistence.path, '/data/logs.db');
    assert.equal(c.alerting.external_url, 'http://localhost:5050');
    assert.equal(loadConfig({ path, env: {} }).storage.persistence.path, './data/logs.db');
  });

  test('an empty file gives the defaults', () => {
    const path = file('empty.yaml', '# nothing here\n');
    assert.deepEqual(loadConfig({ path, env: {} }), DEFAULTS);
  });

  test('invalid YAML throws a one-line message naming the path', () => {
    const path = file('bad.yaml', 'server:\n  port: [1, 2\n  host: "unterminated\n');
    const msg = configError(() => loadConfig({ path, env: {} }));
    assert.ok(msg.startsWith(`${path}: is not valid YAML (`), msg);
    assert.ok(!msg.includes('\n'), `message spans lines: ${JSON.stringify(msg)}`);
    assert.ok(msg.endsWith(')'), msg);
  });

  test('a schema error in a file names the file path and dotted key', () => {
    const path = file('unknown.yaml', 'analytics:\n  max_bucket: 5\n');
    const msg = configError(() => loadConfig({ path, env: {} }));
    assert.ok(msg.startsWith(`${path}: analytics.max_bucket is not a known key`), msg);
  });
});
