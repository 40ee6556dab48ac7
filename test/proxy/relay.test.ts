/**
 * proxy() relaying requests to real upstreams (node:http, holdfast, Go net/http): bodies both
 * ways, framing to HTTP/1.1 and HTTP/1.0 clients, HEAD/204/304/1xx, header hygiene as the
 * upstream and the client see it, keep-alive reuse and the upstream's Connection: close staying
 * on its side.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createServer } from '../../src/index.js';
import { RawConnection } from '../helpers/raw-client.js';
import { GET } from '../helpers/server.js';
import { buildGoUpstream, echoRequest, GO_MISSING, onRequestHeads, startGoUpstream, startNodeUpstream, startProxy, startRawUpstream, until } from './helpers.js';

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
  rawHeaders: string[];
  bodyBytes: number;
}

describe('proxy relay', () => {
  test('GET and POST through node:http, one upstream connection reused; Via added; Connection/Keep-Alive toward the client are holdfast’s', async () => {
    const upstream = await startNodeUpstream(echoRequest);
    const t = await startProxy({ upstreams: [upstream.url] });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET('/a?b=1'));
      const first = await c.readResponse();
      assert.equal(first.status, 200);
      const echoed = JSON.parse(first.body.toString()) as Echo;
      assert.equal(echoed.url, '/a?b=1');
      assert.equal(echoed.headers.host, 't');
      assert.equal(echoed.headers.via, '1.1 holdfast');
      assert.equal(echoed.headers['x-forwarded-for'], '127.0.0.1');
      assert.equal(echoed.headers['x-forwarded-proto'], 'http');
      assert.equal(echoed.headers['x-forwarded-host'], 't');
      assert.equal(first.header('via'), '1.1 holdfast');
      assert.match(first.header('keep-alive') ?? '', /^timeout=30, max=\d+$/, 'holdfast’s own Keep-Alive, not node’s timeout=5');
      c.write('POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello');
      const second = JSON.parse((await c.readResponse()).body.toString()) as Echo;
      assert.deepEqual([second.method, second.headers['content-length'], second.bodyBytes], ['POST', '5', 5]);
      assert.equal(upstream.accepted(), 1, 'the second request reused the pooled connection');
      assert.deepEqual(
        t.proxy.stats().map((s) => [s.opened, s.reused, s.idle]),
        [[1, 1, 1]],
      );
    } finally {
      c.destroy();
      await t.stop();
      await upstream.stop();
    }
  });

  test('a streamed (chunked) request body and a chunked response: relayed chunked to HTTP/1.1, close-delimited to HTTP/1.0', async () => {
    const upstream = await startNodeUpstream((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write(`te=${req.headers['transfer-encoding']} `);
        // The rest comes later: the proxy relays what it has, as it arrives (a body already whole is sent with its length).
        setTimeout(() => res.end(Buffer.concat(parts)), 150); // long enough that a busy machine still relays the first part alone
      });
    });
    const t = await startProxy({ upstreams: [upstream.url], retryBodyBytes: 0 }, { maxBodyBytes: 0 });
    try {
      const c = await RawConnection.connect(t.port);
      c.write('POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n');
      const chunked = await c.readResponse();
      assert.equal(chunked.framing, 'chunked');
      assert.equal(chunked.body.toString(), 'te=chunked hello world');
      c.write('POST /len HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc');
      assert.equal((await c.readResponse()).body.toString(), 'te=undefined abc');
      c.destroy();
      const old = await RawConnection.connect(t.port);
      old.write('GET / HTTP/1.0\r\nHost: t\r\n\r\n');
      const response = await old.readResponse();
      assert.equal(response.framing, 'close-delimited');
      assert.equal(response.body.toString(), 'te=undefined ');
      old.destroy();
    } finally {
      await t.stop();
      await upstream.stop();
    }
  });

  test('HEAD keeps the upstream’s Content-Length, 204 and 304 have no body, a 103 and a 100 are hop-local; the connection stays pooled', async () => {
    const upstream = await startRawUpstream((socket) =>
      onRequestHeads(socket, (head) => {
        const path = head.split(' ')[1];
        if (path === '/head') socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/plain\r\n\r\n');
        else if (path === '/204') socket.write('HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n');
        else if (path === '/304') socket.write('HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n');
        else socket.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      }),
    );
    const t = await startProxy({ upstreams: [upstream.url] });
    const c = await RawConnection.connect(t.port);
    try {
      c.write('HEAD /head HTTP/1.1\r\nHost: t\r\n\r\n');
      const head = await c.readResponse({ method: 'HEAD' });
      assert.deepEqual([head.status, head.header('content-length'), head.body.length], [200, '1234', 0]);
      c.write(GET('/204'));
      const noContent = await c.readResponse();
      assert.deepEqual([noContent.status, noContent.header('x-a'), noContent.body.length], [204, '1', 0]);
      c.write(GET('/304'));
      const notModified = await c.readResponse();
      assert.deepEqual([notModified.status, notModified.header('etag'), notModified.body.length], [304, '"x"', 0]);
      c.write(GET('/interim'));
      const final = await c.readResponse();
      assert.deepEqual([final.status, final.body.toString()], [200, 'ok']);
      assert.equal(upstream.accepted(), 1);
    } finally {
      c.destroy();
      await t.stop();
      await upstream.stop();
    }
  });

  test('Expect: 100-continue is answered by holdfast and not forwarded', async () => {
    const upstream = await startNodeUpstream(echoRequest);
    const t = await startProxy({ upstreams: [upstream.url] });
    const c = await RawConnection.connect(t.port);
    try {
      c.write('PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n');
      const interim = await c.readResponse();
      assert.equal(interim.status, 100);
      c.write('data');
      const response = await c.readResponse();
      const echoed = JSON.parse(response.body.toString()) as Echo;
      assert.equal(echoed.headers.expect, undefined);
      assert.equal(echoed.bodyBytes, 4);
    } finally {
      c.destroy();
      await t.stop();
      await upstream.stop();
    }
  });

  test('hygiene: hop-by-hop fields and those named in Connection are dropped both ways, X-Forwarded-For listed in Connection cannot remove ours', async () => {
    const upstream = await startRawUpstream((socket) =>
      onRequestHeads(socket, (head) => {
        const body = head;
        socket.write(
          'HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nTrailer: X-T\r\n' +
            `Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nVia: 1.0 app\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        );
      }),
    );
    const t = await startProxy({ upstreams: [upstream.url] });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(
        'GET /h HTTP/1.1\r\nHost: example.test\r\nConnection: keep-alive, X-Forwarded-For, X-Custom\r\nX-Forwarded-For: 6.6.6.6\r\nX-Custom: a\r\n' +
          'Keep-Alive: 300\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic eA==\r\nTE: trailers, deflate\r\nUpgrade: h2c\r\nX-Forwarded-Proto: https\r\nVia: 1.1 edge\r\nX-Kept: yes\r\n\r\n',
      );
      const response = await c.readResponse();
      const sent = response.body.toString().toLowerCase();
      for (const gone of ['x-custom', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'upgrade', '6.6.6.6', 'https', 'deflate']) {
        assert.ok(!sent.includes(gone), `upstream saw ${gone}:\n${sent}`);
      }
      assert.match(sent, /^host: example\.test\r$/m);
      assert.match(sent, /^x-forwarded-for: 127\.0\.0\.1\r$/m);
      assert.match(sent, /^x-forwarded-proto: http\r$/m);
      assert.match(sent, /^x-kept: yes\r$/m);
      assert.match(sent, /^via: 1\.1 edge, 1\.1 holdfast\r$/m);
      assert.match(sent, /^te: trailers\r$/m);
      assert.match(sent, /^connection: te\r$/m);
      const names = response.headers.map(([name]) => name);
      for (const gone of ['x-secret', 'proxy-authenticate', 'trailer']) assert.ok(!names.includes(gone), `client saw ${gone}`);
      assert.equal(response.header('connection'), 'keep-alive');
      assert.match(response.header('keep-alive') ?? '', /^timeout=30/);
      assert.deepEqual(
        response.headers.filter(([name]) => name === 'set-cookie').map(([, v]) => v),
        ['a=1', 'b=2'],
      );
      assert.equal(response.header('via'), '1.0 app, 1.1 holdfast');
    } finally {
      c.destroy();
      await t.stop();
      await upstream.stop();
    }
  });

  test('hygiene: X-Forwarded-* from a trusted proxy are kept and appended to; preserveHost: false sends the upstream’s authority', async () => {
    const upstream = await startNodeUpstream(echoRequest);
    const t = await startProxy({ upstreams: [upstream.url], trustedProxies: ['127.0.0.1'], preserveHost: false });
    const c = await RawConnection.connect(t.port);
    try {
      c.write('GET / HTTP/1.1\r\nHost: front.test\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: www.test\r\n\r\n');
      const echoed = JSON.parse((await c.readResponse()).body.toString()) as Echo;
      assert.equal(echoed.headers['x-forwarded-for'], '10.0.0.1, 127.0.0.1');
      assert.equal(echoed.headers['x-forwarded-proto'], 'https');
      assert.equal(echoed.headers['x-forwarded-host'], 'www.test');
      assert.equal(echoed.headers.host, `127.0.0.1:${upstream.port}`);
    } finally {
      c.destroy();
      await t.stop();
      await upstream.stop();
    }
  });

  test('an absolute-form request-target goes upstream in origin-form, its authority standing for Host (RFC 9112 §3.2.2); one with no host is 400', async () => {
    const upstream = await startNodeUpstream(echoRequest);
    const kept = await startProxy({ upstreams: [upstream.url] });
    const replaced = await startProxy({ upstreams: [upstream.url], preserveHost: false });
    try {
      const cases: Array<[string, string, string]> = [
        ['http://other.example/path?q=1', '/path?q=1', 'other.example'],
        ['HTTP://Other.Example:8080?q', '/?q', 'Other.Example:8080'],
        ['https://[::1]:8443', '/', '[::1]:8443'],
      ];
      for (const [target, url, authority] of cases) {
        for (const t of [kept, replaced]) {
          const c = await RawConnection.connect(t.port);
          try {
            c.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Host: spoofed.test\r\n\r\n`);
            const echoed = JSON.parse((await c.readResponse()).body.toString()) as Echo;
            const host = t === kept ? authority : `127.0.0.1:${upstream.port}`;
            assert.deepEqual([echoed.url, echoed.headers.host, echoed.headers['x-forwarded-host']], [url, host, authority], target);
          } finally {
            c.destroy();
          }
        }
      }
      for (const target of ['http://:80/', 'http://?q', 'http://a%zz/']) {
        const c = await RawConnection.connect(kept.port);
        try {
          c.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
          const response = await c.readResponse();
          assert.deepEqual([response.status, response.header('connection')], [400, 'close'], target);
        } finally {
          c.destroy();
        }
      }
      assert.equal(upstream.accepted(), 2, 'only the valid targets reached the upstream (one pooled connection per proxy)');
    } finally {
      await kept.stop();
      await replaced.stop();
      await upstream.stop();
    }
  });

  test('an upstream’s Connection: close and an HTTP/1.0 close-delimited body never close the client connection; those upstream connections are not pooled', async () => {
    const upstream = await startRawUpstream((socket, index) =>
      onRequestHeads(socket, () => {
        if (index === 0) {
          socket.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nfirst');
          socket.end();
        } else {
          socket.end('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nsecond, until the close');
        }
      }),
    );
    const t = await startProxy({ upstreams: [upstream.url] });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET('/1'));
      const first = await c.readResponse();
      assert.deepEqual([first.body.toString(), first.header('connection')], ['first', 'keep-alive']);
      c.write(GET('/2'));
      const second = await c.readResponse();
      assert.deepEqual([second.body.toString(), second.framing], ['second, until the close', 'chunked']);
      await until(() => t.upstreamCloses.length === 2, 'two upstream closes');
      assert.deepEqual(
        t.upstreamCloses.map((e) => e.reason),
        ['upstream-close', 'upstream-close'],
      );
      assert.equal(c.closedBy, null, 'the client connection is still open');
    } finally {
      c.destroy();
      await t.stop();
      await upstream.stop();
    }
  });

  test('holdfast as the upstream: its advertised Keep-Alive timeout (less the margin) is the pool’s idle limit, so the proxy lets go first', async () => {
    const app = createServer({ keepAliveTimeoutMs: 1000, log: 'off' }, (req) => ({ status: 200, body: `app ${req.path}` }));
    const { port } = await app.listen(0, '127.0.0.1');
    const reasons: string[] = [];
    app.on('connection-close', (e) => reasons.push(e.reason));
    const t = await startProxy({ upstreams: [`http://127.0.0.1:${port}`] });
    try {
      const response = await fetch(`http://127.0.0.1:${t.port}/x`);
      assert.equal(await response.text(), 'app /x');
      await until(() => t.upstreamCloses.length === 1, 'the pool closing the idle connection', 1500);
      assert.equal(t.upstreamCloses[0].reason, 'idle-timeout');
      assert.ok(t.upstreamCloses[0].lifetimeMs < 1000, `closed after ${t.upstreamCloses[0].lifetimeMs} ms: the hint (1 s) less the margin (500 ms) is the limit`);
      await until(() => reasons.length === 1, 'the app seeing the close');
      assert.deepEqual(reasons, ['peer-eof'], 'the proxy closed first, never the app');
    } finally {
      await t.stop();
      await app.close({ graceMs: 200 });
    }
  });

  test('Go net/http as the upstream: GET, POST with a body, keep-alive reuse', async () => {
    const binary = await buildGoUpstream();
    assert.ok(binary !== null, GO_MISSING);
    const upstream = await startGoUpstream(binary, '5s');
    const t = await startProxy({ upstreams: [upstream.url] });
    try {
      const get = await fetch(`http://127.0.0.1:${t.port}/hello`);
      assert.equal(await get.text(), 'go /hello');
      const body = 'x'.repeat(100_000);
      const post = await fetch(`http://127.0.0.1:${t.port}/echo`, { method: 'POST', body });
      assert.equal(post.headers.get('x-method'), 'POST');
      assert.equal(post.headers.get('x-body-bytes'), '100000');
      assert.equal(post.headers.get('x-seen-host'), `127.0.0.1:${t.port}`);
      const seen = JSON.parse(post.headers.get('x-seen-headers') ?? '{}') as Record<string, string[]>;
      assert.deepEqual(seen['X-Forwarded-For'], ['127.0.0.1']);
      assert.equal(await post.text(), body);
      const stats = t.proxy.stats()[0];
      assert.equal(stats.opened, 1, 'both requests on one upstream connection');
    } finally {
      await t.stop();
      await upstream.stop();
    }
  });
});
