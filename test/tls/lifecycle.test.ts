/**
 * A TLS connection's life under the same loop as TCP: close_notify before every FIN (RFC 8446
 * §6.1) and lingering after it, the handshake counting toward the first head's deadline, the idle
 * deadline, graceful shutdown, eviction at maxConnections, WebSocket over TLS, and both socket
 * read modes (the shared read buffer, which TLS sockets use too, and 'data' events).
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket, { WebSocketServer } from 'ws';
import { takeover, type Handler } from '../../src/index.js';
import { RawConnection } from '../helpers/raw-client.js';
import { runSuitesInChild } from '../helpers/child-suites.js';
import { GET, sleep } from '../helpers/server.js';
import { makeCerts, type TestCerts } from './certs.js';
import { ALERT, RecordingRelay, startTlsServer, trusting } from './helpers.js';

let certs: TestCerts;
before(() => {
  certs = makeCerts();
});
after(() => certs.remove());

/** A TLS 1.2 client through a recording relay: TLS 1.2 alerts travel as records of type 21. */
async function throughRelay(port: number): Promise<{ conn: RawConnection; relay: RecordingRelay }> {
  const relay = await RecordingRelay.start(port);
  const conn = await RawConnection.connectTls(relay.port, { ...trusting(certs), maxVersion: 'TLSv1.2' });
  return { conn, relay };
}

describe('closing a TLS connection', () => {
  test('Connection: close — the response, then close_notify, then FIN; reason client-close', async () => {
    const t = await startTlsServer(certs);
    const { conn, relay } = await throughRelay(t.port);
    try {
      conn.write(GET('/', 'Connection: close\r\n'));
      const response = await conn.readResponse();
      assert.equal(response.header('connection'), 'close');
      assert.equal(await conn.waitForClose(), 'fin');
      await t.closed(1);
      const records = relay.records();
      assert.equal(records.at(-1)?.[0], ALERT, `the last record before the FIN is an alert (close_notify): ${JSON.stringify(records)}`);
      assert.equal(relay.serverEnded, true);
      assert.equal(t.closes[0].reason, 'client-close');
    } finally {
      conn.destroy();
      await relay.close();
    }
    await t.stop();
  });

  test('idle timeout and a 408 after a stalled head also send close_notify before the FIN', async () => {
    const t = await startTlsServer(certs, { keepAliveTimeoutMs: 150, keepAliveTimeoutBufferMs: 0, headersTimeoutMs: 300 });
    const idle = await throughRelay(t.port);
    const slow = await throughRelay(t.port);
    try {
      idle.conn.write(GET('/'));
      await idle.conn.readResponse();
      slow.conn.write('GET / HTTP/1.1\r\nHost: t\r\n');
      assert.equal(await idle.conn.waitForClose(), 'fin');
      assert.equal((await slow.conn.readResponse()).status, 408);
      assert.equal(await slow.conn.waitForClose(), 'fin');
      for (const { relay } of [idle, slow]) assert.equal(relay.records().at(-1)?.[0], ALERT, JSON.stringify(relay.records()));
      const closes = await t.closed(2);
      assert.deepEqual(closes.map((c) => c.reason).sort(), ['headers-timeout', 'idle-timeout']);
    } finally {
      for (const { conn, relay } of [idle, slow]) {
        conn.destroy();
        await relay.close();
      }
    }
    await t.stop();
  });

  test('lingering after close_notify: a client still sending after a 408 reads the response, not a reset', async () => {
    const t = await startTlsServer(certs, { headersTimeoutMs: 200, lingerMs: 500 });
    const conn = await RawConnection.connectTls(t.port, trusting(certs));
    try {
      conn.write('GET / HTTP/1.1\r\nHost: t\r\n');
      const sending = setInterval(() => conn.write('X-Late: yes\r\n'), 20);
      try {
        const response = await conn.readResponse({ timeoutMs: 3000 });
        assert.equal(response.status, 408);
        await sleep(100);
      } finally {
        clearInterval(sending);
      }
      conn.end();
      assert.equal(await conn.waitForClose(3000), 'fin');
      const [closed] = await t.closed(1);
      assert.equal(closed.reason, 'headers-timeout');
    } finally {
      conn.destroy();
    }
    await t.stop();
  });
});

/** A TLS connection whose ClientHello is held back `delayMs` after the TCP connection (the server's handshake clock starts at accept). */
async function handshakeAfter(port: number, delayMs: number): Promise<RawConnection> {
  const tcp = net.connect(port, '127.0.0.1');
  await once(tcp, 'connect');
  await sleep(delayMs);
  return RawConnection.connectTls(port, { ...trusting(certs), socket: tcp });
}

describe('TLS deadlines', () => {
  test('the handshake counts toward the first head’s headers deadline', async () => {
    const t = await startTlsServer(certs, { headersTimeoutMs: 1000 });
    const conn = await handshakeAfter(t.port, 600);
    try {
      const firstByteAt = Date.now();
      conn.write('GET / HTTP/1.1\r\n');
      const response = await conn.readResponse({ timeoutMs: 3000 });
      const tookMs = Date.now() - firstByteAt;
      assert.equal(response.status, 408);
      assert.ok(tookMs < 900, `408 ${tookMs} ms after the first byte; 1000 ms would not count the 600 ms handshake`);
      conn.write(GET('/'));
    } finally {
      conn.destroy();
    }
    assert.equal((await t.closed(1))[0].reason, 'headers-timeout');
    await t.stop();
  });

  test('after the first request, heads get the whole headers timeout again', async () => {
    const t = await startTlsServer(certs, { headersTimeoutMs: 400 });
    const conn = await handshakeAfter(t.port, 250);
    try {
      conn.write(GET('/'));
      await conn.readResponse();
      const startedAt = Date.now();
      conn.write('GET / HTTP/1.1\r\n');
      assert.equal((await conn.readResponse({ timeoutMs: 3000 })).status, 408);
      const tookMs = Date.now() - startedAt;
      assert.ok(tookMs >= 350, `the second head got ${tookMs} ms of its 400`);
    } finally {
      conn.destroy();
    }
    await t.stop();
  });
});

describe('shutdown and limits', () => {
  test('close(): an idle TLS connection closes with close_notify, an in-flight one is answered with Connection: close, a stalled handshake is forced at the grace deadline', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const t = await startTlsServer(certs, { shutdownMinIdleMs: 0 }, async (req) => {
      if (req.path === '/slow') await gate;
      return { status: 200, body: 'done' };
    });
    const idle = await throughRelay(t.port);
    const busy = await RawConnection.connectTls(t.port, trusting(certs));
    const stalled = await RawConnection.connect(t.port);
    try {
      idle.conn.write(GET('/'));
      await idle.conn.readResponse();
      busy.write(GET('/slow'));
      await sleep(50);
      const closing = t.server.close({ graceMs: 600 });
      assert.equal(await idle.conn.waitForClose(), 'fin');
      assert.equal(idle.relay.records().at(-1)?.[0], ALERT);
      release();
      const response = await busy.readResponse();
      assert.equal(response.header('connection'), 'close');
      assert.equal(response.body.toString(), 'done');
      const report = await closing;
      assert.deepEqual([report.drained, report.forced], [2, 1]);
      assert.equal(t.server.connectionCount, 0);
      assert.deepEqual(t.closes.map((c) => c.reason).sort(), ['shutdown', 'shutdown', 'shutdown']);
    } finally {
      idle.conn.destroy();
      await idle.relay.close();
      busy.destroy();
      stalled.destroy();
    }
  });

  test('at maxConnections an idle TLS connection is evicted to make room; handshaking ones are not', async () => {
    const t = await startTlsServer(certs, { maxConnections: 2 });
    const idle = await RawConnection.connectTls(t.port, trusting(certs));
    idle.write(GET('/'));
    await idle.readResponse();
    const handshaking = await RawConnection.connect(t.port);
    await sleep(50);
    const fresh = await RawConnection.connectTls(t.port, trusting(certs));
    try {
      fresh.write(GET('/'));
      assert.equal((await fresh.readResponse()).status, 200);
      assert.equal(await idle.waitForClose(), 'fin');
      assert.equal((await t.closed(1))[0].reason, 'connection-limit');
      assert.ok(t.server.connections().some((c) => c.state === 'new' && c.tls?.protocol === null), 'the handshaking connection is still there');
    } finally {
      idle.destroy();
      handshaking.destroy();
      fresh.destroy();
    }
    await t.stop();
  });
});

describe('leaving HTTP over TLS', () => {
  test('wss: a WebSocket taken over on a TLS connection echoes 200 messages, one at a time', async () => {
    const wss = new WebSocketServer({ noServer: true });
    wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    const handler: Handler = (req) =>
      takeover((socket, head) =>
        wss.handleUpgrade({ method: req.method, url: req.target, headers: Object.fromEntries(req.headers.entries()) } as never, socket, head, (ws) => wss.emit('connection', ws)),
      );
    const t = await startTlsServer(certs, {}, handler);
    const client = new WebSocket(`wss://localhost:${t.port}/chat`, { ca: certs.ca });
    try {
      await once(client, 'open');
      assert.deepEqual(t.server.connections().map((c) => [c.state, typeof c.tls?.cipher]), [['upgraded', 'string']]);
      for (let i = 0; i < 200; i++) {
        const echoed = once(client, 'message') as Promise<[Buffer]>;
        client.send(`m${i}`);
        assert.equal((await echoed)[0].toString(), `m${i}`);
      }
      client.close();
      await once(client, 'close');
    } finally {
      client.terminate();
    }
    assert.equal((await t.closed(1))[0].reason, 'upgraded');
    wss.close();
    await t.stop();
  });
});

describe('read modes', () => {
  test("with HOLDFAST_READ_EVENTS=1 ('data' events) the TLS suites pass too", () => {
    const here = path.dirname(fileURLToPath(import.meta.url));
    runSuitesInChild(['https.test.js', 'bad-input.test.js'].map((f) => path.join(here, f)), { HOLDFAST_READ_EVENTS: '1' }, 20);
  });

  test('a TLS socket reads into the shared buffer (the fast path works on TLSWrap handles)', async () => {
    const { readIntoSharedBuffer, sharedReadAvailable } = await import('../../src/server/shared-read.js');
    assert.equal(sharedReadAvailable, true);
    const server = net.createServer((raw) => {
      const socket = new tls.TLSSocket(raw, { isServer: true, secureContext: tls.createSecureContext({ cert: certs.localhost.cert, key: certs.localhost.key }) });
      const reads: number[] = [];
      assert.equal(
        readIntoSharedBuffer(socket, (nread) => {
          reads.push(nread);
        }),
        true,
      );
      socket.on('data', () => assert.fail("a shared-buffer socket emits no 'data'"));
      socket.on('end', () => {
        socket.end(String(reads.reduce((a, b) => a + b, 0)));
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = tls.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', ...trusting(certs) });
    await once(client, 'secureConnect');
    client.end(Buffer.alloc(100_000, 1));
    const [answer] = (await once(client, 'data')) as [Buffer];
    assert.equal(answer.toString(), '100000');
    client.destroy();
    server.close();
  });
});
