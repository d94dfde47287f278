/**
 * A real, throw-away PostgreSQL server for the tests, the benchmarks and the compose check: its own data folder in
 * os.tmpdir(), trust authentication as `postgres`, listening on a free loopback port.
 *
 * The binaries are PG_BIN when set, else the newest /usr/lib/postgresql/<version>/bin (Debian's
 * layout); 15 or newer. PostgreSQL refuses to run as root, so as root every PostgreSQL program
 * runs as the `postgres` user (runuser) and the folders it writes are chowned to it.
 *
 * A test file skips when there is no PostgreSQL, and says why:
 *
 *   const skip = postgresUnavailable();
 *   if (skip) process.stdout.write(`# ... tests skipped: ${skip}\n`);
 *   describe('...', { skip }, () => { ... });
 *
 * With CI set, postgresUnavailable() throws instead of returning the reason: CI installs
 * PostgreSQL (.ci/run), so missing binaries there are a broken setup, and skipped tests would
 * pass it unnoticed.
 *
 * initdb runs once per PostgreSQL version, into a template folder in os.tmpdir() that every test
 * process shares; each server starts from a `cp -a` of it. One process builds it under a lock
 * (a folder next to it) while the others wait, and renames it into place whole.
 *
 * By default fsync and full_page_writes are off, for speed: only an OS crash loses data to them,
 * so a commit still survives stopServer('immediate'). synchronous_commit stays on (turning it off
 * would acknowledge commits before their WAL is written, and saves nothing measurable here).
 *
 * Servers go away with stop(). Those a test process leaves are stopped (immediate) and removed
 * by a process 'exit' handler; a process killed by a signal (the test runner's SIGTERM on a
 * timeout, SIGKILL) runs no handler, so each server also has a watchdog shell that does the same
 * when the pipe from this process closes.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, escapeIdentifier } from 'pg';
import { freePort } from './free-port.js';

const DEBIAN_ROOT = '/usr/lib/postgresql';
const OLDEST_MAJOR = 15;
const INSTALL_HINT = "install Debian's postgresql";

export interface PgServer {
  readonly port: number;
  /** The temporary folder: data/ (the cluster), server.log, and the Unix socket. */
  readonly dir: string;
  /** postgres://postgres@127.0.0.1:PORT/DATABASE; `postgres` unless told. */
  url(database?: string): string;
  /** Creates `name` (a fresh unique name if none) and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Stops the server and keeps its data: the database going away. `fast` unless told. */
  stopServer(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Starts it again on the same port and data: the database coming back. */
  startServer(): Promise<void>;
  /** Stops it and removes its folder. Safe to call again. */
  stop(): Promise<void>;
  /** The server's log so far, for a failure message. */
  log(): string;
}

interface Installation {
  bin: string;
  /** As postgres --version prints it, e.g. 15.18. */
  version: string;
  /** Set when running as root: the `postgres` user the servers run as. */
  owner?: { uid: number; gid: number };
}

let located: Installation | string | undefined;

/** Where PostgreSQL is, or why it cannot be used. Looked up once per process. */
function locate(): Installation | string {
  located ??= lookUp();
  return located;
}

function lookUp(): Installation | string {
  let bin = process.env.PG_BIN;
  if (!bin) {
    const majors = listDir(DEBIAN_ROOT)
      .filter((name) => /^\d+$/.test(name) && existsSync(join(DEBIAN_ROOT, name, 'bin', 'postgres')))
      .map(Number)
      .sort((a, b) => b - a);
    if (majors[0] === undefined) return `PostgreSQL binaries not found in ${DEBIAN_ROOT}/<version>/bin; ${INSTALL_HINT} (or set PG_BIN)`;
    bin = join(DEBIAN_ROOT, String(majors[0]), 'bin');
  }
  for (const program of ['postgres', 'initdb', 'pg_ctl']) {
    if (!existsSync(join(bin, program))) return `PostgreSQL binaries not found: no ${join(bin, program)}; ${INSTALL_HINT} (or set PG_BIN)`;
  }
  const printed = spawnSync(join(bin, 'postgres'), ['--version'], { encoding: 'utf8' });
  const version = /\(PostgreSQL\) (\d+)(\.\d+)?/.exec(printed.stdout ?? '');
  if (printed.status !== 0 || !version) return `${join(bin, 'postgres')} --version failed: ${printed.error?.message ?? `${printed.stdout}${printed.stderr}`.trim()}`;
  if (Number(version[1]) < OLDEST_MAJOR) return `PostgreSQL ${version[1]} in ${bin} is too old: ${OLDEST_MAJOR} or newer is needed; ${INSTALL_HINT}`;
  const found: Installation = { bin, version: `${version[1]}${version[2] ?? ''}` };
  if (process.getuid?.() === 0) {
    const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    if (uid.status !== 0 || gid.status !== 0) return `running as root, and there is no postgres user to run PostgreSQL as; ${INSTALL_HINT} (it creates the user)`;
    if (spawnSync('runuser', ['--version']).status !== 0) return 'running as root, and runuser (util-linux) is not there to run PostgreSQL as the postgres user';
    found.owner = { uid: Number(uid.stdout), gid: Number(gid.stdout) };
  }
  return found;
}

function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

/** Why PostgreSQL cannot be used here, or undefined when it can. Throws that reason instead when CI is set. */
export function postgresUnavailable(): string | undefined {
  const found = locate();
  if (typeof found !== 'string') return undefined;
  if (process.env.CI) throw new Error(`${found} (CI is set, so the PostgreSQL tests fail rather than skip)`);
  return found;
}

function installation(): Installation {
  const found = locate();
  if (typeof found === 'string') throw new Error(`cannot start PostgreSQL: ${found}`);
  return found;
}

/** The program and arguments that run PostgreSQL's `program` as the user the servers run as. */
function command(postgres: Installation, program: string, args: string[]): [string, string[]] {
  const path = join(postgres.bin, program);
  return postgres.owner ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
}

interface Outcome {
  status: number | null;
  output: string;
}

/**
 * Runs a PostgreSQL program and collects what it printed. `cwd` is a folder the postgres user
 * can enter: pg_ctl and initdb fail in one they cannot (the project folder, say, under /root).
 */
function run(postgres: Installation, program: string, args: string[], cwd: string): Promise<Outcome> {
  const [file, argv] = command(postgres, program, args);
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { cwd, env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, output: signal === null ? output : `${output}(killed by ${signal})` }));
  });
}

function runSync(postgres: Installation, program: string, args: string[], cwd: string): Outcome {
  const [file, argv] = command(postgres, program, args);
  const r = spawnSync(file, argv, { cwd, env: { ...process.env, LC_ALL: 'C' }, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}` };
}

function failed(what: string, outcome: Outcome): string {
  return `${what} failed (exit ${outcome.status}):\n${outcome.output.trim()}`;
}

function ownForPostgres(postgres: Installation, path: string): void {
  if (postgres.owner) chownSync(path, postgres.owner.uid, postgres.owner.gid);
}

/** A folder initdb finished: the template is renamed into place whole, but tmp cleaners may thin it later. */
function isCluster(path: string): boolean {
  return existsSync(join(path, 'PG_VERSION')) && existsSync(join(path, 'global', 'pg_control'));
}

/**
 * The freshly initdb'd cluster every server copies, built on first use. Test files start
 * together, so one process builds it under a lock while the others wait for it.
 */
async function template(postgres: Installation): Promise<string> {
  const path = join(tmpdir(), `logsentinel-postgres-${postgres.version}-template-uid${process.getuid?.() ?? 0}`);
  const lock = `${path}.lock`;
  const deadline = Date.now() + 120_000;
  while (!isCluster(path)) {
    try {
      mkdirSync(lock);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (lockHolderGone(lock)) rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`waited 120 s for ${lock} (another process building the PostgreSQL template); remove it if none is`);
      else await new Promise((resolve) => setTimeout(resolve, 50));
      continue;
    }
    try {
      writeFileSync(join(lock, 'pid'), String(process.pid));
      if (!isCluster(path)) await buildTemplate(postgres, path);
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
  return path;
}

/** A lock whose process is gone, or with no pid written 10 s after it was made. */
function lockHolderGone(lock: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(join(lock, 'pid'), 'utf8'));
  } catch {
    try {
      return Date.now() - statSync(lock).mtimeMs > 10_000;
    } catch {
      return true;
    }
  }
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * initdb aside, then a rename into `path`: a process that finds the template finds it whole,
 * even when the lock was wrongly taken over.
 */
async function buildTemplate(postgres: Installation, path: string): Promise<void> {
  // Not a whole cluster (a tmp cleaner may have thinned it): set it aside.
  if (existsSync(path)) {
    const stale = `${path}.stale-${process.pid}`;
    try {
      renameSync(path, stale);
    } catch {
      // Gone already: set aside by a process that took over a lock it thought abandoned.
    }
    rmSync(stale, { recursive: true, force: true });
  }
  const staging = mkdtempSync(join(tmpdir(), 'logsentinel-postgres-initdb-'));
  try {
    ownForPostgres(postgres, staging);
    const data = join(staging, 'data');
    const init = await run(postgres, 'initdb', ['-D', data, '--auth=trust', '-U', 'postgres', '--encoding=UTF8', '--no-locale', '--no-instructions'], staging);
    if (init.status !== 0) throw new Error(failed(`initdb into ${data}`, init));
    try {
      renameSync(data, path);
    } catch (err) {
      if (!isCluster(path)) throw new Error(`could not move the PostgreSQL template into ${path}`, { cause: err });
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

function copyFolder(from: string, to: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('cp', ['-a', '--reflink=auto', from, to], { stdio: ['ignore', 'ignore', 'pipe'] });
    let errors = '';
    child.stderr.on('data', (d: Buffer) => (errors += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => (status === 0 ? resolve() : reject(new Error(`cp -a ${from} ${to} failed (exit ${status}): ${errors.trim()}`))));
  });
}

function quoteSetting(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

const servers = new Set<Server>();
let exitHandlerAdded = false;

class Server implements PgServer {
  port = 0;
  readonly data: string;
  private readonly logFile: string;
  private running = false;
  private removal: Promise<void> | undefined;
  private readonly watchdog: ChildProcess;
  /** The last start failed because another process took the port first. */
  portTaken = false;

  constructor(
    private readonly postgres: Installation,
    readonly dir: string,
  ) {
    this.data = join(dir, 'data');
    this.logFile = join(dir, 'server.log');
    // The watchdog's read ends when this process's end of the pipe closes, however it died.
    const [pgCtl, stopArgs] = command(postgres, 'pg_ctl', ['stop', '-D', this.data, '-m', 'immediate']);
    this.watchdog = spawn('sh', ['-c', 'read -r _; "$@" >/dev/null 2>&1; rm -rf "$0"', dir, pgCtl, ...stopArgs], {
      cwd: tmpdir(),
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    this.watchdog.unref();
    (this.watchdog.stdin as unknown as { unref(): void }).unref();
    servers.add(this);
    if (!exitHandlerAdded) {
      exitHandlerAdded = true;
      process.on('exit', () => {
        for (const server of servers) server.removeNow();
      });
    }
  }

  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${encodeURIComponent(database)}`;
  }

  async createDatabase(name = `test_${randomBytes(6).toString('hex')}`): Promise<string> {
    const client = new Client({ connectionString: this.url() });
    try {
      await client.connect();
      await client.query(`CREATE DATABASE ${escapeIdentifier(name)}`);
    } catch (err) {
      throw new Error(`CREATE DATABASE ${name} on the PostgreSQL server at port ${this.port} failed: ${(err as Error).message}${this.logTail()}`, { cause: err });
    } finally {
      await client.end().catch(() => {});
    }
    return this.url(name);
  }

  async startServer(): Promise<void> {
    if (this.running) throw new Error(`the PostgreSQL server on port ${this.port} is already running`);
    const logBefore = this.log().length;
    const start = await run(this.postgres, 'pg_ctl', ['start', '-w', '-t', '60', '-D', this.data, '-l', this.logFile, '-o', `-p ${this.port}`], this.dir);
    if (start.status !== 0) {
      this.portTaken = /Address already in use/.test(this.log().slice(logBefore));
      throw new Error(`${failed(`pg_ctl start on port ${this.port}`, start)}${this.logTail()}`);
    }
    this.running = true;
  }

  async stopServer(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!this.running) throw new Error(`the PostgreSQL server on port ${this.port} is not running`);
    const stop = await run(this.postgres, 'pg_ctl', ['stop', '-w', '-t', '60', '-D', this.data, '-m', mode], this.dir);
    if (stop.status !== 0) throw new Error(`${failed(`pg_ctl stop -m ${mode} on port ${this.port}`, stop)}${this.logTail()}`);
    this.running = false;
  }

  stop(): Promise<void> {
    this.removal ??= this.remove();
    return this.removal;
  }

  private async remove(): Promise<void> {
    if (this.mayBeRunning()) {
      const stop = await run(this.postgres, 'pg_ctl', ['stop', '-w', '-t', '60', '-D', this.data, '-m', 'immediate'], this.dir);
      // pg_ctl status exits 3 when no server runs: a postmaster.pid left by a server that died is no failure.
      if (stop.status !== 0 && (await run(this.postgres, 'pg_ctl', ['status', '-D', this.data], this.dir)).status !== 3) {
        this.removal = undefined;
        throw new Error(`${failed(`pg_ctl stop -m immediate on port ${this.port}`, stop)}${this.logTail()}`);
      }
    }
    this.running = false;
    rmSync(this.dir, { recursive: true, force: true });
    servers.delete(this);
    this.watchdog.kill();
  }

  /** stop() for the 'exit' handler, where nothing asynchronous runs any more. */
  removeNow(): void {
    if (this.mayBeRunning()) runSync(this.postgres, 'pg_ctl', ['stop', '-w', '-D', this.data, '-m', 'immediate'], this.dir);
    rmSync(this.dir, { recursive: true, force: true });
    servers.delete(this);
    this.watchdog.kill();
  }

  /** A start that timed out may have left the server starting: postmaster.pid tells, not `running`. */
  private mayBeRunning(): boolean {
    return existsSync(join(this.data, 'postmaster.pid'));
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  private logTail(): string {
    const lines = this.log().trimEnd().split('\n').slice(-40).join('\n');
    return `\n--- last lines of ${this.logFile} ---\n${lines || '(empty)'}`;
  }
}

/**
 * Starts a PostgreSQL server of its own: a copy of the template cluster in a fresh temporary
 * folder, on a free loopback port, with room for 200 connections (tests run several replicas,
 * each with a pool). `fsync: true` keeps PostgreSQL's durability settings (see the top of the file).
 */
export async function startPostgres(options: { fsync?: boolean } = {}): Promise<PgServer> {
  const postgres = installation();
  const source = await template(postgres);
  const dir = mkdtempSync(join(tmpdir(), 'logsentinel-postgres-'));
  ownForPostgres(postgres, dir);
  const server = new Server(postgres, dir);
  try {
    await copyFolder(source, server.data);
    const settings = [
      "listen_addresses = '127.0.0.1'",
      // The default, /var/run/postgresql, may be missing or not the postgres user's to write.
      `unix_socket_directories = ${quoteSetting(dir)}`,
      'max_connections = 200',
      'shared_buffers = 16MB',
      ...(options.fsync ? [] : ['fsync = off', 'full_page_writes = off']),
    ];
    appendFileSync(join(server.data, 'postgresql.conf'), `\n# test server (scripts/postgres-server.ts)\n${settings.join('\n')}\n`);
    // The port is free when picked, not necessarily when PostgreSQL binds it: another process may take it in between.
    for (let attempt = 1; ; attempt++) {
      server.port = await freePort();
      try {
        await server.startServer();
        break;
      } catch (err) {
        if (!server.portTaken || attempt === 3) throw err;
      }
    }
  } catch (err) {
    await server.stop().catch(() => {});
    throw err;
  }
  return server;
}
