import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MINUTE_MS, isNaiveDateTime, minuteKey, minuteOf, parseQueryTime, parseRfc3339, parseRfc3339Slow, toIso, toNaiveUtc } from '../../server/core/time.js';

const utc = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number => Date.UTC(y, mo - 1, d, h, mi, s, ms);

describe('parseRfc3339: accepted', () => {
  test('Z suffix', () => {
    assert.equal(parseRfc3339('2024-01-15T14:30:00Z'), utc(2024, 1, 15, 14, 30));
  });

  test('lowercase t and z', () => {
    assert.equal(parseRfc3339('2024-01-15t14:30:00z'), utc(2024, 1, 15, 14, 30));
    assert.equal(parseRfc3339('2024-01-15t14:30:00Z'), utc(2024, 1, 15, 14, 30));
  });

  test('fractions of 1 to 9 digits, truncated to milliseconds', () => {
    const base = utc(2024, 1, 15, 14, 30, 0);
    const cases: [string, number][] = [
      ['5', 500],
      ['12', 120],
      ['123', 123],
      ['1239', 123],
      ['99999', 999],
      ['999999', 999],
      ['1234567', 123],
      ['98765432', 987],
      ['123456789', 123],
      ['000000001', 0],
    ];
    for (const [frac, ms] of cases) {
      assert.equal(parseRfc3339(`2024-01-15T14:30:00.${frac}Z`), base + ms, `fraction .${frac}`);
    }
  });

  test('rejects 10 fraction digits and an empty fraction', () => {
    assert.equal(parseRfc3339('2024-01-15T14:30:00.1234567890Z'), Number.NaN);
    assert.equal(parseRfc3339('2024-01-15T14:30:00.Z'), Number.NaN);
  });

  test('+hh:mm and -hh:mm offsets shift to UTC', () => {
    assert.equal(parseRfc3339('2024-01-15T14:30:00+02:00'), utc(2024, 1, 15, 12, 30));
    assert.equal(parseRfc3339('2024-01-15T14:30:00-05:30'), utc(2024, 1, 15, 20, 0));
    assert.equal(parseRfc3339('2024-01-15T14:30:00+00:00'), utc(2024, 1, 15, 14, 30));
    assert.equal(parseRfc3339('2024-01-15T14:30:00-00:00'), utc(2024, 1, 15, 14, 30));
    assert.equal(parseRfc3339('2024-01-15T14:30:00.123+02:00'), utc(2024, 1, 15, 12, 30, 0, 123));
    // Extreme but valid offsets, crossing the date line.
    assert.equal(parseRfc3339('2024-01-01T00:00:00+23:59'), utc(2023, 12, 31, 0, 1));
    assert.equal(parseRfc3339('2024-12-31T23:00:00-23:59'), utc(2025, 1, 1, 22, 59));
  });

  test('Feb 29 on a leap year (2024, 2000)', () => {
    assert.equal(parseRfc3339('2024-02-29T00:00:00Z'), utc(2024, 2, 29));
    assert.equal(parseRfc3339('2000-02-29T12:00:00Z'), utc(2000, 2, 29, 12));
  });

  test('year bounds 1970 and 9999 are accepted', () => {
    assert.equal(parseRfc3339('1970-01-01T00:00:00Z'), 0);
    assert.equal(parseRfc3339('9999-12-31T23:59:59Z'), utc(9999, 12, 31, 23, 59, 59));
  });

  test('last day of 30- and 31-day months', () => {
    assert.equal(parseRfc3339('2024-04-30T00:00:00Z'), utc(2024, 4, 30));
    assert.equal(parseRfc3339('2024-12-31T00:00:00Z'), utc(2024, 12, 31));
  });
});

describe('parseRfc3339: rejected', () => {
  const rejected: [string, string][] = [
    ['naive (no offset)', '2024-01-15T14:30:00'],
    ['naive with fraction', '2024-01-15T14:30:00.123'],
    ['offset hour 25', '2024-01-15T14:30:00+25:00'],
    ['offset hour 24', '2024-01-15T14:30:00+24:00'],
    ['offset minute 60', '2024-01-15T14:30:00+05:60'],
    ['offset without colon', '2024-01-15T14:30:00+0500'],
    ['month 13', '2024-13-01T00:00:00Z'],
    ['month 00', '2024-00-10T00:00:00Z'],
    ['day 00', '2024-01-00T00:00:00Z'],
    ['Feb 30', '2024-02-30T00:00:00Z'],
    ['Feb 29 on 2023', '2023-02-29T00:00:00Z'],
    ['Feb 29 on 2100', '2100-02-29T00:00:00Z'],
    ['April 31', '2024-04-31T00:00:00Z'],
    ['hour 24', '2024-01-15T24:00:00Z'],
    ['minute 60', '2024-01-15T14:60:00Z'],
    ['second 61', '2024-01-15T23:59:61Z'],
    ['year 0000', '0000-01-01T00:00:00Z'],
    ['year 1969', '1969-12-31T23:59:59Z'],
    ['year 99999', '99999-01-01T00:00:00Z'],
    ['garbage', 'not a date'],
    ['empty string', ''],
    ['date only', '2024-01-15'],
    ['single-digit fields', '2024-1-5T4:3:2Z'],
    ['trailing junk', '2024-01-15T14:30:00Zjunk'],
    ['leading space', ' 2024-01-15T14:30:00Z'],
    ['missing seconds', '2024-01-15T14:30Z'],
  ];
  for (const [name, text] of rejected) {
    test(name, () => {
      const got = parseRfc3339(text);
      assert.equal(got, Number.NaN, `${JSON.stringify(text)} should be NaN, got ${got}`);
    });
  }
});

describe('parseRfc3339: leap seconds', () => {
  test('23:59:60Z folds into :59.999', () => {
    assert.equal(parseRfc3339('2016-12-31T23:59:60Z'), utc(2016, 12, 31, 23, 59, 59, 999));
  });

  test('23:59:60 with a fraction still folds to :59.999', () => {
    assert.equal(parseRfc3339('2016-12-31T23:59:60.5Z'), utc(2016, 12, 31, 23, 59, 59, 999));
  });

  test('12:00:60Z is rejected', () => {
    assert.equal(parseRfc3339('2016-12-31T12:00:60Z'), Number.NaN);
  });

  test('23:59:60+01:00 is 22:59:60 UTC and rejected', () => {
    assert.equal(parseRfc3339('2016-12-31T23:59:60+01:00'), Number.NaN);
  });

  test('00:59:60+01:00 is 23:59:60 UTC the previous day and accepted', () => {
    assert.equal(parseRfc3339('2017-01-01T00:59:60+01:00'), utc(2016, 12, 31, 23, 59, 59, 999));
  });

  test('18:59:60-05:00 is 23:59:60 UTC and accepted', () => {
    assert.equal(parseRfc3339('2016-12-31T18:59:60-05:00'), utc(2016, 12, 31, 23, 59, 59, 999));
  });
});

describe('isNaiveDateTime', () => {
  test('true only for a date-time without offset', () => {
    assert.equal(isNaiveDateTime('2025-04-01T12:00:00'), true);
    assert.equal(isNaiveDateTime('2025-04-01T12:00:00Z'), false);
    assert.equal(isNaiveDateTime('2025-04-01T12:00:00+01:00'), false);
    assert.equal(isNaiveDateTime('2025-04-01'), false);
    assert.equal(isNaiveDateTime('junk'), false);
  });
});

describe('parseQueryTime', () => {
  test('date only is midnight UTC', () => {
    assert.equal(parseQueryTime('2024-01-15'), utc(2024, 1, 15));
  });

  test('date only is calendar-checked', () => {
    assert.equal(parseQueryTime('2023-02-29'), Number.NaN);
    assert.equal(parseQueryTime('2024-13-01'), Number.NaN);
    assert.equal(parseQueryTime('2024-02-29'), utc(2024, 2, 29));
  });

  test('naive date-time is taken as UTC', () => {
    assert.equal(parseQueryTime('2024-01-15T14:30:00'), utc(2024, 1, 15, 14, 30));
    assert.equal(parseQueryTime('2024-01-15T14:30:00.250'), utc(2024, 1, 15, 14, 30, 0, 250));
  });

  test('RFC 3339 with offset is honoured', () => {
    assert.equal(parseQueryTime('2024-01-15T14:30:00+02:00'), utc(2024, 1, 15, 12, 30));
    assert.equal(parseQueryTime('2024-01-15T14:30:00Z'), utc(2024, 1, 15, 14, 30));
  });

  test('garbage and empty are NaN', () => {
    assert.equal(parseQueryTime('yesterday'), Number.NaN);
    assert.equal(parseQueryTime(''), Number.NaN);
    assert.equal(parseQueryTime('2024-01-15T25:00:00'), Number.NaN);
  });
});

describe('minute helpers and formatting', () => {
  test('minuteOf floors to the epoch minute', () => {
    const t = utc(2024, 1, 15, 14, 30);
    assert.equal(MINUTE_MS, 60_000);
    assert.equal(minuteOf(t), t / 60_000);
    assert.equal(minuteOf(t + 59_999), t / 60_000);
    assert.equal(minuteOf(t + 60_000), t / 60_000 + 1);
    assert.equal(minuteOf(t - 1), t / 60_000 - 1);
    assert.equal(minuteOf(0), 0);
  });

  test('minuteKey renders YYYY-MM-DDTHH:MM in UTC', () => {
    assert.equal(minuteKey(minuteOf(utc(2024, 1, 15, 14, 30, 45))), '2024-01-15T14:30');
    assert.equal(minuteKey(0), '1970-01-01T00:00');
    assert.equal(minuteKey(minuteOf(utc(2024, 12, 31, 23, 59, 59, 999))), '2024-12-31T23:59');
  });

  test('toNaiveUtc drops offset and fraction', () => {
    assert.equal(toNaiveUtc(utc(2025, 4, 1, 12, 0, 0, 789)), '2025-04-01T12:00:00');
    assert.equal(toNaiveUtc(0), '1970-01-01T00:00:00');
  });

  test('toIso is the full ISO string', () => {
    assert.equal(toIso(utc(2024, 1, 15, 14, 30, 0, 5)), '2024-01-15T14:30:00.005Z');
  });

  test('toNaiveUtc round-trips through parseQueryTime at second precision', () => {
    const t = utc(2024, 6, 1, 8, 9, 10);
    assert.equal(parseQueryTime(toNaiveUtc(t)), t);
  });
});

describe('parseRfc3339: the fast parser agrees with the RFC3339 expression', () => {
  const same = (text: string): void => {
    const fast = parseRfc3339(text);
    const slow = parseRfc3339Slow(text);
    assert.ok(Object.is(fast, slow), `${JSON.stringify(text)}: fast ${fast}, expression ${slow}`);
  };

  // Strings built from the pieces of a date-time, each piece right or slightly wrong, so most
  // cases land near the boundary between valid and invalid rather than on random noise.
  const digits = (min: number, max: number) => fc.stringMatching(new RegExp(`^[0-9]{${min},${max}}$`));
  const piece = (good: fc.Arbitrary<string>) => fc.oneof({ weight: 6, arbitrary: good }, { weight: 1, arbitrary: fc.string({ maxLength: 3 }) });
  const nearDateTime = fc
    .tuple(
      piece(digits(4, 4)),
      piece(fc.constant('-')),
      piece(digits(2, 2)),
      piece(fc.constant('-')),
      piece(digits(2, 2)),
      piece(fc.constantFrom('T', 't', ' ')),
      piece(digits(2, 2)),
      piece(fc.constant(':')),
      piece(digits(2, 2)),
      piece(fc.constant(':')),
      piece(digits(2, 2)),
      fc.option(fc.tuple(fc.constant('.'), digits(0, 11)).map(([dot, f]) => dot + f)),
      fc.oneof(fc.constantFrom('Z', 'z', ''), fc.tuple(fc.constantFrom('+', '-'), digits(2, 2), piece(fc.constant(':')), digits(2, 2)).map((p) => p.join(''))),
      fc.option(fc.string({ maxLength: 2 })),
    )
    .map((parts) => parts.map((p) => p ?? '').join(''));

  test('on near-valid date-times', () => {
    fc.assert(fc.property(nearDateTime, (text) => same(text)), { numRuns: 20_000 });
  });

  test('on real instants in every offset', () => {
    const instant = fc.tuple(fc.date({ min: new Date(0), max: new Date(Date.UTC(9999, 11, 31, 23, 59, 59, 999)), noInvalidDate: true }), fc.integer({ min: -1439, max: 1439 }));
    fc.assert(
      fc.property(instant, ([date, offset]) => {
        const local = new Date(date.getTime() + offset * MINUTE_MS).toISOString().slice(0, 23);
        const sign = offset < 0 ? '-' : '+';
        const abs = Math.abs(offset);
        const text = `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
        same(text);
      }),
      { numRuns: 5_000 },
    );
  });

  test('on runs of times sharing their date, as a batch does (the parser keeps the last day)', () => {
    // Near-valid dates and hours (impossible ones among them, and the date the parser starts with) and near-valid rests.
    const prefix = fc.oneof(
      fc.constantFrom('1970-01-01T00:', '2024-02-29T23:', '2023-02-29T10:', '2026-11-21t20:', '2026-11-21 24:', '9999-12-31T23:', '1969-12-31T23:', '2026-13-01T00:'),
      fc.tuple(digits(4, 4), digits(2, 2), digits(2, 2), fc.constantFrom('T', 't', ' ', 'x'), digits(2, 2)).map(([y, mo, d, t, h]) => `${y}-${mo}-${d}${t}${h}:`),
    );
    const rest = fc
      .tuple(
        piece(digits(2, 2)),
        piece(fc.constant(':')),
        piece(digits(2, 2)),
        fc.option(fc.tuple(fc.constant('.'), digits(0, 10)).map(([dot, f]) => dot + f)),
        fc.oneof(fc.constantFrom('Z', 'z', ''), fc.tuple(fc.constantFrom('+', '-'), digits(2, 2), fc.constant(':'), digits(2, 2)).map((p) => p.join(''))),
      )
      .map((parts) => parts.map((p) => p ?? '').join(''));
    const leap = fc.constantFrom('59:60Z', '59:60.5Z', '59:60+00:00', '00:60Z', '59:60-00:01', '59:61Z');
    fc.assert(
      fc.property(fc.array(prefix, { minLength: 1, maxLength: 3 }), fc.array(fc.tuple(fc.nat(), fc.oneof({ weight: 5, arbitrary: rest }, { weight: 1, arbitrary: leap })), { minLength: 1, maxLength: 30 }), (prefixes, times) => {
        for (const [k, tail] of times) same(prefixes[k % prefixes.length]! + tail);
      }),
      { numRuns: 3_000 },
    );
  });

  test('on arbitrary strings', () => {
    fc.assert(fc.property(fc.string({ maxLength: 40 }), (text) => same(text)), { numRuns: 5_000 });
  });
});
