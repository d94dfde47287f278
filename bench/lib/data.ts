/**
 * Request bodies built from the simulator's generator with fixed seeds, so every run (and
 * every baseline in a run) sends the same realistic logs: five services, weighted levels,
 * user ids, metadata, about 230 bytes per log as JSON.
 */
import type { LogInput } from '../../server/core/log.js';
import { generateLog, seededRandom } from '../../server/core/simulator.js';

export type Format = 'json' | 'ndjson';

export const CONTENT_TYPE: Record<Format, string> = { json: 'application/json', ndjson: 'application/x-ndjson' };

/** Event times are spread over this window before "now", inside the 60-minute analytics window. */
export const SPREAD_MS = 30 * 60_000;

/** A stream of realistic logs from one seed. */
export function logStream(seed: number, now: number = Date.now(), spreadMs: number = SPREAD_MS): () => LogInput {
  const random = seededRandom(seed);
  return () => generateLog(random, { now, spreadMs });
}

export function encode(logs: readonly LogInput[], format: Format): string {
  return format === 'json' ? JSON.stringify(logs) : logs.map((l) => JSON.stringify(l)).join('\n');
}

export interface BodySet {
  /** What the bodies hold, e.g. "1000-log JSON arrays". */
  label: string;
  format: Format;
  logsPerBody: number;
  bodies: string[];
  /** Mean UTF-8 bytes per log across the bodies (framing included). */
  bytesPerLog: number;
}

function bodySet(label: string, format: Format, logsPerBody: number, bodies: string[]): BodySet {
  const bytes = bodies.reduce((n, b) => n + Buffer.byteLength(b), 0);
  return { label, format, logsPerBody, bodies, bytesPerLog: bytes / (bodies.length * logsPerBody) };
}

/** `count` single-log bodies (one JSON object each). */
export function singleBodies(count: number, seed = 11): BodySet {
  const next = logStream(seed);
  return bodySet('single JSON object', 'json', 1, Array.from({ length: count }, () => JSON.stringify(next())));
}

/** `count` bodies of `perBody` logs each; the same seed gives the same logs in either format. */
export function batchBodies(count: number, perBody: number, format: Format, seed = 21): BodySet {
  const next = logStream(seed + perBody);
  const bodies = Array.from({ length: count }, () => encode(Array.from({ length: perBody }, next), format));
  return bodySet(`${perBody}-log ${format === 'json' ? 'JSON arrays' : 'NDJSON'}`, format, perBody, bodies);
}

/** Share of logs whose message contains `word` (case-insensitive), over a sample from the same generator. */
export function shareContaining(word: string, sample = 100_000, seed = 31): number {
  const next = logStream(seed);
  const needle = word.toLowerCase();
  let hits = 0;
  for (let i = 0; i < sample; i++) if (next().message.toLowerCase().includes(needle)) hits++;
  return hits / sample;
}
