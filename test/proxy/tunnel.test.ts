/**
 * WebSocket through the proxy: `ws` as the upstream server and as the client; the upstream's 101
 * relayed, 1,000 echoed messages, a clean close; the client connection closes as `upgraded`, the
 * upstream one as `tunnelled`, never pooled. A refused upgrade is relayed as a normal response.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { describe, test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { RawConnection } from '../helpers/raw-client.js';
import { sleep } from '../helpers/server.js';
import { echoThenClose } from '../helpers/ws.js';
import { startProxy, until } from './helpers.js';

async function wsUpstream(): Promise<{ url: string; wss: WebSocketServer; server: http.Server; stop(): Promise<void> }> {
  const server = http.createServer((req, res) => res.writeHead(426, { 'content-type': 'text/plain' }).end('upgrade required'));
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    ws.send(`hello ${req.headers['x-forwarded-for']}`);
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    wss,
    server,
    async stop() {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('proxy tunnels', () => {
  test('WebSocket through the proxy: 1,000 echoed messages, then a clean close', async () => {
    const upstream = await wsUpstream();
    const t = await startProxy({ upstreams: [upstream.url] });
    const client = new WebSocket(`ws://127.0.0.1:${t.port}/chat`);
    try {
      const first = once(client, 'message');
      await once(client, 'open');
      assert.equal(String((await first)[0]), 'hello 127.0.0.1');
      await echoThenClose(client);
      const closes = await t.closed(1);
      assert.equal(closes[0].reason, 'upgraded');
      await until(() => t.upstreamCloses.length === 1, 'the upstream connection closing');
      assert.equal(t.upstreamCloses[0].reason, 'tunnelled');
      assert.deepEqual(t.requests.map((r) => r.status), [101]);
      assert.equal(t.proxy.stats()[0].idle, 0);
    } finally {
      client.terminate();
      await t.stop();
      await upstream.stop();
    }
  });

  test('a tunnel idle both ways for readTimeoutMs closes both sides (upstream-error: phase tunnel, idle-timeout); traffic keeps it open', async () => {
    const upstream = await wsUpstream();
    const t = await startProxy({ upstreams: [upstream.url], readTimeoutMs: 200 });
    const client = new WebSocket(`ws://127.0.0.1:${t.port}/chat`);
    try {
      const first = once(client, 'message');
      await once(client, 'open');
      await first;
      const closing = once(client, 'close');
      const openedAt = Date.now();
      let lastEchoAt = 0;
      for (let i = 0; i < 6; i++) {
        await sleep(50);
        const echoed = once(client, 'message');
        client.send(`tick ${i}`);
        assert.equal(String((await echoed)[0]), `tick ${i}`);
        lastEchoAt = Date.now();
      }
      assert.ok(lastEchoAt - openedAt >= 250);
      assert.equal(client.readyState, WebSocket.OPEN, 'traffic every 50 ms keeps a tunnel with a 200 ms idle limit open');
      await until(() => client.readyState === WebSocket.CLOSED, 'the idle tunnel closing', 1500);
      await closing;
      assert.ok(Date.now() - lastEchoAt >= 150, 'closed once idle, not before');
      const closes = await t.closed(1);
      assert.equal(closes[0].reason, 'upgraded');
      await until(() => t.upstreamCloses.length === 1, 'the upstream connection closing');
      assert.equal(t.upstreamCloses[0].reason, 'tunnelled');
      assert.deepEqual(
        t.upstreamErrors.map((e) => [e.phase, e.code, e.status]),
        [['tunnel', 'idle-timeout', null]],
      );
      const line = t.proxyLogs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event === 'upstream-error');
      assert.deepEqual([line?.phase, line?.code], ['tunnel', 'idle-timeout']);
    } finally {
      client.terminate();
      await t.stop();
      await upstream.stop();
    }
  });

  test('an upgrade the upstream refuses is relayed as its normal response, without Upgrade', async () => {
    const upstream = await wsUpstream();
    const t = await startProxy({ upstreams: [upstream.url] });
    const c = await RawConnection.connect(t.port);
    try {
      c.write('GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: something-else\r\n\r\n');
      const response = await c.readResponse();
      assert.deepEqual([response.status, response.body.toString()], [400, 'Invalid Upgrade header'], 'ws’s own refusal');
      assert.equal(response.header('upgrade'), undefined);
    } finally {
      c.destroy();
      await t.stop();
      await upstream.stop();
    }
  });
});
