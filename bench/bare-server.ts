/**
 * The ceiling for single-log ingest and for small GETs: a bare Fastify route with the same
 * Fastify version, the same body limit and logger level as the server, the body parsed by
 * Fastify's default JSON parser, answering 201 {"status":"accepted"}. Started by bench/run.ts
 * (PORT and BENCH_BODY_LIMIT in the environment), loopback only.
 */
import Fastify from 'fastify';

const port = Number(process.env.PORT);
const bodyLimit = Number(process.env.BENCH_BODY_LIMIT);
if (!Number.isInteger(port) || !Number.isInteger(bodyLimit)) throw new Error('PORT and BENCH_BODY_LIMIT must be set');

const app = Fastify({ logger: { level: 'warn' }, bodyLimit });
app.post('/api/logs', async (_request, reply) => reply.code(201).send({ status: 'accepted' }));
app.get('/api/bare', async () => ({ status: 'ok' }));
app.get('/health', async () => ({ status: 'healthy' }));
process.on('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
await app.listen({ host: '127.0.0.1', port });
