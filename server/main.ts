import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { StorageError } from './storage/log-repository.js';

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
  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error');
    else app.log.info({ signal }, 'shutting down');
    await app.close();
  });
  await app.listen({ host: config.server.host, port: config.server.port });
}

await main();
