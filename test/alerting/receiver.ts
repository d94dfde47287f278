import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Requests that arrived and were never answered (for the hanging receiver). */
  pending: number;
  close(): Promise<void>;
}

/** A real HTTP receiver on 127.0.0.1, any port. `respond` null: never answer. */
export async function startReceiver(respond: ((req: IncomingMessage, res: ServerResponse) => void) | null): Promise<Receiver> {
  const received: Received[] = [];
  const rx: Receiver = { url: '', received, pending: 0, close: async () => {} };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (respond === null) {
        rx.pending++;
        res.on('close', () => rx.pending--);
        return;
      }
      respond(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  rx.url = `http://127.0.0.1:${port}`;
  rx.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return rx;
}

