import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from 'pg';
import { postgresUnavailable, startPostgres, type PgServer } from '../../scripts/postgres-server.js';
import { startReceiver, type Receiver } from '../alerting/receiver.js';
import { waitFor } from '../helpers.js';
import { startServerProcess, type ServerProcess } from '../server-process.js';

/**
 * Replicas as real server processes (server/main.ts) on one PostgreSQL, and what fails under
 * them: a replica SIGKILLed mid-ingest, the replica holding the alert-check lock SIGKILLed,
 * and the database server stopped and started again while clients post; then one replica
 * whose database comes back while nobody writes to it, or freezes. Figures measured (handover
 * time, refusals, latencies, recovery times) are printed as diagnostics.
 */

const skip = postgresUnavailable();
if (skip) process.stdout.write(`# cluster failure tests skipped: ${skip}\n`);

/** No request may take longer than this: a hang fails the wait, not the whole file. */
const REQUEST_TIMEOUT_MS = 15_000;

const dirs: string[] = [];
const streams: Ingest[] = [];
after(() => {
  for (const s of streams) s.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'logsentinel-cluster-'));
  dirs.push(dir);
  return dir;
}

/**
 * A config for every replica of a cluster. `url` undefined: storage.backend and the database
 * URL come from the environment (STORAGE_BACKEND, DATABASE_URL), as a container would set them.
 */
function writeConfig(url: string | undefined, alerting: string[] = []): string {
  const path = join(tempDir(), 'config.yaml');
  const storage = url === undefined ? ['storage:', '  max_logs: 1000'] : ['storage:', '  backend: postgres', '  max_logs: 1000', '  postgres:', `    url: ${JSON.stringify(url)}`, '    pool_size: 4', '    schema: logsentinel'];
  writeFileSync(
    path,
    [
      'server:\n  host: 127.0.0.1\n  log_level: warn\n  shutdown_grace_seconds: 3',
      ...storage,
      // Many requests from one address, on a loaded machine: neither the limiter nor the load shedder may answer for the database.
      'rate_limit:\n  enabled: false\nload_shedding:\n  enabled: false\nsimulation:\n  enabled: false',
      'alerting:',
      ...(alerting.length > 0 ? alerting : ['  handlers:\n    log: false\n    webhooks: []']),
    ].join('\n') + '\n',
  );
  return path;
}

function startReplica(config: string, id: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  return startServerProcess(config, { REPLICA_ID: id, ...env });
}

/** SIGTERM, and the process exits 0 (bounded by shutdown_grace_seconds). */
async function terminate(r: ServerProcess): Promise<void> {
  if (r.child.exitCode !== null || r.child.signalCode !== null) return;
  r.child.kill('SIGTERM');
  const { code } = await r.exited;
  assert.equal(code, 0, r.output());
}

async function sql<R>(url: string, text: string, params: unknown[] = []): Promise<R[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, params)).rows as R[];
  } finally {
    await client.end();
  }
}

async function storedMessages(url: string): Promise<Set<string>> {
  return new Set((await sql<{ message: string }>(url, 'SELECT message FROM logsentinel.logs')).map((r) => r.message));
}

async function get(url: string): Promise<{ status: number; body: any; ms: number; retryAfter: string | null }> {
  const started = Date.now();
  const res = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: kept as text for the failure message
  }
  return { status: res.status, body, ms: Date.now() - started, retryAfter: res.headers.get('retry-after') };
}

/** Every stored log through GET /api/logs on `base`, paging with cursor=<next_cursor>. */
async function listedLogs(base: string): Promise<{ id: number; message: string }[]> {
  const out: { id: number; message: string }[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 1_000; pages++) {
    const res = await get(`${base}/api/logs?limit=1000${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    out.push(...res.body.logs.map((l: { id: number; message: string }) => ({ id: l.id, message: l.message })));
    cursor = res.body.next_cursor;
    if (cursor === null) return out;
  }
  throw new Error('paging did not end');
}

function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** One ingest request and how it was answered. */
interface Answer {
  replica: string;
  sentAt: number;
  at: number;
  /** The HTTP status; 0 when no answer came (connection refused or cut, timeout). */
  status: number;
  code?: string;
  retryAfter?: string | null;
  /** The start of the body, or the network error. */
  detail: string;
  messages: string[];
}

/**
 * `clients` concurrent clients posting small batches (1 to 5 logs, each with a unique
 * message) to one replica, one request after another until stopped. Every answer is kept;
 * `acked` holds the messages of the logs answered 201, `refused` those answered 503.
 */
class Ingest {
  readonly answers: Answer[] = [];
  readonly acked = new Set<string>();
  readonly refused = new Set<string>();
  private requests = 0;
  private stopped = false;
  readonly done: Promise<void>;

  constructor(
    readonly replica: string,
    private readonly base: string,
    clients: number,
    private readonly tag: string,
  ) {
    streams.push(this);
    this.done = Promise.all(Array.from({ length: clients }, (_, n) => this.loop(n))).then(() => undefined);
  }

  get inFlight(): number {
    return this.requests;
  }

  stop(): void {
    this.stopped = true;
  }

  /** Logs answered 201 by requests answered at or after `t`. */
  ackedSince(t: number): number {
    return this.answers.filter((a) => a.status === 201 && a.at >= t).reduce((n, a) => n + a.messages.length, 0);
  }

  private async loop(n: number): Promise<void> {
    for (let seq = 0; !this.stopped; seq++) {
      const size = 1 + ((seq + n) % 5);
      const logs = Array.from({ length: size }, (_, k) => ({
        timestamp: new Date().toISOString(),
        level: ['INFO', 'WARNING', 'ERROR', 'INFO'][(seq + k) % 4],
        service: `svc-${(n + k) % 3}`,
        message: `${this.tag}-${n}-${seq}-${k}`,
      }));
      const messages = logs.map((l) => l.message);
      const sentAt = Date.now();
      let answer: Answer;
      this.requests++;
      try {
        const res = await fetch(`${this.base}/api/logs`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(size === 1 ? logs[0] : logs),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        const text = await res.text();
        let code: string | undefined;
        try {
          code = (JSON.parse(text) as { code?: string }).code;
        } catch {
          code = undefined;
        }
        answer = { replica: this.replica, sentAt, at: Date.now(), status: res.status, code, retryAfter: res.headers.get('retry-after'), detail: text.slice(0, 300), messages };
      } catch (e) {
        answer = { replica: this.replica, sentAt, at: Date.now(), status: 0, detail: String((e as Error).cause ?? e), messages };
      } finally {
        this.requests--;
      }
      this.answers.push(answer);
      if (answer.status === 201) for (const m of messages) this.acked.add(m);
      else if (answer.status === 503) for (const m of messages) this.refused.add(m);
      // Steady, not flat out; a client told to retry later waits a little (less than Retry-After: the test measures).
      await new Promise((r) => setTimeout(r, answer.status === 201 ? 10 : 25));
    }
  }
}

function describeAnswers(answers: readonly Answer[], limit = 5): string {
  return answers
    .slice(0, limit)
    .map((a) => `${a.replica} ${a.status} after ${a.at - a.sentAt} ms: ${a.detail}`)
    .join('; ');
}

/** The session holding the alert-check lock (pg_try_advisory_lock(hashtext(schema), 2)): which replica, by its application_name. */
async function lockHolders(client: Client): Promise<string[]> {
  const { rows } = await client.query<{ app: string }>(
    `SELECT a.application_name AS app FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.granted AND l.objid = 2 AND l.objsubid = 2
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
  );
  return rows.map((r) => /^logsentinel (.+) alerts$/.exec(r.app)?.[1] ?? `? ${r.app}`);
}

interface Notification {
  from: string;
  line: string;
  at: number;
}

function notifications(rx: Receiver, arrivals: number[]): Notification[] {
  return rx.received.map((r, i) => {
    const payload = JSON.parse(r.body) as { externalURL: string; alerts: { status: string; labels: { alertname: string; service: string } }[] };
    const from = /^http:\/\/replica-(\w+)\.invalid$/.exec(payload.externalURL)?.[1] ?? payload.externalURL;
    return { from, line: payload.alerts.map((a) => `${a.status} ${a.labels.alertname} ${a.labels.service}`).join(', '), at: arrivals[i]! };
  });
}

/** The PostgreSQL server's processes: the postmaster (data/postmaster.pid) and its children, from /proc. */
function postgresProcesses(pg: PgServer): number[] {
  const postmaster = Number(readFileSync(join(pg.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === postmaster) children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return [postmaster, ...children];
}

async function sendErrors(base: string, service: string, n: number): Promise<void> {
  const logs = Array.from({ length: n }, (_, i) => ({ timestamp: new Date().toISOString(), level: 'ERROR', service, message: `${service} failed ${i}` }));
  const res = await fetch(`${base}/api/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(logs), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  assert.equal(res.status, 201, await res.text());
}

describe('replica processes on one PostgreSQL: failures', { skip }, () => {
  let server: PgServer;
  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    await server?.stop();
  });

  test('SIGKILL of one replica mid-ingest: the others keep answering, no acknowledged log is lost, and it rejoins on restart', { timeout: 60_000 }, async (t) => {
    const url = await server.createDatabase();
    // Backend and database from the environment; the replica id too.
    const config = writeConfig(undefined);
    const env = { STORAGE_BACKEND: 'postgres', DATABASE_URL: url };
    const [a, b, c] = (await Promise.all(['a', 'b', 'c'].map((id) => startReplica(config, id, env)))) as [ServerProcess, ServerProcess, ServerProcess];
    const ingest = { a: new Ingest('a', a.base, 2, 't1a'), b: new Ingest('b', b.base, 2, 't1b'), c: new Ingest('c', c.base, 2, 't1c') };
    t.after(() => Object.values(ingest).forEach((s) => s.stop()));
    const all = Object.values(ingest);
    await waitFor(() => all.every((s) => s.acked.size >= 150), {
      timeoutMs: 20_000,
      what: () => `150 logs acknowledged by each replica (have ${all.map((s) => s.acked.size)}; ${describeAnswers(all.flatMap((s) => s.answers.filter((x) => x.status !== 201)))})`,
    });

    // The kill lands while a request to a is on the wire.
    const deadline = Date.now() + 5_000;
    while (ingest.a.inFlight === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    const inFlightAtKill = ingest.a.inFlight;
    const killedAt = Date.now();
    a.child.kill('SIGKILL');
    assert.equal((await a.exited).signal, 'SIGKILL');
    ingest.a.stop();
    await ingest.a.done;
    // Before the kill, a answered 201 to everything; the requests the kill cut got no answer (a 201 read just after the kill was sent before it).
    const cut = ingest.a.answers.filter((x) => x.status !== 201);
    assert.ok(cut.every((x) => x.status === 0 && x.at >= killedAt), `a answered 201 to every request until the kill: ${describeAnswers(cut)}`);

    // b and c go on: ingest and reads.
    const reads: number[] = [];
    let reading = true;
    const readLoop = (async () => {
      while (reading) {
        for (const r of [b, c]) {
          const res = await get(`${r.base}/api/logs?limit=50`);
          assert.equal(res.status, 200, `GET /api/logs on a survivor after the kill: ${JSON.stringify(res.body)}`);
          assert.equal(res.body.logs.length, 50);
          reads.push(res.ms);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await Promise.all([
      readLoop,
      waitFor(() => ingest.b.ackedSince(killedAt) >= 150 && ingest.c.ackedSince(killedAt) >= 150, {
        timeoutMs: 20_000,
        what: () => `150 more logs acknowledged by b and by c after the kill (have ${ingest.b.ackedSince(killedAt)}, ${ingest.c.ackedSince(killedAt)})`,
      }).finally(() => (reading = false)),
    ]);

    // a again: same config, same replica id, nothing done by hand.
    const restartAt = Date.now();
    const a2 = await startReplica(config, 'a', env);
    const restartMs = Date.now() - restartAt;
    const again = new Ingest('a2', a2.base, 2, 't1a2');
    t.after(() => again.stop());
    await waitFor(() => again.acked.size >= 100, { timeoutMs: 20_000, what: () => `100 logs acknowledged by the restarted a (have ${again.acked.size}; ${describeAnswers(again.answers.filter((x) => x.status !== 201))})` });
    const fromOthers = await get(`${a2.base}/api/logs?limit=1000&service=svc-0`);
    assert.equal(fromOthers.status, 200);
    const tags = new Set(fromOthers.body.logs.map((l: { message: string }) => l.message.split('-')[0]));
    assert.ok(tags.has('t1b') && tags.has('t1c') && tags.has('t1a2'), `the restarted a lists every replica's logs: ${[...tags].join(', ')}`);

    for (const s of [ingest.b, ingest.c, again]) s.stop();
    await Promise.all([ingest.b.done, ingest.c.done, again.done]);
    const failures = [ingest.b, ingest.c, again].flatMap((s) => s.answers.filter((x) => x.status !== 201));
    assert.deepEqual(failures.map((x) => `${x.replica} ${x.status} ${x.detail}`), [], 'b, c and the restarted a answered 201 to every request');

    // Every acknowledged log, a's before its death included, is stored: listed by a survivor, and in the table.
    const acked = new Set([...ingest.a.acked, ...ingest.b.acked, ...ingest.c.acked, ...again.acked]);
    const listed = await listedLogs(b.base);
    const listedSet = new Set(listed.map((l) => l.message));
    assert.equal(listedSet.size, listed.length, 'no log listed twice');
    assert.equal(new Set(listed.map((l) => l.id)).size, listed.length, 'ids unique across replicas and the restart');
    const lostListed = [...acked].filter((m) => !listedSet.has(m));
    assert.deepEqual(lostListed.slice(0, 10), [], `${lostListed.length} of ${acked.size} acknowledged logs not listed by b`);
    const stored = await storedMessages(url);
    const lost = [...acked].filter((m) => !stored.has(m));
    assert.deepEqual(lost.slice(0, 10), [], `${lost.length} of ${acked.size} acknowledged logs not in the database`);
    assert.equal(stored.size, listed.length, 'the listing is the table');
    const [{ n, ids }] = (await sql<{ n: number; ids: number }>(url, 'SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids FROM logsentinel.logs')) as [{ n: number; ids: number }];
    assert.equal(ids, n, 'no id stored twice');
    // Logs of a's requests cut by the kill: stored or not, but whole requests either way.
    const cutMessages = cut.flatMap((x) => x.messages);
    const cutStored = cutMessages.filter((m) => stored.has(m)).length;
    for (const x of cut) {
      const kept = x.messages.filter((m) => stored.has(m)).length;
      assert.ok(kept === 0 || kept === x.messages.length, `a request cut by the kill is stored in part: ${kept} of ${x.messages.length} logs`);
    }

    // The restarted a is one of the cluster again: it says it is up, and its figures are everyone's, exact.
    const seen = await sql<{ seen_at: number }>(url, `SELECT seen_at::float8 AS seen_at FROM logsentinel.replicas WHERE replica = 'a'`);
    assert.ok(seen[0] !== undefined && seen[0].seen_at >= restartAt, 'the restarted a writes its heartbeat');
    let shown: unknown;
    await waitFor(async () => (shown = (await get(`${a2.base}/api/stats`)).body.total_logs) === n, {
      timeoutMs: 10_000,
      intervalMs: 100,
      what: () => `the restarted a to count the ${n} stored logs (shows ${String(shown)})`,
    });

    t.diagnostic(`logs acknowledged: a ${ingest.a.acked.size} (before the SIGKILL), b ${ingest.b.acked.size}, c ${ingest.c.acked.size}, restarted a ${again.acked.size}; stored ${n}; lost 0`);
    t.diagnostic(`requests to a in flight at the kill: ${inFlightAtKill}; cut requests: ${cut.length} holding ${cutMessages.length} logs, ${cutStored} of them stored (committed, unacknowledged)`);
    const survivorMs = [ingest.b, ingest.c].flatMap((s) => s.answers.filter((x) => x.at >= killedAt).map((x) => x.at - x.sentAt));
    t.diagnostic(`ingest on b and c after the kill: ${survivorMs.length} requests, p50 ${quantile(survivorMs, 0.5)} ms, max ${Math.max(...survivorMs)} ms; GET /api/logs on b and c: ${reads.length} reads, max ${Math.max(...reads)} ms`);
    t.diagnostic(`restart of a until /health answers: ${restartMs} ms`);

    await Promise.all([b, c, a2].map(terminate));
  });

  test('SIGKILL of the alert checker: another replica takes the lock within a check interval and notifies a new alert once', { timeout: 60_000 }, async (t) => {
    const arrivals: number[] = [];
    const rx = await startReceiver((_req, res) => {
      arrivals.push(Date.now());
      res.writeHead(200).end();
    });
    try {
      const url = await server.createDatabase();
      const lockClient = new Client({ connectionString: url });
      await lockClient.connect();
      t.after(() => lockClient.end().catch(() => {}));
      const config = writeConfig(url, [
        '  error_rate_threshold: 0.5\n  min_samples: 5\n  high_volume_threshold: 1000000\n  cooldown_seconds: 3600',
        '  check_interval_seconds: 1',
        '  rules:\n    error_rate: true\n    high_volume: false\n    service_down: false',
        `  handlers:\n    log: false\n    webhooks:\n      - url: ${rx.url}/hook\n        timeout_ms: 2000\n        backoff_ms: 10`,
      ]);
      // One config; each replica names itself in the payloads it sends (externalURL), so a notification says who sent it.
      const ids = ['a', 'b', 'c'];
      const replicas = new Map<string, ServerProcess>();
      const started = await Promise.all(ids.map((id) => startReplica(config, id, { EXTERNAL_URL: `http://replica-${id}.invalid` })));
      ids.forEach((id, i) => replicas.set(id, started[i]!));

      // pay fails: its error rate, and that of all services together ('*'), are over the threshold and stay there.
      await sendErrors(replicas.get('b')!.base, 'pay', 10);
      const first = await waitFor(
        () => {
          const seen = notifications(rx, arrivals);
          return seen.length >= 2 && seen;
        },
        { timeoutMs: 10_000, what: () => `pay and * notified: ${JSON.stringify(notifications(rx, arrivals))}` },
      );
      const leader = await waitFor(
        async () => {
          const holders = await lockHolders(lockClient);
          return holders.length === 1 && holders[0]!;
        },
        { timeoutMs: 5_000, what: 'one session holding the alert-check lock' },
      );
      assert.ok(ids.includes(leader), `the lock is held by a replica's alerts session: ${leader}`);
      // Two check intervals: nothing more is notified (cooldown), by the checker or any other.
      await new Promise((r) => setTimeout(r, 2_000));
      const beforeKill = notifications(rx, arrivals);
      assert.deepEqual(beforeKill.map((x) => x.line).sort(), ['firing error_rate *', 'firing error_rate pay'], 'each alert notified once');
      assert.deepEqual([...new Set(beforeKill.map((x) => x.from))], [leader], `notified by the replica holding the lock (${first.map((x) => x.from)})`);

      // The checker dies.
      const killedAt = Date.now();
      replicas.get(leader)!.child.kill('SIGKILL');
      let freedAt: number | undefined;
      const next = await waitFor(
        async () => {
          const holders = await lockHolders(lockClient);
          if (!holders.includes(leader)) freedAt ??= Date.now();
          return holders.length === 1 && holders[0] !== leader && holders[0]!;
        },
        { timeoutMs: 10_000, intervalMs: 10, what: () => `another replica to take the lock from ${leader}` },
      );
      const handoverMs = Date.now() - killedAt;
      assert.equal((await replicas.get(leader)!.exited).signal, 'SIGKILL');
      assert.ok(ids.includes(next) && next !== leader);
      t.diagnostic(`checker ${leader} SIGKILLed; its lock gone ${(freedAt ?? NaN) - killedAt} ms later; ${next} holds the lock ${handoverMs} ms after the kill (check interval 1000 ms)`);
      assert.ok(handoverMs <= 1_000 + 2_000, `handover took ${handoverMs} ms: more than one check interval (1 s) plus 2 s of slack`);

      // A new alert after the kill, its logs sent to a replica that is not the new checker.
      const other = ids.find((id) => id !== leader && id !== next)!;
      const sentAt = Date.now();
      await sendErrors(replicas.get(other)!.base, 'ship', 10);
      const ship = await waitFor(
        () => notifications(rx, arrivals).find((x) => x.line === 'firing error_rate ship'),
        { timeoutMs: 10_000, what: () => `ship notified after the kill: ${JSON.stringify(notifications(rx, arrivals))}` },
      );
      t.diagnostic(`ship's errors sent to ${other}; notified by ${ship.from} ${ship.at - sentAt} ms later`);
      assert.equal(ship.from, next, 'notified by the new checker');
      // Two check intervals: ship once, and pay and * not again (the new checker has the state the dead one left).
      await new Promise((r) => setTimeout(r, 2_000));
      const all = notifications(rx, arrivals);
      assert.deepEqual(
        all.map((x) => x.line).sort(),
        ['firing error_rate *', 'firing error_rate pay', 'firing error_rate ship'],
        `each alert notified exactly once across the handover: ${JSON.stringify(all)}`,
      );
      assert.deepEqual(await lockHolders(lockClient), [next], 'the new checker keeps the lock');

      await Promise.all([...replicas.values()].map(terminate));
    } finally {
      await rx.close();
    }
  });

  test('PostgreSQL stopped mid-ingest: 503 STORAGE_UNAVAILABLE with Retry-After, /health degraded; started again: 201 on every replica with no restart, nothing lost, nothing refused stored', { timeout: 60_000 }, async (t) => {
    const own = await startPostgres();
    t.after(() => own.stop());
    const url = await own.createDatabase();
    const config = writeConfig(url);
    const ids = ['a', 'b', 'c'];
    const replicas = await Promise.all(ids.map((id) => startReplica(config, id)));
    const ingest = replicas.map((r, i) => new Ingest(ids[i]!, r.base, 2, `t3${ids[i]}`));
    t.after(() => ingest.forEach((s) => s.stop()));
    const answers = (): Answer[] => ingest.flatMap((s) => s.answers);
    await waitFor(() => ingest.every((s) => s.acked.size >= 100), {
      timeoutMs: 20_000,
      what: () => `100 logs acknowledged by each replica (have ${ingest.map((s) => s.acked.size)}; ${describeAnswers(answers().filter((x) => x.status !== 201))})`,
    });

    // The database goes away (a clean, fast shutdown: sessions are ended, nothing committed is lost).
    const stopAt = Date.now();
    await own.stopServer('fast');
    const stoppedAt = Date.now();
    // Every replica refuses, quickly, and says so on /health.
    const health = new Map<string, any>();
    await waitFor(
      async () => {
        for (const [i, r] of replicas.entries()) {
          if (health.has(ids[i]!)) continue;
          const h = await get(`${r.base}/health`);
          if (h.status === 503 && h.body.status === 'degraded') health.set(ids[i]!, h.body);
        }
        // Down long enough for every client to meet it many times over.
        return Date.now() - stoppedAt >= 2_000 && ingest.every((s) => s.answers.filter((x) => x.status === 503 && x.sentAt >= stoppedAt).length >= 10) && health.size === ids.length;
      },
      {
        timeoutMs: 10_000,
        intervalMs: 50,
        what: () => `10 refusals on each replica after the stop and /health degraded (503s: ${ingest.map((s) => s.refused.size)}; degraded: ${[...health.keys()]}; other answers: ${describeAnswers(answers().filter((x) => x.status !== 201 && x.status !== 503))})`,
      },
    );
    for (const [id, h] of health) {
      assert.equal(h.storage.engine, 'postgres', id);
      assert.equal(h.storage.status, 'failing', id);
      assert.equal(typeof h.storage.error, 'string', id);
      assert.ok(!h.storage.error.includes('postgres://'), `/health names no database URL: ${h.storage.error}`);
    }
    // Reads too are refused as unavailable, not as an internal error.
    for (const r of replicas) {
      const res = await get(`${r.base}/api/logs?limit=5`);
      assert.equal(res.status, 503, `GET /api/logs while the database is down: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, 'STORAGE_UNAVAILABLE');
      assert.match(res.retryAfter ?? '', /^\d+$/);
    }

    // The database comes back.
    const startAt = Date.now();
    await own.startServer();
    const upAt = Date.now();
    const recovered = await waitFor(
      () => {
        const firsts = ingest.map((s) => s.answers.find((x) => x.status === 201 && x.sentAt >= upAt));
        return firsts.every((x) => x !== undefined) && firsts.map((x) => x!.at - upAt);
      },
      { timeoutMs: 10_000, what: () => `a 201 on every replica after the database came back (answers since: ${describeAnswers(answers().filter((x) => x.sentAt >= upAt))})` },
    );
    const healthy = await Promise.all(
      replicas.map((r) =>
        waitFor(async () => {
          const h = await get(`${r.base}/health`);
          return h.status === 200 && h.body.status === 'healthy' && h.body.storage.status === 'ok' && { ms: Date.now() - upAt };
        }, { timeoutMs: 10_000, intervalMs: 50, what: `${r.base}/health healthy again` }),
      ),
    );
    const upAgain = Date.now();
    await waitFor(() => ingest.every((s) => s.ackedSince(upAgain) >= 50), { timeoutMs: 10_000, what: () => `50 more logs acknowledged by each replica after the recovery (have ${ingest.map((s) => s.ackedSince(upAgain))})` });
    ingest.forEach((s) => s.stop());
    await Promise.all(ingest.map((s) => s.done));
    for (const r of replicas) assert.equal(r.child.exitCode, null, 'no replica restarted or exited');

    const all = answers();
    const unexpected = all.filter((x) => x.status !== 201 && x.status !== 503);
    assert.deepEqual(unexpected.map((x) => `${x.replica} ${x.status} ${x.detail}`), [], 'every request answered 201 or 503, never 500, never cut');
    const refusals = all.filter((x) => x.status === 503);
    const badRefusals = refusals.filter((x) => x.code !== 'STORAGE_UNAVAILABLE' || !/^\d+$/.test(x.retryAfter ?? ''));
    assert.deepEqual(badRefusals.map((x) => `${x.code} retry-after=${x.retryAfter} ${x.detail}`), [], 'every 503 is STORAGE_UNAVAILABLE with a Retry-After');
    assert.deepEqual(refusals.filter((x) => x.at < stopAt).map((x) => x.detail), [], 'no refusal before the database stopped');
    const latencies = all.map((x) => x.at - x.sentAt);
    const slowest = Math.max(...latencies);
    const outage = all.filter((x) => x.sentAt >= stopAt && x.sentAt < upAt).map((x) => x.at - x.sentAt);
    assert.ok(slowest <= 5_000, `the slowest ingest answer took ${slowest} ms`);

    const stored = await storedMessages(url);
    const acked = new Set(ingest.flatMap((s) => [...s.acked]));
    const refused = new Set(ingest.flatMap((s) => [...s.refused]));
    const lost = [...acked].filter((m) => !stored.has(m));
    assert.deepEqual(lost.slice(0, 10), [], `${lost.length} of ${acked.size} acknowledged logs not in the database`);
    const storedAnyway = [...refused].filter((m) => stored.has(m));
    assert.deepEqual(storedAnyway.slice(0, 10), [], `${storedAnyway.length} of ${refused.size} logs answered 503 are in the database anyway`);
    const listed = await listedLogs(replicas[0]!.base);
    assert.equal(listed.length, stored.size, 'a replica lists every stored log after the recovery');

    t.diagnostic(`pg_ctl stop -m fast took ${stoppedAt - stopAt} ms; the database was down ${upAt - stoppedAt} ms; pg_ctl start took ${upAt - startAt} ms`);
    t.diagnostic(
      `503 answers per replica: ${ingest.map((s) => `${s.replica} ${s.answers.filter((x) => x.status === 503).length}`).join(', ')} (${refused.size} logs refused); 201: ${acked.size} logs; stored ${stored.size}`,
    );
    t.diagnostic(`ingest latency while down: p50 ${quantile(outage, 0.5)} ms, p99 ${quantile(outage, 0.99)} ms, max ${Math.max(...outage)} ms; slowest answer overall ${slowest} ms`);
    t.diagnostic(`first 201 after pg_ctl start returned: ${recovered.map((ms, i) => `${ids[i]} ${ms} ms`).join(', ')}; /health healthy: ${healthy.map((h, i) => `${ids[i]} ${h.ms} ms`).join(', ')}`);
    t.diagnostic(`/health while down: ${[...health.values()].map((h) => h.storage.error)[0]}`);

    await Promise.all(replicas.map(terminate));
  });
});

/**
 * One replica whose database stops and comes back while no client sends it anything, or
 * freezes (alive, connected, silent: what a network partition looks like).
 */
describe('a replica process and its PostgreSQL stopped or frozen', { skip }, () => {
  let own: PgServer;
  let url: string;
  let replica: ServerProcess;
  before(async () => {
    own = await startPostgres();
    url = await own.createDatabase();
    replica = await startReplica(writeConfig(url), 'solo');
  });
  after(async () => {
    if (replica) await terminate(replica).catch(() => {});
    await own?.stop();
  });

  async function postOne(timeoutMs = REQUEST_TIMEOUT_MS): Promise<{ status: number; ms: number; code?: string }> {
    const started = Date.now();
    try {
      const res = await fetch(`${replica.base}/api/logs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ timestamp: new Date().toISOString(), level: 'INFO', service: 'probe', message: `probe ${started}` }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = (await res.json()) as { code?: string };
      return { status: res.status, ms: Date.now() - started, code: body.code };
    } catch {
      return { status: 0, ms: Date.now() - started };
    }
  }

  test('an idle replica: /health is healthy again within seconds of PostgreSQL coming back, with no ingest to clear it', { timeout: 30_000 }, async (t) => {
    assert.equal((await postOne()).status, 201);
    await own.stopServer('fast');
    const refused = await postOne();
    assert.equal(refused.status, 503);
    assert.equal((await get(`${replica.base}/health`)).body.status, 'degraded');
    await own.startServer();
    const upAt = Date.now();
    // No ingest to this replica (a load balancer that reads /health sends it none, and clients wait out Retry-After).
    let health = await get(`${replica.base}/health`);
    while (health.status !== 200 && Date.now() - upAt < 3_000) {
      await new Promise((r) => setTimeout(r, 100));
      health = await get(`${replica.base}/health`);
    }
    const [beat] = await sql<{ seen_at: number }>(url, `SELECT seen_at::float8 AS seen_at FROM logsentinel.replicas WHERE replica = 'solo'`);
    t.diagnostic(`${Date.now() - upAt} ms after the database came back, with no ingest: /health ${health.status} ${health.body.status}; heartbeat written ${beat ? beat.seen_at - upAt : NaN} ms after it came back`);
    assert.ok(beat !== undefined && beat.seen_at > upAt, 'the replica writes to the database again (its heartbeat, every second)');
    // A load balancer reading /health sends a degraded replica nothing: only a write that needs no client may clear it.
    assert.equal(health.status, 200, `/health still ${health.body.status} (${health.body.storage?.error}) ${Date.now() - upAt} ms after the database came back, with the heartbeat written`);
  });

  test('a frozen PostgreSQL (its processes SIGSTOPped): ingest answers 503 STORAGE_TIMEOUT within seconds, /health turns degraded, and both recover', { timeout: 60_000 }, async (t) => {
    // The database up: a write goes through.
    await waitFor(async () => (await postOne()).status === 201, { timeoutMs: 10_000, intervalMs: 100, what: 'a 201 with the database up' });
    const frozen = postgresProcesses(own);
    for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    try {
      // Alive, connected and silent, as behind a network partition: the server stops waiting after its query timeout (5 s).
      const answer = await postOne(15_000);
      t.diagnostic(`POST /api/logs with the database frozen: ${answer.status === 0 ? 'no answer' : answer.status} ${answer.code ?? ''} after ${answer.ms} ms`);
      assert.equal(answer.status, 503, 'an answer, not a hang');
      assert.ok(answer.ms < 8_000, `answered in ${answer.ms} ms`);
      // The write reached the database before it froze: whether it lands is unknown, and the answer says so.
      assert.equal(answer.code, 'STORAGE_TIMEOUT');
      const started = Date.now();
      let health = await get(`${replica.base}/health`);
      while (health.body.status !== 'degraded' && Date.now() - started < 10_000) {
        await new Promise((r) => setTimeout(r, 200));
        health = await get(`${replica.base}/health`);
      }
      t.diagnostic(`/health ${health.body.status} ${Date.now() - started} ms later (${health.body.storage?.error})`);
      assert.equal(health.body.status, 'degraded');
    } finally {
      for (const pid of frozen) process.kill(pid, 'SIGCONT');
    }
    await waitFor(async () => (await postOne()).status === 201, { timeoutMs: 15_000, intervalMs: 200, what: 'a 201 once the database answers again' });
    await waitFor(async () => (await get(`${replica.base}/health`)).status === 200, { timeoutMs: 10_000, intervalMs: 200, what: '/health healthy again' });
  });
});
