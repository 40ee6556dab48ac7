import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, test } from 'node:test';
import { HttpError, type HttpRequest, type HttpResponse } from '../../src/index.js';
import { RawConnection } from '../helpers/raw-client.js';
import { GET, sleep, startServer } from '../helpers/server.js';

const echo = async (req: HttpRequest): Promise<HttpResponse> => ({ status: 200, body: await req.body.text() });

async function expectRejected(
  raw: string,
  status: number,
  code: string,
  options: Parameters<typeof startServer>[0] = {},
): Promise<void> {
  const t = await startServer(options, echo);
  const c = await RawConnection.connect(t.port);
  try {
    c.write(raw);
    const res = await c.readResponse();
    assert.equal(res.status, status);
    assert.equal(res.header('connection'), 'close');
    assert.match(res.body.toString(), new RegExp(`^${status} `));
    assert.equal(await c.waitForClose(), 'fin');
    await t.closed(1);
    assert.equal(t.closes[0].reason, 'protocol-error');
    const logged = t.logs.map((l) => JSON.parse(l)).find((e) => e.event === 'protocol-error');
    assert.deepEqual([logged?.status, logged?.code], [status, code]);
  } finally {
    c.destroy();
    await t.stop();
  }
}

describe('bad input gets a clear error, Connection: close, a log line', () => {
  test('400 missing Host', () => expectRejected('GET / HTTP/1.1\r\n\r\n', 400, 'missing-host'));
  test('400 CL + TE (smuggling)', () =>
    expectRejected('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', 400, 'content-length-and-transfer-encoding'));
  test('400 obs-fold', () => expectRejected('GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n', 400, 'obs-fold'));
  test('400 bad chunk size after the head', () =>
    expectRejected('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400, 'bad-chunk-size'));
  test('501 CONNECT', () => expectRejected('CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n', 501, 'connect-not-supported'));
  test('501 unknown transfer coding', () =>
    expectRejected('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 501, 'unknown-transfer-coding'));
  test('505 HTTP/2.0', () => expectRejected('GET / HTTP/2.0\r\nHost: a\r\n\r\n', 505, 'unsupported-version'));
  test('414 long request line', () =>
    expectRejected(`GET /${'a'.repeat(200)} HTTP/1.1\r\nHost: a\r\n\r\n`, 414, 'request-line-too-long', { maxRequestLineBytes: 100 }));
  test('431 header section too large', () =>
    expectRejected(`GET / HTTP/1.1\r\nHost: a\r\nX: ${'b'.repeat(300)}\r\n\r\n`, 431, 'header-section-too-large', { maxHeaderBytes: 200 }));
  test('431 too many fields', () =>
    expectRejected(`GET / HTTP/1.1\r\nHost: a\r\n${'X: y\r\n'.repeat(5)}\r\n`, 431, 'too-many-fields', { maxHeaderCount: 4 }));
  test('413 body over the limit', () =>
    expectRejected('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n', 413, 'body-too-large', { maxBodyBytes: 10 }));
  test('417 unsupported expectation', () =>
    expectRejected('POST / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx', 417, 'unsupported-expectation'));

  test('413 for a chunked body that grows over the limit while the handler reads it', async () => {
    const t = await startServer({ maxBodyBytes: 8 }, async (req) => ({ status: 200, body: await req.body.text() }));
    const c = await RawConnection.connect(t.port);
    try {
      c.write('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
      await sleep(30);
      c.write('5\r\nworld\r\n0\r\n\r\n');
      const res = await c.readResponse();
      assert.equal(res.status, 413);
      assert.equal(res.header('connection'), 'close');
      await c.waitForClose();
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('408 when the head is not complete by the headers timeout (slowloris)', async () => {
    const t = await startServer({ headersTimeoutMs: 150 });
    const c = await RawConnection.connect(t.port);
    try {
      c.write('GET / HTTP/1.1\r\n');
      const started = Date.now();
      for (let i = 0; i < 5 && c.unreadBytes === 0; i++) {
        c.write('X-Trickle: 1\r\n');
        await sleep(40);
      }
      const res = await c.readResponse();
      assert.equal(res.status, 408);
      assert.equal(res.header('connection'), 'close');
      assert.ok(Date.now() - started < 1000);
      await c.waitForClose();
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'headers-timeout');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('408 when the body is not complete by the request timeout', async () => {
    const t = await startServer({ requestTimeoutMs: 150 }, async (req) => ({ status: 200, body: await req.body.text() }));
    const c = await RawConnection.connect(t.port);
    try {
      c.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc');
      const res = await c.readResponse();
      assert.equal(res.status, 408);
      await c.waitForClose();
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'request-timeout');
      // The request is logged with the answer it got, as nginx logs a 408.
      assert.deepEqual(t.requests.map((r) => [r.method, r.target, r.status, r.bytes, r.keepAlive]), [['POST', '/', 408, res.body.length, false]]);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a request deadline that passes while a started response waits for body bytes the client does not send: reset, logged, nothing left open', async () => {
    // The handler streams the request body into its response (an echo): it cannot finish without the client.
    const t = await startServer({ requestTimeoutMs: 150 }, (req) => ({ status: 200, body: req.body }));
    const c = await RawConnection.connect(t.port);
    try {
      c.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc');
      assert.equal(await c.waitForClose(2000), 'rst');
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'request-timeout');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('past the request deadline, a body the client did send but our own write backpressure left unread is still read: the echo completes', async () => {
    const size = 16 * 1024 * 1024;
    const t = await startServer({ requestTimeoutMs: 300, maxBodyBytes: size }, (req) => ({ status: 200, body: req.body }));
    const socket = net.connect(t.port, '127.0.0.1');
    try {
      await once(socket, 'connect');
      socket.on('error', () => undefined);
      socket.write(`POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${size}\r\n\r\n`);
      socket.write(Buffer.alloc(size, 97));
      socket.pause(); // reading nothing until past the deadline: the server's writes back up and it stops reading
      await sleep(700);
      let received = 0;
      const whole = new Promise<void>((resolve, reject) => {
        socket.on('data', (data: Buffer) => {
          received += data.length;
          if (received >= size) resolve();
        });
        socket.on('close', () => reject(new Error(`closed after ${received} bytes`)));
      });
      socket.resume();
      await whole;
      assert.deepEqual(t.requests.map((r) => r.status), [200]);
    } finally {
      socket.destroy();
      await t.stop();
    }
  });

  test('a request deadline that passes while the response streams lets it finish, then closes', async () => {
    const t = await startServer({ requestTimeoutMs: 100 }, () => ({
      status: 200,
      body: (async function* () {
        yield 'first ';
        await sleep(250);
        yield 'last';
      })(),
    }));
    const c = await RawConnection.connect(t.port);
    try {
      c.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc');
      const res = await c.readResponse();
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'first last');
      assert.equal(res.header('connection'), 'keep-alive');
      await c.waitForClose();
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'request-timeout');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('garbage bytes get a 400, never a crash', async () => {
    const t = await startServer({});
    const c = await RawConnection.connect(t.port);
    try {
      c.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, 0x0d, 0x0a, 0x0d, 0x0a]));
      const res = await c.readResponse();
      assert.equal(res.status, 400);
      await c.waitForClose();
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a partial head followed by EOF gets a 400 and the connection closes', async () => {
    const t = await startServer({});
    const c = await RawConnection.connect(t.port);
    try {
      c.write('GET / HTTP/1.1\r\nHost: a\r\n');
      c.end();
      const res = await c.readResponse();
      assert.equal(res.status, 400);
      await c.waitForClose();
    } finally {
      c.destroy();
      await t.stop();
    }
  });
});

describe('RFC 9112 corners', () => {
  test('400 for each character RFC 3986 forbids in the target, and for userinfo in absolute-form', async () => {
    for (const target of ['/a"b', '/a<b', '/a>b', '/a\\b', '/a^b', '/a`b', '/?q={}', '/a|b', '/a}b']) {
      await expectRejected(`GET ${target} HTTP/1.1\r\nHost: a\r\n\r\n`, 400, 'forbidden-target-character');
    }
    await expectRejected('GET http://user:pass@a/ HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'target-userinfo');
  });

  test('100 custom fields plus Host are served with the default options; a flood of tiny fields is still 431', async () => {
    const t = await startServer({}, (req) => ({ status: 200, body: String(req.headers.size) }));
    const c = await RawConnection.connect(t.port);
    try {
      let fields = '';
      for (let i = 1; i <= 100; i++) fields += `X-Custom-${i}: value-${i}\r\n`;
      c.write(`GET / HTTP/1.1\r\nHost: a\r\n${fields}\r\n`);
      const ok = await c.readResponse();
      assert.equal(ok.status, 200);
      assert.equal(ok.body.toString(), '101');
    } finally {
      c.destroy();
      await t.stop();
    }
    await expectRejected(`GET / HTTP/1.1\r\nHost: a\r\n${'a:\r\n'.repeat(2000)}\r\n`, 431, 'too-many-fields');
  });

  /** The server's own error answer to `request`: its status, headers and every byte after the head. */
  async function ownError(request: string, options: Parameters<typeof startServer>[0], handler?: Parameters<typeof startServer>[1]): Promise<{ status: number; contentLength: string | undefined; after: Buffer }> {
    const t = await startServer(options, handler);
    const c = await RawConnection.connect(t.port);
    try {
      c.write(request);
      const res = await c.readResponse({ method: 'HEAD' });
      assert.equal(res.header('connection'), 'close');
      assert.equal(await c.waitForClose(), 'fin');
      return { status: res.status, contentLength: res.header('content-length'), after: c.unread };
    } finally {
      c.destroy();
      await t.stop();
    }
  }

  test('an error answer to a HEAD request has no body, even when the request line is invalid; to GET it has one', async () => {
    const cases: Array<[string, number, Parameters<typeof startServer>[0]]> = [
      ['HEAD / HTTP/2.0\r\nHost: a\r\n\r\n', 505, {}],
      ['HEAD /a|b HTTP/1.1\r\nHost: a\r\n\r\n', 400, {}],
      ['HEAD / HTTP/1.1\r\n\r\n', 400, {}],
      ['HEAD /x HTTP/1.1\r\nHost: a\r\n', 408, { headersTimeoutMs: 100 }],
    ];
    for (const [request, status, options] of cases) {
      const head = await ownError(request, options);
      assert.equal(head.status, status, request);
      assert.equal(head.after.length, 0, `no body after the head: ${JSON.stringify(request)}`);
      const get = await ownError(request.replace('HEAD', 'GET'), options);
      assert.equal(get.status, status);
      assert.equal(get.after.length, Number(get.contentLength), 'GET gets the body');
      assert.equal(head.contentLength, get.contentLength, 'HEAD says the length GET would get');
    }
  });

  test('a HEAD request that times out in its handler gets a 503 without a body', async () => {
    const never = (): Promise<never> => new Promise(() => undefined);
    const head = await ownError('HEAD / HTTP/1.1\r\nHost: a\r\n\r\n', { handlerTimeoutMs: 50 }, never);
    assert.equal(head.status, 503);
    assert.equal(head.after.length, 0);
    const get = await ownError('GET / HTTP/1.1\r\nHost: a\r\n\r\n', { handlerTimeoutMs: 50 }, never);
    assert.ok(get.after.length > 0);
  });
});

describe('handler faults', () => {
  test('a throwing handler gives 500 and a log line; the server keeps serving on the same connection', async () => {
    const t = await startServer({}, (req) => {
      if (req.path === '/boom') throw new Error('kaboom');
      return { status: 200, body: 'fine' };
    });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET('/boom'));
      const res = await c.readResponse();
      assert.equal(res.status, 500);
      assert.doesNotMatch(res.body.toString(), /kaboom/);
      c.write(GET('/ok'));
      assert.equal((await c.readResponse()).body.toString(), 'fine');
      const logged = t.logs.map((l) => JSON.parse(l)).find((e) => e.event === 'handler-error');
      assert.equal(logged.message, 'kaboom');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a rejected promise gives 500', async () => {
    const t = await startServer({}, async () => {
      await sleep(5);
      throw new TypeError('nope');
    });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET());
      assert.equal((await c.readResponse()).status, 500);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('HttpError sets the status and message', async () => {
    const t = await startServer({}, () => {
      throw new HttpError(404, 'no such thing');
    });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET());
      const res = await c.readResponse();
      assert.equal(res.status, 404);
      assert.equal(res.body.toString(), 'no such thing\n');
      assert.equal(res.header('connection'), 'keep-alive');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('an invalid response (header injection) gives 500', async () => {
    const t = await startServer({}, () => ({ status: 200, headers: { 'x-evil': 'a\r\nSet-Cookie: b' }, body: 'x' }));
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET());
      const res = await c.readResponse();
      assert.equal(res.status, 500);
      assert.equal(res.header('set-cookie'), undefined);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a stream that errors midway aborts the connection instead of ending the body cleanly', async () => {
    const t = await startServer({}, () => ({
      status: 200,
      body: (async function* () {
        yield Buffer.from('partial');
        await sleep(10);
        throw new Error('disk on fire');
      })(),
    }));
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET());
      await assert.rejects(c.readResponse());
      assert.ok(c.received.toString().includes('7\r\npartial\r\n'));
      assert.ok(!c.received.toString().includes('0\r\n\r\n'), 'no last-chunk after a failed stream');
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'handler-error');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a stream shorter than its declared Content-Length aborts', async () => {
    const t = await startServer({}, () => ({
      status: 200,
      headers: { 'content-length': '10' },
      body: (async function* () {
        yield Buffer.from('short');
      })(),
    }));
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET());
      await assert.rejects(c.readResponse());
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'handler-error');
    } finally {
      c.destroy();
      await t.stop();
    }
  });
});
