/** Header hygiene and the proxy's option and upstream parsing, as pure functions (no sockets). */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HeaderMap } from '../../src/http1/header-map.js';
import { serializeRequestHead } from '../../src/http1/serializer.js';
import { absoluteTarget, clientResponseHeaders, isRetryable, relayableTransferCoding, relayedTrailers, upstreamLastChunk, upstreamRequestFields, type UpstreamRequestFacts } from '../../src/proxy/hygiene.js';
import { resolveProxyOptions } from '../../src/proxy/options.js';
import { parseUpstream } from '../../src/proxy/target.js';

const map = (...pairs: Array<[string, string]>): HeaderMap => new HeaderMap(pairs.flat());

function request(headers: HeaderMap, over: Partial<UpstreamRequestFacts> = {}): Array<[string, string]> {
  const fields = upstreamRequestFields({
    headers,
    peerAddress: '192.0.2.7',
    trustedPeer: false,
    proto: 'http',
    targetAuthority: null,
    upstreamAuthority: 'app:3000',
    preserveHost: true,
    body: { kind: 'none' },
    tunnel: false,
    ...over,
  });
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < fields.length; i += 2) pairs.push([fields[i], fields[i + 1]]);
  return pairs;
}

describe('proxy hygiene', () => {
  test('response: only no Transfer-Encoding or chunked alone can be relayed; any other coding, or chunked with another, cannot', () => {
    assert.equal(relayableTransferCoding(map(['content-type', 'text/plain'])), true);
    assert.equal(relayableTransferCoding(map(['transfer-encoding', 'chunked'])), true);
    assert.equal(relayableTransferCoding(map(['transfer-encoding', 'Chunked , '])), true);
    assert.equal(relayableTransferCoding(map(['transfer-encoding', 'gzip'])), false);
    assert.equal(relayableTransferCoding(map(['transfer-encoding', 'gzip, chunked'])), false);
    assert.equal(relayableTransferCoding(map(['transfer-encoding', 'gzip'], ['transfer-encoding', 'chunked'])), false);
    assert.equal(relayableTransferCoding(map(['transfer-encoding', 'chunked'], ['transfer-encoding', 'chunked'])), false);
  });

  test('request: connection-specific fields dropped before ours are added; Host first and kept', () => {
    const out = request(
      map(['host', 'site'], ['connection', 'x-forwarded-for, x-a, host'], ['x-forwarded-for', '6.6.6.6'], ['x-a', '1'], ['keep-alive', '5'], ['content-length', '99'], ['x-b', '2'], ['expect', '100-continue']),
      { body: { kind: 'length', length: 3 } },
    );
    assert.deepEqual(out, [
      ['host', 'site'],
      ['x-b', '2'],
      ['content-length', '3'],
      ['x-forwarded-for', '192.0.2.7'],
      ['x-forwarded-proto', 'http'],
      ['x-forwarded-host', 'site'],
      ['via', '1.1 holdfast'],
    ]);
  });

  test('request: trusted peer appends; untrusted replaces; no Host (HTTP/1.0) → the upstream authority; tunnel keeps Upgrade', () => {
    const incoming = map(['x-forwarded-for', '10.0.0.1'], ['x-forwarded-for', '10.0.0.2'], ['x-forwarded-proto', 'https'], ['upgrade', 'websocket'], ['connection', 'Upgrade']);
    const trusted = Object.fromEntries(request(incoming, { trustedPeer: true, tunnel: true }));
    assert.deepEqual(trusted, {
      host: 'app:3000',
      'x-forwarded-for': '10.0.0.1, 10.0.0.2, 192.0.2.7',
      'x-forwarded-proto': 'https',
      via: '1.1 holdfast',
      connection: 'upgrade',
      upgrade: 'websocket',
    });
    const untrusted = Object.fromEntries(request(incoming));
    assert.equal(untrusted['x-forwarded-for'], '192.0.2.7');
    assert.equal(untrusted['x-forwarded-proto'], 'http');
    assert.equal(untrusted.upgrade, undefined);
    assert.equal(untrusted.connection, undefined);
  });

  test('request: an absolute-form target splits into origin-form and an authority that stands for Host, as X-Forwarded-Host too', () => {
    assert.deepEqual(absoluteTarget('http://other.example/path?q=1'), { originForm: '/path?q=1', authority: 'other.example' });
    assert.deepEqual(absoluteTarget('HTTPS://a.test:8443?q'), { originForm: '/?q', authority: 'a.test:8443' });
    assert.deepEqual(absoluteTarget('http://[::1]'), { originForm: '/', authority: '[::1]' });
    for (const target of ['/path', '*']) assert.equal(absoluteTarget(target), null, target);
    for (const target of ['http://?q', 'http://:80/', 'http://a%zz/', 'http://a:b:c/']) assert.equal(absoluteTarget(target), 'invalid', target);
    const out = Object.fromEntries(request(map(['host', 'ignored.test']), { targetAuthority: 'other.example' }));
    assert.deepEqual([out.host, out['x-forwarded-host']], ['other.example', 'other.example']);
    const replaced = Object.fromEntries(request(map(['host', 'ignored.test']), { targetAuthority: 'other.example', preserveHost: false }));
    assert.deepEqual([replaced.host, replaced['x-forwarded-host']], ['app:3000', 'other.example']);
  });

  test('request: TE keeps only trailers (with Connection: te); chunked framing declared when the body streams', () => {
    assert.deepEqual(Object.fromEntries(request(map(['te', 'gzip, trailers']), { body: { kind: 'chunked' } })), {
      host: 'app:3000',
      'transfer-encoding': 'chunked',
      'x-forwarded-for': '192.0.2.7',
      'x-forwarded-proto': 'http',
      via: '1.1 holdfast',
      connection: 'te',
      te: 'trailers',
    });
    assert.equal(Object.fromEntries(request(map(['te', 'gzip']))).te, undefined);
  });

  test('response: hop-by-hop, Connection-named, Trailer and non-length framing fields dropped; repeated fields kept in order; Via appended', () => {
    const headers = map(['connection', 'close, x-internal'], ['x-internal', 'secret'], ['keep-alive', 'timeout=5'], ['transfer-encoding', 'chunked'], ['trailer', 'x-sum'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2'], ['proxy-authenticate', 'Basic'], ['upgrade', 'h2c'], ['via', '1.1 app']);
    assert.deepEqual(clientResponseHeaders(headers, { kind: 'chunked' }, false), { 'set-cookie': ['a=1', 'b=2'], via: '1.1 app, 1.1 holdfast' });
    assert.deepEqual(clientResponseHeaders(map(['content-length', '5']), { kind: 'length', length: 5 }, false), { 'content-length': '5', via: '1.1 holdfast' });
    assert.deepEqual(clientResponseHeaders(map(['upgrade', 'websocket'], ['connection', 'upgrade']), { kind: 'switched' }, true), { upgrade: 'websocket', via: '1.1 holdfast' });
  });

  test('trailers: hop-by-hop and Connection-named fields dropped both ways (null when none is left); Trailer kept only when they are relayed', () => {
    const trailers = map(['x-sum', '42'], ['x-hop', 'a'], ['keep-alive', 'timeout=1'], ['te', 'trailers'], ['x-list', '1'], ['x-list', '2']);
    assert.deepEqual(relayedTrailers(trailers, new Set(['x-hop'])), { 'x-sum': '42', 'x-list': ['1', '2'] });
    assert.equal(relayedTrailers(map(['connection', 'close'], ['x-hop', 'a']), new Set(['x-hop'])), null);
    assert.equal(upstreamLastChunk(trailers, map(['connection', 'x-hop'])), '0\r\nx-sum: 42\r\nx-list: 1\r\nx-list: 2\r\n\r\n');
    assert.equal(upstreamLastChunk(null, map()), '0\r\n\r\n');
    const headers = map(['transfer-encoding', 'chunked'], ['trailer', 'x-sum']);
    assert.deepEqual(clientResponseHeaders(headers, { kind: 'chunked' }, false, null, true), { trailer: 'x-sum', via: '1.1 holdfast' });
    assert.deepEqual(clientResponseHeaders(headers, { kind: 'chunked' }, false, null, false), { via: '1.1 holdfast' });
  });

  test('fields named as Object.prototype’s properties (constructor, __proto__) are fields like any other, once or repeated, both ways', () => {
    const trailers = map(['constructor', 'a'], ['__proto__', 'b'], ['constructor', 'c'], ['__proto__', 'd'], ['x-sum', '1']);
    const relayed = relayedTrailers(trailers, null);
    assert.ok(relayed !== null);
    assert.equal(Object.getPrototypeOf(relayed), Object.prototype, 'the prototype is untouched');
    assert.deepEqual(Object.entries(relayed), [['constructor', ['a', 'c']], ['__proto__', ['b', 'd']], ['x-sum', '1']]);
    assert.equal(upstreamLastChunk(map(['constructor', 'x'], ['__proto__', 'y']), map()), '0\r\nconstructor: x\r\n__proto__: y\r\n\r\n');
    const response = clientResponseHeaders(map(['constructor', 'x'], ['__proto__', 'y'], ['constructor', 'z']), { kind: 'length', length: 0 }, false);
    assert.equal(Object.getPrototypeOf(response), Object.prototype);
    assert.deepEqual(Object.entries(response), [['constructor', ['x', 'z']], ['__proto__', 'y'], ['via', '1.1 holdfast']]);
  });

  test('retryable: idempotent methods and Idempotency-Key only', () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']) assert.equal(isRetryable(method, map()), true, method);
    for (const method of ['POST', 'PATCH', 'CONNECT']) assert.equal(isRetryable(method, map()), false, method);
    assert.equal(isRetryable('POST', map(['idempotency-key', 'k'])), true);
  });

  test('serializeRequestHead: request line and fields; injected CR/LF and bad tokens throw', () => {
    assert.equal(serializeRequestHead('GET', '/a?b', ['host', 'x', 'x-a', '1']), 'GET /a?b HTTP/1.1\r\nhost: x\r\nx-a: 1\r\n\r\n');
    assert.throws(() => serializeRequestHead('GET', '/a b', []));
    assert.throws(() => serializeRequestHead('G T', '/', []));
    assert.throws(() => serializeRequestHead('GET', '/', ['x', 'a\r\nevil: 1']));
    assert.throws(() => serializeRequestHead('GET', '/', ['x y', 'a']));
  });

  test('upstreams and options: origins only, http: only, unix sockets; unknown and out-of-range options named', () => {
    assert.deepEqual(parseUpstream('http://127.0.0.1:3000'), { kind: 'tcp', host: '127.0.0.1', port: 3000, authority: '127.0.0.1:3000', name: '127.0.0.1:3000' });
    assert.deepEqual(parseUpstream('http://[::1]:8080/'), { kind: 'tcp', host: '::1', port: 8080, authority: '[::1]:8080', name: '[::1]:8080' });
    assert.deepEqual(parseUpstream('unix:/run/app.sock'), { kind: 'unix', path: '/run/app.sock', authority: 'localhost', name: 'unix:/run/app.sock' });
    assert.match(parseUpstream('https://x') as string, /only http:/);
    assert.match(parseUpstream('http://x/base') as string, /origin only/);
    assert.match(parseUpstream('unix:relative') as string, /absolute/);
    assert.equal(resolveProxyOptions({ upstreams: ['http://a'] }).log, 'off', 'the library logs nothing unless asked, as the server');
    assert.equal(resolveProxyOptions({ upstreams: ['http://a'], logSink: () => undefined }).log, 'pretty', 'a logSink implies pretty');
    assert.equal(resolveProxyOptions({ upstreams: ['http://a'], logSink: '/tmp/x.log', log: 'json' }).log, 'json');
    assert.throws(() => resolveProxyOptions({ upstreams: [] }), /at least one/);
    assert.throws(() => resolveProxyOptions({ upstreams: ['http://a'], idleTimeoutMs: 0 }), /idleTimeoutMs must be an integer ≥ 1/);
    assert.throws(() => resolveProxyOptions({ upstreams: ['http://a'], balance: 'random' as never }), /balance must be one of round-robin, least-outstanding/);
    assert.throws(() => resolveProxyOptions({ upstreams: ['http://a'], idleTimeout: 5 } as never), /unknown proxy option "idleTimeout"/);
    const resolved = resolveProxyOptions({ upstreams: ['http://a:1'] });
    assert.deepEqual([resolved.maxIdlePerUpstream, resolved.idleTimeoutMs, resolved.balance, resolved.preserveHost], [32, 60_000, 'round-robin', true]);
  });
});
