import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { describe, test } from 'node:test';
import type { HttpRequest, HttpResponse } from '../../src/index.js';
import { RawConnection } from '../helpers/raw-client.js';
import { GET, sleep, startServer } from '../helpers/server.js';

const echo = async (req: HttpRequest): Promise<HttpResponse> => ({ status: 200, body: `${req.method} ${await req.body.text()}` });

describe('request bodies', () => {
  test('Content-Length and chunked bodies are read by the handler, then the connection is reused', async () => {
    const t = await startServer({}, echo);
    const c = await RawConnection.connect(t.port);
    try {
      c.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello');
      assert.equal((await c.readResponse()).body.toString(), 'POST hello');
      c.write('PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n');
      await sleep(20);
      c.write('2;x=y\r\nde\r\n0\r\nTrailer: 1\r\n\r\n');
      assert.equal((await c.readResponse()).body.toString(), 'PUT abcde');
      c.write(GET());
      assert.equal((await c.readResponse()).status, 200);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('body as an async iterable arrives in pieces with backpressure', async () => {
    const t = await startServer({}, async (req) => {
      let pieces = 0;
      let total = 0;
      for await (const part of req.body) {
        pieces++;
        total += part.length;
      }
      return { status: 200, body: `${pieces > 1} ${total}` };
    });
    const c = await RawConnection.connect(t.port);
    try {
      c.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 200000\r\n\r\n');
      for (let i = 0; i < 4; i++) {
        c.write(Buffer.alloc(50_000, 97));
        await sleep(5);
      }
      assert.equal((await c.readResponse()).body.toString(), 'true 200000');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('json() parses, and invalid JSON is a 400', async () => {
    const t = await startServer({}, async (req) => ({ status: 200, body: JSON.stringify(await req.body.json()) }));
    const c = await RawConnection.connect(t.port);
    try {
      c.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\n\r\n{"a":1}');
      assert.equal((await c.readResponse()).body.toString(), '{"a":1}');
      c.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n{no');
      assert.equal((await c.readResponse()).status, 400);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('an unread body is drained so the connection can be reused', async () => {
    const t = await startServer({});
    const c = await RawConnection.connect(t.port);
    try {
      c.write('POST /ignored HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n' + 'x'.repeat(1000) + GET('/next'));
      const first = await c.readResponse();
      assert.equal(first.header('connection'), 'keep-alive');
      assert.equal((await c.readResponse()).body.toString(), 'hello /next');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('an unread body larger than maxDrainBytes closes the connection', async () => {
    const t = await startServer({ maxDrainBytes: 100 });
    const c = await RawConnection.connect(t.port);
    try {
      c.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nxx');
      const res = await c.readResponse();
      assert.equal(res.header('connection'), 'close');
      await c.waitForClose();
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'unread-body');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('an unread chunked body that passes maxBodyBytes while drained closes as unread-body, with no 413 reported (none was sent)', async () => {
    const t = await startServer({ maxBodyBytes: 100, maxDrainBytes: 10_000 });
    const c = await RawConnection.connect(t.port);
    try {
      const chunk = 'x'.repeat(50);
      c.write('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n' + `32\r\n${chunk}\r\n`.repeat(5) + '0\r\n\r\n');
      const res = await c.readResponse();
      assert.equal(res.status, 200);
      await c.waitForClose();
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'unread-body');
      assert.deepEqual(t.logs.filter((line) => line.includes('"protocol-error"')), []);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('Expect: 100-continue gets 100 Continue when the handler reads the body', async () => {
    const t = await startServer({}, echo);
    const c = await RawConnection.connect(t.port);
    try {
      c.write('POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n');
      const interim = await c.readResponse();
      assert.equal(interim.status, 100);
      c.write('data');
      const res = await c.readResponse();
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'POST data');
      assert.equal(res.header('connection'), 'keep-alive');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('Expect: 100-continue answered without reading the body: no 100, and the connection closes', async () => {
    const t = await startServer({}, () => ({ status: 403, body: 'no' }));
    const c = await RawConnection.connect(t.port);
    try {
      c.write('POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n');
      const res = await c.readResponse();
      assert.equal(res.status, 403);
      assert.equal(res.header('connection'), 'close');
      await c.waitForClose();
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'unread-body');
    } finally {
      c.destroy();
      await t.stop();
    }
  });
});

describe('response bodies', () => {
  test('streams are chunked for HTTP/1.1, with the connection kept', async () => {
    const t = await startServer({}, () => ({ status: 200, body: Readable.from([Buffer.from('one,'), 'two,', Buffer.from('three')]) }));
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET());
      const res = await c.readResponse();
      assert.equal(res.framing, 'chunked');
      assert.equal(res.body.toString(), 'one,two,three');
      assert.equal(res.header('connection'), 'keep-alive');
      c.write(GET());
      assert.equal((await c.readResponse()).framing, 'chunked');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a Readable body destroyed before its end (no error) aborts the response: reset, a handler-error line, no connection left', async () => {
    const t = await startServer({}, () => {
      const body = new PassThrough();
      body.write('partial ');
      setTimeout(() => body.destroy(), 30);
      return { status: 200, body };
    });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET());
      await c.waitForClose(2000);
      assert.ok(!c.received.toString('latin1').endsWith('0\r\n\r\n'), 'no last chunk: the body is not claimed complete');
      const errors = t.logs.map((line) => JSON.parse(line) as { event: string; message?: string }).filter((line) => line.event === 'handler-error');
      assert.equal(errors.length, 1);
      assert.match(errors[0].message ?? '', /closed before its end|Premature close/); // the latter through a fetch app (HOLDFAST_TEST_HANDLER=fetch)
      await t.closed(1);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a whole body over 1 MiB (sent in pieces) goes whole with its own length, whatever Content-Length the handler set', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 5, 97);
    const t = await startServer({}, (req) => ({ status: 200, headers: { 'content-length': '5' }, body: req.path === '/text' ? big.toString('latin1') : big }));
    const c = await RawConnection.connect(t.port);
    try {
      for (const path of ['/bytes', '/text']) {
        c.write(GET(path));
        const res = await c.readResponse();
        assert.equal(res.header('content-length'), String(big.length), path);
        assert.equal(res.body.length, big.length, path);
      }
      assert.deepEqual(t.requests.map((r) => r.status), [200, 200]);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a stream with a declared Content-Length is sent with that length', async () => {
    const t = await startServer({}, () => ({ status: 200, headers: { 'Content-Length': '6' }, body: Readable.from([Buffer.from('abc'), Buffer.from('def')]) }));
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET());
      const res = await c.readResponse();
      assert.equal(res.framing, 'length');
      assert.equal(res.body.toString(), 'abcdef');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('HEAD gets the headers GET would, without a body', async () => {
    const t = await startServer({});
    const c = await RawConnection.connect(t.port);
    try {
      c.write('HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n' + GET('/after'));
      const head = await c.readResponse({ method: 'HEAD' });
      assert.equal(head.header('content-length'), '8');
      assert.equal(head.body.length, 0);
      assert.equal((await c.readResponse()).body.toString(), 'hello /after');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('204 and 304 carry no body and no framing', async () => {
    const t = await startServer({}, (req) => ({ status: req.path === '/204' ? 204 : 304, body: 'ignored' }));
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET('/204') + GET('/304'));
      const a = await c.readResponse();
      const b = await c.readResponse();
      assert.deepEqual([a.status, a.header('content-length'), a.header('transfer-encoding')], [204, undefined, undefined]);
      assert.deepEqual([b.status, b.body.length], [304, 0]);
      assert.ok(!c.received.toString().includes('ignored'));
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a large streamed body is delivered whole to a slow reader', async () => {
    const size = 8 * 1024 * 1024;
    const t = await startServer({}, () => ({
      status: 200,
      body: (async function* () {
        for (let sent = 0; sent < size; sent += 65536) yield Buffer.alloc(65536, 120);
      })(),
    }));
    const c = await RawConnection.connect(t.port);
    try {
      c.socket.pause();
      c.write(GET());
      await sleep(100);
      c.socket.resume();
      const res = await c.readResponse({ timeoutMs: 5000 });
      assert.equal(res.body.length, size);
    } finally {
      c.destroy();
      await t.stop();
    }
  });
});
