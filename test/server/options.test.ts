import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createServer, DEFAULTS, OptionError, PRESETS, resolveOptions, type ServerOptions } from '../../src/index.js';

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

  test('presets are the recommended values (production 30 s/100, high-traffic 15 s/50, low-traffic 60 s/200), and explicit options override them', () => {
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
    ['bad version', { httpVersion: '2' as never }, /httpVersion/],
    ['bad log', { log: 'loud' as never }, /log must be/],
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

  test('createServer(handler) uses the defaults', async () => {
    const server = createServer(() => ({ status: 204 }));
    assert.equal(server.options.preset, 'production');
    await server.close();
  });
});
