/**
 * Attacks against a holdfast server running in a child process (so its memory is measured alone).
 * In every test a normal client keeps requesting meanwhile and all of its requests must succeed,
 * the server's memory must stay bounded, and every connection must be gone at the end.
 *
 * Figures (RSS growth, counts, timings) are printed as test diagnostics.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, test, type TestContext } from 'node:test';
import { RawConnection } from '../helpers/raw-client.js';
import {
  connectMany,
  MemorySampler,
  MiB,
  mib,
  sendAndCollect,
  sleep,
  splitResponses,
  startChild,
  startNormalClient,
  stopAllNormalClients,
  waitForStats,
  type ChildServer,
  type NormalClientReport,
} from './attack-helpers.js';

function assertNormalClient(report: NormalClientReport, minOk: number): void {
  assert.deepEqual(report.failures, [], 'every request of the normal client succeeds');
  assert.ok(report.ok >= minOk, `the normal client made progress: ${report.ok} requests (want ≥ ${minOk})`);
  assert.ok(report.fresh >= 1, 'the normal client was served on new connections too');
}

/** Stops the child gracefully and checks it had no internal error and no live connection left. */
async function stopChild(child: ChildServer): Promise<void> {
  const final = await child.stop();
  assert.ok(final !== null, `the server child answered its close request; stderr: ${child.stderr()}`);
  assert.equal(final.connectionCount, 0, 'no live connection after close');
  assert.equal(final.internalErrors, 0, 'no internal error');
}

describe('attacks', { concurrency: 1 }, () => {
  // A failed assertion skips a test's own stop(): without this the file would never exit.
  afterEach(stopAllNormalClients);

  test('slowloris: 1,000 connections trickling header bytes get 408 at headersTimeoutMs and are closed; a normal client is served meanwhile', async (t: TestContext) => {
    const HEADERS_TIMEOUT_MS = 1000;
    const CONNECTIONS = 1000;
    const child = await startChild({ handler: 'hello', options: { headersTimeoutMs: HEADERS_TIMEOUT_MS, lingerMs: 500 } });
    const conns: RawConnection[] = [];
    let trickle: NodeJS.Timeout | undefined;
    try {
      const normal = startNormalClient(child.port);
      await sleep(300);
      const before = await child.stats();
      const sampler = new MemorySampler(child, 100);

      conns.push(...(await connectMany(child.port, CONNECTIONS)));
      const head = Buffer.from(`GET /slow HTTP/1.1\r\nHost: slow\r\nX-Slow: ${'a'.repeat(100)}`, 'latin1');
      const state = conns.map(() => ({ sent: 0, firstAt: 0, answered: false }));
      // Every 25 ms, one eighth of the connections sends one more byte: a byte per connection per 200 ms.
      let round = 0;
      trickle = setInterval(() => {
        const slice = round++ % 8;
        for (let i = slice; i < conns.length; i += 8) {
          const s = state[i];
          if (s.answered || !conns[i].socket.writable) continue;
          if (s.sent === 0) s.firstAt = Date.now();
          conns[i].write(head.subarray(s.sent % head.length, (s.sent % head.length) + 1));
          s.sent++;
        }
      }, 25);

      const outcomes = await Promise.all(
        conns.map(async (c, i) => {
          const res = await c.readResponse({ timeoutMs: 8000 });
          const elapsed = Date.now() - state[i].firstAt;
          state[i].answered = true;
          const how = await c.waitForClose(3000);
          return { status: res.status, connection: res.header('connection'), elapsed, how, bytesSent: state[i].sent };
        }),
      );
      clearInterval(trickle);
      await sampler.stop();
      const report = await normal.stop();

      const elapsed = outcomes.map((o) => o.elapsed).sort((a, b) => a - b);
      t.diagnostic(`408 after ${elapsed[0]}–${elapsed[elapsed.length - 1]} ms (median ${elapsed[elapsed.length >> 1]}) of trickling; bytes sent per connection ≤ ${Math.max(...outcomes.map((o) => o.bytesSent))}`);
      t.diagnostic(`server RSS ${mib(before.rss)} → max ${mib(sampler.maxRss)} (growth ${mib(sampler.maxRss - before.rss)}); normal client ${report.ok} ok (${report.fresh} on new connections)`);

      for (const o of outcomes) {
        assert.equal(o.status, 408);
        assert.equal(o.connection, 'close');
        assert.equal(o.how, 'fin', 'closed cleanly after the 408');
        // The deadline runs from the first byte and trickling never pushes it back.
        assert.ok(o.elapsed >= HEADERS_TIMEOUT_MS - 20, `408 came before the headers timeout: ${o.elapsed} ms`);
        assert.ok(o.elapsed <= HEADERS_TIMEOUT_MS + 2500, `408 came late: ${o.elapsed} ms`);
      }
      const after = await waitForStats(child, (s) => (s.closeReasons['headers-timeout'] ?? 0) >= CONNECTIONS && s.connectionCount === 0, 5000, 'all slowloris connections closed');
      assert.equal(after.closeReasons['headers-timeout'], CONNECTIONS);
      assert.ok(sampler.maxRss - before.rss < 64 * MiB, `RSS grew by ${mib(sampler.maxRss - before.rss)}`);
      assertNormalClient(report, 20);
    } finally {
      clearInterval(trickle);
      for (const c of conns) c.destroy();
      await stopChild(child);
    }
  });
  test('slow body: 200 request bodies trickled below minBodyBytesPerSecond get 408 (slow-body); bodies at a healthy rate are accepted', async (t: TestContext) => {
    const MIN_RATE = 1000;
    const SLOW = 200;
    const child = await startChild({ handler: 'echo', options: { minBodyBytesPerSecond: MIN_RATE, lingerMs: 500 } });
    const conns: RawConnection[] = [];
    let trickle: NodeJS.Timeout | undefined;
    try {
      const normal = startNormalClient(child.port, { expectBody: () => '0' });
      await sleep(300);
      const before = await child.stats();
      const sampler = new MemorySampler(child, 100);
      conns.push(...(await connectMany(child.port, SLOW)));
      const healthy = await connectMany(child.port, 5);
      conns.push(...healthy);
      const startedAt = Date.now();
      for (const c of conns.slice(0, SLOW)) c.write('POST /upload HTTP/1.1\r\nHost: slow\r\nContent-Length: 100000\r\n\r\n');
      for (const c of healthy) c.write('POST /upload HTTP/1.1\r\nHost: ok\r\nContent-Length: 60000\r\n\r\n');
      // Slow ones: 10 bytes per 100 ms (100 B/s, a tenth of the minimum). Healthy ones: 3,000 bytes per 100 ms.
      let ticks = 0;
      trickle = setInterval(() => {
        ticks++;
        for (const c of conns.slice(0, SLOW)) if (c.socket.writable && c.unreadBytes === 0) c.write(Buffer.alloc(10, 0x73));
        if (ticks <= 20) for (const c of healthy) c.write(Buffer.alloc(3000, 0x68));
      }, 100);

      const slow = await Promise.all(
        conns.slice(0, SLOW).map(async (c) => {
          const res = await c.readResponse({ timeoutMs: 8000 });
          const ms = Date.now() - startedAt;
          return { status: res.status, connection: res.header('connection'), ms, how: await c.waitForClose(3000) };
        }),
      );
      const ok = await Promise.all(healthy.map((c) => c.readResponse({ timeoutMs: 8000 })));
      clearInterval(trickle);
      await sampler.stop();
      const report = await normal.stop();
      const times = slow.map((o) => o.ms).sort((a, b) => a - b);
      t.diagnostic(`slow bodies answered 408 after ${times[0]}–${times[times.length - 1]} ms; server RSS growth ${mib(sampler.maxRss - before.rss)}; normal client ${report.ok} ok`);

      for (const o of slow) {
        assert.equal(o.status, 408);
        assert.equal(o.connection, 'close');
        assert.equal(o.how, 'fin');
        assert.ok(o.ms >= 900 && o.ms <= 4000, `408 after ${o.ms} ms`);
      }
      for (const res of ok) {
        assert.equal(res.status, 200);
        assert.equal(res.body.toString(), '60000');
      }
      const after = await waitForStats(child, (s) => (s.closeReasons['slow-body'] ?? 0) >= SLOW, 5000, 'slow-body closes');
      assert.equal(after.closeReasons['slow-body'], SLOW);
      assert.ok(sampler.maxRss - before.rss < 32 * MiB, `RSS grew by ${mib(sampler.maxRss - before.rss)}`);
      assertNormalClient(report, 20);
    } finally {
      clearInterval(trickle);
      for (const c of conns) c.destroy();
      await stopChild(child);
    }
  });

  test('slow reader: a 256 MiB stream read at 1 MiB/s keeps the server RSS growth under 32 MiB while it produces', async (t: TestContext) => {
    const child = await startChild({ handler: 'stream', streamBytes: 256 * MiB, options: { sendTimeoutMs: 10_000, lingerMs: 500 } });
    let reader: net.Socket | undefined;
    try {
      const normal = startNormalClient(child.port);
      await sleep(300);
      const before = await child.stats();
      const sampler = new MemorySampler(child, 250);
      const RATE = MiB; // bytes per second
      const READ_MS = 5000;
      let received = 0;
      let headSeen = '';
      const startedAt = Date.now();
      reader = net.connect({ port: child.port, host: '127.0.0.1' });
      const socket = reader;
      socket.on('error', () => undefined);
      socket.write('GET /big HTTP/1.1\r\nHost: reader\r\n\r\n');
      socket.on('data', (chunk: Buffer) => {
        if (headSeen.length < 64) headSeen += chunk.toString('latin1', 0, 64);
        received += chunk.length;
        const allowed = ((Date.now() - startedAt) / 1000) * RATE;
        if (received > allowed) {
          socket.pause();
          setTimeout(() => socket.resume(), ((received - allowed) / RATE) * 1000).unref();
        }
      });
      await sleep(READ_MS);
      const samples = await sampler.stop();
      const report = await normal.stop();
      const producing = samples.filter((s) => s.streamsStarted === 1);
      const first = producing[0];
      const last = producing[producing.length - 1];
      const maxRss = sampler.maxRss;
      t.diagnostic(`read ${mib(received)} in ${READ_MS} ms; server produced ${mib(last.streamBytesProduced)} (${mib(last.streamBytesProduced - received)} ahead of the reader, in socket buffers)`);
      t.diagnostic(`server RSS ${mib(before.rss)} → max ${mib(maxRss)} (growth ${mib(maxRss - before.rss)}); normal client ${report.ok} ok`);

      assert.match(headSeen, /^HTTP\/1\.1 200 /);
      assert.ok(received >= 3 * MiB && received <= 7 * MiB, `read at about 1 MiB/s: ${mib(received)}`);
      assert.ok(last.streamBytesProduced - first.streamBytesProduced >= 2 * MiB, 'the server kept producing while it was measured');
      assert.ok(last.streamBytesProduced < 256 * MiB, 'the stream was not produced ahead of the reader');
      assert.ok(last.streamBytesProduced - received < 24 * MiB, `the server produced ${mib(last.streamBytesProduced - received)} ahead of the reader`);
      assert.ok(maxRss - before.rss < 32 * MiB, `RSS grew by ${mib(maxRss - before.rss)}`);
      assertNormalClient(report, 20);

      socket.destroy();
      const after = await waitForStats(child, (s) => s.connectionCount === 0, 5000, 'the reader connection closed');
      t.diagnostic(`reader connection closed: ${JSON.stringify(after.closeReasons)}`);
    } finally {
      reader?.destroy();
      await stopChild(child);
    }
  });

  test('pipelining flood: 100,000 pipelined requests and no reading → the server stops reading, memory stays bounded, send-timeout closes it', async (t: TestContext) => {
    const REQUESTS = 100_000;
    const SEND_TIMEOUT_MS = 1500;
    const child = await startChild({ handler: 'hello', options: { sendTimeoutMs: SEND_TIMEOUT_MS, lingerMs: 500, maxRequestsPerConnection: 0 } });
    let flood: net.Socket | undefined;
    try {
      const normal = startNormalClient(child.port);
      await sleep(300);
      const before = await child.stats();
      const sampler = new MemorySampler(child, 100);
      const one = `GET /flood HTTP/1.1\r\nHost: flood\r\nX-Pad: ${'p'.repeat(64)}\r\n\r\n`;
      const payload = Buffer.from(one.repeat(REQUESTS), 'latin1');
      flood = net.connect({ port: child.port, host: '127.0.0.1' });
      const socket = flood;
      let clientClosed = false;
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clientClosed = true;
      });
      socket.pause(); // never read a single response
      socket.write(payload);
      const startedAt = Date.now();

      const after = await waitForStats(child, (s) => s.heavyCloses.length > 0 || (s.closeReasons['send-timeout'] ?? 0) > 0, 20_000, 'the flooding connection to be closed');
      const closedAfterMs = Date.now() - startedAt;
      const samples = await sampler.stop();
      const report = await normal.stop();
      for (let i = 0; i < 50 && !clientClosed; i++) await sleep(100);

      // Progress of the flooding connection, as sampled while it lived.
      const progress = samples.map((s) => Object.values(s.heavyConnections)[0]).filter((n): n is number => n !== undefined);
      const served = after.heavyCloses[0]?.requestsServed ?? Math.max(0, ...progress);
      let stalledSamples = 0;
      for (let i = 1; i < progress.length; i++) if (progress[i] === progress[i - 1]) stalledSamples++;
      const maxRss = sampler.maxRss;
      t.diagnostic(`payload ${mib(payload.length)}; served ${served} of ${REQUESTS} before the stall; closed after ${closedAfterMs} ms (${JSON.stringify(after.heavyCloses[0] ?? after.closeReasons)})`);
      t.diagnostic(`server RSS ${mib(before.rss)} → max ${mib(maxRss)} (growth ${mib(maxRss - before.rss)}); ${stalledSamples} samples with no progress; normal client ${report.ok} ok`);

      assert.equal(after.closeReasons['send-timeout'], 1, 'closed by the send timeout');
      assert.ok(served < REQUESTS / 2, `the server stopped processing: ${served} requests served`);
      if (after.heavyCloses[0] !== undefined) assert.ok(after.heavyCloses[0].bytesIn < payload.length / 2, `the server stopped reading: ${mib(after.heavyCloses[0].bytesIn)} read`);
      assert.ok(stalledSamples >= 3, 'the request count stopped growing for at least 500 ms before the close (backpressure)');
      assert.ok(clientClosed, 'the client saw its connection closed');
      assert.ok(maxRss - before.rss < 64 * MiB, `RSS grew by ${mib(maxRss - before.rss)}`);
      assertNormalClient(report, 20);
    } finally {
      flood?.destroy();
      await stopChild(child);
    }
  });
  test('file-descriptor exhaustion: under `ulimit -n 64` the server survives excess connections, keeps serving its open ones, and accepts again once descriptors are free', async (t: TestContext) => {
    const child = await startChild({ handler: 'hello', logEvents: ['accept-error'], options: { headersTimeoutMs: 20_000, lingerMs: 200, maxRequestsPerConnection: 0 } }, { fdLimit: 64 });
    const attackers: net.Socket[] = [];
    let kept: RawConnection | undefined;
    try {
      // A client whose connection exists before the descriptors run out: it must be served throughout.
      const normal = startNormalClient(child.port, { freshEvery: 0 });
      await sleep(200);
      const before = await child.stats();
      const ATTACKERS = 120;
      const outcomes: Array<'open' | 'fin' | 'rst'> = [];
      for (let i = 0; i < ATTACKERS; i++) {
        const socket = net.connect({ port: child.port, host: '127.0.0.1' });
        const index = i;
        outcomes[index] = 'open';
        socket.on('error', () => {
          outcomes[index] = 'rst';
        });
        socket.on('end', () => {
          if (outcomes[index] === 'open') outcomes[index] = 'fin';
        });
        socket.on('connect', () => socket.write('GET /held HTTP/1.1\r\nHost: held\r\n'));
        attackers.push(socket);
        if (i % 10 === 9) await sleep(20);
      }
      const exhausted = await waitForStats(child, (s) => s.opened - before.opened + outcomes.filter((o) => o !== 'open').length >= ATTACKERS, 10_000, 'every attacking connection accepted or dropped');
      await sleep(300);
      const during = await child.stats();
      const accepted = during.opened - before.opened;
      const dropped = outcomes.filter((o) => o !== 'open').length;
      const emfileLogged = child.logLines.filter((l) => l.includes('"event":"accept-error"') && /EMFILE|ENFILE/.test(l)).length;
      t.diagnostic(`fd limit 64: ${accepted} attacking connections accepted, ${dropped} dropped at once (${outcomes.filter((o) => o === 'rst').length} RST, ${outcomes.filter((o) => o === 'fin').length} FIN); accept-error EMFILE lines: ${emfileLogged}; live ${during.connectionCount}`);
      assert.ok(exhausted.opened > before.opened, 'some connections were accepted');
      assert.ok(accepted < ATTACKERS, 'the descriptor limit was really reached');
      // On EMFILE node (libuv) uses its reserved descriptor to accept and close the pending
      // connections at once, and only reports EMFILE when that trick is unavailable: either way the
      // excess connections must not hang, and the process must survive.
      // (An accepted connection can also be closed later to make room, so the two may overlap.)
      assert.ok(accepted + dropped >= ATTACKERS, 'every excess connection was accepted or closed at once, none left hanging');
      // libuv drops connections on EMFILE without telling node; holdfast's default maxConnections
      // (the open-file limit less a reserve) refuses them first, and that refusal is logged.
      const refusalsLogged = child.logLines.filter((l) => l.includes('"event":"accept-error"') && /connection-limit|EMFILE|ENFILE/.test(l)).length;
      assert.ok(refusalsLogged > 0, 'the condition is logged');
      assert.ok(child.alive(), 'the server process survived');

      // Release the descriptors: new clients are served again.
      for (const socket of attackers) socket.destroy();
      await waitForStats(child, (s) => s.connectionCount <= 1, 5000, 'the attacking connections to close');
      kept = await RawConnection.connect(child.port);
      kept.write('GET /after HTTP/1.1\r\nHost: after\r\n\r\n');
      const res = await kept.readResponse({ timeoutMs: 3000 });
      assert.equal(res.status, 200);
      const report = await normal.stop();
      t.diagnostic(`normal client (connection opened before the exhaustion) ${report.ok} ok during it`);
      assert.deepEqual(report.failures, []);
      assert.ok(report.ok >= 20);
    } finally {
      kept?.destroy();
      for (const socket of attackers) socket.destroy();
      await stopChild(child);
    }
  });

  test('maxConnections: the cap is never exceeded, idle keep-alive connections are closed first (oldest first, reason connection-limit), active ones never', async (t: TestContext) => {
    const MAX = 50;
    const child = await startChild({ handler: 'hello', logEvents: ['accept-error'], options: { maxConnections: MAX, headersTimeoutMs: 20_000, lingerMs: 200 } });
    const idle: RawConnection[] = [];
    const active: RawConnection[] = [];
    const fresh: RawConnection[] = [];
    try {
      // 40 idle keep-alive connections, opened one after the other, then 10 mid-request.
      for (let i = 0; i < 40; i++) {
        const c = await RawConnection.connect(child.port);
        c.write(`GET /idle/${i} HTTP/1.1\r\nHost: idle\r\n\r\n`);
        assert.equal((await c.readResponse()).status, 200);
        idle.push(c);
      }
      for (let i = 0; i < 10; i++) {
        const c = await RawConnection.connect(child.port);
        c.write(`GET /active/${i} HTTP/1.1\r\nHost: active\r\n`);
        active.push(c);
      }
      await waitForStats(child, (s) => s.connectionCount === MAX, 3000, 'the server to hold the cap');

      // 30 newcomers: each makes room by closing an idle connection, the oldest first.
      for (let i = 0; i < 30; i++) {
        const c = await RawConnection.connect(child.port);
        c.write(`GET /new/${i} HTTP/1.1\r\nHost: new\r\n\r\n`);
        const res = await c.readResponse({ timeoutMs: 3000 });
        assert.equal(res.status, 200, `newcomer ${i} served`);
        fresh.push(c);
      }
      const evicted = await Promise.all(idle.map((c) => c.waitForClose(1000).catch(() => 'open')));
      assert.deepEqual(evicted.slice(0, 30), Array(30).fill('fin'), 'the 30 oldest idle connections were closed');
      assert.deepEqual(evicted.slice(30), Array(10).fill('open'), 'the 10 youngest idle connections stayed');
      assert.ok(active.every((c) => c.closedBy === null), 'no active connection was closed');

      // Now make every connection busy: a newcomer is refused, and the cap still holds.
      for (const c of [...idle.slice(30), ...fresh]) c.write('GET /busy HTTP/1.1\r\n');
      await sleep(100);
      const refused = await sendAndCollect(child.port, 'GET /refused HTTP/1.1\r\nHost: r\r\n\r\n', 3000);
      assert.notEqual(refused.how, 'timeout', 'a refused connection is closed, not left hanging');
      assert.equal(refused.bytes.length, 0, 'a refused connection gets no response');

      // The active ones finish their requests normally.
      for (const c of active) c.write('X-Done: 1\r\n\r\n');
      for (const c of active) assert.equal((await c.readResponse({ timeoutMs: 3000 })).status, 200);
      const s = await child.stats();
      t.diagnostic(`${JSON.stringify(s.closeReasons)}; max live ${s.maxConnectionCount}; accept-error lines: ${child.logLines.length}`);
      assert.equal(s.closeReasons['connection-limit'], 30);
      assert.ok((s.acceptErrors['connection-limit'] ?? 0) >= 1);
      assert.ok(child.logLines.some((l) => l.includes('"event":"accept-error"') && l.includes('connection-limit')), 'the refusal is logged');
      // One over the cap for an instant is allowed: the newcomer is registered before the socket it evicted reports 'close'.
      assert.ok(s.maxConnectionCount <= MAX + 1, `never more than ${MAX} (+1 while evicting) live connections: ${s.maxConnectionCount}`);
    } finally {
      for (const c of [...idle, ...active, ...fresh]) c.destroy();
      await stopChild(child);
    }
  });

  test('maxConnections: clients that ignore the FIN of their evicted connection cannot push the live count past the cap', async (t: TestContext) => {
    const MAX = 50;
    const LINGER_MS = 3000;
    const child = await startChild({ handler: 'hello', options: { maxConnections: MAX, lingerMs: LINGER_MS, keepAliveTimeoutMs: 20_000 } });
    const sockets: net.Socket[] = [];
    try {
      // Silent connections that never close their side (allowHalfOpen): each newcomer beyond the
      // cap evicts the oldest waiting one, whose lingering close then waits for a FIN that never comes.
      for (let i = 0; i < 4 * MAX; i++) {
        const socket = net.connect({ port: child.port, host: '127.0.0.1', allowHalfOpen: true });
        socket.on('error', () => undefined);
        sockets.push(socket);
        await once(socket, 'connect');
        if (i % 10 === 9) await sleep(10);
      }
      await sleep(300);
      const s = await child.stats();
      t.diagnostic(`${4 * MAX} connections against maxConnections ${MAX} (lingerMs ${LINGER_MS}): live ${s.connectionCount}, max live ${s.maxConnectionCount}, ${JSON.stringify(s.closeReasons)}`);
      assert.equal(s.internalErrors, 0);
      assert.ok(s.connectionCount <= MAX, `live sockets (lingering evictees included) must stay within maxConnections ${MAX}: ${s.connectionCount}`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await stopChild(child);
    }
  });

  test('handler faults under load: throws, rejections, streams failing midway, handlers that never answer — other clients all succeed', async (t: TestContext) => {
    const HANDLER_TIMEOUT_MS = 300;
    const child = await startChild({ handler: 'faults', lateMs: 2 * HANDLER_TIMEOUT_MS, options: { handlerTimeoutMs: HANDLER_TIMEOUT_MS, lingerMs: 300 } });
    try {
      const before = await child.stats();
      const sampler = new MemorySampler(child, 200);
      const normals = Array.from({ length: 4 }, (_, i) => startNormalClient(child.port, { pauseMs: 5, path: `/ok/${i}`, expectBody: (p) => `ok ${p}` }));
      const counts: Record<string, number> = {};
      const problems: string[] = [];
      let seed = 0x5eed;
      const random = (n: number): number => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return (seed >>> 8) % n;
      };
      const KINDS = ['throw', 'reject', 'http-error', 'stream-error', 'never', 'late', 'late-pipelined'] as const;

      const worker = async (w: number): Promise<void> => {
        let conn: RawConnection | null = null;
        for (let i = 0; i < 30; i++) {
          const kind = KINDS[random(KINDS.length)];
          counts[kind] = (counts[kind] ?? 0) + 1;
          const where = `worker ${w} #${i} ${kind}`;
          try {
            if (kind === 'throw' || kind === 'reject' || kind === 'http-error') {
              const c: RawConnection = conn ?? (await RawConnection.connect(child.port));
              conn = c;
              c.write(`GET /${kind} HTTP/1.1\r\nHost: f\r\n\r\n`);
              const res = await c.readResponse({ timeoutMs: 3000 });
              assert.equal(res.status, kind === 'http-error' ? 418 : 500, where);
              assert.equal(res.header('connection'), 'keep-alive', `${where}: the connection survives a handler error`);
            } else if (kind === 'stream-error') {
              const got = await sendAndCollect(child.port, 'GET /stream-error HTTP/1.1\r\nHost: f\r\n\r\n', 5000);
              assert.notEqual(got.how, 'timeout', `${where}: the connection was closed`);
              const responses = splitResponses(got.bytes);
              // The data may or may not survive the reset; what must never arrive is a clean end.
              if (responses.length > 0) {
                assert.equal(responses.length, 1, where);
                assert.equal(responses[0].status, 200, where);
                assert.equal(responses[0].headers.get('transfer-encoding'), 'chunked', where);
                assert.equal(responses[0].complete, false, `${where}: a failed stream must not end with the last chunk`);
              }
              assert.ok(!got.bytes.includes('\r\n0\r\n\r\n'), `${where}: no terminating chunk`);
            } else {
              const path = kind === 'never' ? '/never' : '/late';
              const extra = kind === 'late-pipelined' ? 'GET /ok/pipelined HTTP/1.1\r\nHost: f\r\n\r\n' : '';
              const got = await sendAndCollect(child.port, `GET ${path} HTTP/1.1\r\nHost: f\r\n\r\n${extra}`, 5000);
              assert.equal(got.how, 'fin', `${where}: closed cleanly after the 503`);
              const responses = splitResponses(got.bytes);
              assert.equal(responses.length, 1, `${where}: exactly one response, nothing after it`);
              assert.equal(responses[0].status, 503, where);
              assert.equal(responses[0].headers.get('connection'), 'close', where);
              assert.ok(responses[0].complete, where);
              assert.ok(got.ms >= HANDLER_TIMEOUT_MS - 20, `${where}: 503 after ${got.ms} ms`);
              assert.ok(!got.bytes.includes('late answer'), `${where}: the late answer is discarded`);
            }
          } catch (error) {
            problems.push(`${where}: ${(error as Error).message}`);
            conn?.destroy();
            conn = null;
          }
        }
        conn?.destroy();
      };
      await Promise.all([0, 1, 2, 3].map(worker));
      await sleep(3 * HANDLER_TIMEOUT_MS); // late answers arrive now, on closed connections
      const reports = await Promise.all(normals.map((n) => n.stop()));
      await sampler.stop();
      const s = await waitForStats(child, (x) => x.connectionCount === 0, 5000, 'all connections closed');
      const ok = reports.reduce((sum, r) => sum + r.ok, 0);
      t.diagnostic(`fault requests: ${JSON.stringify(counts)}; normal clients ${ok} ok; handler errors ${s.handlerErrors}, late answers discarded ${s.lateAnswers}; close reasons ${JSON.stringify(s.closeReasons)}`);
      t.diagnostic(`server RSS growth ${mib(sampler.maxRss - before.rss)}`);
      assert.deepEqual(problems, []);
      for (const r of reports) assertNormalClient(r, 20);
      assert.equal(s.internalErrors, 0);
      assert.equal(s.lateAnswers, (counts.late ?? 0) + (counts['late-pipelined'] ?? 0), 'every late handler did answer (late)');
      assert.equal(s.closeReasons['handler-timeout'], (counts.never ?? 0) + (counts.late ?? 0) + (counts['late-pipelined'] ?? 0));
      assert.equal(s.closeReasons['handler-error'], counts['stream-error']);
      assert.ok(s.handlerErrors >= (counts.throw ?? 0) + (counts.reject ?? 0) + (counts['stream-error'] ?? 0));
      assert.ok(sampler.maxRss - before.rss < 64 * MiB);
    } finally {
      await stopChild(child);
    }
  });
});
