import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { describe, test } from 'node:test';
import { fetchHandler, type FetchFunction } from '../../src/index.js';
import { RawConnection } from '../helpers/raw-client.js';
import { GET, sleep, startServer, type TestServer } from '../helpers/server.js';

const MiB = 1024 * 1024;

function serve(app: FetchFunction, options = {}): Promise<TestServer> {
  return startServer(options, fetchHandler(app));
}

/** Resolves when `signal` aborts, or rejects after `timeoutMs`. */
function aborted(signal: AbortSignal, timeoutMs = 2000): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the signal did not abort')), timeoutMs);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

const handlerErrors = (t: TestServer): number => t.logs.filter((line) => line.includes('"handler-error"')).length;

describe('fetchHandler: the client going away', () => {
  test('a client that disconnects mid-stream aborts request.signal and cancels the response stream; no handler error', async () => {
    let signal: AbortSignal | null = null;
    let cancelled: unknown = null;
    let timer: NodeJS.Timeout | undefined;
    const t = await serve((req) => {
      signal = req.signal;
      let n = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            timer = setInterval(() => controller.enqueue(new TextEncoder().encode(`data: ${n++}\n\n`)), 10);
          },
          cancel(reason) {
            clearInterval(timer);
            cancelled = reason ?? 'cancelled';
          },
        }),
        { headers: { 'content-type': 'text/event-stream' } },
      );
    });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET('/events'));
      while (!c.received.includes('data: 2')) await sleep(5);
      c.destroy();
      await aborted(signal as unknown as AbortSignal);
      for (let i = 0; i < 100 && cancelled === null; i++) await sleep(10);
      assert.notEqual(cancelled, null, 'the stream was cancelled');
      await t.closed(1);
      // Its FIN alone does not stop the stream: the reset that answers the next write does.
      assert.ok(['peer-reset', 'peer-eof', 'write-error'].includes(t.closes[0].reason), t.closes[0].reason);
      assert.equal(handlerErrors(t), 0);
    } finally {
      clearInterval(timer);
      c.destroy();
      await t.stop();
    }
  });

  test('a client that half-closes after its request still receives a streamed body whole (as a native handler’s)', async () => {
    let cancelled = false;
    const t = await serve(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            async start(controller) {
              for (let i = 0; i < 5; i++) {
                await sleep(20);
                controller.enqueue(new TextEncoder().encode(`tick ${i}\n`));
              }
              controller.close();
            },
            cancel() {
              cancelled = true;
            },
          }),
        ),
    );
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET('/ticks'));
      c.socket.end();
      const response = await c.readResponse();
      assert.equal(response.status, 200);
      assert.equal(response.body.toString(), 'tick 0\ntick 1\ntick 2\ntick 3\ntick 4\n');
      assert.equal(await c.waitForClose(), 'fin');
      await t.closed(1);
      assert.equal(cancelled, false);
      assert.equal(t.requests.length, 1);
      assert.equal(t.requests[0].status, 200);
      assert.equal(handlerErrors(t), 0);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a client that resets while the response stream waits for its next chunk gets that stream cancelled', async () => {
    let cancelled = false;
    const t = await serve(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(new TextEncoder().encode('first\n'));
            },
            cancel() {
              cancelled = true;
            },
          }),
        ),
    );
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET('/stalls'));
      while (!c.received.includes('first')) await sleep(5);
      c.socket.resetAndDestroy();
      for (let i = 0; i < 100 && !cancelled; i++) await sleep(10);
      assert.equal(cancelled, true);
      await t.closed(1);
      assert.equal(handlerErrors(t), 0);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a client that leaves while the app waits (long poll) aborts the signal; the late answer is dropped', async () => {
    let seen: AbortSignal | null = null;
    const t = await serve(async (req, info) => {
      seen = info.signal;
      assert.equal(info.signal, req.signal);
      await aborted(req.signal);
      return new Response('too late');
    });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET('/poll'));
      while (seen === null) await sleep(5);
      assert.equal((seen as AbortSignal).aborted, false);
      c.socket.end();
      await aborted(seen as unknown as AbortSignal);
      await t.closed(1);
      assert.equal(handlerErrors(t), 0);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('the signal never aborts once the response is done, even when the connection closes afterwards', async () => {
    const signals: AbortSignal[] = [];
    const t = await serve((req) => {
      signals.push(req.signal);
      return new Response('done');
    });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET('/a') + GET('/b', 'Connection: close\r\n'));
      await c.readResponse();
      await c.readResponse();
      await c.waitForClose();
      await t.closed(1);
      assert.deepEqual(signals.map((s) => s.aborted), [false, false]);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('the server giving up (handler timeout → 503) aborts the signal too', async () => {
    let signal: AbortSignal | null = null;
    const t = await serve(
      async (req) => {
        signal = req.signal;
        await aborted(req.signal);
        return new Response('ignored');
      },
      { handlerTimeoutMs: 100 },
    );
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET());
      assert.equal((await c.readResponse()).status, 503);
      assert.equal((signal as AbortSignal | null)?.aborted, true);
    } finally {
      c.destroy();
      await t.stop();
    }
  });
});

describe('fetchHandler: large request bodies', () => {
  /** An app that streams the request body and answers with its length and SHA-256. */
  const digest: FetchFunction = async (req) => {
    if (req.body === null) return new Response('no body');
    const hash = createHash('sha256');
    let length = 0;
    let reads = 0;
    const reader = req.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      reads++;
      length += value.length;
      hash.update(value);
    }
    return Response.json({ length, sha256: hash.digest('hex'), streamed: reads > 1 });
  };

  const upload = Buffer.alloc(10 * MiB);
  for (let i = 0; i < upload.length; i += 4) upload.writeUInt32LE((i * 2654435761) >>> 0, i);
  const expected = createHash('sha256').update(upload).digest('hex');

  async function send(c: RawConnection, chunked: boolean): Promise<void> {
    const head = `POST /upload HTTP/1.1\r\nHost: t\r\n${chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${upload.length}`}\r\n\r\n`;
    c.write(head);
    for (let at = 0; at < upload.length; at += 256 * 1024) {
      const piece = upload.subarray(at, at + 256 * 1024);
      if (chunked) c.socket.write(`${piece.length.toString(16)}\r\n`);
      c.socket.write(piece);
      if (chunked) c.socket.write('\r\n');
      if (c.socket.writableNeedDrain) await Promise.race([once(c.socket, 'drain'), once(c.socket, 'close')]);
      if (c.socket.destroyed) return;
    }
    if (chunked) c.write('0\r\n\r\n');
  }

  for (const chunked of [false, true]) {
    test(`10 MiB (${chunked ? 'chunked' : 'Content-Length'}) streamed through request.body within maxBodyBytes`, async () => {
      const t = await serve(digest, { maxBodyBytes: 16 * MiB });
      const c = await RawConnection.connect(t.port);
      try {
        const sent = send(c, chunked);
        const res = await c.readResponse({ timeoutMs: 5000 });
        await sent;
        assert.equal(res.status, 200);
        assert.deepEqual(JSON.parse(res.body.toString()), { length: upload.length, sha256: expected, streamed: true });
        c.write(GET('/again'));
        assert.equal((await c.readResponse()).status, 200, 'the connection is kept');
      } finally {
        c.destroy();
        await t.stop();
      }
    });
  }

  test('over maxBodyBytes: a Content-Length body is refused with 413 before the app runs', async () => {
    let calls = 0;
    const t = await serve(
      (req) => {
        calls++;
        return digest(req, undefined as never);
      },
      { maxBodyBytes: MiB },
    );
    const c = await RawConnection.connect(t.port);
    try {
      void send(c, false).catch(() => undefined);
      const res = await c.readResponse({ timeoutMs: 5000 });
      assert.deepEqual([res.status, res.header('connection')], [413, 'close']);
      assert.equal(calls, 0);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('over maxBodyBytes: a chunked body is answered 413 once it grows past the limit; the app’s read fails', async () => {
    let failure: unknown = null;
    const t = await serve(
      async (req) => {
        try {
          return await digest(req, undefined as never);
        } catch (error) {
          failure = error;
          throw error;
        }
      },
      { maxBodyBytes: MiB },
    );
    const c = await RawConnection.connect(t.port);
    try {
      void send(c, true).catch(() => undefined);
      const res = await c.readResponse({ timeoutMs: 5000 });
      assert.deepEqual([res.status, res.header('connection')], [413, 'close']);
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'protocol-error');
      for (let i = 0; i < 50 && failure === null; i++) await sleep(10);
      assert.match(String(failure), /ProtocolError: request body exceeds the limit/);
      assert.equal(handlerErrors(t), 0, 'the app’s answer after the 413 is ignored, not logged');
    } finally {
      c.destroy();
      await t.stop();
    }
  });
});

describe('fetchHandler: response streams with backpressure', () => {
  test('a client that does not read stops the pulls well short of the body; reading again takes the rest', async () => {
    const CHUNK = 64 * 1024;
    const CHUNKS = 512; // 32 MiB: more than the loopback socket buffers of both ends hold
    let pulls = 0;
    const t = await serve(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            pull(controller) {
              if (pulls === CHUNKS) return controller.close();
              controller.enqueue(new Uint8Array(CHUNK).fill(pulls++ & 0xff));
            },
          }, { highWaterMark: 0 }),
        ),
    );
    const socket = net.connect(t.port, '127.0.0.1');
    try {
      await once(socket, 'connect');
      socket.pause();
      socket.write(GET('/big'));
      await sleep(300);
      const paused = pulls;
      await sleep(200);
      assert.equal(pulls, paused, 'no more pulls while the client is not reading');
      assert.ok(paused < CHUNKS / 2, `${paused} of ${CHUNKS} chunks pulled while the client read nothing`);
      let received = 0;
      let first: Buffer | null = null;
      socket.on('data', (bytes: Buffer) => {
        received += bytes.length;
        first ??= bytes;
      });
      socket.resume();
      const body = CHUNK * CHUNKS;
      for (let i = 0; i < 1000 && received <= body; i++) await sleep(10);
      assert.equal(pulls, CHUNKS, 'every chunk pulled once the client read');
      assert.match(String(first).slice(0, 40), /^HTTP\/1\.1 200 OK\r\n/);
      assert.ok(received > body, `${received} bytes received for a ${body}-byte body (chunked)`);
    } finally {
      socket.destroy();
    }
    await t.stop();
  });
});
