/**
 * Load from this process with autocannon: a warm-up run, then the measured run, both bounded
 * in time. Latency percentiles come from autocannon's own per-response timings (hrtime,
 * sub-millisecond) rather than its histogram, which keeps whole milliseconds only. Any answer
 * other than the expected status, any socket error or timeout fails the run.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { CONTENT_TYPE, encode, logStream, type BodySet } from './data.js';
import { LOAD_CPU, pinning, SERVER_CPU } from './machine.js';

export interface LoadSpec {
  name: string;
  url: string;
  path: string;
  method: 'GET' | 'POST';
  /** POST bodies, sent in turn on each connection. */
  bodies?: BodySet;
  connections: number;
  seconds: number;
  warmupSeconds: number;
  expectStatus: number;
  /** The process under load, to report how busy it was (Linux /proc only). */
  pid?: number;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  /** Requests answered per second. */
  rps: number;
  /** rps times logs per request, for ingest. */
  logsPerSec: number | null;
  /** Request bytes sent per second, for ingest. */
  bytesPerSec: number | null;
  p50: number;
  p99: number;
  max: number;
  connections: number;
  /** CPU time of the process under load over wall time during the measured run (1 = one core busy); null without /proc. */
  serverCpu: number | null;
  /** Busy time of the server's CPU not spent by the server (other processes, interrupts, steal), over wall time; null unpinned. */
  serverOther: number | null;
  /** The same two for this process, the load generator, and its CPU. */
  loadCpu: number | null;
  loadOther: number | null;
}

let clockTicks: number | undefined;
const ticks = (): number => (clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100);

/** CPU seconds a process has used (user + system, all threads), from /proc/<pid>/stat; null without /proc. */
function processSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticks();
  } catch {
    return null;
  }
}

/** Busy seconds of one CPU (user, nice, system, irq, softirq, steal), from /proc/stat; null without /proc. */
function cpuBusySeconds(cpu: number): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${cpu} `));
    if (line === undefined) return null;
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return (user! + nice! + system! + irq! + softirq! + (steal ?? 0)) / ticks();
  } catch {
    return null;
  }
}

interface Usage {
  server: number | null;
  self: number | null;
  serverCpu: number | null;
  loadCpu: number | null;
}

function usage(pid: number | undefined): Usage {
  const pin = pinning();
  return {
    server: pid === undefined ? null : processSeconds(pid),
    self: processSeconds(process.pid),
    serverCpu: pin.server ? cpuBusySeconds(SERVER_CPU) : null,
    loadCpu: pin.self ? cpuBusySeconds(LOAD_CPU) : null,
  };
}

const delta = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : b - a);
const share = (d: number | null, wall: number): number | null => (d === null ? null : Math.max(0, d / wall));
const other = (busy: number | null, own: number | null, wall: number): number | null => (busy === null || own === null ? null : Math.max(0, (busy - own) / wall));

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

interface Pass {
  result: autocannon.Result;
  statuses: Map<number, number>;
  latencies: number[];
}

function pass(spec: LoadSpec, seconds: number): Promise<Pass> {
  const headers = spec.bodies ? { 'content-type': CONTENT_TYPE[spec.bodies.format] } : undefined;
  const requests: autocannon.Request[] = spec.bodies
    ? spec.bodies.bodies.map((body) => ({ method: spec.method, path: spec.path, headers, body }))
    : [{ method: spec.method, path: spec.path }];
  const statuses = new Map<number, number>();
  const latencies: number[] = [];
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      { url: spec.url, connections: spec.connections, pipelining: 1, duration: seconds, timeout: 30, requests },
      (err, result) => (err ? reject(err) : resolve({ result, statuses, latencies })),
    );
    instance.on('response', (_client, status, _bytes, responseTime) => {
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (status === spec.expectStatus) latencies.push(responseTime);
    });
  });
}

/** What one failing request answers, to make a failure readable. */
async function sampleFailure(spec: LoadSpec): Promise<string> {
  try {
    const res = await fetch(`${spec.url}${spec.path}`, {
      method: spec.method,
      headers: spec.bodies ? { 'content-type': CONTENT_TYPE[spec.bodies.format] } : {},
      body: spec.bodies?.bodies[0],
      signal: AbortSignal.timeout(10_000),
    });
    return `a sample request answered ${res.status}: ${(await res.text()).slice(0, 300)}`;
  } catch (e) {
    return `a sample request failed: ${(e as Error).message}`;
  }
}

async function check(spec: LoadSpec, p: Pass, phase: string): Promise<void> {
  const wrong = [...p.statuses].filter(([s]) => s !== spec.expectStatus);
  if (wrong.length > 0 || p.result.errors > 0 || p.result.timeouts > 0) {
    const codes = wrong.map(([s, n]) => `${n} × ${s}`).join(', ');
    throw new Error(
      `${spec.name} (${phase}): expected only ${spec.expectStatus}; got ${codes || 'no other statuses'}, ${p.result.errors} socket errors, ${p.result.timeouts} timeouts; ${await sampleFailure(spec)}`,
    );
  }
  if ((p.statuses.get(spec.expectStatus) ?? 0) === 0) throw new Error(`${spec.name} (${phase}): no request completed`);
}

export async function measure(spec: LoadSpec): Promise<LoadResult> {
  if (spec.warmupSeconds > 0) await check(spec, await pass(spec, spec.warmupSeconds), 'warm-up');
  const u0 = usage(spec.pid);
  const wall0 = performance.now();
  const p = await pass(spec, spec.seconds);
  const wall = (performance.now() - wall0) / 1000;
  const u1 = usage(spec.pid);
  const server = delta(u0.server, u1.server);
  const self = delta(u0.self, u1.self);
  await check(spec, p, 'measured run');
  const done = p.statuses.get(spec.expectStatus)!;
  const seconds = p.result.duration;
  const sorted = Float64Array.from(p.latencies).sort();
  const rps = done / seconds;
  const perBody = spec.bodies?.logsPerBody;
  return {
    requests: done,
    seconds,
    rps,
    logsPerSec: perBody === undefined ? null : rps * perBody,
    bytesPerSec: spec.bodies ? rps * perBody! * spec.bodies.bytesPerLog : null,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    max: sorted[sorted.length - 1]!,
    connections: spec.connections,
    serverCpu: share(server, wall),
    serverOther: other(delta(u0.serverCpu, u1.serverCpu), server, wall),
    loadCpu: share(self, wall),
    loadOther: other(delta(u0.loadCpu, u1.loadCpu), self, wall),
  };
}

export interface FillResult {
  logs: number;
  seconds: number;
  logsPerSec: number;
}

/**
 * Ingests `count` distinct realistic logs as 1000-log JSON arrays, `concurrency` requests in
 * flight; bodies are generated as it goes (on this process's CPU), so nothing large is held.
 */
export async function fill(url: string, count: number, o: { seed: number; spreadMs: number; timeoutMs: number; concurrency?: number; perBody?: number }): Promise<FillResult> {
  const next = logStream(o.seed, Date.now(), o.spreadMs);
  const perBody = o.perBody ?? 1000;
  const t0 = performance.now();
  const deadline = t0 + o.timeoutMs;
  let queued = 0;
  const worker = async (): Promise<void> => {
    while (queued < count) {
      if (performance.now() > deadline) throw new Error(`filling ${count} logs took longer than ${o.timeoutMs / 1000} s (${queued} sent)`);
      const n = Math.min(perBody, count - queued);
      queued += n;
      const body = encode(Array.from({ length: n }, next), 'json');
      const res = await fetch(`${url}/api/logs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(60_000),
      });
      const text = await res.text();
      if (res.status !== 201) throw new Error(`fill: ${res.status} ${text.slice(0, 300)}`);
      const accepted = (JSON.parse(text) as { accepted?: number }).accepted;
      if (accepted !== n) throw new Error(`fill: ${n} logs sent, ${String(accepted)} accepted`);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 4 }, worker));
  const seconds = (performance.now() - t0) / 1000;
  return { logs: count, seconds, logsPerSec: count / seconds };
}
