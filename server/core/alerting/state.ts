import type { AlertLevel, AlertStatus, RuleName } from './types.js';

/**
 * Alert state that decides whether to page, kept beside the logs so a restart never pages
 * again for what was already paged (as Alertmanager keeps its notification log and silences).
 * The engine (engine.ts) writes through an AlertStateStore as the state changes and reads it all
 * back at start; the durable tier implements it (storage/sqlite-repository.ts).
 */

/** One alert episode: enough to restore its lifecycle. */
export interface AlertRecord {
  fingerprint: string;
  rule: RuleName;
  service: string;
  level: AlertLevel;
  status: AlertStatus;
  /** Epoch ms. */
  firedAt: number;
  lastNotifiedAt: number | null;
  resolvedAt: number | null;
  value: number;
  threshold: number;
  /** The text of the last measurement. */
  message: string;
  /** The pattern a `new_pattern` alert is about; null (or absent) for the other rules. */
  patternId?: number | null;
}

/** One notification sent (the notification log): what the cooldown is measured from. */
export interface NotificationRecord {
  fingerprint: string;
  status: AlertStatus;
  /** Epoch ms. */
  at: number;
}

/** Everything a restart needs back. */
export interface AlertStateSnapshot {
  /** Alerts firing when the state was last written. */
  active: AlertRecord[];
  /** Resolved episodes, oldest first. */
  history: AlertRecord[];
  silences: { fingerprint: string; until: number }[];
  /** The last firing notification of each fingerprint. */
  lastFiring: { fingerprint: string; at: number }[];
  /** Every fingerprint ever seen (silences may name a resolved alert). */
  known: string[];
}

/**
 * The snapshot a store returns from its rows: the episodes (active and resolved, oldest
 * first), the silences, and the last firing notification of each fingerprint.
 */
export function snapshotOf(
  rows: readonly AlertRecord[],
  silences: AlertStateSnapshot['silences'],
  lastFiring: AlertStateSnapshot['lastFiring'],
): AlertStateSnapshot {
  const known = new Set<string>();
  for (const r of rows) known.add(r.fingerprint);
  for (const x of silences) known.add(x.fingerprint);
  for (const x of lastFiring) known.add(x.fingerprint);
  return {
    active: rows.filter((r) => r.status === 'firing'),
    history: rows.filter((r) => r.status === 'resolved'),
    silences,
    lastFiring,
    known: [...known],
  };
}

/**
 * Writes may finish later (an engine a server away): the engine never waits for them, and a
 * later write of the same alert supersedes an earlier one.
 */
export interface AlertStateStore {
  loadAlertState(): Promise<AlertStateSnapshot>;
  /** An alert started firing, was notified, or resolved: its record now. A resolved record also joins the history, which keeps at most `historySize`. */
  saveAlert(record: AlertRecord, historySize: number): void | Promise<void>;
  /** Appends to the notification log, forgetting entries older than `retainMs` before this one. */
  saveNotification(notification: NotificationRecord, retainMs: number): void | Promise<void>;
  /** Sets a silence, forgetting those over by `now`. */
  saveSilence(fingerprint: string, until: number, now: number): void | Promise<void>;
  /** Resolves once every write made so far has landed (or failed); absent when writes are synchronous. */
  settled?(): Promise<void>;
}

/**
 * `store` with its writes' failures reported to `failed` rather than thrown: a full disk must
 * not stop alerts from firing or logs from being accepted (the write is retried by the next
 * change of the same alert).
 */
export function reportingFailures(store: AlertStateStore, failed: (err: unknown) => void): AlertStateStore {
  const guard =
    <A extends unknown[]>(write: (...args: A) => void | Promise<void>) =>
    (...args: A): void => {
      try {
        const done = write(...args);
        if (done instanceof Promise) done.catch(failed);
      } catch (err) {
        failed(err);
      }
    };
  return {
    loadAlertState: () => store.loadAlertState(),
    ...(store.settled && { settled: () => store.settled!() }),
    saveAlert: guard((r: AlertRecord, n: number) => store.saveAlert(r, n)),
    saveNotification: guard((n: NotificationRecord, ms: number) => store.saveNotification(n, ms)),
    saveSilence: guard((f: string, until: number, now: number) => store.saveSilence(f, until, now)),
  };
}
