import { AppError } from './errors.js';
import { toView, type LogSink, type StoredLog } from './log.js';
import { LogFilter, type LogFilterFields } from './log-filter.js';
import type { RecentLogs } from './recent-logs.js';
import type { Clock } from './time.js';

/** The filters of GET /api/logs that make sense for logs yet to come: everything but paging. */
export type TailFilters = LogFilterFields;

/** Where a tail's events go: the HTTP response, or anything with the same two calls. */
export interface TailWriter {
  /** Hands a chunk over; false when the peer is backed up, until the adapter calls `Tail.drained()`. */
  write(chunk: string): boolean;
  /** Hands over a last chunk and ends the stream. */
  end(chunk: string): void;
}

export interface TailRequest {
  filters: TailFilters;
  writer: TailWriter;
  /** A resume (the SSE `Last-Event-ID`): every buffered match with a greater id goes first, so nothing is missed. */
  lastEventId?: number;
  /** A fresh tail: the newest this many buffered matches go first. Not used on a resume. */
  limit?: number;
  /**
   * A backlog read from elsewhere (a store other servers write too), oldest first, in place of
   * the buffer's: live matches wait until it is in, and those it holds already are not sent twice.
   */
  backlog?: Promise<StoredLog[]>;
}

/** One open tail, as the HTTP adapter drives it. */
export interface Tail {
  /** The writer can take more (the socket's 'drain'). */
  drained(): void;
  /** The client went away: forget it at once. */
  close(): void;
}

/** Counters for /metrics and /health. */
export interface TailStats {
  /** Tails open now. */
  active: number;
  /** Tails opened since start. */
  opened: number;
  /** Tails refused because `tail.max_clients` were open. */
  refused: number;
  /** Tails dropped for reading too slowly. */
  dropped: number;
  /** Log events handed to writers. */
  events: number;
  /** When the last drop happened (epoch ms), null before the first. */
  last_drop_at: number | null;
}

/** Repeats `fn` every `ms`; returns what stops it. */
export type Every = (ms: number, fn: () => void) => () => void;

/** An interval that never keeps the process alive on its own. */
export const unrefEvery: Every = (ms, fn) => {
  const timer = setInterval(fn, ms);
  timer.unref();
  return () => clearInterval(timer);
};

export interface TailHubOptions {
  /** Concurrent tails; 0 turns tailing off. */
  maxClients: number;
  /** Events a tail may have waiting for a backed-up writer before it is dropped. */
  maxPendingEvents: number;
  heartbeatMs: number;
  /** Where the backlog of a new tail comes from: the recent-logs buffer. */
  recent: Pick<RecentLogs, 'query' | 'arrivedAfter'>;
  /** The last id the server assigned: a Last-Event-ID above it was sent by a previous, non-persistent run. */
  lastAssignedId: () => number;
  now: Clock;
  every?: Every;
}

/** Seconds a client refused for the cap is asked to wait: a slot frees only when another tail ends. */
const BUSY_RETRY_SECONDS = 10;

export const HEARTBEAT = ': ping\n\n';

/** One log as an SSE event: the id EventSource resumes from, and GET /api/logs's JSON view. */
export function logEvent(log: StoredLog): string {
  return `id: ${log.id}\nevent: log\ndata: ${JSON.stringify(toView(log))}\n\n`;
}

/**
 * Marks the end of the backlog, even an empty one: what came before it is history, what comes
 * after is live. A client replacing its view with a fresh tail can swap at once on it.
 */
function readyEvent(backlog: number): string {
  return `event: ready\ndata: ${JSON.stringify({ backlog })}\n\n`;
}

/** A last event: no `id:` line, so the client's resume point stays the last log it got. */
function finalEvent(event: 'dropped' | 'closing', data: Record<string, unknown>): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * Live tails of accepted logs. A sink of the ingest pipeline: each accepted batch is matched
 * against every open tail's filter (core/log-filter.ts, the meaning GET /api/logs uses) and written out.
 *
 * A writer that cannot keep up is not buffered without bound: while it is backed up, its
 * matches wait here as references (no copy, no rendering), and past `maxPendingEvents` it
 * gets a final `dropped` event and is ended. With no tail open, a batch costs one check.
 */
export class TailHub implements LogSink {
  private readonly tails = new Set<Subscriber>();
  private readonly every: Every;
  private shut = false;
  private readonly counts = { opened: 0, refused: 0, dropped: 0, events: 0, lastDropAt: null as number | null };
  private readonly link: HubLink;

  constructor(private readonly opts: TailHubOptions) {
    this.every = opts.every ?? unrefEvery;
    this.link = {
      maxPending: opts.maxPendingEvents,
      sent: () => this.counts.events++,
      overflow: (sub, pending) => this.drop(sub, pending),
      closed: (sub) => this.tails.delete(sub),
    };
  }

  get enabled(): boolean {
    return this.opts.maxClients > 0;
  }

  /** 404 when tailing is off (`tail.max_clients` 0). */
  requireEnabled(): void {
    if (!this.enabled) {
      throw new AppError(404, 'TAIL_DISABLED', 'live tailing is off on this server (tail.max_clients is 0); poll GET /api/logs instead, or set tail.max_clients above 0');
    }
  }

  /** Refuses a tail that could not be opened now: tailing off (404), shutting down (503), the cap reached (429). */
  admit(): void {
    this.requireEnabled();
    const { maxClients } = this.opts;
    if (this.shut) {
      throw new AppError(503, 'SHUTTING_DOWN', 'the server is shutting down; reconnect in a few seconds', { 'retry-after': '5' });
    }
    if (this.tails.size >= maxClients) {
      this.counts.refused++;
      throw new AppError(
        429,
        'TAIL_LIMIT',
        `${maxClients} live tails are open, the most this server allows (tail.max_clients); close one or retry after ${BUSY_RETRY_SECONDS} s, or raise tail.max_clients in the server config`,
        { 'retry-after': String(BUSY_RETRY_SECONDS) },
      );
    }
  }

  /** Opens a tail: its backlog first (resume or `limit`), then every new match. Throws as `admit` does. */
  open(req: TailRequest): Tail {
    this.admit();
    const filter = new LogFilter(req.filters);
    const sub = new Subscriber(this.link, req.writer, (log) => filter.matches(log), req.backlog ? [] : this.backlog(req));
    this.tails.add(sub);
    this.counts.opened++;
    sub.stopHeartbeat = this.every(this.opts.heartbeatMs, () => sub.heartbeat());
    if (req.backlog) sub.awaitBacklog(req.backlog);
    else sub.pump();
    return sub;
  }

  /**
   * What a tail starts with. Fresh: the newest `limit` buffered matches in listing order (by
   * event time), sent oldest first. Resumed: every buffered match that arrived after the last
   * event it had, in arrival order, as the live events come.
   */
  private backlog(req: TailRequest): StoredLog[] {
    const { recent } = this.opts;
    if (req.lastEventId === undefined) {
      if (!req.limit) return [];
      return recent.query({ ...req.filters, limit: req.limit }).logs.reverse();
    }
    // Ids above any assigned come from before a restart without persistence, which numbered
    // from 1 again: everything buffered since is what the client missed.
    const after = req.lastEventId > this.opts.lastAssignedId() ? 0 : req.lastEventId;
    return recent.arrivedAfter(after, req.filters);
  }

  append(logs: readonly StoredLog[]): void {
    if (this.tails.size === 0) return;
    // Rendered once per batch, however many tails match.
    let rendered: Map<StoredLog, string> | undefined;
    const render = (log: StoredLog): string => {
      rendered ??= new Map();
      let text = rendered.get(log);
      if (text === undefined) rendered.set(log, (text = logEvent(log)));
      return text;
    };
    for (const sub of this.tails) {
      for (const log of logs) {
        if (sub.match(log)) sub.push(log, render);
        if (!sub.open) break;
      }
    }
  }

  /** Ends every tail with a `closing` event (shutdown); new tails are refused from now on. */
  closeAll(): void {
    this.shut = true;
    for (const sub of this.tails) {
      sub.finish(finalEvent('closing', { reason: 'the server is shutting down; reconnect with Last-Event-ID to resume', last_id: sub.lastId }));
    }
  }

  stats(): TailStats {
    const c = this.counts;
    return { active: this.tails.size, opened: c.opened, refused: c.refused, dropped: c.dropped, events: c.events, last_drop_at: c.lastDropAt };
  }

  private drop(sub: Subscriber, pending: number): void {
    this.counts.dropped++;
    this.counts.lastDropAt = this.opts.now();
    sub.finish(
      finalEvent('dropped', {
        reason: `this client read too slowly: more than ${this.opts.maxPendingEvents} events were waiting to be sent (tail.max_pending_events); reconnect with Last-Event-ID to resume`,
        last_id: sub.lastId,
        pending,
      }),
    );
  }
}

/** What a subscriber tells its hub. */
interface HubLink {
  readonly maxPending: number;
  sent(): void;
  overflow(sub: Subscriber, pending: number): void;
  closed(sub: Subscriber): void;
}

/**
 * One tail's state. Events go straight to the writer while it takes them; once it is backed
 * up they wait (the backlog, its `ready` marker, then live matches) until it drains.
 */
class Subscriber implements Tail {
  open = true;
  /** Id of the last log event handed to the writer; null before the first. */
  lastId: number | null = null;
  stopHeartbeat: () => void = () => {};
  private backedUp = false;
  private backlogAt = 0;
  /** The `ready` event, until it is written after the backlog. */
  private ready: string | undefined;
  /** Live matches waiting for the writer, from `queueAt` on. */
  private queue: StoredLog[] = [];
  private queueAt = 0;
  /** The backlog is still being read: everything waits for it. */
  private awaiting = false;

  constructor(
    private readonly hub: HubLink,
    private readonly writer: TailWriter,
    readonly match: (log: StoredLog) => boolean,
    /** The backlog: it is bounded by the buffer and does not count as pending. */
    private backlog: StoredLog[],
  ) {
    this.ready = readyEvent(backlog.length);
  }

  /** Nothing waits: a new match can go straight out. */
  private get idle(): boolean {
    return !this.awaiting && this.ready === undefined && this.queueAt === this.queue.length;
  }

  /** Holds live matches until `backlog` is read; then sends it, `ready`, and the matches it does not hold. */
  awaitBacklog(backlog: Promise<StoredLog[]>): void {
    this.awaiting = true;
    backlog.then(
      (logs) => {
        if (!this.open) return;
        const held = new Set(logs.map((l) => l.id));
        this.queue = this.queue.slice(this.queueAt).filter((l) => !held.has(l.id));
        this.queueAt = 0;
        this.backlog = logs;
        this.ready = readyEvent(logs.length);
        this.awaiting = false;
        this.pump();
      },
      () => this.finish(finalEvent('closing', { reason: 'the log database cannot be read right now; reconnect in a few seconds', last_id: null })),
    );
  }

  push(log: StoredLog, render: (log: StoredLog) => string): void {
    if (!this.backedUp && this.idle) {
      this.send(log, render(log));
      return;
    }
    this.queue.push(log);
    const pending = this.queue.length - this.queueAt;
    if (pending > this.hub.maxPending) this.hub.overflow(this, pending);
  }

  /** Writes what waits until the writer backs up or nothing is left. */
  pump(): void {
    while (this.open && !this.backedUp && !this.awaiting) {
      if (this.backlogAt < this.backlog.length) {
        const log = this.backlog[this.backlogAt++]!;
        this.send(log, logEvent(log));
      } else if (this.ready !== undefined) {
        const ready = this.ready;
        this.ready = undefined;
        this.backlog = [];
        this.backlogAt = 0;
        if (!this.writer.write(ready)) this.backedUp = true;
      } else if (this.queueAt < this.queue.length) {
        const log = this.queue[this.queueAt++]!;
        this.send(log, logEvent(log));
      } else break;
    }
    if (this.queueAt === this.queue.length && this.queue.length > 0) {
      this.queue = [];
      this.queueAt = 0;
    }
  }

  private send(log: StoredLog, text: string): void {
    this.lastId = log.id;
    this.hub.sent();
    if (!this.writer.write(text)) this.backedUp = true;
  }

  drained(): void {
    this.backedUp = false;
    this.pump();
  }

  heartbeat(): void {
    // A backed-up writer has bytes on the way already; a ping would only add to them.
    if (this.open && !this.backedUp && !this.writer.write(HEARTBEAT)) this.backedUp = true;
  }

  /** Ends with a last event and forgets the tail. */
  finish(last: string): void {
    if (!this.open) return;
    this.close();
    this.writer.end(last);
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.stopHeartbeat();
    this.hub.closed(this);
    this.backlog = [];
    this.queue = [];
  }
}
