/**
 * What mining every log's pattern costs batch ingest, with the machine's drift taken out: two
 * apps in this one process (bench/run.ts pins it to the server's CPU), both the built server's
 * buildApp with the bench servers' config, one with patterns off and one with them on, fed
 * the same bodies through app.inject() in alternating posts, the order of the two flipped
 * every post. Posts milliseconds apart see the same machine, so the drift over seconds that
 * moves a 5-second HTTP round by ±20% here cancels; what differs is what mining costs.
 *
 * The sockets, the same for both, are left out: per-post work is smaller and the ratio lower
 * (harsher) than the throughput ratio over HTTP of the same cost. The two apps share one heap,
 * so garbage one makes may be collected during the other's post; mining a message the cache
 * holds allocates nothing, so little of the cost can move that way.
 *
 *   --file bodies.json --config config.json --posts N --warmup-posts N
 *   prints {"offMs", "onMs", "ratio", "posts"}: median milliseconds a post, and off / on
 *
 * The bodies file is a JSON array of 1000-log JSON array strings; the config file the JSON of
 * the config the HTTP servers get.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROJECT_ROOT } from './lib/machine.js';

type AppModule = typeof import('../server/app.js');
type ConfigModule = typeof import('../server/config.js');

const argv = process.argv.slice(2);
const arg = (name: string): string => {
  const i = argv.indexOf(`--${name}`);
  if (i === -1 || argv[i + 1] === undefined) throw new Error(`--${name} is required`);
  return argv[i + 1]!;
};

const built = (path: string): string => pathToFileURL(join(PROJECT_ROOT, 'dist', 'server', path)).href;
const { buildApp } = (await import(built('app.js'))) as AppModule;
const { deepMerge, resolveConfig } = (await import(built('config.js'))) as ConfigModule;

const bodies = JSON.parse(readFileSync(arg('file'), 'utf8')) as string[];
const config = JSON.parse(readFileSync(arg('config'), 'utf8')) as Record<string, unknown>;
const posts = Number(arg('posts'));
const warmupPosts = Number(arg('warmup-posts'));

async function app(patterns: boolean): Promise<Awaited<ReturnType<AppModule['buildApp']>>> {
  const a = await buildApp(resolveConfig(deepMerge(config, { server: { log_level: 'silent' }, patterns: { enabled: patterns } })));
  await a.ready();
  return a;
}

const off = await app(false);
const on = await app(true);

async function post(a: typeof off, body: string): Promise<number> {
  const t0 = performance.now();
  const res = await a.inject({ method: 'POST', url: '/api/logs', payload: body, headers: { 'content-type': 'application/json' } });
  const ms = performance.now() - t0;
  if (res.statusCode !== 201) throw new Error(`POST /api/logs answered ${res.statusCode}: ${res.body.slice(0, 300)}`);
  return ms;
}

const offMs: number[] = [];
const onMs: number[] = [];
for (let k = 0; k < warmupPosts + posts; k++) {
  const body = bodies[k % bodies.length]!;
  const [a, b] = k % 2 === 0 ? [off, on] : [on, off];
  const first = await post(a, body);
  const second = await post(b, body);
  if (k < warmupPosts) continue;
  (a === off ? offMs : onMs).push(first);
  (b === off ? offMs : onMs).push(second);
}
await off.close();
await on.close();

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s[s.length >> 1]!;
};
const offMedian = median(offMs);
const onMedian = median(onMs);
console.log(JSON.stringify({ offMs: offMedian, onMs: onMedian, ratio: offMedian / onMedian, posts }));
