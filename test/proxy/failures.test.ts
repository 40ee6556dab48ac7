/**
 * Named failures and what is retried: an upstream down, refusing, hanging, resetting before or in
 * the middle of a body; the keep-alive race on a reused connection (an idempotent request sent
 * again, a POST never); a client going away mid-response; a client's body failing, which is never
 * counted against an upstream.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { HttpError, type HttpRequest, type RequestBody } from '../../src/index.js';
import type { UpstreamHealthEvent } from '../../src/proxy/events.js';
import { RawConnection } from '../helpers/raw-client.js';
import { GET, sleep } from '../helpers/server.js';
import { onRequestHeads, startNodeUpstream, startProxy, startRawUpstream, until, type ProxyUnderTest, type Upstream } from './helpers.js';
import { freePort } from '../stress/helpers.js';

describe('proxy failures', () => {
  test('upstream down (connection refused) → 502 with a log line naming the upstream and the phase; the client connection is kept', async () => {
    const port = await freePort();
    const t = await startProxy({ upstreams: [`http://127.0.0.1:${port}`] });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET('/'));
      const response = await c.readResponse();
      assert.equal(response.status, 502);
      assert.equal(response.header('connection'), 'keep-alive');
      assert.deepEqual(
        t.upstreamErrors.map((e) => [e.upstream, e.phase, e.code, e.status]),
        [[`127.0.0.1:${port}`, 'connect', 'ECONNREFUSED', 502]],
      );
      const line = t.proxyLogs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event === 'upstream-error');
      assert.deepEqual([line?.upstream, line?.phase, line?.code], [`127.0.0.1:${port}`, 'connect', 'ECONNREFUSED']);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('an upstream that never answers → 504 after readTimeoutMs (phase headers), its connection closed as error', async () => {
    const upstream = await startRawUpstream(() => undefined);
    const t = await startProxy({ upstreams: [upstream.url], readTimeoutMs: 200 });
    try {
      const started = Date.now();
      const response = await fetch(`http://127.0.0.1:${t.port}/hang`);
      assert.equal(response.status, 504);
      await response.text();
      assert.ok(Date.now() - started >= 190);
      assert.deepEqual(
        t.upstreamErrors.map((e) => [e.phase, e.code, e.status]),
        [['headers', 'timeout', 504]],
      );
      await until(() => t.upstreamCloses.length === 1, 'the timed-out connection closing');
      assert.equal(t.upstreamCloses[0].reason, 'error');
    } finally {
      await t.stop();
      await upstream.stop();
    }
  });

  test('an upstream that resets in the middle of a body: the client connection is aborted (no final chunk), the upstream error logged with status null', async () => {
    const upstream = await startRawUpstream((socket) =>
      onRequestHeads(socket, () => {
        socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
        setTimeout(() => socket.resetAndDestroy(), 30);
      }),
    );
    const t = await startProxy({ upstreams: [upstream.url] });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET('/'));
      const how = await c.waitForClose(2000);
      const text = c.received.toString('latin1');
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(text, /\r\n\r\n5\r\nhello\r\n$/, 'the body stops where the upstream did: no last chunk');
      assert.ok(how === 'rst' || how === 'fin');
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'handler-error');
      assert.deepEqual(
        t.upstreamErrors.map((e) => [e.phase, e.status]),
        [['body', null]],
      );
    } finally {
      c.destroy();
      await t.stop();
      await upstream.stop();
    }
  });

  test('an upstream Transfer-Encoding other than chunked alone (gzip; gzip, chunked) → 502, phase headers, unknown-transfer-encoding; never relayed as plain bytes, the connection not pooled', async () => {
    const gzipped = gzipSync('hello');
    const responses = [
      Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n'), gzipped]),
      Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n${gzipped.length.toString(16)}\r\n`), gzipped, Buffer.from('\r\n0\r\n\r\n')]),
    ];
    const upstream = await startRawUpstream((socket, index) =>
      onRequestHeads(socket, () => {
        if (index === 0) socket.end(responses[0]);
        else socket.write(responses[1]);
      }),
    );
    const t = await startProxy({ upstreams: [upstream.url] });
    const health: boolean[] = [];
    t.proxy.events.on('upstream-health', (e) => health.push(e.healthy));
    const c = await RawConnection.connect(t.port);
    try {
      for (let i = 0; i < responses.length; i++) {
        c.write(GET(`/${i}`));
        const response = await c.readResponse();
        assert.equal(response.status, 502, `response ${i}`);
        assert.equal(response.header('connection'), 'keep-alive');
      }
      assert.deepEqual(
        t.upstreamErrors.map((e) => [e.phase, e.code, e.status]),
        [
          ['headers', 'unknown-transfer-encoding', 502],
          ['headers', 'unknown-transfer-encoding', 502],
        ],
      );
      const line = t.proxyLogs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event === 'upstream-error');
      assert.deepEqual([line?.phase, line?.code], ['headers', 'unknown-transfer-encoding']);
      await until(() => t.upstreamCloses.length === 2, 'both upstream connections closing');
      assert.deepEqual(
        t.upstreamCloses.map((e) => e.reason),
        ['error', 'error'],
      );
      assert.equal(upstream.accepted(), 2);
      assert.deepEqual(health, [], 'a response the proxy cannot relay does not mark its upstream down');
    } finally {
      c.destroy();
      await t.stop();
      await upstream.stop();
    }
  });

  test('a Content-Length body cut short by the upstream closing: aborted, never completed with made-up bytes', async () => {
    const upstream = await startRawUpstream((socket) =>
      onRequestHeads(socket, () => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial');
        setTimeout(() => socket.end(), 30);
      }),
    );
    const t = await startProxy({ upstreams: [upstream.url] });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET('/'));
      await c.waitForClose(2000);
      assert.match(c.received.toString('latin1'), /Content-Length: 100\r\n[\s\S]*\r\n\r\npartial$/);
      assert.equal(t.upstreamErrors[0]?.code, 'incomplete-message');
    } finally {
      c.destroy();
      await t.stop();
      await upstream.stop();
    }
  });

  test('the keep-alive race: a reused connection the upstream drops as the request arrives — GET sent again on a new connection, POST answered 502, never sent twice', async () => {
    // Each upstream connection answers its first request and resets on the second (an upstream
    // closing an idle connection just as the proxy writes on it), after the proxy's checks.
    const received: string[] = [];
    const upstream = await startRawUpstream((socket) =>
      onRequestHeads(socket, (head, count) => {
        received.push(head.split('\r\n')[0]);
        if (count === 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        else socket.resetAndDestroy();
      }),
    );
    const t = await startProxy({ upstreams: [upstream.url] });
    try {
      assert.equal(await (await fetch(`http://127.0.0.1:${t.port}/warm`)).text(), 'ok');
      const get = await fetch(`http://127.0.0.1:${t.port}/get`);
      assert.deepEqual([get.status, await get.text()], [200, 'ok'], 'the GET was sent again on a new connection');
      const post = await fetch(`http://127.0.0.1:${t.port}/post`, { method: 'POST', body: 'once' });
      assert.equal(post.status, 502);
      await post.text();
      assert.equal(await (await fetch(`http://127.0.0.1:${t.port}/warm2`)).text(), 'ok');
      const keyed = await fetch(`http://127.0.0.1:${t.port}/keyed`, { method: 'POST', body: 'k', headers: { 'idempotency-key': 'abc' } });
      assert.equal(keyed.status, 200, 'a POST with Idempotency-Key is retried');
      assert.equal(received.filter((line) => line.startsWith('POST /post')).length, 1, 'the POST reached the upstream once');
      assert.equal(received.filter((line) => line.startsWith('GET /get')).length, 2);
      assert.deepEqual(
        t.upstreamErrors.map((e) => [e.method, e.target, e.phase, e.retried, e.status]),
        [
          ['GET', '/get', 'headers', true, null],
          ['POST', '/post', 'headers', false, 502],
          ['POST', '/keyed', 'headers', true, null],
        ],
      );
      assert.equal(t.proxy.stats()[0].retried, 2);
    } finally {
      await t.stop();
      await upstream.stop();
    }
  });

  test('the keep-alive race with a streamed body: once the first attempt is reading it, a PUT is not sent again (a retry would miss what that read takes): 502, and the upstream never stores part of it', async () => {
    // The upstream answers its connection's first request, and drops the second once its head is in.
    const bodies: string[] = [];
    let dropped = false;
    const upstream = await startRawUpstream((socket) =>
      onRequestHeads(socket, (head, count) => {
        if (count === 1) {
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
          return;
        }
        if (head.startsWith('PUT') && !dropped) {
          dropped = true;
          socket.destroy();
          return;
        }
        // A PUT on a fresh connection: keep what its chunked body carries.
        let text = '';
        socket.on('data', (data: Buffer) => {
          text += data.toString('latin1');
          if (text.endsWith('0\r\n\r\n')) {
            bodies.push(text);
            socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
          }
        });
      }),
    );
    const t = await startProxy({ upstreams: [upstream.url] });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET('/warm'));
      assert.equal((await c.readResponse()).body.toString(), 'ok');
      c.write('PUT /doc HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n');
      await until(() => dropped, 'the upstream dropping the pooled connection');
      c.write('5\r\nFIRST\r\n');
      await sleep(30);
      c.write('6\r\nSECOND\r\n0\r\n\r\n');
      const response = await c.readResponse();
      assert.equal(response.status, 502);
      assert.deepEqual(bodies, [], 'no attempt reached the upstream with the body');
      assert.deepEqual(
        t.upstreamErrors.map((e) => [e.method, e.target, e.retried, e.status]),
        [['PUT', '/doc', false, 502]],
      );
    } finally {
      c.destroy();
      await t.stop();
      await upstream.stop();
    }
  });

  test('an idle pooled connection that the upstream closes, or that receives a stray byte, is never used: closed at once with its reason', async () => {
    const upstream = await startRawUpstream((socket, index) =>
      onRequestHeads(socket, () => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        if (index === 0) setTimeout(() => socket.end(), 20);
        if (index === 1) setTimeout(() => socket.write('X'), 20);
      }),
    );
    const t = await startProxy({ upstreams: [upstream.url] });
    try {
      for (let i = 0; i < 3; i++) {
        assert.equal(await (await fetch(`http://127.0.0.1:${t.port}/${i}`)).text(), 'ok');
        await sleep(60);
      }
      assert.deepEqual(
        t.upstreamCloses.map((e) => e.reason),
        ['upstream-close', 'evicted-while-idle'],
      );
      assert.deepEqual(t.upstreamErrors, [], 'no request met a dead connection');
      assert.equal(upstream.accepted(), 3);
    } finally {
      await t.stop();
      await upstream.stop();
    }
  });

  test('a client that goes away mid-response: the upstream connection is closed as client-gone, never pooled', async () => {
    let upstreamClosed = false;
    const upstream = await startNodeUpstream((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('x'.repeat(1000));
      const timer = setInterval(() => res.write('x'.repeat(1000)), 10);
      res.on('close', () => {
        clearInterval(timer);
        upstreamClosed = true;
      });
    });
    const t = await startProxy({ upstreams: [upstream.url] });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET('/stream'));
      await until(() => c.received.length > 2000, 'body bytes');
      c.destroy();
      await until(() => t.upstreamCloses.length === 1, 'the upstream connection closing');
      assert.equal(t.upstreamCloses[0].reason, 'client-gone');
      await until(() => upstreamClosed, 'the upstream seeing the close');
      assert.equal(t.proxy.stats()[0].idle, 0);
    } finally {
      await t.stop();
      await upstream.stop();
    }
  });

  /** A raw upstream that reads requests and never answers; it records when each of its sockets closes. */
  async function holdingUpstream(): Promise<{ upstream: Upstream; heads: () => number; closedAt: number[] }> {
    let heads = 0;
    const closedAt: number[] = [];
    const upstream = await startRawUpstream((socket) => {
      onRequestHeads(socket, () => heads++);
      socket.on('close', () => closedAt.push(Date.now()));
    });
    return { upstream, heads: () => heads, closedAt };
  }

  /** A proxy in front of a holding upstream, and a client whose GET that upstream holds. */
  async function heldRequest(): Promise<{ upstream: Upstream; closedAt: number[]; t: ProxyUnderTest; c: RawConnection }> {
    const { upstream, heads, closedAt } = await holdingUpstream();
    const t = await startProxy({ upstreams: [upstream.url], readTimeoutMs: 5_000 });
    const c = await RawConnection.connect(t.port);
    c.write(GET('/slow'));
    await until(() => heads() === 1, 'the upstream holding the request');
    return { upstream, closedAt, t, c };
  }

  /** The upstream saw its one socket closed, and the proxy logged that close as client-gone. */
  async function closedAsClientGone(t: ProxyUnderTest, closedAt: number[]): Promise<void> {
    await until(() => closedAt.length === 1, 'the upstream seeing its socket closed', 1000);
    await until(() => t.upstreamCloses.length === 1, 'the upstream-close event');
    assert.equal(t.upstreamCloses[0].reason, 'client-gone');
  }

  test('a client that goes away while the head is awaited: the upstream connection closes at once (client-gone, logged), nothing retried or counted as failed', async () => {
    const { upstream, closedAt, t, c } = await heldRequest();
    try {
      const left = Date.now();
      c.destroy();
      await closedAsClientGone(t, closedAt);
      assert.ok(closedAt[0] - left < 500, `closed ${closedAt[0] - left} ms after the client left`);
      const line = t.proxyLogs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event === 'upstream-close');
      assert.equal(line?.reason, 'client-gone');
      assert.deepEqual(t.upstreamErrors, []);
      const stats = t.proxy.stats()[0];
      assert.deepEqual([stats.active, stats.idle, stats.outstanding, stats.failed, stats.retried], [0, 0, 0, 0, 0]);
      assert.equal(upstream.accepted(), 1, 'not sent again');
    } finally {
      c.destroy();
      await t.stop();
      await upstream.stop();
    }
  });

  test('a client that ends its side after the request (its FIN, as nginx and Go take it) abandons the attempt too; it gets 499 and the connection closes', async () => {
    const { upstream, closedAt, t, c } = await heldRequest();
    try {
      c.end();
      const response = await c.readResponse();
      assert.equal(response.status, 499);
      await c.waitForClose();
      await closedAsClientGone(t, closedAt);
      assert.equal(t.proxy.stats()[0].active, 0);
    } finally {
      c.destroy();
      await t.stop();
      await upstream.stop();
    }
  });

  test('a client that goes away while its request waits for a connection leaves the queue at once; one sending a chunked body closes the upstream connection', async () => {
    const { upstream, heads, closedAt } = await holdingUpstream();
    const t = await startProxy({ upstreams: [upstream.url], maxConnectionsPerUpstream: 1, queueTimeoutMs: 5_000 });
    const first = await RawConnection.connect(t.port);
    const second = await RawConnection.connect(t.port);
    try {
      first.write('POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
      await until(() => heads() === 1, 'the upstream receiving the first request');
      second.write(GET('/queued'));
      await until(() => t.proxy.stats()[0].waiting === 1, 'the second request queued');
      second.destroy();
      await until(() => t.proxy.stats()[0].waiting === 0, 'the queue emptied', 500);
      first.destroy();
      await closedAsClientGone(t, closedAt);
      const stats = t.proxy.stats()[0];
      assert.deepEqual([stats.active, stats.waiting, stats.outstanding, stats.failed], [0, 0, 0, 0]);
      assert.equal(upstream.accepted(), 1);
      assert.deepEqual(t.upstreamErrors, []);
    } finally {
      first.destroy();
      second.destroy();
      await t.stop();
      await upstream.stop();
    }
  });

  test('a client body that fails while it streams up is answered with its own error; the upstream is not blamed, however often', async () => {
    const upstreams = await Promise.all(
      ['a', 'b'].map((name) =>
        startNodeUpstream((req, res) => {
          req.on('error', () => undefined);
          req.resume();
          req.on('end', () => res.end(name));
        }),
      ),
    );
    /** The request with a body that yields one piece, then throws what its `X-Fail` names. */
    const failing = (req: HttpRequest): HttpRequest => {
      const error = req.headers.get('x-fail') === '413' ? new HttpError(413) : new Error('the body source broke');
      const body: RequestBody = {
        async *[Symbol.asyncIterator]() {
          yield Buffer.from('part');
          throw error;
        },
        bytes: () => Promise.reject(error),
        text: () => Promise.reject(error),
        json: () => Promise.reject(error),
        trailers: null,
      };
      const { method, target, path, query, scheme, version, headers, connection, signal } = req;
      return { method, target, path, query, scheme, version, headers, connection, signal, body };
    };
    const t = await startProxy({ upstreams: upstreams.map((u) => u.url) }, {}, (p) => (req) => p(req.method === 'POST' ? failing(req) : req));
    const health: UpstreamHealthEvent[] = [];
    t.proxy.events.on('upstream-health', (e) => health.push(e));
    try {
      for (const fail of ['413', '413', 'error', 'error']) {
        const c = await RawConnection.connect(t.port);
        try {
          c.write(`POST / HTTP/1.1\r\nHost: t\r\nX-Fail: ${fail}\r\nTransfer-Encoding: chunked\r\n\r\n4\r\npart\r\n4\r\nmore\r\n0\r\n\r\n`);
          assert.equal((await c.readResponse()).status, fail === '413' ? 413 : 500, fail);
        } finally {
          c.destroy();
        }
      }
      const answered = new Set<string>();
      for (let i = 0; i < 2; i++) {
        const response = await fetch(`http://127.0.0.1:${t.port}/`);
        assert.equal(response.status, 200);
        answered.add(await response.text());
      }
      assert.deepEqual([...answered].sort(), ['a', 'b'], 'both upstreams still in rotation');
      assert.deepEqual(health, []);
      assert.deepEqual(t.upstreamErrors, []);
      assert.deepEqual(t.proxy.stats().map((s) => s.failed), [0, 0]);
    } finally {
      await t.stop();
      for (const upstream of upstreams) await upstream.stop();
    }
  });

  test('maxConnectionsPerUpstream with a full queue → 503; a queued request gets the connection when it frees', async () => {
    const upstream = await startNodeUpstream((req, res) => setTimeout(() => res.end(`done ${req.url}`), 100));
    const t = await startProxy({ upstreams: [upstream.url], maxConnectionsPerUpstream: 1, maxQueuedPerUpstream: 1 });
    try {
      const results = await Promise.all(['/a', '/b', '/c'].map(async (p) => {
        const response = await fetch(`http://127.0.0.1:${t.port}${p}`);
        return [response.status, await response.text()];
      }));
      assert.deepEqual(results.map(([status]) => status).sort(), [200, 200, 503]);
      assert.equal(upstream.accepted(), 1);
      assert.deepEqual(
        t.upstreamErrors.map((e) => [e.phase, e.code, e.status]),
        [['queue', 'queue-full', 503]],
      );
    } finally {
      await t.stop();
      await upstream.stop();
    }
  });
});
