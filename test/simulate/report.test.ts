import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { exitCode, LiveStatus, progressLine, summaryTable } from '../../server/simulate/report.js';
import type { ServiceStats, ShipSummary } from '../../server/simulate/shipper.js';

/** The live status lines, the end-of-run table and the exit status, from made-up stats. */

function stats(over: Partial<ServiceStats> = {}): ServiceStats {
  return {
    service: 'auth-service',
    generated: 1200,
    sent: 1200,
    accepted: 1200,
    rejected: 0,
    retried: 0,
    dropped: 0,
    dropped_queue_full: 0,
    dropped_at_exit: 0,
    queued: 0,
    state: 'sending',
    last_error: undefined,
    rate: 12.34,
    ...over,
  };
}

function summary(services: ServiceStats[]): ShipSummary {
  const total = { generated: 0, sent: 0, accepted: 0, rejected: 0, retried: 0, dropped: 0, dropped_queue_full: 0, dropped_at_exit: 0, queued: 0, rate: 0 };
  for (const s of services) for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += s[k];
  return { endpoint: 'http://127.0.0.1:5000/api/logs', format: 'json', elapsed_s: 12.345, aborted: false, services, total };
}

describe('progressLine', () => {
  test('state and counts; the last error only while retrying or stopped', () => {
    const line = progressLine(stats({ queued: 30 }), 14, 200);
    assert.equal(line, 'auth-service    sending   sent 1,200  accepted 1,200  rejected 0  retried 0  dropped 0  queued 30  12.3/s');
    assert.ok(!progressLine(stats({ last_error: 'HTTP 207: 1 of 5 rejected' }), 12, 200).includes('HTTP 207'));
    assert.match(progressLine(stats({ state: 'retrying', last_error: 'ECONNREFUSED' }), 12, 200), /retrying .*  ECONNREFUSED$/);
    assert.match(progressLine(stats({ state: 'stopped', last_error: 'HTTP 401: no' }), 12, 200), /stopped .*  HTTP 401: no$/);
    assert.match(progressLine(stats({ rate: 1234.5 }), 12, 200), / 1,235\/s$/);
  });

  test('cut to the terminal width', () => {
    const line = progressLine(stats({ state: 'retrying', last_error: 'x'.repeat(200) }), 12, 60);
    assert.equal(line.length, 60);
    assert.ok(line.endsWith('…'));
  });
});

describe('LiveStatus', () => {
  function fakeStream(columns = 200): { out: string[]; stream: NodeJS.WriteStream } {
    const out: string[] = [];
    return { out, stream: { columns, write: (t: string) => out.push(t) } as unknown as NodeJS.WriteStream };
  }

  test('redraws its lines in place and writes notes above them', () => {
    const { out, stream } = fakeStream();
    const live = new LiveStatus(stream);
    const two = [stats(), stats({ service: 'payment-service' })];
    live.draw(two);
    assert.ok(!out[0]!.includes('\x1b[2F'), 'nothing to go back over the first time');
    assert.equal(out[0]!.split('\x1b[2K').length - 1, 2, 'each line is cleared before it is written');
    live.draw(two);
    assert.ok(out[1]!.startsWith('\x1b[2F'), 'back up over the two lines drawn');
    live.note('SIGINT: stopping');
    assert.equal(out[2], '\x1b[2F\x1b[0JSIGINT: stopping\n');
    live.draw(two);
    assert.ok(!out[3]!.startsWith('\x1b[2F'), 'below the note, not over it');
  });
});

describe('summaryTable and exitCode', () => {
  test('a row per service and a total, with the reasons for any loss', () => {
    const table = summaryTable(
      summary([
        stats(),
        stats({ service: 'payment-service', accepted: 900, dropped: 300, dropped_queue_full: 200, dropped_at_exit: 100, sent: 900, state: 'done', last_error: 'ECONNREFUSED' }),
        stats({ service: 'user-service', generated: 10, sent: 5, accepted: 0, rejected: 5, dropped: 5, dropped_at_exit: 5, state: 'stopped', last_error: 'HTTP 401: who?' }),
      ]),
    );
    const lines = table.split('\n');
    assert.equal(lines[0], '2,410 logs generated in 12.3 s, shipped to http://127.0.0.1:5000/api/logs as json');
    assert.match(lines[2]!, /^service\s+sent\s+accepted\s+rejected\s+retried\s+dropped\s+logs\/s$/);
    assert.match(lines[3]!, /^-+$/);
    assert.match(table, /^auth-service\s+1,200\s+1,200\s+0\s+0\s+0\s+12\.3$/m);
    assert.match(table, /^total\s+2,105\s+2,100\s+5\s+0\s+305\s+37\.0$/m);
    assert.match(table, /^payment-service: 200 dropped from a full queue; 100 undelivered at exit; last error: ECONNREFUSED$/m);
    assert.match(table, /^user-service: 5 undelivered at exit; stopped after HTTP 401: who\?$/m);
    assert.doesNotMatch(table, /^auth-service:/m, 'no note for a service that lost nothing');
    const widths = new Set(lines.slice(2).filter((l) => l !== '' && !l.includes(':')).map((l) => l.length));
    assert.equal(widths.size, 1, 'the columns line up');
  });

  test('exit status 0 only when every generated log was accepted', () => {
    assert.equal(exitCode(summary([stats()])), 0);
    assert.equal(exitCode(summary([stats({ accepted: 1199, rejected: 1 })])), 1);
    assert.equal(exitCode(summary([stats({ accepted: 1199, dropped: 1, dropped_at_exit: 1 })])), 1);
    assert.equal(exitCode(summary([stats({ accepted: 1199 })])), 1, 'a log unaccounted for');
    assert.equal(exitCode(summary([stats({ generated: 0, sent: 0, accepted: 0 })])), 0, 'nothing to ship is not a failure');
  });
});
