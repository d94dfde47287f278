// Benchmark-only preload, never part of the server: `node --expose-gc --import <this file>`
// with LOGSENTINEL_BENCH_PROBE=1 and an IPC channel. On {type:'memory'} it collects garbage
// and answers with process.memoryUsage(). Without the variable or the channel it does nothing.
if (process.env.LOGSENTINEL_BENCH_PROBE === '1' && typeof process.send === 'function') {
  process.on('message', (msg) => {
    if (msg === null || typeof msg !== 'object' || msg.type !== 'memory') return;
    const gc = typeof globalThis.gc === 'function' ? globalThis.gc : undefined;
    if (gc) {
      gc();
      gc();
    }
    const m = process.memoryUsage();
    process.send({ type: 'memory', id: msg.id, gc: Boolean(gc), rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers });
  });
  // The channel must never keep the server alive on its own.
  process.channel?.unref();
}
