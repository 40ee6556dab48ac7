/**
 * The live status's counters (src/server/stats.ts), checked against traffic each test makes: the
 * request, close-reason and histogram counts, the keep-alive health counters, and the per-connection
 * snapshot the dashboard's table shows.
 */

import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { describe, test } from 'node:test';
import { RawConnection } from '../helpers/raw-client.js';
import { GET, sleep, startServer, type TestServer } from '../helpers/server.js';
import { Histogram, METHODS, ServerStats, STATUS_SLOTS } from '../../src/server/stats.js';
import { resolveOptions } from '../../src/server/options.js';

function requestsOf(stats: ServerStats, method: string, status: number): number {
  return stats.requests[METHODS.indexOf(method as (typeof METHODS)[number]) * STATUS_SLOTS + status - 100];
}

function reasons(stats: ServerStats): Record<string, number> {
  return Object.fromEntries([...stats.closeReasons].map(([reason, count]) => [reason, count.total]));
}

async function withStats(options: Parameters<typeof startServer>[0], run: (t: TestServer, stats: ServerStats) => Promise<void>, handler?: Parameters<typeof startServer>[1]): Promise<void> {
  const t = await startServer(options, handler);
  const stats = t.server.enableStats();
  try {
    await run(t, stats);
  } finally {
    await t.stop();
  }
}

describe('Histogram', () => {
  test('a value lands in the first bucket whose bound is ≥ it; above the last bound, in +Inf', () => {
    const h = new Histogram([1, 2, 5]);
    for (const value of [0, 1, 1.5, 2, 4.9, 5, 5.1, 100]) h.observe(value);
    assert.deepEqual([...h.counts], [2, 2, 2, 2]);
    assert.equal(h.count, 8);
    assert.equal(h.sum, 0 + 1 + 1.5 + 2 + 4.9 + 5 + 5.1 + 100);
  });
});

describe('server stats', () => {
  test('off until enabled: no counters, and the server counts nothing', async () => {
    const t = await startServer({});
    try {
      assert.equal(t.server.stats, null);
      const c = await RawConnection.connect(t.port);
      c.write(GET('/'));
      await c.readResponse();
      c.destroy();
      const stats = t.server.enableStats();
      assert.equal(t.server.enableStats(), stats, 'enabling twice keeps the same counters');
      assert.equal(stats.accepted, 0);
      assert.equal(stats.requestDuration.count, 0);
    } finally {
      await t.stop();
    }
  });

  test('N requests over M connections: request counts, duration histogram, requests per connection, close reasons by name', async () => {
    await withStats({ keepAliveTimeoutMs: 5000 }, async (t, stats) => {
      const perConnection = [1, 2, 4];
      for (const count of perConnection) {
        const c = await RawConnection.connect(t.port);
        for (let i = 1; i <= count; i++) {
          c.write(GET(`/${i}`, i === count ? 'Connection: close\r\n' : ''));
          assert.equal((await c.readResponse()).status, 200);
        }
        await c.waitForClose();
        c.destroy();
      }
      const c = await RawConnection.connect(t.port);
      c.write('POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi');
      await c.readResponse();
      c.write('BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n');
      await c.readResponse();
      c.end();
      await t.closed(4);
      c.destroy();

      const n = 1 + 2 + 4;
      assert.equal(stats.accepted, 4);
      assert.equal(stats.closed, 4);
      assert.equal(requestsOf(stats, 'GET', 200), n);
      assert.equal(requestsOf(stats, 'POST', 200), 1);
      assert.equal(requestsOf(stats, '_OTHER', 200), 1, 'an unknown method is counted as _OTHER');
      assert.equal(stats.requestDuration.count, n + 2);
      assert.equal(stats.requestsPerConnection.count, 4);
      assert.equal(stats.requestsPerConnection.sum, n + 2);
      assert.deepEqual(reasons(stats), { 'client-close': 3, 'peer-eof': 1 });
      assert.equal(stats.connectionDuration.count, 4);
      assert.equal(stats.idleGap.count, n + 2 - 4, 'one idle gap per request after the first on its connection');
    });
  });

  test('the idle gap histogram measures the wait between a response and the next request', async () => {
    await withStats({ keepAliveTimeoutMs: 5000 }, async (t, stats) => {
      const c = await RawConnection.connect(t.port);
      c.write(GET('/'));
      await c.readResponse();
      await sleep(150);
      c.write(GET('/'));
      await c.readResponse();
      c.write(GET('/') + GET('/'));
      await c.readResponse();
      await c.readResponse();
      c.destroy();
      await t.closed(1);
      const gaps = stats.idleGap;
      assert.equal(gaps.count, 3);
      assert.ok(gaps.sum >= 0.14 && gaps.sum < 1, `gap sum ${gaps.sum} s`);
      const le100ms = gaps.bounds.indexOf(0.1);
      const le250ms = gaps.bounds.indexOf(0.25);
      assert.equal(gaps.counts[le250ms], 1, 'the 150 ms wait');
      assert.equal(gaps.counts.slice(0, le100ms + 1).reduce((a, b) => a + b, 0), 2, 'the back-to-back and the pipelined request');
    });
  });

  test('the idle gap of a request whose head arrives in pieces ends at its first byte', async () => {
    await withStats({ keepAliveTimeoutMs: 5000 }, async (t, stats) => {
      const c = await RawConnection.connect(t.port);
      c.write(GET('/'));
      await c.readResponse();
      await sleep(150);
      c.write('GET /split HTTP/1.1\r\nHo');
      await sleep(150);
      c.write('st: t\r\n\r\n');
      assert.equal((await c.readResponse()).status, 200);
      c.destroy();
      await t.closed(1);
      assert.equal(stats.idleGap.count, 1);
      assert.ok(stats.idleGap.sum >= 0.14 && stats.idleGap.sum < 0.28, `gap ${stats.idleGap.sum} s: from the response to the first byte, not to the end of the head`);
    });
  });

  test('a request after the advertised timeout but before the enforced one is saved by the idle buffer', async () => {
    await withStats({ keepAliveTimeoutMs: 100, keepAliveTimeoutBufferMs: 600 }, async (t, stats) => {
      const c = await RawConnection.connect(t.port);
      c.write(GET('/'));
      await c.readResponse();
      await sleep(250);
      c.write(GET('/late'));
      assert.equal((await c.readResponse()).status, 200);
      c.write(GET('/soon'));
      await c.readResponse();
      c.destroy();
      await t.closed(1);
      assert.equal(stats.savedByIdleBuffer, 1);
      assert.equal(stats.savedByPendingCheck, 0);
    });
  });

  test('a request whose bytes arrived while the event loop was blocked across the idle deadline is saved by the pending-bytes check', async () => {
    // The client runs in a worker thread, so it can send while this thread is blocked: this thread
    // blocks from before the idle deadline until the worker has written and the deadline has passed.
    await withStats({ keepAliveTimeoutMs: 1000, keepAliveTimeoutBufferMs: 0 }, async (t, stats) => {
      const written = new Int32Array(new SharedArrayBuffer(4));
      const worker = new Worker(
        `const { parentPort, workerData } = require('node:worker_threads');
         const net = require('node:net');
         const socket = net.connect(workerData.port, '127.0.0.1');
         let seen = '';
         socket.on('data', (d) => {
           seen += d.toString('latin1');
           parentPort.postMessage({ responses: seen.split('HTTP/1.1 ').length - 1, closed: false });
         });
         socket.on('close', () => parentPort.postMessage({ closed: true }));
         socket.on('error', () => undefined);
         parentPort.on('message', (m) => {
           if (m === 'first') socket.write('GET /1 HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n');
           if (m === 'second') {
             socket.write('GET /2 HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n');
             Atomics.store(workerData.written, 0, 1);
           }
           if (m === 'end') socket.destroy();
         });`,
        { eval: true, workerData: { port: t.port, written } },
      );
      const messages: Array<{ responses?: number; closed: boolean }> = [];
      worker.on('message', (m: { responses?: number; closed: boolean }) => messages.push(m));
      const waitFor = async (predicate: (m: { responses?: number; closed: boolean }) => boolean): Promise<void> => {
        const until = Date.now() + 5000;
        while (!messages.some(predicate)) {
          if (Date.now() > until) throw new Error(`worker said ${JSON.stringify(messages)}`);
          await sleep(5);
        }
      };
      try {
        await new Promise((resolve) => worker.once('online', resolve));
        worker.postMessage('first');
        await waitFor((m) => m.responses === 1);
        const deadlineInMs = t.server.connections()[0].idleDeadline?.enforcedInMs ?? 0;
        assert.ok(deadlineInMs > 50, `the idle deadline is still ahead (${deadlineInMs} ms)`);
        worker.postMessage('second');
        const until = performance.now() + deadlineInMs + 50;
        const giveUp = performance.now() + 5000;
        while ((performance.now() < until || Atomics.load(written, 0) === 0) && performance.now() < giveUp);
        assert.equal(Atomics.load(written, 0), 1, 'the worker wrote while this thread was blocked');
        await waitFor((m) => m.responses === 2 || m.closed);
        assert.ok(messages.some((m) => m.responses === 2), `the late request was answered: ${JSON.stringify(messages)}`);
        assert.equal(stats.savedByPendingCheck, 1);
        assert.equal(stats.savedByIdleBuffer, 0, 'read after the enforced deadline: not the buffer');
        worker.postMessage('end');
        await t.closed(1);
      } finally {
        await worker.terminate();
      }
    });
  });

  test('a client reconnecting within 2 s of an idle close is counted; one that waits longer is not', async () => {
    await withStats({ keepAliveTimeoutMs: 50, keepAliveTimeoutBufferMs: 0 }, async (t, stats) => {
      const c = await RawConnection.connect(t.port);
      c.write(GET('/'));
      await c.readResponse();
      await c.waitForClose();
      c.destroy();
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'idle-timeout');
      const again = await RawConnection.connect(t.port);
      again.write(GET('/'));
      await again.readResponse();
      again.destroy();
      await t.closed(2);
      assert.equal(stats.reconnectsAfterIdleClose, 1);
      const third = await RawConnection.connect(t.port);
      third.destroy();
      await t.closed(3);
      assert.equal(stats.reconnectsAfterIdleClose, 1, 'counted once per idle close');
    });
  });

  test('a client that sends past its last allowed request: refused at max, a lingering close, the bytes it drained', async () => {
    await withStats({ maxRequestsPerConnection: 2, lingerMs: 300 }, async (t, stats) => {
      const c = await RawConnection.connect(t.port);
      c.write(GET('/1'));
      await c.readResponse();
      c.write(GET('/2'));
      const last = await c.readResponse();
      assert.equal(last.header('connection'), 'close');
      const extra = GET('/3');
      c.write(extra);
      await c.waitForClose(2000);
      c.destroy();
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'max-requests');
      assert.equal(stats.refusedAtMax, 1);
      assert.equal(stats.lingeringCloses, 1);
      assert.equal(stats.closingBytesDiscarded, Buffer.byteLength(extra));
      assert.equal(stats.resetsSent, 0);
    });
  });

  test('a client that stops at max is not refused; pipelining past max is', async () => {
    await withStats({ maxRequestsPerConnection: 1, lingerMs: 100 }, async (t, stats) => {
      const polite = await RawConnection.connect(t.port);
      polite.write(GET('/'));
      await polite.readResponse();
      await polite.waitForClose();
      polite.destroy();
      const eager = await RawConnection.connect(t.port);
      eager.write(GET('/a') + GET('/b'));
      await eager.readResponse();
      await eager.waitForClose();
      eager.destroy();
      await t.closed(2);
      assert.equal(stats.refusedAtMax, 1);
    });
  });

  test('a response cut short resets the connection: counted as an RST sent', async () => {
    const handler = (): { status: number; body: AsyncIterable<Uint8Array> } => ({
      status: 200,
      body: (async function* () {
        yield Buffer.from('partial');
        await sleep(10);
        throw new Error('the producer failed');
      })(),
    });
    await withStats(
      {},
      async (t, stats) => {
        const c = await RawConnection.connect(t.port);
        c.write(GET('/'));
        assert.equal(await c.waitForClose(), 'rst');
        c.destroy();
        await t.closed(1);
        assert.equal(t.closes[0].reason, 'handler-error');
        assert.equal(stats.resetsSent, 1);
      },
      handler,
    );
  });
});

describe('request events follow their listeners', () => {
  test('added, removed, once, and after removeAllListeners', async () => {
    const t = await startServer({ log: 'off' });
    const c = await RawConnection.connect(t.port);
    const seen: string[] = [];
    const ask = async (path: string): Promise<void> => {
      c.write(GET(path));
      await c.readResponse();
    };
    try {
      t.server.removeAllListeners('request'); // the helper's own
      await ask('/none');
      const listener = (e: { target: string }): void => void seen.push(e.target);
      t.server.on('request', listener);
      await ask('/on');
      t.server.off('request', listener);
      await ask('/off');
      t.server.once('request', listener);
      await ask('/once');
      await ask('/after-once');
      t.server.removeAllListeners();
      t.server.on('request', listener);
      await ask('/after-remove-all');
      assert.deepEqual(seen, ['/on', '/once', '/after-remove-all']);
    } finally {
      c.destroy();
      await t.server.close({ graceMs: 500 });
      assert.equal(t.server.connectionCount, 0);
    }
  });

  test('every method is counted under its own name', () => {
    const stats = new ServerStats(resolveOptions());
    for (const method of METHODS) stats.requestDone(method, 204, 1, -1);
    stats.requestDone('BREW', 204, 1, -1);
    for (const method of METHODS) assert.equal(requestsOf(stats, method, 204), method === '_OTHER' ? 2 : 1, method);
  });
});

describe('connection snapshots (info)', () => {
  test('an idle connection: requests served, requests left, advertised and enforced deadlines', async () => {
    await withStats({ keepAliveTimeoutMs: 3000, keepAliveTimeoutBufferMs: 1000, maxRequestsPerConnection: 10 }, async (t) => {
      const c = await RawConnection.connect(t.port);
      try {
        await sleep(20);
        let [info] = t.server.connections();
        assert.equal(info.activity, 'new');
        assert.equal(info.idleDeadline?.advertisedInMs, null, 'nothing advertised before a response');
        for (let i = 0; i < 3; i++) {
          c.write(GET('/'));
          await c.readResponse();
        }
        await sleep(50);
        [info] = t.server.connections();
        assert.equal(info.activity, 'idle');
        assert.equal(info.requestsServed, 3);
        assert.equal(info.requestsLeft, 7);
        assert.ok(info.activityMs !== null && info.activityMs >= 40 && info.activityMs < 1000, `idle for ${info.activityMs} ms`);
        const deadline = info.idleDeadline;
        assert.ok(deadline !== null && deadline.advertisedInMs !== null);
        assert.ok(deadline.advertisedInMs > 2000 && deadline.advertisedInMs <= 2960, `advertised in ${deadline.advertisedInMs}`);
        assert.ok(deadline.enforcedInMs - deadline.advertisedInMs >= 999 && deadline.enforcedInMs - deadline.advertisedInMs <= 1002, JSON.stringify(deadline));
        assert.equal(info.request, null);
        assert.ok(info.bytesIn > 0 && info.bytesOut > 0);
        assert.equal(info.writeBacklogBytes, 0);
        assert.ok(info.ageMs >= info.activityMs);
      } finally {
        c.destroy();
      }
    });
  });

  test('while the handler works: handling, the request and its elapsed time; reading while a head is incomplete', async () => {
    let release: () => void = () => undefined;
    const handler = async (req: { path: string }): Promise<{ status: number; body: string }> => {
      if (req.path === '/slow') await new Promise<void>((resolve) => (release = resolve));
      return { status: 200, body: 'ok' };
    };
    await withStats(
      { maxRequestsPerConnection: 0 },
      async (t) => {
        const slow = await RawConnection.connect(t.port);
        const partial = await RawConnection.connect(t.port);
        try {
          slow.write(GET('/slow'));
          partial.write('GET /partial HTTP/1.1\r\nHo');
          await sleep(60);
          const byId = new Map(t.server.connections().map((info) => [info.id, info]));
          const handling = byId.get(1);
          const reading = byId.get(2);
          assert.equal(handling?.activity, 'handling');
          assert.deepEqual({ ...handling?.request, elapsedMs: undefined }, { index: 1, method: 'GET', target: '/slow', elapsedMs: undefined });
          assert.ok((handling?.request?.elapsedMs ?? 0) >= 50, `elapsed ${handling?.request?.elapsedMs}`);
          assert.equal(handling?.requestsLeft, null, 'unlimited');
          assert.equal(handling?.idleDeadline, null);
          assert.equal(reading?.activity, 'reading');
          assert.ok((reading?.activityMs ?? 0) >= 50, `reading for ${reading?.activityMs}`);
          release();
          assert.equal((await slow.readResponse()).status, 200);
        } finally {
          slow.destroy();
          partial.destroy();
        }
      },
      handler,
    );
  });
});
