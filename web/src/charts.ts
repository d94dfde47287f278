import {
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

Chart.register(LineController, LineElement, PointElement, LinearScale, TimeScale, CategoryScale, Filler, Tooltip, Legend);

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

/** The two time charts. Created once; each poll replaces their data and updates in place. */
export class DashboardCharts {
  private readonly volume: Chart<'line', Point[]>;
  private readonly errors: Chart<'line', Point[]>;

  constructor(volumeCanvas: HTMLCanvasElement, errorCanvas: HTMLCanvasElement) {
    this.volume = lineChart(volumeCanvas, 'Logs', '#3b82f6', false);
    this.errors = lineChart(errorCanvas, 'Error rate %', '#e5484d', true, 10);
  }

  update(volume: Point[], errorRatePercent: Point[]): void {
    show(this.volume, volume);
    show(this.errors, errorRatePercent);
  }
}
