import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OPTION_ROWS, isTextRow } from '../../src/server/options.js';
import {
  formatBytes,
  formatDuration,
  formatNumber,
  isBearerToken,
  isInRange,
  isLoopbackHost,
  parseAddress,
  parseBytes,
  parseCount,
  parseDuration,
  parseNumber,
  type UnitProblem,
} from '../../src/server/units.js';

type Parser = (text: string) => number | UnitProblem;

/** Per parser: text → value, then texts that are malformed, then texts too large for a safe integer. */
const VECTORS: Array<[string, Parser, Array<[string, number]>, string[], string[]]> = [
  [
    'parseDuration: units, fractions rounded to ms, bare seconds',
    parseDuration,
    [['500ms', 500], ['30s', 30_000], ['2m', 120_000], ['1h', 3_600_000], ['5', 5000], ['1.5s', 1500], ['0.25', 250], ['1.0004s', 1000], ['0', 0], ['0ms', 0], [' 10s ', 10_000], [`${2 ** 53 - 1}ms`, 2 ** 53 - 1]],
    ['', ' ', '5x', 's', '-1s', '+1s', '1.5.5s', '.5s', '5.s', '30 s', 'abc', '1e3', '1S', '1H', '1d', '0x10', '1s1', '١s'],
    ['99999999999999999999h', '9'.repeat(400), `${2 ** 53}ms`],
  ],
  [
    'parseBytes: bare bytes, k/m/g (also kb/mb/gb, any case) in powers of 1024',
    parseBytes,
    [['512', 512], ['0', 0], ['64k', 65_536], ['64K', 65_536], ['64kb', 65_536], ['64KB', 65_536], ['64kB', 65_536], ['1m', 1_048_576], ['1MB', 1_048_576], ['1g', 1_073_741_824], ['2Gb', 2_147_483_648], [' 8k ', 8192], ['8388607g', 2 ** 53 - 2 ** 30]],
    ['', 'k', 'kb', '1.5m', '-1', '+1', '1t', '1 k', '1kk', '1bk', '1b', '1e3', '0x10', '1 mb', '1mib', 'ten'],
    ['8388608g', String(2 ** 53), '9'.repeat(400)],
  ],
  [
    'parseCount: whole decimal numbers only',
    parseCount,
    [['0', 0], ['42', 42], [' 7 ', 7], [String(2 ** 53 - 1), 2 ** 53 - 1]],
    ['', '1.5', '-1', '1k', '1e3', '0x10', 'auto'],
    [String(2 ** 53)],
  ],
];

describe('unit parsers', () => {
  for (const [name, parse, valid, malformed, tooLarge] of VECTORS) {
    test(name, () => {
      for (const [input, value] of valid) assert.equal(parse(input), value, JSON.stringify(input));
      for (const input of malformed) assert.equal(parse(input), 'malformed', JSON.stringify(input));
      for (const input of tooLarge) assert.equal(parse(input), 'too-large', JSON.stringify(input));
    });
  }
});

describe('formatDuration / formatBytes', () => {
  test('print in the largest exact unit (hours or seconds for durations)', () => {
    assert.deepEqual(
      [0, 1, 1500, 1000, 60_000, 90_000, 300_000, 3_600_000, 7_200_000, 5_400_000].map(formatDuration),
      ['0ms', '1ms', '1500ms', '1s', '60s', '90s', '300s', '1h', '2h', '5400s'],
    );
    assert.deepEqual([0, 16, 8190, 1024, 262_144, 1_048_576, 1_073_741_824, 1536].map(formatBytes), ['0', '16', '8190', '1k', '256k', '1m', '1g', '1536']);
  });

  test('every numeric default and minimum in the option table prints as text that parses back to it', () => {
    for (const row of OPTION_ROWS) {
      if (row.kind === 'enum' || row.kind === 'function' || row.kind === 'sink' || row.kind === 'object' || isTextRow(row)) continue;
      for (const value of [row.default, row.min]) {
        assert.equal(parseNumber(row.kind, formatNumber(row.kind, value)), value, `${row.name}: ${value}`);
      }
    }
  });
});

test('isInRange: safe integers from min to max', () => {
  const spec = { kind: 'count', min: 1, max: 16 } as const;
  assert.deepEqual([0, 1, 16, 17, 1.5, NaN, Infinity].map((v) => isInRange(spec, v)), [false, true, true, false, false, false, false]);
  assert.equal(isInRange({ kind: 'bytes', min: 0 }, 2 ** 53 - 1), true);
  assert.equal(isInRange({ kind: 'bytes', min: 0 }, 2 ** 53), false);
});

test('parseAddress: IPv4, bracketed IPv6 or a host name, and a port from 0 to 65535', () => {
  assert.deepEqual(parseAddress('127.0.0.1:9090'), { host: '127.0.0.1', port: 9090 });
  assert.deepEqual(parseAddress('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseAddress('localhost:65535'), { host: 'localhost', port: 65_535 });
  assert.deepEqual(parseAddress('status-1.example:80'), { host: 'status-1.example', port: 80 });
  for (const bad of ['', '9090', 'localhost', ':80', '127.0.0.1:', '127.0.0.1:65536', '127.0.0.1:123456', '::1:80', '[::1]', '[localhost]:80', '[1.2.3.4]:80', '1.2.3:80', '-a:80', 'a..b:80', 'a_b:80', ' localhost:80']) {
    assert.equal(parseAddress(bad), 'malformed', bad);
  }
});

test('isLoopbackHost: 127.0.0.0/8, ::1 (also IPv4-mapped) and localhost only', () => {
  for (const host of ['127.0.0.1', '127.255.0.9', '::1', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST']) assert.equal(isLoopbackHost(host), true, host);
  for (const host of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', '::ffff:10.0.0.1', 'localhost.example', 'example']) assert.equal(isLoopbackHost(host), false, host);
});

test('isBearerToken: token68 characters (RFC 6750 §2.1), at least 16 of them', () => {
  for (const token of ['abcdefghijklmnop', 'A-b.c_d~e+f/g0123==', '0123456789abcdef0123']) assert.equal(isBearerToken(token), true, token);
  for (const token of ['', 'abcdefghijklmno', 'abcdefgh ijklmnop', 'abcdefghijklmnop:', '==abcdefghijklmnop', 'abcdefghijklmnöp']) assert.equal(isBearerToken(token), false, token);
});
