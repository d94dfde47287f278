import './style.css';

interface DashboardData {
  summary: { total_logs: number; error_rate: number; active_services: number };
  recent_logs: { id: number; timestamp: string; level: string; service: string; message: string }[];
}

const REFRESH_MS = 5000;

function byId(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`missing #${id}`);
  return el;
}

/** Log-derived text only ever reaches the page through textContent. */
function cell(text: string, className?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

async function refresh(): Promise<void> {
  const status = byId('status');
  try {
    const [dashRes, healthRes] = await Promise.all([fetch('/api/advanced-dashboard-data'), fetch('/health')]);
    if (!dashRes.ok || !healthRes.ok) throw new Error(`HTTP ${dashRes.status}`);
    const data = (await dashRes.json()) as DashboardData;
    const health = (await healthRes.json()) as { current_stored: number };
    byId('total-logs').textContent = data.summary.total_logs.toLocaleString();
    byId('error-rate').textContent = `${(data.summary.error_rate * 100).toFixed(1)}%`;
    byId('active-services').textContent = String(data.summary.active_services);
    byId('stored').textContent = health.current_stored.toLocaleString();
    byId('recent-logs').replaceChildren(
      ...data.recent_logs.map((log) => {
        const tr = document.createElement('tr');
        tr.append(cell(log.timestamp), cell(log.level, `level level-${log.level.toLowerCase()}`), cell(log.service), cell(log.message));
        return tr;
      }),
    );
    status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    status.className = '';
  } catch {
    status.textContent = 'Server unreachable, retrying…';
    status.className = 'error';
  }
}

void refresh();
setInterval(() => void refresh(), REFRESH_MS);
