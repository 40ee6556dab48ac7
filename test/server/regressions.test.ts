/** Cases found in review: each once crashed the process, stalled a connection or closed it wrongly. */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HttpError, createServer } from '../../src/index.js';
import { RawConnection } from '../helpers/raw-client.js';
import { GET, sleep, startServer } from '../helpers/server.js';

describe('regressions', () => {
  test('a handler that answers while its body read is pending; the next pipelined request is still answered', async () => {
    const t = await startServer({}, async (req) => {
      if (req.method === 'POST') {
        void req.body.text();
        await sleep(20);
        return { status: 202, body: 'accepted' };
      }
      return { status: 200, body: 'next' };
    });
    const c = await RawConnection.connect(t.port);
    try {
      c.write('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
      assert.equal((await c.readResponse()).status, 202);
      c.write('0\r\n\r\n' + GET());
      assert.equal((await c.readResponse()).body.toString(), 'next');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('the peer address is still there for a handler that asks after the client reset (logging off)', async () => {
    let seen: { remoteAddress: string; remotePort: number } | null = null;
    const server = createServer({ log: 'off' }, async (req) => {
      await sleep(100);
      const { remoteAddress, remotePort } = req.connection;
      seen = { remoteAddress, remotePort };
      return { status: 200, body: 'late' };
    });
    const { port } = await server.listen(0, '127.0.0.1');
    const c = await RawConnection.connect(port);
    try {
      const localPort = c.socket.localPort;
      c.write(GET());
      await sleep(30);
      c.socket.resetAndDestroy();
      await sleep(150);
      assert.deepEqual(seen, { remoteAddress: '127.0.0.1', remotePort: localPort });
    } finally {
      c.destroy();
      await server.close({ graceMs: 500 });
      assert.equal(server.connectionCount, 0);
    }
  });

  test('a synchronous handler reads the peer address on every request of a connection (logging off)', async () => {
    const seen: string[] = [];
    const server = createServer({ log: 'off' }, (req) => {
      const { remoteAddress, remotePort } = req.connection;
      seen.push(`${remoteAddress}:${remotePort}`);
      return { status: 200, body: 'ok' };
    });
    const { port } = await server.listen(0, '127.0.0.1');
    const c = await RawConnection.connect(port);
    try {
      const localPort = c.socket.localPort;
      c.write(GET() + GET() + GET('/', 'Connection: close\r\n'));
      for (let i = 0; i < 3; i++) assert.equal((await c.readResponse()).status, 200);
      assert.deepEqual(seen, Array(3).fill(`127.0.0.1:${localPort}`));
    } finally {
      c.destroy();
      await server.close({ graceMs: 500 });
      assert.equal(server.connectionCount, 0);
    }
  });

  test('HttpError with an invalid header gives a 500 instead of crashing', async () => {
    const t = await startServer({}, async () => {
      throw new HttpError(416, 'x', { 'Content-Length': 'x' });
    });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET());
      assert.equal((await c.readResponse()).status, 500);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a late answer with a non-iterable body after the client reset is ignored', async () => {
    let answered: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (answered = resolve));
    const t = await startServer({}, async () => {
      await sleep(50);
      answered();
      return { status: 200, body: {} as never };
    });
    const c = await RawConnection.connect(t.port);
    c.write(GET());
    await sleep(10);
    c.socket.resetAndDestroy();
    await done;
    await sleep(20);
    const d = await RawConnection.connect(t.port);
    try {
      d.write(GET());
      assert.equal((await d.readResponse()).status, 500, 'the server still answers (the invalid body is a 500)');
    } finally {
      d.destroy();
      await t.stop();
    }
  });

  test('a handler can stream the request body back as its response (echo)', async () => {
    const t = await startServer({}, (req) => ({ status: 200, body: req.body }));
    const c = await RawConnection.connect(t.port);
    try {
      c.write('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
      await sleep(20);
      c.write('6\r\n world\r\n0\r\n\r\n');
      const res = await c.readResponse();
      assert.equal(res.body.toString(), 'hello world');
      assert.equal(res.header('connection'), 'keep-alive');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a request that arrives while the event loop is blocked across the idle deadline is served and the connection kept', async () => {
    const t = await startServer({ keepAliveTimeoutMs: 200, keepAliveTimeoutBufferMs: 0 });
    const c = await RawConnection.connect(t.port);
    try {
      const started = Date.now();
      await sleep(180);
      c.write(GET('/late'));
      while (Date.now() < started + 260);
      const res = await c.readResponse();
      assert.equal(res.body.toString(), 'hello /late');
      assert.equal(res.header('connection'), 'keep-alive');
      await sleep(60);
      assert.equal(c.closedBy, null, 'a stale idle check closed the connection after serving');
      c.write(GET('/again'));
      assert.equal((await c.readResponse()).body.toString(), 'hello /again');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('pipelined requests sent just before the client FIN are all answered (async handler)', async () => {
    const t = await startServer({}, async (req) => {
      await sleep(5);
      return { status: 200, body: req.path };
    });
    const c = await RawConnection.connect(t.port);
    try {
      c.socket.end(GET('/1') + GET('/2'));
      assert.equal((await c.readResponse()).body.toString(), '/1');
      assert.equal((await c.readResponse()).body.toString(), '/2');
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'peer-eof');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a connection that goes idle after close() began is closed then, not at the grace deadline', async () => {
    const t = await startServer({ shutdownMinIdleMs: 100 }, () => ({
      status: 200,
      body: (async function* () {
        yield Buffer.from('a');
        await sleep(80);
        yield Buffer.from('b');
      })(),
    }));
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET());
      await sleep(20);
      const started = Date.now();
      const report = await t.server.close({ graceMs: 2000 });
      assert.deepEqual(report, { drained: 1, forced: 0, upgraded: 0 });
      assert.ok(Date.now() - started < 1000);
      assert.equal((await c.readResponse()).body.toString(), 'ab');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('handlerTimeoutMs: a handler that never answers gets 503 and close; its late answer is discarded', async () => {
    const t = await startServer({ handlerTimeoutMs: 100 }, async (req) => {
      await sleep(req.path === '/slow' ? 300 : 0);
      return { status: 200, body: 'late' };
    });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET('/slow'));
      const res = await c.readResponse();
      assert.equal(res.status, 503);
      assert.equal(res.header('connection'), 'close');
      await c.waitForClose();
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'handler-timeout');
      assert.deepEqual(t.requests.map((r) => [r.method, r.target, r.status]), [['GET', '/slow', 503]]);
      await sleep(250);
      assert.ok(!c.received.toString().includes('late'));
      assert.equal(t.requests.length, 1, 'the late answer is not reported');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('the request timeout does not fire on a slow handler once the whole request was received', async () => {
    const t = await startServer({ requestTimeoutMs: 100 }, async () => {
      await sleep(200);
      return { status: 200, body: 'slow but fine' };
    });
    const c = await RawConnection.connect(t.port);
    try {
      c.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc');
      const res = await c.readResponse();
      assert.equal(res.status, 200);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a client FIN while its unread body is drained is a peer-eof, not a protocol error', async () => {
    const t = await startServer({}, () => ({ status: 401, body: 'no' }));
    const c = await RawConnection.connect(t.port);
    try {
      c.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc');
      assert.equal((await c.readResponse()).status, 401);
      c.end();
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'peer-eof');
      assert.ok(!t.logs.some((l) => l.includes('"protocol-error"')));
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('an absolute-form target keeps its query', async () => {
    const t = await startServer({}, (req) => ({ status: 200, body: `${req.path}|${req.query}` }));
    const c = await RawConnection.connect(t.port);
    try {
      c.write('GET http://a?x=1 HTTP/1.1\r\nHost: a\r\n\r\nGET http://a/p/q?y HTTP/1.1\r\nHost: a\r\n\r\n');
      assert.equal((await c.readResponse()).body.toString(), '/|x=1');
      assert.equal((await c.readResponse()).body.toString(), '/p/q|y');
    } finally {
      c.destroy();
      await t.stop();
    }
  });
});
