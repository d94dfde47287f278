import type { Level, LogInput } from './log.js';

/** Returns a float in [0, 1), like Math.random. Injected so tests and benchmarks are repeatable. */
export type Random = () => number;

/** A small seeded generator (mulberry32) for repeatable fake data. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Messages = Record<Level, readonly string[]>;

/** Message templates per service type; `{n}` becomes a number, `{user}` the user id. */
export const SERVICE_MESSAGES: Readonly<Record<string, Messages>> = {
  'auth-service': {
    DEBUG: ['Session token generated for {user}', 'Password hash verified in {n} ms'],
    INFO: ['User {user} logged in successfully', 'User {user} logged out', 'Password reset email requested by {user}'],
    WARNING: ['Failed login attempt for {user} ({n} of 5)', 'Session for {user} close to expiry'],
    ERROR: ['Authentication failed for {user}: invalid credentials', 'Token signature check failed for {user}'],
    CRITICAL: ['Identity provider unreachable after {n} retries', 'Signing key store unavailable'],
  },
  'payment-service': {
    DEBUG: ['Fraud score computed for order #{n}', 'Currency rates cache refreshed'],
    INFO: ['Payment captured for order #{n}', 'Refund issued for order #{n}', 'Invoice #{n} sent to {user}'],
    WARNING: ['Transaction timeout for order #{n}, retrying', 'Card for {user} expires this month'],
    ERROR: ['Payment declined for order #{n}: insufficient funds', 'Payment gateway returned 502 for order #{n}'],
    CRITICAL: ['Payment gateway unreachable: all captures failing', 'Ledger write failed for order #{n}'],
  },
  'notification-service': {
    DEBUG: ['Template welcome-email rendered in {n} ms', 'Push token refreshed for {user}'],
    INFO: ['Email sent to {user}', 'SMS delivered to {user}', 'Push notification #{n} delivered'],
    WARNING: ['Email to {user} deferred by provider', 'SMS rate limit at {n}%'],
    ERROR: ['Email bounce for {user}: mailbox unavailable', 'Push provider rejected notification #{n}'],
    CRITICAL: ['SMTP relay down: queue at {n} messages', 'Notification queue consumer crashed'],
  },
  'api-gateway': {
    DEBUG: ['Route table reloaded ({n} routes)', 'Upstream pool resized to {n}'],
    INFO: ['GET /api/orders 200 in {n} ms', 'POST /api/cart 201 in {n} ms', 'GET /api/profile 200 for {user}'],
    WARNING: ['Slow upstream: /api/search took {n} ms', 'Rate limit close for {user}'],
    ERROR: ['Upstream order-service returned 503', 'Request #{n} timed out after 30000 ms'],
    CRITICAL: ['All upstreams for /api/orders are down', 'TLS certificate expired for api.example.com'],
  },
  'user-service': {
    DEBUG: ['Profile cache hit for {user}', 'Loaded {n} preferences for {user}'],
    INFO: ['User {user} updated profile', 'New user {user} registered', 'User {user} changed avatar'],
    WARNING: ['Profile of {user} missing country code', 'Duplicate signup attempt for {user}'],
    ERROR: ['Failed to save profile for {user}: constraint violation', 'Avatar upload failed for {user}'],
    CRITICAL: ['User database primary unreachable', 'Replica lag at {n} s, writes refused'],
  },
};

export const SIMULATED_SERVICES: readonly string[] = Object.keys(SERVICE_MESSAGES);

const NORMAL_WEIGHTS: ReadonlyArray<[Level, number]> = [
  ['DEBUG', 0.15],
  ['INFO', 0.65],
  ['WARNING', 0.15],
  ['ERROR', 0.04],
  ['CRITICAL', 0.01],
];

function pick<T>(random: Random, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

function weightedLevel(random: Random): Level {
  let r = random();
  for (const [level, w] of NORMAL_WEIGHTS) {
    if (r < w) return level;
    r -= w;
  }
  return 'INFO';
}

export interface GenerateOptions {
  /** The event time is spread uniformly over [now - spreadMs, now]. */
  now: number;
  spreadMs: number;
  /** Fixed service; a random simulated one otherwise. */
  service?: string;
  /** Which simulated service's messages to use (e.g. `auth-service` for `auth-service-2`); the service's own by default. */
  kind?: string;
  /** Probability of ERROR/CRITICAL; the normal weighted mix when absent. */
  errorRate?: number;
}

/** One realistic log: weighted levels, per-service messages, user ids and metadata. */
export function generateLog(random: Random, o: GenerateOptions): LogInput {
  const service = o.service ?? pick(random, SIMULATED_SERVICES);
  let level: Level;
  if (o.errorRate === undefined) level = weightedLevel(random);
  else if (random() < o.errorRate) level = random() < 0.8 ? 'ERROR' : 'CRITICAL';
  else level = pick(random, ['DEBUG', 'INFO', 'INFO', 'INFO', 'WARNING'] as const);
  const user = `user-${1 + Math.floor(random() * 200)}`;
  const templates = (SERVICE_MESSAGES[o.kind ?? service] ?? SERVICE_MESSAGES['api-gateway']!)[level];
  const message = pick(random, templates)
    .replace('{user}', user)
    .replace('{n}', String(1 + Math.floor(random() * 9999)));
  const ts = o.now - Math.floor(random() * o.spreadMs);
  return {
    timestamp: new Date(ts).toISOString(),
    level,
    service,
    message,
    user_id: user,
    metadata: {
      processing_time_ms: Math.round(random() * 50_000) / 100,
      request_id: `req-${Math.floor(random() * 0xffffffff).toString(16).padStart(8, '0')}`,
      ip_address: `10.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}.${1 + Math.floor(random() * 254)}`,
    },
  };
}
