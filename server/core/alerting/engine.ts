import { createHash } from 'node:crypto';
import type { Analytics, ServiceCount, ServiceWindow } from '../analytics.js';
import { breaksErrorRate, errorRate, roundRatio } from '../error-rate.js';
import type { KeyNames } from '../key-cap.js';
import { isErrorLevel, type LogSink, type StoredLog } from '../log.js';
import { OTHER_TEMPLATE } from '../patterns/pattern-miner.js';
import type { PatternStats } from '../patterns/pattern-stats.js';
import type { LogStats } from '../stats.js';
import { MINUTE_MS, minuteKey, minuteOf, type Clock } from '../time.js';
import { logsBehind, logsUrl, queryString } from './alert-logs.js';
import { History } from './history.js';
import type { AlertRecord, AlertStateStore } from './state.js';
import { ALL_SERVICES, type AlertLevel, type AlertNotification, type AlertView, type RuleName } from './types.js';

export interface AlertRulesConfig {
  error_rate_threshold: number;
  high_volume_threshold: number;
  service_down_minutes: number;
  cooldown_seconds: number;
  window_minutes: number;
  min_samples: number;
  new_pattern_min_logs: number;
  history_size: number;
  /** How receivers reach this server: the base of an alert's `logs_url`. */
  external_url: string;
  rules: Readonly<Record<RuleName, boolean>>;
}

export interface AlertEngineDeps {
  config: AlertRulesConfig;
  analytics: Analytics;
  stats: LogStats;
  /** Message patterns with their counts (the new_pattern rule). */
  patterns: PatternStats;
  /** A pattern's current template, for the new_pattern rule's message. */
  templateOf: (id: number) => string | undefined;
  /** Names the service indexes logs carry (`StoredLog.serviceIndex`): the services' cardinality cap. */
  services: KeyNames;
  now: Clock;
  /** When this process started (the clock's time): a restart alone never makes a service down. */
  startedAt: number;
  /** Receives every notification; must not block (the dispatcher defers handler work). */
  notify: (notification: AlertNotification) => void;
  /** Where the state that decides whether to page is kept across restarts; none: memory only. */
  store?: AlertStateStore;
}

/**
 * A measurement of one rule for one service at one moment. Its text is built only when read:
 * most measurements on the ingest path find nothing, and a firing alert is measured again on
 * every ingest but read only when notified or listed.
 */
interface Measurement {
  breached: boolean;
  value: number;
  threshold: number;
  message: () => string;
}

interface AlertState {
  readonly rule: RuleName;
  readonly service: string;
  readonly fingerprint: string;
  readonly level: AlertLevel;
  readonly firedAt: number;
  /** The text of the latest measurement, rendered only when someone reads it (a view, a notification). */
  message: () => string;
  value: number;
  threshold: number;
  status: 'firing' | 'resolved';
  lastNotifiedAt: number | null;
  resolvedAt: number | null;
  /** The pattern of a new_pattern alert; null otherwise. */
  readonly patternId: number | null;
}

/** How long the notification log keeps an entry (at least a cooldown): five days, as Alertmanager's does. */
const NOTIFICATION_LOG_MS = 120 * 3_600_000;

const LEVEL: Record<RuleName, AlertLevel> = { error_rate: 'CRITICAL', high_volume: 'WARNING', service_down: 'CRITICAL', new_pattern: 'WARNING' };

/** Level indexes ERROR and CRITICAL, as a mask. */
const ERROR_MASK = (1 << 3) | (1 << 4);

/** Stable id of (rule, service), or (rule, service, pattern) for new_pattern: 16 hex digits like Alertmanager's. */
export function fingerprintOf(rule: RuleName, service: string, patternId: number | null = null): string {
  const subject = patternId === null ? service : `${service}\u0000${patternId}`;
  return createHash('sha256').update(`${rule}\u0000${subject}`).digest('hex').slice(0, 16);
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

/**
 * Evaluates the rules and keeps each alert's lifecycle. An alert is identified by
 * (rule, service). A breach opens an alert and notifies; while it stays breached, a
 * re-notification goes out at most once per cooldown; once an evaluation finds the
 * condition clear it resolves (notifying only if its firing was notified) and moves to a
 * bounded history. The cooldown is kept per (rule, service) across episodes, so an alert
 * that flaps cannot notify more than once per cooldown either.
 *
 * Every check-and-set runs synchronously with no await in between: JavaScript runs one
 * evaluation at a time, so concurrent ingests cannot both see "not notified yet".
 */
export class AlertEngine implements LogSink {
  private readonly active = new Map<string, AlertState>();
  private readonly history: History<AlertState>;
  /** Last firing notification per fingerprint, kept across episodes for the cooldown. */
  private readonly lastFiringNotice = new Map<string, number>();
  /** Silenced fingerprints and when each silence ends (epoch ms). */
  private readonly silences = new Map<string, number>();
  /** Every (rule, service) fingerprint seen, so silences can target resolved alerts too. */
  private readonly known = new Set<string>();
  /**
   * fingerprintOf per (rule, service), computed once: every ingest asks for several and a
   * sha256 each time cost a tenth of single-log ingest. Bounded like the services are
   * (they arrive folded by the cardinality cap).
   */
  private readonly fingerprints: Record<RuleName, Map<string, string>> = {
    error_rate: new Map(),
    high_volume: new Map(),
    service_down: new Map(),
    new_pattern: new Map(),
  };
  readonly counters: Record<RuleName, { fired: number; notified: number }> = {
    error_rate: { fired: 0, notified: 0 },
    high_volume: { fired: 0, notified: 0 },
    service_down: { fired: 0, notified: 0 },
    new_pattern: { fired: 0, notified: 0 },
  };

  /** Batches appended so far, and the last one that held each service index (see append). */
  private batches = 0;
  private readonly lastBatch: number[] = [];

  constructor(private readonly deps: AlertEngineDeps) {
    this.history = new History<AlertState>(Math.max(1, deps.config.history_size));
  }

  /**
   * The state a previous run left: alerts still firing (with when they started and were last
   * notified), the cooldowns from the notification log, silences and the resolved history. An
   * alert that is still true is then only measured again: it notifies when its cooldown since
   * the last notification before the restart is over, as if there had been no restart.
   * Called before the first log or check; with a store several servers share, before every
   * check too, so each server shows (and the one that checks acts on) the state all share.
   */
  async restore(): Promise<void> {
    const { store } = this.deps;
    if (store === undefined) return;
    const state = await store.loadAlertState();
    this.history.clear();
    this.active.clear();
    this.silences.clear();
    this.lastFiringNotice.clear();
    const revive = (r: AlertRecord): AlertState => ({ ...r, patternId: r.patternId ?? null, message: () => r.message });
    for (const r of state.history) this.history.push(revive(r));
    for (const r of state.active) this.active.set(r.fingerprint, revive(r));
    for (const { fingerprint, until } of state.silences) this.silences.set(fingerprint, until);
    for (const { fingerprint, at } of state.lastFiring) this.lastFiringNotice.set(fingerprint, at);
    for (const fingerprint of state.known) this.known.add(fingerprint);
  }

  /** Writes an alert's record through to the store, when there is one. */
  private persist(s: AlertState): void {
    const { store, config } = this.deps;
    if (store === undefined) return;
    const { rule, service, fingerprint, level, firedAt, status, lastNotifiedAt, resolvedAt, value, threshold, patternId } = s;
    store.saveAlert({ fingerprint, rule, service, level, status, firedAt, lastNotifiedAt, resolvedAt, value, threshold, message: s.message(), patternId }, Math.max(1, config.history_size));
  }

  /** Evaluated on ingest, for the services this batch touched and for all services together. */
  append(logs: readonly StoredLog[]): void {
    // The services of the batch, each once, in first-seen order: a batch number per service
    // index marks the ones already listed, so a log costs an array read, not a set insertion.
    const batch = ++this.batches;
    const touched: number[] = [];
    // The patterns of the batch's errors (few, and only they can make a pattern new at ERROR or above).
    let errorPatterns: Set<number> | undefined;
    for (const log of logs) {
      if (log.patternId > 0 && isErrorLevel(log.level)) (errorPatterns ??= new Set()).add(log.patternId);
      const index = log.serviceIndex;
      if (this.lastBatch[index] === batch) continue;
      this.lastBatch[index] = batch;
      touched.push(index);
    }
    for (const index of touched) this.evaluateService(this.deps.services.keyAt(index));
    this.evaluateGlobal();
    if (errorPatterns === undefined || !this.deps.config.rules.new_pattern) return;
    // Only a new pattern can fire here; one no longer new that is still firing resolves at the
    // scheduled check (checkAll), as its being new ends with time, not with a log.
    const since = this.newSince();
    for (const id of errorPatterns) if (this.deps.patterns.firstSeen(id) >= since) this.evaluatePattern(id);
  }

  /** The event time from which a pattern first seen is new: within the window, and past the warm-up. */
  private newSince(): number {
    const windowMs = this.deps.config.window_minutes * MINUTE_MS;
    return Math.max(this.deps.now() - windowMs, this.deps.patterns.earliest + windowMs);
  }

  /** The scheduled check: every rule for every service, so silence and a sliding window are noticed without new logs. */
  checkAll(): void {
    for (const service of this.deps.stats.services.keys()) this.evaluateService(service);
    this.evaluateGlobal();
    if (!this.deps.config.rules.new_pattern) return;
    const ids = new Set(this.deps.patterns.firstSeenSince(this.deps.now() - this.deps.config.window_minutes * MINUTE_MS));
    for (const s of this.active.values()) if (s.patternId !== null) ids.add(s.patternId);
    for (const id of ids) this.evaluatePattern(id);
  }

  /**
   * The new_pattern rule for one pattern: first seen in the last `window_minutes` with at
   * least `new_pattern_min_logs` ERROR or CRITICAL logs in that window. It stays firing while
   * the pattern is that new and resolves once it is not, so it fires once per pattern. The
   * first window after mining began is a warm-up: then every pattern is new.
   */
  private evaluatePattern(id: number): void {
    const { patterns, config, now } = this.deps;
    const row = patterns.row(id);
    if (row === undefined) return;
    const t = now();
    const isNew = row.firstSeen >= this.newSince();
    const errors = patterns.countSince(id, ERROR_MASK, minuteOf(t) - config.window_minutes + 1);
    const threshold = config.new_pattern_min_logs;
    const firing = this.active.has(this.fingerprint('new_pattern', row.service, id));
    const template = this.deps.templateOf(id) ?? row.template;
    // A service's overflow pattern is no event of its own: new shapes past the cap are not news.
    if (template === OTHER_TEMPLATE[0]) return;
    this.observe(
      'new_pattern',
      row.service,
      {
        breached: isNew && (firing || errors >= threshold),
        value: errors,
        threshold,
        message: () =>
          `New pattern in ${row.service} since ${new Date(row.firstSeen).toISOString()}: "${template}" (${errors} ERROR/CRITICAL logs in the last ${config.window_minutes} min), threshold ${threshold}`,
      },
      id,
    );
  }

  private evaluateService(service: string): void {
    const { rules, window_minutes: minutes } = this.deps.config;
    if (!rules.error_rate && !rules.high_volume && !rules.service_down) return;
    // One pass over the window serves both the error-rate and the volume rule.
    const w = rules.error_rate || rules.high_volume ? this.deps.analytics.serviceWindow(service, minutes) : undefined;
    if (rules.error_rate) this.observe('error_rate', service, this.measureErrorRate(service, w!));
    if (rules.high_volume) this.observe('high_volume', service, this.measureVolume(service, w!));
    if (rules.service_down) this.observe('service_down', service, this.measureSilence(service));
  }

  private evaluateGlobal(): void {
    if (!this.deps.config.rules.error_rate) return;
    const w = this.deps.analytics.windowTotals(this.deps.config.window_minutes);
    this.observe('error_rate', ALL_SERVICES, this.measureErrorRate(ALL_SERVICES, w));
  }

  private measureErrorRate(service: string, w: ServiceCount): Measurement {
    const { window_minutes: minutes, min_samples: minSamples, error_rate_threshold: threshold } = this.deps.config;
    const rate = errorRate(w);
    const who = service === ALL_SERVICES ? 'all services' : service;
    return {
      breached: breaksErrorRate(w, { threshold, minSamples }),
      value: roundRatio(rate),
      threshold,
      message: () => `Error rate for ${who} is ${pct(rate)} over the last ${minutes} min (${w.errors} of ${w.total} logs), threshold ${pct(threshold)}`,
    };
  }

  /**
   * The volume rule fires on minutes this process counted as logs arrived, never on minutes
   * replayed from the database at start-up: their burst was judged (and paged) by the run that
   * received it. An alert already firing stays until the busiest minute, replayed or not, is
   * under the threshold.
   */
  private measureVolume(service: string, w: ServiceWindow): Measurement {
    const { high_volume_threshold: threshold } = this.deps.config;
    const firing = this.active.has(this.fingerprint('high_volume', service));
    const [count, minute] = firing && w.peakCount >= w.livePeakCount ? [w.peakCount, w.peakMinute] : [w.livePeakCount, w.livePeakMinute];
    return {
      breached: count >= threshold,
      value: count,
      threshold,
      message: () => `${service} sent ${count} logs in one minute (${minute === null ? 'none' : minuteKey(minute)}), threshold ${threshold} per minute`,
    };
  }

  /**
   * Silence is counted from the last log actually received, restored across restarts. But a
   * restart alone never makes a service down: while the server was away nobody could send, so
   * a service not already down is judged only once the server has itself been up for the
   * threshold.
   */
  private measureSilence(service: string): Measurement {
    const lastSeen = this.deps.stats.services.get(service)?.lastSeen;
    const threshold = this.deps.config.service_down_minutes * 60;
    const limitMs = this.deps.config.service_down_minutes * MINUTE_MS;
    const now = this.deps.now();
    const silentSeconds = lastSeen === undefined ? 0 : Math.floor((now - lastSeen) / 1000);
    const judged = now - this.deps.startedAt >= limitMs || this.active.has(this.fingerprint('service_down', service));
    return {
      breached: lastSeen !== undefined && now - lastSeen >= limitMs && judged,
      value: silentSeconds,
      threshold,
      message: () => `${service} has sent nothing for ${silentSeconds} s (last seen ${lastSeen === undefined ? 'never' : new Date(lastSeen).toISOString()}), threshold ${threshold} s`,
    };
  }

  private silencedUntil(fingerprint: string): number | undefined {
    const until = this.silences.get(fingerprint);
    if (until === undefined) return undefined;
    if (until > this.deps.now()) return until;
    this.silences.delete(fingerprint);
    return undefined;
  }

  private send(state: AlertState, status: 'firing' | 'resolved'): void {
    const at = this.deps.now();
    if (status === 'firing') {
      state.lastNotifiedAt = at;
      this.lastFiringNotice.set(state.fingerprint, at);
      this.counters[state.rule].notified++;
      this.persist(state);
    }
    this.deps.store?.saveNotification({ fingerprint: state.fingerprint, status, at }, Math.max(NOTIFICATION_LOG_MS, this.deps.config.cooldown_seconds * 1000));
    this.deps.notify({ status, alert: this.view(state) });
  }

  private fingerprint(rule: RuleName, service: string, patternId: number | null = null): string {
    const cache = this.fingerprints[rule];
    const key = patternId === null ? service : `${service}\u0000${patternId}`;
    let fingerprint = cache.get(key);
    if (fingerprint === undefined) cache.set(key, (fingerprint = fingerprintOf(rule, service, patternId)));
    return fingerprint;
  }

  private observe(rule: RuleName, service: string, m: Measurement, patternId: number | null = null): void {
    const fingerprint = this.fingerprint(rule, service, patternId);
    const current = this.active.get(fingerprint);
    const now = this.deps.now();
    if (!m.breached) {
      if (current === undefined) return;
      current.status = 'resolved';
      current.resolvedAt = now;
      current.value = m.value;
      current.message = m.message;
      this.active.delete(fingerprint);
      this.history.push(current);
      this.persist(current);
      if (current.lastNotifiedAt !== null && this.silencedUntil(fingerprint) === undefined) this.send(current, 'resolved');
      return;
    }
    let state = current;
    if (state === undefined) {
      state = {
        rule,
        service,
        fingerprint,
        level: LEVEL[rule],
        firedAt: now,
        message: m.message,
        value: m.value,
        threshold: m.threshold,
        status: 'firing',
        lastNotifiedAt: null,
        resolvedAt: null,
        patternId,
      };
      this.active.set(fingerprint, state);
      this.known.add(fingerprint);
      this.counters[rule].fired++;
      this.persist(state);
    } else {
      state.value = m.value;
      state.message = m.message;
    }
    const last = this.lastFiringNotice.get(fingerprint);
    const cooledDown = last === undefined || now - last >= this.deps.config.cooldown_seconds * 1000;
    if (cooledDown && this.silencedUntil(fingerprint) === undefined) this.send(state, 'firing');
  }

  private view(s: AlertState): AlertView {
    const v: AlertView = {
      rule: s.rule,
      level: s.level,
      service: s.service,
      message: s.message(),
      timestamp: new Date(s.firedAt).toISOString(),
      last_notified: s.lastNotifiedAt === null ? null : new Date(s.lastNotifiedAt).toISOString(),
      status: s.status,
      value: s.value,
      threshold: s.threshold,
      fingerprint: s.fingerprint,
      query: '',
      logs_url: '',
      samples: [],
      top_patterns: [],
    };
    if (s.resolvedAt !== null) v.resolved_at = new Date(s.resolvedAt).toISOString();
    const until = this.silencedUntil(s.fingerprint);
    if (until !== undefined) v.silenced_until = new Date(until).toISOString();
    if (s.patternId !== null) v.pattern_id = s.patternId;
    const { window_minutes: minutes, external_url: base } = this.deps.config;
    v.query = queryString(logsBehind(v, minutes));
    v.logs_url = logsUrl(base, v);
    return v;
  }

  /**
   * How many (rule, service) pairs, and (new_pattern, service, pattern) triples, the engine
   * keeps state for. Services arrive folded by the cardinality cap and patterns by
   * patterns.max_per_service, so this stays within the rules × (limits.max_services + `other`)
   * plus the all-services rule plus one per pattern first seen with errors, however many
   * names clients send.
   */
  get trackedPairs(): number {
    return this.fingerprints.error_rate.size + this.fingerprints.high_volume.size + this.fingerprints.service_down.size + this.fingerprints.new_pattern.size;
  }

  /** Firing alerts, most recent first. */
  /** Every firing alert: CRITICAL before WARNING, then the most recently fired first. */
  activeAlerts(): AlertView[] {
    const rank = (s: AlertState): number => (s.level === 'CRITICAL' ? 0 : 1);
    return [...this.active.values()].sort((a, b) => rank(a) - rank(b) || b.firedAt - a.firedAt).map((s) => this.view(s));
  }

  /** Resolved alerts, most recent first, at most `alerting.history_size`. */
  resolvedAlerts(): AlertView[] {
    return this.history.newestFirst().map((s) => this.view(s));
  }

  /** Mutes notifications for a known fingerprint until `until`; false when no such alert was ever seen. */
  silence(fingerprint: string, until: number): boolean {
    if (!this.known.has(fingerprint)) return false;
    this.silences.set(fingerprint, until);
    this.deps.store?.saveSilence(fingerprint, until, this.deps.now());
    return true;
  }

  /** Silences still in force, with the alert they mute. */
  activeSilences(): { fingerprint: string; until: string }[] {
    const out: { fingerprint: string; until: string }[] = [];
    for (const fingerprint of [...this.silences.keys()]) {
      const until = this.silencedUntil(fingerprint);
      if (until !== undefined) out.push({ fingerprint, until: new Date(until).toISOString() });
    }
    return out;
  }
}
