import type { LogView } from '../../server/api-types.js';
import { api, Unauthorized, withToken } from './api.js';
import { byId, el, shortTime } from './dom.js';
import { mergeFilters } from './view.js';

const MAX_ROWS = 500;
/** Rows a table starts with: the newest this many matches. */
const FIRST_PAGE = 100;
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30_000;

interface LogsPage {
  logs: LogView[];
}

export interface SseEvent {
  type: string;
  data: string;
  /** The last event id seen so far in the stream (SSE keeps it across events). */
  id: string | undefined;
}

/**
 * A text/event-stream parser (the WHATWG rules, less `retry`): fed bytes as they arrive,
 * returns the events they complete. EventSource would do this, but it cannot send the token.
 */
export class SseParser {
  private readonly decoder = new TextDecoder();
  private buffer = '';
  private data: string[] = [];
  private type = '';
  private id: string | undefined;

  push(bytes: Uint8Array): SseEvent[] {
    this.buffer += this.decoder.decode(bytes, { stream: true });
    const events: SseEvent[] = [];
    const eol = /\r\n|\r|\n/g;
    let start = 0;
    for (let m = eol.exec(this.buffer); m !== null; m = eol.exec(this.buffer)) {
      // A CR last in the buffer may be the first half of a CRLF split between two reads.
      if (m[0] === '\r' && m.index === this.buffer.length - 1) break;
      this.line(this.buffer.slice(start, m.index), events);
      start = eol.lastIndex;
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  private line(line: string, events: SseEvent[]): void {
    if (line === '') {
      if (this.data.length > 0) events.push({ type: this.type || 'message', data: this.data.join('\n'), id: this.id });
      this.data = [];
      this.type = '';
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.type = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
  }
}

/** A log's place in the table: [event time, id]. */
function keyOf(log: LogView): [number, number] {
  return [Date.parse(log.timestamp), log.id];
}

/** Whether `a` is listed before `b`: newest event time first, ties by id, the higher first. */
function listedBefore(a: [number, number], b: [number, number]): boolean {
  return a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
}

/** What the live toggle's companion says about the stream. */
type LiveState = 'off' | 'connecting' | 'live' | 'retrying' | 'dropped' | 'busy' | 'closing' | 'polling' | 'failed';

/**
 * The recent-logs table with the filters in the form. Live, it follows GET /api/logs/tail
 * (read with fetch so the token goes along), resuming with Last-Event-ID after a drop or a
 * network error; when the server has tailing off it polls GET /api/logs with the charts.
 * New rows never move what the reader is looking at.
 */
export class LogsTable {
  private readonly rows = byId<HTMLTableSectionElement>('log-rows');
  private readonly scroller = byId('log-scroll');
  private readonly service = byId<HTMLSelectElement>('filter-service');
  private readonly level = byId<HTMLSelectElement>('filter-level');
  private readonly text = byId<HTMLInputElement>('filter-text');
  private readonly live = byId<HTMLInputElement>('live');
  private readonly liveState = byId('live-state');
  private readonly empty = byId('logs-empty');
  private newestId = 0;
  /** Each shown log's [event time, id], in the table's order (newest event time first, ties by id). */
  private shown: [number, number][] = [];
  /** Bumped by every filter change; a response for an older generation is stale and ignored. */
  private generation = 0;
  private debounce: ReturnType<typeof setTimeout> | undefined;
  /** The open tail, aborted to stop it. */
  private stream: AbortController | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private attempt = 0;
  /** The id of the last log the tail delivered: where a reconnect resumes. */
  private lastEventId: string | undefined;
  /** The server has tailing off (404): live mode polls instead. */
  private polling = false;

  constructor(private readonly onUnauthorized: () => void) {
    const reload = (): void => void this.reload();
    this.service.addEventListener('change', reload);
    this.level.addEventListener('change', reload);
    this.text.addEventListener('input', () => {
      clearTimeout(this.debounce);
      this.debounce = setTimeout(reload, 300);
    });
    byId('log-filters').addEventListener('submit', (e) => {
      e.preventDefault();
      reload();
    });
    this.live.addEventListener('change', () => (this.live.checked ? reload() : this.suspend()));
    byId('range-clear').addEventListener('click', () => this.setRange(undefined));
  }

  /** Keeps the service filter's options in step with the services the server knows. */
  setServices(services: string[]): void {
    const known = new Set([...this.service.options].map((o) => o.value));
    for (const s of services.sort()) {
      if (known.has(s)) continue;
      const option = el('option', s);
      option.value = s;
      this.service.append(option);
    }
  }

  /** The event-time range picked on the volume chart, epoch ms, inclusive; none: every time. */
  private range: { from: number; to: number } | undefined;

  /** Narrows the table to logs with an event time in [from, to] (undefined: clears it), shown as a chip. */
  setRange(range: { from: number; to: number } | undefined, reload = true): void {
    this.range = range;
    const chip = byId('range-chip');
    chip.hidden = range === undefined;
    if (range !== undefined) {
      const hhmm = (ms: number): string => new Date(ms).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', hour12: false });
      const last = hhmm(range.to - 59_999);
      byId('range-text').textContent = hhmm(range.from) === last ? `${last}` : `${hhmm(range.from)}–${last}`;
    }
    if (reload) void this.reload().catch(() => undefined);
  }

  /** The view's filters (a pattern, an alert's query), which the form's narrow further; undefined: none. */
  private scope: URLSearchParams | undefined;

  /** Puts the table in a view: `scope` holds with the form's filters. `reload` false: the caller reloads. */
  setScope(scope: URLSearchParams | undefined, reload = true): void {
    this.scope = scope;
    if (reload) void this.reload().catch(() => undefined);
  }

  /** Empties the form's filters and the time range, without reloading (an alert's view shows all its logs). */
  clearFilters(): void {
    this.service.value = '';
    this.level.value = '';
    this.text.value = '';
    clearTimeout(this.debounce);
    this.setRange(undefined, false);
  }

  /** The query for the table: the view's filters and the form's; null when none can match both. */
  private filters(): URLSearchParams | null {
    const p = new URLSearchParams();
    if (this.range !== undefined) {
      p.set('from', new Date(this.range.from).toISOString());
      p.set('to', new Date(this.range.to).toISOString());
    }
    if (this.service.value) p.set('service', this.service.value);
    if (this.level.value) p.set('level', this.level.value);
    if (this.text.value.trim()) p.set('q', this.text.value.trim());
    return mergeFilters(this.scope, p);
  }

  private async fetchLogs(): Promise<LogView[]> {
    const p = this.filters();
    if (p === null) return [];
    p.set('limit', String(FIRST_PAGE));
    try {
      return (await api<LogsPage>(`/api/logs?${p}`)).data.logs;
    } catch (e) {
      if (e instanceof Unauthorized) this.onUnauthorized();
      throw e;
    }
  }

  /** Starts the table afresh for the current filters: a new tail when live, else the first page. */
  async reload(): Promise<void> {
    const generation = ++this.generation;
    if (this.filters() === null) {
      // The view and the form contradict each other: nothing to ask the server.
      this.stop();
      this.setState('off');
      this.replace([]);
      return;
    }
    if (this.live.checked && !this.polling) {
      void this.connect(false);
      return;
    }
    this.stop();
    this.setState(this.live.checked ? 'polling' : 'off');
    const logs = await this.fetchLogs();
    if (generation !== this.generation) return;
    this.replace(logs);
  }

  /** After something this page did (a simulation): a live tail shows it anyway, a still table reloads. */
  async refresh(): Promise<void> {
    if (this.live.checked && !this.polling) return;
    await this.reload();
  }

  /** Closes the tail (live off, tab hidden): the table stays as it is. */
  suspend(): void {
    this.stop();
    this.setState(this.live.checked && this.polling ? 'polling' : 'off');
  }

  /** The tab is visible again: a live table starts afresh rather than replaying all it missed. */
  resume(): void {
    if (this.live.checked) void this.reload().catch(() => undefined);
  }

  /** Polling fallback, called with the charts' refresh: adds rows newer than the newest shown. */
  async poll(): Promise<void> {
    if (!this.live.checked || !this.polling) return;
    const generation = this.generation;
    const logs = await this.fetchLogs();
    if (generation !== this.generation) return;
    this.insert(logs.filter((l) => l.id > this.newestId));
  }

  private stop(): void {
    clearTimeout(this.retryTimer);
    this.stream?.abort();
    this.stream = undefined;
  }

  /**
   * Opens a tail. `resume` goes on from the last log received (Last-Event-ID), adding what
   * was missed; otherwise the newest rows come first and replace the table at once.
   */
  private async connect(resume: boolean): Promise<void> {
    this.stop();
    const ctrl = new AbortController();
    this.stream = ctrl;
    const params = this.filters();
    if (params === null) return;
    const headers = withToken(new Headers({ accept: 'text/event-stream' }));
    const resuming = resume && this.lastEventId !== undefined;
    if (resuming) headers.set('last-event-id', this.lastEventId!);
    else {
      params.set('limit', String(FIRST_PAGE));
      this.lastEventId = undefined;
      this.setState('connecting');
    }
    let res: Response;
    try {
      res = await fetch(`/api/logs/tail?${params}`, { headers, signal: ctrl.signal, cache: 'no-store' });
    } catch {
      if (!ctrl.signal.aborted) this.retry('retrying');
      return;
    }
    if (ctrl.signal.aborted) return;
    if (!res.ok || res.body === null) {
      await this.refused(res);
      return;
    }
    this.attempt = 0;
    this.setState('live');
    const reader = res.body.getReader();
    const parser = new SseParser();
    /** A fresh tail's first rows, held until `ready` so the table is swapped in one go. */
    let backlog: LogView[] | undefined = resuming ? undefined : [];
    let ending: LiveState = 'retrying';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || ctrl.signal.aborted) break;
        const fresh: LogView[] = [];
        for (const event of parser.push(value)) {
          if (event.type === 'log') {
            const log = JSON.parse(event.data) as LogView;
            if (backlog !== undefined) backlog.push(log);
            else {
              fresh.push(log);
              this.lastEventId = event.id;
            }
          } else if (event.type === 'ready' && backlog !== undefined) {
            // Only now is the backlog on the page: a break before this starts afresh rather than resuming.
            this.replace(backlog.reverse());
            backlog = undefined;
            this.lastEventId = event.id;
          } else if (event.type === 'dropped' || event.type === 'closing') ending = event.type;
        }
        this.insert(fresh);
      }
    } catch {
      // The connection broke, or sent what is not a log: retried below, like an end.
    }
    if (ctrl.signal.aborted) return;
    // Let go of this answer before the next one opens, in case it is still open.
    void reader.cancel().catch(() => undefined);
    this.retry(ending);
  }

  /** A tail the server did not open: ask for a token, fall back to polling, retry, or say why. */
  private async refused(res: Response): Promise<void> {
    if (res.status === 401) {
      this.setState('off');
      this.onUnauthorized();
      return;
    }
    if (res.status === 404) {
      this.polling = true;
      await this.reload().catch(() => undefined);
      return;
    }
    if (res.status === 429 || res.status >= 500) {
      this.retry(res.status === 429 ? 'busy' : 'retrying', Number(res.headers.get('retry-after')) || 0);
      return;
    }
    const body = (await res.json().catch(() => ({}))) as { error?: string };
    this.setState('failed', 0, body.error ?? `HTTP ${res.status}`);
  }

  /** Tries again after a doubling, jittered delay (at least what Retry-After asks), resuming where the tail stopped. */
  private retry(state: LiveState, retryAfterSeconds = 0): void {
    const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt++) * (0.8 + Math.random() * 0.4);
    const delay = Math.max(backoff, retryAfterSeconds * 1000);
    this.setState(state, delay);
    this.retryTimer = setTimeout(() => void this.connect(true), delay);
  }

  private setState(state: LiveState, delayMs = 0, detail = ''): void {
    const s = `${Math.max(1, Math.round(delayMs / 1000))} s`;
    const text: Record<LiveState, string> = {
      off: '',
      connecting: 'Connecting…',
      live: 'Connected',
      retrying: `Connection lost, retrying in ${s}`,
      dropped: `Dropped by the server for falling behind, resuming in ${s}`,
      busy: `Too many live views open on the server, retrying in ${s}`,
      closing: `Server shutting down, reconnecting in ${s}`,
      polling: `Live tail off on this server: polling`,
      failed: `Live tail refused: ${detail}`,
    };
    this.liveState.textContent = text[state];
    this.liveState.dataset.state = state;
    this.liveState.hidden = state === 'off';
  }

  private fillWaiters: (() => void)[] = [];

  /** Resolves when the table is next filled afresh (after a reload, a new tail's first rows). */
  nextFill(): Promise<void> {
    return new Promise((resolve) => this.fillWaiters.push(resolve));
  }

  /** The table becomes `logs` (newest event time first, as GET /api/logs lists). */
  private replace(logs: LogView[]): void {
    const kept = logs.slice(0, MAX_ROWS);
    this.rows.replaceChildren(...kept.flatMap((l) => this.row(l)));
    this.shown = kept.map(keyOf);
    this.newestId = logs.reduce((max, l) => Math.max(max, l.id), 0);
    this.empty.hidden = logs.length > 0;
    const waiters = this.fillWaiters;
    this.fillWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /**
   * Adds `logs`, each where its event time puts it: a late log goes below the newer ones, as
   * a reload would list it. What the reader is looking at does not move; the table keeps at
   * most MAX_ROWS, dropping the oldest by event time.
   */
  private insert(logs: LogView[]): void {
    if (logs.length === 0) return;
    // The first row in view stays where it is on the screen, whatever lands above it.
    const view = this.scroller.getBoundingClientRect().top;
    const anchor = this.scroller.scrollTop > 0 ? [...this.rows.rows].find((tr) => !tr.hidden && tr.getBoundingClientRect().bottom > view) : undefined;
    const anchorTop = anchor?.getBoundingClientRect().top ?? 0;
    for (const log of logs) {
      const key = keyOf(log);
      let lo = 0;
      let hi = this.shown.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (listedBefore(this.shown[mid]!, key)) lo = mid + 1;
        else hi = mid;
      }
      if (lo >= MAX_ROWS) continue;
      const next = this.rows.children[lo * 2] ?? null;
      for (const tr of this.row(log)) this.rows.insertBefore(tr, next);
      this.shown.splice(lo, 0, key);
      this.newestId = Math.max(this.newestId, log.id);
    }
    while (this.shown.length > MAX_ROWS) {
      this.rows.lastElementChild?.remove();
      this.rows.lastElementChild?.remove();
      this.shown.pop();
    }
    if (anchor?.isConnected) this.scroller.scrollTop += anchor.getBoundingClientRect().top - anchorTop;
    this.empty.hidden = this.shown.length > 0;
  }

  private row(log: LogView): HTMLTableRowElement[] {
    const tr = el('tr', undefined, 'log-row');
    tr.tabIndex = 0;
    tr.dataset.id = String(log.id);
    tr.dataset.ts = String(Date.parse(log.timestamp));
    if (log.pattern_id !== undefined) tr.dataset.pattern = String(log.pattern_id);
    const badge = el('span', log.level, `badge level-${log.level.toLowerCase()}`);
    const levelCell = el('td');
    levelCell.append(badge);
    // The date and the clock apart, so a phone shows the clock alone and keeps the column.
    const time = el('td', undefined, 'time');
    const at = new Date(log.timestamp);
    if (Number.isNaN(at.getTime())) time.textContent = shortTime(log.timestamp);
    else time.append(el('span', `${at.toLocaleDateString()} `, 'date'), el('span', at.toLocaleTimeString(undefined, { hour12: false }), 'clock'));
    tr.append(time, levelCell, el('td', log.service, 'service'), el('td', log.message, 'message'));

    const detail = el('tr', undefined, 'log-detail');
    detail.hidden = true;
    const cell = el('td');
    cell.colSpan = 4;
    const facts = { id: log.id, received_at: log.received_at, user_id: log.user_id ?? null, metadata: log.metadata ?? null };
    cell.append(el('pre', JSON.stringify(facts, null, 2)));
    detail.append(cell);

    const toggle = (): void => {
      detail.hidden = !detail.hidden;
      tr.classList.toggle('open', !detail.hidden);
    };
    tr.addEventListener('click', toggle);
    tr.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        toggle();
      }
    });
    return [tr, detail];
  }
}
