import type { LogInput } from '../core/log.js';
import { generateLog, type Random } from '../core/simulator.js';

/** One impersonated microservice: its name, whose messages it speaks, and its token. */
export interface ServiceSpec {
  readonly name: string;
  /** The simulated service type whose messages it uses (`auth-service` for `auth-service-2`). */
  readonly kind: string;
  readonly token: string | undefined;
}

export interface ShipOptions {
  /** Full URL of the ingest route. */
  readonly endpoint: string;
  readonly services: readonly ServiceSpec[];
  /** Logs per request. */
  readonly batch: number;
  /** Logs per second, per service. */
  readonly rate: number;
  /** Probability of ERROR/CRITICAL; the normal weighted mix when undefined. */
  readonly errorRate: number | undefined;
  /** Stop generating after this long (ms)... */
  readonly durationMs: number | undefined;
  /** ... or after this many logs in total, shared out between the services. */
  readonly count: number | undefined;
  readonly format: 'json' | 'ndjson';
  /** Logs a service may hold while the server is unreachable; past it the oldest are dropped. */
  readonly queueSize: number;
  readonly timeoutMs: number;
  /** First retry delay; doubles per attempt up to `backoffMaxMs`. */
  readonly backoffMs: number;
  readonly backoffMaxMs: number;
  /** How long delivery may go on once generation has stopped. */
  readonly flushTimeoutMs: number;
}

export interface ShipDeps {
  readonly random: Random;
  readonly now?: () => number;
}

/** Where a service stands, as the progress line and the summary show it. */
export type ServiceState = 'sending' | 'retrying' | 'flushing' | 'done' | 'stopped';

export interface ServiceStats {
  service: string;
  /** Logs made by the generator. */
  generated: number;
  /** Logs the server answered for: accepted + rejected. */
  sent: number;
  accepted: number;
  rejected: number;
  /** Requests sent again after a refused connection, a timeout, 429 or 5xx. */
  retried: number;
  /** Logs given up on without an answer: queue_full + at_exit. */
  dropped: number;
  dropped_queue_full: number;
  /** Still queued or unanswered when the flush time ran out, Ctrl-C was pressed twice, or the token was refused. */
  dropped_at_exit: number;
  queued: number;
  state: ServiceState;
  /** The last failure, if any: a refused connection, a status code, the server's message. */
  last_error: string | undefined;
  /** Accepted logs per second since the start. */
  rate: number;
}

/** Statuses worth another try: the server is overloaded, restarting or briefly failing. */
const RETRYABLE = new Set([408, 425, 429, 500, 502, 503, 504]);
/** The longest Retry-After honoured, so a confused server cannot park the simulator for hours. */
const MAX_RETRY_AFTER_MS = 60_000;
/** The longest delay a Node.js timer keeps (about 24.8 days); a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

type Outcome =
  | { kind: 'answered'; accepted: number; rejected: number; error: string | undefined; fatal: boolean }
  | { kind: 'retry'; error: string; retryAfterMs: number | undefined }
  | { kind: 'aborted' };

function errorText(e: unknown): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError') return 'timed out';
  return err.cause?.code ?? err.cause?.message ?? err.message ?? String(e);
}

function retryAfterMs(header: string | null, now: number): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - now;
  return Number.isFinite(ms) && ms >= 0 ? Math.min(ms, MAX_RETRY_AFTER_MS) : undefined;
}

/** The body of a 207: how many of the batch the server kept. */
function partialCounts(body: unknown, size: number): { accepted: number; rejected: number } {
  const b = body as { accepted?: unknown; rejected?: unknown } | null;
  if (typeof b?.accepted === 'number' && typeof b.rejected === 'number') return { accepted: b.accepted, rejected: b.rejected };
  return { accepted: 0, rejected: size };
}

/** One service: a generator on its own timer, a bounded queue, and a sender that retries. */
class ServiceRunner {
  readonly stats: ServiceStats;
  private queue: LogInput[] = [];
  private generating = true;
  private workWaiter: (() => void) | undefined;
  private endGeneration!: () => void;
  /** Resolves when this service makes no more logs (duration or quota reached, stopped, halted). */
  readonly generationEnded = new Promise<void>((resolve) => (this.endGeneration = resolve));
  private timer: NodeJS.Timeout | undefined;
  private readonly interval: number;
  private startedAt = 0;

  constructor(
    private readonly spec: ServiceSpec,
    private readonly quota: number,
    private readonly o: ShipOptions,
    private readonly deps: Required<ShipDeps>,
    private readonly abort: AbortSignal,
  ) {
    this.stats = {
      service: spec.name,
      generated: 0,
      sent: 0,
      accepted: 0,
      rejected: 0,
      retried: 0,
      dropped: 0,
      dropped_queue_full: 0,
      dropped_at_exit: 0,
      queued: 0,
      state: 'sending',
      last_error: undefined,
      rate: 0,
    };
    this.interval = (o.batch / o.rate) * 1000;
  }

  /** Runs until generation has stopped and the queue is delivered or given up. */
  async run(): Promise<void> {
    this.startedAt = this.deps.now();
    this.tick();
    await this.sendLoop();
    this.stopGenerating();
    this.dropRest();
    if (this.stats.state !== 'stopped') this.stats.state = 'done';
  }

  /** No new logs from now on; what is queued still goes out. */
  stopGenerating(): void {
    this.generating = false;
    clearTimeout(this.timer);
    this.endGeneration();
    if (this.stats.state === 'sending') this.stats.state = 'flushing';
    this.wakeSender();
  }

  snapshot(): ServiceStats {
    const elapsed = (this.deps.now() - this.startedAt) / 1000;
    return { ...this.stats, queued: this.queue.length, rate: elapsed > 0 ? this.stats.accepted / elapsed : 0 };
  }

  /** Batch k is due at k * interval; working from elapsed time keeps the rate right when timers run late. */
  private tick = (): void => {
    if (!this.generating) return;
    const elapsed = this.deps.now() - this.startedAt;
    const running = this.o.durationMs === undefined || elapsed < this.o.durationMs;
    if (running) {
      const due = Math.min(this.quota, (Math.floor(elapsed / this.interval) + 1) * this.o.batch);
      if (due > this.stats.generated) this.generate(due - this.stats.generated);
    }
    if (!running || this.stats.generated >= this.quota) {
      this.stopGenerating();
      return;
    }
    const next = this.startedAt + (Math.floor(elapsed / this.interval) + 1) * this.interval;
    // A batch due further off than a timer can hold is waited for in steps.
    this.timer = setTimeout(this.tick, Math.min(MAX_TIMER_MS, Math.max(1, next - this.deps.now())));
  };

  private generate(n: number): void {
    const now = this.deps.now();
    const overflow = this.queue.length + n - this.o.queueSize;
    if (overflow > 0) {
      // Drop the oldest: when the server comes back, the freshest logs are the ones worth having.
      const fromQueue = Math.min(overflow, this.queue.length);
      this.queue.splice(0, fromQueue);
      this.stats.dropped_queue_full += overflow;
      this.stats.dropped += overflow;
    }
    const keep = Math.min(n, this.o.queueSize);
    for (let i = 0; i < keep; i++) {
      this.queue.push(
        generateLog(this.deps.random, { now, spreadMs: 0, service: this.spec.name, kind: this.spec.kind, errorRate: this.o.errorRate }),
      );
    }
    this.stats.generated += n;
    this.wakeSender();
  }

  private wakeSender(): void {
    const wake = this.workWaiter;
    this.workWaiter = undefined;
    wake?.();
  }

  private async sendLoop(): Promise<void> {
    for (;;) {
      if (this.abort.aborted || this.stats.state === 'stopped') return;
      if (this.queue.length === 0) {
        if (!this.generating) return;
        await new Promise<void>((resolve) => (this.workWaiter = resolve));
        continue;
      }
      const chunk = this.queue.splice(0, this.o.batch);
      if (!(await this.deliver(chunk))) {
        this.queue.unshift(...chunk);
        return;
      }
    }
  }

  /** Sends one chunk until the server answers; false when the run was cut short first. */
  private async deliver(chunk: LogInput[]): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.post(chunk);
      if (outcome.kind === 'aborted') return false;
      if (outcome.kind === 'answered') {
        this.stats.accepted += outcome.accepted;
        this.stats.rejected += outcome.rejected;
        this.stats.sent += outcome.accepted + outcome.rejected;
        if (outcome.error !== undefined) this.stats.last_error = outcome.error;
        if (outcome.fatal) this.halt();
        else if (this.stats.state === 'retrying') this.stats.state = this.generating ? 'sending' : 'flushing';
        return true;
      }
      this.stats.last_error = outcome.error;
      this.stats.state = 'retrying';
      const backoff = Math.min(this.o.backoffMaxMs, this.o.backoffMs * 2 ** attempt);
      // Equal jitter: services that lost the server together do not all come back in the same millisecond.
      const wait = Math.max(outcome.retryAfterMs ?? 0, backoff / 2 + (this.deps.random() * backoff) / 2);
      if (!(await this.sleep(wait))) return false;
      this.stats.retried += 1;
    }
  }

  private async post(chunk: LogInput[]): Promise<Outcome> {
    const ndjson = this.o.format === 'ndjson';
    const body = ndjson ? chunk.map((l) => JSON.stringify(l)).join('\n') + '\n' : JSON.stringify(chunk);
    const headers: Record<string, string> = { 'content-type': ndjson ? 'application/x-ndjson' : 'application/json' };
    if (this.spec.token !== undefined) headers.authorization = `Bearer ${this.spec.token}`;
    let res: Response;
    let text: string;
    try {
      const signal = AbortSignal.any([this.abort, AbortSignal.timeout(this.o.timeoutMs)]);
      res = await fetch(this.o.endpoint, { method: 'POST', headers, body, signal });
      text = await res.text();
    } catch (e) {
      if (this.abort.aborted) return { kind: 'aborted' };
      return { kind: 'retry', error: errorText(e), retryAfterMs: undefined };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const serverMessage = (parsed as { error?: unknown } | undefined)?.error;
    const describe = `HTTP ${res.status}${typeof serverMessage === 'string' ? `: ${serverMessage}` : ''}`;
    if (RETRYABLE.has(res.status)) {
      return { kind: 'retry', error: describe, retryAfterMs: retryAfterMs(res.headers.get('retry-after'), this.deps.now()) };
    }
    if (res.status === 201) return { kind: 'answered', accepted: chunk.length, rejected: 0, error: undefined, fatal: false };
    if (res.status === 207) {
      const { accepted, rejected } = partialCounts(parsed, chunk.length);
      return { kind: 'answered', accepted, rejected, error: `HTTP 207: ${rejected} of ${chunk.length} rejected`, fatal: false };
    }
    // 401/403: this token will never work, so the service stops instead of hammering the server.
    const fatal = res.status === 401 || res.status === 403;
    return { kind: 'answered', accepted: 0, rejected: chunk.length, error: describe, fatal };
  }

  private halt(): void {
    this.stats.state = 'stopped';
    this.stopGenerating();
  }

  /** Whatever is still queued when the service ends was never delivered. */
  private dropRest(): void {
    const rest = this.queue.length;
    this.queue = [];
    this.stats.dropped_at_exit += rest;
    this.stats.dropped += rest;
  }

  /** Waits `ms`, or less when the run is aborted; false then. */
  private sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.abort.aborted) return resolve(false);
      const onAbort = (): void => {
        clearTimeout(t);
        resolve(false);
      };
      const t = setTimeout(() => {
        this.abort.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      this.abort.addEventListener('abort', onAbort, { once: true });
    });
  }
}

export interface ShipSummary {
  endpoint: string;
  format: 'json' | 'ndjson';
  elapsed_s: number;
  /** True when the run was cut short (second Ctrl-C or the flush time ran out) with logs undelivered. */
  aborted: boolean;
  services: ServiceStats[];
  total: Omit<ServiceStats, 'service' | 'state' | 'last_error'>;
}

/**
 * Several simulated services shipping to one server. `stop()` ends generation and lets the queues
 * drain for up to `flushTimeoutMs`; `abort()` gives up at once. `done` resolves with the summary.
 */
export class Simulation {
  readonly done: Promise<ShipSummary>;
  private readonly runners: ServiceRunner[];
  private readonly controller = new AbortController();
  private readonly deps: Required<ShipDeps>;
  private readonly startedAt: number;
  private flushTimer: NodeJS.Timeout | undefined;
  private finished = false;

  constructor(private readonly o: ShipOptions, deps: ShipDeps) {
    this.deps = { now: Date.now, ...deps };
    this.startedAt = this.deps.now();
    const k = o.services.length;
    this.runners = o.services.map((spec, i) => {
      const quota = o.count === undefined ? Infinity : Math.floor(o.count / k) + (i < o.count % k ? 1 : 0);
      return new ServiceRunner(spec, quota, o, this.deps, this.controller.signal);
    });
    this.done = Promise.all(this.runners.map((r) => r.run())).then(() => {
      this.finished = true;
      clearTimeout(this.flushTimer);
      return this.summary();
    });
    // Generation ends by itself with --duration or --count; the flush clock starts when the last one's does.
    void Promise.all(this.runners.map((r) => r.generationEnded)).then(() => this.stop());
    if (o.durationMs !== undefined) {
      const t = setTimeout(() => this.stop(), o.durationMs);
      void this.done.then(() => clearTimeout(t));
    }
  }

  /** Stop generating; deliver what is queued, for up to the flush timeout. */
  stop(): void {
    if (this.finished || this.flushTimer !== undefined || this.controller.signal.aborted) return;
    for (const r of this.runners) r.stopGenerating();
    this.flushTimer = setTimeout(() => this.abort(), this.o.flushTimeoutMs);
  }

  /** Give up now: requests in flight are cancelled and everything undelivered counts as dropped. */
  abort(): void {
    for (const r of this.runners) r.stopGenerating();
    this.controller.abort();
  }

  get stopping(): boolean {
    return this.flushTimer !== undefined || this.controller.signal.aborted;
  }

  snapshot(): ServiceStats[] {
    return this.runners.map((r) => r.snapshot());
  }

  private summary(): ShipSummary {
    const services = this.snapshot();
    const total = { generated: 0, sent: 0, accepted: 0, rejected: 0, retried: 0, dropped: 0, dropped_queue_full: 0, dropped_at_exit: 0, queued: 0, rate: 0 };
    for (const s of services) {
      for (const key of Object.keys(total) as (keyof typeof total)[]) total[key] += s[key];
    }
    return {
      endpoint: this.o.endpoint,
      format: this.o.format,
      elapsed_s: (this.deps.now() - this.startedAt) / 1000,
      aborted: this.controller.signal.aborted && total.dropped_at_exit > 0,
      services,
      total,
    };
  }
}
