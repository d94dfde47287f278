/**
 * A slow, failing webhook receiver on 127.0.0.1 for the soak run. Every request waits a random
 * delay, then gets one of four fates: 200, 500, a dropped connection (the socket destroyed
 * without an answer), or a hang longer than the sender's timeout. It counts everything it
 * gets, checks each body is an Alertmanager (version 4) payload, and records how many
 * deliveries were in flight at once (the server promises one at a time per webhook).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { seededRandom } from '../../server/core/simulator.js';

export interface ReceiverOptions {
  seed: number;
  /** Delay before the fate, uniform in [minDelayMs, maxDelayMs]. */
  minDelayMs: number;
  maxDelayMs: number;
  /** Shares of requests answered 500, dropped, and hung for `hangMs`; the rest get 200. */
  failShare: number;
  dropShare: number;
  hangShare: number;
  hangMs: number;
}

export interface ReceiverCounts {
  /** Requests whose body arrived. */
  requests: number;
  answered200: number;
  answered500: number;
  /** Connections destroyed on purpose, without an answer. */
  dropped: number;
  /** Requests held past the sender's timeout. */
  hung: number;
  /** Requests the sender gave up on (closed the connection) before they were answered. */
  senderGaveUp: number;
  /** Bodies that were not an Alertmanager version 4 payload with one alert. */
  badPayload: number;
  firing: number;
  resolved: number;
  /** Notifications per rule, from the payload's labels. */
  perRule: Record<string, number>;
  distinctFingerprints: number;
  /** Most requests in flight at once. */
  maxConcurrent: number;
  bodyBytes: number;
  /** For resolved payloads: seconds from the resolution (endsAt) to the arrival here, median and max. */
  resolvedLagMedianS: number | null;
  resolvedLagMaxS: number | null;
}

export interface Receiver {
  url: string;
  counts(): ReceiverCounts;
  close(): Promise<void>;
}

export async function startReceiver(o: ReceiverOptions): Promise<Receiver> {
  const random = seededRandom(o.seed);
  const timers = new Set<NodeJS.Timeout>();
  const fingerprints = new Set<string>();
  const lags: number[] = [];
  const c: Omit<ReceiverCounts, 'distinctFingerprints' | 'resolvedLagMedianS' | 'resolvedLagMaxS'> = {
    requests: 0,
    answered200: 0,
    answered500: 0,
    dropped: 0,
    hung: 0,
    senderGaveUp: 0,
    badPayload: 0,
    firing: 0,
    resolved: 0,
    perRule: {},
    maxConcurrent: 0,
    bodyBytes: 0,
  };
  let inFlight = 0;

  const later = (ms: number, f: () => void): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      f();
    }, ms);
    timers.add(timer);
  };

  const inspect = (body: Buffer): void => {
    c.bodyBytes += body.length;
    try {
      const p = JSON.parse(body.toString('utf8')) as {
        version?: unknown;
        status?: unknown;
        alerts?: { fingerprint?: unknown; endsAt?: unknown; labels?: { rule?: unknown } }[];
      };
      const alert = Array.isArray(p.alerts) && p.alerts.length === 1 ? p.alerts[0] : undefined;
      if (p.version !== '4' || (p.status !== 'firing' && p.status !== 'resolved') || typeof alert?.fingerprint !== 'string') {
        c.badPayload++;
        return;
      }
      if (p.status === 'firing') c.firing++;
      else {
        c.resolved++;
        const ended = typeof alert.endsAt === 'string' ? Date.parse(alert.endsAt) : NaN;
        if (Number.isFinite(ended)) lags.push((Date.now() - ended) / 1000);
      }
      fingerprints.add(alert.fingerprint);
      const rule = typeof alert.labels?.rule === 'string' ? alert.labels.rule : '?';
      c.perRule[rule] = (c.perRule[rule] ?? 0) + 1;
    } catch {
      c.badPayload++;
    }
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    inFlight++;
    c.maxConcurrent = Math.max(c.maxConcurrent, inFlight);
    let answered = false;
    res.once('close', () => {
      inFlight--;
      if (!answered) c.senderGaveUp++;
    });
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      c.requests++;
      inspect(Buffer.concat(chunks));
      const delay = o.minDelayMs + random() * (o.maxDelayMs - o.minDelayMs);
      const r = random();
      const answer = (status: number): void => {
        if (res.destroyed || res.writableEnded) return;
        answered = true;
        if (status === 200) c.answered200++;
        else c.answered500++;
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end(status === 200 ? 'ok' : 'receiver failing on purpose');
      };
      if (r < o.dropShare) {
        later(delay, () => {
          if (res.destroyed) return;
          answered = true;
          c.dropped++;
          req.socket.destroy();
        });
      } else if (r < o.dropShare + o.failShare) {
        later(delay, () => answer(500));
      } else if (r < o.dropShare + o.failShare + o.hangShare) {
        c.hung++;
        later(o.hangMs, () => answer(200));
      } else {
        later(delay, () => answer(200));
      }
    });
  };

  const server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    counts: () => {
      const sorted = [...lags].sort((x, y) => x - y);
      return {
        ...c,
        perRule: { ...c.perRule },
        distinctFingerprints: fingerprints.size,
        resolvedLagMedianS: sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)]! : null,
        resolvedLagMaxS: sorted.length ? sorted[sorted.length - 1]! : null,
      };
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
