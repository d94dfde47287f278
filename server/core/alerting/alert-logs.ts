/**
 * The logs behind an alert, once: the GET /api/logs filter an alert's `query` is written
 * from, and the dashboard link that opens that view. The samples and top patterns a notified
 * or listed alert carries are read with the same filter (LogServer.withLogs).
 *
 * An alert's window ends at the minute it was last judged by: when it resolved, else when it
 * was last notified, else when it fired. Per rule, the logs behind it are:
 *   - error_rate: the ERROR and CRITICAL logs of its service (every service for `*`) in the
 *     window's minutes (its `value` is their share of the window's logs);
 *   - high_volume: every log of its service in the window's minutes;
 *   - service_down: the last logs its service sent before the alert;
 *   - new_pattern: the ERROR and CRITICAL logs of its pattern in the window's minutes.
 * The window covers whole minutes of event time, as the analytics' buckets do.
 */

import type { AlertView } from '../../api-types.js';
import type { LogFilterFields } from '../log-filter.js';
import { MINUTE_MS, minuteOf } from '../time.js';
import { ALL_SERVICES } from './types.js';

const ERRORS = ['ERROR', 'CRITICAL'] as const;

/** The filter of the logs behind `alert`, whose rule's window is `windowMinutes` long. */
export function logsBehind(alert: Pick<AlertView, 'rule' | 'service' | 'timestamp' | 'last_notified' | 'resolved_at' | 'pattern_id'>, windowMinutes: number): LogFilterFields {
  const anchor = Date.parse(alert.resolved_at ?? alert.last_notified ?? alert.timestamp);
  const minute = minuteOf(anchor);
  const from = (minute - windowMinutes + 1) * MINUTE_MS;
  const to = (minute + 1) * MINUTE_MS - 1;
  const services = alert.service === ALL_SERVICES ? undefined : [alert.service];
  switch (alert.rule) {
    case 'error_rate':
      return { services, levels: ERRORS, from, to };
    case 'high_volume':
      return { services, from, to };
    case 'service_down':
      return { services, to: anchor };
    case 'new_pattern':
      return { services, levels: ERRORS, patternId: alert.pattern_id, from, to };
  }
}

/** A query value escaped, but for the commas and colons of lists and times, which a query may hold as they are. */
function escape(value: string): string {
  return encodeURIComponent(value).replace(/%2C/g, ',').replace(/%3A/g, ':');
}

/** `f` as a GET /api/logs query string (the parameters that route reads, in a fixed order). */
export function queryString(f: LogFilterFields): string {
  const p = new Map<string, string>();
  if (f.services?.length) p.set('service', f.services.join(','));
  if (f.levels?.length) p.set('level', f.levels.join(','));
  if (f.patternId !== undefined) p.set('pattern', String(f.patternId));
  if (f.from !== undefined) p.set('from', new Date(f.from).toISOString());
  if (f.to !== undefined) p.set('to', new Date(f.to).toISOString());
  if (f.receivedFrom !== undefined) p.set('received_from', new Date(f.receivedFrom).toISOString());
  if (f.receivedTo !== undefined) p.set('received_to', new Date(f.receivedTo).toISOString());
  if (f.userId !== undefined) p.set('user_id', f.userId);
  if (f.text) p.set('q', f.text);
  return [...p].map(([k, v]) => `${k}=${escape(v)}`).join('&');
}

/** The dashboard opened on the alert's logs: its query plus the alert, after the page's address. */
export function logsUrl(externalUrl: string, alert: Pick<AlertView, 'query' | 'fingerprint'>): string {
  const base = externalUrl.replace(/\/+$/, '');
  return `${base}/?${alert.query}${alert.query ? '&' : ''}alert=${alert.fingerprint}#logs`;
}
