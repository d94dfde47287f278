/**
 * Compressed request bodies (server/http/body/decode.ts) at size: a body of several MB is
 * decompressed with zlib's asynchronous API, so the event loop keeps turning while it is
 * inflated, and the output is bounded by limits.max_body_bytes however far the body would
 * expand.
 *
 * Covered elsewhere, so not repeated here: small gzip/x-gzip/deflate/br JSON and NDJSON bodies
 * accepted and a small bomb past a 4 KiB limit (test/http/ingest.test.ts); an unknown or
 * layered Content-Encoding (415 UNSUPPORTED_MEDIA_TYPE), bytes that are not the encoding or
 * are truncated (400 BAD_ENCODING), a 4x bomb per encoding, non-UTF-8 inside gzip
 * (test/robustness/corpus.test.ts).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { brotliCompressSync, constants, deflateSync, gzipSync } from 'node:zlib';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildTestApp, log } from '../helpers.js';

const JSON_CT = { 'content-type': 'application/json' };
const MiB = 1024 * 1024;
const DEFAULT_BODY_LIMIT = 10 * MiB;

const COMPRESS = {
  gzip: (b: Buffer): Buffer => gzipSync(b),
  deflate: (b: Buffer): Buffer => deflateSync(b),
  // Quality 5 rather than brotli's default 11: the same format, compressed in a fraction of the time.
  br: (b: Buffer): Buffer => brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 5 } }),
} as const;
type Encoding = keyof typeof COMPRESS;
const ENCODINGS = Object.keys(COMPRESS) as Encoding[];
/**
 * Load shedding off: compressing 50 MiB in the test blocks the loop for a moment, which on a
 * busy machine the app's event-loop-delay check would answer with 503 OVERLOADED.
 */
const CONFIG = { load_shedding: { enabled: false } };

/** 1,000 valid logs of about 5 KB each, tagged: about 5 MB of JSON, half the default body limit and a tenth of max_batch_items. */
function bigBatch(tag: string): { messages: string[]; json: Buffer } {
  const messages = Array.from({ length: 1000 }, (_, i) => `${tag} #${i} ${'lorem ipsum dolor sit amet, consectetur adipiscing elit '.repeat(90)}${i}`);
  const json = Buffer.from(JSON.stringify(messages.map((message, i) => log({ message, service: `svc-${i % 7}` }))));
  assert.ok(json.length > 4 * MiB && json.length < DEFAULT_BODY_LIMIT, `the body is ${json.length} bytes`);
  return { messages, json };
}

function post(app: FastifyInstance, payload: Buffer, encoding?: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url: '/api/logs', payload, headers: { ...JSON_CT, ...(encoding !== undefined && { 'content-encoding': encoding }) } });
}

async function totalLogs(app: FastifyInstance): Promise<number> {
  const res = await app.inject({ method: 'GET', url: '/health' });
  assert.equal(res.statusCode, 200);
  return res.json().total_logs as number;
}

/**
 * Event-loop turns while `run` is in flight: a setImmediate callback that schedules itself
 * runs once per turn of the loop (in its check phase), so it counts the turns other work
 * could have had. A request handled in one synchronous stretch lets it run about once.
 */
async function turnsWhile<T>(run: () => Promise<T>): Promise<{ turns: number; result: T }> {
  let turns = 0;
  let running = true;
  const spin = (): void => {
    turns++;
    if (running) setImmediate(spin);
  };
  setImmediate(spin);
  try {
    const result = await run();
    return { turns, result };
  } finally {
    running = false;
  }
}

describe('large compressed bodies', () => {
  let app: FastifyInstance;
  before(async () => {
    ({ app } = await buildTestApp(CONFIG));
  });
  after(async () => {
    await app.close();
  });

  for (const encoding of ENCODINGS) {
    test(`a ${encoding} body of 1,000 logs (about 5 MB decompressed) is accepted and every log is queryable as sent`, async () => {
      const tag = `big-${encoding}`;
      const { messages, json } = bigBatch(tag);
      const packed = COMPRESS[encoding](json);
      const res = await post(app, packed, encoding);
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(res.json().accepted, 1000);
      const page = await app.inject({ method: 'GET', url: `/api/logs?q=${tag}&limit=1000` });
      assert.equal(page.statusCode, 200);
      const logs = page.json().logs as Array<{ message: string; service: string }>;
      assert.equal(logs.length, 1000);
      assert.deepEqual(
        logs.map((l) => l.message),
        [...messages].reverse(),
        'every message whole, in order',
      );
      assert.deepEqual(
        logs.map((l) => l.service).reverse().slice(0, 8),
        ['svc-0', 'svc-1', 'svc-2', 'svc-3', 'svc-4', 'svc-5', 'svc-6', 'svc-0'],
      );
    });
  }

  /*
   * The threshold. zlib's asynchronous API inflates in pieces of its chunk size (16 KiB) on
   * the libuv threadpool and hands each piece back in a completion callback on the loop, which
   * starts the next piece; so one request's output arrives over at least as many turns as it
   * has pieces (a zlib stream gives this ~4.9 MB body in 304 'data' events), and the loop
   * spins further turns while each piece is being inflated.
   *
   * Measured on a 2-core machine, over about 15 runs of this file (some with the machine
   * busy): the uncompressed body, 1 turn every time; gzip 3,942-82,745 turns, deflate
   * 316-38,618, br 315-51,988. The lows (315, 316) came when the threadpool was starved (other
   * processes on both cores, or UV_THREADPOOL_SIZE=1): right at the ~304 floor. With decode.ts
   * changed to gunzipSync, gzip took 1 turn: decode, parse and ingest all ran in one stretch.
   *
   * So: at least 150 turns (half the floor; a synchronous decode shows ~1) and at least ten
   * times the uncompressed body's count. Load changes how many turns come on top, not the floor.
   */
  const MIN_TURNS = 150;

  for (const encoding of ENCODINGS) {
    test(`the event loop keeps turning while a large ${encoding} body is decompressed (at least ${MIN_TURNS} turns, and 10x the same body uncompressed)`, async (t) => {
      const { json } = bigBatch(`turns-${encoding}`);
      const packed = COMPRESS[encoding](json);
      const plain = await turnsWhile(() => post(app, json));
      assert.equal(plain.result.statusCode, 201, plain.result.body);
      const compressed = await turnsWhile(() => post(app, packed, encoding));
      assert.equal(compressed.result.statusCode, 201, compressed.result.body);
      t.diagnostic(`${json.length} bytes: uncompressed ${plain.turns} turns; ${encoding} (${packed.length} bytes) ${compressed.turns} turns`);
      assert.ok(
        compressed.turns >= MIN_TURNS && compressed.turns >= 10 * plain.turns,
        `${encoding}: ${compressed.turns} turns while decompressing, ${plain.turns} for the same body uncompressed`,
      );
    });
  }
});

describe('the decompressed size is bounded by limits.max_body_bytes', () => {
  for (const encoding of ENCODINGS) {
    test(`${encoding}: 50 MiB of zeros (five times the default 10 MiB limit) is 413 BODY_TOO_LARGE, nothing is stored, and the server goes on`, async () => {
      const bomb = COMPRESS[encoding](Buffer.alloc(50 * MiB));
      const { app } = await buildTestApp(CONFIG);
      try {
        assert.ok(bomb.length < 1 * MiB, `the compressed body (${bomb.length} bytes) is far inside the limit`);
        const res = await post(app, bomb, encoding);
        assert.equal(res.statusCode, 413, res.body);
        assert.equal(res.json().code, 'BODY_TOO_LARGE');
        assert.match(res.json().error, new RegExp(`the ${encoding} body expands past the limit of ${DEFAULT_BODY_LIMIT} bytes \\(limits\\.max_body_bytes\\)`));
        assert.equal(await totalLogs(app), 0);
        const next = await post(app, COMPRESS[encoding](Buffer.from(JSON.stringify([log({ message: 'after the bomb' })]))), encoding);
        assert.equal(next.statusCode, 201, next.body);
        assert.equal(await totalLogs(app), 1);
      } finally {
        await app.close();
      }
    });
  }

  test('the limit is the same as for an uncompressed body: exactly the limit is accepted, one byte more is 413', async () => {
    const LIMIT = 4096;
    const { app } = await buildTestApp({ ...CONFIG, limits: { max_body_bytes: LIMIT } });
    try {
      const text = JSON.stringify([log({ message: 'at the limit' })]);
      /** A valid body of exactly `size` bytes: the JSON with trailing whitespace. */
      const sized = (size: number): Buffer => Buffer.from(text + ' '.repeat(size - text.length));
      for (const encoding of [undefined, ...ENCODINGS]) {
        const label = encoding ?? 'uncompressed';
        const at = await post(app, encoding === undefined ? sized(LIMIT) : COMPRESS[encoding](sized(LIMIT)), encoding);
        assert.equal(at.statusCode, 201, `${label}, ${LIMIT} bytes: ${at.body}`);
        const over = await post(app, encoding === undefined ? sized(LIMIT + 1) : COMPRESS[encoding](sized(LIMIT + 1)), encoding);
        assert.equal(over.statusCode, 413, `${label}, ${LIMIT + 1} bytes: ${over.body}`);
        assert.equal(over.json().code, 'BODY_TOO_LARGE');
      }
      assert.equal(await totalLogs(app), 4);
    } finally {
      await app.close();
    }
  });
});

describe('a large body found corrupt only at its end', () => {
  test('a gzip body whose checksum does not match is 400 BAD_ENCODING, and none of the logs already inflated is stored', async () => {
    const packed = Buffer.from(gzipSync(bigBatch('bad-crc').json));
    const { app } = await buildTestApp(CONFIG);
    try {
      // The gzip trailer is the CRC-32 of the data, then its length; zlib checks them after inflating all of it.
      const crc = packed.length - 8;
      packed[crc] = packed[crc]! ^ 0xff;
      const res = await post(app, packed, 'gzip');
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json().code, 'BAD_ENCODING');
      assert.match(res.json().error, /the body is not valid gzip data/);
      assert.equal(await totalLogs(app), 0);
    } finally {
      await app.close();
    }
  });
});
