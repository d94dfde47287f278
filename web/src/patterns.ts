import type { Level, PatternView, PatternsPage } from '../../server/api-types.js';

export type { PatternView, PatternsPage };
import { byId, el, shortTime } from './dom.js';
import { patternHref } from './view.js';

/** Patterns the panel lists: the top ones of the range. */
export const PATTERNS_SHOWN = 10;

const LEVELS: readonly Level[] = ['CRITICAL', 'ERROR', 'WARNING', 'INFO', 'DEBUG'];
const SVG = 'http://www.w3.org/2000/svg';

/** A template in monospace, its `<*>` variables marked; the whole text in the title, for when it is cut short. */
export function templateNode(template: string): HTMLElement {
  const code = el('code', undefined, 'template');
  template.split('<*>').forEach((part, i) => {
    if (i > 0) code.append(el('span', '<*>', 'var'));
    if (part !== '') code.append(part);
  });
  code.title = template;
  return code;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/**
 * Logs per minute as a small line over its area, scaled to its own peak: inline SVG with
 * presentation attributes and classes only (the page's CSP refuses style attributes).
 */
export function sparkline(counts: readonly number[]): SVGSVGElement {
  const values = counts.length === 1 ? [counts[0]!, counts[0]!] : counts.length === 0 ? [0, 0] : counts;
  const w = values.length - 1;
  const h = 20;
  const peak = Math.max(1, ...values);
  const points = values.map((c, i) => `${i},${(h - (c / peak) * (h - 2) - 1).toFixed(2)}`);
  const root = svg('svg', { viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: 'none', class: 'spark', role: 'img' });
  const sum = counts.reduce((a, b) => a + b, 0);
  const label = `${sum.toLocaleString()} logs over ${counts.length} min, at most ${Math.max(0, ...counts).toLocaleString()} a minute`;
  root.setAttribute('aria-label', label);
  const title = svg('title', {});
  title.textContent = label;
  root.append(title, svg('path', { d: `M0,${h} L${points.join(' L')} L${w},${h} Z`, class: 'spark-area' }), svg('polyline', { points: points.join(' '), class: 'spark-line' }));
  return root;
}

/** A pattern's levels, most severe first, each a badge with its count. */
export function levelChips(levels: Partial<Record<Level, number>>): HTMLElement {
  const box = el('span', undefined, 'pattern-levels');
  for (const level of LEVELS) {
    const n = levels[level];
    if (n) box.append(el('span', `${level} ${n.toLocaleString()}`, `badge level-${level.toLowerCase()}`));
  }
  return box;
}

/**
 * The Patterns panel: the top patterns of the dashboard's range with their counts, a
 * per-minute sparkline, the level mix and a "new" badge; each links to its logs (`?pattern=ID`).
 */
export class PatternsPanel {
  private readonly list = byId<HTMLOListElement>('patterns');
  private readonly empty = byId('patterns-empty');
  private readonly note = byId('patterns-note');
  /** Templates of the patterns seen so far, for the pattern filter's chip. */
  readonly templates = new Map<number, string>();
  private current: number | undefined;
  /** Whether a list has been drawn yet (the templates hold the range's top patterns). */
  rendered = false;
  /** What was last drawn, so an unchanged poll leaves the rows (and a hover's title) alone. */
  private drawn = '';

  render(page: PatternsPage, minutes: number): void {
    for (const p of page.patterns) this.templates.set(p.id, p.template);
    this.rendered = true;
    this.list.dataset.from = page.from;
    this.list.dataset.to = page.to;
    const shown = page.patterns.slice(0, PATTERNS_SHOWN);
    this.note.textContent = `most logs in the last ${minutes} min · pick one to see its logs`;
    this.empty.textContent = 'No logs in this range.';
    this.empty.hidden = shown.length > 0;
    const key = JSON.stringify([shown, this.current]);
    if (key === this.drawn) return;
    this.drawn = key;
    this.list.replaceChildren(...shown.map((p) => this.row(p)));
  }

  /** Patterns are off on this server, or the answer was refused: say so in place of the list. */
  unavailable(text: string): void {
    this.drawn = '';
    this.list.replaceChildren();
    this.note.textContent = '';
    this.empty.textContent = text;
    this.empty.hidden = false;
  }

  /** Marks the pattern the table is narrowed to. */
  setCurrent(id: number | undefined): void {
    this.current = id;
    for (const a of this.list.querySelectorAll<HTMLAnchorElement>('a.pattern-link')) {
      const on = a.dataset.pattern === String(id);
      a.classList.toggle('current', on);
      if (on) a.setAttribute('aria-current', 'true');
      else a.removeAttribute('aria-current');
    }
  }

  private row(p: PatternView): HTMLLIElement {
    const li = el('li');
    const a = el('a', undefined, `pattern-link${p.id === this.current ? ' current' : ''}`);
    a.href = patternHref(p.id);
    a.dataset.pattern = String(p.id);
    if (p.id === this.current) a.setAttribute('aria-current', 'true');
    const main = el('span', undefined, 'pattern-main');
    const meta = el('span', undefined, 'pattern-meta muted small');
    if (p.new) meta.append(el('span', 'new', 'new-badge'));
    meta.append(el('span', p.service, 'pattern-service'));
    meta.title = `Latest: ${p.sample}\nFirst seen ${shortTime(p.first_seen)}, last ${shortTime(p.last_seen)} · ${p.total.toLocaleString()} logs in all`;
    main.append(templateNode(p.template), meta);
    const count = el('span', p.count.toLocaleString(), 'pattern-count');
    count.title = `${p.count.toLocaleString()} logs in the range`;
    a.append(count, main, sparkline(p.per_minute), levelChips(p.levels));
    li.append(a);
    return li;
  }
}
