import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, test } from 'node:test';
import { RawConnection } from '../helpers/raw-client.js';
import { GET, sleep, startServer } from '../helpers/server.js';

describe('keep-alive (the core behaviours)', () => {
  test('HTTP/1.1 keeps the connection alive by default and serves several requests on it', async () => {
    const t = await startServer({ keepAliveTimeoutMs: 5000 });
    const c = await RawConnection.connect(t.port);
    try {
      for (let i = 1; i <= 3; i++) {
        c.write(GET(`/r${i}`));
        const res = await c.readResponse();
        assert.equal(res.status, 200);
        assert.equal(res.body.toString(), `hello /r${i}`);
        assert.equal(res.header('connection'), 'keep-alive');
        assert.equal(res.header('keep-alive'), `timeout=5, max=${100 - i}`);
      }
      assert.equal(c.closedBy, null);
      assert.deepEqual(t.requests.map((r) => [r.connectionId, r.requestIndex]), [[1, 1], [1, 2], [1, 3]]);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('the idle wait counts from the end of a response, not from queueing it: a client slower to read it than the keep-alive timeout still has its next request answered', async () => {
    // Larger than the kernel's socket buffers can hold at once (a 4 MiB send buffer, and the
    // receiver's): the response is still leaving when the client starts reading.
    const big = Buffer.alloc(16 * 1024 * 1024, 97);
    const t = await startServer({ keepAliveTimeoutMs: 300, keepAliveTimeoutBufferMs: 100 }, (req) => ({ status: 200, body: req.path === '/big' ? big : 'small' }));
    const socket = net.connect(t.port, '127.0.0.1');
    try {
      await once(socket, 'connect');
      socket.pause();
      socket.write(GET('/big'));
      await sleep(700); // reading nothing for longer than timeout + buffer
      let head = '';
      let firstEnd = -1; // where the first response ends, in bytes from the start
      let received = 0;
      let rest = '';
      const second = new Promise<string>((resolve, reject) => {
        socket.on('data', (data: Buffer) => {
          const start = received;
          received += data.length;
          if (firstEnd === -1) {
            head += data.toString('latin1', 0, Math.min(data.length, 1024));
            const headEnd = head.indexOf('\r\n\r\n');
            if (headEnd === -1) return;
            firstEnd = headEnd + 4 + big.length;
          }
          if (received < firstEnd) return;
          if (start < firstEnd) socket.write(GET('/second')); // the first response was read to its end, in this chunk
          rest += data.toString('latin1', Math.max(0, firstEnd - start));
          if (rest.endsWith('small')) resolve(rest);
        });
        socket.on('end', () => reject(new Error('the server closed the connection before the second response')));
      });
      socket.resume();
      assert.match(await second, /^HTTP\/1\.1 200 OK\r\n/);
      assert.deepEqual(t.closes, []);
    } finally {
      socket.destroy();
      await t.stop();
    }
  });

  test('HTTP/1.0 closes by default', async () => {
    const t = await startServer({});
    const c = await RawConnection.connect(t.port);
    try {
      c.write('GET / HTTP/1.0\r\n\r\n');
      const res = await c.readResponse();
      assert.equal(res.status, 200);
      assert.equal(res.header('connection'), 'close');
      assert.equal(res.header('keep-alive'), undefined);
      assert.equal(await c.waitForClose(), 'fin');
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'http10-default');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('HTTP/1.0 with Connection: keep-alive persists when the length is known', async () => {
    const t = await startServer({ keepAliveTimeoutMs: 3000, maxRequestsPerConnection: 10 });
    const c = await RawConnection.connect(t.port);
    try {
      for (let i = 0; i < 2; i++) {
        c.write('GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
        const res = await c.readResponse();
        assert.equal(res.header('connection'), 'keep-alive');
        assert.equal(res.header('keep-alive'), `timeout=3, max=${9 - i}`);
        assert.equal(res.header('content-length'), '8');
      }
      assert.equal(c.closedBy, null);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('HTTP/1.0 keep-alive with a streamed body falls back to close-delimited and closes', async () => {
    const t = await startServer({}, () => ({
      status: 200,
      body: (async function* () {
        yield Buffer.from('a');
        yield Buffer.from('b');
      })(),
    }));
    const c = await RawConnection.connect(t.port);
    try {
      c.write('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
      const res = await c.readResponse();
      assert.equal(res.framing, 'close-delimited');
      assert.equal(res.body.toString(), 'ab');
      assert.equal(res.header('connection'), 'close');
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'unframed-body');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  for (const value of ['close', 'CLOSE', 'keep-alive, Close', 'foo,close']) {
    test(`client Connection: ${value} is honoured`, async () => {
      const t = await startServer({});
      const c = await RawConnection.connect(t.port);
      try {
        c.write(GET('/', `Connection: ${value}\r\n`));
        const res = await c.readResponse();
        assert.equal(res.header('connection'), 'close');
        assert.equal(await c.waitForClose(), 'fin');
        await t.closed(1);
        assert.equal(t.closes[0].reason, 'client-close');
      } finally {
        c.destroy();
        await t.stop();
      }
    });
  }

  /** A client that keeps its side open after the server's FIN (no automatic end): lingering shows. */
  async function halfOpenClient(port: number, request: string): Promise<{ socket: net.Socket; response: Promise<string>; fin: Promise<void> }> {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    await once(socket, 'connect');
    socket.on('error', () => undefined);
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    const fin = once(socket, 'end').then(() => undefined);
    socket.write(request);
    return { socket, response: fin.then(() => text), fin };
  }

  test('a client that ends the connection with everything read is closed without lingering', async () => {
    // lingerMs is long: were the server lingering, it would hold the socket until the client's FIN.
    const t = await startServer({ lingerMs: 5000 });
    const close11 = await halfOpenClient(t.port, GET('/', 'Connection: close\r\n'));
    const http10 = await halfOpenClient(t.port, 'GET / HTTP/1.0\r\n\r\n');
    try {
      assert.match(await close11.response, /^HTTP\/1\.1 200 [^]*\r\nConnection: close\r\n/);
      assert.match(await http10.response, /^HTTP\/1\.1 200 [^]*\r\nConnection: close\r\n/);
      await t.closed(2, 1000);
      assert.deepEqual(t.closes.map((e) => e.reason).sort(), ['client-close', 'http10-default']);
      assert.equal(t.server.connectionCount, 0, 'closed while both clients still hold their side open');
    } finally {
      close11.socket.destroy();
      http10.socket.destroy();
      await t.stop();
    }
  });

  test('a client that said Connection: close but keeps sending is lingered for after all', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024, 0x61);
    const t = await startServer({ lingerMs: 5000 }, () => ({ status: 200, headers: { 'content-type': 'application/octet-stream' }, body: big }));
    const socket = net.connect({ port: t.port, host: '127.0.0.1', allowHalfOpen: true });
    try {
      await once(socket, 'connect');
      socket.on('error', () => undefined);
      socket.pause(); // the response backs up: the server is closing, its FIN waits behind the body
      socket.write(GET('/', 'Connection: close\r\n'));
      await sleep(50);
      socket.write('more bytes after Connection: close');
      await sleep(50);
      let received = 0;
      socket.on('data', (chunk: Buffer) => (received += chunk.length));
      const fin = once(socket, 'end');
      socket.resume();
      await fin;
      assert.ok(received > big.length, 'the whole response arrived');
      await sleep(150);
      assert.equal(t.server.connectionCount, 1, 'lingering: the client was still sending');
      socket.end();
      await t.closed(1, 1000);
      assert.equal(t.closes[0].reason, 'client-close');
      assert.equal(t.server.connectionCount, 0);
    } finally {
      socket.destroy();
      await t.stop();
    }
  });

  test('a close the server decides lingers until the client closes its side', async () => {
    const t = await startServer({ lingerMs: 5000, maxRequestsPerConnection: 1 });
    const c = await halfOpenClient(t.port, GET());
    try {
      assert.match(await c.response, /\r\nConnection: close\r\n/);
      await sleep(150);
      assert.equal(t.server.connectionCount, 1, 'still lingering: the client may have been sending');
      assert.equal(t.closes.length, 0);
      c.socket.end();
      await t.closed(1, 1000);
      assert.equal(t.closes[0].reason, 'max-requests');
      assert.equal(t.server.connectionCount, 0);
    } finally {
      c.socket.destroy();
      await t.stop();
    }
  });

  test('handler Connection: close closes after the response', async () => {
    const t = await startServer({}, () => ({ status: 200, headers: { connection: 'close' }, body: 'bye' }));
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET());
      const res = await c.readResponse();
      assert.equal(res.header('connection'), 'close');
      assert.equal(await c.waitForClose(), 'fin');
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'handler-close');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('max requests: the last allowed response says close and the socket really closes', async () => {
    const t = await startServer({ maxRequestsPerConnection: 3 });
    const c = await RawConnection.connect(t.port);
    try {
      const seen: Array<string | undefined> = [];
      for (let i = 0; i < 3; i++) {
        c.write(GET());
        const res = await c.readResponse();
        seen.push(`${res.header('connection')}|${res.header('keep-alive')}`);
      }
      assert.deepEqual(seen, ['keep-alive|timeout=30, max=2', 'keep-alive|timeout=30, max=1', 'close|undefined']);
      assert.equal(await c.waitForClose(), 'fin');
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'max-requests');
      assert.equal(t.closes[0].requestsServed, 3);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('max requests 1 disables keep-alive; 0 is unlimited (no max in Keep-Alive)', async () => {
    const one = await startServer({ maxRequestsPerConnection: 1 });
    const unlimited = await startServer({ maxRequestsPerConnection: 0, keepAliveTimeoutMs: 2500 });
    const a = await RawConnection.connect(one.port);
    const b = await RawConnection.connect(unlimited.port);
    try {
      a.write(GET());
      assert.equal((await a.readResponse()).header('connection'), 'close');
      assert.equal(await a.waitForClose(), 'fin');
      for (let i = 0; i < 120; i++) {
        b.write(GET());
        const res = await b.readResponse();
        assert.equal(res.header('keep-alive'), 'timeout=2');
      }
      assert.equal(b.closedBy, null);
    } finally {
      a.destroy();
      b.destroy();
      await one.stop();
      await unlimited.stop();
    }
  });

  test('idle timeout closes an idle connection after timeout + buffer, with a FIN', async () => {
    const t = await startServer({ keepAliveTimeoutMs: 150, keepAliveTimeoutBufferMs: 100 });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET());
      const res = await c.readResponse();
      assert.equal(res.header('keep-alive'), 'timeout=0, max=99');
      const start = Date.now();
      assert.equal(await c.waitForClose(2000), 'fin');
      const elapsed = Date.now() - start;
      assert.ok(elapsed >= 240, `closed after ${elapsed} ms, before timeout + buffer`);
      assert.ok(elapsed < 1000, `closed after ${elapsed} ms`);
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'idle-timeout');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a new connection that never sends is closed at the idle deadline', async () => {
    const t = await startServer({ keepAliveTimeoutMs: 100, keepAliveTimeoutBufferMs: 50 });
    const c = await RawConnection.connect(t.port);
    try {
      assert.equal(await c.waitForClose(2000), 'fin');
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'idle-timeout');
      assert.equal(t.closes[0].requestsServed, 0);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('activity re-arms the idle timer; a request sent just before the deadline is served', async () => {
    const t = await startServer({ keepAliveTimeoutMs: 200, keepAliveTimeoutBufferMs: 0 });
    const c = await RawConnection.connect(t.port);
    try {
      for (let i = 0; i < 4; i++) {
        c.write(GET());
        assert.equal((await c.readResponse()).status, 200);
        await sleep(170);
      }
      c.write(GET('/late'));
      const res = await c.readResponse();
      assert.equal(res.body.toString(), 'hello /late');
      assert.equal(c.closedBy, null, 'the connection outlived several timeouts thanks to activity');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a request whose first byte arrived before the deadline is served even if it completes after', async () => {
    const t = await startServer({ keepAliveTimeoutMs: 150, keepAliveTimeoutBufferMs: 0, headersTimeoutMs: 2000 });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET());
      await c.readResponse();
      await sleep(100);
      c.write('GET /slow HTTP/1.1\r\n');
      await sleep(200);
      c.write('Host: t\r\n\r\n');
      const res = await c.readResponse();
      assert.equal(res.body.toString(), 'hello /slow');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('max connection lifetime: the response that crosses it says close', async () => {
    const t = await startServer({ maxConnectionLifetimeMs: 150 });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET());
      assert.equal((await c.readResponse()).header('connection'), 'keep-alive');
      await sleep(200);
      c.write(GET());
      assert.equal((await c.readResponse()).header('connection'), 'close');
      assert.equal(await c.waitForClose(), 'fin');
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'max-lifetime');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test("httpVersion '1.0' answers as HTTP/1.0 and never keeps alive", async () => {
    const t = await startServer({ httpVersion: '1.0' });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET('/', 'Connection: keep-alive\r\n'));
      const res = await c.readResponse();
      assert.equal(res.version, '1.0');
      assert.equal(res.header('connection'), 'close');
      assert.equal(await c.waitForClose(), 'fin');
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'http10-default');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  for (const [preset, seconds, max] of [['production', 30, 100], ['high-traffic', 15, 50], ['low-traffic', 60, 200]] as const) {
    test(`preset ${preset} advertises timeout=${seconds}, max=${max - 1} on the first response`, async () => {
      const t = await startServer({ preset });
      const c = await RawConnection.connect(t.port);
      try {
        c.write(GET());
        assert.equal((await c.readResponse()).header('keep-alive'), `timeout=${seconds}, max=${max - 1}`);
      } finally {
        c.destroy();
        await t.stop();
      }
    });
  }

  test('connection events are logged: open, request, close with reason', async () => {
    const t = await startServer({ maxRequestsPerConnection: 2 });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET() + GET());
      await c.readResponse();
      await c.readResponse();
      await c.waitForClose();
      await t.closed(1);
      const events = t.logs.map((line) => JSON.parse(line));
      assert.deepEqual(events.map((e) => e.event), ['connection-open', 'request', 'request', 'connection-close']);
      assert.equal(events[3].reason, 'max-requests');
      assert.equal(events[3].requestsServed, 2);
      assert.ok(events[3].bytesIn > 0 && events[3].bytesOut > 0);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('connections() reports live connections with their lifecycle', async () => {
    const t = await startServer({});
    const c = await RawConnection.connect(t.port);
    try {
      await sleep(20);
      assert.deepEqual(t.server.connections().map((i) => [i.state, i.requestsServed]), [['new', 0]]);
      c.write(GET());
      await c.readResponse();
      const [info] = t.server.connections();
      assert.equal(info.state, 'idle');
      assert.equal(info.requestsServed, 1);
      assert.equal(info.remoteAddress, '127.0.0.1');
    } finally {
      c.destroy();
      await t.stop();
    }
  });
});
