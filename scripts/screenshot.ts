/**
 * Regenerates docs/dashboard.png: a server on loopback with simulated traffic and an error
 * burst, the dashboard opened in headless Chromium at 1366x768. Run: npm run screenshot
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildApp } from '../server/app.js';
import { resolveConfig } from '../server/config.js';
import { PROJECT_ROOT } from '../server/schemas.js';
import { launchChromium } from './browser.js';

const out = process.argv[2] ?? join(PROJECT_ROOT, 'docs', 'dashboard.png');
const scheme = process.env.COLOR_SCHEME === 'dark' ? 'dark' : 'light';
const width = Number(process.env.WIDTH ?? 1366);
const height = Number(process.env.HEIGHT ?? 768);

const app = await buildApp(resolveConfig({ server: { log_level: 'warn' }, storage: { persistence: { enabled: false } } }));
const url = await app.listen({ host: '127.0.0.1', port: 0 });
const post = (path: string, body: unknown): Promise<Response> =>
  fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
for (let i = 0; i < 2; i++) await post('/api/simulate-logs', { count: 1000 });
await post('/api/simulate-errors', { count: 80, error_rate: 0.9, service: 'payment-service' });
await post('/api/simulate-errors', { count: 40, error_rate: 0.3, service: 'api-gateway' });

const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width, height }, colorScheme: scheme, deviceScaleFactor: 1 });
  await page.goto(url);
  await page.waitForSelector('#alerts li');
  await page.waitForSelector('#log-rows tr');
  await page.waitForTimeout(300);
  mkdirSync(join(out, '..'), { recursive: true });
  await page.screenshot({ path: out, fullPage: process.env.FULL_PAGE !== '0' });
  process.stdout.write(`wrote ${out}\n`);
} finally {
  await browser.close();
  await app.close();
}
