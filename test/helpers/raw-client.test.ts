import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

import { RawConnection, exchange } from './raw-client.js';

const T = 500; // short per-operation timeout for these tests

/**
 * Run `fn` against a throwaway TCP server whose connection handler writes
 * canned bytes. Every server-side socket and the server are closed afterwards.
 */
async function withServer(
  onConnection: (sock: net.Socket) => void,
  fn: (port: number) => Promise<void>,
): Promise<void> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
    onConnection(sock);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  try {
    await fn(port);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Server that writes `bytes` as soon as a client connects. */
function cannedServer(bytes: string | Buffer, fn: (port: number) => Promise<void>): Promise<void> {
  return withServer((sock) => sock.write(bytes), fn);
}

/** Open a RawConnection for the duration of `fn`, destroying it afterwards. */
async function withConn(port: number, fn: (conn: RawConnection) => Promise<void>): Promise<void> {
  const conn = await RawConnection.connect(port);
  try {
    await fn(conn);
  } finally {
    conn.destroy();
  }
}

test('Content-Length response', async () => {
  const raw =
    'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n' +
    'X-Multi: a\r\nx-multi:  b \r\n\r\nhello';
  await cannedServer(raw, (port) =>
    withConn(port, async (conn) => {
      const res = await conn.readResponse({ timeoutMs: T });
      assert.equal(res.version, '1.1');
      assert.equal(res.status, 200);
      assert.equal(res.reason, 'OK');
      assert.deepEqual(res.headers, [
        ['content-type', 'text/plain'],
        ['content-length', '5'],
        ['x-multi', 'a'],
        ['x-multi', 'b'],
      ]);
      assert.equal(res.header('CONTENT-LENGTH'), '5');
      assert.equal(res.header('X-Multi'), 'a');
      assert.equal(res.header('missing'), undefined);
      assert.equal(res.body.toString(), 'hello');
      assert.equal(res.framing, 'length');
      assert.deepEqual(res.trailers, []);
      assert.equal(res.raw.toString('latin1'), raw);
      assert.equal(conn.unreadBytes, 0);
      assert.equal(conn.closedBy, null);
    }),
  );
});

test('chunked response with extensions and a trailer', async () => {
  const raw =
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n' +
    '5;foo=bar\r\nhello\r\n' +
    '7 ; q="x; y" ;flag\r\n, world\r\n' +
    'A\r\n0123456789\r\n' +
    '0;last=1\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n';
  await cannedServer(raw, (port) =>
    withConn(port, async (conn) => {
      const res = await conn.readResponse({ timeoutMs: T });
      assert.equal(res.framing, 'chunked');
      assert.equal(res.body.toString(), 'hello, world0123456789');
      assert.deepEqual(res.trailers, [
        ['x-checksum', 'abc'],
        ['x-other', '1'],
      ]);
      assert.equal(res.header('transfer-encoding'), 'chunked');
      assert.equal(conn.unreadBytes, 0);
    }),
  );
});

test('chunked response trickled in small pieces is reassembled', async () => {
  const raw = Buffer.from(
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n1;x=y\r\nd\r\n0\r\n\r\n',
  );
  await withServer(
    (sock) => {
      void (async () => {
        for (let i = 0; i < raw.length; i += 4) {
          if (sock.destroyed) return;
          sock.write(raw.subarray(i, i + 4));
          await delay(1);
        }
      })();
    },
    (port) =>
      withConn(port, async (conn) => {
        const res = await conn.readResponse({ timeoutMs: 2000 });
        assert.equal(res.framing, 'chunked');
        assert.equal(res.body.toString(), 'abcd');
        assert.deepEqual(res.trailers, []);
      }),
  );
});

test('two pipelined responses in one write are read one after another', async () => {
  const first = 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none';
  const second = 'HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n';
  await cannedServer(first + second, (port) =>
    withConn(port, async (conn) => {
      const a = await conn.readResponse({ timeoutMs: T });
      assert.equal(a.status, 200);
      assert.equal(a.body.toString(), 'one');
      assert.equal(conn.unreadBytes, second.length);
      const b = await conn.readResponse({ timeoutMs: T });
      assert.equal(b.status, 404);
      assert.equal(b.reason, 'Not Found');
      assert.equal(b.body.toString(), 'two');
      assert.equal(conn.unreadBytes, 0);
    }),
  );
});

test('concurrent readResponse calls are answered in order', async () => {
  const raw =
    'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na' +
    'HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nb' +
    'HTTP/1.1 202 Accepted\r\nContent-Length: 1\r\n\r\nc';
  await cannedServer(raw, (port) =>
    withConn(port, async (conn) => {
      const rs = await Promise.all([
        conn.readResponse({ timeoutMs: T }),
        conn.readResponse({ timeoutMs: T }),
        conn.readResponse({ timeoutMs: T }),
      ]);
      assert.deepEqual(
        rs.map((r) => [r.status, r.body.toString()]),
        [
          [200, 'a'],
          [201, 'b'],
          [202, 'c'],
        ],
      );
    }),
  );
});

test('100 Continue is returned as its own response, followed by the final one', async () => {
  const raw = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
  await cannedServer(raw, (port) =>
    withConn(port, async (conn) => {
      const interim = await conn.readResponse({ timeoutMs: T });
      assert.equal(interim.status, 100);
      assert.equal(interim.reason, 'Continue');
      assert.equal(interim.framing, 'none');
      assert.equal(interim.body.length, 0);
      const final = await conn.readResponse({ timeoutMs: T });
      assert.equal(final.status, 200);
      assert.equal(final.body.toString(), 'ok');
    }),
  );
});

test('204 and 304 have no body even if they carry Content-Length', async () => {
  const raw =
    'HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n' +
    'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n' +
    'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext';
  await cannedServer(raw, (port) =>
    withConn(port, async (conn) => {
      const a = await conn.readResponse({ timeoutMs: T });
      assert.equal(a.status, 204);
      assert.equal(a.framing, 'none');
      assert.equal(a.body.length, 0);
      const b = await conn.readResponse({ timeoutMs: T });
      assert.equal(b.status, 304);
      assert.equal(b.framing, 'none');
      assert.equal(b.header('content-length'), '10');
      const c = await conn.readResponse({ timeoutMs: T });
      assert.equal(c.body.toString(), 'next');
    }),
  );
});

test('HEAD response with Content-Length has no body', async () => {
  const raw =
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n' + 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi';
  await cannedServer(raw, (port) =>
    withConn(port, async (conn) => {
      const head = await conn.readResponse({ method: 'HEAD', timeoutMs: T });
      assert.equal(head.framing, 'none');
      assert.equal(head.body.length, 0);
      assert.equal(head.header('content-length'), '5');
      const get = await conn.readResponse({ method: 'GET', timeoutMs: T });
      assert.equal(get.framing, 'length');
      assert.equal(get.body.toString(), 'hi');
    }),
  );
});

test('close-delimited response is read until the peer closes', async () => {
  await withServer(
    (sock) => {
      sock.write('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ');
      setTimeout(() => sock.end('close'), 20);
    },
    (port) =>
      withConn(port, async (conn) => {
        const res = await conn.readResponse({ timeoutMs: T });
        assert.equal(res.version, '1.0');
        assert.equal(res.framing, 'close-delimited');
        assert.equal(res.body.toString(), 'until close');
        assert.equal(conn.closedBy, 'fin');
        assert.equal(await conn.waitForClose(T), 'fin');
      }),
  );
});

test('non-chunked final transfer coding is close-delimited', async () => {
  await withServer(
    (sock) => sock.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nabcdef'),
    (port) =>
      withConn(port, async (conn) => {
        const res = await conn.readResponse({ timeoutMs: T });
        assert.equal(res.framing, 'close-delimited');
        assert.equal(res.body.toString(), 'abcdef');
      }),
  );
});

test('server reset gives rst', async () => {
  await withServer(
    (sock) => sock.once('data', () => sock.resetAndDestroy()),
    (port) =>
      withConn(port, async (conn) => {
        conn.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
        assert.equal(await conn.waitForClose(T), 'rst');
        assert.equal(conn.closedBy, 'rst');
        await assert.rejects(conn.readResponse({ timeoutMs: T }), /reset.*before any response/);
      }),
  );
});

test('server end gives fin', async () => {
  await withServer(
    (sock) => sock.once('data', () => sock.end()),
    (port) =>
      withConn(port, async (conn) => {
        assert.equal(conn.closedBy, null);
        conn.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
        assert.equal(await conn.waitForClose(T), 'fin');
        assert.equal(conn.closedBy, 'fin');
        // Already closed: resolves immediately.
        assert.equal(await conn.waitForClose(T), 'fin');
      }),
  );
});

test('connection ending mid-response rejects', async () => {
  await withServer(
    (sock) => sock.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort'),
    (port) =>
      withConn(port, async (conn) => {
        await assert.rejects(conn.readResponse({ timeoutMs: T }), /closed by the peer \(FIN\) mid-response/);
      }),
  );
});

test('timeouts reject and leave the connection usable', async () => {
  await withServer(
    (sock) => {
      sock.write('HTTP/1.1 200 OK\r\nContent-Len');
      sock.once('data', () => sock.write('gth: 1\r\n\r\nx'));
    },
    (port) =>
      withConn(port, async (conn) => {
        await assert.rejects(conn.readResponse({ timeoutMs: 50 }), /timed out after 50ms/);
        await assert.rejects(conn.waitForClose(50), /timed out after 50ms/);
        conn.write('more please');
        const res = await conn.readResponse({ timeoutMs: T });
        assert.equal(res.body.toString(), 'x');
      }),
  );
});

test('protocol violations reject with a descriptive error', async () => {
  const cases: Array<[string, RegExp]> = [
    ['HTTP/1.1 200 OK\nContent-Length: 0\n\n', /bare LF/],
    ['HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n', /malformed status line/],
    ['\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', /malformed status line/],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', /conflicting Content-Length/],
    ['HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', /invalid Content-Length/],
    ['HTTP/1.1 200 OK\r\n folded: x\r\n\r\n', /malformed header line/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n', /not followed by CRLF/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /malformed chunk-size line/],
    ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokXX', /does not start with "HTTP\/"/],
  ];
  for (const [raw, re] of cases) {
    await cannedServer(raw, (port) =>
      withConn(port, async (conn) => {
        if (raw.endsWith('okXX')) await conn.readResponse({ timeoutMs: T });
        await assert.rejects(conn.readResponse({ timeoutMs: T }), re, JSON.stringify(raw));
      }),
    );
  }
});

test('destroy rejects a pending read and is idempotent', async () => {
  await withServer(
    () => {},
    async (port) => {
      const conn = await RawConnection.connect(port);
      const pending = conn.readResponse({ timeoutMs: T });
      conn.destroy();
      conn.destroy();
      await assert.rejects(pending, /before any response/);
      await assert.rejects(conn.waitForClose(T), /without FIN or RST/);
      assert.equal(conn.closedBy, null);
    },
  );
});

test('connect rejects when nothing listens', async () => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await assert.rejects(RawConnection.connect(port), /ECONNREFUSED/);
});

test('exchange writes, reads count responses and destroys', async () => {
  let received = '';
  await withServer(
    (sock) => {
      received = '';
      sock.on('data', (d: Buffer) => {
        received += d.toString('latin1');
        if (received.endsWith('\r\n\r\n')) {
          sock.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2');
        }
      });
    },
    async (port) => {
      const [a, b] = await exchange(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', { count: 2, timeoutMs: T });
      assert.equal(a.body.toString(), '1');
      assert.equal(b.body.toString(), '2');
      assert.equal(received, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      const [head] = await exchange(port, Buffer.from('HEAD / HTTP/1.1\r\nHost: x\r\n\r\n'), {
        method: 'HEAD',
        timeoutMs: T,
      });
      assert.equal(head.framing, 'none');
      assert.equal(received, 'HEAD / HTTP/1.1\r\nHost: x\r\n\r\n');
    },
  );
});
