import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LEVELS, levelFromName, levelFromSeverityNumber } from '../../server/core/log.js';

describe('levelFromName: the level words shippers send', () => {
  test('our own names, in any case and with surrounding space', () => {
    for (const level of LEVELS) {
      assert.equal(levelFromName(level), level);
      assert.equal(levelFromName(level.toLowerCase()), level);
      assert.equal(levelFromName(` ${level[0]}${level.slice(1).toLowerCase()} `), level);
    }
  });

  test('aliases from Loki, syslog, pino, Log4j and ECS', () => {
    const cases: Record<string, string> = {
      trace: 'DEBUG',
      verbose: 'DEBUG',
      dbg: 'DEBUG',
      notice: 'INFO',
      informational: 'INFO',
      Warn: 'WARNING',
      WRN: 'WARNING',
      err: 'ERROR',
      SEVERE: 'ERROR',
      fatal: 'CRITICAL',
      crit: 'CRITICAL',
      emerg: 'CRITICAL',
      alert: 'CRITICAL',
      panic: 'CRITICAL',
    };
    for (const [word, level] of Object.entries(cases)) assert.equal(levelFromName(word), level, word);
  });

  test('words that name no level, including Loki\'s "unknown", are undefined', () => {
    for (const word of ['', 'unknown', 'inf', 'warnings', '5', 'constructor', '__proto__', 'toString']) assert.equal(levelFromName(word), undefined, word);
  });
});

describe('levelFromSeverityNumber: OpenTelemetry severity ranges', () => {
  test('each range maps to its level; both ends of each range', () => {
    const want: Array<[number, string]> = [
      [1, 'DEBUG'],
      [4, 'DEBUG'],
      [5, 'DEBUG'],
      [8, 'DEBUG'],
      [9, 'INFO'],
      [12, 'INFO'],
      [13, 'WARNING'],
      [16, 'WARNING'],
      [17, 'ERROR'],
      [20, 'ERROR'],
      [21, 'CRITICAL'],
      [24, 'CRITICAL'],
    ];
    for (const [n, level] of want) assert.equal(levelFromSeverityNumber(n), level, String(n));
  });

  test('0 (unspecified), out of range and fractional numbers are undefined', () => {
    for (const n of [0, -1, 25, 9.5, Number.NaN, Infinity]) assert.equal(levelFromSeverityNumber(n), undefined, String(n));
  });
});
