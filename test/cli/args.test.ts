import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseArgs, parseDuration, UsageError, type CliConfig } from '../../src/cli/args.js';

function serve(argv: string[]): CliConfig {
  const result = parseArgs(argv);
  assert.equal(result.kind, 'serve', `${JSON.stringify(argv)} → ${JSON.stringify(result)}`);
  return result as CliConfig;
}

/** Asserts parseArgs(argv) throws a one-line UsageError whose message matches `pattern`. */
function usageError(argv: string[], pattern: RegExp): string {
  let caught: unknown;
  try {
    parseArgs(argv);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof UsageError, `${JSON.stringify(argv)} should throw a UsageError, got ${String(caught)}`);
  assert.equal(caught.name, 'UsageError');
  assert.match(caught.message, pattern, JSON.stringify(argv));
  assert.ok(!caught.message.includes('\n'), `multi-line message: ${caught.message}`);
  return caught.message;
}

describe('parseArgs', () => {
  test('defaults: port 8080, host 127.0.0.1, root ".", workers 1, log pretty, everything else off', () => {
    assert.deepEqual(parseArgs([]), {
      kind: 'serve',
      root: '.',
      demo: false,
      port: 8080,
      host: '127.0.0.1',
      preset: undefined,
      keepAliveTimeoutMs: undefined,
      keepAliveTimeoutBufferMs: undefined,
      maxRequestsPerConnection: undefined,
      maxConnectionLifetimeMs: undefined,
      headersTimeoutMs: undefined,
      requestTimeoutMs: undefined,
      httpVersion: undefined,
      log: 'pretty',
      workers: 1,
      cors: false,
      spa: false,
      list: false,
    });
  });

  test('valid inputs → expected config fields', () => {
    const table: Array<[string[], Partial<CliConfig>]> = [
      [['public'], { root: 'public', demo: false }],
      [['--demo'], { root: null, demo: true }],
      [['--port', '0'], { port: 0 }],
      [['--port', '3000'], { port: 3000 }],
      [['--port=65535'], { port: 65535 }],
      [['--host', '0.0.0.0'], { host: '0.0.0.0' }],
      [['--host=::1'], { host: '::1' }],
      [['--preset', 'production'], { preset: 'production' }],
      [['--preset', 'high-traffic'], { preset: 'high-traffic' }],
      [['--preset=low-traffic'], { preset: 'low-traffic' }],
      [['--keep-alive-timeout', '500ms'], { keepAliveTimeoutMs: 500 }],
      [['--keep-alive-timeout=30s'], { keepAliveTimeoutMs: 30_000 }],
      [['--keep-alive-buffer', '1.5s'], { keepAliveTimeoutBufferMs: 1500 }],
      [['--keep-alive-buffer', '0'], { keepAliveTimeoutBufferMs: 0 }],
      [['--max-requests', '0'], { maxRequestsPerConnection: 0 }],
      [['--max-requests', '1'], { maxRequestsPerConnection: 1 }],
      [['--max-lifetime', '1h'], { maxConnectionLifetimeMs: 3_600_000 }],
      [['--max-lifetime', '0'], { maxConnectionLifetimeMs: 0 }],
      [['--headers-timeout', '2m'], { headersTimeoutMs: 120_000 }],
      [['--request-timeout', '5'], { requestTimeoutMs: 5000 }],
      [['--http-version', '1.0'], { httpVersion: '1.0' }],
      [['--http-version=1.1'], { httpVersion: '1.1' }],
      [['--log', 'json'], { log: 'json' }],
      [['--log', 'off'], { log: 'off' }],
      [['--workers', 'auto'], { workers: 'auto' }],
      [['--workers=4'], { workers: 4 }],
      [['--workers', '1024'], { workers: 1024 }],
      [['--cors', '--spa', '--list'], { cors: true, spa: true, list: true }],
      [['site', '--port', '80', '--cors'], { root: 'site', port: 80, cors: true }],
      [['--port', '80', 'site', '--log', 'json'], { root: 'site', port: 80, log: 'json' }],
      [['--demo', '--port', '0', '--workers', '2'], { root: null, demo: true, port: 0, workers: 2 }],
    ];
    for (const [argv, expected] of table) {
      const config = serve(argv);
      for (const [key, value] of Object.entries(expected)) {
        assert.deepEqual(config[key as keyof CliConfig], value, `${JSON.stringify(argv)}: ${key}`);
      }
      // Fields not mentioned keep their defaults.
      if (!('port' in expected)) assert.equal(config.port, 8080, JSON.stringify(argv));
      if (!('host' in expected)) assert.equal(config.host, '127.0.0.1', JSON.stringify(argv));
      if (!('log' in expected)) assert.equal(config.log, 'pretty', JSON.stringify(argv));
      if (!('workers' in expected)) assert.equal(config.workers, 1, JSON.stringify(argv));
    }
  });

  test('invalid inputs → UsageError naming the flag', () => {
    const table: Array<[string[], RegExp]> = [
      [['--port', 'abc'], /--port.*"abc"/],
      [['--port', '70000'], /--port.*"70000"/],
      [['--port', '-1'], /--port/],
      [['--port', '80.5'], /--port/],
      [['--port='], /--port/],
      [['--port'], /--port needs a value/],
      [['--port', '--cors'], /--port needs a value/],
      [['--host'], /--host needs a value/],
      [['--preset', 'turbo'], /--preset.*production.*"turbo"/],
      [['--log', 'loud'], /--log.*"loud"/],
      [['--log'], /--log/],
      [['--http-version', '2'], /--http-version.*"2"/],
      [['--workers', '0'], /--workers.*"0"/],
      [['--workers', '1025'], /--workers/],
      [['--workers', 'many'], /--workers/],
      [['--keep-alive-timeout', '0'], /--keep-alive-timeout/],
      [['--keep-alive-timeout', '0ms'], /--keep-alive-timeout/],
      [['--keep-alive-timeout', '5x'], /--keep-alive-timeout.*"5x"/],
      [['--keep-alive-timeout=-5s'], /--keep-alive-timeout/],
      [['--headers-timeout', '0'], /--headers-timeout/],
      [['--request-timeout', '0s'], /--request-timeout/],
      [['--max-requests', '1.5'], /--max-requests/],
      [['--max-lifetime', 'soon'], /--max-lifetime/],
      [['--frobnicate'], /unknown option --frobnicate/],
      [['--frobnicate=1'], /--frobnicate/],
      [['-x'], /-x/],
      [['a', 'b'], /one directory.*"a".*"b"/],
      [['--demo', 'site'], /--demo/],
      [['site', '--demo'], /--demo/],
    ];
    for (const [argv, pattern] of table) usageError(argv, pattern);
  });

  test('a switch given a value is reported as such, not as an unknown option', () => {
    const message = usageError(['--cors=yes'], /--cors/);
    assert.doesNotMatch(message, /unknown option/, `--cors is a known option, but: ${message}`);
  });

  test('--help / -h and --version / -v', () => {
    assert.deepEqual(parseArgs(['--help']), { kind: 'help' });
    assert.deepEqual(parseArgs(['-h']), { kind: 'help' });
    assert.deepEqual(parseArgs(['--version']), { kind: 'version' });
    assert.deepEqual(parseArgs(['-v']), { kind: 'version' });
    assert.deepEqual(parseArgs(['site', '--port', '80', '-h']), { kind: 'help' });
    assert.deepEqual(parseArgs(['--cors', '-v']), { kind: 'version' });
  });
});

describe('parseDuration', () => {
  test('units and bare seconds', () => {
    const table: Array<[string, number]> = [
      ['500ms', 500],
      ['30s', 30_000],
      ['2m', 120_000],
      ['1h', 3_600_000],
      ['5', 5000],
      ['1.5s', 1500],
      ['0.25', 250],
      ['0', 0],
      [' 10s ', 10_000],
    ];
    for (const [input, ms] of table) assert.equal(parseDuration('--x', input), ms, input);
  });

  test('invalid durations → UsageError naming the flag and the input', () => {
    for (const input of ['', '5x', 's', '-1s', '1.5.5s', '.5s', '30 s', 'abc', '1e3']) {
      assert.throws(
        () => parseDuration('--keep-alive-timeout', input),
        (error: unknown) => error instanceof UsageError && error.message.includes('--keep-alive-timeout'),
        JSON.stringify(input),
      );
    }
    assert.throws(() => parseDuration('--max-lifetime', '99999999999999999999h'), (e: unknown) => e instanceof UsageError && /--max-lifetime/.test(e.message));
  });
});
