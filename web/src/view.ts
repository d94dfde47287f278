/**
 * What the logs table is narrowed to, as the page's address carries it, so a view can be
 * shared and browser Back returns to the one before:
 *   - `?pattern=ID#logs`: one message pattern (the Patterns panel), with the form's filters;
 *   - `?<query>&alert=<fingerprint>#logs`: an alert's logs, `<query>` being its GET /api/logs
 *     query (an alert's `logs_url` opens this); any other query without `alert` too.
 */

/** The GET /api/logs filters an address may carry. */
const FILTER_KEYS: readonly string[] = ['service', 'level', 'pattern', 'from', 'to', 'received_from', 'received_to', 'user_id', 'q'];

export type LogsView =
  | { kind: 'all' }
  | { kind: 'pattern'; pattern: number }
  | { kind: 'query'; query: URLSearchParams; alert: string | undefined };

/** The view of an address's query string (`location.search`); other parameters are ignored. */
export function viewOf(search: string): LogsView {
  const params = new URLSearchParams(search);
  const query = new URLSearchParams();
  for (const [k, v] of params) if (FILTER_KEYS.includes(k) && v !== '') query.append(k, v);
  const alert = params.get('alert') || undefined;
  const keys = [...query.keys()];
  if (alert === undefined && keys.length === 1 && keys[0] === 'pattern') {
    const id = Number(query.get('pattern'));
    if (Number.isSafeInteger(id) && id > 0) return { kind: 'pattern', pattern: id };
  }
  if (alert === undefined && keys.length === 0) return { kind: 'all' };
  return { kind: 'query', query, alert };
}

/** The filters a view puts on the table, before the form's own. */
export function scopeOf(view: LogsView): URLSearchParams | undefined {
  if (view.kind === 'pattern') return new URLSearchParams({ pattern: String(view.pattern) });
  return view.kind === 'query' ? view.query : undefined;
}

export function patternHref(id: number): string {
  return `?pattern=${id}#logs`;
}

/** An alert's view, relative to the page: the `logs_url` the server sends, without its external_url. */
export function alertHref(alert: { query: string; fingerprint: string }): string {
  return `?${alert.query}${alert.query ? '&' : ''}alert=${encodeURIComponent(alert.fingerprint)}#logs`;
}

/** Whether two query strings hold the same parameters, whatever their order and escaping. */
export function sameQuery(a: string | URLSearchParams, b: string | URLSearchParams): boolean {
  const norm = (q: string | URLSearchParams): string => [...new URLSearchParams(q)].map(([k, v]) => `${k}=${v}`).sort().join('&');
  return norm(a) === norm(b);
}

export function sameView(a: LogsView, b: LogsView): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'pattern' && b.kind === 'pattern') return a.pattern === b.pattern;
  if (a.kind === 'query' && b.kind === 'query') return a.alert === b.alert && sameQuery(a.query, b.query);
  return true;
}

const LATER = new Set(['from', 'received_from']);
const EARLIER = new Set(['to', 'received_to']);

/**
 * The view's filters and the form's together, every one holding; null when no log can match
 * both (two patterns, levels that do not overlap, a time range that ends before it starts).
 * Lists intersect, time bounds take the narrower one. Two searches that cannot be one
 * substring keep the form's, the narrowing the reader asked for last.
 */
export function mergeFilters(scope: URLSearchParams | undefined, own: URLSearchParams): URLSearchParams | null {
  if (scope === undefined) return own;
  const out = new URLSearchParams(scope);
  for (const [k, v] of own) {
    const theirs = out.get(k);
    if (theirs === null) out.set(k, v);
    else if (k === 'service' || k === 'level') {
      const allowed = new Set(theirs.split(','));
      const both = v.split(',').filter((x) => allowed.has(x));
      if (both.length === 0) return null;
      out.set(k, both.join(','));
    } else if (LATER.has(k)) {
      if (Date.parse(v) > Date.parse(theirs)) out.set(k, v);
    } else if (EARLIER.has(k)) {
      if (Date.parse(v) < Date.parse(theirs)) out.set(k, v);
    } else if (k === 'q') {
      const [a, b] = [theirs.toLowerCase(), v.toLowerCase()];
      out.set(k, a.includes(b) ? theirs : v);
    } else if (theirs !== v) return null;
  }
  for (const [from, to] of [
    ['from', 'to'],
    ['received_from', 'received_to'],
  ] as const) {
    const f = out.get(from);
    const t = out.get(to);
    if (f !== null && t !== null && Date.parse(f) > Date.parse(t)) return null;
  }
  return out;
}
