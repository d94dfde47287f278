/// <reference lib="dom" />
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { buildApp } from '../../server/app.js';
import { chromiumMissing, launchChromium } from '../../scripts/browser.js';
import { testConfig } from '../helpers.js';

const skip = chromiumMissing();
if (skip) process.stdout.write(`# API reference end-to-end tests skipped: ${skip}\n`);

/** The API reference at /docs, as a person opens it: it renders every operation from this server's files alone, breaking none of its CSP. */
describe('the API reference (/docs) in headless Chromium', { skip }, () => {
  let browser: Browser;
  let app: FastifyInstance;
  let url: string;

  before(async () => {
    browser = await launchChromium();
    app = await buildApp(testConfig());
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  for (const width of [1366, 390]) {
    test(`at ${width} px: every operation shown, no CSP violation or error, nothing fetched from elsewhere`, async () => {
      const page = await browser.newPage({ viewport: { width, height: 900 } });
      try {
        const errors: string[] = [];
        const foreign: string[] = [];
        page.on('console', (m) => {
          if (m.type() === 'error') errors.push(m.text());
        });
        page.on('pageerror', (e) => errors.push(e.message));
        page.on('request', (r) => {
          if (!r.url().startsWith(url) && !r.url().startsWith('data:')) foreign.push(r.url());
        });
        await page.addInitScript(() => {
          const seen: string[] = [];
          (window as unknown as { violations: string[] }).violations = seen;
          document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.violatedDirective} ${e.sourceFile}:${e.lineNumber}`));
        });
        const res = await page.goto(`${url}/docs`);
        assert.equal(res?.status(), 200);
        assert.match(String(res?.headers()['content-security-policy']), /script-src 'self';/);
        await page.waitForSelector('.opblock');
        const doc = (await (await fetch(`${url}/openapi.json`)).json()) as { paths: Record<string, object> };
        const operations = Object.values(doc.paths).reduce((n, ops) => n + Object.keys(ops).length, 0);
        await page.waitForFunction((n) => document.querySelectorAll('.opblock').length === n, operations);
        assert.ok(await page.getByText('/api/logs/tail', { exact: true }).isVisible());
        assert.deepEqual(await page.evaluate(() => (window as unknown as { violations: string[] }).violations), []);
        assert.deepEqual(errors, []);
        assert.deepEqual(foreign, []);
      } finally {
        await page.close();
      }
    });
  }
});
