import type { LogView } from '../../server/core/log.js';
import { api, Unauthorized } from './api.js';
import { byId, el, shortTime } from './dom.js';

const MAX_ROWS = 500;

interface LogsPage {
  logs: LogView[];
}

/**
 * The recent-logs table, backed by GET /api/logs with the filters in the form. In live mode
 * each refresh prepends only the new rows and keeps the reader's scroll position.
 */
export class LogsTable {
  private readonly rows = byId<HTMLTableSectionElement>('log-rows');
  private readonly scroller = byId('log-scroll');
  private readonly service = byId<HTMLSelectElement>('filter-service');
  private readonly level = byId<HTMLSelectElement>('filter-level');
  private readonly text = byId<HTMLInputElement>('filter-text');
  private readonly live = byId<HTMLInputElement>('live');
  private readonly empty = byId('logs-empty');
  private newestId = 0;
  /** Bumped by every filter change; a response for an older generation is stale and ignored. */
  private generation = 0;
  private debounce: ReturnType<typeof setTimeout> | undefined;

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

  private query(): string {
    const p = new URLSearchParams({ limit: '100' });
    if (this.service.value) p.set('service', this.service.value);
    if (this.level.value) p.set('level', this.level.value);
    if (this.text.value.trim()) p.set('q', this.text.value.trim());
    return p.toString();
  }

  private async fetchLogs(): Promise<LogView[]> {
    try {
      return (await api<LogsPage>(`/api/logs?${this.query()}`)).data.logs;
    } catch (e) {
      if (e instanceof Unauthorized) this.onUnauthorized();
      throw e;
    }
  }

  /** Replaces the table with the first page for the current filters. */
  async reload(): Promise<void> {
    const generation = ++this.generation;
    const logs = await this.fetchLogs();
    if (generation !== this.generation) return;
    this.rows.replaceChildren(...logs.flatMap((l) => this.row(l)));
    this.newestId = logs[0]?.id ?? 0;
    this.empty.hidden = logs.length > 0;
  }

  /** Live mode: adds rows newer than the newest shown, without moving what the reader is looking at. */
  async poll(): Promise<void> {
    if (!this.live.checked) return;
    const generation = this.generation;
    const logs = await this.fetchLogs();
    if (generation !== this.generation) return;
    const fresh = logs.filter((l) => l.id > this.newestId);
    if (fresh.length === 0) return;
    const before = this.scroller.scrollHeight;
    this.rows.prepend(...fresh.flatMap((l) => this.row(l)));
    if (this.scroller.scrollTop > 0) this.scroller.scrollTop += this.scroller.scrollHeight - before;
    this.newestId = fresh[0]!.id;
    this.empty.hidden = true;
    while (this.rows.rows.length > MAX_ROWS * 2) this.rows.lastElementChild?.remove();
  }

  private row(log: LogView): HTMLTableRowElement[] {
    const tr = el('tr', undefined, 'log-row');
    tr.tabIndex = 0;
    tr.dataset.id = String(log.id);
    const badge = el('span', log.level, `badge level-${log.level.toLowerCase()}`);
    const levelCell = el('td');
    levelCell.append(badge);
    tr.append(el('td', shortTime(log.timestamp), 'time'), levelCell, el('td', log.service, 'service'), el('td', log.message, 'message'));

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
