import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readFileSync } from 'node:fs';
import { createServer, DEFAULTS, OptionError, PRESETS, resolveOptions, type ServerOptions } from '../../src/index.js';
import { OPTION_ROWS, OPTIONS, isTextRow, unitOf, type OptionName } from '../../src/server/options.js';

describe('options', () => {
  test('the default is the production preset with node-style buffer and documented defaults', () => {
    const o = resolveOptions();
    assert.equal(o.preset, 'production');
    assert.equal(o.keepAliveTimeoutMs, 30_000);
    assert.equal(o.maxRequestsPerConnection, 100);
    assert.equal(o.keepAliveTimeoutBufferMs, 1_000);
    assert.equal(o.headersTimeoutMs, DEFAULTS.headersTimeoutMs);
    assert.equal(o.httpVersion, '1.1');
  });

  test('presets are the recommended settings, and explicit options override them', () => {
    assert.deepEqual(PRESETS['high-traffic'], { keepAliveTimeoutMs: 15_000, maxRequestsPerConnection: 50 });
    assert.deepEqual(PRESETS['low-traffic'], { keepAliveTimeoutMs: 60_000, maxRequestsPerConnection: 200 });
    const o = resolveOptions({ preset: 'low-traffic', maxRequestsPerConnection: 7 });
    assert.equal(o.keepAliveTimeoutMs, 60_000);
    assert.equal(o.maxRequestsPerConnection, 7);
  });

  const invalid: Array<[string, ServerOptions, RegExp]> = [
    ['negative timeout', { keepAliveTimeoutMs: -1 }, /keepAliveTimeoutMs must be an integer ≥ 1/],
    ['zero timeout', { keepAliveTimeoutMs: 0 }, /keepAliveTimeoutMs/],
    ['fractional', { headersTimeoutMs: 1.5 }, /headersTimeoutMs/],
    ['string number', { maxBodyBytes: '10' as unknown as number }, /maxBodyBytes/],
    ['NaN', { lingerMs: NaN }, /lingerMs/],
    ['negative max requests', { maxRequestsPerConnection: -1 }, /maxRequestsPerConnection/],
    ['unknown preset', { preset: 'turbo' as never }, /preset must be one of production, high-traffic, low-traffic/],
    ['bad version', { httpVersion: '2' as never }, /httpVersion must be one of 1\.1, 1\.0; got 2/],
    ['bad log', { log: 'loud' as never }, /log must be one of pretty, json, off; got loud/],
    ['bad sink', { logSink: 42 as never }, /logSink must be a function or a file path/],
    ['unknown option (typo)', { keepAliveTimeout: 5 } as ServerOptions, /unknown option "keepAliveTimeout"/],
    ['tiny header limit', { maxHeaderBytes: 10 }, /maxHeaderBytes/],
  ];
  for (const [name, options, message] of invalid) {
    test(`rejects ${name} with a clear error at construction`, () => {
      assert.throws(() => createServer(options, () => ({ status: 200 })), (error: unknown) => {
        assert.ok(error instanceof OptionError);
        assert.match((error as Error).message, message);
        return true;
      });
    });
  }

  /** Asserts resolveOptions(options) throws an OptionError whose message matches `pattern`. */
  function rejects(options: Record<string, unknown>, pattern: RegExp): void {
    assert.throws(
      () => resolveOptions(options as ServerOptions),
      (error: unknown) => error instanceof OptionError && pattern.test(error.message),
      JSON.stringify(options, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)),
    );
  }

  test('every numeric row: its minimum is accepted, one less and non-integers are rejected naming the option, its range and unit', () => {
    for (const row of OPTION_ROWS) {
      if (row.kind === 'enum' || row.kind === 'function' || row.kind === 'sink' || row.kind === 'object' || isTextRow(row)) continue;
      const name = row.name;
      assert.equal(resolveOptions({ [name]: row.min } as ServerOptions)[name], row.min, name);
      const message = new RegExp(`^holdfast: option ${name} must be an integer ≥ ${row.min}, in ${unitOf(row).replace(/[()]/g, '\\$&')}`);
      for (const bad of [row.min - 1, row.min + 0.5, NaN, Infinity, String(row.min), null, 2 ** 53]) rejects({ [name]: bad }, message);
      if (row.zero !== undefined) rejects({ [name]: -1 }, new RegExp(`\\(0 = ${row.zero}\\)`));
    }
  });

  test('every enum row accepts exactly its values; a function row only a function; a sink row a function or a file path; an object row what its check accepts', () => {
    for (const row of OPTION_ROWS) {
      if (row.kind === 'object') {
        for (const bad of ['cert.pem', 1, null, {}]) {
          const problem = row.check(bad);
          assert.notEqual(problem, null, `${row.name}: ${String(bad)}`);
          rejects({ [row.name]: bad }, new RegExp(`^holdfast: option ${row.name} ${problem!.replace(/[()[\]{}.*+?^$|\\]/g, '\\$&')}`));
        }
      }
      if (row.kind === 'function') {
        const sink = (): void => undefined;
        assert.equal(resolveOptions({ [row.name]: sink } as ServerOptions)[row.name], sink);
        rejects({ [row.name]: 'stdout' }, new RegExp(`option ${row.name} must be a function`));
      }
      if (row.kind === 'sink') {
        const sink = (): void => undefined;
        assert.equal(resolveOptions({ [row.name]: sink } as ServerOptions)[row.name], sink);
        assert.equal(resolveOptions({ [row.name]: 'logs/access.log' } as ServerOptions)[row.name], 'logs/access.log');
        for (const bad of ['', 1, true]) rejects({ [row.name]: bad }, new RegExp(`option ${row.name} must be a function or a file path`));
      }
      if (row.kind !== 'enum') continue;
      for (const value of row.values) assert.equal(resolveOptions({ [row.name]: value } as ServerOptions)[row.name], value, `${row.name}: ${value}`);
      for (const bad of ['', row.values[0].toUpperCase() + '!', 1, null]) rejects({ [row.name]: bad }, new RegExp(`option ${row.name} must be one of ${row.values.join(', ')}; got`));
    }
  });

  test('status: HOST:PORT or off; a non-loopback address needs a token, and a token is never echoed', () => {
    for (const address of ['127.0.0.1:9090', '127.8.9.10:1', 'localhost:0', '[::1]:65535', '[::ffff:127.0.0.1]:80']) {
      assert.equal(resolveOptions({ status: address }).status, address);
    }
    assert.equal(resolveOptions().status, '');
    for (const bad of ['9090', ':9090', 'localhost', '127.0.0.1:65536', '[::1]', '::1:80', 'http://x:1', 'a_b:80', '1.2.3:80', '', 5]) {
      if (bad === '') continue;
      rejects({ status: bad }, /^holdfast: option status must be HOST:PORT such as 127\.0\.0\.1:9090, \[::1\]:9090 or localhost:9090, or '' \(off\); got /);
    }
    for (const address of ['0.0.0.0:9090', '[::]:9090', '192.0.2.1:80', 'status.example:80']) {
      rejects({ status: address }, new RegExp(`^holdfast: option status: ${address.replace(/[.[\]]/g, '\\$&')} is not a loopback address; serving the status there needs statusToken$`));
      assert.equal(resolveOptions({ status: address, statusToken: 'abcdefghijklmnopq' }).status, address);
    }
    for (const bad of ['too-short', 'contains spaces here', 'x'.repeat(15), 42]) {
      assert.throws(
        () => resolveOptions({ statusToken: bad } as ServerOptions),
        (error: unknown) => error instanceof OptionError && /^holdfast: option statusToken must be at least 16 characters/.test(error.message) && !error.message.includes(String(bad)),
      );
    }
  });

  test('below the keep-alive timeout minimum, the message points at maxRequestsPerConnection: 1', () => {
    rejects({ keepAliveTimeoutMs: 0 }, /keepAliveTimeoutMs must be an integer ≥ 1, in milliseconds \(to disable keep-alive, set maxRequestsPerConnection: 1\); got 0/);
    for (const row of OPTION_ROWS) {
      if (row.kind !== 'enum' && row.kind !== 'function' && row.kind !== 'sink' && row.kind !== 'object' && !isTextRow(row) && row.instead !== undefined) assert.ok(Object.hasOwn(OPTIONS, row.instead.set), row.instead.set);
    }
  });

  test('DEFAULTS is the table: every default passes its own validation and resolves unchanged', () => {
    const resolved = resolveOptions();
    for (const row of OPTION_ROWS) {
      assert.equal(DEFAULTS[row.name], row.default, row.name);
      if (row.default !== null) assert.equal(resolveOptions({ [row.name]: row.default } as ServerOptions)[row.name], row.default, row.name);
      const fromPreset = Object.hasOwn(PRESETS.production, row.name);
      assert.equal(resolved[row.name], fromPreset ? PRESETS.production[row.name as keyof typeof PRESETS.production] : row.default, row.name);
    }
    assert.deepEqual(Object.keys(resolved).sort(), Object.keys(OPTIONS).sort());
  });

  test('presets come from one place: the preset option accepts exactly PRESETS, and each sets its values', () => {
    assert.deepEqual([...OPTIONS.preset.values], Object.keys(PRESETS));
    for (const [name, values] of Object.entries(PRESETS)) {
      const o = resolveOptions({ preset: name as keyof typeof PRESETS });
      for (const [key, value] of Object.entries(values)) assert.equal(o[key as OptionName], value, `${name}.${key}`);
    }
  });

  test('the README lists every option, with its flag, in its options table', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const start = readme.indexOf('## Options');
    const rows = readme.slice(start, readme.indexOf('\n## ', start + 1)).split('\n').filter((line) => line.startsWith('| `'));
    const listed = new Map<string, string>();
    for (const line of rows) {
      const [names, flags] = line.split(' | ').map((cell) => cell.replace(/^\| /, '').split(' / '));
      names.forEach((name, i) => listed.set(name.replaceAll('`', ''), (flags[i] ?? '').replaceAll('`', '')));
    }
    assert.deepEqual(
      Object.fromEntries([...listed].sort()),
      Object.fromEntries(OPTION_ROWS.map((row) => [row.name, row.cli?.flag ?? '—']).sort()),
    );
  });

  test('createServer(handler) uses the defaults', async () => {
    const server = createServer(() => ({ status: 204 }));
    assert.equal(server.options.preset, 'production');
    await server.close();
  });
});

describe('log defaults', () => {
  test('the library logs nothing unless asked; a logSink asks for the pretty log; an explicit format wins', () => {
    const sink = (): void => undefined;
    assert.equal(resolveOptions({}).log, 'off');
    assert.equal(resolveOptions({ logSink: sink }).log, 'pretty');
    assert.equal(resolveOptions({ logSink: sink, log: 'json' }).log, 'json');
    assert.equal(resolveOptions({ logSink: sink, log: 'off' }).log, 'off');
  });
});
