import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { RawConnection } from '../helpers/raw-client.js';
import { GET, sleep, startServer } from '../helpers/server.js';

describe('graceful close', () => {
  test('idle connections close; an in-flight response finishes with Connection: close', async () => {
    let release: () => void = () => undefined;
    const t = await startServer({ shutdownMinIdleMs: 0 }, async (req) => {
      if (req.path === '/slow') await new Promise<void>((resolve) => (release = resolve));
      return { status: 200, body: 'done' };
    });
    const idle = await RawConnection.connect(t.port);
    const busy = await RawConnection.connect(t.port);
    try {
      idle.write(GET());
      await idle.readResponse();
      busy.write(GET('/slow'));
      await sleep(20);
      const closing = t.server.close({ graceMs: 2000 });
      assert.equal(await idle.waitForClose(), 'fin');
      await assert.rejects(RawConnection.connect(t.port), 'new connections are refused');
      release();
      const res = await busy.readResponse();
      assert.equal(res.body.toString(), 'done');
      assert.equal(res.header('connection'), 'close');
      assert.equal(await busy.waitForClose(), 'fin');
      assert.deepEqual(await closing, { drained: 2, forced: 0, upgraded: 0 });
      assert.deepEqual(t.closes.map((c) => c.reason).sort(), ['shutdown', 'shutdown']);
      assert.equal(t.server.connectionCount, 0);
    } finally {
      idle.destroy();
      busy.destroy();
      await t.stop();
    }
  });

  test('shutdownMinIdleMs: a client that sends right after close() began is answered with Connection: close', async () => {
    const t = await startServer({ shutdownMinIdleMs: 300 });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET());
      await c.readResponse();
      const closing = t.server.close({ graceMs: 2000 });
      await sleep(100);
      assert.equal(c.closedBy, null, 'an idle connection younger than shutdownMinIdleMs is kept');
      c.write(GET('/next'));
      const res = await c.readResponse();
      assert.equal(res.body.toString(), 'hello /next');
      assert.equal(res.header('connection'), 'close');
      assert.equal(await c.waitForClose(), 'fin');
      assert.deepEqual(await closing, { drained: 1, forced: 0, upgraded: 0 });
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('an idle connection older than shutdownMinIdleMs is closed at once', async () => {
    const t = await startServer({ shutdownMinIdleMs: 50 });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET());
      await c.readResponse();
      await sleep(80);
      const started = Date.now();
      await t.server.close({ graceMs: 2000 });
      assert.ok(Date.now() - started < 40, `took ${Date.now() - started} ms`);
      assert.equal(await c.waitForClose(), 'fin');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('connections still busy at the grace deadline are destroyed', async () => {
    const t = await startServer({}, () => new Promise(() => undefined));
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET());
      await sleep(20);
      const started = Date.now();
      const report = await t.server.close({ graceMs: 150 });
      assert.deepEqual(report, { drained: 0, forced: 1, upgraded: 0 });
      assert.ok(Date.now() - started >= 140);
      await c.waitForClose();
      assert.equal(t.closes[0].reason, 'shutdown');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a connection with a partial request at close time is answered, then closed', async () => {
    const t = await startServer({});
    const c = await RawConnection.connect(t.port);
    try {
      c.write('GET /partial HTTP/1.1\r\n');
      await sleep(20);
      const closing = t.server.close({ graceMs: 2000 });
      c.write('Host: a\r\n\r\n');
      const res = await c.readResponse();
      assert.equal(res.body.toString(), 'hello /partial');
      assert.equal(res.header('connection'), 'close');
      await closing;
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('close() with no connections resolves promptly and frees the port', async () => {
    const t = await startServer({});
    await t.server.close();
    await new Promise<void>((resolve, reject) => {
      const probe = net.connect(t.port, '127.0.0.1');
      probe.on('error', () => resolve());
      probe.on('connect', () => {
        probe.destroy();
        reject(new Error('still accepting'));
      });
    });
  });
});
