import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OPTION_FLAGS, PROXY_FLAGS, STATUS_TOKEN_ENV, parseArgs, withCliDefaults, USAGE, UsageError, type CliConfig } from '../../src/cli/args.js';
import { OPTION_ROWS, PRESETS, isTextRow, resolveOptions, type ServerOptions } from '../../src/server/options.js';
import { formatNumber } from '../../src/server/units.js';

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
  test('defaults: port 8080, host 127.0.0.1, root ".", workers 1, no server option given, everything else off', () => {
    assert.deepEqual(parseArgs([]), {
      kind: 'serve',
      root: '.',
      demo: false,
      port: 8080,
      host: '127.0.0.1',
      workers: 1,
      cors: false,
      spa: false,
      list: false,
      proxy: [],
      tlsCert: null,
      tlsKey: null,
      tlsPort: 8443,
      redirectHttp: null,
      maxCacheBytes: 64 * 1024 * 1024,
      maxCachedFileBytes: 8 * 1024 * 1024,
      cacheControl: 'no-cache',
      compress: true,
      cleanUrls: false,
      headers: [],
      options: {},
      proxyOptions: {},
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
      [['--preset', 'production'], { options: { preset: 'production' } }],
      [['--preset', 'high-traffic'], { options: { preset: 'high-traffic' } }],
      [['--preset=low-traffic'], { options: { preset: 'low-traffic' } }],
      [['--keep-alive-timeout', '500ms'], { options: { keepAliveTimeoutMs: 500 } }],
      [['--keep-alive-timeout=30s'], { options: { keepAliveTimeoutMs: 30_000 } }],
      [['--keep-alive-buffer', '1.5s'], { options: { keepAliveTimeoutBufferMs: 1500 } }],
      [['--keep-alive-buffer', '0'], { options: { keepAliveTimeoutBufferMs: 0 } }],
      [['--max-requests', '0'], { options: { maxRequestsPerConnection: 0 } }],
      [['--max-requests', '1'], { options: { maxRequestsPerConnection: 1 } }],
      [['--max-lifetime', '1h'], { options: { maxConnectionLifetimeMs: 3_600_000 } }],
      [['--max-lifetime', '0'], { options: { maxConnectionLifetimeMs: 0 } }],
      [['--headers-timeout', '2m'], { options: { headersTimeoutMs: 120_000 } }],
      [['--request-timeout', '5'], { options: { requestTimeoutMs: 5000 } }],
      [['--http-version', '1.0'], { options: { httpVersion: '1.0' } }],
      [['--http-version=1.1'], { options: { httpVersion: '1.1' } }],
      [['--log', 'json'], { options: { log: 'json' } }],
      [['--log', 'off'], { options: { log: 'off' } }],
      [['--log-file', 'logs/access.log'], { options: { logSink: 'logs/access.log' } }],
      [['--log-file=/var/log/holdfast.log', '--log', 'json'], { options: { logSink: '/var/log/holdfast.log', log: 'json' } }],
      [['--workers', 'auto'], { workers: 'auto' }],
      [['--workers=4'], { workers: 4 }],
      [['--workers', '1024'], { workers: 1024 }],
      [['--cors', '--spa', '--list'], { cors: true, spa: true, list: true }],
      [['site', '--port', '80', '--cors'], { root: 'site', port: 80, cors: true }],
      [['--port', '80', 'site', '--log', 'json'], { root: 'site', port: 80, options: { log: 'json' } }],
      [['--demo', '--port', '0', '--workers', '2'], { root: null, demo: true, port: 0, workers: 2 }],
      [['--file-cache', '256m'], { maxCacheBytes: 256 * 1024 * 1024 }],
      [['--file-cache=0'], { maxCacheBytes: 0 }],
      [['--file-cache-max', '512k', '--file-cache', '1g'], { maxCachedFileBytes: 512 * 1024, maxCacheBytes: 1024 ** 3 }],
      [['--cache-control', 'public, max-age=31536000, immutable'], { cacheControl: 'public, max-age=31536000, immutable' }],
      [['--cache-control=no-store'], { cacheControl: 'no-store' }],
      [['--cache-control', '1h'], { cacheControl: 'max-age=3600' }],
      [['--cache-control', '600'], { cacheControl: 'max-age=600' }],
      [['--header', 'X-Frame-Options: DENY'], { headers: [['X-Frame-Options', 'DENY']] }],
      [['--header', 'Link:</a.css>; rel=preload', '--header=X-Robots-Tag:  noindex '], { headers: [['Link', '</a.css>; rel=preload'], ['X-Robots-Tag', 'noindex']] }],
      [['--clean-urls', '--no-compress'], { cleanUrls: true, compress: false }],
    ];
    for (const [argv, expected] of table) {
      const config = serve(argv);
      for (const [key, value] of Object.entries(expected)) {
        assert.deepEqual(config[key as keyof CliConfig], value, `${JSON.stringify(argv)}: ${key}`);
      }
      // Fields not mentioned keep their defaults.
      if (!('port' in expected)) assert.equal(config.port, 8080, JSON.stringify(argv));
      if (!('host' in expected)) assert.equal(config.host, '127.0.0.1', JSON.stringify(argv));
      if (!('options' in expected)) assert.deepEqual(config.options, {}, JSON.stringify(argv));
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
      [['--log-file'], /^--log-file needs a value: a file path/],
      [['--log-file='], /^--log-file needs a value/],
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
      [['--file-cache', 'lots'], /^--file-cache takes a size such as 512, 64k, 1m or 1g, or a number of bytes \(0 = off\); got "lots"$/],
      [['--file-cache', '-1'], /^--file-cache takes .*; got "-1"$/],
      [['--file-cache-max'], /^--file-cache-max needs a value: a size/],
      [['--cache-control'], /^--cache-control needs a value: a Cache-Control value/],
      [['--cache-control', 'no-cache\u0001'], /^--cache-control takes a Cache-Control value .*; got "no-cache\\u0001"$/],
      [['--header', 'no colon'], /^--header takes "Name: value", such as "X-Frame-Options: DENY"; got "no colon"$/],
      [['--header', ': value'], /^--header takes "Name: value"/],
      [['--header', 'Bad Name: x'], /^--header: "Bad Name" is not a field name; got "Bad Name: x"$/],
      [['--header', 'Content-Length: 5'], /^--header: Content-Length is set by the server itself; got "Content-Length: 5"$/],
      [['--header', 'Set-Cookie: a=1', '--header', 'set-cookie: b=2'], /^--header: Set-Cookie may be given once \(cookies cannot be joined into one field line, RFC 9110 §5\.3\); got "set-cookie: b=2"$/],
      [['--header', 'Transfer-Encoding: chunked'], /^--header: Transfer-Encoding is set by the server itself/],
      [['--header', 'cache-control: max-age=1'], /^--header: Cache-Control has its own option \(cacheControl, --cache-control\)/],
      [['--header', 'X-A: a\u0000b'], /^--header: the value of X-A holds a control character/],
      [['--no-compress=yes'], /--no-compress takes no value/],
    ];
    for (const [argv, pattern] of table) usageError(argv, pattern);
  });

  test('--help shows the file cache sizes in size syntax', () => {
    const oneLine = USAGE.replace(/\n {28}/g, ' ');
    assert.match(oneLine, /^ {2}--file-cache SIZE .*0 = off \(default 64m\)$/m);
    assert.match(oneLine, /^ {2}--file-cache-max SIZE .*\(default 8m\)$/m);
    assert.match(oneLine, /^ {2}--cache-control VALUE .*\(default no-cache\)$/m);
    assert.match(oneLine, /^ {2}--header "NAME: VALUE" .*\(repeatable\)$/m);
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


/** Values for the string options' flags, and the other options each needs to resolve. */
const TEXT_SAMPLES = { address: ['127.0.0.1:9090', 'localhost:0', '[::1]:8081', '0.0.0.0:9090'], secret: ['abcdefghijklmnop', 'A-b.c_d~e+f/g0123=='] };
const TOGETHER: Partial<Record<string, ServerOptions>> = { status: { statusToken: 'a-token-for-0.0.0.0' } };

describe('flags from the option table', () => {
  const flagged = OPTION_ROWS.filter((row) => row.kind !== 'function' && row.cli !== undefined);
  const oneLine = USAGE.replace(/\n {28}/g, ' ');

  test('--help has one entry per flagged option, with its placeholder, help and default, and nothing else', () => {
    assert.equal(flagged.length, OPTION_FLAGS.size);
    for (const row of flagged) {
      if (row.kind === 'function' || row.cli === undefined) continue;
      const entry = oneLine.split('\n').find((line) => line.startsWith(`  ${row.cli?.flag} `));
      assert.ok(entry !== undefined, `${row.cli.flag} is missing from USAGE`);
      assert.ok(entry.includes(row.cli.help), `${row.cli.flag}: ${entry}`);
      if (isTextRow(row)) assert.ok(entry.includes(`(default ${row.empty})`), entry);
      else if (row.kind === 'enum') for (const value of row.values) assert.ok(entry.includes(value), `${row.cli.flag} lists ${value}`);
      else if (row.kind === 'sink') assert.ok(entry.includes('(default stdout)'), entry);
      else if (!Object.hasOwn(PRESETS.production, row.name) && row.default !== 0) assert.ok(entry.includes(`(default ${formatNumber(row.kind, row.default)}`), entry);
      if (row.kind !== 'enum' && row.kind !== 'sink' && !isTextRow(row) && row.zero !== undefined) assert.ok(entry.includes(row.default === 0 ? `(default ${row.zero})` : `; 0 = ${row.zero})`), entry);
    }
    const listed = [...oneLine.matchAll(/^ {2}(--[a-z-]+)/gm)].map((m) => m[1]);
    assert.deepEqual(
      listed.filter((flag) => !OPTION_FLAGS.has(flag) && !PROXY_FLAGS.has(flag)),
      ['--port', '--host', '--workers', '--tls-cert', '--tls-key', '--tls-port', '--redirect-http', '--proxy', '--file-cache', '--file-cache-max', '--cache-control', '--header', '--cors', '--spa', '--list', '--demo', '--clean-urls', '--no-compress'],
    );
    assert.deepEqual(listed.filter((flag) => OPTION_FLAGS.has(flag)), [...OPTION_FLAGS.keys()]);
    assert.deepEqual(listed.filter((flag) => PROXY_FLAGS.has(flag)), [...PROXY_FLAGS.keys()]);
  });

  test('every flagged option maps to its library option: flag text → config.options → resolveOptions, both spellings', () => {
    for (const row of flagged) {
      if (row.kind === 'function' || row.cli === undefined) continue;
      const samples: Array<[string, unknown]> = isTextRow(row)
        ? TEXT_SAMPLES[row.kind].map((value) => [value, value])
        : row.kind === 'enum'
          ? row.values.map((value) => [value, value])
          : row.kind === 'sink'
            ? [['logs/access.log', 'logs/access.log']]
            : [row.min, row.default, row.min + 7].map((value) => [formatNumber(row.kind, value), value]);
      for (const [text, value] of samples) {
        const flag: string = row.cli.flag;
        for (const argv of [[flag, text], [`${flag}=${text}`]]) {
          const config = serve(argv);
          assert.deepEqual(config.options, { [row.name]: value }, JSON.stringify(argv));
          assert.equal(resolveOptions({ ...TOGETHER[row.name], ...config.options })[row.name], value, JSON.stringify(argv));
        }
      }
    }
  });

  test('every flagged numeric option rejects less than its minimum, naming the flag', () => {
    for (const row of flagged) {
      if (row.kind === 'enum' || row.kind === 'function' || row.kind === 'sink' || isTextRow(row) || row.cli === undefined) continue;
      if (row.min === 0) {
        usageError([row.cli.flag, '-1'], new RegExp(`^${row.cli.flag} takes .*; got "-1"$`));
        continue;
      }
      usageError([row.cli.flag, formatNumber(row.kind, row.min - 1)], new RegExp(`^${row.cli.flag} must be (longer than 0|at least ${formatNumber(row.kind, row.min)})`));
    }
    assert.equal(
      usageError(['--keep-alive-timeout', '0'], /--keep-alive-timeout/),
      '--keep-alive-timeout must be longer than 0 (to disable keep-alive, use --max-requests 1); got "0"',
    );
  });

  test('sizes and durations: one syntax, clear errors', () => {
    assert.deepEqual(serve(['--max-body', '64k']).options, { maxBodyBytes: 65_536 });
    assert.deepEqual(serve(['--max-body=1MB']).options, { maxBodyBytes: 1_048_576 });
    assert.deepEqual(serve(['--max-body', '0']).options, { maxBodyBytes: 0 });
    assert.deepEqual(serve(['--linger', '1.5s', '--send-timeout', '2m', '--max-connections', '500']).options, { lingerMs: 1500, sendTimeoutMs: 120_000, maxConnections: 500 });
    usageError(['--max-body', '1.5m'], /^--max-body takes a size such as 512, 64k, 1m or 1g, or a number of bytes \(0 = unlimited\); got "1\.5m"$/);
    usageError(['--max-body', '8388608g'], /^--max-body: "8388608g" is too large$/);
    usageError(['--max-lifetime', '99999999999999999999h'], /^--max-lifetime: "99999999999999999999h" is too large$/);
    usageError(['--send-timeout', '5x'], /^--send-timeout takes a duration such as 500ms, 30s, 2m or 1h, or a number of seconds; got "5x"$/);
    usageError(['--max-connections', 'lots'], /^--max-connections takes a whole number of connections \(0 = unlimited\); got "lots"$/);
    usageError(['--max-body'], /^--max-body needs a value: a size/);
    assert.match(USAGE, /^Durations: 500ms, 30s, 2m, 1h; a bare number means seconds\.$/m);
    assert.match(USAGE, /^Sizes: 512, 64k, 1m, 1g \(also kb, mb, gb; any case\) in powers of 1024; a bare number means bytes\.$/m);
  });

  test('--status takes HOST:PORT; --status-token a bearer token, never repeated in its error', () => {
    assert.deepEqual(serve(['--status', '127.0.0.1:9090']).options, { status: '127.0.0.1:9090' });
    assert.deepEqual(serve(['--status=[::1]:0', '--status-token', 'abcdefghijklmnop']).options, { status: '[::1]:0', statusToken: 'abcdefghijklmnop' });
    for (const bad of ['9090', '127.0.0.1', '127.0.0.1:70000', 'http://127.0.0.1:9090', '[127.0.0.1]:80', 'a b:80', '::1:80']) {
      usageError(['--status', bad], new RegExp(`^--status takes HOST:PORT such as 127\\.0\\.0\\.1:9090.*; got "${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"$`));
    }
    usageError(['--status'], /^--status needs a value: HOST:PORT/);
    for (const bad of ['short', 'has space in the middle!!', 'ünïcödé-ünïcödé-ü']) {
      const message = usageError(['--status-token', bad], /^--status-token takes at least 16 characters/);
      assert.ok(!message.includes(bad), message);
    }
  });

  test('HOLDFAST_STATUS_TOKEN gives the token when --status-token does not (argv shows in ps), validated alike', () => {
    const token = 'abcdefghijklmnopqrst';
    const fromEnv = parseArgs(['--status', '0.0.0.0:9090'], { [STATUS_TOKEN_ENV]: token }) as CliConfig;
    assert.deepEqual(fromEnv.options, { status: '0.0.0.0:9090', statusToken: token });
    const flagWins = parseArgs(['--status-token', 'zyxwvutsrqponmlkjih'], { [STATUS_TOKEN_ENV]: token }) as CliConfig;
    assert.equal(flagWins.options.statusToken, 'zyxwvutsrqponmlkjih');
    assert.deepEqual((parseArgs([], { [STATUS_TOKEN_ENV]: '' }) as CliConfig).options, {});
    assert.throws(() => parseArgs([], { [STATUS_TOKEN_ENV]: 'short' }), (error: unknown) => error instanceof UsageError && /^HOLDFAST_STATUS_TOKEN takes at least 16 characters/.test(error.message) && !error.message.includes('short'));
  });

  test('--preset takes its names from PRESETS, and --help shows each with its numbers', () => {
    for (const [name, preset] of Object.entries(PRESETS)) {
      assert.deepEqual(serve(['--preset', name]).options, { preset: name });
      assert.ok(oneLine.includes(`${name} (${preset.keepAliveTimeoutMs / 1000}s/${preset.maxRequestsPerConnection})`), name);
    }
    usageError(['--preset', 'turbo'], new RegExp(`^--preset takes one of ${Object.keys(PRESETS).join(', ')}; got "turbo"$`));
  });

  test('--proxy repeats (each URL checked), --proxy-* flags land under the proxy’s option names; with --proxy and no dir nothing is served from disk', () => {
    const both = serve(['--proxy', 'http://127.0.0.1:3000', '--proxy=unix:/run/app.sock', '--proxy-balance', 'least-outstanding', '--proxy-idle-timeout', '4s', '--proxy-keepalive', '8']);
    assert.deepEqual(both.proxy, ['http://127.0.0.1:3000', 'unix:/run/app.sock']);
    assert.deepEqual(both.proxyOptions, { balance: 'least-outstanding', idleTimeoutMs: 4000, maxIdlePerUpstream: 8 });
    assert.equal(both.root, null);
    assert.deepEqual([serve(['public', '--proxy', 'http://a:1']).root, serve([]).proxy], ['public', []]);
    usageError(['--proxy', 'https://a'], /^--proxy takes an upstream URL such as http:\/\/127\.0\.0\.1:3000 or unix:\/path\/to\.sock: only http: upstreams are supported/);
    usageError(['--proxy'], /^--proxy needs a value: an upstream URL/);
    usageError(['--proxy-idle-timeout', '4s'], /^--proxy-\* options need at least one --proxy URL$/);
    usageError(['--proxy', 'http://a:1', '--proxy-balance', 'random'], /^--proxy-balance takes one of round-robin, least-outstanding; got "random"$/);
    usageError(['--demo', '--proxy', 'http://a:1'], /does not proxy/);
    assert.match(oneLine, /--proxy URL +proxy requests to this upstream; repeat to balance; with a dir, only those matching no file \(repeatable\)/);
    assert.match(oneLine, /--proxy-idle-timeout D +idle time of a pooled upstream connection \(an upstream Keep-Alive timeout lowers it\) \(default 60s\)/);
  });
});

describe('command-line defaults', () => {
  test('the CLI logs pretty by default where the library logs nothing; a flag overrides it', () => {
    assert.equal(resolveOptions({}).log, 'off');
    const plain = parseArgs([]);
    assert.ok(plain.kind === 'serve');
    assert.equal(resolveOptions(withCliDefaults(plain.options)).log, 'pretty');
    const json = parseArgs(['--log', 'json']);
    assert.ok(json.kind === 'serve');
    assert.equal(resolveOptions(withCliDefaults(json.options)).log, 'json');
    assert.match(USAGE, /--log FORMAT .*\(default pretty\)/s);
  });
});
