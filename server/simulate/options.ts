import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.js';
import { SIMULATED_SERVICES } from '../core/simulator.js';
import { MAX_TIMER_MS, type ServiceSpec, type ShipOptions } from './shipper.js';

export const USAGE = `Usage: logsentinel-simulate [options]   (or: npm run simulate -- [options])

Impersonates several microservices, each with its own token and timer, shipping
realistic logs to a LogSentinel server until --duration or --count is reached or
Ctrl-C is pressed (once: stop and flush; twice: give up at once).

Where and who:
  --url URL             server base URL, or the full ingest URL   [http://localhost:5000]
  --services LIST|N     comma-separated service names, or how many of
                        auth, payment, notification, api-gateway, user (then auth-2, ...)  [5]
  --config FILE         take each service's token from this server config's auth.tokens
                        [$CONFIG_PATH, else ./config.yaml when it exists]
  --no-config           ignore any config file
  --token SERVICE=TOKEN a service's token (repeatable); a plain --token TOKEN is used by
                        every service not named that way (over the config's). Services
                        with no token at all ship anonymously.
What and how fast (per service):
  --rate N              logs per second                                [batch / interval = 1]
  --interval DURATION   time between requests, e.g. 500ms, 2s          [5s]
  --batch N             logs per request                               [5]
  --error-rate P        share of ERROR/CRITICAL logs, 0..1             [the usual mix, ~5%]
  --format json|ndjson  request body: a JSON array or NDJSON           [json]
  --duration DURATION   stop after this long, e.g. 30s, 5m
  --count N             stop after N logs in total (shared out between the services)
  --seed N              repeatable fake data
When the server is down or busy (refused connection, timeout, 429, 5xx):
  --queue N             logs each service holds while it retries; past it the oldest are dropped [10000]
  --backoff DURATION    first retry delay, doubling per attempt        [250ms]
  --backoff-max DURATION  longest retry delay                          [10s]
  --timeout DURATION    per-request timeout                            [10s]
  --flush-timeout DURATION  how long to keep delivering after generation stops [30s]
Output:
  --quiet               no live progress and no summary table (errors still go to stderr)
  --json                print the summary as JSON on stdout
  -h, --help            this text

Exit status: 0 when every log was accepted, 1 when some were rejected or dropped,
2 for a usage or config error.`;

export class UsageError extends Error {}

export interface CliOptions {
  readonly ship: ShipOptions;
  readonly seed: number | undefined;
  readonly quiet: boolean;
  readonly json: boolean;
  readonly help: boolean;
  /** Where each service's token came from, for the start line. */
  readonly tokenSources: Readonly<Record<string, string>>;
}

/** `250ms`, `2s`, `5m`, `1h`, or plain seconds; milliseconds out. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (m === null) throw new UsageError(`--${flag}: "${text}" is not a duration; use e.g. 500ms, 10s, 5m or 1h`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's']!;
  const ms = Number(m[1]) * unit;
  if (!(ms > 0)) throw new UsageError(`--${flag}: must be more than zero`);
  if (ms > MAX_TIMER_MS) throw new UsageError(`--${flag}: at most ${Math.floor(MAX_TIMER_MS / 3_600_000)}h (about 24 days)`);
  return ms;
}

function parseCount(flag: string, text: string, min = 1): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < min || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`--${flag}: "${text}" is not a whole number of at least ${min}`);
  }
  return Number(text);
}

function parseNumber(flag: string, text: string, min: number, max: number): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v < min || v > max) {
    throw new UsageError(`--${flag}: "${text}" must be a number from ${min} to ${max}`);
  }
  return v;
}

/** The server's ingest URL: a bare base URL gets `/api/logs`, a URL with a path is used as given. */
export function ingestEndpoint(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--url: "${text}" is not a URL; use e.g. http://localhost:5000`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url: only http:// and https:// are supported`);
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/api/logs';
  return url.toString();
}

/** `--services a,b` names them; `--services N` takes the first N simulated types, then numbered copies. */
export function serviceList(text: string | undefined): { name: string; kind: string }[] {
  if (text === undefined || /^\d+$/.test(text.trim())) {
    const n = text === undefined ? SIMULATED_SERVICES.length : parseCount('services', text);
    if (n > 1000) throw new UsageError('--services: at most 1000 services');
    return Array.from({ length: n }, (_, i) => {
      const kind = SIMULATED_SERVICES[i % SIMULATED_SERVICES.length]!;
      const copy = Math.floor(i / SIMULATED_SERVICES.length);
      return { name: copy === 0 ? kind : `${kind}-${copy + 1}`, kind };
    });
  }
  const names = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.length === 0) throw new UsageError('--services: give names separated by commas, or a number');
  if (new Set(names).size !== names.length) throw new UsageError('--services: a service is named twice');
  return names.map((name) => {
    // `payment-service-3` and `payment` speak like payment-service; unknown names like the gateway.
    const base = name.replace(/-\d+$/, '');
    const kind = SIMULATED_SERVICES.find((k) => k === base || k.startsWith(`${base}-`)) ?? 'api-gateway';
    return { name, kind };
  });
}

/** For each service: a token bound to it with the ingest scope, else an unbound ingest token. */
function tokensFromConfig(path: string, services: readonly string[]): Map<string, string> {
  let config;
  try {
    config = loadConfig({ path, required: true, env: {} });
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`--config: ${e.message}`);
    throw e;
  }
  const ingest = config.auth.tokens.filter((t) => t.scopes.includes('ingest'));
  const anyService = ingest.find((t) => t.service === undefined || t.service === '*');
  const out = new Map<string, string>();
  for (const s of services) {
    const token = ingest.find((t) => t.service === s) ?? anyService;
    if (token !== undefined) out.set(s, token.token);
  }
  return out;
}

export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): CliOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        url: { type: 'string' },
        services: { type: 'string' },
        config: { type: 'string' },
        'no-config': { type: 'boolean' },
        token: { type: 'string', multiple: true },
        rate: { type: 'string' },
        interval: { type: 'string' },
        batch: { type: 'string' },
        'error-rate': { type: 'string' },
        format: { type: 'string' },
        duration: { type: 'string' },
        count: { type: 'string' },
        seed: { type: 'string' },
        queue: { type: 'string' },
        backoff: { type: 'string' },
        'backoff-max': { type: 'string' },
        timeout: { type: 'string' },
        'flush-timeout': { type: 'string' },
        quiet: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  const help = values.help === true;
  // 1 log/s per service by default: 60 a minute, below the default high_volume threshold (100),
  // so a first run shows steady traffic rather than an alert per service.
  const batch = values.batch === undefined ? 5 : parseCount('batch', values.batch);
  if (values.rate !== undefined && values.interval !== undefined) {
    throw new UsageError('--rate and --interval both set the pace; give one (rate = batch / interval)');
  }
  const rate = values.rate !== undefined
    ? parseNumber('rate', values.rate, 0.001, 1_000_000)
    : batch / ((values.interval === undefined ? 5000 : parseDuration('interval', values.interval)) / 1000);
  const format = values.format ?? 'json';
  if (format !== 'json' && format !== 'ndjson') throw new UsageError(`--format: "${format}" is not json or ndjson`);

  const specs = serviceList(values.services);
  const names = specs.map((s) => s.name);
  const tokens = new Map<string, string>();
  const sources: Record<string, string> = {};
  const configPath = values['no-config'] === true ? undefined : values.config ?? env.CONFIG_PATH ?? (existsSync('./config.yaml') ? './config.yaml' : undefined);
  if (configPath !== undefined) {
    for (const [s, t] of tokensFromConfig(configPath, names)) {
      tokens.set(s, t);
      sources[s] = configPath;
    }
  }
  let fallback: string | undefined;
  for (const flag of values.token ?? []) {
    const eq = flag.indexOf('=');
    if (eq === -1) {
      fallback = flag;
      continue;
    }
    const service = flag.slice(0, eq);
    if (!names.includes(service)) throw new UsageError(`--token: "${service}" is not one of the simulated services (${names.join(', ')})`);
    tokens.set(service, flag.slice(eq + 1));
    sources[service] = '--token';
  }
  const services: ServiceSpec[] = specs.map(({ name, kind }) => {
    let token = tokens.get(name);
    if (sources[name] !== '--token' && fallback !== undefined) {
      token = fallback;
      sources[name] = '--token';
    }
    sources[name] ??= 'anonymous';
    return { name, kind, token };
  });

  return {
    help,
    quiet: values.quiet === true,
    json: values.json === true,
    seed: values.seed === undefined ? undefined : parseCount('seed', values.seed, 0),
    tokenSources: sources,
    ship: {
      endpoint: ingestEndpoint(values.url ?? env.LOGSENTINEL_URL ?? 'http://localhost:5000'),
      services,
      batch,
      rate,
      errorRate: values['error-rate'] === undefined ? undefined : parseNumber('error-rate', values['error-rate'], 0, 1),
      durationMs: values.duration === undefined ? undefined : parseDuration('duration', values.duration),
      count: values.count === undefined ? undefined : parseCount('count', values.count),
      format,
      queueSize: values.queue === undefined ? 10_000 : parseCount('queue', values.queue),
      timeoutMs: values.timeout === undefined ? 10_000 : parseDuration('timeout', values.timeout),
      backoffMs: values.backoff === undefined ? 250 : parseDuration('backoff', values.backoff),
      backoffMaxMs: values['backoff-max'] === undefined ? 10_000 : parseDuration('backoff-max', values['backoff-max']),
      flushTimeoutMs: values['flush-timeout'] === undefined ? 30_000 : parseDuration('flush-timeout', values['flush-timeout']),
    },
  };
}
