import { RULES, outcomesByRule, type AlertHandler, type AlertNotification, type OutcomesByRule } from './types.js';

export interface HandlerCounters {
  name: string;
  delivered: number;
  failed: number;
}

/** What became of the notifications handed to one handler, per rule; `queued` only for a handler with a queue. */
export interface HandlerDeliveries {
  name: string;
  byRule: OutcomesByRule;
  queued?: number;
}

export type HandlerErrorReporter = (handler: string, err: unknown) => void;

/**
 * Runs handlers off the ingest path: each notification is handed to each handler in its own
 * setImmediate turn, so a slow, throwing or hanging handler never delays ingestion or the
 * other handlers.
 */
export class AlertDispatcher {
  /** Per handler, what its `handle` did with each rule's notifications: returned (sent) or threw (failed). */
  private readonly byRule: OutcomesByRule[];

  constructor(
    private readonly handlers: readonly AlertHandler[],
    private readonly onError: HandlerErrorReporter,
  ) {
    this.byRule = handlers.map(() => outcomesByRule());
  }

  readonly dispatch = (notification: AlertNotification): void => {
    for (let i = 0; i < this.handlers.length; i++) setImmediate(() => this.run(i, notification));
  };

  private run(i: number, notification: AlertNotification): void {
    const handler = this.handlers[i]!;
    const outcomes = this.byRule[i]![notification.alert.rule];
    const done = (): void => {
      outcomes.sent++;
    };
    const fail = (err: unknown): void => {
      outcomes.failed++;
      this.onError(handler.name, err);
    };
    try {
      const result = handler.handle(notification);
      if (result instanceof Promise) result.then(done, fail);
      else done();
    } catch (err) {
      fail(err);
    }
  }

  /** Per handler, over every rule: how often its `handle` returned (delivered) or threw (failed). */
  stats(): HandlerCounters[] {
    return this.handlers.map((handler, i) => {
      const outcomes = Object.values(this.byRule[i]!);
      return { name: handler.name, delivered: outcomes.reduce((n, o) => n + o.sent, 0), failed: outcomes.reduce((n, o) => n + o.failed, 0) };
    });
  }

  deliveries(): HandlerDeliveries[] {
    return this.handlers.map((handler, i) => {
      const mine = this.byRule[i]!;
      const own = handler.deliveries?.();
      if (own === undefined) return { name: handler.name, byRule: structuredClone(mine) };
      // Its `handle` returning meant only "queued": its own counts say what followed; a throw is still ours.
      const byRule = outcomesByRule();
      for (const rule of RULES) byRule[rule] = { ...own.byRule[rule], failed: own.byRule[rule].failed + mine[rule].failed };
      return { name: handler.name, byRule, queued: own.queued };
    });
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.handlers.map(async (h) => h.close?.()));
  }
}
