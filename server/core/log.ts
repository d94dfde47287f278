export const LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const;
export type Level = (typeof LEVELS)[number];

export function isErrorLevel(level: Level): boolean {
  return level === 'ERROR' || level === 'CRITICAL';
}

/** Index of a level in LEVELS, or -1. Also interns: LEVELS[levelIndex(s)] is the shared constant. */
export function levelIndex(value: string): number {
  switch (value) {
    case 'DEBUG':
      return 0;
    case 'INFO':
      return 1;
    case 'WARNING':
      return 2;
    case 'ERROR':
      return 3;
    case 'CRITICAL':
      return 4;
    default:
      return -1;
  }
}

/** A log as a client sends it, after validation against schemas/log.schema.json. */
export interface LogInput {
  timestamp: string;
  level: Level;
  service: string;
  message: string;
  user_id?: string;
  metadata?: Record<string, unknown>;
}

/** An accepted log. One fixed shape for every log so V8 keeps a single hidden class. */
export class StoredLog {
  constructor(
    readonly id: number,
    /** Event time, epoch ms, parsed once at ingest. */
    readonly ts: number,
    /** The timestamp exactly as the client sent it. */
    readonly timestamp: string,
    readonly level: Level,
    readonly service: string,
    readonly message: string,
    readonly userId: string | undefined,
    readonly metadata: Record<string, unknown> | undefined,
    /** Server receive time, epoch ms. */
    readonly receivedAt: number,
  ) {}
}

/** The JSON shape of a log in /api responses: what was sent, plus the id and receive time the server added. */
export interface LogView extends LogInput {
  id: number;
  received_at: string;
}

export function toView(log: StoredLog): LogView {
  const view: LogView = {
    id: log.id,
    timestamp: log.timestamp,
    level: log.level,
    service: log.service,
    message: log.message,
    received_at: new Date(log.receivedAt).toISOString(),
  };
  if (log.userId !== undefined) view.user_id = log.userId;
  if (log.metadata !== undefined) view.metadata = log.metadata;
  return view;
}

/** Anything that wants every accepted batch: the buffer, counters, analytics, alerting. */
export interface LogSink {
  append(logs: readonly StoredLog[]): void;
}
