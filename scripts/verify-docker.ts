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
 *   case by reading the keys this project relies on (before the slow part, so it fails fast).
 *
 * Run: npx tsx scripts/verify-docker.ts [--skip-build] [--keep] [--dockerfile PATH] [--compose PATH] [--dockerignore PATH]
 *   --skip-build   do not run the build stage's commands here; require their outputs to exist
 *   --keep         keep the temporary folder (its path is printed)
 * Exit status 0 when every check passed, 1 with the failing check on stderr otherwise.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { freePort } from './free-port.js';

const ROOT = resolve(import.meta.dirname, '..');

const USAGE = `Checks the Docker recipe without a Docker engine: replays the image's stages and starts the runtime stage's command.

Usage: npm run verify:docker [-- options]
  --skip-build            do not run the build stage's commands here; require their outputs to exist
  --keep                  keep the temporary folder (its path is printed)
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
        keep: { type: 'boolean', default: false },
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

// ---------------------------------------------------------------------------------------------
// The checks

const tmp = mkdtempSync(join(tmpdir(), 'verify-docker-'));
let server: ChildProcess | undefined;

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
  await checkCompose(composePath, stages, rt);

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
  const into = (value: string, dir: string): boolean => value === dir || value.startsWith(`${dir}/`);
  for (const v of volumeDirs) {
    const users = [...env].filter(([, value]) => into(value, v));
    for (const [k, value] of users) {
      env.set(k, join(rootfs, value));
      note(`VOLUME ${v} -> ${join(rootfs, v)}: ${k}=${value} overridden to ${join(rootfs, value)}`);
    }
  }
  for (const [k, value] of env) {
    if (into(value, rt.workdir)) {
      env.set(k, join(rootfs, value));
      note(`WORKDIR path ${k}=${value} -> ${join(rootfs, value)}`);
    }
  }
  const freshPort = await freePort();
  env.set('PORT', String(freshPort));
  env.set('HOST', '127.0.0.1');
  note(`PORT=${freshPort} (a free port) and HOST=127.0.0.1 (loopback only) override the image's ${rt.env.get('PORT') ? `PORT=${rt.env.get('PORT')}` : 'port'}`);
  const childEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, ...Object.fromEntries(env) };

  // --- the health check before start: it must say unhealthy ------------------------------------
  const runHealth = (): Promise<Ran> => {
    const [c, ...a] = health.cmd;
    return run(c!, a, { cwd: workdir, env: childEnv, timeoutMs: health.timeoutMs });
  };
  const before = await runHealth();
  check(before.code !== 0, `HEALTHCHECK ${JSON.stringify(health.cmd)} exits 0 with no server running: it checks nothing`);
  step(`HEALTHCHECK with no server: exit ${before.code} (${before.output.trim().split('\n')[0] ?? ''})`);

  // --- start CMD --------------------------------------------------------------------------------
  const [c0, ...cargs] = cmd;
  step(`starting CMD ${JSON.stringify(cmd)} in ${workdir}`);
  const child = spawn(c0!, cargs, { cwd: workdir, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  server = child;
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.on('exit', (code, signal) => done({ code, signal })));
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void exited.then((e) => (exit = e));

  const healthStart = performance.now();
  let attempts = 0;
  let last: Ran | undefined;
  for (;;) {
    if (exit) fail(`the server exited (code ${exit.code}, signal ${exit.signal}) before it was healthy:\n${tail(output)}`);
    attempts++;
    last = await runHealth();
    if (last.code === 0) break;
    if (performance.now() - healthStart > 30_000) fail(`HEALTHCHECK still failing after 30 s (${attempts} tries): ${last.output.trim()}\nserver output:\n${tail(output)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  step(`HEALTHCHECK ${JSON.stringify(health.cmd)}: healthy after ${((performance.now() - healthStart) / 1000).toFixed(1)} s (${attempts} tries)`);

  // --- API and dashboard --------------------------------------------------------------------------
  const base = `http://127.0.0.1:${freshPort}`;
  const marker = `verify-docker ${process.pid}-${Date.now()}`;
  const log = { timestamp: new Date().toISOString(), level: 'INFO', service: 'verify-docker', message: marker };
  const posted = await http(`${base}/api/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(log) });
  check(posted.status === 201, `POST /api/logs: expected 201, got ${posted.status} ${posted.body.slice(0, 300)}`);
  const got = await http(`${base}/api/logs?service=verify-docker&q=${encodeURIComponent(marker)}`);
  check(got.status === 200, `GET /api/logs: expected 200, got ${got.status} ${got.body.slice(0, 300)}`);
  const logs = (JSON.parse(got.body) as { logs: { message: string }[] }).logs;
  check(logs.length === 1 && logs[0]!.message === marker, `GET /api/logs did not return the posted log: ${got.body.slice(0, 300)}`);
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
  const stopAt = performance.now();
  child.kill('SIGTERM');
  const stopped = await Promise.race([exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000))]);
  if (!stopped) {
    child.kill('SIGKILL');
    fail(`the server did not exit within 5 s of SIGTERM:\n${tail(output)}`);
  }
  check(stopped.code === 0, `the server exited with code ${stopped.code} (signal ${stopped.signal}) on SIGTERM, not 0:\n${tail(output)}`);
  server = undefined;
  step(`SIGTERM -> exit 0 in ${((performance.now() - stopAt) / 1000).toFixed(1)} s`);

  // Data went to the volume, nothing else was written beside the application.
  for (const v of volumeDirs) {
    const written = readdirSync(join(rootfs, v));
    check(written.length > 0, `nothing was written under VOLUME ${v}`);
    note(`VOLUME ${v} holds: ${written.join(', ')}`);
  }
  const extra = listTree(workdir).filter((p) => !copiedTree.has(p));
  check(extra.length === 0, `the server wrote under ${rt.workdir}, which is not a volume and not writable by ${rt.user} in the image: ${extra.slice(0, 10).join(', ')}`);

}

async function checkCompose(path: string, stages: readonly Stage[], rt: StageState): Promise<void> {
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

  type Service = Record<string, unknown>;
  const doc = parseYaml(readFileSync(path, 'utf8')) as Record<string, unknown> | null;
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
  step(`${where}: app (5050:5000, healthcheck as in the Dockerfile, volume ${volumes.map((v) => `${v.source}:${v.target}`).join(' ')}, restart unless-stopped), tests (target ${tb.target}, profile test)`);
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
  if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  if (opts.keep) process.stdout.write(`kept ${tmp}\n`);
  else rmSync(tmp, { recursive: true, force: true });
}
process.exit(status);
