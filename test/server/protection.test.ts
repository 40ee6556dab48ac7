import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, test } from 'node:test';
import { RawConnection } from '../helpers/raw-client.js';
import { GET, sleep, startServer } from '../helpers/server.js';

describe('protection against slow and greedy peers', () => {
  test('minBodyBytesPerSecond: a body trickled below the rate gets 408 (slow-body)', async () => {
    const t = await startServer({ minBodyBytesPerSecond: 1000 }, async (req) => ({ status: 200, body: await req.body.text() }));
    const c = await RawConnection.connect(t.port);
    const trickle = setInterval(() => c.socket.writable && c.write('x'), 50);
    try {
      c.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n');
      const res = await c.readResponse({ timeoutMs: 3000 });
      assert.equal(res.status, 408);
      assert.equal(res.header('connection'), 'close');
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'slow-body');
    } finally {
      clearInterval(trickle);
      c.destroy();
      await t.stop();
    }
  });

  test('minBodyBytesPerSecond: a body at a healthy rate is accepted', async () => {
    const t = await startServer({ minBodyBytesPerSecond: 1000 }, async (req) => ({ status: 200, body: String((await req.body.bytes()).length) }));
    const c = await RawConnection.connect(t.port);
    try {
      c.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 30000\r\n\r\n');
      for (let i = 0; i < 12; i++) {
        c.write(Buffer.alloc(2500, 97));
        await sleep(100);
      }
      assert.equal((await c.readResponse()).body.toString(), '30000');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('sendTimeoutMs bounds a stall, not a whole large body: a client reading steadily but slower than the body / the timeout gets it all', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 97);
    const t = await startServer({ sendTimeoutMs: 400 }, () => ({ status: 200, body: big }));
    const socket = net.connect(t.port, '127.0.0.1');
    try {
      await once(socket, 'connect');
      socket.write(GET());
      let received = 0;
      const startedAt = Date.now();
      const whole = new Promise<void>((resolve, reject) => {
        socket.on('data', (data: Buffer) => {
          received += data.length;
          if (received >= big.length) {
            resolve();
            return;
          }
          // A steady reader of at most ~64 KiB per 5 ms: the 8 MiB take longer than the timeout.
          socket.pause();
          setTimeout(() => socket.resume(), 5);
        });
        socket.on('error', () => undefined);
        socket.on('close', () => reject(new Error(`closed after ${received} bytes`)));
      });
      await whole;
      assert.ok(Date.now() - startedAt > 400, 'the body took longer than sendTimeoutMs');
      assert.deepEqual(t.closes, []);
    } finally {
      socket.destroy();
      await t.stop();
    }
  });

  test('maxConnections: at the cap, the oldest idle keep-alive connection makes room', async () => {
    const t = await startServer({ maxConnections: 2 });
    const a = await RawConnection.connect(t.port);
    const b = await RawConnection.connect(t.port);
    try {
      a.write(GET('/a'));
      await a.readResponse();
      b.write(GET('/b'));
      await b.readResponse();
      const c = await RawConnection.connect(t.port);
      c.write(GET('/c'));
      assert.equal((await c.readResponse()).body.toString(), 'hello /c');
      assert.equal(await a.waitForClose(), 'fin');
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'connection-limit');
      assert.equal(b.closedBy, null);
      c.destroy();
    } finally {
      a.destroy();
      b.destroy();
      await t.stop();
    }
  });

  test('maxConnections: a connection still sending its last response is not taken to make room; the newcomer is refused', async () => {
    let t: Awaited<ReturnType<typeof startServer>> | null = null;
    const last = Buffer.alloc(1024 * 1024, 98);
    const piece = Buffer.alloc(8 * 1024, 97);
    // The first response fills the kernel's buffers (small pieces, so none waits for a drain); the
    // second, with Connection: close, then stays queued while the connection closes.
    const kernelFull = (): boolean => (t?.server.connections()[0]?.writeBacklogBytes ?? 0) > 0;
    t = await startServer({ maxConnections: 1 }, (req) =>
      req.path === '/fill'
        ? { status: 200, body: (async function* () { while (!kernelFull()) yield piece; })() }
        : { status: 200, body: last },
    );
    const server = t;
    const a = net.connect(t.port, '127.0.0.1');
    try {
      await once(a, 'connect');
      a.pause();
      a.write(GET('/fill') + GET('/last', 'Connection: close\r\n'));
      const deadline = Date.now() + 2000;
      while (!(server.server.connections()[0]?.state === 'closing' && kernelFull())) {
        assert.ok(Date.now() < deadline, 'the connection closing with its last response queued');
        await sleep(5);
      }
      const b = net.connect(t.port, '127.0.0.1');
      b.on('error', () => undefined);
      await once(b, 'close'); // refused: no connection to take
      let received = Buffer.alloc(0);
      a.on('data', (data: Buffer) => (received = Buffer.concat([received, data])));
      a.resume();
      await once(a, 'end');
      assert.ok(received.subarray(-last.length).equals(last), 'the last response arrived whole');
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'client-close');
    } finally {
      a.destroy();
      await t.stop();
    }
  });

  test('maxConnections: with no idle connection to close, new connections are refused and logged', async () => {
    const t = await startServer({ maxConnections: 1 });
    const a = await RawConnection.connect(t.port);
    try {
      a.write('GET / HTTP/1.1\r\n');
      await sleep(20);
      const b = await RawConnection.connect(t.port);
      const how = await b.waitForClose().catch(() => 'closed');
      assert.ok(how === 'fin' || how === 'rst' || how === 'closed');
      b.destroy();
      assert.ok(t.logs.some((l) => l.includes('"accept-error"') && l.includes('connection-limit')));
      a.write('Host: a\r\n\r\n');
      assert.equal((await a.readResponse()).status, 200);
    } finally {
      a.destroy();
      await t.stop();
    }
  });

  test('maxConnections: a burst of refusals within a second is all counted in the log, the rest by a line at the end of the second', async () => {
    const t = await startServer({ maxConnections: 1 });
    const a = await RawConnection.connect(t.port);
    const refusedLogged = (): number[] =>
      t.logs.filter((l) => l.includes('"accept-error"') && l.includes('connection-limit')).map((l) => Number(/(\d+) connection\(s\) refused/.exec(l)?.[1]));
    try {
      a.write('GET / HTTP/1.1\r\n');
      await sleep(20);
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          const b = await RawConnection.connect(t.port);
          await b.waitForClose().catch(() => 'closed');
          b.destroy();
        }),
      );
      const deadline = Date.now() + 2_000;
      while (refusedLogged().reduce((sum, n) => sum + n, 0) < 10 && Date.now() < deadline) await sleep(20);
      const counts = refusedLogged();
      assert.equal(counts.reduce((sum, n) => sum + n, 0), 10, `logged counts ${JSON.stringify(counts)}`);
      assert.ok(counts.length < 10, `refusals are counted together, not a line each (${counts.length} lines)`);
    } finally {
      a.destroy();
      await t.stop();
    }
  });
});
