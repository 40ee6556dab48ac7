/**
 * Trailers through the proxy (RFC 9110 §6.5, §7.6.1; RFC 9112 §7.1.2): a chunked response's
 * trailer section reaches an HTTP/1.1 client after hop-by-hop cleaning, whether the body came with
 * its head or later, and is dropped for an HTTP/1.0 client; a chunked request's trailers reach the
 * upstream, cleaned the same way. Fields named as Object.prototype's properties cross like any other.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { UpstreamHealthEvent } from '../../src/proxy/events.js';
import { RawConnection } from '../helpers/raw-client.js';
import { onRequestHeads, startNodeUpstream, startProxy, startRawUpstream, until } from './helpers.js';

const HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: x-internal\r\nTrailer: x-checksum\r\n\r\n';
const TRAILERS = '0\r\nX-Checksum: abc\r\nX-Internal: secret\r\nKeep-Alive: timeout=1\r\n\r\n';

describe('proxy trailers', () => {
  test('a chunked response’s trailers reach an HTTP/1.1 client, less the hop-by-hop and Connection-named fields; the upstream connection is pooled', async () => {
    const upstream = await startRawUpstream((socket) =>
      onRequestHeads(socket, (head) => {
        if (head.startsWith('GET /whole ')) {
          socket.write(`${HEAD}5\r\nhello\r\n6\r\n world\r\n${TRAILERS}`);
          return;
        }
        socket.write(`${HEAD}5\r\nhello\r\n`);
        setTimeout(() => socket.write(`6\r\n world\r\n${TRAILERS}`), 30);
      }),
    );
    const t = await startProxy({ upstreams: [upstream.url] });
    const c = await RawConnection.connect(t.port);
    try {
      for (const path of ['/whole', '/split']) {
        c.write(`GET ${path} HTTP/1.1\r\nHost: t\r\n\r\n`);
        const response = await c.readResponse();
        assert.equal(response.framing, 'chunked', path);
        assert.equal(response.body.toString(), 'hello world', path);
        assert.equal(response.header('trailer'), 'x-checksum', path);
        assert.deepEqual(response.trailers, [['x-checksum', 'abc']], path);
      }
      await until(() => t.proxy.stats()[0].idle === 1, 'the upstream connection back in the pool');
      assert.equal(upstream.accepted(), 1);
    } finally {
      c.destroy();
      await t.stop();
      await upstream.stop();
    }
  });

  test('an HTTP/1.0 client gets the body without the trailers (and without Trailer)', async () => {
    const upstream = await startRawUpstream((socket) =>
      onRequestHeads(socket, () => {
        socket.write(`${HEAD}5\r\nhello\r\n`);
        setTimeout(() => socket.write(`6\r\n world\r\n${TRAILERS}`), 30);
      }),
    );
    const t = await startProxy({ upstreams: [upstream.url] });
    const c = await RawConnection.connect(t.port);
    try {
      c.write('GET / HTTP/1.0\r\nHost: t\r\n\r\n');
      const response = await c.readResponse();
      assert.deepEqual([response.framing, response.body.toString(), response.trailers], ['close-delimited', 'hello world', []]);
      assert.equal(response.header('trailer'), undefined);
      assert.ok(!c.received.toString('latin1').includes('abc'), 'no trailer bytes in the body');
    } finally {
      c.destroy();
      await t.stop();
      await upstream.stop();
    }
  });

  test('a chunked request’s trailers reach the upstream, less the hop-by-hop and Connection-named fields', async () => {
    const upstream = await startNodeUpstream((req, res) => {
      let bytes = 0;
      req.on('data', (chunk: Buffer) => (bytes += chunk.length));
      req.on('end', () => res.end(JSON.stringify({ bytes, trailers: req.rawTrailers })));
    });
    const t = await startProxy({ upstreams: [upstream.url] });
    const c = await RawConnection.connect(t.port);
    try {
      c.write('POST /up HTTP/1.1\r\nHost: t\r\nConnection: x-hop\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 42\r\nX-Hop: 1\r\nKeep-Alive: timeout=1\r\n\r\n');
      assert.deepEqual(JSON.parse((await c.readResponse()).body.toString()), { bytes: 5, trailers: ['x-sum', '42'] });
      c.write('POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n');
      assert.deepEqual(JSON.parse((await c.readResponse()).body.toString()), { bytes: 2, trailers: [] });
    } finally {
      c.destroy();
      await t.stop();
      await upstream.stop();
    }
  });

  test('a request trailer or a response field named constructor or __proto__ crosses like any other; no upstream is blamed or marked down', async () => {
    const upstreams = await Promise.all(
      ['a', 'b'].map((name) =>
        startNodeUpstream((req, res) => {
          req.resume();
          req.on('end', () => {
            if (req.url === '/fields') res.setHeader('constructor', 'x');
            res.end(JSON.stringify({ name, trailers: req.rawTrailers }));
          });
        }),
      ),
    );
    const t = await startProxy({ upstreams: upstreams.map((u) => u.url) });
    const health: UpstreamHealthEvent[] = [];
    t.proxy.events.on('upstream-health', (e) => health.push(e));
    const c = await RawConnection.connect(t.port);
    try {
      const answered = new Set<string>();
      for (const trailer of ['constructor: x', '__proto__: y', 'Constructor: x\r\nconstructor: z']) {
        c.write(`POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n${trailer}\r\n\r\n`);
        const response = await c.readResponse();
        assert.equal(response.status, 200, trailer);
        const body = JSON.parse(response.body.toString()) as { name: string; trailers: string[] };
        assert.deepEqual(body.trailers, trailer.toLowerCase().split(/\r\n|: /), trailer);
        answered.add(body.name);
      }
      c.write('GET /fields HTTP/1.1\r\nHost: t\r\n\r\n');
      const response = await c.readResponse();
      assert.equal(response.status, 200);
      assert.equal(response.header('constructor'), 'x');
      for (let i = 0; i < 2; i++) {
        c.write('GET / HTTP/1.1\r\nHost: t\r\n\r\n');
        const healthy = await c.readResponse();
        assert.equal(healthy.status, 200);
        answered.add((JSON.parse(healthy.body.toString()) as { name: string }).name);
      }
      assert.deepEqual([...answered].sort(), ['a', 'b'], 'both upstreams still in rotation');
      assert.deepEqual(health, []);
      assert.deepEqual(t.upstreamErrors, []);
    } finally {
      c.destroy();
      await t.stop();
      for (const upstream of upstreams) await upstream.stop();
    }
  });
});
