import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RawConnection } from '../helpers/raw-client.js';
import { GET, sleep, startServer } from '../helpers/server.js';

describe('pipelining', () => {
  test('binary bodies of every size class keep every byte, alone and pipelined (head and body in one write)', async () => {
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const bodies: Record<string, Buffer> = {
      '/small': every,
      '/edge': Buffer.concat(Array.from({ length: 64 }, () => every)), // 16 KiB: the one-write limit
      '/large': Buffer.concat(Array.from({ length: 80 }, () => every)), // 20 KiB: head and body by writev
    };
    const headers = Object.freeze({ 'content-type': 'application/octet-stream' }); // frozen: serialized once
    const t = await startServer({}, (req) => ({ status: 200, headers, body: bodies[req.path] }));
    const c = await RawConnection.connect(t.port);
    try {
      const paths = ['/small', '/edge', '/large', '/small', '/large', '/edge', '/small'];
      for (const p of paths.slice(0, 3)) {
        c.write(GET(p));
        assert.deepEqual((await c.readResponse()).body, bodies[p]);
      }
      c.write(paths.map((p) => GET(p)).join(''));
      for (const p of paths) {
        const res = await c.readResponse();
        assert.equal(res.header('content-type'), 'application/octet-stream');
        assert.deepEqual(res.body, bodies[p], p);
      }
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('pipelined requests are answered in request order, one handler at a time', async () => {
    let running = 0;
    let maxRunning = 0;
    const t = await startServer({}, async (req) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await sleep(Number(req.path.slice(1)));
      running--;
      return { status: 200, body: req.path };
    });
    const c = await RawConnection.connect(t.port);
    try {
      const delays = [30, 1, 20, 0, 10];
      c.write(delays.map((d) => GET(`/${d}`)).join(''));
      const bodies: string[] = [];
      for (let i = 0; i < delays.length; i++) bodies.push((await c.readResponse()).body.toString());
      assert.deepEqual(bodies, delays.map((d) => `/${d}`));
      assert.equal(maxRunning, 1);
      assert.deepEqual(t.requests.map((r) => r.requestIndex), [1, 2, 3, 4, 5]);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('many pipelined requests in one write with a synchronous handler', async () => {
    const t = await startServer({ maxRequestsPerConnection: 0 });
    const c = await RawConnection.connect(t.port);
    try {
      const n = 2000;
      let batch = '';
      for (let i = 0; i < n; i++) batch += GET(`/${i}`);
      c.write(batch);
      for (let i = 0; i < n; i++) assert.equal((await c.readResponse()).body.toString(), `hello /${i}`);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('requests pipelined past max requests are not answered; the last answered one says close', async () => {
    const t = await startServer({ maxRequestsPerConnection: 2 });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET('/1') + GET('/2') + GET('/3'));
      assert.equal((await c.readResponse()).header('connection'), 'keep-alive');
      assert.equal((await c.readResponse()).header('connection'), 'close');
      assert.equal(await c.waitForClose(), 'fin');
      assert.equal(c.unreadBytes, 0);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a client that pipelines and never reads is stopped by backpressure, then dropped at the send timeout', async () => {
    const t = await startServer({ maxRequestsPerConnection: 0, sendTimeoutMs: 300 }, () => ({ status: 200, body: Buffer.alloc(16 * 1024, 97) }));
    const c = await RawConnection.connect(t.port);
    try {
      c.socket.pause();
      const chunk = GET().repeat(500);
      for (let i = 0; i < 40; i++) c.socket.write(chunk);
      await t.closed(1, 4000);
      assert.equal(t.closes[0].reason, 'send-timeout');
      assert.ok(t.requests.length < 20_000, `served ${t.requests.length} while the client read nothing`);
    } finally {
      c.destroy();
      await t.stop();
    }
  });
});
