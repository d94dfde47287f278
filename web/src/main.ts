import './style.css';
import type { AlertView, DashboardData, ServiceHealth, UiConfig } from '../../server/api-types.js';
import { api, ApiError, clearToken, getToken, postJson, setToken, Unauthorized, Unreachable } from './api.js';
import { DashboardCharts, type Point } from './charts.js';
import { ago, byId, el, percent, shortTime } from './dom.js';
import { LogsTable } from './logs-table.js';
import { LogsViewBox } from './logs-view.js';
import { PATTERNS_SHOWN, PatternsPanel, type PatternsPage } from './patterns.js';
import { alertHref, sameView, scopeOf, viewOf, type LogsView } from './view.js';

const HISTORY_SHOWN = 5;

const main = byId('main');
const banner = byId('banner');
const status = byId('status');
const range = byId<HTMLSelectElement>('range');
const logs = new LogsTable(() => askForToken(true));
const charts = new DashboardCharts(byId<HTMLCanvasElement>('volume-chart'), byId<HTMLCanvasElement>('error-chart'), (range) => logs.setRange(range));
const patterns = new PatternsPanel();
const viewBox = new LogsViewBox(patterns.templates, () => go(location.pathname));

let ui: UiConfig = { refresh_seconds: 5, simulation_enabled: false, error_rate_threshold: 0.1, alert_window_minutes: 5, min_samples: 20, max_minutes: 60, anonymous_read: true, patterns_enabled: true };
let timer: ReturnType<typeof setTimeout> | undefined;
let tokenPending = false;
/** The server's clock minus the browser's (from the Date header), so ranges are the server's minutes. */
let clockOffset = 0;
/** What the logs table shows, as the address says. */
let view: LogsView = { kind: 'all' };
/** The server mines no patterns (it said PATTERNS_DISABLED): the page stops asking. */
let patternsOff = false;
const PATTERNS_OFF = 'Patterns are off on this server (patterns.enabled in the config).';
/** Patterns whose template was looked up beyond the panel's, each asked for once. */
const lookedUp = new Set<number>();

/** The time axis point of a bucket key like `2024-01-15T14:30` (UTC). */
function minutePoint(key: string, y: number): Point {
  return { x: Date.parse(`${key}:00Z`), y };
}

function list(id: string, items: HTMLElement[]): void {
  byId(id).replaceChildren(...items);
}

function ranked(label: string, count: number): HTMLLIElement {
  const li = el('li');
  li.append(el('span', label), el('strong', count.toLocaleString()));
  return li;
}

/** An alert, a link to the view of its logs (the table narrowed to them, its top patterns above). */
function alertItem(a: AlertView, serverNow: number): HTMLLIElement {
  const li = el('li', undefined, `alert alert-${a.level.toLowerCase()}${a.status === 'resolved' ? ' resolved' : ''}`);
  li.dataset.fingerprint = a.fingerprint;
  li.dataset.query = a.query;
  const link = el('a', undefined, 'alert-link');
  link.href = alertHref(a);
  const head = el('div', undefined, 'alert-head');
  head.append(el('span', a.level, 'alert-level'), el('span', a.rule, 'alert-rule'), el('span', a.service, 'alert-service'));
  const when = a.status === 'resolved' && a.resolved_at ? `resolved ${ago(Date.parse(a.resolved_at), serverNow)}` : `since ${shortTime(a.timestamp)}`;
  const foot = el('div', undefined, 'alert-foot');
  foot.append(el('span', when, 'muted small'), el('span', 'its logs ›', 'alert-go small'));
  link.append(head, el('p', a.message, 'alert-message'), foot);
  li.append(link);
  markAlert(li);
  return li;
}

/** Marks an alert's row while the table shows its logs. */
function markAlert(li: HTMLElement): void {
  const on = viewBox.isCurrent({ fingerprint: li.dataset.fingerprint ?? '', query: li.dataset.query ?? '' });
  li.classList.toggle('current', on);
  const link = li.querySelector('a');
  if (on) link?.setAttribute('aria-current', 'true');
  else link?.removeAttribute('aria-current');
}

const HEALTH_LABEL: Record<ServiceHealth['status'], string> = {
  healthy: 'healthy',
  critical: 'error rate over threshold',
  down: 'down',
  too_few_logs: 'too few logs',
};

function renderDashboard(d: DashboardData, serverNow: number): void {
  const s = d.summary;
  byId('card-total').textContent = s.total_logs.toLocaleString();
  const rate = byId('card-error-rate');
  rate.textContent = percent(s.error_rate);
  // Red exactly when an error-rate alert fires: the card and the rule read the same numbers.
  rate.classList.toggle('bad', d.active_alerts.some((a) => a.rule === 'error_rate'));
  byId('card-services').textContent = String(Object.keys(d.service_health).length);
  byId('card-alerts').textContent = String(d.active_alerts.length);
  byId('card-alerts').classList.toggle('bad', d.active_alerts.length > 0);

  charts.update(
    d.levels_per_minute.map((p) => ({ x: minutePoint(p.time, 0).x, counts: p.counts })),
    d.error_trends.map((p) => minutePoint(p.time, Math.round(p.error_rate * 1000) / 10)),
    Math.round(ui.error_rate_threshold * 1000) / 10,
  );

  firing = new Set(d.active_alerts.map((a) => a.fingerprint));
  list('alerts', d.active_alerts.map((a) => alertItem(a, serverNow)));
  byId('alerts-empty').hidden = d.active_alerts.length > 0;
  byId('alerts-count').textContent = d.active_alerts.length > 0 ? `${d.active_alerts.length} active` : '';
  byId('health-window').textContent = `error rate over the last ${ui.alert_window_minutes} min, as the alert rules read it`;

  const health = Object.entries(d.service_health).sort(([a], [b]) => a.localeCompare(b));
  list(
    'health',
    health.map(([service, h]) => {
      const li = el('li', undefined, `service status-${h.status}`);
      li.dataset.service = service;
      const dot = el('span', undefined, 'dot');
      const label = HEALTH_LABEL[h.status];
      dot.title = label;
      const name = el('span', service, 'service-name');
      const meta = el('span', `${h.log_count.toLocaleString()} logs · ${percent(h.error_rate)} errors · ${ago(Date.parse(h.last_seen), serverNow)}`, 'muted small');
      li.append(dot, name, el('span', label, 'service-status'), meta);
      return li;
    }),
  );
  byId('health-empty').hidden = health.length > 0;
  logs.setServices(health.map(([service]) => service));

  // With replicas sharing one PostgreSQL: how many are up, and which one answered.
  const replicas = byId('replicas');
  replicas.hidden = d.replicas === undefined;
  if (d.replicas !== undefined) {
    const self = d.replicas.find((r) => r.self)?.replica;
    replicas.textContent = `${d.replicas.length} replica${d.replicas.length === 1 ? '' : 's'} up${self === undefined ? '' : ` · via ${self}`}`;
    replicas.title = d.replicas.map((r) => `${r.replica}: up since ${new Date(r.started_at).toLocaleString()}`).join('\n');
  }

  const v = d.validation_stats;
  byId('valid-count').textContent = v.valid.toLocaleString();
  byId('invalid-count').textContent = v.invalid.toLocaleString();
  list(
    'error-types',
    Object.entries(v.error_types)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([k, n]) => ranked(k, n)),
  );
  list('top-services', d.most_active_services.map((x) => ranked(x.service, x.count)));
  list('top-users', d.user_activity.map((x) => ranked(x.user_id, x.count)));
}

function showReachable(ok: boolean): void {
  banner.hidden = ok;
  main.classList.toggle('stale', !ok);
  if (!ok) {
    for (const id of ['card-total', 'card-error-rate', 'card-services', 'card-alerts']) byId(id).textContent = '–';
    status.textContent = 'Offline';
    status.className = 'status error';
  }
}

/** The top patterns of the last `minutes` (by the server's clock); a refusal other than 401 or 5xx is returned, to be shown in the panel. */
function fetchPatterns(minutes: number): Promise<{ data: PatternsPage } | ApiError | undefined> {
  if (patternsOff) return Promise.resolve(undefined);
  const from = new Date(Date.now() + clockOffset - minutes * 60_000).toISOString();
  const q = new URLSearchParams({ from, limit: String(PATTERNS_SHOWN) });
  return api<PatternsPage>(`/api/patterns?${q}`).catch((e: unknown) => {
    if (e instanceof ApiError) return e;
    throw e;
  });
}

async function refresh(): Promise<void> {
  try {
    const minutes = range.value;
    const [dash, history, top] = await Promise.all([
      api<DashboardData>(`/api/advanced-dashboard-data?minutes=${minutes}`),
      api<{ alerts: AlertView[] }>('/api/alerts?status=resolved'),
      fetchPatterns(Number(minutes)),
    ]);
    clockOffset = dash.serverNow - Date.now();
    renderDashboard(dash.data, dash.serverNow);
    const resolved = history.data.alerts.slice(0, HISTORY_SHOWN);
    list('alerts-history', resolved.map((a) => alertItem(a, history.serverNow)));
    byId('alerts-resolved').hidden = resolved.length === 0;
    byId('alerts-history-count').textContent = `(${resolved.length} most recent)`;
    if (top instanceof ApiError) {
      patternsOff = top.code === 'PATTERNS_DISABLED';
      patterns.unavailable(patternsOff ? PATTERNS_OFF : `Patterns unavailable: ${top.message}`);
    } else if (top !== undefined) {
      patterns.render(top.data, Number(minutes));
      lookUpTemplate();
    }
    viewBox.setAlerts([...dash.data.active_alerts, ...history.data.alerts]);
    await logs.poll();
    showReachable(true);
    status.textContent = `Updated ${new Date(dash.serverNow).toLocaleTimeString(undefined, { hour12: false })}`;
    status.className = 'status';
  } catch (e) {
    if (e instanceof Unauthorized) askForToken(getToken() !== null);
    else if (e instanceof Unreachable || e instanceof TypeError) showReachable(false);
    else {
      status.textContent = e instanceof Error ? e.message : String(e);
      status.className = 'status error';
    }
  }
}

/** Polls every refresh_seconds while the tab is visible; a hidden tab makes no requests. */
function schedule(): void {
  clearTimeout(timer);
  if (document.hidden || tokenPending) return;
  timer = setTimeout(() => void refresh().finally(schedule), ui.refresh_seconds * 1000);
}

async function refreshNow(): Promise<void> {
  clearTimeout(timer);
  await refresh();
  schedule();
}

function askForToken(rejected: boolean): void {
  if (tokenPending) return;
  tokenPending = true;
  clearTimeout(timer);
  if (rejected) clearToken();
  const dialog = byId<HTMLDialogElement>('token-dialog');
  byId('token-error').hidden = !rejected;
  dialog.showModal();
}

byId('token-form').addEventListener('submit', () => {
  const input = byId<HTMLInputElement>('token-input');
  setToken(input.value.trim());
  input.value = '';
  tokenPending = false;
  viewBox.show(view);
  void logs.reload().catch(() => undefined);
  void refreshNow();
});

/**
 * Puts the page in the view its address names (on load, after a click, on Back and Forward).
 * An alert's view shows all its logs, so it empties the form's filters; a pattern's keeps them.
 */
function applyView(scroll: boolean, reload = true): void {
  const next = viewOf(location.search);
  if (!sameView(next, view)) {
    view = next;
    if (next.kind === 'query') logs.clearFilters();
    logs.setScope(scopeOf(next), reload);
    viewBox.show(next);
    patterns.setCurrent(next.kind === 'pattern' ? next.pattern : undefined);
    for (const li of document.querySelectorAll<HTMLElement>('#alerts > li, #alerts-history > li')) markAlert(li);
    if (patterns.rendered) lookUpTemplate();
  }
  if (scroll && location.hash === '#logs') byId('logs').scrollIntoView({ block: 'start' });
}

/**
 * The pattern the address names, when the panel does not list it: its template for the chip,
 * from the whole analytics window's list (there is no GET /api/patterns/:id). Asked once.
 */
function lookUpTemplate(): void {
  if (view.kind !== 'pattern' || patternsOff) return;
  const id = view.pattern;
  viewBox.render();
  if (patterns.templates.has(id) || lookedUp.has(id)) return;
  lookedUp.add(id);
  void api<PatternsPage>('/api/patterns?limit=10000')
    .then(({ data }) => {
      for (const p of data.patterns) patterns.templates.set(p.id, p.template);
      viewBox.render();
    })
    .catch(() => undefined); // The chip keeps the id.
}

/** Goes to a view as a new history entry, so Back returns to the one before. */
function go(href: string): void {
  const url = new URL(href, location.href);
  if (url.href !== location.href) history.pushState(null, '', url);
  applyView(true);
}

/** A plain click on a view's link (an alert, a pattern) goes there in place; with a modifier it opens as links do. */
function followViewLinks(container: HTMLElement, selector: string): void {
  container.addEventListener('click', (e) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const link = (e.target as Element).closest<HTMLAnchorElement>(selector);
    if (link === null) return;
    e.preventDefault();
    go(link.href);
  });
}

/** The fingerprints of the alerts firing at the last refresh: what a simulation is compared with. */
let firing = new Set<string>();

/**
 * Runs a simulation with both buttons disabled, then says what it did: how many logs the
 * server accepted and how many alerts started firing because of them.
 */
async function simulate(path: string, body: unknown): Promise<void> {
  const buttons = [byId<HTMLButtonElement>('simulate-logs'), byId<HTMLButtonElement>('simulate-errors')];
  const result = byId('sim-result');
  for (const b of buttons) b.disabled = true;
  result.textContent = 'Sending…';
  try {
    const before = new Set(firing);
    const sent = (await postJson<{ accepted: number }>(path, body)).data.accepted;
    await Promise.all([refreshNow(), logs.refresh()]);
    const fired = [...firing].filter((f) => !before.has(f)).length;
    result.textContent = `${sent.toLocaleString()} logs sent, ${fired === 0 ? 'no alert' : fired === 1 ? '1 alert' : `${fired} alerts`} fired`;
  } catch (e) {
    result.textContent = '';
    if (e instanceof Unauthorized) askForToken(getToken() !== null);
    else status.textContent = `Simulation failed: ${e instanceof Error ? e.message : String(e)}`;
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

async function start(): Promise<void> {
  applyView(false, false);
  window.addEventListener('popstate', () => applyView(false));
  followViewLinks(byId('alerts'), 'a.alert-link');
  followViewLinks(byId('alerts-history'), 'a.alert-link');
  followViewLinks(byId('patterns'), 'a.pattern-link');
  try {
    const config = await api<UiConfig>('/api/ui-config');
    ui = config.data;
    clockOffset = config.serverNow - Date.now();
    if (!ui.patterns_enabled) {
      patternsOff = true;
      patterns.unavailable(PATTERNS_OFF);
    }
  } catch {
    showReachable(false);
  }
  for (const option of [...range.options]) option.disabled = Number(option.value) > ui.max_minutes;
  const simLogs = byId<HTMLButtonElement>('simulate-logs');
  const simErrors = byId<HTMLButtonElement>('simulate-errors');
  simLogs.hidden = simErrors.hidden = !ui.simulation_enabled;
  simLogs.addEventListener('click', () => void simulate('/api/simulate-logs', { count: 200 }));
  simErrors.addEventListener('click', () => void simulate('/api/simulate-errors', { count: 50, error_rate: 0.8 }));
  range.addEventListener('change', () => void refreshNow());
  // A hidden tab makes no requests and holds no live tail open.
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) {
      clearTimeout(timer);
      logs.suspend();
    } else {
      void refreshNow();
      logs.resume();
    }
  });
  if (!ui.anonymous_read && getToken() === null) {
    askForToken(false);
    return;
  }
  const filled = logs.nextFill();
  await Promise.all([refreshNow(), logs.reload().catch(() => undefined)]);
  // Opened on a view's link (an alert's logs_url): the logs, once the panels above have their
  // height, and again once the table has its rows (an empty one may leave too little to scroll).
  const toLogs = (): void => {
    if (location.hash === '#logs') byId('logs').scrollIntoView({ block: 'start' });
  };
  toLogs();
  void filled.then(toLogs);
}

void start();
