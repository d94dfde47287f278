import type { IngestProtocol } from './ingest.js';
import type { Problem } from './validation.js';

/**
 * What the core counts for GET /metrics. The core keeps plain counters and the HTTP layer
 * (server/http/metrics.ts) reads them when Prometheus scrapes: the ingest path pays an
 * addition per batch and never calls into a metrics library. Only what must be observed
 * event by event (a commit's duration, for a histogram) goes through an observer.
 */

/**
 * Why a log was rejected, as a metric label: a closed set, whatever keyword a check reports,
 * so the label's values stay few. `length`: a text field empty or over its limit; `metadata`:
 * too many keys or nested too deep; `json`: an NDJSON line that is not JSON; `protocol`: an
 * item a protocol adapter could not map to a log.
 */
export const REJECT_REASONS = ['required', 'unknown_field', 'type', 'enum', 'format', 'length', 'metadata', 'encoding', 'json', 'protocol', 'other'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

const REASON_OF: Readonly<Record<string, RejectReason>> = {
  required: 'required',
  additionalProperties: 'unknown_field',
  type: 'type',
  enum: 'enum',
  format: 'format',
  minLength: 'length',
  maxLength: 'length',
  maxProperties: 'metadata',
  maxDepth: 'metadata',
  encoding: 'encoding',
  json: 'json',
  protocol: 'protocol',
};

/** A rejected log counts once, under the reason of the first problem found in it. */
export function rejectReason(problems: readonly Problem[]): RejectReason {
  const keyword = problems[0]?.keyword;
  return (keyword !== undefined && REASON_OF[keyword]) || 'other';
}

/** Logs accepted and rejected through one protocol since start. */
export class ProtocolCounts {
  accepted = 0;
  readonly rejected = new Map<RejectReason, number>();

  reject(problems: readonly Problem[]): void {
    const reason = rejectReason(problems);
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
  }
}

/** Per-protocol counts; a protocol appears once a batch has come in by it. */
export class IngestCounts {
  private readonly byProtocol = new Map<IngestProtocol, ProtocolCounts>();

  of(protocol: IngestProtocol): ProtocolCounts {
    let counts = this.byProtocol.get(protocol);
    if (counts === undefined) this.byProtocol.set(protocol, (counts = new ProtocolCounts()));
    return counts;
  }

  /** Counts of a protocol without creating them (a read must not add anything). */
  peek(protocol: IngestProtocol): ProtocolCounts | undefined {
    return this.byProtocol.get(protocol);
  }

  entries(): IterableIterator<[IngestProtocol, ProtocolCounts]> {
    return this.byProtocol.entries();
  }
}

/** Told about each commit of the durable tier: how many logs it held, and how long it took or that it failed. */
export interface CommitObserver {
  committed(logs: number, seconds: number): void;
  failed(logs: number): void;
}
