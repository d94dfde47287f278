import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, DRAIN_DEFAULTS, DrainTree } from '../../../server/core/patterns/drain.js';
import { maskMessage, tokenize } from '../../../server/core/patterns/masking.js';
import {
  OTHER_TEMPLATE,
  PatternMiner,
  hashedIds,
  sequentialIds,
  type IdAllocator,
  type PatternRecord,
} from '../../../server/core/patterns/pattern-miner.js';
import { generateLog, seededRandom } from '../../../server/core/simulator.js';

describe('PatternMiner: ids and templates', () => {
  test('a log joins the pattern of its event, whose id stays while the template generalises', () => {
    const miner = new PatternMiner();
    const first = miner.add('api', 'Connection from 10.0.0.1 closed by user alice after 12 s');
    assert.deepEqual(first, { id: 1, created: true });
    assert.equal(miner.template(1), 'Connection from <*> closed by user alice after <*> s');

    const second = miner.add('api', 'Connection from 10.0.0.7 closed by user bob after 3 s');
    assert.deepEqual(second, { id: 1, created: false });
    assert.equal(miner.template(1), 'Connection from <*> closed by user <*> after <*> s');

    assert.deepEqual(miner.add('api', 'Connection from 10.9.9.9 closed by user carol after 40 s'), { id: 1, created: false });
    assert.deepEqual(miner.pattern(1), {
      id: 1,
      service: 'api',
      tokens: ['Connection', 'from', '<*>', 'closed', 'by', 'user', '<*>', 'after', '<*>', 's'],
      count: 3,
    });
  });

  test('different events get different patterns, each with its own id for good', () => {
    const miner = new PatternMiner();
    const a = miner.add('db', 'checkpoint complete: wrote 120 buffers');
    const b = miner.add('db', 'connection received: host=10.0.0.1 port=5432');
    const c = miner.add('db', 'database system is ready to accept connections');
    assert.deepEqual([a.id, b.id, c.id], [1, 2, 3]);
    assert.ok(a.created && b.created && c.created);
    assert.equal(miner.add('db', 'checkpoint complete: wrote 7 buffers').id, 1);
    assert.equal(miner.add('db', 'connection received: host=10.1.2.3 port=40000').id, 2);
    assert.equal(miner.patterns('db').length, 3);
  });

  test('logs that differ in an enumerated word are different events, however long the line', () => {
    const miner = new PatternMiner();
    const line = (method: string, status: number) =>
      `10.11.10.1 "${method} /v2/servers/detail HTTP/1.1" status: ${status} len: 1893 time: 0.2477829`;
    const get = miner.add('nova', line('GET', 200)).id;
    const post = miner.add('nova', line('POST', 202)).id;
    assert.notEqual(get, post);
    assert.equal(miner.add('nova', line('GET', 404)).id, get);
    assert.equal(miner.template(get), '<*> "GET <*>" status: <*> len: <*> time: <*>');

    const vm = (state: string) => `[instance: b9000564-fe1a-409b-b8cc-1e88b294cd1d] VM ${state} (Lifecycle Event)`;
    assert.notEqual(miner.add('nova', vm('Paused')).id, miner.add('nova', vm('Resumed')).id);
  });

  test('a value that is not masked generalises once the rest of the line agrees', () => {
    const miner = new PatternMiner();
    const id = miner.add('sshd', 'pam_unix(sshd:session): session opened for user root by (uid=0)').id;
    assert.equal(miner.add('sshd', 'pam_unix(sshd:session): session opened for user deploy by (uid=0)').id, id);
    assert.equal(miner.template(id), 'pam_unix(sshd:session): session opened for user <*> by (uid=<*>)');
  });

  test('messages of different token counts never share a pattern', () => {
    const miner = new PatternMiner();
    assert.notEqual(miner.add('s', 'worker started').id, miner.add('s', 'worker started again').id);
  });

  test('services are mined apart: one message in two services makes two patterns', () => {
    const miner = new PatternMiner();
    const a = miner.add('a', 'Connection reset by peer');
    const b = miner.add('b', 'Connection reset by peer');
    assert.notEqual(a.id, b.id);
    assert.ok(b.created);
    assert.equal(miner.add('a', 'Connection reset by peer').id, a.id);
    assert.equal(miner.add('b', 'Connection reset by peer').id, b.id);
    assert.equal(miner.pattern(a.id)!.count, 2);
  });

  test('an empty message and a very long one are mined like any other', () => {
    const miner = new PatternMiner();
    assert.equal(miner.add('s', '').id, miner.add('s', '   ').id);
    assert.equal(miner.template(1), '');
    const long = (n: number) => `stack ${'frame at com.example.Service.call(Service.java:42) '.repeat(300)}${n}`;
    const id = miner.add('s', long(1)).id;
    assert.equal(miner.add('s', long(2)).id, id);
    assert.ok(miner.template(id)!.endsWith('<*>'));
  });

  test('template and pattern of an unknown id are undefined', () => {
    const miner = new PatternMiner();
    assert.equal(miner.template(99), undefined);
    assert.equal(miner.pattern(99), undefined);
  });
});

describe('PatternMiner: the cap and <other>', () => {
  test('past maxPerService new shapes fold into the service\'s <other> pattern and are counted', () => {
    const miner = new PatternMiner({ maxPerService: 2 });
    const a = miner.add('s', 'alpha event happened');
    const b = miner.add('s', 'beta thing occurred here');
    const other = miner.add('s', 'gamma news arrived');
    assert.ok(other.created);
    assert.equal(miner.template(other.id), '<other>');
    assert.deepEqual(miner.add('s', 'delta report came in today'), { id: other.id, created: false });
    // Repeats of a folded message are folded again, cached or not.
    assert.equal(miner.add('s', 'gamma news arrived').id, other.id);
    assert.equal(miner.folded('s'), 3);
    assert.equal(miner.pattern(other.id)!.count, 3);
    // Logs of the patterns it has still join them.
    assert.equal(miner.add('s', 'alpha event happened').id, a.id);
    assert.equal(miner.add('s', 'beta thing occurred here').id, b.id);
    assert.equal(miner.patterns('s').length, 3);
    // Other services are not affected.
    assert.ok(miner.add('t', 'gamma news arrived').created);
    assert.equal(miner.folded('t'), 0);
  });

  test('memory stays bounded whatever arrives', () => {
    const miner = new PatternMiner({ maxPerService: 50, cacheEntries: 100 });
    const random = seededRandom(5);
    const word = () => Array.from({ length: 6 }, () => 'abcdefghijklmnopqrstuvwxyz'[Math.floor(random() * 26)]).join('');
    for (let i = 0; i < 5000; i++) miner.add('noisy', `${word()} ${word()} ${word()}`);
    assert.equal(miner.patterns('noisy').length, 51);
    assert.ok(miner.folded('noisy') > 4000);
  });
});

describe('PatternMiner: restore', () => {
  function mined(): { miner: PatternMiner; ids: number[] } {
    const miner = new PatternMiner({ maxPerService: 3 });
    const ids = [
      miner.add('api', 'GET /orders 200 in 12 ms'),
      miner.add('api', 'Upstream order-service returned 503'),
      miner.add('auth', 'User alice logged in from 10.0.0.1'),
      miner.add('auth', 'User bob logged in from 10.0.0.2'),
      miner.add('api', 'Cache warmed with 120 entries'),
      miner.add('api', 'something else entirely here'),
    ].map((r) => r.id);
    return { miner, ids };
  }

  test('ids survive a restart and new logs join the restored patterns', () => {
    const { miner, ids } = mined();
    const saved = miner.patterns();
    const restarted = new PatternMiner({ maxPerService: 3 });
    restarted.restore(saved);
    assert.deepEqual(restarted.patterns(), saved);
    assert.deepEqual(restarted.add('api', 'GET /orders 200 in 99 ms'), { id: ids[0], created: false });
    assert.deepEqual(restarted.add('auth', 'User carol logged in from 10.0.0.3'), { id: ids[2], created: false });
    assert.equal(restarted.template(ids[2]!), 'User <*> logged in from <*>');
    // The cap and <other> carry over.
    assert.deepEqual(restarted.add('api', 'yet another shape of message'), { id: ids[5], created: false });
    // A new pattern gets an id above every restored one.
    const fresh = restarted.add('auth', 'Password reset requested');
    assert.ok(fresh.created);
    assert.equal(fresh.id, Math.max(...ids) + 1);
  });

  test('a restored template whose first token generalised still takes logs with a constant first token', () => {
    const miner = new PatternMiner();
    miner.restore([
      { id: 7, service: 's', tokens: ['<*>', 'startup', 'succeeded'], count: 3 },
      { id: 8, service: 's', tokens: ['cupsd', 'shutdown', 'failed'], count: 1 },
    ]);
    assert.deepEqual(miner.add('s', 'cupsd startup succeeded'), { id: 7, created: false });
    assert.deepEqual(miner.add('s', 'cupsd shutdown failed'), { id: 8, created: false });
  });

  test('a restored <other> is the service\'s <other>', () => {
    const miner = new PatternMiner({ maxPerService: 1 });
    miner.restore([
      { id: 3, service: 's', tokens: ['first', 'event'], count: 10 },
      { id: 4, service: 's', tokens: OTHER_TEMPLATE, count: 5 },
    ]);
    assert.deepEqual(miner.add('s', 'brand new shape'), { id: 4, created: false });
    assert.equal(miner.pattern(4)!.count, 6);
  });

  test('restoring an id twice, or a bad id, is refused', () => {
    const record: PatternRecord = { id: 1, service: 's', tokens: ['a'], count: 1 };
    assert.throws(() => new PatternMiner().restore([record, record]), /restored twice/);
    assert.throws(() => new PatternMiner().restore([{ ...record, id: 0 }]), /positive safe integer/);
  });
});

describe('PatternMiner: ids chosen by an allocator', () => {
  test('hashed ids are equal across miners (replicas) for equal first shapes, and differ by service', () => {
    const one = new PatternMiner({ allocateId: hashedIds() });
    const two = new PatternMiner({ allocateId: hashedIds() });
    const a = one.add('api', 'Upstream order-service returned 503');
    const b = two.add('api', 'Upstream order-service returned 502');
    assert.equal(a.id, b.id);
    assert.ok(Number.isSafeInteger(a.id) && a.id > 0);
    assert.notEqual(one.add('web', 'Upstream order-service returned 503').id, a.id);
  });

  test('an id already held is asked for again with the next attempt; an allocator that never yields a free one is an error', () => {
    const attempts: number[] = [];
    const clumsy: IdAllocator = (_service, _template, attempt) => {
      attempts.push(attempt);
      return 100 + attempt;
    };
    const miner = new PatternMiner({ allocateId: clumsy });
    assert.equal(miner.add('s', 'first event').id, 100);
    assert.equal(miner.add('s', 'second event here').id, 101);
    assert.deepEqual(attempts, [0, 0, 1]);
    const stuck = new PatternMiner({ allocateId: () => 5 });
    stuck.add('s', 'first event');
    assert.throws(() => stuck.add('s', 'second event here'), /already held/);
    assert.throws(() => new PatternMiner({ allocateId: () => 1.5 }).add('s', 'x'), /positive safe integer/);
  });

  test('sequential ids start where asked', () => {
    const miner = new PatternMiner({ allocateId: sequentialIds(1000) });
    assert.equal(miner.add('s', 'hello').id, 1000);
    assert.equal(miner.add('s', 'hello there world').id, 1001);
  });
});

describe('PatternMiner: changes for a writer', () => {
  test('takeChanges returns what was created, generalised or counted since the last call', () => {
    const miner = new PatternMiner();
    const a = miner.add('s', 'job 1 finished in 3 s').id;
    const b = miner.add('s', 'queue drained').id;
    assert.deepEqual(
      miner.takeChanges().map((p) => p.id),
      [a, b],
    );
    assert.deepEqual(miner.takeChanges(), []);
    miner.add('s', 'job 2 finished in 9 s');
    assert.deepEqual(miner.takeChanges(), [{ id: a, service: 's', tokens: ['job', '<*>', 'finished', 'in', '<*>', 's'], count: 2 }]);
  });
});

describe("PatternMiner: another server's <other>", () => {
  test("a second <other> of a service (another replica's, its id moved by a hash collision) is held by id; the first stays the overflow", () => {
    const miner = new PatternMiner({ maxPerService: 1 });
    miner.restore([{ id: 10, service: 's', tokens: ['<other>'], count: 4 }]);
    // Before: "service s has two <other> patterns", thrown at every shared refresh from then on.
    miner.restore([{ id: 11, service: 's', tokens: ['<other>'], count: 2 }]);
    assert.ok(miner.has(11));
    assert.deepEqual(miner.describe(11), { service: 's', template: '<other>' });
    assert.deepEqual(miner.add('s', 'first shape'), { id: 12, created: true });
    assert.deepEqual(miner.add('s', 'Second shape here'), { id: 10, created: false });
    assert.equal(miner.pattern(10)!.count, 5);
    assert.equal(miner.pattern(11)!.count, 2);
  });
});

describe('PatternMiner: the message cache', () => {
  test('gives the same ids and counts as mining without it', () => {
    const random = seededRandom(11);
    const logs = Array.from({ length: 20_000 }, () => generateLog(random, { now: 0, spreadMs: 1 }));
    const cached = new PatternMiner({ cacheEntries: 500 });
    const uncached = new PatternMiner({ cacheEntries: 0 });
    for (const log of logs) assert.deepEqual(cached.add(log.service, log.message), uncached.add(log.service, log.message));
    assert.deepEqual(cached.patterns(), uncached.patterns());
  });

  test('gives the same ids, templates and counts as mining without it on every style of the labelled corpus', () => {
    // Messages that differ only in their digits take the shape cache: it must never give an answer mining would not.
    const dir = fileURLToPath(new URL('../../fixtures/patterns/', import.meta.url));
    const logs: { service: string; message: string }[] = [];
    for (const half of ['tune', 'holdout']) {
      for (const file of readdirSync(join(dir, half)).filter((f) => f.endsWith('.jsonl')).sort()) {
        for (const line of readFileSync(join(dir, half, file), 'utf8').split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as { service: string; message: string });
      }
    }
    // Each line again with other digits, and a few lines whose digits are not all masked.
    const redigit = (m: string): string => m.replace(/[1-9]/g, (d) => String((Number(d) % 9) + 1));
    const extra = ['GET /a HTTP/1.1 done', 'GET /a HTTP/2.1 done', 'reg 0x1f set', 'reg 1x1f set', 'reg 0x2f set', 'node-1 up', 'node-2 up', 'v1 ready', 'v2 ready'];
    const all = [...logs, ...logs.map((l) => ({ ...l, message: redigit(l.message) })), ...extra.map((message) => ({ service: 'x', message }))];
    const cached = new PatternMiner({ cacheEntries: 1000 });
    const uncached = new PatternMiner({ cacheEntries: 0 });
    for (const log of all) assert.deepEqual(cached.add(log.service, log.message), uncached.add(log.service, log.message), log.message);
    assert.deepEqual(cached.patterns(), uncached.patterns());
  });

  test('services sharing messages and shapes, and messages sharing a slot, get what mining gives', () => {
    // The smallest table (1,024 slots) and 6,000 shapes: slots are shared and overwritten all the time.
    const logs: { service: string; message: string }[] = [];
    const random = seededRandom(5);
    for (let i = 0; i < 30_000; i++) {
      const shape = Math.floor(random() * 6000);
      const digits = String(Math.floor(random() * 1e6));
      const service = random() < 0.5 ? 'a' : 'b';
      // Words that Drain keeps apart (capitalised), so each shape is its own pattern; some messages repeat exactly.
      const word = `Q${shape.toString(36)}`;
      // Masked digits (the shape table), a digit masking leaves (user3: the exact table only), or none.
      const kind = random();
      const message = kind < 0.3 ? `${word} started` : kind < 0.8 ? `${word} took ${digits} ms` : `${word} took ${digits} ms for user${shape % 7}`;
      logs.push({ service, message });
    }
    const cached = new PatternMiner({ cacheEntries: 1 });
    const uncached = new PatternMiner({ cacheEntries: 0 });
    for (const log of logs) assert.deepEqual(cached.add(log.service, log.message), uncached.add(log.service, log.message), `${log.service}: ${log.message}`);
    assert.deepEqual(cached.patterns(), uncached.patterns());
    // And idOf, which ingest calls, agrees with add.
    for (const log of logs.slice(0, 1000)) assert.equal(cached.idOf(log.service, log.message), uncached.add(log.service, log.message).id);
  });

  test('messages longer than cacheMaxLength are mined without it', () => {
    const miner = new PatternMiner({ cacheMaxLength: 10 });
    assert.equal(miner.add('s', 'a rather long message 1').id, miner.add('s', 'a rather long message 2').id);
  });
});

describe('options', () => {
  test('bad settings are refused when the miner is made', () => {
    assert.throws(() => new PatternMiner({ maxPerService: 0 }), /maxPerService/);
    assert.throws(() => new PatternMiner({ drain: { ...DRAIN_DEFAULTS, depth: 2 } }), /depth/);
    assert.throws(() => new PatternMiner({ drain: { ...DRAIN_DEFAULTS, maxChildren: 1 } }), /maxChildren/);
  });
});

describe('DrainTree', () => {
  test('past maxChildren, new first tokens share the <*> branch and still find their clusters', () => {
    const tree = new DrainTree({ ...DRAIN_DEFAULTS, maxChildren: 3 });
    const clusters = new Map<string, number>();
    let next = 1;
    const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'];
    for (const round of [0, 1]) {
      for (const w of words) {
        const tokens = tokenize(maskMessage(`${w} service restarted cleanly`));
        const found = tree.match(tokens);
        if (round === 0) {
          assert.equal(found, undefined, w);
          const c = new Cluster(next++, 's', tokens);
          tree.insert(c);
          clusters.set(w, c.id);
        } else {
          assert.equal(found?.id, clusters.get(w), w);
        }
      }
    }
  });
});
