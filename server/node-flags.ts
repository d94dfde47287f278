/**
 * The V8 flags every production start passes to node (`npm start`, the Dockerfile's CMD), and
 * the benchmark and soak runs with them, so they measure what runs. test/node-flags.test.ts
 * holds package.json and the Dockerfile to this list.
 *
 * --max-semi-space-size=32 (MiB; V8's default is 16): with many logs held, every young
 * collection pays for the size of the old generation (about 1.1 ms per scavenge at 1,000,000
 * logs, 0.25 ms at 1,000: V8 visits every old-space page), so fewer, larger young collections
 * keep the dashboard's p99 flat as the buffer fills and let batches die young instead of being
 * promoted. Measured with `npm run bench` (BENCHMARKS.md, "Young generation"): dashboard p99 at
 * 1,000,000 stored 0.97 → 0.39 ms, 1000-log arrays 305k → 330k logs/s. It costs up to 32 MiB
 * more resident memory under load.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32'];
