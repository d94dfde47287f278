import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { SIMULATED_SERVICES } from '../../server/core/simulator.js';
import { ingestEndpoint, parseCli, parseDuration, serviceList, USAGE, UsageError, type CliOptions } from '../../server/simulate/options.js';
import { tempDir, writeFile } from './support.js';

/** parseCli with no config file and an empty environment, so nothing on this machine leaks in. */
function parse(...args: string[]): CliOptions {
  return parseCli(['--no-config', ...args], {});
}

/** The call throws a UsageError whose message matches every pattern. */
function usageError(fn: () => unknown, ...mentions: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UsageError, `a UsageError, got ${String(e)}`);
    for (const m of mentions) assert.match(e.message, m);
    return true;
  });
}

function tokensOf(o: CliOptions): Record<string, string | undefined> {
  return Object.fromEntries(o.ship.services.map((s) => [s.name, s.token]));
}

describe('parseDuration', () => {
  test('ms, s, m, h, decimals and plain seconds', () => {
    const cases: [string, number][] = [
      ['500ms', 500],
      ['1ms', 1],
      ['2s', 2000],
      ['1.5s', 1500],
      ['5m', 300_000],
      ['1h', 3_600_000],
      ['3', 3000],
      ['0.25', 250],
      [' 10s ', 10_000],
    ];
    for (const [text, ms] of cases) assert.equal(parseDuration('interval', text), ms, text);
  });

  test('anything else is a UsageError naming the flag', () => {
    for (const text of ['', 'abc', 's', '10 s', '-1s', '1d', '1e3', '1.s', '.5s', '5 m']) {
      usageError(() => parseDuration('interval', text), /^--interval: /, /not a duration/);
    }
  });

  test('zero is refused', () => {
    for (const text of ['0', '0ms', '0.0s', '0h']) usageError(() => parseDuration('backoff', text), /^--backoff: must be more than zero/);
  });

  // Node.js timers hold at most 2^31-1 ms (about 24.8 days); a longer delay fires after 1 ms,
  // so `--duration 600h` stopped the run at once and `--timeout 600h` timed every request out.
  test('a duration longer than a timer can hold is refused, not silently turned into 1 ms', () => {
    for (const flag of ['duration', 'timeout', 'flush-timeout', 'backoff-max', 'interval']) {
      usageError(() => parseDuration(flag, '600h'), new RegExp(`^--${flag}: `));
      usageError(() => parseCli(['--no-config', `--${flag}`, '1000000m'], {}), new RegExp(`--${flag}`));
    }
    assert.equal(parseDuration('duration', '596h'), 596 * 3_600_000);
    assert.equal(parseDuration('duration', '2147483647ms'), 2_147_483_647);
    usageError(() => parseDuration('duration', '2147483648ms'), /^--duration: /);
  });
});

describe('serviceList', () => {
  test('no value and a number take the simulated services in order', () => {
    const five = SIMULATED_SERVICES.map((name) => ({ name, kind: name }));
    assert.deepEqual(serviceList(undefined), five);
    assert.deepEqual(serviceList('5'), five);
    assert.deepEqual(SIMULATED_SERVICES, ['auth-service', 'payment-service', 'notification-service', 'api-gateway', 'user-service']);
    assert.deepEqual(serviceList('1'), [{ name: 'auth-service', kind: 'auth-service' }]);
  });

  test('past five come numbered copies that speak like the original', () => {
    assert.deepEqual(serviceList('7'), [
      ...SIMULATED_SERVICES.map((name) => ({ name, kind: name })),
      { name: 'auth-service-2', kind: 'auth-service' },
      { name: 'payment-service-2', kind: 'payment-service' },
    ]);
    const twelve = serviceList('12');
    assert.equal(twelve.length, 12);
    assert.equal(new Set(twelve.map((s) => s.name)).size, 12, 'names are distinct');
    assert.deepEqual(twelve.slice(10), [
      { name: 'auth-service-3', kind: 'auth-service' },
      { name: 'payment-service-3', kind: 'payment-service' },
    ]);
    assert.equal(serviceList('1000').length, 1000);
  });

  test('names: the kind is inferred from the name, unknown names speak like the gateway', () => {
    assert.deepEqual(serviceList('payment,auth,billing,payment-service-3,notification-2,user-service,api, checkout '), [
      { name: 'payment', kind: 'payment-service' },
      { name: 'auth', kind: 'auth-service' },
      { name: 'billing', kind: 'api-gateway' },
      { name: 'payment-service-3', kind: 'payment-service' },
      { name: 'notification-2', kind: 'notification-service' },
      { name: 'user-service', kind: 'user-service' },
      { name: 'api', kind: 'api-gateway' },
      { name: 'checkout', kind: 'api-gateway' },
    ]);
    assert.deepEqual(serviceList(' auth-service , ,payment-service,'), [
      { name: 'auth-service', kind: 'auth-service' },
      { name: 'payment-service', kind: 'payment-service' },
    ]);
  });

  test('zero, too many, no names and a name twice are UsageErrors naming --services', () => {
    usageError(() => serviceList('0'), /^--services: /);
    usageError(() => serviceList('1001'), /^--services: at most 1000/);
    usageError(() => serviceList(','), /^--services: /);
    usageError(() => serviceList(''), /^--services: /);
    usageError(() => serviceList('auth,payment,auth'), /^--services: a service is named twice/);
  });
});

describe('ingestEndpoint', () => {
  test('a base URL gets /api/logs', () => {
    assert.equal(ingestEndpoint('http://127.0.0.1:5000'), 'http://127.0.0.1:5000/api/logs');
    assert.equal(ingestEndpoint('http://127.0.0.1:5000/'), 'http://127.0.0.1:5000/api/logs');
    assert.equal(ingestEndpoint('https://logs.example.com'), 'https://logs.example.com/api/logs');
  });

  test('a URL with a path is used as given', () => {
    assert.equal(ingestEndpoint('http://127.0.0.1:5000/api/logs'), 'http://127.0.0.1:5000/api/logs');
    assert.equal(ingestEndpoint('http://127.0.0.1:5000/proxy/ingest'), 'http://127.0.0.1:5000/proxy/ingest');
    assert.equal(ingestEndpoint('https://logs.example.com/logs'), 'https://logs.example.com/logs');
  });

  test('not a URL, or not http(s): UsageError naming --url', () => {
    for (const text of ['', 'not a url', '127.0.0.1:5000', '//127.0.0.1:5000']) usageError(() => ingestEndpoint(text), /^--url: /, /not a URL/);
    for (const text of ['ftp://127.0.0.1/logs', 'file:///tmp/logs', 'localhost:5000', 'ws://127.0.0.1:5000']) {
      usageError(() => ingestEndpoint(text), /^--url: only http:\/\/ and https:\/\//);
    }
  });

  test('parseCli: --url, else $LOGSENTINEL_URL, else localhost:5000', () => {
    assert.equal(parse().ship.endpoint, 'http://localhost:5000/api/logs');
    assert.equal(parseCli(['--no-config'], { LOGSENTINEL_URL: 'http://127.0.0.1:6000' }).ship.endpoint, 'http://127.0.0.1:6000/api/logs');
    assert.equal(parseCli(['--no-config', '--url', 'http://127.0.0.1:7000/x'], { LOGSENTINEL_URL: 'http://127.0.0.1:6000' }).ship.endpoint, 'http://127.0.0.1:7000/x');
    usageError(() => parse('--url', 'nope'), /--url/);
  });
});

describe('tokens', () => {
  const ALL = SIMULATED_SERVICES;

  /** A server config whose tokens exercise every rule: scopes, bound before and after an unbound one. */
  function configFile(tokens: string): string {
    return writeFile(tempDir(), 'config.yaml', `auth:\n  anonymous_scopes: []\n  tokens:\n${tokens}`);
  }
  const MIXED = [
    // Unbound but without the ingest scope: never used for shipping.
    '    - { name: ops, token: "ops-read-admin-token-0001", scopes: [read, admin] }',
    // Bound to payment-service but read-only: ignored, payment-service falls back to the unbound one.
    '    - { token: "payment-read-only-token-01", service: payment-service, scopes: [read] }',
    '    - { name: any, token: "unbound-ingest-token-00001", service: "*", scopes: [ingest] }',
    // Bound ones listed after the unbound one still win for their service.
    '    - { token: "auth-bound-token-000000001", service: auth-service, scopes: [ingest, read] }',
    '    - { token: "user-bound-token-000000001", service: user-service, scopes: [ingest] }',
    '    - { token: "other-bound-token-00000001", service: billing, scopes: [ingest] }',
    '',
  ].join('\n');

  test('no token anywhere: every service ships anonymously', () => {
    const o = parse();
    assert.deepEqual(tokensOf(o), Object.fromEntries(ALL.map((s) => [s, undefined])));
    assert.deepEqual(o.tokenSources, Object.fromEntries(ALL.map((s) => [s, 'anonymous'])));
  });

  test('a plain --token is every service\'s; --token SERVICE=T sets one', () => {
    assert.deepEqual(tokensOf(parse('--token', 'plain-token-0000000001')), Object.fromEntries(ALL.map((s) => [s, 'plain-token-0000000001'])));
    const one = parse('--token', 'payment-service=pay-token-0000000001');
    assert.equal(tokensOf(one)['payment-service'], 'pay-token-0000000001');
    assert.equal(tokensOf(one)['auth-service'], undefined);
    assert.equal(one.tokenSources['payment-service'], '--token');
    assert.equal(one.tokenSources['auth-service'], 'anonymous');
    // Everything after the first = is the token.
    assert.equal(tokensOf(parse('--token', 'auth-service=a=b=c'))['auth-service'], 'a=b=c');
    // The last plain one counts.
    assert.equal(tokensOf(parse('--token', 'first-plain-token-00001', '--token', 'second-plain-token-0001'))['user-service'], 'second-plain-token-0001');
  });

  test('a per-service --token wins over a plain one, in either order', () => {
    for (const args of [
      ['--token', 'payment-service=pay-token-0000000001', '--token', 'plain-token-0000000001'],
      ['--token', 'plain-token-0000000001', '--token', 'payment-service=pay-token-0000000001'],
    ]) {
      const t = tokensOf(parse(...args));
      assert.equal(t['payment-service'], 'pay-token-0000000001', args.join(' '));
      for (const s of ALL.filter((s) => s !== 'payment-service')) assert.equal(t[s], 'plain-token-0000000001', `${s}: ${args.join(' ')}`);
    }
  });

  test('--token for a service that is not simulated is a UsageError naming --token', () => {
    usageError(() => parse('--token', 'billing=x-token-00000000001'), /^--token: /, /billing/);
    usageError(() => parse('--services', 'billing', '--token', 'auth-service=x-token-00000000001'), /^--token: /, /auth-service/);
    assert.equal(tokensOf(parse('--services', 'billing', '--token', 'billing=x-token-00000000001')).billing, 'x-token-00000000001');
  });

  test('--config: the ingest token bound to the service, else an unbound ingest token; others ignored', () => {
    const path = configFile(MIXED);
    const o = parseCli(['--config', path], {});
    assert.deepEqual(tokensOf(o), {
      'auth-service': 'auth-bound-token-000000001',
      'payment-service': 'unbound-ingest-token-00001',
      'notification-service': 'unbound-ingest-token-00001',
      'api-gateway': 'unbound-ingest-token-00001',
      'user-service': 'user-bound-token-000000001',
    });
    assert.deepEqual(o.tokenSources, Object.fromEntries(ALL.map((s) => [s, path])));
    // A named service with a bound token gets it; a token with no service at all counts as unbound.
    const named = parseCli(['--config', path, '--services', 'billing,checkout'], {});
    assert.deepEqual(tokensOf(named), { billing: 'other-bound-token-00000001', checkout: 'unbound-ingest-token-00001' });
    const noService = configFile('    - { token: "no-service-ingest-token-01", scopes: [ingest, read] }\n');
    assert.equal(tokensOf(parseCli(['--config', noService, '--services', '2'], {}))['payment-service'], 'no-service-ingest-token-01');
  });

  test('--config without an unbound ingest token: services without their own ship anonymously', () => {
    const path = configFile(
      '    - { token: "auth-bound-token-000000001", service: auth-service, scopes: [ingest] }\n' +
        '    - { token: "reader-only-token-00000001", scopes: [read] }\n',
    );
    const o = parseCli(['--config', path, '--services', '2'], {});
    assert.deepEqual(tokensOf(o), { 'auth-service': 'auth-bound-token-000000001', 'payment-service': undefined });
    assert.deepEqual(o.tokenSources, { 'auth-service': path, 'payment-service': 'anonymous' });
  });

  test('--token over the config: a plain one for every service, a per-service one for its service', () => {
    const path = configFile(MIXED);
    const plain = parseCli(['--config', path, '--token', 'plain-token-0000000001'], {});
    assert.deepEqual(tokensOf(plain), Object.fromEntries(ALL.map((s) => [s, 'plain-token-0000000001'])));
    assert.deepEqual(plain.tokenSources, Object.fromEntries(ALL.map((s) => [s, '--token'])));
    const one = parseCli(['--config', path, '--token', 'auth-service=cli-auth-token-00000001'], {});
    assert.equal(tokensOf(one)['auth-service'], 'cli-auth-token-00000001');
    assert.equal(one.tokenSources['auth-service'], '--token');
    assert.equal(tokensOf(one)['payment-service'], 'unbound-ingest-token-00001');
    assert.equal(one.tokenSources['payment-service'], path);
  });

  test('$CONFIG_PATH is read when no flag says otherwise; --config wins over it; --no-config ignores both', () => {
    const fromEnv = configFile('    - { token: "env-config-token-00000001", scopes: [ingest] }\n');
    const fromFlag = configFile('    - { token: "flag-config-token-0000001", scopes: [ingest] }\n');
    assert.equal(tokensOf(parseCli(['--services', '1'], { CONFIG_PATH: fromEnv }))['auth-service'], 'env-config-token-00000001');
    assert.equal(tokensOf(parseCli(['--services', '1', '--config', fromFlag], { CONFIG_PATH: fromEnv }))['auth-service'], 'flag-config-token-0000001');
    const none = parseCli(['--services', '1', '--no-config', '--config', fromFlag], { CONFIG_PATH: fromEnv });
    assert.equal(tokensOf(none)['auth-service'], undefined);
    assert.equal(none.tokenSources['auth-service'], 'anonymous');
  });

  test('./config.yaml in the working folder is read when it exists and nothing else is given', () => {
    const withFile = tempDir();
    writeFile(withFile, 'config.yaml', 'auth:\n  tokens:\n    - { token: "cwd-config-token-00000001", scopes: [ingest] }\n');
    const without = tempDir();
    const cwd = process.cwd();
    try {
      process.chdir(withFile);
      const o = parseCli(['--services', '1'], {});
      assert.equal(tokensOf(o)['auth-service'], 'cwd-config-token-00000001');
      assert.equal(o.tokenSources['auth-service'], './config.yaml');
      assert.equal(tokensOf(parseCli(['--services', '1', '--no-config'], {}))['auth-service'], undefined);
      process.chdir(without);
      assert.equal(parseCli(['--services', '1'], {}).tokenSources['auth-service'], 'anonymous');
    } finally {
      process.chdir(cwd);
    }
  });

  test('a missing or invalid config file is a UsageError naming --config', () => {
    const dir = tempDir();
    usageError(() => parseCli(['--config', `${dir}/nope.yaml`], {}), /^--config: /, /no such file/);
    usageError(() => parseCli([], { CONFIG_PATH: `${dir}/nope.yaml` }), /^--config: /);
    usageError(() => parseCli(['--config', writeFile(dir, 'bad.yaml', 'auth:\n  tokenz: []\n')], {}), /^--config: /, /tokenz/);
    usageError(() => parseCli(['--config', writeFile(dir, 'broken.yaml', 'auth: [\n')], {}), /^--config: /, /YAML/);
  });
});

describe('pace, format, limits and flags', () => {
  test('defaults', () => {
    const o = parse();
    assert.equal(o.help, false);
    assert.equal(o.quiet, false);
    assert.equal(o.json, false);
    assert.equal(o.seed, undefined);
    const { services, ...rest } = o.ship;
    assert.equal(services.length, 5);
    assert.deepEqual(rest, {
      endpoint: 'http://localhost:5000/api/logs',
      batch: 5,
      rate: 1,
      errorRate: undefined,
      durationMs: undefined,
      count: undefined,
      format: 'json',
      queueSize: 10_000,
      timeoutMs: 10_000,
      backoffMs: 250,
      backoffMaxMs: 10_000,
      flushTimeoutMs: 30_000,
    });
  });

  test('every flag is read', () => {
    const o = parse(
      '--services', '3', '--batch', '20', '--interval', '500ms', '--error-rate', '0.2', '--format', 'ndjson', '--duration', '2m',
      '--count=40', '--seed', '0', '--queue', '50', '--backoff', '100ms', '--backoff-max', '2s', '--timeout', '3s',
      '--flush-timeout', '4s', '--quiet', '--json', '-h',
    );
    assert.equal(o.ship.services.length, 3);
    assert.equal(o.ship.batch, 20);
    assert.equal(o.ship.rate, 40, 'rate = batch / interval');
    assert.equal(o.ship.errorRate, 0.2);
    assert.equal(o.ship.format, 'ndjson');
    assert.equal(o.ship.durationMs, 120_000);
    assert.equal(o.ship.count, 40);
    assert.equal(o.seed, 0);
    assert.equal(o.ship.queueSize, 50);
    assert.equal(o.ship.backoffMs, 100);
    assert.equal(o.ship.backoffMaxMs, 2000);
    assert.equal(o.ship.timeoutMs, 3000);
    assert.equal(o.ship.flushTimeoutMs, 4000);
    assert.equal(o.quiet, true);
    assert.equal(o.json, true);
    assert.equal(o.help, true);
    assert.equal(parse('--help').help, true);
  });

  test('--rate sets logs per second directly; the default interval is 5 s', () => {
    assert.equal(parse('--rate', '2.5').ship.rate, 2.5);
    assert.equal(parse('--batch', '7').ship.rate, 7 / 5);
    assert.equal(parse('--interval', '2s').ship.rate, 2.5);
    assert.equal(parse('--error-rate', '0').ship.errorRate, 0);
    assert.equal(parse('--error-rate', '1').ship.errorRate, 1);
  });

  test('--rate with --interval is a UsageError', () => {
    usageError(() => parse('--rate', '10', '--interval', '1s'), /--rate and --interval/);
  });

  test('a bad --format is a UsageError naming it', () => {
    usageError(() => parse('--format', 'xml'), /^--format: "xml"/);
    usageError(() => parse('--format', 'JSON'), /^--format: /);
  });

  test('bad numbers and durations are UsageErrors naming the flag', () => {
    const cases: [string, string][] = [
      ['batch', '0'], ['batch', '1.5'], ['batch', 'ten'], ['batch', '-3'],
      ['count', '0'], ['count', 'x'], ['count', '99999999999999999999'],
      ['queue', '0'], ['seed', '-1'], ['seed', '1.5'],
      ['rate', '0'], ['rate', 'fast'], ['rate', ''], ['rate', 'Infinity'], ['rate', '2000000'],
      ['error-rate', '1.5'], ['error-rate', '-0.1'], ['error-rate', 'x'], ['error-rate', ''],
      ['duration', 'soon'], ['interval', '0s'], ['timeout', 'x'], ['backoff', '-1ms'], ['backoff-max', '1d'], ['flush-timeout', ''],
      ['services', '0'],
    ];
    for (const [flag, value] of cases) usageError(() => parse(`--${flag}=${value}`), new RegExp(`^--${flag}: `));
  });

  test('unknown flags, missing values and positional arguments are UsageErrors naming them', () => {
    usageError(() => parse('--bogus'), /'--bogus'/);
    usageError(() => parse('-x'), /'-x'/);
    usageError(() => parse('--url'), /--url/, /missing/);
    usageError(() => parse('--quiet=yes'), /--quiet/);
    usageError(() => parse('extra'), /'extra'/);
    // The hint about positionals that parseArgs appends is cut.
    assert.throws(() => parse('--bogus'), (e: Error) => !/positional/.test(e.message));
  });

  test('the usage text mentions every flag', () => {
    const flags = ['--url', '--services', '--config', '--no-config', '--token', '--rate', '--interval', '--batch', '--error-rate', '--format',
      '--duration', '--count', '--seed', '--queue', '--backoff', '--backoff-max', '--timeout', '--flush-timeout', '--quiet', '--json', '--help'];
    for (const f of flags) assert.ok(USAGE.includes(f), f);
    for (const f of flags.filter((f) => f !== '--help')) {
      // Each documented flag is accepted (a value where it takes one).
      const boolean = ['--no-config', '--quiet', '--json'].includes(f);
      if (f === '--config' || f === '--token' || f === '--interval') continue;
      assert.doesNotThrow(() => parse(...(boolean ? [f] : [f, f === '--url' ? 'http://127.0.0.1:1' : f === '--format' ? 'json' : f === '--services' ? '2' : '1'])), f);
    }
  });
});
