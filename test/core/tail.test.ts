import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '../../server/core/errors.js';
import { StoredLog, toView, type Level } from '../../server/core/log.js';
import { RecentLogs } from '../../server/core/recent-logs.js';
import { HEARTBEAT, TailHub, logEvent, type Every, type TailWriter } from '../../server/core/tail.js';
import { ManualClock } from '../helpers.js';

const T0 = Date.parse('2024-01-15T14:30:00Z');

function mk(id: number, s: { level?: Level; service?: string; message?: string } = {}): StoredLog {
  return new StoredLog(id, T0 + id, new Date(T0 + id).toISOString(), s.level ?? 'INFO', s.service ?? 'svc-a', s.message ?? `message ${id}`, undefined, undefined, T0 + id);
}

/** A writer that takes `accept` chunks before it reports being backed up (Infinity: never). */
class FakeWriter implements TailWriter {
  chunks: string[] = [];
  ended: string | undefined;
  constructor(public accept = Infinity) {}
  write(chunk: string): boolean {
    assert.equal(this.ended, undefined, 'no write after end');
    this.chunks.push(chunk);
    return this.chunks.length < this.accept;
  }
  end(chunk: string): void {
    assert.equal(this.ended, undefined, 'ended once');
    this.ended = chunk;
  }
  /** Ids of the log events written, in order. */
  get ids(): number[] {
    return this.chunks.filter((c) => c.startsWith('id: ')).map((c) => Number(/^id: (\d+)\n/.exec(c)![1]));
  }
  /** The final event's name and data. */
  get final(): { event: string; data: Record<string, unknown> } {
    const m = /^event: (\w+)\ndata: (.*)\n\n$/.exec(this.ended ?? '');
    assert.ok(m, `a final event: ${JSON.stringify(this.ended)}`);
    return { event: m[1]!, data: JSON.parse(m[2]!) as Record<string, unknown> };
  }
}

/** Timers the test fires by hand. */
class FakeTimers {
  readonly running = new Map<number, { ms: number; fn: () => void }>();
  private next = 0;
  readonly every: Every = (ms, fn) => {
    const id = ++this.next;
    this.running.set(id, { ms, fn });
    return () => this.running.delete(id);
  };
  fire(): void {
    for (const { fn } of [...this.running.values()]) fn();
  }
}

interface Setup {
  hub: TailHub;
  store: RecentLogs;
  clock: ManualClock;
  timers: FakeTimers;
  /** What the ingest pipeline does with an accepted batch: the buffer, then the hub. */
  ingest(logs: StoredLog[]): void;
}

function setUp(opts: { maxClients?: number; maxPendingEvents?: number; capacity?: number } = {}): Setup {
  const store = new RecentLogs(opts.capacity ?? 10_000);
  const clock = new ManualClock();
  const timers = new FakeTimers();
  const hub = new TailHub({
    maxClients: opts.maxClients ?? 4,
    maxPendingEvents: opts.maxPendingEvents ?? 100,
    heartbeatMs: 15_000,
    recent: store,
    lastAssignedId: () => store.arrivedAfter(0, {}).at(-1)?.id ?? 0,
    now: clock.now,
    every: timers.every,
  });
  return {
    hub,
    store,
    clock,
    timers,
    ingest(logs) {
      store.append(logs);
      hub.append(logs);
    },
  };
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('TailHub', () => {
  test('a batch costs nothing when nobody tails: no log is even looked at', () => {
    const { hub } = setUp();
    let touched = 0;
    const spy = new Proxy(mk(1), {
      get(target, prop, receiver) {
        touched++;
        return Reflect.get(target, prop, receiver);
      },
    });
    hub.append([spy, spy, spy]);
    assert.equal(touched, 0);
    assert.equal(hub.stats().events, 0);
  });

  test('each accepted log goes to every tail whose filter matches, in order, as the JSON view of GET /api/logs', () => {
    const { hub, ingest } = setUp();
    const all = new FakeWriter();
    const errors = new FakeWriter();
    const svcB = new FakeWriter();
    const text = new FakeWriter();
    hub.open({ filters: {}, writer: all });
    hub.open({ filters: { levels: ['ERROR', 'CRITICAL'] }, writer: errors });
    hub.open({ filters: { services: ['svc-b'] }, writer: svcB });
    hub.open({ filters: { text: 'TIMEOUT' }, writer: text });
    ingest([mk(1), mk(2, { level: 'ERROR' }), mk(3, { service: 'svc-b', message: 'db timeout' })]);
    ingest([mk(4, { level: 'CRITICAL', service: 'svc-b' })]);
    assert.deepEqual(all.ids, [1, 2, 3, 4]);
    assert.deepEqual(errors.ids, [2, 4]);
    assert.deepEqual(svcB.ids, [3, 4]);
    assert.deepEqual(text.ids, [3]);
    const log = mk(2, { level: 'ERROR' });
    assert.equal(errors.chunks[1], `id: 2\nevent: log\ndata: ${JSON.stringify(toView(log))}\n\n`);
    assert.equal(logEvent(log), errors.chunks[1]);
    assert.deepEqual(hub.stats(), { active: 4, opened: 4, refused: 0, dropped: 0, events: 9, last_drop_at: null });
  });

  test('a backed-up writer gets what waited, in order, once it drains', () => {
    const { hub, ingest } = setUp({ maxPendingEvents: 10 });
    const w = new FakeWriter(3);
    const tail = hub.open({ filters: {}, writer: w });
    ingest([mk(1), mk(2), mk(3), mk(4)]);
    assert.deepEqual(w.ids, [1, 2], 'nothing more is written while backed up');
    ingest([mk(5)]);
    w.accept = Infinity;
    tail.drained();
    assert.deepEqual(w.ids, [1, 2, 3, 4, 5]);
    ingest([mk(6)]);
    assert.deepEqual(w.ids, range(1, 6));
    assert.equal(w.ended, undefined);
  });

  test('a writer that stays backed up past max_pending_events is dropped with a final event and forgotten', () => {
    const { hub, ingest, clock, timers } = setUp({ maxPendingEvents: 5 });
    const slow = new FakeWriter(4);
    const fast = new FakeWriter();
    hub.open({ filters: {}, writer: slow });
    hub.open({ filters: {}, writer: fast });
    clock.advance(42_000);
    ingest([mk(1), mk(2), mk(3), mk(4), mk(5), mk(6), mk(7), mk(8)]);
    assert.deepEqual(slow.ids, [1, 2, 3], 'three taken, five waited');
    assert.equal(slow.ended, undefined, 'five pending is within the limit');
    ingest([mk(9), mk(10)]);
    assert.deepEqual(slow.final, {
      event: 'dropped',
      data: {
        reason: 'this client read too slowly: more than 5 events were waiting to be sent (tail.max_pending_events); reconnect with Last-Event-ID to resume',
        last_id: 3,
        pending: 6,
      },
    });
    assert.equal(hub.stats().active, 1);
    assert.equal(hub.stats().dropped, 1);
    assert.equal(hub.stats().last_drop_at, clock.ms);
    assert.equal(timers.running.size, 1, "the dropped tail's heartbeat is stopped");
    assert.deepEqual(fast.ids, range(1, 10), 'the other tail is not held back');
    ingest([mk(11)]);
    assert.deepEqual(slow.ids, [1, 2, 3]);
  });

  test('max_clients caps the open tails (429 with Retry-After); a closed tail frees its slot', () => {
    const { hub } = setUp({ maxClients: 2 });
    const a = hub.open({ filters: {}, writer: new FakeWriter() });
    hub.open({ filters: {}, writer: new FakeWriter() });
    assert.throws(
      () => hub.open({ filters: {}, writer: new FakeWriter() }),
      (e: unknown) => e instanceof AppError && e.statusCode === 429 && e.code === 'TAIL_LIMIT' && e.headers['retry-after'] === '10' && e.message.includes('tail.max_clients'),
    );
    assert.equal(hub.stats().refused, 1);
    a.close();
    a.close();
    assert.equal(hub.stats().active, 1);
    hub.open({ filters: {}, writer: new FakeWriter() });
    assert.equal(hub.stats().active, 2);
  });

  test('max_clients 0 turns tailing off: 404', () => {
    const { hub } = setUp({ maxClients: 0 });
    assert.equal(hub.enabled, false);
    assert.throws(() => hub.requireEnabled(), (e: unknown) => e instanceof AppError && e.statusCode === 404 && e.code === 'TAIL_DISABLED');
    assert.throws(() => hub.open({ filters: {}, writer: new FakeWriter() }), (e: unknown) => e instanceof AppError && e.statusCode === 404);
  });

  test('Last-Event-ID: the buffered matches after it first, then live ones, with no gap and no duplicate', () => {
    const { hub, ingest } = setUp();
    ingest(range(1, 10).map((id) => mk(id, { level: id % 2 === 0 ? 'ERROR' : 'INFO' })));
    const w = new FakeWriter();
    hub.open({ filters: { levels: ['ERROR'] }, writer: w, lastEventId: 4 });
    assert.deepEqual(w.ids, [6, 8, 10]);
    ingest([mk(11), mk(12, { level: 'ERROR' })]);
    assert.deepEqual(w.ids, [6, 8, 10, 12]);
  });

  test('Last-Event-ID: a backlog longer than a page, paced by the writer, with live logs after it', () => {
    const { hub, ingest } = setUp({ maxPendingEvents: 10 });
    ingest(range(1, 2500).map((id) => mk(id)));
    const w = new FakeWriter(100);
    const tail = hub.open({ filters: {}, writer: w, lastEventId: 100, limit: 3 });
    assert.deepEqual(w.ids, range(101, 200), 'written until the writer backs up');
    ingest([mk(2501), mk(2502)]);
    assert.equal(w.ended, undefined, 'the backlog is not pending: a large one does not drop the tail');
    w.accept = Infinity;
    tail.drained();
    assert.deepEqual(w.ids, range(101, 2502), 'limit is not used on a resume');
  });

  test('Last-Event-ID equal to the last id assigned: only live logs', () => {
    const { hub, ingest } = setUp();
    ingest([mk(1), mk(2)]);
    const w = new FakeWriter();
    hub.open({ filters: {}, writer: w, lastEventId: 2 });
    ingest([mk(3)]);
    assert.deepEqual(w.ids, [3]);
  });

  test('Last-Event-ID above any id assigned (a restart without persistence numbered from 1 again): everything buffered since', () => {
    const { hub, ingest } = setUp();
    ingest([mk(1), mk(2)]);
    const w = new FakeWriter();
    hub.open({ filters: {}, writer: w, lastEventId: 99 });
    ingest([mk(3)]);
    assert.deepEqual(w.ids, [1, 2, 3]);
  });

  test('a ready event ends the backlog, even an empty one; live logs waiting behind it follow it', () => {
    const { hub, ingest } = setUp();
    const none = new FakeWriter();
    hub.open({ filters: {}, writer: none });
    assert.deepEqual(none.chunks, ['event: ready\ndata: {"backlog":0}\n\n']);

    ingest([mk(1), mk(2), mk(3)]);
    const w = new FakeWriter(2);
    const tail = hub.open({ filters: {}, writer: w, limit: 3 });
    ingest([mk(4)]);
    w.accept = Infinity;
    tail.drained();
    assert.deepEqual(
      w.chunks.map((c) => c.split('\n')[0]),
      ['id: 1', 'id: 2', 'id: 3', 'event: ready', 'id: 4'],
    );
    assert.equal(w.chunks[3], 'event: ready\ndata: {"backlog":3}\n\n');
  });

  test('limit on a fresh tail: the newest matching buffered logs first, oldest first', () => {
    const { hub, ingest } = setUp();
    ingest(range(1, 20).map((id) => mk(id, { service: id % 4 === 0 ? 'svc-b' : 'svc-a' })));
    const w = new FakeWriter();
    hub.open({ filters: { services: ['svc-b'] }, writer: w, limit: 3 });
    assert.deepEqual(w.ids, [12, 16, 20]);
    const none = new FakeWriter();
    hub.open({ filters: {}, writer: none });
    assert.deepEqual(none.ids, [], 'no limit, no backlog');
    ingest([mk(21), mk(24, { service: 'svc-b' })]);
    assert.deepEqual(w.ids, [12, 16, 20, 24]);
    assert.deepEqual(none.ids, [21, 24]);
  });

  test('heartbeats: a ping each tick, none while backed up, stopped when the tail ends', () => {
    const { hub, timers, ingest } = setUp();
    const w = new FakeWriter();
    const tail = hub.open({ filters: {}, writer: w });
    assert.equal(timers.running.size, 1);
    assert.equal([...timers.running.values()][0]!.ms, 15_000);
    timers.fire();
    assert.deepEqual(w.chunks.slice(1), [HEARTBEAT]);
    assert.equal(HEARTBEAT, ': ping\n\n');
    w.accept = 3;
    ingest([mk(1)]);
    timers.fire();
    assert.equal(w.chunks.length, 3, 'no ping added to a backed-up writer');
    tail.close();
    assert.equal(timers.running.size, 0);
  });

  test('closeAll ends every tail with a closing event naming the last id, and refuses new ones', () => {
    const { hub, ingest, timers } = setUp();
    const a = new FakeWriter();
    const b = new FakeWriter();
    hub.open({ filters: {}, writer: a });
    hub.open({ filters: { services: ['nobody'] }, writer: b });
    ingest([mk(1), mk(2)]);
    hub.closeAll();
    assert.deepEqual(a.final, { event: 'closing', data: { reason: 'the server is shutting down; reconnect with Last-Event-ID to resume', last_id: 2 } });
    assert.deepEqual(b.final.data.last_id, null);
    assert.equal(hub.stats().active, 0);
    assert.equal(timers.running.size, 0);
    assert.throws(() => hub.open({ filters: {}, writer: new FakeWriter() }), (e: unknown) => e instanceof AppError && e.statusCode === 503);
  });

  test('a tail closed by its client gets nothing more', () => {
    const { hub, ingest } = setUp();
    const w = new FakeWriter();
    const tail = hub.open({ filters: {}, writer: w });
    ingest([mk(1)]);
    tail.close();
    ingest([mk(2)]);
    tail.drained();
    assert.deepEqual(w.ids, [1]);
    assert.equal(w.ended, undefined);
    assert.equal(hub.stats().active, 0);
  });
});
