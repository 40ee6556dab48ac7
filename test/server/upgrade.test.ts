/**
 * Connections leaving HTTP: `upgrade` (the server writes the 101) and `takeover()` (nothing
 * written, the new owner answers), with the `ws` package as a real WebSocket server and client.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { takeover, type Handler, type HttpRequest } from '../../src/index.js';
import { RawConnection } from '../helpers/raw-client.js';
import { echoThenClose } from '../helpers/ws.js';
import { GET, sleep, startServer } from '../helpers/server.js';

/** What `ws` reads of a request (its handleUpgrade takes node's IncomingMessage shape). */
function nodeShaped(req: HttpRequest): { method: string; url: string; headers: Record<string, string> } {
  return { method: req.method, url: req.target, headers: Object.fromEntries(req.headers.entries()) };
}

function wsEchoServer(): { wss: WebSocketServer; handler: Handler } {
  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  const handler: Handler = (req) => {
    if (req.headers.get('upgrade')?.toLowerCase() !== 'websocket') return { status: 200, body: 'plain http' };
    return takeover((socket, head) => wss.handleUpgrade(nodeShaped(req) as never, socket, head, (ws) => wss.emit('connection', ws)));
  };
  return { wss, handler };
}

/** A raw protocol after a server-written 101: echoes every byte, the ones read with the head first. */
const echoUpgrade: Handler = (req) => {
  if (req.headers.get('upgrade') !== 'echo') return { status: 200, body: `hello ${req.path}` };
  return {
    status: 101,
    headers: { upgrade: 'echo' },
    upgrade: (socket: Socket, head: Buffer) => {
      socket.write(head);
      socket.pipe(socket);
    },
  };
};

const UPGRADE_ECHO = 'GET /up HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n';

describe('upgrades', () => {
  test('ws: 1,000 echoed messages over holdfast, then a clean close; the connection is counted while upgraded', async () => {
    const { wss, handler } = wsEchoServer();
    const t = await startServer({}, handler);
    const client = new WebSocket(`ws://127.0.0.1:${t.port}/chat`);
    try {
      await once(client, 'open');
      assert.equal(t.server.connectionCount, 1);
      assert.deepEqual(
        t.server.connections().map((c) => c.state),
        ['upgraded'],
      );
      await echoThenClose(client);
      const closes = await t.closed(1);
      assert.equal(closes[0].reason, 'upgraded');
      const request = t.requests[0];
      assert.deepEqual([request.status, request.keepAlive], [101, false]);
    } finally {
      client.terminate();
      wss.close();
      await t.stop();
    }
  });

  test('shutdown with open WebSockets: reported as upgraded, closed at the grace deadline', async () => {
    const { wss, handler } = wsEchoServer();
    const t = await startServer({}, handler);
    const clients = [new WebSocket(`ws://127.0.0.1:${t.port}/`), new WebSocket(`ws://127.0.0.1:${t.port}/`)];
    try {
      await Promise.all(clients.map((c) => once(c, 'open')));
      const closed = clients.map((c) => once(c, 'close'));
      const startedAt = Date.now();
      const report = await t.server.close({ graceMs: 200 });
      assert.ok(Date.now() - startedAt >= 190, 'upgraded connections last until the grace deadline');
      assert.deepEqual(report, { drained: 0, forced: 2, upgraded: 2 });
      await Promise.all(closed);
      assert.equal(t.server.connectionCount, 0);
      assert.deepEqual(
        t.closes.map((c) => c.reason),
        ['upgraded', 'upgraded'],
      );
    } finally {
      for (const c of clients) c.terminate();
      wss.close();
      await t.stop();
    }
  });

  test('101 written by the server, then the new protocol gets the bytes that came with the head', async () => {
    const t = await startServer({}, echoUpgrade);
    const c = await RawConnection.connect(t.port);
    try {
      c.write(`${UPGRADE_ECHO}early`);
      const res = await c.readResponse();
      assert.equal(res.status, 101);
      assert.equal(res.header('connection'), 'upgrade');
      assert.equal(res.header('upgrade'), 'echo');
      assert.equal(res.header('content-length'), undefined);
      c.write('-late');
      for (let i = 0; i < 50 && c.unread.toString() !== 'early-late'; i++) await sleep(10);
      assert.equal(c.unread.toString(), 'early-late');
      c.destroy();
      const closes = await t.closed(1);
      assert.equal(closes[0].reason, 'upgraded');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('pipelined responses before an upgrade leave first, in order', async () => {
    const t = await startServer({}, echoUpgrade);
    const c = await RawConnection.connect(t.port);
    try {
      c.write(`${GET('/a')}${GET('/b')}${UPGRADE_ECHO}x`);
      assert.equal((await c.readResponse()).body.toString(), 'hello /a');
      assert.equal((await c.readResponse()).body.toString(), 'hello /b');
      assert.equal((await c.readResponse()).status, 101);
      for (let i = 0; i < 50 && c.unread.length === 0; i++) await sleep(10);
      assert.equal(c.unread.toString(), 'x');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('an upgraded connection has no HTTP deadlines: idle past every timeout, it still echoes', async () => {
    const t = await startServer({ keepAliveTimeoutMs: 50, keepAliveTimeoutBufferMs: 0, headersTimeoutMs: 50, requestTimeoutMs: 50 }, echoUpgrade);
    const c = await RawConnection.connect(t.port);
    try {
      c.write(UPGRADE_ECHO);
      assert.equal((await c.readResponse()).status, 101);
      await sleep(300);
      c.write('still here');
      for (let i = 0; i < 100 && c.unread.length < 10; i++) await sleep(10);
      assert.equal(c.unread.toString(), 'still here');
      assert.deepEqual(t.server.connections().map((x) => x.state), ['upgraded']);
      assert.equal(t.closes.length, 0);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('an upgrade the handler does not accept is answered normally, and the connection is kept', async () => {
    const { wss, handler } = wsEchoServer();
    const t = await startServer({}, (req) => (req.path === '/ws' ? handler(req) : { status: 200, body: 'no upgrade here' }));
    const c = await RawConnection.connect(t.port);
    try {
      c.write('GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
      const res = await c.readResponse();
      assert.equal(res.status, 200);
      assert.equal(res.header('connection'), 'keep-alive');
      c.write(GET('/again'));
      assert.equal((await c.readResponse()).status, 200);
      assert.deepEqual(
        t.server.connections().map((x) => x.state),
        ['idle'],
      );
    } finally {
      c.destroy();
      wss.close();
      await t.stop();
    }
  });

  test('a 101 to a request that did not ask for an upgrade is a 500 and a log line', async () => {
    const t = await startServer({}, () => ({ status: 101, headers: { upgrade: 'echo' }, upgrade: () => undefined }));
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET('/'));
      const res = await c.readResponse();
      assert.equal(res.status, 500);
      assert.ok(t.logs.some((l) => l.includes('did not ask for an upgrade')));
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a 101 without an Upgrade field, or with a body, is a 500', async () => {
    for (const response of [
      { status: 101, upgrade: () => undefined },
      { status: 101, headers: { upgrade: 'echo' }, body: 'x', upgrade: () => undefined },
      { status: 200, headers: { upgrade: 'echo' }, upgrade: () => undefined },
    ]) {
      const t = await startServer({}, () => response);
      const c = await RawConnection.connect(t.port);
      try {
        c.write(UPGRADE_ECHO);
        assert.equal((await c.readResponse()).status, 500);
      } finally {
        c.destroy();
        await t.stop();
      }
    }
  });

  test('a takeover that throws destroys the socket and logs the error; nothing leaks', async () => {
    const t = await startServer({}, () =>
      takeover(() => {
        throw new Error('boom in takeover');
      }),
    );
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET('/'));
      await c.waitForClose();
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'upgraded');
      assert.ok(t.logs.some((l) => l.includes('boom in takeover')));
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('an async handler can take over too; backpressure reaches the new owner', async () => {
    let owned: Socket | null = null;
    const t = await startServer({}, async () => {
      await sleep(5);
      return takeover((socket, head) => {
        owned = socket;
        socket.write(`took ${head.length}\n`);
        socket.pause();
      });
    });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(`${GET('/')}abc`);
      for (let i = 0; i < 50 && !c.received.toString().includes('\n'); i++) await sleep(10);
      assert.equal(c.received.toString(), 'took 3\n');
      const socket = owned as unknown as Socket;
      c.write(Buffer.alloc(256 * 1024, 1));
      await sleep(50);
      assert.ok(socket.readableLength <= 256 * 1024);
      let got = 0;
      socket.on('data', (chunk: Buffer) => (got += chunk.length));
      socket.resume();
      for (let i = 0; i < 100 && got < 256 * 1024; i++) await sleep(10);
      assert.equal(got, 256 * 1024);
    } finally {
      c.destroy();
      await t.stop();
    }
  });
});
