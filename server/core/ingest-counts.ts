import type { Problem } from './validation.js';

/**
 * Logs accepted and rejected per protocol, for GET /metrics. The core keeps plain counters
 * and the HTTP layer (server/http/metrics.ts) reads them when Prometheus scrapes: the ingest
 * path pays an addition per batch and never calls into a metrics library. The protocol is
 * whatever name the caller hands ingest: the HTTP layer owns the list of protocols.
 */

/**
 * Why a log was rejected, as a metric label: a closed set, whatever keyword a check reports,
 * so the label's values stay few. `length`: a text field empty or over its limit; `encoding`: text
 * that is not valid Unicode, or a name with control characters; `metadata`:
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
  pattern: 'encoding',
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
  private readonly byProtocol = new Map<string, ProtocolCounts>();

  of(protocol: string): ProtocolCounts {
    let counts = this.byProtocol.get(protocol);
    if (counts === undefined) this.byProtocol.set(protocol, (counts = new ProtocolCounts()));
    return counts;
  }

  /** Counts of a protocol without creating them (a read must not add anything). */
  peek(protocol: string): ProtocolCounts | undefined {
    return this.byProtocol.get(protocol);
  }

  entries(): IterableIterator<[string, ProtocolCounts]> {
    return this.byProtocol.entries();
  }
}
