/**
 * Trailer sections at the server (RFC 9110 §6.5, RFC 9112 §7.1.2): a streamed response's
 * `trailers()` follow its last chunk for an HTTP/1.1 client and are never asked for otherwise; a
 * chunked request's trailers reach the handler as `req.body.trailers` once the body is read.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { HttpResponse } from '../../src/index.js';
import { RawConnection } from '../helpers/raw-client.js';
import { GET, startServer } from '../helpers/server.js';

async function* pieces(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield Buffer.from(part);
}

describe('trailers', () => {
  test('a streamed body ends with the handler’s trailers for HTTP/1.1; framing, Host and connection fields are never sent; the connection is kept', async () => {
    let asked = 0;
    const t = await startServer({}, (): HttpResponse => ({
      status: 200,
      headers: { trailer: 'x-checksum' },
      body: pieces('hel', 'lo'),
      trailers: () => {
        asked++;
        return { 'x-checksum': 'abc', 'X-Multi': ['1', '2'], 'content-length': '9', host: 'h', connection: 'close', 'transfer-encoding': 'gzip', skipped: undefined };
      },
    }));
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET('/'));
      const response = await c.readResponse();
      assert.equal(response.framing, 'chunked');
      assert.equal(response.body.toString(), 'hello');
      assert.equal(response.header('trailer'), 'x-checksum');
      assert.deepEqual(response.trailers, [['x-checksum', 'abc'], ['x-multi', '1'], ['x-multi', '2']]);
      assert.equal(asked, 1);
      c.write(GET('/again'));
      assert.equal((await c.readResponse()).status, 200, 'the connection was kept after the trailers');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('no trailers when the body is not chunked: an HTTP/1.0 client, a declared Content-Length, a whole body (trailers() never called)', async () => {
    let asked = 0;
    const trailers = (): { 'x-t': string } => {
      asked++;
      return { 'x-t': '1' };
    };
    const t = await startServer({}, (req): HttpResponse => {
      if (req.path === '/length') return { status: 200, headers: { 'content-length': '5' }, body: pieces('hello'), trailers };
      if (req.path === '/whole') return { status: 200, body: 'hello', trailers };
      return { status: 200, body: pieces('hello'), trailers };
    });
    try {
      const old = await RawConnection.connect(t.port);
      old.write('GET / HTTP/1.0\r\n\r\n');
      const response = await old.readResponse();
      assert.deepEqual([response.framing, response.body.toString(), response.trailers], ['close-delimited', 'hello', []]);
      old.destroy();
      const c = await RawConnection.connect(t.port);
      c.write(GET('/length'));
      assert.equal((await c.readResponse()).framing, 'length');
      c.write(GET('/whole'));
      assert.equal((await c.readResponse()).framing, 'length');
      c.destroy();
      assert.equal(asked, 0);
    } finally {
      await t.stop();
    }
  });

  test('a trailer field with an invalid value is a handler error: the connection is aborted without the last chunk', async () => {
    const t = await startServer({}, () => ({ status: 200, body: pieces('hello'), trailers: () => ({ 'x-bad': 'a\r\nInjected: 1' }) }));
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET('/'));
      await c.waitForClose();
      assert.ok(!c.received.toString('latin1').includes('0\r\n\r\n'), 'no last chunk');
      assert.ok(!c.received.toString('latin1').includes('Injected'));
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'handler-error');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a chunked request’s trailers are req.body.trailers once the body is read (null before, and for a body without any)', async () => {
    const seen: Array<[string | null, string | undefined]> = [];
    const t = await startServer({}, async (req) => {
      const before = req.body.trailers;
      const text = await req.body.text();
      seen.push([before === null ? null : 'early', req.body.trailers?.get('x-sum')]);
      return { status: 200, body: text };
    });
    const c = await RawConnection.connect(t.port);
    try {
      c.write('POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n');
      assert.equal((await c.readResponse()).body.toString(), 'hello');
      c.write('POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n');
      assert.equal((await c.readResponse()).body.toString(), 'hi');
      assert.deepEqual(seen, [
        [null, '42'],
        [null, undefined],
      ]);
    } finally {
      c.destroy();
      await t.stop();
    }
  });
});
