import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { parse as parseYaml } from 'yaml';
import { buildApp } from '../../server/app.js';
import { deepMerge, resolveConfig } from '../../server/config.js';

/**
 * The curl examples of the docs, as printed, against the shipped config.yaml: the README's
 * tour and the Loki, Elasticsearch and /metrics examples use the demo tokens that file ships.
 * Each `curl` of a ```bash block is read (its -u, -H, -X, URL and --data / --data-binary with a
 * here-document) and sent with app.inject; `$(date +%s%N)` becomes now in nanoseconds.
 */

const ROOT = resolve(import.meta.dirname, '../..');

interface Curl {
  text: string;
  options: InjectOptions;
}

/** Splits a shell command line into words: single and double quotes, backslash-newline continuations. */
function words(line: string): string[] {
  const out: string[] = [];
  let word = '';
  let quote: string | null = null;
  let started = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote !== null) {
      if (c === quote) quote = null;
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      started = true;
    } else if (c === '\\' && line[i + 1] === '\n') i++;
    else if (/\s/.test(c)) {
      if (started) out.push(word);
      word = '';
      started = false;
    } else {
      word += c;
      started = true;
    }
  }
  if (started) out.push(word);
  return out;
}

/** Whether a shell line ends inside a quote. */
function openQuote(line: string): boolean {
  let quote: string | null = null;
  for (const c of line) {
    if (quote !== null) {
      if (c === quote) quote = null;
    } else if (c === "'" || c === '"') quote = c;
  }
  return quote !== null;
}

/** Every curl command in the ```bash blocks of a Markdown file, with its here-document when it reads one. */
function curls(file: string): Curl[] {
  const text = readFileSync(resolve(ROOT, file), 'utf8');
  const out: Curl[] = [];
  for (const block of text.matchAll(/```bash\n([\s\S]*?)```/g)) {
    const lines = block[1]!.replace(/\\\n/g, '\\\n').split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i]!.startsWith('curl ')) continue;
      let command = lines[i]!;
      // Continued by a backslash, or by a quote still open at the end of the line.
      while ((command.endsWith('\\') || openQuote(command)) && i + 1 < lines.length) command += `\n${lines[++i]!}`;
      let heredoc: string | undefined;
      const marker = /<<'(\w+)'/.exec(command);
      if (marker) {
        const body: string[] = [];
        while (++i < lines.length && lines[i] !== marker[1]) body.push(lines[i]!);
        heredoc = `${body.join('\n')}\n`;
      }
      const shell = command.split(' | ')[0]!.replace(/"\$\(date \+%s%N\)"/g, `${BigInt(Date.now()) * 1_000_000n}`);
      out.push({ text: command, options: toInject(words(shell), heredoc) });
    }
  }
  return out;
}

function toInject(argv: string[], heredoc: string | undefined): InjectOptions {
  const headers: Record<string, string> = {};
  let method: string | undefined;
  let url: string | undefined;
  let payload: string | undefined;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-u') headers.authorization = `Basic ${Buffer.from(argv[++i]!).toString('base64')}`;
    else if (a === '-H') {
      const [name, ...value] = argv[++i]!.split(':');
      headers[name!.trim().toLowerCase()] = value.join(':').trim();
    } else if (a === '-X') method = argv[++i];
    else if (a === '--data' || a === '-d' || a === '--data-binary') {
      const v = argv[++i]!;
      payload = v === '@-' ? heredoc : v;
    } else if (a.startsWith('http')) url = a;
    else if (a.startsWith('<<')) continue; // the here-document, read above
    else if (!a.startsWith('-')) assert.fail(`curl word not understood: ${a}`);
  }
  assert.ok(url, argv.join(' '));
  const { pathname, search } = new URL(url);
  return { method: (method ?? (payload === undefined ? 'GET' : 'POST')) as InjectOptions['method'], url: `${pathname}${search}`, headers, ...(payload === undefined ? {} : { payload }) };
}

describe('the docs\' curl examples, against the shipped config.yaml', () => {
  let app: FastifyInstance;
  before(async () => {
    const raw = parseYaml(readFileSync(resolve(ROOT, 'config.yaml'), 'utf8')) as unknown;
    app = await buildApp(resolveConfig(deepMerge(raw, { server: { log_level: 'silent' }, storage: { persistence: { enabled: false } } })));
    await app.ready();
  });
  after(async () => {
    await app.close();
  });

  // In this order: the /metrics example counts what the Loki example shipped.
  const expected: { file: string; route: RegExp; status: number; check?: (body: string) => void }[] = [
    { file: 'docs/ingest.md', route: /^POST \/loki\/api\/v1\/push$/, status: 204 },
    {
      file: 'docs/ingest.md',
      route: /^POST \/[\w-]+\/_bulk$/,
      status: 200,
      check: (body) => assert.equal(JSON.parse(body).errors, false, body),
    },
    { file: 'docs/operations.md', route: /^GET \/metrics$/, status: 200, check: (body) => assert.match(body, /^logsentinel_logs_ingested_total\{protocol="loki"\} [1-9]/m) },
    { file: 'README.md', route: /^POST \/api\/logs$/, status: 201 },
  ];

  for (const e of expected) {
    test(`${e.file}: ${e.route} answers ${e.status} as printed`, async () => {
      const examples = curls(e.file).filter((c) => e.route.test(`${c.options.method} ${String(c.options.url).split('?')[0]}`));
      assert.ok(examples.length > 0, `no curl example for ${e.route} in ${e.file}`);
      for (const example of examples) {
        const res = await app.inject(example.options);
        assert.equal(res.statusCode, e.status, `${example.text}\n→ ${res.statusCode} ${res.body}`);
        e.check?.(res.body);
      }
    });
  }

  test('the README tour: every curl answers 2xx, in order', async () => {
    const tour = curls('README.md');
    assert.ok(tour.length >= 4, `${tour.length} curl commands in the README`);
    for (const example of tour) {
      const res = await app.inject(example.options);
      assert.ok(res.statusCode >= 200 && res.statusCode < 300, `${example.text}\n→ ${res.statusCode} ${res.body}`);
    }
    // The tour's alert: the simulated burst fired one.
    const alerts = (await app.inject({ method: 'GET', url: '/api/alerts?status=firing' })).json();
    assert.ok(alerts.alerts.some((a: { rule: string; service: string }) => a.rule === 'error_rate' && a.service === 'payment-service'), JSON.stringify(alerts.alerts));
  });
});
