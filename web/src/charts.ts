import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  TimeScale,
  Tooltip,
  type ChartConfiguration,
} from 'chart.js';
import 'chartjs-adapter-date-fns';

Chart.register(BarController, BarElement, LineController, LineElement, PointElement, LinearScale, TimeScale, CategoryScale, Filler, Tooltip, Legend);

export interface Point {
  x: number;
  y: number;
}

function themeColors(): { grid: string; text: string } {
  const dark = window.matchMedia('(prefers-color-scheme: dark)').matches;
  return dark ? { grid: 'rgba(255,255,255,0.08)', text: '#9aa4b5' } : { grid: 'rgba(0,0,0,0.08)', text: '#5b6577' };
}

function lineChart(canvas: HTMLCanvasElement, label: string, color: string, fill: boolean, yMax?: number): Chart<'line', Point[]> {
  const { grid, text } = themeColors();
  const config: ChartConfiguration<'line', Point[]> = {
    type: 'line',
    data: {
      datasets: [
        {
          label,
          data: [],
          borderColor: color,
          backgroundColor: fill ? `${color}33` : color,
          fill,
          tension: 0.25,
          pointRadius: 0,
          pointHoverRadius: 4,
          borderWidth: 2,
        },
      ],
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: 'index', intersect: false },
      plugins: { legend: { display: false } },
      scales: {
        x: {
          type: 'time',
          time: { unit: 'minute', tooltipFormat: 'HH:mm', displayFormats: { minute: 'HH:mm' } },
          grid: { color: grid },
          ticks: { color: text, maxTicksLimit: 8 },
        },
        y: { beginAtZero: true, suggestedMax: yMax, grid: { color: grid }, ticks: { color: text, precision: 0 } },
      },
    },
  };
  return new Chart(canvas, config);
}

/** Replaces a chart's points in place; the canvas carries a summary so tests can check what is drawn. */
function show(chart: Chart<'line', Point[]>, points: Point[]): void {
  chart.data.datasets[0]!.data = points;
  chart.update('none');
  chart.canvas.dataset.points = String(points.length);
  chart.canvas.dataset.sum = String(Math.round(points.reduce((acc, p) => acc + p.y, 0) * 10) / 10);
}

/** The levels stacked in the volume chart, bottom up, with their colours (the table's badges). */
export const LEVEL_COLORS: readonly [level: 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR' | 'CRITICAL', color: string][] = [
  ['DEBUG', '#64748b'],
  ['INFO', '#3b82f6'],
  ['WARNING', '#d97706'],
  ['ERROR', '#e5484d'],
  ['CRITICAL', '#7f1d1d'],
];

/** One minute's logs by level: what a stacked bar shows. */
export interface LevelsAt {
  x: number;
  counts: Record<(typeof LEVEL_COLORS)[number][0], number>;
}

function barChart(canvas: HTMLCanvasElement): Chart<'bar', Point[]> {
  const { grid, text } = themeColors();
  return new Chart(canvas, {
    type: 'bar',
    data: {
      datasets: LEVEL_COLORS.map(([label, color]) => ({ label, data: [] as Point[], backgroundColor: color, stack: 'levels', barPercentage: 0.95, categoryPercentage: 1 })),
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: 'index', intersect: false },
      plugins: { legend: { display: true, position: 'bottom', labels: { color: text, boxWidth: 10, boxHeight: 10 } } },
      scales: {
        x: {
          type: 'time',
          stacked: true,
          offset: true,
          time: { unit: 'minute', tooltipFormat: 'HH:mm', displayFormats: { minute: 'HH:mm' } },
          grid: { color: grid },
          ticks: { color: text, maxTicksLimit: 8 },
        },
        y: { stacked: true, beginAtZero: true, grid: { color: grid }, ticks: { color: text, precision: 0 } },
      },
    },
  });
}

/**
 * The two time charts. Created once; each poll replaces their data and updates in place. The
 * volume chart stacks each minute's logs by level; the error-rate chart reads in percent, with
 * the alert threshold drawn across it.
 */
export class DashboardCharts {
  private readonly volume: Chart<'bar', Point[]>;
  private readonly errors: Chart<'line', Point[]>;

  /**
   * `onRange` gets the minutes a click on a bar, or a drag across bars, picked: from the
   * first minute's start to the last one's end, epoch ms.
   */
  constructor(volumeCanvas: HTMLCanvasElement, errorCanvas: HTMLCanvasElement, onRange: (range: { from: number; to: number }) => void) {
    this.volume = barChart(volumeCanvas);
    const minuteAt = (e: MouseEvent): number | undefined => {
      const hit = this.volume.getElementsAtEventForMode(e, 'index', { intersect: false }, false)[0];
      return hit === undefined ? undefined : this.volume.data.datasets[0]!.data[hit.index]?.x;
    };
    let down: number | undefined;
    volumeCanvas.addEventListener('mousedown', (e) => (down = minuteAt(e)));
    volumeCanvas.addEventListener('mouseup', (e) => {
      const up = minuteAt(e);
      const start = down ?? up;
      down = undefined;
      if (start === undefined || up === undefined) return;
      onRange({ from: Math.min(start, up), to: Math.max(start, up) + 59_999 });
    });
    volumeCanvas.style.cursor = 'pointer';
    this.errors = lineChart(errorCanvas, 'Error rate %', '#e5484d', true, 10);
    const y = this.errors.options.scales!.y!;
    y.ticks = { ...y.ticks, callback: (v) => `${v} %` };
    this.errors.data.datasets.push({
      label: 'Alert threshold',
      data: [],
      borderColor: '#7f1d1d',
      borderDash: [6, 4],
      borderWidth: 1.5,
      pointRadius: 0,
      pointHoverRadius: 0,
      fill: false,
    });
  }

  /** `thresholdPercent`: alerting.error_rate_threshold, in percent. */
  update(volume: LevelsAt[], errorRatePercent: Point[], thresholdPercent: number): void {
    LEVEL_COLORS.forEach(([level], i) => (this.volume.data.datasets[i]!.data = volume.map((p) => ({ x: p.x, y: p.counts[level] }))));
    this.volume.update('none');
    const canvas = this.volume.canvas;
    canvas.dataset.points = String(volume.length);
    canvas.dataset.sum = String(volume.reduce((acc, p) => acc + Object.values(p.counts).reduce((a, b) => a + b, 0), 0));
    canvas.dataset.stacks = String(this.volume.data.datasets.length);
    const first = errorRatePercent[0]?.x;
    const last = errorRatePercent[errorRatePercent.length - 1]?.x;
    this.errors.data.datasets[1]!.data = first === undefined || last === undefined ? [] : [{ x: first, y: thresholdPercent }, { x: last, y: thresholdPercent }];
    this.errors.canvas.dataset.threshold = String(thresholdPercent);
    show(this.errors, errorRatePercent);
  }
}
