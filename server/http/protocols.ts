import type { IngestContext, IngestResult } from '../core/ingest.js';
import type { LogServer } from '../core/log-server.js';

/**
 * The doors a batch can come in by, as GET /metrics labels them: each route names its door when
 * it hands a batch to ingest (`ingestVia` below), and the metrics list
 * every door, so one with no logs yet still shows a zero.
 */
export const INGEST_PROTOCOLS = ['api', 'legacy', 'simulate', 'loki', 'otlp', 'elasticsearch'] as const;
export type IngestProtocol = (typeof INGEST_PROTOCOLS)[number];

/**
 * Hands a batch to the one ingest path under the name of the door it came in by. The context is
 * built field by field, one shape for every door: a spread of the caller's object is a runtime
 * call on this path, a few percent of a single-log request.
 */
export function ingestVia(core: LogServer, protocol: IngestProtocol, items: readonly unknown[], ctx: Omit<IngestContext, 'protocol'>): Promise<IngestResult> {
  return core.pipeline.ingest(items, { protocol, boundService: ctx.boundService, raw: ctx.raw });
}
