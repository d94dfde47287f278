import type { AlertHandler, AlertNotification } from './types.js';

export interface HandlerCounters {
  name: string;
  delivered: number;
  failed: number;
}

/** What became of the notifications handed to one handler; `queued` only for a handler with a queue. */
export interface HandlerDeliveries {
  name: string;
  sent: number;
  failed: number;
  dropped: number;
  queued?: number;
}

export type HandlerErrorReporter = (handler: string, err: unknown) => void;

/**
 * Runs handlers off the ingest path: each notification is handed to each handler in its own
 * setImmediate turn, so a slow, throwing or hanging handler never delays ingestion or the
 * other handlers.
 */
export class AlertDispatcher {
  private readonly counters: HandlerCounters[];

  constructor(
    private readonly handlers: readonly AlertHandler[],
    private readonly onError: HandlerErrorReporter,
  ) {
    this.counters = handlers.map((h) => ({ name: h.name, delivered: 0, failed: 0 }));
  }

  readonly dispatch = (notification: AlertNotification): void => {
    this.handlers.forEach((handler, i) => setImmediate(() => this.run(handler, this.counters[i]!, notification)));
  };

  private run(handler: AlertHandler, counters: HandlerCounters, notification: AlertNotification): void {
    const fail = (err: unknown): void => {
      counters.failed++;
      this.onError(handler.name, err);
    };
    try {
      const result = handler.handle(notification);
      if (result instanceof Promise) result.then(() => void counters.delivered++, fail);
      else counters.delivered++;
    } catch (err) {
      fail(err);
    }
  }

  stats(): HandlerCounters[] {
    return this.counters.map((c) => ({ ...c }));
  }

  deliveries(): HandlerDeliveries[] {
    return this.handlers.map((handler, i) => {
      const c = this.counters[i]!;
      const own = handler.deliveries?.();
      if (own === undefined) return { name: handler.name, sent: c.delivered, failed: c.failed, dropped: 0 };
      // Its `handle` returning meant only "queued": its own counts say what followed.
      return { name: handler.name, sent: own.sent, failed: own.failed + c.failed, dropped: own.dropped, queued: own.queued };
    });
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.handlers.map(async (h) => h.close?.()));
  }
}
