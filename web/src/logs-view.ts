import type { AlertPatternView, AlertView } from '../../server/api-types.js';
import { api } from './api.js';
import { byId, el, shortTime } from './dom.js';
import { templateNode, type PatternsPage } from './patterns.js';
import { sameQuery, type LogsView } from './view.js';

/** Keys of a query whose logs GET /api/patterns can count exactly (given whole minutes in its window). */
const COUNTABLE = new Set(['service', 'level', 'from', 'to', 'pattern']);

interface Facts {
  /** Logs behind the view. */
  total: number;
  top: AlertPatternView[];
}

function hhmm(iso: string): string {
  return new Date(iso).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', hour12: false });
}

/** "14:26–14:30" for a query's event-time bounds (`to` the last millisecond of its minute), or "up to 14:30". */
function timeSpan(query: URLSearchParams): string | undefined {
  const from = query.get('from');
  const to = query.get('to');
  const last = to === null ? undefined : hhmm(new Date(Date.parse(to) - 59_999).toISOString());
  if (from !== null && last !== undefined) return hhmm(from) === last ? last : `${hhmm(from)}–${last}`;
  if (from !== null) return `from ${hhmm(from)}`;
  return last === undefined ? undefined : `up to ${last}`;
}

/**
 * What the logs table is narrowed to, said above it: for an alert's view (or any query the
 * address names) a header with the alert, how many logs it has and its top patterns, and a
 * button that leaves it; for a pattern's view a chip among the filters.
 */
export class LogsViewBox {
  private readonly box = byId('logs-view');
  private readonly title = byId('logs-view-title');
  private readonly detail = byId('logs-view-detail');
  private readonly patterns = byId<HTMLOListElement>('logs-view-patterns');
  private readonly patternsHead = byId('logs-view-patterns-head');
  private readonly chip = byId('pattern-chip');
  private readonly chipText = byId('pattern-text');
  private view: LogsView = { kind: 'all' };
  private alerts: AlertView[] = [];
  private alertsKnown = false;
  /** Counted from GET /api/patterns; null: not countable there; undefined: being counted. */
  private facts: Facts | null | undefined;
  private generation = 0;
  /** What was last drawn, so a refresh that changes nothing leaves the box (and a hover's title) alone. */
  private drawn = '';

  constructor(
    private readonly templates: ReadonlyMap<number, string>,
    leave: () => void,
  ) {
    byId('logs-view-clear').addEventListener('click', leave);
    byId('pattern-clear').addEventListener('click', leave);
  }

  show(view: LogsView): void {
    this.view = view;
    this.facts = undefined;
    const generation = ++this.generation;
    if (view.kind === 'query') void this.count(view.query, generation);
    this.render();
  }

  /** The alerts the server holds (firing and resolved), after each refresh. */
  setAlerts(alerts: AlertView[]): void {
    this.alerts = alerts;
    this.alertsKnown = true;
    this.render();
  }

  /** Whether `a` is the alert the table shows the logs of. */
  isCurrent(a: Pick<AlertView, 'fingerprint' | 'query'>): boolean {
    return this.view.kind === 'query' && this.view.alert === a.fingerprint && sameQuery(a.query, this.view.query);
  }

  /** The alert of the view: the episode whose query it is, else the newest with its fingerprint. */
  private alert(): { alert: AlertView; exact: boolean } | undefined {
    if (this.view.kind !== 'query' || this.view.alert === undefined) return undefined;
    const exact = this.alerts.find((a) => this.isCurrent(a));
    if (exact !== undefined) return { alert: exact, exact: true };
    const fingerprint = this.view.alert;
    const other = this.alerts.find((a) => a.fingerprint === fingerprint);
    return other === undefined ? undefined : { alert: other, exact: false };
  }

  /** Counts the view's logs per pattern with GET /api/patterns, when that can be exact. */
  private async count(query: URLSearchParams, generation: number): Promise<void> {
    let facts: Facts | null = null;
    const from = query.get('from');
    const to = query.get('to');
    const wholeMinutes = from !== null && Date.parse(from) % 60_000 === 0 && (to === null || (Date.parse(to) + 1) % 60_000 === 0);
    if (wholeMinutes && [...query.keys()].every((k) => COUNTABLE.has(k)) && !(query.get('service') ?? '').includes(',')) {
      const p = new URLSearchParams();
      for (const k of ['service', 'level', 'from', 'to']) {
        const v = query.get(k);
        if (v !== null) p.set(k, v);
      }
      p.set('limit', '10000');
      try {
        const page = (await api<PatternsPage>(`/api/patterns?${p}`)).data;
        // Counts start where the analytics window does: a view older than that is not counted.
        if (Date.parse(page.from) <= Date.parse(from)) {
          const id = query.get('pattern');
          const mine = id === null ? page.patterns : page.patterns.filter((x) => String(x.id) === id);
          facts = { total: mine.reduce((n, x) => n + x.count, 0), top: mine.slice(0, 3).map(({ id, template, count }) => ({ id, template, count })) };
        }
      } catch {
        // Patterns off, or the count refused: the header goes without it.
      }
    }
    if (generation !== this.generation) return;
    this.facts = facts;
    this.render();
  }

  render(): void {
    const view = this.view;
    const found = this.alert();
    const key = JSON.stringify([
      view.kind,
      view.kind === 'pattern' ? [view.pattern, this.templates.get(view.pattern)] : view.kind === 'query' ? [view.alert, view.query.toString()] : null,
      found && [found.exact, found.alert.status, found.alert.message, found.alert.resolved_at, found.alert.top_patterns],
      this.facts,
      this.alertsKnown,
    ]);
    if (key === this.drawn) return;
    this.drawn = key;
    this.chip.hidden = view.kind !== 'pattern';
    if (view.kind === 'pattern') {
      const template = this.templates.get(view.pattern);
      this.chipText.replaceChildren(template === undefined ? el('code', `#${view.pattern}`, 'template') : templateNode(template));
      this.chip.dataset.pattern = String(view.pattern);
    }
    this.box.hidden = view.kind !== 'query';
    if (view.kind !== 'query') return;

    const a = found?.alert;
    this.box.className = `logs-view${a ? ` alert-${a.level.toLowerCase()}` : ''}`;
    this.box.dataset.alert = view.alert ?? '';
    const title: (string | HTMLElement)[] = [];
    if (a !== undefined) title.push(el('span', a.level, 'alert-level'), ` alert: ${a.rule} · ${a.service === '*' ? 'all services' : a.service}`);
    else if (view.alert !== undefined) title.push(`alert: ${view.alert}`);
    else title.push('filter: ', el('code', [...view.query].map(([k, v]) => `${k}=${v}`).join(' ')));
    this.title.replaceChildren(...title);

    const facts: string[] = [];
    if (this.facts) facts.push(`${this.facts.total.toLocaleString()} log${this.facts.total === 1 ? '' : 's'}`);
    const span = timeSpan(view.query);
    if (span !== undefined) facts.push(`event time ${span}`);
    if (a !== undefined) facts.push(a.status === 'resolved' && a.resolved_at ? `resolved ${shortTime(a.resolved_at)}` : `firing since ${shortTime(a.timestamp)}`);
    const lines: (string | HTMLElement)[] = [facts.join(' · ')];
    if (a !== undefined) lines.unshift(el('span', a.message, 'logs-view-message'));
    if (found && !found.exact) lines.push(el('span', 'The alert has fired again since this link was made: the table shows the logs the link names.', 'logs-view-note'));
    else if (view.alert !== undefined && a === undefined && this.alertsKnown) lines.push(el('span', 'This alert is no longer among those the server keeps: the table shows the logs its link names.', 'logs-view-note'));
    this.detail.replaceChildren(...lines.map((l) => (typeof l === 'string' ? el('span', l) : l)));

    // The alert's own top patterns when the view is its logs; otherwise what was counted.
    const top = found?.exact ? found.alert.top_patterns : (this.facts?.top ?? []);
    this.patternsHead.hidden = top.length === 0;
    this.patterns.replaceChildren(
      ...top.map((p) => {
        const li = el('li');
        li.dataset.pattern = String(p.id);
        li.append(el('span', p.count.toLocaleString(), 'pattern-count'), templateNode(p.template));
        return li;
      }),
    );
  }
}
