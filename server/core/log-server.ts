import type { AlertView, DashboardData, ReplicaView, ServiceHealth } from '../api-types.js';
import { loadSchema } from '../schemas.js';
import { logsBehind } from './alerting/alert-logs.js';
import { AlertDispatcher } from './alerting/dispatcher.js';
import { AlertEngine } from './alerting/engine.js';
import { LogHandler, MemoryHandler, type AlertLogger } from './alerting/handlers.js';
import { reportingFailures } from './alerting/state.js';
import type { AlertHandler, AlertNotification } from './alerting/types.js';
import { WebhookHandler } from './alerting/webhook.js';
import { Analytics, errorTrendsOf, windowBounds } from './analytics.js';
import { errorRate, roundRatio } from './error-rate.js';
import { AppError } from './errors.js';
import { IdBlocks } from './id-blocks.js';
import { IngestPipeline } from './ingest.js';
import { KeyCap, OTHER, topN, type KeyNames } from './key-cap.js';
import { toView, type StoredLog } from './log.js';
import type { LogFilterFields, LogPage, LogQuery } from './log-filter.js';
import { mergeListed, pageOf, type LogCursor } from './listing-order.js';
import type { CoreOptions } from './options.js';
import { PatternMiner, hashedIds } from './patterns/pattern-miner.js';
import { PatternStats, type PatternRange, type PatternRow, type PatternSummary } from './patterns/pattern-stats.js';
import { RecentLogs } from './recent-logs.js';
import { StorageError, type LogRepository, type RawBatch, type RuntimeCounters, type SharedFigures } from './repository.js';
import { serviceHealth, type HealthRules } from './service-health.js';
import { LogStats } from './stats.js';
import { TailHub } from './tail.js';
import { MINUTE_MS, minuteOf, systemClock, type Clock } from './time.js';
import { LogValidator, ValidationStats } from './validation.js';

/** The part of a pino logger the core uses. */
export interface CoreLogger extends AlertLogger {
  error(obj: object, msg: string): void;
}

export interface CoreDeps {
  now?: Clock;
  /** The durable tier; none means a purely in-memory server. */
  repository?: LogRepository;
  logger?: CoreLogger;
  /** Extra alert handlers beside the configured ones: any object with the AlertHandler shape. */
  alertHandlers?: readonly AlertHandler[];
}

/** What start-up read back from the durable tier, for the server's first log line. */
export interface StartupReport {
  /** The engine and where its data lives. */
  from: string;
  /** Logs in the durable tier. */
  stored: number;
  /** Logs put back in the recent-logs buffer. */
  reloaded: number;
  /** Logs replayed into the analytics window. */
  replayed: number;
  ms: number;
}

const silentLogger: CoreLogger = { warn() {}, info() {}, error() {} };

const LOG_SCHEMA = loadSchema('log.schema.json');

/** Ids a server reserves at a time from a shared store (core/id-blocks.ts). */
const ID_BLOCK = 10_000;

/**
 * The whole server without HTTP: one ingest path feeding the buffer, the counters and the
 * analytics, and the read side built from them. Routes are thin adapters over this.
 */
export class LogServer {
  readonly now: Clock;
  readonly services: KeyCap;
  readonly users: KeyCap;
  /** The in-memory tier: the newest `storage.max_logs` logs. */
  readonly recent: RecentLogs;
  /** What this server counts of the logs it accepts; `stats` and `analytics` below are what it shows. */
  readonly counted: { readonly stats: LogStats; readonly analytics: Analytics; readonly patterns: PatternStats };
  /** Mines each accepted log's message pattern (core/patterns/); undefined when `patterns.enabled` is off. */
  readonly miner: PatternMiner | undefined;
  /** Validation outcomes of the requests this server answered (`validation` is what it shows). */
  readonly validationStats = new ValidationStats();
  /**
   * With a shared store: every server's figures, read back from it (`refreshShared`), shown
   * instead of this server's own. Undefined otherwise, and until the first read.
   */
  /** With a shared store: reads of every server's figures, how they went, and whether this server checks the alert rules. */
  readonly sharedState = { refreshed: 0, failed: 0, lastRefreshSeconds: 0, checking: false };
  private shown:
    | {
        stats: LogStats;
        analytics: Analytics;
        patterns: PatternStats;
        validation: ValidationStats;
        replicas: SharedFigures['replicas'];
        /** Keys every server tracks (all-time services; users of the window) and folds, summed. */
        keys: { services: number; users: number; servicesFolded: number; usersFolded: number };
      }
    | undefined;
  readonly pipeline: IngestPipeline;
  readonly startedAt: number;
  readonly alerts: AlertEngine;
  /** Live tails (GET /api/logs/tail): a sink fanning each accepted batch out to them. */
  readonly tail: TailHub;
  readonly alertLog = new MemoryHandler();
  readonly webhooks: readonly WebhookHandler[];
  readonly dispatcher: AlertDispatcher;
  readonly repository: LogRepository | undefined;
  /** What start-up reloaded from the durable tier (set by `open`); undefined for a server without one. */
  startup: StartupReport | undefined;
  /** Whether the last write to the durable tier worked; `error` and `since` say what failed and when. */
  readonly storageState: { status: 'ok' | 'failing'; error?: string; since?: string } = { status: 'ok' };
  private readonly healthRules: HealthRules;
  /**
   * A bound (never too low) on the event times of the stored logs older (by id) than what the
   * buffer held at start; with the buffer's own bound on what it has overwritten since, it
   * says when a listing must look below the buffer.
   */
  private storedOnlyMaxTs = -Infinity;

  constructor(
    private readonly options: CoreOptions,
    deps: CoreDeps = {},
  ) {
    this.now = deps.now ?? systemClock;
    this.startedAt = this.now();
    const { limits, alerting, tail } = options;
    this.services = new KeyCap(limits.max_services);
    this.users = new KeyCap(limits.max_users);
    this.recent = new RecentLogs(options.bufferLogs);
    // With a shared store, a pattern's id is a hash of its service and first template, so
    // replicas that meet an event in the same shape give it the same id (docs/patterns.md).
    this.miner = options.patterns.enabled
      ? new PatternMiner({ maxPerService: options.patterns.max_per_service, ...(deps.repository?.shared && { allocateId: hashedIds() }) })
      : undefined;
    const miner = this.miner;
    this.counted = {
      stats: new LogStats(this.services),
      analytics: this.newAnalytics(this.services, this.users),
      patterns: this.newPatternStats((id) => miner?.describe(id)),
    };
    const logger = deps.logger ?? silentLogger;
    this.webhooks = alerting.handlers.webhooks.map((w) => new WebhookHandler(w, alerting.external_url));
    this.dispatcher = new AlertDispatcher(
      [this.alertLog, ...(alerting.handlers.log ? [new LogHandler(logger)] : []), ...this.webhooks, ...(deps.alertHandlers ?? [])],
      (handler, err) => logger.error({ err, handler }, 'alert handler failed'),
    );
    this.repository = deps.repository;
    const server = this;
    this.alerts = new AlertEngine({
      config: alerting,
      // What the server shows: with a shared store, every server's figures.
      get analytics() {
        return server.analytics;
      },
      get stats() {
        return server.stats;
      },
      get patterns() {
        return server.patterns;
      },
      templateOf: (id) => server.miner?.template(id),
      services: this.services,
      now: this.now,
      startedAt: this.startedAt,
      notify: (n) => this.notifyWithLogs(n, logger),
      store: this.repository?.alerts && reportingFailures(this.repository.alerts, (err) => logger.error({ err }, 'cannot save the alert state')),
    });
    this.tail = new TailHub({
      maxClients: tail.max_clients,
      maxPendingEvents: tail.max_pending_events,
      heartbeatMs: tail.heartbeat_seconds * 1000,
      recent: this.recent,
      lastAssignedId: () => this.pipeline.currentId,
      now: this.now,
    });
    this.pipeline = new IngestPipeline({
      journal: this.repository && { append: (logs, raw) => this.commit(logs, raw) },
      ids: this.repository?.shared && new IdBlocks((n) => this.repository!.shared!.reserveIds(n), ID_BLOCK),
      validator: new LogValidator(LOG_SCHEMA, limits),
      validationStats: this.validationStats,
      services: this.services,
      users: this.users,
      patterns: this.miner,
      recent: this.recent,
      // The tail right after the buffer, whose query a new tail's backlog comes from.
      // Alerting last: its rules read the analytics this batch has just updated.
      // With a shared store, the alert rules read every server's figures: they are checked on
      // the schedule, not on each batch of this server's.
      sinks: [this.tail, this.counted.stats, this.counted.analytics, this.counted.patterns, ...(this.repository?.shared ? [] : [this.alerts])],
      now: this.now,
    });
    this.healthRules = {
      errorRate: { threshold: alerting.error_rate_threshold, minSamples: alerting.min_samples },
      windowMinutes: alerting.window_minutes,
      serviceDownMinutes: alerting.service_down_minutes,
    };
  }

  private newAnalytics(services: KeyNames, users: KeyNames): Analytics {
    const { analytics } = this.options;
    return new Analytics({ maxBuckets: analytics.max_buckets, futureSkewMs: analytics.future_skew_seconds * 1000, now: this.now, services, users });
  }

  /** Notifications on their way to the dispatcher, in order, each after its logs are read. */
  private notices: Promise<void> = Promise.resolve();

  /** Hands `n` to the handlers once its samples and top patterns are read; a read that fails leaves them empty, never the notification. */
  private notifyWithLogs(n: AlertNotification, logger: CoreLogger): void {
    this.notices = this.notices.then(async () => {
      let alert = n.alert;
      try {
        alert = await this.withLogs(alert);
      } catch (err) {
        logger.error({ err, fingerprint: alert.fingerprint }, 'cannot read the logs behind an alert; notifying without them');
      }
      this.dispatcher.dispatch({ status: n.status, alert });
    });
  }

  /**
   * `alert` with the logs behind it (core/alerting/alert-logs.ts): up to 5 of them, newest
   * first, read through the same query its `query` string makes, and the 3 patterns with most
   * of them in its window.
   */
  async withLogs(alert: AlertView): Promise<AlertView> {
    // What was read for this query stays right until a log arrives or goes (or, with a shared
    // store, until the next read of every server's figures): the dashboard, polled every few
    // seconds, then pays a map lookup per alert rather than a query.
    const version = `${this.pipeline.currentId}:${this.removals}:${this.sharedState.refreshed}:${minuteOf(this.now())}`;
    const cached = this.alertLogs.get(alert.query);
    if (cached !== undefined && cached.version === version) return { ...alert, samples: cached.samples, top_patterns: cached.top };
    const filter = logsBehind(alert, this.options.alerting.window_minutes);
    const page = await this.query({ ...filter, limit: 5 });
    let top: AlertView['top_patterns'];
    if (filter.patternId !== undefined) {
      const row = this.patterns.row(filter.patternId);
      const count = this.patterns.countSince(filter.patternId, 0b11000, minuteOf(filter.from ?? 0), minuteOf(filter.to ?? this.now()));
      top = row === undefined ? [] : [{ id: row.id, template: this.miner?.template(row.id) ?? row.template, count }];
    } else {
      const service = filter.services?.[0];
      top = this.patterns
        .list({ service, levels: filter.levels, from: filter.from ?? (filter.to ?? this.now()) - this.options.alerting.window_minutes * MINUTE_MS, to: filter.to }, 3)
        .map((p) => ({ id: p.id, template: p.template, count: p.count }));
    }
    const samples = page.logs.map(toView);
    if (this.alertLogs.size >= 1000) this.alertLogs.clear();
    this.alertLogs.set(alert.query, { version, samples, top });
    return { ...alert, samples, top_patterns: top };
  }

  /** `withLogs`' answers by alert query, with the state they were read in. */
  private readonly alertLogs = new Map<string, { version: string; samples: AlertView['samples']; top: AlertView['top_patterns'] }>();
  /** Bumped whenever logs are deleted (retention, DELETE /api/logs): answers read before are stale. */
  private removals = 0;

  /** `withLogs` for each alert of a list. */
  withLogsAll(alerts: readonly AlertView[]): Promise<AlertView[]> {
    return Promise.all(alerts.map((a) => this.withLogs(a)));
  }

  private newPatternStats(describe: (id: number) => { service: string; template: string } | undefined): PatternStats {
    const { analytics } = this.options;
    return new PatternStats({ window: { maxBuckets: analytics.max_buckets, futureSkewMs: analytics.future_skew_seconds * 1000 }, now: this.now, describe });
  }

  /** Message patterns as this server shows them (see `stats`). */
  get patterns(): PatternStats {
    return this.shown?.patterns ?? this.counted.patterns;
  }

  /** GET /api/patterns: the patterns with logs in the range, most first. */
  listPatterns(range: PatternRange, limit: number): PatternSummary[] {
    return this.patterns.list(range, limit);
  }

  /** All-time counts as this server shows them: its own, or with a shared store every server's. */
  get stats(): LogStats {
    return this.shown?.stats ?? this.counted.stats;
  }

  /** Per-minute figures as this server shows them (see `stats`). */
  get analytics(): Analytics {
    return this.shown?.analytics ?? this.counted.analytics;
  }

  /** Validation outcomes as this server shows them (see `stats`). */
  get validation(): ValidationStats {
    return this.shown?.validation ?? this.validationStats;
  }

  /** With a shared store, the servers that wrote to it and when each last said it was up. */
  get replicas(): SharedFigures['replicas'] | undefined {
    return this.shown?.replicas;
  }

  /**
   * With a shared store, reads every server's figures back from it (all-time counters, the
   * minutes of the analytics window, validation outcomes) and shows them from then on; first
   * says this server is up. Each server counts what it accepts in the statement that stores
   * it, so once this returns, what it shows is exact up to that moment. Called every second
   * (app.ts), and by tests.
   */
  async refreshShared(): Promise<void> {
    const shared = this.repository?.shared;
    if (shared === undefined) return;
    const now = this.now();
    const { analytics: a } = this.options;
    let figures: SharedFigures;
    const started = performance.now();
    try {
      // A write and a read: /health follows the store even when no log arrives.
      await shared.heartbeat(now, this.startedAt);
      figures = await shared.figures(windowBounds(now, { maxBuckets: a.max_buckets, futureSkewMs: a.future_skew_seconds * 1000 }).oldestMinute);
    } catch (e) {
      this.sharedState.failed++;
      this.storageFailed(e);
      throw e;
    }
    this.sharedState.refreshed++;
    this.sharedState.lastRefreshSeconds = (performance.now() - started) / 1000;
    this.storageWorks();
    // The keys are each server's capped keys already: their union is bounded by the caps times the servers.
    const services = new KeyCap(Number.POSITIVE_INFINITY);
    const users = new KeyCap(Number.POSITIVE_INFINITY);
    const stats = new LogStats(services);
    for (const c of figures.counters) stats.restore(services.admit(c.service), c.level, c.count, c.lastTs, c.lastReceived);
    const analytics = this.newAnalytics(services, users);
    for (const m of figures.minutes) analytics.load(m.minute, services.admitIndex(m.service), m.level, m.count);
    for (const u of figures.users) analytics.loadUser(u.minute, users.admitIndex(u.user), u.count);
    // One template per pattern: this server's miner's, else the first row's (patterns another server mined join the miner).
    this.adoptPatterns(figures.patterns);
    const templates = new Map<number, { service: string; template: string }>();
    for (const r of figures.patterns) if (!templates.has(r.id)) templates.set(r.id, { service: r.service, template: r.template });
    const miner = this.miner;
    const patterns = this.newPatternStats((id) => miner?.describe(id) ?? templates.get(id));
    patterns.restore(figures.patterns);
    for (const m of figures.patternMinutes) patterns.loadMinute(m.minute, m.pattern, m.level, m.count);
    const validation = new ValidationStats();
    const keys = { services: stats.services.size, users: users.size, servicesFolded: 0, usersFolded: 0 };
    for (const r of figures.runtime) {
      keys.servicesFolded += r.servicesFolded;
      keys.usersFolded += r.usersFolded;
      validation.total += r.validation.total;
      validation.valid += r.validation.valid;
      validation.invalid += r.validation.invalid;
      for (const [keyword, n] of Object.entries(r.validation.errorTypes)) validation.errorTypes.set(keyword, (validation.errorTypes.get(keyword) ?? 0) + n);
      analytics.outOfWindow += r.outOfWindow;
    }
    this.shown = { stats, analytics, patterns, validation, replicas: figures.replicas, keys };
  }

  /**
   * With a shared store, a fresh tail's backlog: the newest `limit` matches of every server's,
   * oldest first. Undefined otherwise: the buffer holds every log a tail can show.
   */
  sharedBacklog(filters: LogFilterFields, limit: number | undefined): Promise<StoredLog[]> | undefined {
    if (!this.repository?.shared || !limit) return undefined;
    return this.query({ ...filters, limit }).then((page) => page.logs.reverse());
  }

  /**
   * The scheduled alert check with a shared store: every server reads every server's figures
   * and the shared alert state; only the one holding the store's lock checks the rules, so
   * each alert is notified once however many servers there are. When that server dies, the
   * next to check takes over with the state it left. Returns whether this server checked.
   */
  async checkShared(): Promise<boolean> {
    const shared = this.repository?.shared;
    if (shared === undefined) return false;
    await this.refreshShared();
    await this.repository?.alerts?.settled?.();
    await this.alerts.restore();
    this.sharedState.checking = await shared.tryLead();
    if (!this.sharedState.checking) return false;
    this.alerts.checkAll();
    return true;
  }

  /**
   * Start-up: reads back what the durable tier and the alert state hold. Call once, before
   * the first log or query; a server without a durable tier has nothing to read.
   */
  async open(): Promise<void> {
    if (this.repository) this.startup = await this.restore(this.repository);
    await this.alerts.restore();
    await this.refreshShared();
    // Live tails show what every server accepts: the others' logs come from the store.
    this.repository?.shared?.follow(
      (logs) => this.tail.append(logs),
      () => this.tail.stats().active > 0,
    );
  }

  /**
   * Start-up from the durable tier: counters as persisted, ids continued, the newest
   * `storage.max_logs` logs back in the buffer, and the analytics window replayed, so the
   * dashboard shows after a restart what it showed before.
   */
  private async restore(repo: LogRepository): Promise<StartupReport> {
    const started = performance.now();
    // A shared store's counters and minutes are every server's: they are read (refreshShared), not replayed.
    if (repo.shared) return this.restoreShared(repo, started);
    for (const c of await repo.counters()) {
      if (c.service !== OTHER) this.services.admit(c.service);
      this.counted.stats.restore(this.services.keyOf(c.service), c.level, c.count, c.lastTs, c.lastReceived);
    }
    this.pipeline.resumeAfter(await repo.lastAssignedId());
    await this.restorePatterns(repo);
    const reloaded = await repo.recent(this.options.bufferLogs);
    this.recent.append(reloaded);
    this.storedOnlyMaxTs = await repo.maxTsBelow(this.recent.oldestId() ?? Number.MAX_SAFE_INTEGER);
    let replayed = 0;
    const windowStart = (minuteOf(this.now()) - this.options.analytics.max_buckets + 1) * MINUTE_MS;
    const skewMs = this.options.analytics.future_skew_seconds * 1000;
    for await (const page of repo.since(windowStart)) {
      const chunk: StoredLog[] = [];
      for (const log of page) {
        // Too far ahead of the clock when it arrived: it was never in a bucket, so it is not replayed into one.
        if (log.ts > log.receivedAt + skewMs) continue;
        log.serviceIndex = this.services.indexOf(log.service);
        if (log.userId !== undefined) log.userIndex = this.users.admitIndex(log.userId);
        chunk.push(log);
      }
      this.counted.analytics.replay(chunk);
      this.counted.patterns.replay(chunk);
      replayed += chunk.length;
    }
    // After the replay, which admits users again: the counters as the last run left them.
    const counters = await repo.loadRuntimeCounters?.();
    if (counters !== undefined) this.restoreRuntimeCounters(counters);
    repo.trackRuntimeCounters?.(() => this.runtimeCounters());
    return { from: repo.description, stored: await repo.count(), reloaded: reloaded.length, replayed, ms: performance.now() - started };
  }

  /**
   * Start-up on a shared store: this server's own runtime counters back; the logs and
   * figures stay in the store, which every read goes to. The buffer is not refilled: it only
   * holds what this server accepts from now on.
   */
  private async restoreShared(repo: LogRepository, started: number): Promise<StartupReport> {
    await this.restorePatterns(repo);
    const counters = await repo.loadRuntimeCounters?.();
    if (counters !== undefined) this.restoreRuntimeCounters(counters);
    repo.trackRuntimeCounters?.(() => this.runtimeCounters());
    return { from: repo.description, stored: await repo.count(), reloaded: 0, replayed: 0, ms: performance.now() - started };
  }

  /**
   * The patterns as committed: the miner gets their templates back (ids survive, new logs join
   * them), the counts their all-time figures; from now on each commit writes them.
   */
  private async restorePatterns(repo: LogRepository): Promise<void> {
    const miner = this.miner;
    if (miner === undefined || repo.loadPatterns === undefined) return;
    const rows = await repo.loadPatterns();
    this.adoptPatterns(rows);
    if (!repo.shared) this.counted.patterns.restore(rows);
    repo.describePatterns?.((id) => miner.describe(id));
  }

  /** Teaches the miner patterns it does not hold yet (restored, or mined by another server sharing the store). */
  private adoptPatterns(rows: readonly PatternRow[]): void {
    const miner = this.miner;
    if (miner === undefined) return;
    const fresh = new Map<number, PatternRow>();
    for (const r of rows) if (!miner.has(r.id) && !fresh.has(r.id)) fresh.set(r.id, r);
    miner.restore(
      [...fresh.values()].map((r) => ({ id: r.id, service: r.service, tokens: r.template === '' ? [] : r.template.split(' '), count: r.levels.reduce((a, b) => a + b, 0) })),
    );
  }

  /** What no stored log can give back after a restart (core/repository.ts, RuntimeCounters). */
  private runtimeCounters(): RuntimeCounters {
    const v = this.validationStats;
    return {
      validation: { total: v.total, valid: v.valid, invalid: v.invalid, errorTypes: Object.fromEntries(v.errorTypes) },
      servicesFolded: this.services.folded,
      usersFolded: this.users.folded,
      outOfWindow: this.counted.analytics.outOfWindow,
    };
  }

  private restoreRuntimeCounters(c: RuntimeCounters): void {
    const v = this.validationStats;
    v.total = c.validation.total;
    v.valid = c.validation.valid;
    v.invalid = c.validation.invalid;
    v.errorTypes.clear();
    for (const [keyword, n] of Object.entries(c.validation.errorTypes)) v.errorTypes.set(keyword, n);
    this.services.folded = c.servicesFolded;
    this.users.folded = c.usersFolded;
    this.counted.analytics.outOfWindow = c.outOfWindow;
  }

  /** Commits to the durable tier, keeping `storageState` current; a failure becomes a 503 for the caller. */
  private async commit(logs: readonly StoredLog[], raw?: RawBatch): Promise<void> {
    try {
      await this.repository!.append(logs, raw);
      this.storageWorks();
    } catch (e) {
      this.storageFailed(e);
      const unknown = e instanceof StorageError && e.code === 'STORAGE_TIMEOUT';
      const outcome = unknown
        ? 'the database did not answer in time, so this request may or may not have been stored; send it again later (its logs may then be stored twice)'
        : 'nothing in this request was stored, send it again later';
      throw new AppError(503, unknown ? 'STORAGE_TIMEOUT' : 'STORAGE_UNAVAILABLE', `${(e as Error).message}; ${outcome}`, {
        'retry-after': '5',
      });
    }
  }

  private storageWorks(): void {
    if (this.storageState.status === 'ok') return;
    this.storageState.status = 'ok';
    delete this.storageState.error;
    delete this.storageState.since;
  }

  private storageFailed(e: unknown): void {
    if (this.storageState.status === 'ok') this.storageState.since = new Date(this.now()).toISOString();
    this.storageState.status = 'failing';
    // The reason without the file's path: /health shows it to anyone; the log (errors.ts) gets the whole message.
    this.storageState.error = e instanceof StorageError ? e.reason : (e as Error).message;
  }

  /** With a shared store, this server's name among those sharing it (`cluster.replica_id`). */
  get replicaId(): string | undefined {
    return this.repository?.shared?.replica;
  }

  /**
   * A page in listing order (newest event time first, core/listing-order.ts) over both tiers.
   * The buffer lists what it holds; the durable tier is asked too only when a log only it
   * holds can be listed on this page: when the buffer has too few, or when a stored log
   * older than the buffer may have a later event time than the page's last one. A shared
   * store is the only tier that holds every server's logs: it answers alone.
   */
  async query(q: LogQuery): Promise<LogPage> {
    const offset = q.offset ?? 0;
    const k = offset + q.limit + 1;
    const repo = this.repository;
    if (repo?.shared) return pageOf(await repo.listed(q, k), offset, q.limit);
    const mem = this.recent.listed(q, k);
    if (repo === undefined) return pageOf(mem, offset, q.limit);
    const oldest = this.recent.oldestId();
    const storedOnly = oldest === undefined ? (await repo.count()) > 0 : (await repo.minId()) < oldest;
    if (!storedOnly) return pageOf(mem, offset, q.limit);
    const bound = Math.min(Math.max(this.storedOnlyMaxTs, this.recent.evictedMaxTs()), q.before?.ts ?? Infinity, q.to ?? Infinity);
    if (mem.length === k && mem[k - 1]!.ts > bound) return pageOf(mem, offset, q.limit);
    const below = Math.min(q.idBelow ?? Number.MAX_SAFE_INTEGER, oldest ?? Number.MAX_SAFE_INTEGER);
    const stored = await repo.listed({ ...q, idBelow: below }, k);
    return pageOf(mergeListed(mem, stored, k), offset, q.limit);
  }

  /**
   * The cursor at the log with this id (GET /api/logs' `before_id`): the page after it.
   * Undefined when no tier holds that log any more.
   */
  async cursorAt(id: number): Promise<LogCursor | undefined> {
    const repo = this.repository;
    const ts = repo?.shared ? await repo.timeOf(id) : (this.recent.timeOf(id) ?? (await repo?.timeOf(id)));
    return ts === undefined ? undefined : { ts, id };
  }

  /**
   * One bounded step of retention on the durable tier, mirrored in the buffer so both tiers
   * keep holding the same logs. Returns how many rows went; 0 when there is nothing to do.
   */
  async retentionStep(): Promise<number> {
    // With a shared store, the server checking the alert rules does the retention for all.
    if (this.repository === undefined || (this.repository.shared && !this.sharedState.checking)) return 0;
    const r = await this.repository.retentionStep(this.now());
    if (r.deleted > 0) {
      this.removals++;
      this.recent.removeExpired(r.minId, r.receivedBefore);
    }
    return r.deleted;
  }

  serviceHealth(): Record<string, ServiceHealth> {
    return serviceHealth(this.stats, this.analytics, this.healthRules, this.now);
  }

  /** Per capped key space: keys tracked, the cap, and how many logs were counted under `other` past it. */
  cardinality(): { services: { tracked: number; cap: number; folded: number }; users: { tracked: number; cap: number; folded: number } } {
    // With a shared store, what every server tracked and folded (each server applies the caps to what it accepts).
    const k = this.shown?.keys;
    return {
      services: { tracked: k?.services ?? this.services.size, cap: this.services.cap, folded: k?.servicesFolded ?? this.services.folded },
      users: { tracked: k?.users ?? this.users.size, cap: this.users.cap, folded: k?.usersFolded ?? this.users.folded },
    };
  }

  /** Stops the alert handlers (webhook queues) and commits and closes the durable tier; call once, on shutdown. */
  async close(): Promise<void> {
    await this.notices;
    await this.dispatcher.close();
    await this.repository?.close();
  }

  /**
   * Deletes logs whose event time is before `ts` from both tiers, only those of `service` when
   * given (a caller bound to one service); returns how many. Counters are all-time and stay.
   */
  async deleteBefore(ts: number, service?: string): Promise<number> {
    this.removals++;
    const inMemory = this.recent.deleteBefore(ts, service);
    return this.repository ? this.repository.deleteBefore(ts, service) : inMemory;
  }

  /** GET /api/advanced-dashboard-data. Built from buckets and counters: its cost does not grow with stored logs. */
  async dashboard(minutes: number): Promise<DashboardData> {
    const { stats, analytics } = this;
    const health = this.serviceHealth();
    const series = analytics.timeSeries(minutes);
    return {
      summary: {
        total_logs: stats.total,
        total_errors: stats.errors,
        error_rate: roundRatio(errorRate(stats)),
        active_services: Object.values(health).filter((h) => h.status !== 'down').length,
        time_range: analytics.timeRange(),
      },
      time_series: series,
      levels_per_minute: analytics.levelsPerMinute(minutes),
      error_trends: errorTrendsOf(series),
      service_health: health,
      most_active_services: topN(
        [...analytics.serviceCounts(minutes)].map(([service, c]): [string, number] => [service, c.total]),
        10,
      ).map(([service, count]) => ({ service, count })),
      user_activity: analytics.topUsers(minutes, 10),
      recent_logs: (await this.query({ limit: 20 })).logs.map(toView),
      active_alerts: await this.withLogsAll(this.alerts.activeAlerts()),
      validation_stats: this.validation.toJSON(),
      ...(this.replicas !== undefined && { replicas: this.replicasUp() }),
    };
  }

  /** The servers sharing the store that said they were up in the last minute, by name. */
  replicasUp(): ReplicaView[] {
    const since = this.now() - MINUTE_MS;
    return (this.replicas ?? [])
      .filter((r) => r.seenAt >= since)
      .map((r) => ({ replica: r.replica, started_at: new Date(r.startedAt).toISOString(), last_seen: new Date(r.seenAt).toISOString(), self: r.replica === this.replicaId }));
  }
}
