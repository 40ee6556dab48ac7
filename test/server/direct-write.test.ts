import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { directWritesAvailable, writeTextDirect, type DirectWriteOwner } from '../../src/server/direct-write.js';
import * as kernel from '../helpers/held-writes.js';
import { RawConnection } from '../helpers/raw-client.js';
import { GET, sleep, startServer } from '../helpers/server.js';

/** 8 KiB bodies (one write with their head, straight to the handle), each filled with its request's index. */
const BODY_BYTES = 8 * 1024;
const bodyFor = (path: string): Buffer => Buffer.alloc(BODY_BYTES, Number(path.slice(1)) % 251);

/** Pipelined requests /0 … /count-1 (the last with `lastExtra`), in a few writes. */
function pipeline(count: number, lastExtra = ''): string {
  let text = '';
  for (let i = 0; i < count; i++) text += GET(`/${i}`, i === count - 1 ? lastExtra : '');
  return text;
}

async function readAll(c: RawConnection, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const res = await c.readResponse({ timeoutMs: 3000 });
    assert.equal(res.status, 200);
    assert.ok(res.body.equals(bodyFor(`/${i}`)), `response ${i} has its own body, whole`);
  }
}

describe('direct writes (responses straight to the TCP handle)', () => {
  test('on this node, plain TCP responses are written straight to the handle (what the rest of the suite exercises)', () => {
    assert.equal(directWritesAvailable, true, `node ${process.version}: no WriteWrap from process.binding('stream_wrap'); every write goes through net.Socket`);
  });

  test('a write waits its turn: nothing goes straight to the handle while the socket holds bytes of its own', async () => {
    const server = net.createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    try {
      await once(socket, 'connect');
      let told = 0;
      const owner: DirectWriteOwner = { socket, directWriteDone: () => told++ };
      socket.cork();
      socket.write('queued first');
      assert.equal(writeTextDirect(owner, 'must not overtake'), null, 'corked: the caller must write through the socket');
      socket.uncork();
      assert.equal(writeTextDirect(owner, 'alone'), 'sync');
      assert.equal(told, 0);
    } finally {
      socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('pipelined responses to a client that reads nothing for a while are queued in libuv, then all arrive whole and in order; Connection: close on the last closes only after it', async () => {
    const count = 2000; // 16 MiB of responses: more than the kernel's socket buffers hold
    const t = await startServer({ maxRequestsPerConnection: 0, sendTimeoutMs: 5000 }, (req) => ({ status: 200, body: bodyFor(req.path) }));
    const c = await RawConnection.connect(t.port);
    try {
      c.socket.pause();
      c.write(pipeline(count, 'Connection: close\r\n'));
      await sleep(300);
      const [info] = t.server.connections();
      assert.ok(info !== undefined && info.writeBacklogBytes > 0, `the server holds a backlog for the client (${info?.writeBacklogBytes} bytes)`);
      assert.ok(t.requests.length < count, `answered ${t.requests.length} of ${count} while the client read nothing: backpressure stops it`);
      c.socket.resume();
      await readAll(c, count);
      assert.equal(await c.waitForClose(), 'fin');
      assert.equal(c.unreadBytes, 0);
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'client-close');
      assert.equal(t.requests.length, count);
      assert.equal(t.closes[0].bytesOut, c.received.length);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a response left queued in libuv by a direct write is delivered whole before the FIN of Connection: close', async () => {
    // 1 MiB bodies, each one write straight to the handle. A client that reads nothing is sent as
    // many as the kernel's buffers take; the next one stays queued in libuv. First count how many
    // fit on a fresh connection, then make that next one the last, with Connection: close.
    const body = 'a'.repeat(1024 * 1024);
    const t = await startServer({ maxRequestsPerConnection: 0 }, () => ({ status: 200, body }));
    const probe = await RawConnection.connect(t.port);
    let fit: number;
    try {
      probe.socket.pause();
      probe.write(GET().repeat(16));
      await sleep(200);
      fit = t.requests.length - 1; // the last answered is the one left queued
      assert.ok(fit >= 1 && fit < 15, `${fit} responses of 1 MiB fit in the kernel's buffers`);
    } finally {
      probe.destroy();
    }
    await t.closed(1);
    const c = await RawConnection.connect(t.port);
    try {
      c.socket.pause();
      c.write(GET().repeat(fit) + GET('/', 'Connection: close\r\n'));
      await sleep(200);
      const [info] = t.server.connections().filter((each) => each.id === 2);
      assert.ok(info !== undefined && info.writeBacklogBytes > 0, 'the last response is still queued');
      c.socket.resume();
      for (let i = 0; i <= fit; i++) assert.equal((await c.readResponse()).body.length, body.length);
      assert.equal(await c.waitForClose(), 'fin');
      await t.closed(2);
      assert.equal(t.closes[1].reason, 'client-close');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a client that resets while responses are queued: the connection closes with a reason, nothing leaks', async () => {
    const t = await startServer({ maxRequestsPerConnection: 0, sendTimeoutMs: 5000 }, (req) => ({ status: 200, body: bodyFor(req.path) }));
    const c = await RawConnection.connect(t.port);
    try {
      c.socket.pause();
      c.write(pipeline(2000));
      await sleep(300);
      const [info] = t.server.connections();
      assert.ok(info !== undefined && info.writeBacklogBytes > 0, 'responses are queued');
      c.socket.resetAndDestroy();
      await t.closed(1);
      assert.ok(['peer-reset', 'write-error'].includes(t.closes[0].reason), `closed as ${t.closes[0].reason}`);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a close behind a direct write still pending keeps its send deadline: a peer that stops reading is let go', async () => {
    kernel.install();
    const t = await startServer({ headersTimeoutMs: 200, sendTimeoutMs: 300 });
    const c = await RawConnection.connect(t.port);
    try {
      kernel.exemptSocket(c.socket as unknown as { _handle: object });
      kernel.hold(true); // the kernel takes nothing from the server
      c.write(GET() + 'GET / HTTP/1.1\r\n'); // one request, then a head that never ends
      await sleep(300); // the answer went direct and waits; the 408 queued behind it (through the socket), then end()
      assert.deepEqual(kernel.held(), [['writeLatin1String', 'writeLatin1String']]);
      kernel.release(1); // the kernel takes the first response only; the peer reads no more
      await t.closed(1, 1500);
      assert.equal(t.closes[0].reason, 'headers-timeout');
    } finally {
      kernel.uninstall();
      c.destroy();
      await t.stop();
    }
  });
});
