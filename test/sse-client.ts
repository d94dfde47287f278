import { request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { LogView } from '../server/core/log.js';

/** Reading GET /api/logs/tail as a client does: an SSE answer never ends by itself, so app.inject() cannot. */

export interface SseEvent {
  id?: string;
  event?: string;
  data?: string;
}

export const DEADLINE_MS = 10_000;

export async function until(what: string, ok: () => boolean, ms = DEADLINE_MS): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** An SSE reader on node's http client: events and comments as they arrive. */
export class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  ended = false;
  private buffer = '';

  private constructor(
    readonly req: ClientRequest,
    readonly res: IncomingMessage,
  ) {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => this.feed(chunk));
    res.on('end', () => (this.ended = true));
    res.on('error', () => (this.ended = true));
  }

  static open(base: string, path: string, headers: Record<string, string> = {}): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(`${base}${path}`, { headers: { accept: 'text/event-stream', ...headers } }, (res) => resolve(new SseClient(req, res)));
      req.on('error', reject);
      req.end();
    });
  }

  get status(): number {
    return this.res.statusCode!;
  }

  get headers(): IncomingHttpHeaders {
    return this.res.headers;
  }

  private feed(chunk: string): void {
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const event: SseEvent = {};
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) {
          this.comments.push(line);
          continue;
        }
        const colon = line.indexOf(': ');
        const field = line.slice(0, colon) as keyof SseEvent;
        event[field] = line.slice(colon + 2);
      }
      if (Object.keys(event).length > 0) this.events.push(event);
    }
  }

  /** The logs received, in order. */
  get logs(): LogView[] {
    return this.events.filter((e) => e.event === 'log').map((e) => JSON.parse(e.data!) as LogView);
  }

  get ids(): number[] {
    return this.events.filter((e) => e.event === 'log').map((e) => Number(e.id));
  }

  /** A final event (dropped, closing), if one came. */
  final(name: string): Record<string, unknown> | undefined {
    const e = this.events.find((x) => x.event === name);
    return e === undefined ? undefined : (JSON.parse(e.data!) as Record<string, unknown>);
  }

  waitForLogs(n: number): Promise<void> {
    return until(`${n} log events (have ${this.ids.length})`, () => this.ids.length >= n);
  }

  close(): void {
    this.req.destroy();
  }
}

