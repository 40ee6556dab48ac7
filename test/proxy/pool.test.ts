/**
 * The pool's idle cap and its grace, and what an idle pool does to the process: connections beyond
 * maxIdlePerUpstream close once idle for idleCapGraceMs (at once with 0, as nginx); a process whose
 * only handles left are idle pooled connections exits; an upstream's Keep-Alive hint, in either
 * separator its servers write, bounds a connection's requests and idle time.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { onRequestHeads, startNodeUpstream, startProxy, startRawUpstream, until } from './helpers.js';

const INDEX = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/index.js');

/** Three requests at once: three upstream connections, then three idle ones. */
async function threeAtOnce(port: number): Promise<void> {
  const bodies = await Promise.all(['/a', '/b', '/c'].map(async (p) => (await fetch(`http://127.0.0.1:${port}${p}`)).text()));
  assert.deepEqual(bodies, ['slow /a', 'slow /b', 'slow /c']);
}

describe('proxy pool', () => {
  test('idle connections beyond maxIdlePerUpstream close once idle for idleCapGraceMs, least recently used first (idle-cap)', async () => {
    const upstream = await startNodeUpstream((req, res) => setTimeout(() => res.end(`slow ${req.url}`), 50));
    const t = await startProxy({ upstreams: [upstream.url], maxIdlePerUpstream: 1, idleCapGraceMs: 400 });
    try {
      await threeAtOnce(t.port);
      const idleAt = Date.now();
      assert.equal(upstream.accepted(), 3);
      assert.equal(t.proxy.stats()[0].idle, 3, 'within the grace the surplus waits to be used again');
      await until(() => t.upstreamCloses.length === 2, 'the surplus closing');
      assert.ok(Date.now() - idleAt >= 350, `closed after ${Date.now() - idleAt} ms, before the grace ended`);
      assert.deepEqual(t.upstreamCloses.map((e) => e.reason), ['idle-cap', 'idle-cap']);
      assert.equal(t.proxy.stats()[0].idle, 1);
      assert.equal(await (await fetch(`http://127.0.0.1:${t.port}/d`)).text(), 'slow /d');
      assert.equal(upstream.accepted(), 3, 'the one kept is reused');
    } finally {
      await t.stop();
      await upstream.stop();
    }
  });

  test('idleCapGraceMs 0: the surplus closes at the end of the event-loop turn, as nginx closes it', async () => {
    const upstream = await startNodeUpstream((req, res) => setTimeout(() => res.end(`slow ${req.url}`), 50));
    const t = await startProxy({ upstreams: [upstream.url], maxIdlePerUpstream: 1, idleCapGraceMs: 0 });
    try {
      await threeAtOnce(t.port);
      await until(() => t.upstreamCloses.length === 2, 'the surplus closing', 300);
      assert.deepEqual(t.upstreamCloses.map((e) => e.reason), ['idle-cap', 'idle-cap']);
      assert.equal(t.proxy.stats()[0].idle, 1);
    } finally {
      await t.stop();
      await upstream.stop();
    }
  });

  test('Keep-Alive parameters separated by semicolons (as some servers write them) are heeded as the comma form is: max= and timeout=', async () => {
    const upstream = await startRawUpstream((socket) =>
      onRequestHeads(socket, (head) => {
        const hint = head.startsWith('GET /max ') ? 'max=0; timeout=5' : 'timeout=1;max=100';
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: ${hint}\r\n\r\nok`);
      }),
    );
    const t = await startProxy({ upstreams: [upstream.url], idleTimeoutMs: 30_000 });
    try {
      assert.equal(await (await fetch(`http://127.0.0.1:${t.port}/max`)).text(), 'ok');
      await until(() => t.upstreamCloses.length === 1, 'the connection closing after the last request its max allowed', 500);
      assert.equal(t.upstreamCloses[0].reason, 'max-requests');
      assert.equal(await (await fetch(`http://127.0.0.1:${t.port}/timeout`)).text(), 'ok');
      await until(() => t.upstreamCloses.length === 2, 'the idle connection closing after the upstream’s 1 s (less the margin), not idleTimeoutMs', 3_000);
      assert.equal(t.upstreamCloses[1].reason, 'idle-timeout');
    } finally {
      await t.stop();
      await upstream.stop();
    }
  });

  test('an idle pool does not keep the process alive: a server closed without its proxy still lets node exit', async () => {
    const upstream = await startNodeUpstream((_req, res) => res.end('ok'));
    const script = `
      import http from 'node:http';
      import { createServer, proxy } from ${JSON.stringify(INDEX)};
      const server = createServer({ log: 'off' }, proxy({ upstreams: [${JSON.stringify(upstream.url)}], log: 'off' }));
      const { port } = await server.listen(0, '127.0.0.1');
      const body = await new Promise((resolve, reject) => http.get({ port, host: '127.0.0.1', agent: false }, (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve(text));
      }).on('error', reject));
      await server.close();
      process.stdout.write(body);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    try {
      const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
      assert.equal(signal, null, 'killed after 3 s: the pooled connection kept the process alive');
      assert.equal(code, 0);
      assert.equal(output, 'ok');
      assert.equal(upstream.accepted(), 1);
    } finally {
      clearTimeout(timer);
      await upstream.stop();
    }
  });
});
