import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_TOKENS, WILDCARD, maskMessage, tokenize } from '../../../server/core/patterns/masking.js';

/** [message, masked] */
const CASES: ReadonlyArray<readonly [string, string]> = [
  // numbers: standalone, signed, decimal, joined to punctuation, with units
  ['took 250 ms', 'took <*> ms'],
  ['offset -12 and +0000', 'offset <*> and <*>'],
  ['ratio 0.75, total 1,234', 'ratio <*>, total <*>'],
  ['order #4711 (3 of 5)', 'order #<*> (<*> of <*>)'],
  ['done in 250ms, 1.5s, 1m20s, 300µs', 'done in <*>, <*>, <*>, <*>'],
  ['heap 512MB of 2GiB, 99% used', 'heap <*> of <*>, <*> used'],
  // numbers inside identifiers keep the identifier's shape
  ['user-42 and blk_-1608999687919862906 and blk_38865049064139660', 'user-<*> and blk_<*> and blk_<*>'],
  ['core.2275 attempt_1445144423722_0020_m_000002_0', 'core.<*> attempt_<*>_<*>_m_<*>_<*>'],
  ['nio-8080-exec-7 HikariPool-1', 'nio-<*>-exec-<*> HikariPool-<*>'],
  // words holding digits that are names or codes stay
  ['SOCKS5 AH00128 eth0 IPv6 x86 sda1', 'SOCKS5 AH00128 eth0 IPv6 x86 sda1'],
  ['GET /index.html HTTP/1.1', 'GET <*> HTTP/1.1'],
  // hex, versions, UUIDs
  ['code 0x800f0805 id a3f9c2e1 and deadbeef', 'code <*> id <*> and deadbeef'],
  ['upgraded to v1.2.3', 'upgraded to <*>'],
  ['request 550e8400-e29b-41d4-a716-446655440000 failed', 'request <*> failed'],
  // addresses
  ['from 10.0.0.1 and 192.168.1.20:8080 and 10.0.0.0/8', 'from <*> and <*> and <*>'],
  ['peer [::1]:8080 and fe80::1%eth0 and 2001:db8::ff00:42:8329', 'peer <*> and <*> and <*>'],
  ['nic aa:bb:cc:dd:ee:ff and 00-1A-2B-3C-4D-5E', 'nic <*> and <*>'],
  ['MAC=ff:0f:0c:7f:10:9a:7b:ba:d0:f0:1c:00:a5:08 SRC=1.2.3.4', 'MAC=<*> SRC=<*>'],
  ['dead:beef:cafe is a word list', 'dead:beef:cafe is a word list'],
  ['mail bob.smith+tag@example.co.uk now', 'mail <*> now'],
  ['fetch https://api.example.com/v1/items?id=3&x=y ok', 'fetch <*> ok'],
  // paths: a trailing sentence stop stays
  ['open /var/log/nginx/access.log failed', 'open <*> failed'],
  ['wrote ~/data/out.csv and ./run.sh.', 'wrote <*> and <*>.'],
  ['loaded C:\\Windows\\System32\\ntdll.dll', 'loaded <*>'],
  ['read and/or write, 1/2 done', 'read and/or write, <*>/<*> done'],
  // dates and times
  ['at 2024-01-15T14:30:00.123Z and 2024-01-15 14:30:00', 'at <*> and <*>'],
  ['at 2024/01/16 16:52:01 [warn]', 'at <*> [warn]'],
  ['[Mon Jan 15 14:30:00.123456 2024] [core:error]', '[<*>] [core:error]'],
  ['Jan 15 14:30:00 host sshd', '<*> host sshd'],
  ['[15/Jan/2024:14:30:00 +0000] "GET / HTTP/1.1"', '[<*>] "GET <*>"'],
  ['1:M 15 Jan 2024 14:30:00.123 * DB saved', '<*>:M <*> * DB saved'],
  ['kernel: [ 1234.567890] eth0: Link is Up', 'kernel: [<*>] eth0: Link is Up'],
  ['started at 14:03:59.123 today', 'started at <*> today'],
  ['Decoded the Monday report for March', 'Decoded the Monday report for March'],
  // quoted values
  ['err="context deadline exceeded" pod="default/api-7d9f"', 'err="<*>" pod="<*>"'],
  ['request: "POST /api/cart HTTP/2.0", host: "shop.example.com"', 'request: "POST <*>", host: "<*>"'],
  ['"SyncLoop ADD" source="api" kind="Pod"', '"SyncLoop ADD" source="api" kind="Pod"'],
  ['agent "Mozilla/5.0 (X11; Linux x86_64)" done', 'agent "<*>" done'],
  ["user 'bob'@'10.0.0.1' can't log in, don't retry", "user 'bob'@'<*>' can't log in, don't retry"],
  ['escaped "say \\"hi\\" 3 times" end', 'escaped "<*>" end'],
];

describe('maskMessage', () => {
  for (const [message, masked] of CASES) {
    test(message, () => assert.equal(maskMessage(message), masked));
  }

  test('a message with nothing to mask comes back as the same string', () => {
    const message = 'Connection reset by peer';
    assert.equal(maskMessage(message), message);
  });

  test('masks every occurrence, however many', () => {
    const message = Array.from({ length: 200 }, (_, i) => `k${i}=${i}`).join(' ');
    const masked = maskMessage(message);
    assert.equal(masked.split(' ').length, 200);
    assert.ok(masked.split(' ').every((t) => t.endsWith(`=${WILDCARD}`)), masked.slice(0, 200));
  });

  test('unbalanced quotes and odd characters do not throw', () => {
    for (const message of ['"unterminated 12', "it's 5 o'clock", '\u0000\u00ff é 42 ü', '', '   ', '"""', "'''", '[[[ 1', '::::', '////']) {
      assert.equal(typeof maskMessage(message), 'string');
    }
  });
});

describe('tokenize', () => {
  test('splits on any whitespace and drops empty tokens', () => {
    assert.deepEqual(tokenize('  a\tb  c\n'), ['a', 'b', 'c']);
    assert.deepEqual(tokenize(''), []);
    assert.deepEqual(tokenize('   '), []);
  });

  test('keeps the first tokens of a very long message and one <*> for the rest', () => {
    const tokens = tokenize(Array.from({ length: 500 }, (_, i) => `w${i}`).join(' '));
    assert.equal(tokens.length, MAX_TOKENS);
    assert.equal(tokens[0], 'w0');
    assert.equal(tokens[MAX_TOKENS - 1], WILDCARD);
  });
});
