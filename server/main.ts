import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { StorageError } from './core/repository.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`config error: ${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  let app;
  try {
    app = await buildApp(config);
  } catch (e) {
    if (e instanceof StorageError) {
      process.stderr.write(`storage error: ${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  // Shutdown on SIGTERM/SIGINT takes at most server.shutdown_grace_seconds in all: stop
  // accepting, let requests in flight finish, then cut the connections still open (a request
  // whose body never ends, a stuck client) one second before the end (half-way under 2 s), so
  // pending logs are still committed and the process exits 0. close-with-grace exits 1 if even
  // that has not finished when the grace period is over.
  const graceMs = config.server.shutdown_grace_seconds * 1000;
  const cutAfterMs = graceMs - Math.min(1000, graceMs / 2);
  const server = app;
  closeWithGrace(
    {
      delay: graceMs,
      logger: { error: (what: unknown) => (what instanceof Error ? server.log.error({ err: what }, 'shutdown failed') : server.log.error(`shutdown: ${String(what)}`)) },
    },
    async ({ signal, err }) => {
      if (err) server.log.error({ err }, 'shutting down after an error');
      else server.log.info({ signal }, 'shutting down');
      const cut = setTimeout(() => {
        server.log.warn(`requests still in flight ${cutAfterMs} ms after the signal: closing their connections (server.shutdown_grace_seconds)`);
        server.server.closeAllConnections();
      }, cutAfterMs);
      try {
        await server.close();
      } finally {
        clearTimeout(cut);
      }
    },
  );
  const startup = app.core.startup;
  const storage = !startup
    ? 'storage: memory only (storage.persistence.enabled is false)'
    : app.core.replicaId !== undefined
      ? // A shared store is read where it is: nothing is reloaded.
        `storage: ${startup.from}, ${startup.stored.toLocaleString('en-US')} logs stored by all replicas, opened in ${(startup.ms / 1000).toFixed(2)} s`
      : `storage: ${startup.from}, ${startup.stored.toLocaleString('en-US')} logs stored, ${startup.reloaded.toLocaleString('en-US')} reloaded into memory and ${startup.replayed.toLocaleString('en-US')} into the analytics window in ${(startup.ms / 1000).toFixed(2)} s`;
  await app.listen({
    host: config.server.host,
    port: config.server.port,
    // The first line a person reads: where to go, and what the server came up with. Fastify
    // calls this once per address it listens on (every interface, for 0.0.0.0).
    listenTextResolver: (address) => {
      if (readyLogged) return `also listening at ${address}`;
      readyLogged = true;
      return `LogSentinel ready: ${browsable(address)} (dashboard; API reference at /docs); ${storage}`;
    },
  });
}

let readyLogged = false;

/** A listening address as a person types it: this machine is localhost. */
function browsable(address: string): string {
  const url = new URL(address);
  if (['0.0.0.0', '[::]', '127.0.0.1', '[::1]'].includes(url.hostname)) url.hostname = 'localhost';
  return url.origin;
}

await main();
