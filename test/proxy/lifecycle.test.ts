/**
 * An upstream connection's life in the pool: retired at the upstream's `Keep-Alive: max` and at
 * maxRequestsPerConnection, at maxConnectionLifetimeMs, after a framing oddity (Content-Length with
 * chunked, RFC 9112 §6.3); LIFO reuse; a unix-socket upstream; the queue timeout (503); passive
 * health with maxFails 2; the per-upstream stats counted along the way.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { UpstreamHealthEvent } from '../../src/proxy/events.js';
import { sleep } from '../helpers/server.js';
import { freePort } from '../stress/helpers.js';
import { onRequestHeads, startNodeUpstream, startProxy, startRawUpstream, until } from './helpers.js';

/** GET through the proxy: [status, body]. */
async function get(port: number, target: string): Promise<[number, string]> {
  const response = await fetch(`http://127.0.0.1:${port}${target}`);
  return [response.status, await response.text()];
}

/** An upstream that answers each request with the remote port of the socket it came on. */
const portEcho = (delayMs = 0) => startNodeUpstream((req, res) => setTimeout(() => res.end(String(req.socket.remotePort)), delayMs));

describe('proxy connection lifecycle', () => {
  test("the upstream's Keep-Alive max retires the connection (max-requests); the next request opens a new one", async () => {
    // Apache's meaning: max=N is how many more requests the connection takes after this response.
    const upstream = await startRawUpstream((socket, index) =>
      onRequestHeads(socket, (_head, count) => {
        const body = `c${index} r${count}`;
        socket.write(`HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=2\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      }),
    );
    const t = await startProxy({ upstreams: [upstream.url] });
    try {
      const bodies: string[] = [];
      for (let i = 0; i < 4; i++) bodies.push((await get(t.port, `/${i}`))[1]);
      assert.deepEqual(bodies, ['c0 r1', 'c0 r2', 'c0 r3', 'c1 r1'], 'after max=2 on its first response, the connection takes two more requests');
      await until(() => t.upstreamCloses.length === 1, 'the retired connection closing');
      assert.deepEqual(t.upstreamCloses.map((e) => [e.reason, e.requests]), [['max-requests', 3]]);
      assert.equal(upstream.accepted(), 2);
      const stats = t.proxy.stats()[0];
      assert.deepEqual([stats.opened, stats.reused, stats.failed, stats.retried, stats.idle, stats.active], [2, 2, 0, 0, 1, 0]);
    } finally {
      await t.stop();
      await upstream.stop();
    }
  });

  test('maxRequestsPerConnection 2: the third request opens a new upstream connection, the first closed as max-requests', async () => {
    const upstream = await portEcho();
    const t = await startProxy({ upstreams: [upstream.url], maxRequestsPerConnection: 2 });
    try {
      const ports: string[] = [];
      for (let i = 0; i < 3; i++) ports.push((await get(t.port, `/${i}`))[1]);
      assert.equal(ports[0], ports[1]);
      assert.notEqual(ports[2], ports[0]);
      assert.equal(upstream.accepted(), 2);
      await until(() => t.upstreamCloses.length === 1, 'the retired connection closing');
      assert.deepEqual(t.upstreamCloses.map((e) => [e.reason, e.requests]), [['max-requests', 2]]);
    } finally {
      await t.stop();
      await upstream.stop();
    }
  });

  test('maxConnectionLifetimeMs: a connection older than it is not reused (lifetime)', async () => {
    const upstream = await portEcho();
    const t = await startProxy({ upstreams: [upstream.url], maxConnectionLifetimeMs: 100 });
    try {
      const [, first] = await get(t.port, '/a');
      const [, soon] = await get(t.port, '/b');
      assert.equal(soon, first, 'reused while young');
      await sleep(150);
      const [, late] = await get(t.port, '/c');
      assert.notEqual(late, first, 'a new connection after the lifetime');
      assert.equal(upstream.accepted(), 2);
      await until(() => t.upstreamCloses.length === 1, 'the old connection closing');
      assert.equal(t.upstreamCloses[0].reason, 'lifetime');
      assert.ok(t.upstreamCloses[0].lifetimeMs >= 100);
    } finally {
      await t.stop();
      await upstream.stop();
    }
  });

  test('maxConnectionLifetimeMs: a connection that outlives it during its request closes when the request ends, never pooled', async () => {
    const upstream = await portEcho(150);
    const t = await startProxy({ upstreams: [upstream.url], maxConnectionLifetimeMs: 100 });
    try {
      assert.equal((await get(t.port, '/slow'))[0], 200);
      await until(() => t.upstreamCloses.length === 1, 'the old connection closing', 500);
      assert.deepEqual(t.upstreamCloses.map((e) => [e.reason, e.requests]), [['lifetime', 1]]);
      assert.equal(t.proxy.stats()[0].idle, 0);
    } finally {
      await t.stop();
      await upstream.stop();
    }
  });

  test('queueTimeoutMs: a request that waits longer for the one connection gets 503 (queue-timeout, logged)', async () => {
    const upstream = await startNodeUpstream((req, res) => setTimeout(() => res.end(`done ${req.url}`), 300));
    const t = await startProxy({ upstreams: [upstream.url], maxConnectionsPerUpstream: 1, queueTimeoutMs: 100 });
    try {
      const first = get(t.port, '/first');
      await until(() => upstream.accepted() === 1, 'the first request to take the connection');
      const started = Date.now();
      const second = await get(t.port, '/second');
      assert.equal(second[0], 503);
      assert.ok(Date.now() - started >= 90, `503 after ${Date.now() - started} ms, before the queue timeout`);
      assert.deepEqual(await first, [200, 'done /first']);
      assert.equal(upstream.accepted(), 1);
      assert.deepEqual(t.upstreamErrors.map((e) => [e.phase, e.code, e.status, e.target]), [['queue', 'queue-timeout', 503, '/second']]);
      const line = t.proxyLogs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event === 'upstream-error');
      assert.deepEqual([line?.phase, line?.code, line?.status], ['queue', 'queue-timeout', 503]);
      assert.equal(t.proxy.stats()[0].failed, 1);
    } finally {
      await t.stop();
      await upstream.stop();
    }
  });

  test('a response with both Content-Length and chunked → 502, that connection closed (never pooled); the next request uses a new one', async () => {
    const upstream = await startRawUpstream((socket, index) =>
      onRequestHeads(socket, () => {
        if (index === 0) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
        else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      }),
    );
    const t = await startProxy({ upstreams: [upstream.url] });
    try {
      const [status] = await get(t.port, '/odd');
      assert.equal(status, 502);
      await until(() => t.upstreamCloses.length === 1, 'the connection closing');
      assert.equal(t.upstreamCloses[0].reason, 'error');
      assert.deepEqual(t.upstreamErrors.map((e) => [e.phase, e.code, e.status]), [['headers', 'content-length-and-transfer-encoding', 502]]);
      assert.deepEqual(await get(t.port, '/next'), [200, 'ok']);
      assert.equal(upstream.accepted(), 2, 'the next request on a new connection');
      const stats = t.proxy.stats()[0];
      assert.deepEqual([stats.opened, stats.reused, stats.failed], [2, 0, 1]);
    } finally {
      await t.stop();
      await upstream.stop();
    }
  });

  test('LIFO: of two idle connections, the next request takes the one released last', async () => {
    // /slow answers after 150 ms, /quick at once: started together, quick's connection goes idle first.
    const upstream = await startNodeUpstream((req, res) => setTimeout(() => res.end(String(req.socket.remotePort)), req.url === '/slow' ? 150 : 0));
    const t = await startProxy({ upstreams: [upstream.url] });
    try {
      const [[, slowPort], [, quickPort]] = await Promise.all([get(t.port, '/slow'), get(t.port, '/quick')]);
      assert.notEqual(slowPort, quickPort);
      assert.equal(t.proxy.stats()[0].idle, 2);
      assert.equal((await get(t.port, '/next'))[1], slowPort, 'the most recently released connection');
      assert.equal(upstream.accepted(), 2);
    } finally {
      await t.stop();
      await upstream.stop();
    }
  });

  test('a unix-socket upstream: two sequential requests, one reused connection', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'holdfast-unix-'));
    const socketPath = path.join(dir, 'app.sock');
    let accepted = 0;
    const server = http.createServer((req, res) => res.end(`unix ${req.url}`));
    server.on('connection', () => accepted++);
    server.listen(socketPath);
    await once(server, 'listening');
    const t = await startProxy({ upstreams: [`unix:${socketPath}`] });
    try {
      assert.deepEqual(await get(t.port, '/one'), [200, 'unix /one']);
      assert.deepEqual(await get(t.port, '/two'), [200, 'unix /two']);
      assert.equal(accepted, 1);
      const stats = t.proxy.stats()[0];
      assert.deepEqual([stats.upstream, stats.opened, stats.reused], [`unix:${socketPath}`, 1, 1]);
    } finally {
      await t.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('maxFails 2: one refusal does not mark the upstream down, a second in a row does', async () => {
    const down = await freePort();
    const b = await startNodeUpstream((_req, res) => res.end('b'));
    const t = await startProxy({ upstreams: [`http://127.0.0.1:${down}`, b.url], maxFails: 2, failTimeoutMs: 5_000 });
    const health: UpstreamHealthEvent[] = [];
    t.proxy.events.on('upstream-health', (e) => health.push(e));
    try {
      // Round-robin: requests 1 and 3 try the refusing upstream first, 2 and 4 go to b.
      assert.deepEqual(await get(t.port, '/1'), [200, 'b']);
      assert.equal(t.upstreamErrors.length, 1);
      assert.equal(health.length, 0, 'one refusal does not mark it down');
      assert.deepEqual(await get(t.port, '/2'), [200, 'b']);
      assert.deepEqual(await get(t.port, '/3'), [200, 'b']);
      assert.equal(t.upstreamErrors.length, 2, 'it was tried again after one refusal');
      assert.deepEqual(health.map((e) => [e.upstream, e.healthy]), [[`127.0.0.1:${down}`, false]]);
      for (let i = 4; i < 8; i++) assert.deepEqual(await get(t.port, `/${i}`), [200, 'b']);
      assert.equal(t.upstreamErrors.length, 2, 'down: skipped');
      assert.equal(t.proxy.stats()[0].failed, 0, 'a refusal moved on to b is retried, not failed');
    } finally {
      await t.stop();
      await b.stop();
    }
  });
});
