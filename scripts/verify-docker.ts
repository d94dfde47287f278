/**
 * Proves the Docker recipe without a Docker engine, by reading the Dockerfile itself so the
 * check cannot drift from it:
 *
 * - parses the Dockerfile's stages; the final (runtime) stage's COPY instructions say what the
 *   image holds: files from the stage that copies the whole build context (`COPY . .`) come from
 *   this project after its build commands (run here, e.g. `npm run build`); anything from another
 *   stage (node_modules from the production-deps stage) is reproduced by replaying that stage's
 *   own COPY and npm commands (`npm ci --omit=dev`) in a temporary folder;
 * - lays the runtime stage out in a temporary folder standing for the container's file system,
 *   with the stage's ENV, WORKDIR and VOLUMEs (an ENV pointing into a VOLUME or the WORKDIR is
 *   pointed into the temporary folder), PORT on a free loopback port and HOST=127.0.0.1;
 * - starts the container's CMD there, runs its HEALTHCHECK until healthy, posts a log and reads it
 *   back, loads the dashboard and one of its scripts, sends SIGTERM and expects exit 0;
 * - checks statically: a non-root USER, a HEALTHCHECK, CMD starting node directly, NODE_ENV,
 *   VOLUMEs created and owned by that USER, one Node image for every stage, .dockerignore
 *   (sources in, local artefacts out);
 * - checks docker-compose.yml with `docker-compose config -q` when that binary exists, and in any
 *   case by reading the keys this project relies on (before the slow part, so it fails fast);
 * - the same for its cluster profile: PostgreSQL, the replicas and the nginx load balancer, whose
 *   config (deploy/nginx.conf) is read too: upstream names against the replica services, the
 *   forwarded headers, the body limit and what a live tail (SSE) needs. Then it replays the
 *   profile: a throw-away PostgreSQL (scripts/postgres-server.ts) with the postgres service's
 *   user and database, one runtime-stage process per replica with that service's environment
 *   and mounts, a log posted to one and read from the others and through a tail on another; and
 *   when nginx is installed, the load balancer's config on loopback in front of them (`nginx -t`,
 *   then a log, a large batch and a live tail through it). No PostgreSQL: that part is skipped,
 *   and said (with CI set it fails instead, as the PostgreSQL tests do).
 *
 * Run: npx tsx scripts/verify-docker.ts [--skip-build] [--skip-cluster] [--keep] [--nginx PATH] [--dockerfile PATH] [--compose PATH] [--dockerignore PATH]
 *   --skip-build   do not run the build stage's commands here; require their outputs to exist
 *   --skip-cluster check the cluster profile statically only: start no PostgreSQL, replicas or nginx
 *   --keep         keep the temporary folder (its path is printed)
 *   --nginx PATH   the nginx to run the load balancer's config with (default: /usr/sbin/nginx)
 * Exit status 0 when every check passed, 1 with the failing check on stderr otherwise.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { get as httpGet, type IncomingHttpHeaders } from 'node:http';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import type { Config } from '../server/config.js';
import { freePort } from './free-port.js';
import type { PgServer } from './postgres-server.js';

const ROOT = resolve(import.meta.dirname, '..');

const USAGE = `Checks the Docker recipe without a Docker engine: replays the image's stages and starts the runtime stage's command.

Usage: npm run verify:docker [-- options]
  --skip-build            do not run the build stage's commands here; require their outputs to exist
  --skip-cluster          check the compose file's cluster profile statically only: start no
                          PostgreSQL, replicas or load balancer (saves a few seconds)
  --keep                  keep the temporary folder (its path is printed)
  --nginx PATH            the nginx binary to run the load balancer's config with
                          (default: /usr/sbin/nginx; when missing, that part is skipped and said)
  --dockerfile PATH       the Dockerfile to check (default: Dockerfile)
  --compose PATH          the compose file to check (default: docker-compose.yml)
  --dockerignore PATH     the .dockerignore to check (default: .dockerignore)
  -h, --help              print this and exit

Exit status 0 when every check passed, 1 with the failing check on stderr, 2 for a wrong option.
`;

function readOptions() {
  try {
    return parseArgs({
      options: {
        'skip-build': { type: 'boolean', default: false },
        'skip-cluster': { type: 'boolean', default: false },
        keep: { type: 'boolean', default: false },
        nginx: { type: 'string', default: '/usr/sbin/nginx' },
        dockerfile: { type: 'string', default: join(ROOT, 'Dockerfile') },
        compose: { type: 'string', default: join(ROOT, 'docker-compose.yml') },
        dockerignore: { type: 'string', default: join(ROOT, '.dockerignore') },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
}

const opts = readOptions();
if (opts.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

class VerifyError extends Error {}
function fail(message: string): never {
  throw new VerifyError(message);
}
function check(condition: unknown, message: string): asserts condition {
  if (!condition) fail(message);
}

const started = performance.now();
function step(message: string): void {
  const s = ((performance.now() - started) / 1000).toFixed(1).padStart(5);
  process.stdout.write(`[${s} s] ${message}\n`);
}
function note(message: string): void {
  process.stdout.write(`          ${message}\n`);
}
const rel = (p: string): string => {
  const r = relative(ROOT, p);
  return r.startsWith('..') ? p : r || '.';
};

// ---------------------------------------------------------------------------------------------
// Dockerfile parsing

interface Instruction {
  readonly line: number;
  readonly keyword: string;
  readonly args: string;
}

interface Stage {
  readonly index: number;
  readonly name: string | undefined;
  readonly base: string;
  readonly line: number;
  readonly instructions: Instruction[];
}

function substitute(text: string, vars: ReadonlyMap<string, string>): string {
  return text.replace(/\$\{(\w+)(?::?-([^}]*))?\}|\$(\w+)/g, (_m, braced: string | undefined, dflt: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    const value = vars.get(name);
    return value !== undefined && value !== '' ? value : (dflt ?? '');
  });
}

/** Splits words the way Dockerfile ENV/ARG/COPY do: whitespace separates, quotes group, backslash escapes. */
function words(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: '"' | "'" | undefined;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) fail(`unterminated quote in ${JSON.stringify(text)}`);
  if (inWord) out.push(cur);
  return out;
}

/** The JSON (exec) form of CMD/HEALTHCHECK/VOLUME/COPY, or undefined for the shell form. */
function execForm(args: string): string[] | undefined {
  if (!args.trimStart().startsWith('[')) return undefined;
  try {
    const v: unknown = JSON.parse(args);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  } catch {
    // Docker treats a malformed JSON array as the shell form.
  }
  return undefined;
}

function parseDockerfile(text: string, source: string): { stages: Stage[]; globalArgs: Map<string, string> } {
  const logical: { line: number; text: string }[] = [];
  let buf = '';
  let start = 0;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const trimmed = lines[i]!.trim();
    if (i === 0 || buf === '') {
      const directive = /^#\s*escape\s*=\s*(\S)/i.exec(trimmed);
      if (directive && directive[1] !== '\\') fail(`${source}: only the default escape character (\\) is supported`);
    }
    if (trimmed.startsWith('#')) continue; // comments, also inside a continuation
    if (trimmed === '') {
      if (buf !== '') continue; // an empty line inside a continuation is dropped too
      continue;
    }
    if (buf === '') start = i + 1;
    if (trimmed.endsWith('\\')) {
      buf += `${trimmed.slice(0, -1).trimEnd()} `;
      continue;
    }
    logical.push({ line: start, text: buf + trimmed });
    buf = '';
  }
  if (buf !== '') logical.push({ line: start, text: buf.trim() });

  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const { line, text: t } of logical) {
    const m = /^(\S+)\s*([\s\S]*)$/.exec(t)!;
    const keyword = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (keyword === 'FROM') {
      const w = words(substitute(args, globalArgs)).filter((x) => !x.startsWith('--'));
      check(w.length === 1 || (w.length === 3 && w[1]!.toUpperCase() === 'AS'), `${source}:${line}: cannot read FROM ${args}`);
      stages.push({ index: stages.length, name: w[2]?.toLowerCase(), base: w[0]!, line, instructions: [] });
    } else if (stages.length === 0) {
      check(keyword === 'ARG', `${source}:${line}: ${keyword} before the first FROM`);
      for (const w of words(args)) {
        const eq = w.indexOf('=');
        globalArgs.set(eq < 0 ? w : w.slice(0, eq), eq < 0 ? '' : w.slice(eq + 1));
      }
    } else {
      stages.at(-1)!.instructions.push({ line, keyword, args });
    }
  }
  check(stages.length > 0, `${source}: no FROM instruction`);
  return { stages, globalArgs };
}

interface Copy {
  readonly line: number;
  readonly from: string | undefined;
  readonly chown: string | undefined;
  readonly sources: string[];
  readonly dest: string;
}

function parseCopy(ins: Instruction, vars: ReadonlyMap<string, string>): Copy {
  let rest = ins.args;
  let from: string | undefined;
  let chown: string | undefined;
  for (;;) {
    const flag = /^--([\w-]+)(?:=(\S+))?\s+/.exec(rest);
    if (!flag) break;
    if (flag[1] === 'from') from = flag[2]?.toLowerCase();
    else if (flag[1] === 'chown') chown = flag[2];
    else if (!['chmod', 'link'].includes(flag[1]!)) fail(`Dockerfile:${ins.line}: COPY --${flag[1]} is not supported by this check`);
    rest = rest.slice(flag[0].length);
  }
  const all = (execForm(rest) ?? words(rest)).map((w) => substitute(w, vars));
  check(all.length >= 2, `Dockerfile:${ins.line}: COPY needs a source and a destination`);
  return { line: ins.line, from, chown, sources: all.slice(0, -1), dest: all.at(-1)! };
}

/** What a stage ends up with, following its chain of base stages. */
interface StageState {
  readonly chain: Stage[];
  readonly image: string;
  readonly env: Map<string, string>;
  readonly workdir: string;
  readonly user: string | undefined;
  readonly volumes: { path: string; line: number }[];
  readonly expose: string[];
  readonly cmd: string[] | undefined;
  readonly healthcheck: { cmd: string[]; timeoutMs: number; line: number } | 'NONE' | undefined;
}

function stageByName(stages: readonly Stage[], ref: string): Stage | undefined {
  const r = ref.toLowerCase();
  return stages.find((s) => s.name === r) ?? (/^\d+$/.test(r) ? stages[Number(r)] : undefined);
}

function duration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  check(m, `cannot read the duration ${text}`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

function stageState(stages: readonly Stage[], stage: Stage): StageState {
  const chain: Stage[] = [];
  for (let s: Stage | undefined = stage; s; ) {
    chain.unshift(s);
    const base: Stage | undefined = stageByName(stages.slice(0, s.index), s.base);
    s = base;
  }
  const env = new Map<string, string>();
  let workdir = '/';
  let user: string | undefined;
  const volumes: { path: string; line: number }[] = [];
  const expose: string[] = [];
  let cmd: string[] | undefined;
  let healthcheck: StageState['healthcheck'];
  for (const s of chain) {
    for (const ins of s.instructions) {
      const a = ins.args;
      switch (ins.keyword) {
        case 'ENV': {
          const w = words(a);
          if (w.length > 0 && !w[0]!.includes('=')) {
            env.set(w[0]!, substitute(a.slice(a.indexOf(w[0]!) + w[0]!.length).trim(), env));
          } else {
            for (const kv of w) {
              const eq = kv.indexOf('=');
              check(eq > 0, `Dockerfile:${ins.line}: cannot read ENV ${kv}`);
              env.set(kv.slice(0, eq), substitute(kv.slice(eq + 1), env));
            }
          }
          break;
        }
        case 'WORKDIR':
          workdir = posix.resolve(workdir, substitute(a, env));
          break;
        case 'USER':
          user = substitute(a, env);
          break;
        case 'VOLUME':
          for (const p of execForm(a) ?? words(a)) volumes.push({ path: posix.resolve('/', substitute(p, env)), line: ins.line });
          break;
        case 'EXPOSE':
          expose.push(...words(a).map((p) => p.replace(/\/tcp$/, '')));
          break;
        case 'CMD':
          cmd = execForm(a) ?? ['/bin/sh', '-c', a];
          break;
        case 'HEALTHCHECK': {
          if (/^NONE$/i.test(a)) {
            healthcheck = 'NONE';
            break;
          }
          let rest = a;
          let timeoutMs = 30_000;
          for (;;) {
            const flag = /^--([\w-]+)=(\S+)\s+/.exec(rest);
            if (!flag) break;
            if (flag[1] === 'timeout') timeoutMs = duration(flag[2]!);
            rest = rest.slice(flag[0].length);
          }
          const m = /^CMD\s+([\s\S]+)$/i.exec(rest);
          check(m, `Dockerfile:${ins.line}: cannot read HEALTHCHECK ${a}`);
          healthcheck = { cmd: execForm(m[1]!) ?? ['/bin/sh', '-c', m[1]!], timeoutMs, line: ins.line };
          break;
        }
        default:
          break;
      }
    }
  }
  return { chain, image: chain[0]!.base, env, workdir, user, volumes, expose, cmd, healthcheck };
}

/** The instruction `COPY . <dest>` that brings in the whole build context, if the stage has one. */
function wholeContextCopy(stage: Stage, vars: ReadonlyMap<string, string>): Copy | undefined {
  for (const ins of stage.instructions) {
    if (ins.keyword !== 'COPY') continue;
    const c = parseCopy(ins, vars);
    if (c.from === undefined && c.sources.some((s) => s === '.' || s === './')) return c;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// .dockerignore

interface IgnoreRule {
  readonly negate: boolean;
  readonly regex: RegExp;
  readonly text: string;
}

function globToRegex(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      i++;
      if (glob[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i);
      if (end < 0) re += '\\[';
      else {
        re += `[${glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    if (negate) line = line.slice(1).trim();
    const clean = posix.normalize(line).replace(/^\/+/, '').replace(/\/+$/, '');
    if (clean === '' || clean === '.') continue;
    rules.push({ negate, regex: globToRegex(clean), text: raw.trim() });
  }
  return rules;
}

/** Docker's rule: the last pattern matching the path or one of its parent folders decides. */
function ignored(path: string, rules: readonly IgnoreRule[]): boolean {
  const parts = posix.normalize(path).replace(/^\.\//, '').split('/');
  let out = false;
  for (const r of rules) {
    for (let n = parts.length; n >= 1; n--) {
      if (r.regex.test(parts.slice(0, n).join('/'))) {
        out = !r.negate;
        break;
      }
    }
  }
  return out;
}

function gitLines(args: string[]): string[] | undefined {
  const r = spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\0').filter(Boolean) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Processes and HTTP

interface Ran {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly output: string;
  readonly timedOut: boolean;
}

function run(cmd: string, args: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number; shell?: boolean }): Promise<Ran> {
  return new Promise((done, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], shell: options.shell ?? false });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, output, timedOut });
    });
  });
}

function tail(text: string, lines = 25): string {
  return text.trimEnd().split('\n').slice(-lines).map((l) => `    | ${l}`).join('\n');
}


async function http(url: string, init: RequestInit = {}): Promise<{ status: number; type: string; body: string }> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
  } catch (e) {
    fail(`${init.method ?? 'GET'} ${url}: ${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}`);
  }
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

/** Every file and folder below `dir`, relative to it (node_modules counted as one entry). */
function listTree(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = prefix ? `${prefix}/${e.name}` : e.name;
    out.push(p);
    if (e.isDirectory() && e.name !== 'node_modules') out.push(...listTree(join(dir, e.name), p));
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Servers this check starts: the runtime stage's CMD, the cluster's replicas, nginx

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Every process started below and still running: stopped whatever happens (see the end of this file). */
const running = new Set<Proc>();

/** A long-running process and what it printed. */
class Proc {
  readonly child: ChildProcess;
  output = '';
  exit: Exit | undefined;
  readonly exited: Promise<Exit>;

  constructor(
    readonly name: string,
    cmd: readonly string[],
    cwd: string,
    env: NodeJS.ProcessEnv,
  ) {
    const [file, ...args] = cmd;
    this.child = spawn(file!, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise<Exit>((done) => {
      this.child.on('error', (e) => {
        this.output += `\n${file}: ${e.message}\n`;
        done((this.exit ??= { code: null, signal: null }));
      });
      this.child.on('exit', (code, signal) => done((this.exit ??= { code, signal })));
    });
    running.add(this);
    void this.exited.then(() => running.delete(this));
  }

  /** Sends `signal`; the exit, or undefined when it is still running `ms` later. */
  async stop(signal: NodeJS.Signals, ms: number): Promise<Exit | undefined> {
    if (this.exit) return this.exit;
    this.child.kill(signal);
    return Promise.race([this.exited, sleep(ms).then(() => undefined)]);
  }
}

/** The image's HEALTHCHECK command, run as Docker runs it: in the WORKDIR, with the container's environment. */
function healthRunner(health: { cmd: string[]; timeoutMs: number }, cwd: string, env: NodeJS.ProcessEnv): () => Promise<Ran> {
  const [c, ...a] = health.cmd;
  return () => run(c!, a, { cwd, env, timeoutMs: health.timeoutMs });
}

/**
 * Runs the health check until it passes: its tries and the seconds it took. Fails when `proc`
 * exits first, or after 30 s. With `base`, GET /health is polled first (every 100 ms, cheaper
 * than starting the health check's node each time) and the health check runs once it answers 200.
 */
async function waitHealthy(proc: Proc, health: () => Promise<Ran>, base?: string): Promise<{ attempts: number; seconds: string }> {
  const t = performance.now();
  let attempts = 0;
  while (base !== undefined && !proc.exit && performance.now() - t < 30_000) {
    const status = await fetch(`${base}/health`, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) break;
    await sleep(100);
  }
  for (;;) {
    if (proc.exit) fail(`${proc.name} exited (code ${proc.exit.code}, signal ${proc.exit.signal}) before it was healthy:\n${tail(proc.output)}`);
    attempts++;
    const last = await health();
    if (last.code === 0) return { attempts, seconds: ((performance.now() - t) / 1000).toFixed(1) };
    if (performance.now() - t > 30_000) fail(`${proc.name}: HEALTHCHECK still failing after 30 s (${attempts} tries): ${last.output.trim()}\nits output:\n${tail(proc.output)}`);
    await sleep(250);
  }
}

/** What `docker stop` asks of a container: exit 0 within 5 s of SIGTERM. Returns the seconds it took. */
async function stopGracefully(proc: Proc): Promise<string> {
  const t = performance.now();
  const stopped = await proc.stop('SIGTERM', 5000);
  if (!stopped) {
    proc.child.kill('SIGKILL');
    fail(`${proc.name} did not exit within 5 s of SIGTERM:\n${tail(proc.output)}`);
  }
  check(stopped.code === 0, `${proc.name} exited with code ${stopped.code} (signal ${stopped.signal}) on SIGTERM, not 0:\n${tail(proc.output)}`);
  return ((performance.now() - t) / 1000).toFixed(1);
}

/**
 * Points the container's paths at the folders standing for them here: each variable whose value
 * lies in a mount's target (a bind mount, a VOLUME, the WORKDIR; the first that matches) is
 * pointed into its folder. Returns the targets some variable pointed into.
 */
function replayPaths(env: Map<string, string>, mounts: readonly { target: string; host: string; what: string }[], say: (m: string) => void): Set<string> {
  const used = new Set<string>();
  const into = (value: string, dir: string): boolean => value === dir || value.startsWith(`${dir}/`);
  for (const [k, value] of env) {
    const m = mounts.find((x) => into(value, x.target));
    if (!m) continue;
    const moved = join(m.host, value.slice(m.target.length));
    env.set(k, moved);
    used.add(m.target);
    say(`${m.what} ${m.target} -> ${m.host}: ${k}=${value} overridden to ${moved}`);
  }
  return used;
}

const MARKER_SERVICE = 'verify-docker';

function marker(what: string): string {
  return `verify-docker ${what} ${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
}

/** POST /api/logs of one log carrying `message`, expecting 201. */
async function postMarker(base: string, message: string, where: string): Promise<void> {
  const log = { timestamp: new Date().toISOString(), level: 'INFO', service: MARKER_SERVICE, message };
  const posted = await http(`${base}/api/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(log) });
  check(posted.status === 201, `POST /api/logs ${where}: expected 201, got ${posted.status} ${posted.body.slice(0, 300)}`);
}

/** GET /api/logs for the log carrying `message`, expecting exactly it. */
async function readMarker(base: string, message: string, where: string): Promise<void> {
  const got = await http(`${base}/api/logs?service=${MARKER_SERVICE}&q=${encodeURIComponent(message)}`);
  check(got.status === 200, `GET /api/logs ${where}: expected 200, got ${got.status} ${got.body.slice(0, 300)}`);
  const logs = (JSON.parse(got.body) as { logs: { message: string }[] }).logs;
  check(logs.length === 1 && logs[0]!.message === message, `GET /api/logs ${where} did not return the posted log: ${got.body.slice(0, 300)}`);
}

/** An open GET of a Server-Sent Events stream, read as it comes. */
interface EventStream {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** Milliseconds from the request to its first bytes of body; undefined before they came. */
  firstBytesMs(): number | undefined;
  /** Waits until the text received passes `test`. */
  waitFor(what: string, test: (text: string) => boolean, ms: number): Promise<void>;
  /** Closes the connection, as a browser closing an EventSource does. */
  close(): void;
}

/** node:http rather than fetch: an aborted fetch leaves its connection open until data comes, which a server stopping sees as a client still there. */
function openEventStream(url: string): Promise<EventStream> {
  const t0 = performance.now();
  return new Promise((done, reject) => {
    const req = httpGet(url, { headers: { accept: 'text/event-stream' }, timeout: 5000 }, (res) => {
      let text = '';
      let first: number | undefined;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        first ??= performance.now() - t0;
        text += chunk;
      });
      res.on('error', () => {});
      req.setTimeout(0);
      done({
        status: res.statusCode ?? 0,
        headers: res.headers,
        firstBytesMs: () => first,
        async waitFor(what, test, ms) {
          const t = performance.now();
          while (!test(text)) {
            if (performance.now() - t > ms) fail(`${what}: not there after ${ms} ms; the stream so far: ${JSON.stringify(text.slice(-400))}`);
            await sleep(20);
          }
        },
        close: () => req.destroy(),
      });
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', (e) => reject(new VerifyError(`GET ${url}: ${e.message}`)));
  });
}

// ---------------------------------------------------------------------------------------------
// docker-compose.yml's services

type Service = Record<string, unknown>;

interface Mount {
  readonly type: 'bind' | 'volume';
  /** A bind mount's absolute path here; a named volume's name; undefined for an anonymous volume. */
  readonly source: string | undefined;
  readonly target: string;
  readonly readOnly: boolean;
}

function serviceMounts(s: Service, composeDir: string): Mount[] {
  return ((s.volumes as unknown[] | undefined) ?? []).map((v): Mount => {
    if (typeof v === 'string') {
      const parts = v.split(':');
      if (parts.length === 1) return { type: 'volume', source: undefined, target: parts[0]!, readOnly: false };
      const [src, dst, mode] = parts as [string, string, string | undefined];
      const bind = /^[./~]/.test(src);
      return { type: bind ? 'bind' : 'volume', source: bind ? resolve(composeDir, src) : src, target: dst, readOnly: (mode ?? '').split(',').includes('ro') };
    }
    const o = v as { type?: string; source?: string; target?: string; read_only?: boolean };
    const bind = o.type === 'bind';
    return { type: bind ? 'bind' : 'volume', source: bind && o.source ? resolve(composeDir, o.source) : o.source, target: o.target ?? '', readOnly: o.read_only === true };
  });
}

function servicePorts(s: Service): { published: string | undefined; target: string | undefined }[] {
  return ((s.ports as unknown[] | undefined) ?? []).map((p) => {
    if (typeof p === 'string' || typeof p === 'number') {
      const parts = String(p).replace(/\/tcp$/, '').split(':');
      return { published: parts.length > 1 ? parts.at(-2) : undefined, target: parts.at(-1) };
    }
    const o = p as { published?: unknown; target?: unknown };
    return { published: o.published === undefined ? undefined : String(o.published), target: String(o.target) };
  });
}

function serviceEnv(s: Service, where: string): Map<string, string> {
  const e = s.environment;
  const out = new Map<string, string>();
  if (Array.isArray(e)) {
    for (const x of e as string[]) {
      const eq = x.indexOf('=');
      if (eq > 0) out.set(x.slice(0, eq), x.slice(eq + 1)); // a bare NAME comes from the host's environment: nothing to check
    }
  } else if (e && typeof e === 'object') {
    for (const [k, v] of Object.entries(e)) if (v !== null && v !== undefined) out.set(k, String(v));
  }
  for (const [k, v] of out) check(!/(^|[^$])\$(\{|[A-Za-z_])/.test(v), `${where}: ${k}=${v} uses the host's environment, which this check cannot know: write the value`);
  return out;
}

function serviceProfiles(s: Service): string[] {
  return Array.isArray(s.profiles) ? (s.profiles as string[]) : [];
}

/** depends_on as service -> condition (a list means service_started). */
function serviceDependsOn(s: Service): Map<string, string> {
  const d = s.depends_on;
  if (Array.isArray(d)) return new Map((d as string[]).map((x) => [x, 'service_started']));
  if (d && typeof d === 'object') return new Map(Object.entries(d as Record<string, { condition?: string } | null>).map(([k, v]) => [k, v?.condition ?? 'service_started']));
  return new Map();
}

function healthTest(s: Service): string[] | undefined {
  const hc = s.healthcheck as { test?: unknown; disable?: boolean } | undefined;
  if (!hc?.test || hc.disable) return undefined;
  return Array.isArray(hc.test) ? (hc.test as string[]) : ['CMD-SHELL', String(hc.test)];
}

function buildOf(s: Service): { context: string; target: string | undefined } | undefined {
  if (s.build === undefined) return undefined;
  if (typeof s.build === 'string') return { context: s.build, target: undefined };
  const b = s.build as { context?: string; target?: string };
  return { context: b.context ?? '.', target: b.target };
}

/** The environment variables the server reads (server/**.ts): a replica's others would be typos. */
function serverEnvNames(): Set<string> {
  const names = new Set(['NODE_ENV', 'NODE_OPTIONS', 'TZ']);
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) {
        for (const m of readFileSync(p, 'utf8').matchAll(/\benv\.([A-Z][A-Z0-9_]*)\b|\benv: '([A-Z][A-Z0-9_]*)'|\benv\[['"]([A-Z][A-Z0-9_]*)['"]\]/g)) names.add((m[1] ?? m[2] ?? m[3])!);
      }
    }
  };
  walk(join(ROOT, 'server'));
  return names;
}

/** The first key path where two parsed documents differ, with the two values there; undefined when they are equal. */
function firstDifference(a: unknown, b: unknown, path = ''): { path: string; a: unknown; b: unknown } | undefined {
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const d = firstDifference(a[i], b[i], `${path}[${i}]`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  const isMap = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (isMap(a) && isMap(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])]) {
      const d = firstDifference(a[k], b[k], path ? `${path}.${k}` : k);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  return Object.is(a, b) ? undefined : { path: path || '(the whole document)', a, b };
}

// ---------------------------------------------------------------------------------------------
// nginx configuration

interface NginxDirective {
  readonly name: string;
  readonly args: string[];
  readonly line: number;
  readonly block: NginxDirective[] | undefined;
}

/** nginx's syntax: words, quoted strings, `;` ending a directive, `{ }` its block, `#` comments. */
function parseNginx(text: string, source: string): NginxDirective[] {
  const root: NginxDirective[] = [];
  const stack: NginxDirective[][] = [root];
  let words: string[] = [];
  let line = 1;
  let start = 1;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      i++;
    } else if (/\s/.test(c)) {
      i++;
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === ';' || c === '{') {
      check(words.length > 0, `${source}:${line}: ${c} with no directive before it`);
      const d: NginxDirective = { name: words[0]!, args: words.slice(1), line: start, block: c === '{' ? [] : undefined };
      stack.at(-1)!.push(d);
      if (d.block) stack.push(d.block);
      words = [];
      i++;
    } else if (c === '}') {
      check(words.length === 0, `${source}:${start}: ${words[0]} is not ended with ;`);
      check(stack.length > 1, `${source}:${line}: } with no { before it`);
      stack.pop();
      i++;
    } else {
      if (words.length === 0) start = line;
      let w = '';
      if (c === '"' || c === "'") {
        i++;
        while (i < text.length && text[i] !== c) {
          if (text[i] === '\\' && i + 1 < text.length) i++;
          if (text[i] === '\n') line++;
          w += text[i++];
        }
        check(i < text.length, `${source}:${start}: unterminated quote`);
        i++;
      } else {
        while (i < text.length && !/[\s;{}]/.test(text[i]!)) {
          if (text[i] === '$' && text[i + 1] === '{') {
            const close = text.indexOf('}', i);
            check(close > 0, `${source}:${line}: unterminated \${`);
            w += text.slice(i, close + 1);
            i = close + 1;
          } else w += text[i++];
        }
      }
      words.push(w);
    }
  }
  check(words.length === 0, `${source}:${start}: ${words[0]} is not ended with ;`);
  check(stack.length === 1, `${source}: a { is never closed`);
  return root;
}

/** What nginx uses for `name` in the innermost of `levels` (main, http, server, location): the nearest level setting it. */
function nginxSetting(levels: readonly NginxDirective[][], name: string): NginxDirective | undefined {
  for (let i = levels.length - 1; i >= 0; i--) {
    const d = levels[i]!.filter((x) => x.name === name).at(-1);
    if (d) return d;
  }
  return undefined;
}

/**
 * The proxy_set_header list in force: nginx inherits a level's list only when the inner level
 * sets none at all. Undefined: nginx's defaults (Host $proxy_host, Connection close).
 */
function nginxProxyHeaders(levels: readonly NginxDirective[][]): Map<string, string> | undefined {
  for (let i = levels.length - 1; i >= 0; i--) {
    const ds = levels[i]!.filter((x) => x.name === 'proxy_set_header');
    if (ds.length > 0) return new Map(ds.map((d) => [d.args[0]!.toLowerCase(), d.args[1] ?? '']));
  }
  return undefined;
}

function nginxBytes(v: string, where: string): number {
  const m = /^(\d+)([kKmMgG]?)$/.exec(v);
  check(m, `${where}: cannot read the size ${v}`);
  return Number(m[1]) * { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
}

function nginxSeconds(v: string, where: string): number {
  const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800, M: 2_592_000, y: 31_536_000 };
  check(/^(\d+(ms|[smhdwMy])?)+$/.test(v), `${where}: cannot read the time ${v}`);
  let total = 0;
  for (const m of v.matchAll(/(\d+)(ms|[smhdwMy])?/g)) total += Number(m[1]) * units[m[2] ?? 's']!;
  return total;
}

/** The location nginx picks for `uri` among prefix and exact locations (no regular expressions here). */
function nginxLocation(locations: readonly NginxDirective[], uri: string): NginxDirective | undefined {
  const exact = locations.find((l) => l.args[0] === '=' && l.args[1] === uri);
  if (exact) return exact;
  let best: NginxDirective | undefined;
  let length = -1;
  for (const l of locations) {
    const prefix = l.args.length === 1 ? l.args[0]! : l.args[0] === '^~' ? l.args[1]! : undefined;
    if (prefix !== undefined && uri.startsWith(prefix) && prefix.length > length) {
      best = l;
      length = prefix.length;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// The checks

const tmp = mkdtempSync(join(tmpdir(), 'verify-docker-'));
/** The cluster replay's PostgreSQL, once asked for: stopped at the end whatever happens. */
let postgresStarting: Promise<PgServer> | undefined;

async function main(): Promise<void> {
  const dockerfilePath = resolve(opts.dockerfile);
  const composePath = resolve(opts.compose);
  const dockerignorePath = resolve(opts.dockerignore);
  check(existsSync(dockerfilePath), `no Dockerfile at ${dockerfilePath}`);
  const { stages, globalArgs } = parseDockerfile(readFileSync(dockerfilePath, 'utf8'), rel(dockerfilePath));
  const final = stages.at(-1)!;
  const rt = stageState(stages, final);
  step(`Dockerfile: ${stages.length} stages (${stages.map((s) => s.name ?? `#${s.index}`).join(', ')}); the image is the last, "${final.name ?? final.index}" FROM ${final.base}`);

  // --- static checks of the runtime stage -------------------------------------------------------
  check(rt.user !== undefined, `the runtime stage sets no USER, so the server would run as root`);
  check(!/^(root|0)(:.*)?$/.test(rt.user), `the runtime stage runs as USER ${rt.user}, which is root`);
  check(rt.healthcheck !== undefined && rt.healthcheck !== 'NONE', 'the runtime stage has no HEALTHCHECK');
  const health = rt.healthcheck;
  check(rt.cmd !== undefined, 'the runtime stage has no CMD');
  const cmd = rt.cmd;
  check(!['npm', 'npx', 'yarn', 'pnpm', '/bin/sh', 'sh'].includes(cmd[0]!), `CMD starts ${cmd[0]}, which would stand between the container's signals and node: use ["node", ...]`);
  check(rt.env.get('NODE_ENV') === 'production', `the runtime stage does not set NODE_ENV=production (got ${rt.env.get('NODE_ENV') ?? 'nothing'})`);
  const port = rt.env.get('PORT');
  if (port !== undefined) check(rt.expose.includes(port), `ENV PORT=${port} but EXPOSE says ${rt.expose.join(' ') || 'nothing'}`);
  check(rt.volumes.length > 0, 'the runtime stage declares no VOLUME for its database');
  for (const v of rt.volumes) {
    const runs = final.instructions.filter((i) => i.keyword === 'RUN' && i.line < v.line).map((i) => i.args);
    const user = rt.user.split(':')[0]!;
    const esc = v.path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    const made = runs.some((r) => new RegExp(`\\bmkdir\\b[^;&|]*\\s${esc}(\\s|$|;|&)`).test(r));
    const owned = runs.some((r) => new RegExp(`\\bchown\\b[^;&|]*\\s${user}(:\\S*)?\\s[^;&|]*${esc}(\\s|$|;|&)`).test(r));
    check(made && owned, `VOLUME ${v.path}: no RUN before it creates it and chowns it to ${user}, so a named volume would be root-owned and unwritable`);
    const pointers = [...rt.env].filter(([, value]) => value === v.path || value.startsWith(`${v.path}/`));
    check(pointers.length > 0, `VOLUME ${v.path}: no ENV points into it, so the server would not keep its data there`);
  }
  const images = new Set(stages.filter((s) => !stageByName(stages.slice(0, s.index), s.base)).map((s) => s.base));
  check(images.size === 1, `the stages start from different images (${[...images].join(', ')}): better-sqlite3 compiled in one would not load in another`);
  const nodeMajor = /^node:(\d+)/.exec(final.base)?.[1];
  const hereMajor = process.versions.node.split('.')[0];
  note(`USER ${rt.user}, CMD ${JSON.stringify(cmd)}, HEALTHCHECK ${JSON.stringify(health.cmd)}, VOLUME ${rt.volumes.map((v) => v.path).join(' ')}, EXPOSE ${rt.expose.join(' ')}, one base image for all stages`);
  if (nodeMajor && nodeMajor !== hereMajor) note(`the image runs Node ${nodeMajor}; this check runs the same files on this machine's Node ${process.versions.node}`);

  // --- build context ---------------------------------------------------------------------------
  const rules = existsSync(dockerignorePath) ? parseDockerignore(readFileSync(dockerignorePath, 'utf8')) : [];
  check(rules.length > 0, `${rel(dockerignorePath)}: missing or empty, so node_modules, dist and data would enter the build context`);
  const ARTEFACTS = ['node_modules', 'dist', 'web/dist', 'data', '.git'];
  for (const p of ARTEFACTS) {
    check(ignored(p, rules), `${rel(dockerignorePath)} does not exclude ${p}: local artefacts would enter the build context`);
  }
  const files = gitLines(['ls-files', '-z', '--cached', '--others', '--exclude-standard']);
  check(files, 'git ls-files failed: run this inside the project repository');
  // Every tracked (or new, not git-ignored) file goes into the context, since `npm test` in the
  // test stage may read any of them; only these are left out on purpose.
  const NOT_NEEDED = [/^docs\//, /^\.ci\//, /^\.git\//, /^Dockerfile$/, /^\.dockerignore$/, /^docker-compose\.ya?ml$/];
  const context = files.filter((f) => existsSync(join(ROOT, f)) && !ignored(f, rules));
  const missing = files.filter((f) => existsSync(join(ROOT, f)) && ignored(f, rules) && !NOT_NEEDED.some((r) => r.test(f)) && !ARTEFACTS.some((a) => f === a || f.startsWith(`${a}/`)));
  check(missing.length === 0, `${rel(dockerignorePath)} excludes files the build or test stage may need: ${missing.slice(0, 10).join(', ')} (if they are not needed, list them in NOT_NEEDED in ${rel(import.meta.filename)})`);
  note(`build context: ${context.length} files; ${files.length - context.length} tracked or new files left out (${[...new Set(files.filter((f) => !context.includes(f)).map((f) => f.split('/')[0]))].join(', ')})`);

  // --- docker-compose.yml: static, so it fails fast ---------------------------------------------
  const plan = await checkCompose(composePath, stages, rt);
  let cluster: ClusterPlan | undefined;
  if (opts['skip-cluster']) step('--skip-cluster: the cluster profile was read, not started');
  else {
    const missing = await postgresMissing();
    if (missing) step(`PostgreSQL is not installed (${missing}): the cluster profile was read, not started`);
    else cluster = plan;
  }

  const inContext = (p: string, where: string): string => {
    const clean = posix.normalize(p).replace(/^\.?\/+/, '');
    check(!clean.startsWith('..'), `${where}: ${p} is outside the build context`);
    check(existsSync(join(ROOT, clean)), `${where}: ${p} does not exist in the project`);
    check(!ignored(clean, rules), `${where}: ${p} is excluded by ${rel(dockerignorePath)}`);
    return join(ROOT, clean);
  };

  // --- the project stage: COPY . . then its build commands ---------------------------------------
  const projectStages = new Map<Stage, { copy: Copy; workdirAtCopy: string; runs: Instruction[] }>();
  for (const s of stages) {
    const c = wholeContextCopy(s, globalArgs);
    if (!c) continue;
    const st = stageState(stages, s);
    // WORKDIR at the COPY: the last WORKDIR before it, in the chain.
    let wd = '/';
    for (const x of st.chain) for (const i of x.instructions) if (i.keyword === 'WORKDIR' && (x !== s || i.line < c.line)) wd = posix.resolve(wd, i.args);
    const dest = posix.resolve(wd, c.dest);
    check(dest === st.workdir, `Dockerfile:${c.line}: COPY . ${c.dest} lands in ${dest}, not the stage's WORKDIR ${st.workdir}`);
    projectStages.set(s, { copy: c, workdirAtCopy: dest, runs: s.instructions.filter((i) => i.keyword === 'RUN' && i.line > c.line) });
  }

  const copies = final.instructions.filter((i) => i.keyword === 'COPY').map((i) => parseCopy(i, rt.env));
  check(copies.length > 0, 'the runtime stage copies nothing');
  const fromStages = new Set(copies.map((c) => c.from).filter((f): f is string => f !== undefined));
  for (const f of fromStages) check(stageByName(stages, f), `COPY --from=${f}: no such stage (copying from another image cannot be reproduced here)`);

  const builtHere = new Set<Stage>();
  for (const f of fromStages) {
    const s = stageByName(stages, f)!;
    const p = projectStages.get(s);
    if (!p || builtHere.has(s)) continue;
    builtHere.add(s);
    const before = s.instructions.filter((i) => i.keyword === 'RUN' && i.line < p.copy.line).map((i) => i.args);
    if (before.length > 0) note(`stage ${s.name}: this project's own node_modules stand in for ${before.map((r) => `"${r}"`).join(', ')}`);
    for (const r of p.runs) {
      check(/^npm\s/.test(r.args), `Dockerfile:${r.line}: stage ${s.name} runs "${r.args}" after COPY . ., which this check cannot reproduce (only npm commands)`);
      if (opts['skip-build']) {
        step(`stage ${s.name}: skipped "${r.args}" (--skip-build); using this project's existing outputs`);
        continue;
      }
      step(`stage ${s.name}: running "${r.args}" in this project`);
      const t = performance.now();
      const ran = await run('/bin/sh', ['-c', r.args], { cwd: ROOT, env: { ...process.env, ...Object.fromEntries(stageState(stages, s).env) }, timeoutMs: 600_000 });
      check(ran.code === 0, `"${r.args}" failed (exit ${ran.code}):\n${tail(ran.output)}`);
      note(`done in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
  }

  // --- replay the other stages the runtime copies from (npm only) -----------------------------
  const replayRoots = new Map<Stage, string>();
  for (const f of fromStages) {
    const s = stageByName(stages, f)!;
    if (projectStages.has(s) || replayRoots.has(s)) continue;
    const st = stageState(stages, s);
    const root = join(tmp, `stage-${s.name ?? s.index}`);
    replayRoots.set(s, root);
    const inherited = st.chain.slice(0, -1).flatMap((x) => x.instructions.filter((i) => i.keyword === 'RUN'));
    step(`stage ${s.name}: replaying its COPY and npm commands in ${join(tmp, `stage-${s.name ?? s.index}`)}`);
    if (inherited.length > 0) note(`not replayed (system set-up from its base stage, assumed present here): ${inherited.map((i) => `RUN ${i.args.replace(/\s+/g, ' ')}`).join('; ')}`);
    let wd = '/';
    for (const x of st.chain.slice(0, -1)) for (const i of x.instructions) if (i.keyword === 'WORKDIR') wd = posix.resolve(wd, i.args);
    mkdirSync(join(root, wd), { recursive: true });
    for (const ins of s.instructions) {
      if (ins.keyword === 'WORKDIR') {
        wd = posix.resolve(wd, ins.args);
        mkdirSync(join(root, wd), { recursive: true });
      } else if (ins.keyword === 'COPY') {
        const c = parseCopy(ins, st.env);
        check(c.from === undefined, `Dockerfile:${ins.line}: stage ${s.name} copies from ${c.from}; only copies from the build context can be replayed`);
        const dest = posix.resolve(wd, c.dest);
        const intoDir = c.dest.endsWith('/') || c.sources.length > 1;
        for (const src of c.sources) {
          const from = inContext(src, `Dockerfile:${ins.line}`);
          const to = intoDir ? join(root, dest, posix.basename(src)) : join(root, dest);
          cpSync(from, to, { recursive: true });
        }
        note(`COPY ${c.sources.join(' ')} -> ${dest}`);
      } else if (ins.keyword === 'RUN') {
        check(/^npm\s/.test(ins.args), `Dockerfile:${ins.line}: stage ${s.name} runs "${ins.args}", which this check cannot reproduce (only npm commands)`);
        const t = performance.now();
        note(`RUN ${ins.args} (in ${join(root, wd)})`);
        const ran = await run('/bin/sh', ['-c', ins.args], { cwd: join(root, wd), env: { ...process.env, ...Object.fromEntries(st.env) }, timeoutMs: 900_000 });
        check(ran.code === 0, `stage ${s.name}: "${ins.args}" failed (exit ${ran.code}):\n${tail(ran.output)}`);
        note(`done in ${((performance.now() - t) / 1000).toFixed(1)} s`);
      } else if (ins.keyword === 'ENV' || ins.keyword === 'ARG') {
        // already in st.env
      } else {
        fail(`Dockerfile:${ins.line}: stage ${s.name} uses ${ins.keyword}, which this check cannot replay`);
      }
    }
  }

  // --- lay out the runtime stage ---------------------------------------------------------------
  const rootfs = join(tmp, 'runtime');
  const workdir = join(rootfs, rt.workdir);
  mkdirSync(workdir, { recursive: true });
  step(`runtime stage: laying out ${rt.workdir} in ${workdir}`);
  // tsc never deletes what it emitted before: dist/X.js whose X.ts is gone would not be in a
  // clean build's image, so it is left out here too.
  const staleSkipped: string[] = [];
  const stale = (from: string): boolean => {
    const m = /^dist\/(.+?)\.js(\.map)?$/.exec(relative(ROOT, from));
    const isStale = m !== null && !existsSync(join(ROOT, `${m[1]}.ts`));
    if (isStale) staleSkipped.push(relative(ROOT, from));
    return isStale;
  };
  for (const c of copies) {
    const dest = posix.resolve(rt.workdir, c.dest);
    const intoDir = c.dest.endsWith('/') || c.sources.length > 1;
    const where = `Dockerfile:${c.line}`;
    for (const src of c.sources) {
      let from: string;
      let origin: string;
      const s = c.from === undefined ? undefined : stageByName(stages, c.from)!;
      const project = s ? projectStages.get(s) : undefined;
      if (s === undefined) {
        from = inContext(src, where);
        origin = 'build context';
      } else if (project) {
        const abs = posix.resolve(stageState(stages, s).workdir, src);
        check(abs === project.workdirAtCopy || abs.startsWith(`${project.workdirAtCopy}/`), `${where}: ${abs} is not under ${project.workdirAtCopy}, where stage ${s.name} has the project`);
        const inProject = posix.relative(project.workdirAtCopy, abs) || '.';
        from = join(ROOT, inProject);
        check(existsSync(from), `${where}: ${inProject} does not exist in this project${opts['skip-build'] ? ' (run npm run build, or drop --skip-build)' : ' after the build'}`);
        const gitIgnored = spawnSync('git', ['check-ignore', '-q', inProject], { cwd: ROOT }).status === 0;
        if (gitIgnored) {
          // A build output: it must come from the build, not from a stale local copy in the context.
          check(ignored(inProject, rules), `${where}: ${inProject} is a build output but ${rel(dockerignorePath)} lets the local copy into the context`);
          origin = `stage ${s.name} (built)`;
        } else {
          check(!ignored(inProject, rules), `${where}: ${inProject} is excluded by ${rel(dockerignorePath)}, so stage ${s.name} does not have it`);
          origin = `stage ${s.name} (from the context)`;
        }
      } else {
        const root = replayRoots.get(s)!;
        const abs = posix.resolve(stageState(stages, s).workdir, src);
        from = join(root, abs);
        check(existsSync(from), `${where}: stage ${s.name} has no ${abs} after replaying it`);
        origin = `stage ${s.name} (replayed)`;
      }
      const to = intoDir ? join(rootfs, dest, posix.basename(src)) : join(rootfs, dest);
      cpSync(from, to, { recursive: true, verbatimSymlinks: true, filter: (p) => !stale(p) });
      note(`COPY ${src} -> ${posix.relative(rt.workdir, intoDir ? posix.join(dest, posix.basename(src)) : dest) || '.'}  [${origin}]`);
    }
  }
  if (staleSkipped.length > 0) note(`left out, no source any more (stale output of an earlier build): ${staleSkipped.join(', ')}`);
  const skippedRuns = final.instructions.filter((i) => i.keyword === 'RUN');
  if (skippedRuns.length > 0) note(`not replayed: ${skippedRuns.map((i) => `RUN ${i.args}`).join('; ')} (checked statically above)`);
  const copiedTree = new Set(listTree(workdir));

  // --- environment -----------------------------------------------------------------------------
  const env = new Map(rt.env);
  const volumeDirs = rt.volumes.map((v) => v.path);
  for (const v of volumeDirs) mkdirSync(join(rootfs, v), { recursive: true });
  replayPaths(env, [...volumeDirs.map((v) => ({ target: v, host: join(rootfs, v), what: 'VOLUME' })), { target: rt.workdir, host: workdir, what: 'WORKDIR' }], note);
  const freshPort = await freePort();
  env.set('PORT', String(freshPort));
  env.set('HOST', '127.0.0.1');
  note(`PORT=${freshPort} (a free port) and HOST=127.0.0.1 (loopback only) override the image's ${rt.env.get('PORT') ? `PORT=${rt.env.get('PORT')}` : 'port'}`);
  const childEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, ...Object.fromEntries(env) };

  // --- the health check before start: it must say unhealthy ------------------------------------
  const runHealth = healthRunner(health, workdir, childEnv);
  const before = await runHealth();
  check(before.code !== 0, `HEALTHCHECK ${JSON.stringify(health.cmd)} exits 0 with no server running: it checks nothing`);
  step(`HEALTHCHECK with no server: exit ${before.code} (${before.output.trim().split('\n')[0] ?? ''})`);

  // The cluster's PostgreSQL starts meanwhile (initdb the first time, then a copy and pg_ctl).
  if (cluster) postgresStarting = startClusterPostgres();

  // --- start CMD --------------------------------------------------------------------------------
  step(`starting CMD ${JSON.stringify(cmd)} in ${workdir}`);
  const server = new Proc('the server', cmd, workdir, childEnv);
  const healthy = await waitHealthy(server, runHealth);
  step(`HEALTHCHECK ${JSON.stringify(health.cmd)}: healthy after ${healthy.seconds} s (${healthy.attempts} tries)`);

  // --- API and dashboard --------------------------------------------------------------------------
  const base = `http://127.0.0.1:${freshPort}`;
  const message = marker('single');
  await postMarker(base, message, '');
  await readMarker(base, message, '');
  step('POST /api/logs -> 201, GET /api/logs returns it');

  const page = await http(`${base}/`);
  check(page.status === 200 && page.type.startsWith('text/html'), `GET /: expected 200 text/html, got ${page.status} ${page.type}: ${page.body.slice(0, 200)}`);
  check(/<title>[^<]*LogSentinel/i.test(page.body), 'GET /: the page has no LogSentinel title');
  const script = /<script[^>]+src="(\/assets\/[^"]+\.js)"/.exec(page.body)?.[1];
  check(script, 'GET /: the page references no /assets/*.js script');
  const asset = await http(`${base}${script}`);
  check(asset.status === 200 && /javascript/.test(asset.type) && asset.body.length > 1000, `GET ${script}: expected 200 JavaScript, got ${asset.status} ${asset.type} (${asset.body.length} bytes)`);
  step(`GET / -> dashboard HTML, GET ${script} -> ${asset.body.length} bytes of JavaScript`);

  // --- SIGTERM ------------------------------------------------------------------------------------
  step(`SIGTERM -> exit 0 in ${await stopGracefully(server)} s`);

  // Data went to the volume, nothing else was written beside the application.
  for (const v of volumeDirs) {
    const written = readdirSync(join(rootfs, v));
    check(written.length > 0, `nothing was written under VOLUME ${v}`);
    note(`VOLUME ${v} holds: ${written.join(', ')}`);
  }
  const extra = listTree(workdir).filter((p) => !copiedTree.has(p));
  check(extra.length === 0, `the server wrote under ${rt.workdir}, which is not a volume and not writable by ${rt.user} in the image: ${extra.slice(0, 10).join(', ')}`);

  // --- the compose file's cluster profile, replayed ------------------------------------------------
  if (cluster && postgresStarting) {
    await replayCluster(cluster, { rt, cmd, health, workdir, pg: postgresStarting });
    const extra = listTree(workdir).filter((p) => !copiedTree.has(p));
    check(extra.length === 0, `the replicas wrote under ${rt.workdir}, which is not a volume and not writable by ${rt.user} in the image: ${extra.slice(0, 10).join(', ')}`);
  }
}

async function checkCompose(path: string, stages: readonly Stage[], rt: StageState): Promise<ClusterPlan> {
  check(existsSync(path), `no compose file at ${path}`);
  const which = spawnSync('sh', ['-c', 'command -v docker-compose'], { encoding: 'utf8' });
  if (which.status === 0) {
    const version = spawnSync('docker-compose', ['version', '--short'], { encoding: 'utf8' }).stdout.trim();
    const r = await run('docker-compose', ['-f', path, 'config', '-q'], { cwd: ROOT, env: process.env, timeoutMs: 60_000 });
    check(r.code === 0, `docker-compose -f ${rel(path)} config -q failed (exit ${r.code}):\n${tail(r.output)}`);
    step(`docker-compose ${version} config -q: valid`);
  } else {
    step('docker-compose is not installed: skipped its own validation; reading the file instead');
  }

  // Merge keys (<<: *anchor): compose reads them, and the replicas share their settings that way.
  const doc = parseYaml(readFileSync(path, 'utf8'), { merge: true }) as Record<string, unknown> | null;
  const where = rel(path);
  check(doc && typeof doc === 'object', `${where}: not a YAML mapping`);
  check(!('version' in doc), `${where}: the top-level version key is obsolete; remove it`);
  const services = doc.services as Record<string, Service> | undefined;
  check(services && typeof services === 'object', `${where}: no services`);
  const app = services.app;
  const tests = services.tests;
  check(app, `${where}: no service app`);
  check(tests, `${where}: no service tests`);

  const build = (s: Service): { context: string; target?: string } =>
    typeof s.build === 'string' ? { context: s.build } : ((s.build as { context: string; target?: string } | undefined) ?? { context: '' });
  const finalName = stages.at(-1)!.name;
  const ab = build(app);
  check(resolve(ROOT, ab.context) === ROOT, `${where}: app builds ${ab.context || 'nothing'}, not this folder`);
  check(ab.target === undefined || ab.target === finalName, `${where}: app builds target ${ab.target}, not the runtime stage`);

  const ports = ((app.ports as unknown[]) ?? []).map((p) => {
    if (typeof p === 'string' || typeof p === 'number') {
      const parts = String(p).replace(/\/tcp$/, '').split(':');
      return { published: parts.at(-2), target: parts.at(-1) };
    }
    const o = p as { published?: unknown; target?: unknown };
    return { published: String(o.published), target: String(o.target) };
  });
  const mapping = ports.find((p) => p.published === '5050' && p.target === '5000');
  check(mapping, `${where}: app does not map host port 5050 to container port 5000 (ports: ${JSON.stringify(app.ports)})`);
  check(rt.expose.includes(mapping.target!), `${where}: app publishes container port ${mapping.target}, which the Dockerfile does not EXPOSE`);

  const hc = app.healthcheck as { test?: unknown } | undefined;
  check(hc?.test, `${where}: app has no healthcheck`);
  const hcTest = Array.isArray(hc.test) ? (hc.test as string[]) : ['CMD-SHELL', String(hc.test)];
  const dockerHealth = rt.healthcheck !== undefined && rt.healthcheck !== 'NONE' ? rt.healthcheck.cmd : [];
  check(
    hcTest[0] === 'CMD' && JSON.stringify(hcTest.slice(1)) === JSON.stringify(dockerHealth),
    `${where}: app's healthcheck ${JSON.stringify(hcTest)} differs from the Dockerfile's HEALTHCHECK ${JSON.stringify(dockerHealth)}`,
  );

  const volumes = ((app.volumes as unknown[]) ?? []).map((v) =>
    typeof v === 'string' ? { source: v.split(':')[0], target: v.split(':')[1] } : (v as { source?: string; target?: string }),
  );
  const declared = Object.keys((doc.volumes as Record<string, unknown> | null) ?? {});
  for (const v of rt.volumes) {
    const m = volumes.find((x) => x.target === v.path);
    check(m?.source, `${where}: app mounts nothing at ${v.path}, the Dockerfile's VOLUME`);
    check(declared.includes(m.source), `${where}: app mounts ${m.source} at ${v.path}, which is not a named volume under the top-level volumes`);
  }
  check(app.restart === 'unless-stopped', `${where}: app's restart is ${String(app.restart)}, expected unless-stopped`);
  const envList = app.environment;
  const envMap: Record<string, unknown> = Array.isArray(envList)
    ? Object.fromEntries((envList as string[]).map((e) => [e.split('=')[0], e.slice(e.indexOf('=') + 1)]))
    : ((envList as Record<string, unknown>) ?? {});
  check(envMap.EXTERNAL_URL === `http://localhost:${mapping.published}`, `${where}: app's EXTERNAL_URL is ${String(envMap.EXTERNAL_URL)}, expected http://localhost:${mapping.published}`);

  const tb = build(tests);
  check(resolve(ROOT, tb.context) === ROOT, `${where}: tests builds ${tb.context || 'nothing'}, not this folder`);
  check(tb.target && stageByName(stages, tb.target), `${where}: tests builds target ${tb.target ?? '(none)'}, which is not a Dockerfile stage`);
  const testCmd = (tests.command as string[] | string | undefined) ?? stageState(stages, stageByName(stages, tb.target)!).cmd;
  check(/\bnpm\b.*\btest\b/.test(Array.isArray(testCmd) ? testCmd.join(' ') : String(testCmd)), `${where}: tests does not run npm test (${JSON.stringify(testCmd)})`);
  check(Array.isArray(tests.profiles) && (tests.profiles as string[]).includes('test'), `${where}: tests is not in profile test, so docker compose up would start it`);
  step(`${where}: app (profile ${serviceProfiles(app).join(', ') || 'none'}, 5050:5000, healthcheck as in the Dockerfile, volume ${volumes.map((v) => `${v.source}:${v.target}`).join(' ')}, restart unless-stopped), tests (target ${tb.target}, profile test)`);

  return checkCluster(doc, services, path, stages, rt);
}

// ---------------------------------------------------------------------------------------------
// The cluster profile

/** The keys in which the replicas' config file may differ from the image's config.yaml. */
const CLUSTER_CONFIG_CHANGES = ['server.trust_proxy'];
/** A live tail's proxy_read_timeout: at least this, and past the replicas' heartbeat. */
const TAIL_READ_TIMEOUT_S = 300;

interface Replica {
  readonly name: string;
  /** Its environment in the compose file. */
  readonly env: Map<string, string>;
  readonly binds: Mount[];
  /** The port it listens on in its container. */
  readonly port: string;
}

interface ClusterPlan {
  readonly postgres: { readonly name: string; readonly user: string; readonly password: string; readonly db: string };
  readonly replicas: Replica[];
  readonly lb: {
    readonly name: string;
    readonly image: string;
    /** deploy/nginx.conf, here. */
    readonly conf: string;
    /** The port nginx listens on in its container, and the host port it is published on. */
    readonly listen: string;
    readonly published: string;
  };
  readonly maxBodyBytes: number;
}

/**
 * The cluster profile, read: PostgreSQL, the replicas (services building this project with
 * STORAGE_BACKEND=postgres) and the nginx load balancer with its config. Returns what the replay
 * needs.
 */
async function checkCluster(doc: Record<string, unknown>, services: Record<string, Service>, composePath: string, stages: readonly Stage[], rt: StageState): Promise<ClusterPlan> {
  const where = rel(composePath);
  const composeDir = dirname(composePath);
  const declaredVolumes = Object.keys((doc.volumes as Record<string, unknown> | null) ?? {});
  const inCluster = Object.entries(services).filter(([, s]) => serviceProfiles(s).includes('cluster'));
  check(inCluster.length > 0, `${where}: no service in profile cluster (PostgreSQL, the replicas and their load balancer)`);

  // With any one profile on, no two services publish the same host port (app and lb both want 5050).
  const profiles = [...new Set(Object.values(services).flatMap(serviceProfiles))];
  for (const profile of [undefined, ...profiles]) {
    const on = Object.entries(services).filter(([, s]) => serviceProfiles(s).length === 0 || (profile !== undefined && serviceProfiles(s).includes(profile)));
    const taken = new Map<string, string>();
    for (const [name, s] of on) {
      for (const p of servicePorts(s)) {
        if (p.published === undefined) continue;
        const other = taken.get(p.published);
        check(other === undefined, `${where}: ${profile ? `with --profile ${profile}` : 'with no profile'}, ${other} and ${name} both publish host port ${p.published}: give one of them a profile of its own`);
        taken.set(p.published, name);
      }
    }
  }

  // --- PostgreSQL ---
  const pgs = inCluster.filter(([, s]) => /^(docker\.io\/)?(library\/)?postgres:/.test(String(s.image ?? '')));
  check(pgs.length === 1, `${where}: profile cluster needs one service running the official postgres image, found ${pgs.length}`);
  const [pgName, pg] = pgs[0]!;
  const pgImage = String(pg.image);
  const pgMajor = Number(/^(?:docker\.io\/)?(?:library\/)?postgres:(\d+)/.exec(pgImage)?.[1]);
  check(pgMajor >= 16, `${where}: ${pgName} runs ${pgImage}; name a PostgreSQL major version, 16 or newer (postgres:17)`);
  const pgEnv = serviceEnv(pg, `${where}: ${pgName}`);
  for (const k of ['POSTGRES_USER', 'POSTGRES_PASSWORD', 'POSTGRES_DB']) check(pgEnv.get(k), `${where}: ${pgName} sets no ${k}`);
  // The image keeps its data in PGDATA: /var/lib/postgresql/data up to 17, under /var/lib/postgresql from 18.
  const pgData = pgMajor >= 18 ? '/var/lib/postgresql' : '/var/lib/postgresql/data';
  const pgVolume = serviceMounts(pg, composeDir).find((m) => m.target === pgData);
  check(pgVolume?.type === 'volume' && pgVolume.source && declaredVolumes.includes(pgVolume.source), `${where}: ${pgName} keeps its data (${pgData}) in no named volume under the top-level volumes`);
  const pgHealth = healthTest(pg);
  check(pgHealth && pgHealth.join(' ').includes('pg_isready'), `${where}: ${pgName} has no healthcheck running pg_isready, so nothing can wait for it to accept connections`);

  // --- the replicas ---
  const finalName = stages.at(-1)!.name;
  const dockerHealth = rt.healthcheck !== undefined && rt.healthcheck !== 'NONE' ? rt.healthcheck.cmd : [];
  const known = serverEnvNames();
  const replicaServices = inCluster.filter(([, s]) => {
    const b = buildOf(s);
    return b !== undefined && resolve(composeDir, b.context) === ROOT;
  });
  check(replicaServices.length >= 2, `${where}: profile cluster builds this project in ${replicaServices.length} service(s); a cluster needs replicas`);
  const replicas: Replica[] = [];
  const ids = new Map<string, string>();
  let configFile: string | undefined;
  for (const [name, s] of replicaServices) {
    const w = `${where}: ${name}`;
    const b = buildOf(s)!;
    check(b.target === undefined || b.target === finalName, `${w} builds target ${b.target}, not the runtime stage`);
    const env = serviceEnv(s, w);
    for (const k of env.keys()) check(known.has(k), `${w} sets ${k}, which the server never reads (the ones it reads: ${[...known].sort().join(', ')})`);
    check(env.get('STORAGE_BACKEND') === 'postgres', `${w}: STORAGE_BACKEND is ${env.get('STORAGE_BACKEND') ?? 'not set'}, not postgres: each replica would keep its own SQLite database`);
    let url: URL;
    try {
      url = new URL(env.get('DATABASE_URL') ?? '');
    } catch {
      fail(`${w}: DATABASE_URL ${env.get('DATABASE_URL') ?? '(not set)'} is not a postgres:// URL`);
    }
    check(/^postgres(ql)?:$/.test(url.protocol), `${w}: DATABASE_URL is not a postgres:// URL`);
    check(url.hostname === pgName && (url.port === '' || url.port === '5432'), `${w}: DATABASE_URL points at ${url.host}, not ${pgName}:5432`);
    check(decodeURIComponent(url.username) === pgEnv.get('POSTGRES_USER'), `${w}: DATABASE_URL's user ${decodeURIComponent(url.username)} is not ${pgName}'s POSTGRES_USER ${pgEnv.get('POSTGRES_USER')}`);
    check(decodeURIComponent(url.password) === pgEnv.get('POSTGRES_PASSWORD'), `${w}: DATABASE_URL's password is not ${pgName}'s POSTGRES_PASSWORD`);
    check(decodeURIComponent(url.pathname.slice(1)) === pgEnv.get('POSTGRES_DB'), `${w}: DATABASE_URL's database ${url.pathname.slice(1)} is not ${pgName}'s POSTGRES_DB ${pgEnv.get('POSTGRES_DB')}`);
    const id = env.get('REPLICA_ID');
    check(id, `${w} sets no REPLICA_ID`);
    check(!ids.has(id), `${w}: REPLICA_ID ${id} is ${ids.get(id)}'s too; each replica needs its own`);
    ids.set(id, name);
    check(serviceDependsOn(s).get(pgName) === 'service_healthy', `${w} does not depend on ${pgName} with condition service_healthy, so it may start before the database takes connections`);
    const hc = healthTest(s);
    check(hc && hc[0] === 'CMD' && JSON.stringify(hc.slice(1)) === JSON.stringify(dockerHealth), `${w}: healthcheck ${JSON.stringify(hc)} differs from the Dockerfile's HEALTHCHECK ${JSON.stringify(dockerHealth)}`);
    check(s.restart === 'unless-stopped', `${w}: restart is ${String(s.restart)}, expected unless-stopped`);
    check(servicePorts(s).every((p) => p.published === undefined), `${w} publishes a port: replicas are reached through the load balancer only (they trust its X-Forwarded-For)`);
    const mounts = serviceMounts(s, composeDir);
    for (const m of mounts) {
      check(m.type === 'bind' || m.target !== '/data' || m.source === undefined, `${w} mounts volume ${m.source} at ${m.target}: replicas keep nothing, PostgreSQL has the data`);
      if (m.type !== 'bind') continue;
      check(m.source && existsSync(m.source) && m.source.startsWith(`${composeDir}/`), `${w} mounts ${m.source}, which is no file beside ${where}`);
      check(m.readOnly, `${w} mounts ${rel(m.source)} writable; mount it :ro`);
    }
    // The config file it reads: CONFIG_PATH, from its environment or the image's.
    const configPath = env.get('CONFIG_PATH') ?? rt.env.get('CONFIG_PATH');
    check(configPath, `${w}: no CONFIG_PATH in its environment or the image's`);
    const bound = mounts.find((m) => m.type === 'bind' && m.target === configPath);
    const here = bound ? bound.source! : posix.resolve(rt.workdir, configPath).startsWith(`${rt.workdir}/`) ? join(ROOT, posix.relative(rt.workdir, posix.resolve(rt.workdir, configPath))) : undefined;
    check(here && existsSync(here), `${w}: CONFIG_PATH ${configPath} is neither mounted nor the image's config file`);
    check(configFile === undefined || configFile === here, `${w} reads ${rel(here)}, another replica ${configFile ? rel(configFile) : ''}: replicas run one configuration`);
    configFile = here;
    replicas.push({ name, env, binds: mounts.filter((m) => m.type === 'bind'), port: env.get('PORT') ?? rt.env.get('PORT') ?? '5000' });
  }

  // --- the replicas' configuration: the image's, with trust_proxy on ---
  // Compared as the server reads them (over its defaults), so comments, order and keys spelt
  // out at their default values do not count.
  const { resolveConfig } = await import('../server/config.js');
  const resolved = (file: string, env: NodeJS.ProcessEnv): Config => {
    try {
      return resolveConfig(parseYaml(readFileSync(file, 'utf8')), env, rel(file));
    } catch (e) {
      fail(`${rel(file)} is not a valid configuration: ${(e as Error).message}`);
    }
  };
  const config = resolved(configFile!, { ...Object.fromEntries(rt.env), ...Object.fromEntries(replicas[0]!.env) });
  const imageConfig = join(ROOT, 'config.yaml');
  if (configFile !== imageConfig) {
    const strip = (c: Config): unknown => {
      const copy = structuredClone(c) as unknown as Record<string, Record<string, unknown>>;
      for (const key of CLUSTER_CONFIG_CHANGES) {
        const [section, name] = key.split('.') as [string, string];
        delete copy[section]![name];
      }
      return copy;
    };
    const diff = firstDifference(strip(resolved(configFile!, {})), strip(resolved(imageConfig, {})));
    check(
      diff === undefined,
      `${rel(configFile!)} and config.yaml configure the server differently at ${diff?.path}: ${JSON.stringify(diff?.a)} against ${JSON.stringify(diff?.b)}. ` +
        `The replicas run config.yaml with ${CLUSTER_CONFIG_CHANGES.join(', ')} changed, nothing else: make ${rel(configFile!)} say what config.yaml says`,
    );
  }
  check(config.server.trust_proxy, `${rel(configFile!)}: server.trust_proxy is false, so the replicas see every client as the load balancer (one anonymous rate-limit budget for all)`);

  // --- the load balancer ---
  const lbs = inCluster.filter(([, s]) => /^(docker\.io\/)?(library\/)?(nginx|haproxy)(:|@|$)/.test(String(s.image ?? '')));
  check(lbs.length === 1, `${where}: profile cluster needs one load balancer running the official nginx image, found ${lbs.length}`);
  const [lbName, lb] = lbs[0]!;
  const lbImage = String(lb.image);
  check(/^(docker\.io\/)?(library\/)?nginx(:|@|$)/.test(lbImage), `${where}: ${lbName} runs ${lbImage}; this check reads nginx configurations only`);
  const lbPort = servicePorts(lb).find((p) => p.published === '5050');
  check(lbPort?.target, `${where}: ${lbName} does not publish host port 5050 (ports: ${JSON.stringify(lb.ports)})`);
  for (const r of replicas) check(r.env.get('EXTERNAL_URL') === `http://localhost:${lbPort.published}`, `${where}: ${r.name}'s EXTERNAL_URL is ${r.env.get('EXTERNAL_URL') ?? 'not set'}, expected http://localhost:${lbPort.published}, where ${lbName} publishes them`);
  const confMount = serviceMounts(lb, composeDir).find((m) => m.target === '/etc/nginx/nginx.conf');
  check(confMount?.type === 'bind' && confMount.source && existsSync(confMount.source), `${where}: ${lbName} mounts no file of this project at /etc/nginx/nginx.conf`);
  check(confMount.readOnly, `${where}: ${lbName} mounts ${rel(confMount.source)} writable; mount it :ro`);
  const deps = serviceDependsOn(lb);
  for (const r of replicas) check(deps.has(r.name), `${where}: ${lbName} does not depend on ${r.name}, so docker compose up ${lbName} would not start it`);

  const confPath = confMount.source;
  const cw = rel(confPath);
  const top = parseNginx(readFileSync(confPath, 'utf8'), cw);
  const https = top.filter((d) => d.name === 'http');
  check(https.length === 1 && https[0]!.block, `${cw}: expected one http block, found ${https.length}`);
  const httpBlock = https[0]!.block!;
  const upstreams = new Map(httpBlock.filter((d) => d.name === 'upstream').map((d) => [d.args[0]!, d]));
  const servers = httpBlock.filter((d) => d.name === 'server' && d.block);
  check(servers.length === 1, `${cw}: expected one server block, found ${servers.length} (this check replays one)`);
  const server = servers[0]!.block!;
  const listens = server.filter((d) => d.name === 'listen').map((d) => d.args[0]!);
  check(listens.length === 1 && /^(?:(?:\*|0\.0\.0\.0|\[::\]):)?(\d+)$/.exec(listens[0]!)?.[1] === lbPort.target, `${cw}: the server listens on ${listens.join(', ') || 'nothing'}, not ${lbPort.target}, the port ${where} publishes as 5050`);

  const locations = server.filter((d) => d.name === 'location');
  check(locations.length > 0, `${cw}: the server has no location`);
  for (const l of locations) {
    check(['=', '^~'].includes(l.args[0]!) ? l.args.length === 2 : l.args.length === 1 && !l.args[0]!.startsWith('@'), `${cw}:${l.line}: location ${l.args.join(' ')}: this check reads prefix and exact locations only`);
    check(!l.block?.some((d) => d.name === 'location'), `${cw}:${l.line}: nested locations are not read by this check`);
  }
  const levels = (l: NginxDirective): NginxDirective[][] => [top, httpBlock, server, l.block ?? []];
  const maxBody = config.limits.max_body_bytes;
  const heartbeat = config.tail.heartbeat_seconds;
  let upstreamName: string | undefined;
  const proxying = locations.filter((l) => l.block?.some((d) => d.name === 'proxy_pass'));
  check(proxying.length > 0, `${cw}: no location passes requests on (proxy_pass)`);
  for (const l of proxying) {
    const lw = `${cw}:${l.line} (location ${l.args.join(' ')})`;
    const pass = nginxSetting(levels(l), 'proxy_pass')!.args[0]!;
    const m = /^http:\/\/([\w.-]+)$/.exec(pass);
    check(m && upstreams.has(m[1]!), `${lw}: proxy_pass ${pass} is not http://<an upstream block> (with no path, so the URI goes on unchanged)`);
    check(upstreamName === undefined || upstreamName === m[1], `${lw}: passes to ${m[1]}, another location to ${upstreamName}: one upstream of replicas`);
    upstreamName = m[1]!;
    check(nginxSetting(levels(l), 'proxy_http_version')?.args[0] === '1.1', `${lw}: proxy_http_version is not 1.1 (nginx's default is 1.0: no keep-alive to the replicas, and a tail's stream ends up closed)`);
    const headers = nginxProxyHeaders(levels(l));
    check(headers, `${lw}: no proxy_set_header in force, so the replicas get no X-Forwarded-For or X-Forwarded-Proto`);
    check(headers.get('x-forwarded-for') === '$remote_addr', `${lw}: X-Forwarded-For is ${headers.get('x-forwarded-for') ?? 'not set'}; the replicas trust it (server.trust_proxy), so it must be $remote_addr, which a client cannot choose (a proxy_set_header in a location drops the server's)`);
    check(headers.get('x-forwarded-proto') === '$scheme', `${lw}: X-Forwarded-Proto is ${headers.get('x-forwarded-proto') ?? 'not set'}, expected $scheme`);
    const bodyLimit = nginxSetting(levels(l), 'client_max_body_size')?.args[0] ?? '1m';
    check(nginxBytes(bodyLimit, lw) === 0 || nginxBytes(bodyLimit, lw) >= maxBody, `${lw}: client_max_body_size ${bodyLimit} is below the replicas' limits.max_body_bytes (${maxBody}): nginx would refuse batches the server takes`);
  }
  const up = upstreams.get(upstreamName!)!;
  const uw = `${cw}:${up.line} (upstream ${upstreamName})`;
  const members = (up.block ?? []).filter((d) => d.name === 'server');
  const byHost = new Map<string, NginxDirective>();
  for (const d of members) {
    const m = /^([\w.-]+):(\d+)$/.exec(d.args[0] ?? '');
    check(m, `${uw}: server ${d.args[0]} is not host:port`);
    const r = replicas.find((x) => x.name === m[1]);
    check(r, `${uw}: server ${d.args[0]} is none of the replica services (${replicas.map((x) => x.name).join(', ')})`);
    check(m[2] === r.port, `${uw}: server ${d.args[0]}: ${r.name} listens on ${r.port}`);
    check(!byHost.has(r.name), `${uw}: ${r.name} is listed twice`);
    byHost.set(r.name, d);
  }
  const missing = replicas.filter((r) => !byHost.has(r.name)).map((r) => r.name);
  check(missing.length === 0, `${uw}: ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not in it, so ${missing.length === 1 ? 'it gets' : 'they get'} no requests`);
  if ((up.block ?? []).some((d) => d.name === 'keepalive')) {
    for (const l of proxying) check(nginxProxyHeaders(levels(l))?.get('connection') === '', `${cw}:${l.line}: the upstream keeps connections alive (keepalive) but this location does not clear the Connection header (proxy_set_header Connection "")`);
  }
  const resolving = members.some((d) => d.args.includes('resolve'));
  if (resolving) {
    check((up.block ?? []).some((d) => d.name === 'zone'), `${uw}: servers with resolve need a zone`);
    check(nginxSetting([top, httpBlock, up.block ?? []], 'resolver'), `${uw}: servers with resolve need a resolver (Docker's is 127.0.0.11)`);
    const v = /^(?:docker\.io\/)?(?:library\/)?nginx:(\d+)\.(\d+)(?:\.(\d+))?/.exec(lbImage);
    check(!v || Number(v[1]) > 1 || Number(v[2]) > 27 || (Number(v[2]) === 27 && Number(v[3] ?? 0) >= 3), `${where}: ${lbName} runs ${lbImage}, but ${uw} uses resolve, which nginx has from 1.27.3`);
  }

  const tailPath = '/api/logs/tail';
  const tailLoc = nginxLocation(locations, tailPath);
  check(tailLoc && proxying.includes(tailLoc), `${cw}: no location passes ${tailPath} on`);
  const tw = `${cw}:${tailLoc.line} (location ${tailLoc.args.join(' ')}, which serves ${tailPath})`;
  check(nginxSetting(levels(tailLoc), 'proxy_buffering')?.args[0] === 'off', `${tw}: proxy_buffering is not off, so a live tail's events may wait in nginx's buffers`);
  const readTimeout = nginxSetting(levels(tailLoc), 'proxy_read_timeout')?.args[0] ?? '60s';
  check(nginxSeconds(readTimeout, tw) >= Math.max(TAIL_READ_TIMEOUT_S, 2 * heartbeat), `${tw}: proxy_read_timeout ${readTimeout} is short for a live tail: at least ${Math.max(TAIL_READ_TIMEOUT_S, 2 * heartbeat)} s (the replicas send a heartbeat every ${heartbeat} s)`);
  check(nginxSetting(levels(tailLoc), 'gzip')?.args[0] !== 'on', `${tw}: gzip is on, which holds a stream's events back`);
  const cache = nginxSetting(levels(tailLoc), 'proxy_cache')?.args[0];
  check(cache === undefined || cache === 'off', `${tw}: proxy_cache ${cache} would cache a live stream`);

  step(
    `${where}: profile cluster: ${pgName} (${pgImage}, volume ${pgVolume.source}, pg_isready), ${replicas.map((r) => r.name).join(', ')} (STORAGE_BACKEND=postgres on ${pgName}, REPLICA_IDs ${[...ids.keys()].join(', ')}, ` +
      `healthcheck as in the Dockerfile, after ${pgName} is healthy, config ${rel(configFile!)}: trust_proxy on), ${lbName} (${lbImage}, 5050:${lbPort.target}, ${cw})`,
  );
  note(
    `${cw}: upstream ${upstreamName} = ${members.map((d) => d.args.join(' ')).join(', ')}; X-Forwarded-For $remote_addr, X-Forwarded-Proto $scheme, HTTP/1.1; ` +
      `client_max_body_size ≥ ${maxBody} bytes; ${tailPath}: proxy_buffering off, proxy_read_timeout ${readTimeout}`,
  );
  return {
    postgres: { name: pgName, user: pgEnv.get('POSTGRES_USER')!, password: pgEnv.get('POSTGRES_PASSWORD')!, db: pgEnv.get('POSTGRES_DB')! },
    replicas,
    lb: { name: lbName, image: lbImage, conf: confPath, listen: lbPort.target, published: lbPort.published! },
    maxBodyBytes: maxBody,
  };
}

/** Starts the throw-away PostgreSQL the cluster replay uses; its failure is reported where it is awaited. */
function startClusterPostgres(): Promise<PgServer> {
  const starting = import('./postgres-server.js').then((m) => m.startPostgres());
  starting.catch(() => {});
  return starting;
}

/** Why the cluster cannot be replayed here (no PostgreSQL), or undefined. With CI set, a missing PostgreSQL fails instead. */
async function postgresMissing(): Promise<string | undefined> {
  const { postgresUnavailable } = await import('./postgres-server.js');
  try {
    return postgresUnavailable();
  } catch (e) {
    fail(`cannot replay the cluster profile: ${(e as Error).message}`);
  }
}

/**
 * The cluster profile, replayed: a throw-away PostgreSQL with the postgres service's user and
 * database, one runtime-stage process per replica with its service's environment (DATABASE_URL
 * pointed at that server, PORT a free loopback port) sharing the runtime stage's files, and
 * nginx with the load balancer's config in front of them.
 */
async function replayCluster(plan: ClusterPlan, ctx: { rt: StageState; cmd: string[]; health: { cmd: string[]; timeoutMs: number }; workdir: string; pg: Promise<PgServer> }): Promise<void> {
  const { rt, workdir } = ctx;
  let pg: PgServer;
  try {
    pg = await ctx.pg;
  } catch (e) {
    fail(`cannot start the throw-away PostgreSQL for the cluster profile: ${(e as Error).message}`);
  }
  // What the postgres image's entrypoint does with POSTGRES_USER, _PASSWORD and _DB.
  const { default: pgLib } = await import('pg');
  const admin = new pgLib.Client({ connectionString: pg.url() });
  try {
    await admin.connect();
    const { user, password, db } = plan.postgres;
    if (user !== 'postgres') await admin.query(`CREATE ROLE ${admin.escapeIdentifier(user)} SUPERUSER LOGIN PASSWORD ${admin.escapeLiteral(password)}`);
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(db)} OWNER ${admin.escapeIdentifier(user)}`);
  } catch (e) {
    fail(`creating ${plan.postgres.name}'s user and database on the throw-away PostgreSQL: ${(e as Error).message}`);
  } finally {
    await admin.end().catch(() => {});
  }
  step(`cluster: ${plan.postgres.name} -> a throw-away PostgreSQL on 127.0.0.1:${pg.port} (scripts/postgres-server.ts) with role ${plan.postgres.user} and database ${plan.postgres.db}, as the image makes them`);

  // --- the replicas: the image's environment, then the service's --------------------------------
  const started: { replica: Replica; proc: Proc; base: string; volumes: string; runHealth: () => Promise<Ran> }[] = [];
  for (const replica of plan.replicas) {
    const env = new Map([...rt.env, ...replica.env]);
    const url = new URL(env.get('DATABASE_URL')!);
    url.hostname = '127.0.0.1';
    url.port = String(pg.port);
    env.set('DATABASE_URL', url.href);
    const volumes = join(tmp, 'cluster', replica.name);
    for (const v of rt.volumes) mkdirSync(join(volumes, v.path), { recursive: true });
    const said: string[] = [];
    const used = replayPaths(
      env,
      [
        ...replica.binds.map((m) => ({ target: m.target, host: m.source!, what: 'bind mount' })),
        ...rt.volumes.map((v) => ({ target: v.path, host: join(volumes, v.path), what: 'VOLUME' })),
        { target: rt.workdir, host: workdir, what: 'WORKDIR' },
      ],
      (m) => said.push(m),
    );
    for (const m of replica.binds) check(used.has(m.target), `${replica.name} mounts ${rel(m.source!)} at ${m.target}, which no environment variable points at: this check can only replay a mount it can point the server to`);
    const port = await freePort();
    env.set('PORT', String(port));
    env.set('HOST', '127.0.0.1');
    const childEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, ...Object.fromEntries(env) };
    const configPath = env.get('CONFIG_PATH');
    note(
      `${replica.name}: REPLICA_ID=${env.get('REPLICA_ID')}, PORT=${port}, DATABASE_URL host ${plan.postgres.name}:5432 -> 127.0.0.1:${pg.port}` +
        `${configPath ? `, CONFIG_PATH -> ${rel(configPath)}` : ''}, VOLUME${rt.volumes.length > 1 ? 's' : ''} in ${volumes}`,
    );
    started.push({ replica, proc: new Proc(`replica ${replica.name}`, ctx.cmd, workdir, childEnv), base: `http://127.0.0.1:${port}`, volumes, runHealth: healthRunner(ctx.health, workdir, childEnv) });
  }
  step(`cluster: started ${started.map((s) => s.replica.name).join(', ')} at once (the runtime stage's CMD, each with its service's environment)`);
  const healthy = await Promise.all(started.map((s) => waitHealthy(s.proc, s.runHealth, s.base)));
  step(`cluster: every replica's HEALTHCHECK passes (after ${healthy.map((h) => h.seconds).join(', ')} s)`);

  // --- one store --------------------------------------------------------------------------------
  const [first, second, ...others] = started as [(typeof started)[0], (typeof started)[0], ...(typeof started)[0][]];
  const shared = marker('cluster');
  await postMarker(first.base, shared, `to ${first.replica.name}`);
  for (const s of [second, ...others]) await readMarker(s.base, shared, `on ${s.replica.name}`);
  step(`cluster: POST /api/logs to ${first.replica.name} -> 201; GET /api/logs on ${[second, ...others].map((s) => s.replica.name).join(', ')} returns it`);

  const tailing = await openEventStream(`${second.base}/api/logs/tail?service=${MARKER_SERVICE}`);
  check(tailing.status === 200, `GET /api/logs/tail on ${second.replica.name}: expected 200, got ${tailing.status}`);
  await tailing.waitFor(`GET /api/logs/tail on ${second.replica.name}: its ready event`, (t) => t.includes('event: ready'), 5000);
  const crossing = marker('tail');
  const from = others[0] ?? first;
  const postedAt = performance.now();
  await postMarker(from.base, crossing, `to ${from.replica.name}`);
  await tailing.waitFor(`a log posted to ${from.replica.name}, on the tail of ${second.replica.name}`, (t) => t.includes(crossing), 5000);
  const crossed = performance.now() - postedAt;
  tailing.close();
  step(`cluster: a log posted to ${from.replica.name} reached a live tail on ${second.replica.name} within ${crossed.toFixed(0)} ms of the POST`);

  // --- the load balancer ------------------------------------------------------------------------
  if (existsSync(opts.nginx)) await replayLoadBalancer(plan, started);
  else step(`nginx is not installed (no ${opts.nginx}): ${rel(plan.lb.conf)} was read, not run; install it (Debian: apt-get install nginx) or pass --nginx PATH`);

  // --- stop -------------------------------------------------------------------------------------
  const times = await Promise.all(started.map((s) => stopGracefully(s.proc)));
  step(`cluster: SIGTERM -> every replica exits 0 (in ${times.join(', ')} s)`);
  for (const s of started) {
    for (const v of rt.volumes) {
      const written = readdirSync(join(s.volumes, v.path));
      check(written.length === 0, `${s.replica.name} wrote ${written.join(', ')} under VOLUME ${v.path}: a replica keeps nothing (PostgreSQL has the data, and the compose file gives it no volume)`);
    }
  }
  note(`the replicas kept nothing under VOLUME ${rt.volumes.map((v) => v.path).join(' ')}`);
}

/**
 * The load balancer's config, run: a copy with the upstream's servers at the replicas' loopback
 * ports (resolve dropped: that is Docker's DNS), listening on a free loopback port, its
 * temporary files and access log in its own folder; `nginx -t`, then requests through it.
 */
async function replayLoadBalancer(plan: ClusterPlan, replicas: readonly { replica: Replica; base: string }[]): Promise<void> {
  const dir = join(tmp, 'nginx');
  mkdirSync(dir, { recursive: true });
  // As root, nginx's workers run as nobody: they keep large request bodies under `dir`.
  if (process.getuid?.() === 0) chmodSync(tmp, 0o755);
  const version = /nginx\/([\d.]+)/.exec(spawnSync(opts.nginx, ['-v'], { encoding: 'utf8' }).stderr ?? '')?.[1] ?? '(unknown version)';
  const cw = rel(plan.lb.conf);
  const lbPort = await freePort();
  const ports = new Map(replicas.map((r) => [r.replica.name, new URL(r.base).port]));
  let text = readFileSync(plan.lb.conf, 'utf8');
  text = text.replace(/^([ \t]*)server\s+([\w.-]+):(\d+)([^;{]*);/gm, (_m, indent: string, host: string, _port: string, params: string) => {
    const kept = params.split(/\s+/).filter((p) => p && p !== 'resolve');
    return `${indent}server 127.0.0.1:${ports.get(host)}${kept.length > 0 ? ` ${kept.join(' ')}` : ''};`;
  });
  text = text.replace(/^([ \t]*)listen\s+[^\s;]+([^;]*);/gm, (_m, indent: string, params: string) => `${indent}listen 127.0.0.1:${lbPort}${params};`);
  const temp = [...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${join(dir, t)};`), `access_log ${join(dir, 'access.log')};`].join(' ');
  text = text.replace(/^(\s*)http\s*\{/m, (m) => `${m}\n    ${temp}`);
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, text);
  const args = ['-e', 'stderr', '-p', `${dir}/`, '-c', conf];
  const pid = `pid ${join(dir, 'nginx.pid')};`;
  const tested = await run(opts.nginx, ['-t', ...args, '-g', pid], { cwd: dir, env: process.env, timeoutMs: 30_000 });
  check(tested.code === 0, `nginx -t on ${cw} (a copy at ${conf}, upstream servers at the replicas' loopback ports) failed:\n${tail(tested.output)}`);
  step(`nginx ${version}: nginx -t passes on ${cw} (a copy: upstream servers at the replicas' loopback ports, listen 127.0.0.1:${lbPort})`);

  const nginx = new Proc('nginx', [opts.nginx, ...args, '-g', `${pid} daemon off;`], dir, process.env);
  const lb = `http://127.0.0.1:${lbPort}`;
  const t = performance.now();
  for (;;) {
    if (nginx.exit) fail(`nginx exited (code ${nginx.exit.code}) on start:\n${tail(nginx.output)}`);
    const up = await fetch(`${lb}/health`, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.status,
      () => 0,
    );
    if (up === 200) break;
    if (performance.now() - t > 10_000) fail(`GET /health through nginx: ${up || 'no answer'} after 10 s:\n${tail(nginx.output)}`);
    await sleep(50);
  }

  // A log posted through it is read through it, from each replica in turn (round robin).
  const through = marker('lb');
  await postMarker(lb, through, 'through nginx');
  for (let i = 0; i < replicas.length; i++) await readMarker(lb, through, `through nginx (read ${i + 1})`);
  step(`nginx: GET /health -> 200; POST /api/logs through it -> 201, and ${replicas.length} GET /api/logs through it (round robin: one per replica) return it`);

  // A batch past nginx's default 1 MiB body limit, within the server's.
  const big = Array.from({ length: 100 }, (_, i) => ({ timestamp: new Date().toISOString(), level: 'INFO', service: MARKER_SERVICE, message: `${i} ${'x'.repeat(15_000)}` }));
  const body = JSON.stringify(big);
  const posted = await http(`${lb}/api/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  check(posted.status === 201, `POST /api/logs of ${body.length} bytes through nginx: expected 201, got ${posted.status} ${posted.body.slice(0, 200)}`);
  step(`nginx: a batch of ${(body.length / 2 ** 20).toFixed(1)} MiB (nginx's default limit is 1 MiB) -> 201`);

  // A live tail through it: its first bytes at once, then logs from every replica.
  const tailing = await openEventStream(`${lb}/api/logs/tail?service=${MARKER_SERVICE}`);
  check(tailing.status === 200, `GET /api/logs/tail through nginx: expected 200, got ${tailing.status}`);
  check((tailing.headers['content-type'] ?? '').startsWith('text/event-stream'), `GET /api/logs/tail through nginx: content-type ${tailing.headers['content-type']}`);
  check(!tailing.headers['content-encoding'], `GET /api/logs/tail through nginx: content-encoding ${tailing.headers['content-encoding']}, which holds events back`);
  await tailing.waitFor('GET /api/logs/tail through nginx: its first event (ready) within 2 s, so nginx passes a stream on as it comes', (x) => x.includes('event: ready'), 2000);
  const firstBytes = tailing.firstBytesMs() ?? 0;
  const live = replicas.map((_r, i) => marker(`lb-tail-${i}`));
  const t0 = performance.now();
  for (const m of live) await postMarker(lb, m, 'through nginx');
  await tailing.waitFor(`${live.length} logs posted through nginx (one to each replica), on the tail through nginx`, (x) => live.every((m) => x.includes(m)), 5000);
  const allIn = performance.now() - t0;
  tailing.close();
  step(`nginx: GET /api/logs/tail through it: first bytes after ${firstBytes.toFixed(0)} ms; ${live.length} logs posted through it (one per replica) on it within ${allIn.toFixed(0)} ms`);

  const stopped = await nginx.stop('SIGQUIT', 5000);
  if (!stopped) {
    await nginx.stop('SIGKILL', 1000);
    fail(`nginx did not exit within 5 s of SIGQUIT:\n${tail(nginx.output)}`);
  }
  check(stopped.code === 0, `nginx exited with code ${stopped.code} (signal ${stopped.signal}):\n${tail(nginx.output)}`);
}

let status = 0;
try {
  await main();
  step(`verify-docker: all checks passed`);
} catch (e) {
  status = 1;
  if (e instanceof VerifyError) process.stderr.write(`verify-docker: FAILED: ${e.message}\n`);
  else process.stderr.write(`verify-docker: FAILED with an unexpected error: ${(e as Error).stack ?? String(e)}\n`);
} finally {
  // What a failure left running: SIGTERM first (nginx's workers go with their master only then), SIGKILL after 3 s.
  const left = [...running];
  for (const p of left) p.child.kill('SIGTERM');
  await Promise.race([Promise.all(left.map((p) => p.exited)), sleep(3000)]);
  for (const p of left) if (!p.exit) p.child.kill('SIGKILL');
  if (postgresStarting) await postgresStarting.then((pg) => pg.stop()).catch(() => {});
  if (opts.keep) process.stdout.write(`kept ${tmp}\n`);
  else rmSync(tmp, { recursive: true, force: true });
}
process.exit(status);
