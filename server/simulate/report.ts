import type { ServiceStats, ShipSummary } from './shipper.js';

const n = (v: number): string => v.toLocaleString('en-US');
const perSecond = (v: number): string => {
  const tenths = Math.round(v * 10) / 10;
  return tenths >= 100 ? Math.round(v).toLocaleString('en-US') : tenths.toFixed(1);
};

/** One service's live status, cut to the terminal's width. */
export function progressLine(s: ServiceStats, nameWidth: number, columns: number): string {
  const problem = s.state === 'retrying' || s.state === 'stopped' ? `  ${s.last_error ?? ''}` : '';
  const line =
    `${s.service.padEnd(nameWidth)}  ${s.state.padEnd(8)}  sent ${n(s.sent)}  accepted ${n(s.accepted)}  rejected ${n(s.rejected)}` +
    `  retried ${n(s.retried)}  dropped ${n(s.dropped)}  queued ${n(s.queued)}  ${perSecond(s.rate)}/s${problem}`;
  return line.length > columns ? `${line.slice(0, Math.max(0, columns - 1))}…` : line;
}

/**
 * Redraws one line per service in place on a terminal: the cursor goes back up over the lines
 * drawn last time, and each line is cleared before it is written.
 */
export class LiveStatus {
  private drawn = 0;

  constructor(private readonly out: NodeJS.WriteStream) {}

  draw(stats: readonly ServiceStats[]): void {
    const width = Math.max(...stats.map((s) => s.service.length));
    const columns = this.out.columns || 120;
    let text = this.drawn > 0 ? `\x1b[${this.drawn}F` : '';
    for (const s of stats) text += `\x1b[2K${progressLine(s, width, columns)}\n`;
    this.drawn = stats.length;
    this.out.write(text);
  }

  /** Writes a message above the status lines, which are redrawn below it on the next draw. */
  note(message: string): void {
    const up = this.drawn > 0 ? `\x1b[${this.drawn}F\x1b[0J` : '';
    this.drawn = 0;
    this.out.write(`${up}${message}\n`);
  }
}

const COLUMNS: ReadonlyArray<[string, (s: Omit<ServiceStats, 'service' | 'state' | 'last_error'>) => string]> = [
  ['sent', (s) => n(s.sent)],
  ['accepted', (s) => n(s.accepted)],
  ['rejected', (s) => n(s.rejected)],
  ['retried', (s) => n(s.retried)],
  ['dropped', (s) => n(s.dropped)],
  ['logs/s', (s) => perSecond(s.rate)],
];

/** The end-of-run table: a row per service, a total, and why any logs were lost. */
export function summaryTable(summary: ShipSummary): string {
  const rows: string[][] = [['service', ...COLUMNS.map(([h]) => h)]];
  for (const s of summary.services) rows.push([s.service, ...COLUMNS.map(([, f]) => f(s))]);
  rows.push(['total', ...COLUMNS.map(([, f]) => f(summary.total))]);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const lines = rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
  lines.splice(1, 0, '-'.repeat(lines[0]!.length));
  lines.splice(lines.length - 1, 0, '-'.repeat(lines[0]!.length));
  const notes: string[] = [];
  for (const s of summary.services) {
    const why: string[] = [];
    if (s.dropped_queue_full > 0) why.push(`${n(s.dropped_queue_full)} dropped from a full queue`);
    if (s.dropped_at_exit > 0) why.push(`${n(s.dropped_at_exit)} undelivered at exit`);
    if (s.rejected > 0 || s.state === 'stopped' || why.length > 0) {
      const stopped = s.state === 'stopped' ? 'stopped after ' : 'last error: ';
      notes.push(`${s.service}: ${[...why, s.last_error === undefined ? '' : `${stopped}${s.last_error}`].filter(Boolean).join('; ')}`);
    }
  }
  const head = `${n(summary.total.generated)} logs generated in ${summary.elapsed_s.toFixed(1)} s, shipped to ${summary.endpoint} as ${summary.format}`;
  return [head, '', ...lines, ...(notes.length > 0 ? ['', ...notes] : [])].join('\n');
}

/** 0 when every generated log was accepted; 1 when any was rejected or lost. */
export function exitCode(summary: ShipSummary): number {
  const t = summary.total;
  return t.rejected === 0 && t.dropped === 0 && t.accepted === t.generated ? 0 : 1;
}
