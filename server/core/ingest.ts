import { AppError } from './errors.js';
import type { IdBlocks } from './id-blocks.js';
import { IngestCounts } from './ingest-counts.js';
import { OTHER, type KeyCap } from './key-cap.js';
import { LEVELS, StoredLog, levelIndex, type LogInput, type LogSink } from './log.js';
import type { RecentLogs } from './recent-logs.js';
import type { RawBatch } from './repository.js';
import type { Clock } from './time.js';
import type { LogValidator, Problem, ValidationStats } from './validation.js';

/** An NDJSON line that was not JSON: it takes its place in the batch and is rejected there. */
export class UnparseableLine {
  constructor(
    readonly line: number,
    readonly reason: string,
  ) {}
}

/**
 * An item a protocol adapter could not map to a log (a Loki timestamp that is not a number, an
 * OTLP record without a body): it takes its place in the batch and is rejected there with
 * `message`, so it is counted and reported like any other invalid log.
 */
export class UnmappableItem {
  constructor(readonly message: string) {}
}

export interface RejectedItem {
  index: number;
  errors: string[];
}

export interface IngestResult {
  accepted: number;
  rejected: RejectedItem[];
}

export interface IngestContext {
  /** The name of the door the batch came in by, which metrics count under; `api` when not given. */
  protocol?: string;
  /** The only service the caller may ship logs for; undefined when any service is allowed. */
  boundService?: string;
  /**
   * The bytes the items were parsed from, item for item: the durable tier keeps them as they
   * are when every item is accepted, and the recent-logs buffer keeps each accepted log's own
   * bytes. No other part sees them.
   */
  raw?: RawBatch;
}

export interface IngestDeps {
  validator: LogValidator;
  validationStats: ValidationStats;
  services: KeyCap;
  users: KeyCap;
  /** The in-memory tier: takes each accepted batch first, with the request's bytes when there are any. */
  recent: Pick<RecentLogs, 'append'>;
  /** Everything else that wants each accepted batch, in order, after the recent-logs buffer. */
  sinks: readonly LogSink[];
  now: Clock;
  /** The durable tier: accepted logs are committed here before any sink sees them or the caller is answered. */
  journal?: { append(logs: readonly StoredLog[], raw?: RawBatch): Promise<void> };
  /** Where ids come from when other servers write the same store; by default this pipeline counts them itself. */
  ids?: IdBlocks;
  /** Gives each accepted log its message pattern (core/patterns/pattern-miner.ts), by its service key; none: no patterns. */
  patterns?: { idOf(service: string, message: string): number };
}

/** A valid item's event time (epoch ms), or what is wrong with an invalid one. */
type EventTimeOrProblems = number | Problem[];

/** Checks one item of a batch; allocates nothing for a valid log (it runs once per log). */
function checkItem(validator: LogValidator, item: unknown): EventTimeOrProblems {
  if (item instanceof UnparseableLine) {
    return [{ keyword: 'json', message: `line ${item.line} is not valid JSON (${item.reason})` }];
  }
  if (item instanceof UnmappableItem) return [{ keyword: 'protocol', message: item.message }];
  return validator.validate(item);
}

function serviceOf(item: unknown): unknown {
  return typeof item === 'object' && item !== null && !Array.isArray(item) ? (item as { service?: unknown }).service : undefined;
}

/**
 * The one ingest path every door uses: check each item on its own (one bad item never blocks
 * the rest), assign ids and receive time, then hand the accepted batch to every sink.
 */
export class IngestPipeline {
  private lastId = 0;
  /** Accepted and rejected logs per protocol, read by GET /metrics when scraped. */
  readonly counts = new IngestCounts();

  constructor(private readonly deps: IngestDeps) {}

  /** The last id assigned (0 before the first accepted log). */
  get currentId(): number {
    return this.deps.ids?.lastId ?? this.lastId;
  }

  /** Continues numbering after `id` (the largest id already stored). */
  resumeAfter(id: number): void {
    this.lastId = Math.max(this.lastId, id);
  }

  async ingest(items: readonly unknown[], ctx: IngestContext = {}): Promise<IngestResult> {
    const { boundService } = ctx;
    if (boundService !== undefined) {
      for (const item of items) {
        const service = serviceOf(item);
        if (typeof service === 'string' && service !== boundService) {
          throw new AppError(
            403,
            'SERVICE_MISMATCH',
            `this token may only ship logs for service '${boundService}', but a log names service '${service}'; use that service's own token`,
          );
        }
      }
    }
    const { validator, validationStats, services, users, now, ids, patterns } = this.deps;
    // Ids for every item before the first is taken: no wait between two logs of one call.
    if (ids !== undefined && ids.available < items.length) await ids.ensure(items.length);
    const counts = this.counts.of(ctx.protocol ?? 'api');
    const receivedAt = now();
    const accepted: StoredLog[] = [];
    const rejected: RejectedItem[] = [];
    // The body index of each accepted log, for the buffer to find the log's own bytes.
    const positions = ctx.raw === undefined ? undefined : new Int32Array(items.length);
    for (let index = 0; index < items.length; index++) {
      const checked = checkItem(validator, items[index]);
      if (typeof checked !== 'number') {
        validationStats.recordInvalid(checked);
        counts.reject(checked);
        rejected.push({ index, errors: checked.map((p) => p.message) });
        continue;
      }
      const ts = checked;
      validationStats.recordValid();
      if (positions !== undefined) positions[accepted.length] = index;
      const log = items[index] as LogInput;
      const serviceIndex = services.admitIndex(log.service);
      const serviceKey = services.keyAt(serviceIndex);
      const userIndex = log.user_id === undefined ? -1 : users.admitIndex(log.user_id);
      const userKey = userIndex < 0 ? undefined : users.keyAt(userIndex);
      const stored = new StoredLog(
        ids === undefined ? ++this.lastId : ids.next(),
        ts,
        log.timestamp,
        LEVELS[levelIndex(log.level)]!,
        serviceKey === OTHER ? log.service : serviceKey,
        log.message,
        userKey === OTHER ? log.user_id : userKey,
        log.metadata,
        receivedAt,
      );
      stored.serviceIndex = serviceIndex;
      stored.userIndex = userIndex;
      // By the service's key: a service past the cap mines into `other`'s patterns, so they stay bounded too.
      if (patterns !== undefined) stored.patternId = patterns.idOf(serviceKey, log.message);
      accepted.push(stored);
    }
    if (accepted.length > 0) {
      if (this.deps.journal) await this.deps.journal.append(accepted, rejected.length === 0 ? ctx.raw : undefined);
      const { raw } = ctx;
      this.deps.recent.append(accepted, raw && { bytes: raw.bytes, format: raw.format, itemCount: items.length, items: positions! });
      for (const sink of this.deps.sinks) sink.append(accepted);
      counts.accepted += accepted.length;
    }
    return { accepted: accepted.length, rejected };
  }
}
