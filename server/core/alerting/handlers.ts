import type { AlertHandler, AlertNotification } from './types.js';

/** The part of a pino logger the log handler needs. */
export interface AlertLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** Writes each notification to the server log: firing as warn, resolved as info. */
export class LogHandler implements AlertHandler {
  readonly name = 'log';
  constructor(private readonly logger: AlertLogger) {}

  handle({ status, alert }: AlertNotification): void {
    const fields = { alert: { rule: alert.rule, service: alert.service, level: alert.level, value: alert.value, fingerprint: alert.fingerprint } };
    if (status === 'firing') this.logger.warn(fields, `alert firing: ${alert.message}`);
    else this.logger.info(fields, `alert resolved: ${alert.message}`);
  }
}

/** Keeps the most recent notifications in memory (bounded), newest last. */
export class MemoryHandler implements AlertHandler {
  readonly name = 'memory';
  private readonly items: AlertNotification[] = [];

  constructor(private readonly capacity = 200) {}

  handle(notification: AlertNotification): void {
    this.items.push(notification);
    if (this.items.length > this.capacity) this.items.shift();
  }

  get notifications(): readonly AlertNotification[] {
    return this.items;
  }
}
