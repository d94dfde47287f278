import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ConfigError, DEFAULTS, loadConfig, resolveConfig } from '../../server/config.js';

/** The reliability keys go through the same schema as every other: unknown keys and wrong values are one clear line. */

function message(raw: unknown): string {
  try {
    resolveConfig(raw);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message;
  }
  assert.fail(`accepted ${JSON.stringify(raw)}`);
}

describe('config: rate_limit, load_shedding, cors, server.shutdown_grace_seconds', () => {
  test('the shipped config.yaml holds the embedded defaults for them', () => {
    const c = loadConfig({ path: fileURLToPath(new URL('../../config.yaml', import.meta.url)), env: {} });
    assert.deepEqual(c.rate_limit, DEFAULTS.rate_limit);
    assert.deepEqual(c.load_shedding, DEFAULTS.load_shedding);
    assert.deepEqual(c.cors, DEFAULTS.cors);
    assert.equal(c.server.shutdown_grace_seconds, DEFAULTS.server.shutdown_grace_seconds);
  });

  test('defaults', () => {
    assert.equal(DEFAULTS.server.shutdown_grace_seconds, 10);
    assert.equal(DEFAULTS.rate_limit.enabled, true);
    assert.equal(DEFAULTS.load_shedding.enabled, true);
    assert.deepEqual(DEFAULTS.cors.origins, []);
  });

  test('a partial section keeps the other defaults', () => {
    const c = resolveConfig({ rate_limit: { token: { ingest: 5 } }, load_shedding: { max_rss_bytes: 2 ** 30 } });
    assert.deepEqual(c.rate_limit.token, { ingest: 5, read: DEFAULTS.rate_limit.token.read });
    assert.deepEqual(c.rate_limit.anonymous, DEFAULTS.rate_limit.anonymous);
    assert.equal(c.load_shedding.max_rss_bytes, 2 ** 30);
    assert.equal(c.load_shedding.max_heap_used_bytes, DEFAULTS.load_shedding.max_heap_used_bytes);
  });

  test('unknown keys and wrong values name the key', () => {
    assert.equal(message({ rate_limit: { max: 10 } }), 'config: rate_limit.max is not a known key (check its spelling against docs/configuration.md)');
    assert.equal(message({ rate_limit: { token: { write: 10 } } }), 'config: rate_limit.token.write is not a known key (check its spelling against docs/configuration.md)');
    assert.equal(message({ rate_limit: { window_seconds: '10s' } }), 'config: rate_limit.window_seconds must be integer');
    assert.equal(message({ rate_limit: { anonymous: { read: 0 } } }), 'config: rate_limit.anonymous.read must be >= 1');
    assert.equal(message({ rate_limit: { enabled: 'yes' } }), 'config: rate_limit.enabled must be boolean');
    assert.equal(message({ load_shedding: { max_heap_used_bytes: -1 } }), 'config: load_shedding.max_heap_used_bytes must be >= 0');
    assert.equal(message({ load_shedding: { max_event_loop_delay_ms: 1.5 } }), 'config: load_shedding.max_event_loop_delay_ms must be integer');
    assert.equal(message({ load_shedding: { retry_after_seconds: 0 } }), 'config: load_shedding.retry_after_seconds must be >= 1');
    assert.equal(message({ load_shedding: { max_heap: 1 } }), 'config: load_shedding.max_heap is not a known key (check its spelling against docs/configuration.md)');
    assert.equal(message({ cors: { origins: [1] } }), 'config: cors.origins.0 must be string');
    assert.equal(message({ server: { shutdown_grace_seconds: 0 } }), 'config: server.shutdown_grace_seconds must be > 0');
    assert.equal(message({ server: { shutdown_grace_seconds: '10' } }), 'config: server.shutdown_grace_seconds must be number');
  });
});
