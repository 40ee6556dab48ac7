import assert from 'node:assert/strict';
import { once } from 'node:events';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fetchHandler, type FetchFunction, type FetchInfo } from '../../src/index.js';
import { exchange, RawConnection, type ParsedResponse } from '../helpers/raw-client.js';
import { GET, sleep, startServer, type TestServer } from '../helpers/server.js';
import { request } from './fixtures/hono-app.js';
import { startChild } from './fixtures/child.js';

/** The built-in classes, taken before the first fetchHandler() installs its own as the globals. */
const BuiltinRequest = globalThis.Request;
const BuiltinResponse = globalThis.Response;

async function serve(app: FetchFunction, options = {}): Promise<TestServer> {
  return startServer(options, fetchHandler(app));
}

async function one(t: TestServer, raw: string, method?: string): Promise<ParsedResponse> {
  return (await exchange(t.port, raw, { method }))[0];
}

const all = (res: ParsedResponse, name: string): string[] => res.headers.filter(([n]) => n === name).map(([, v]) => v);
/** The handler-error log lines: each error's stack (its class, message and where). */
const handlerErrors = (t: TestServer): string[] =>
  t.logs
    .map((line) => JSON.parse(line))
    .filter((e) => e.event === 'handler-error')
    .map((e) => String(e.stack ?? e.message));

describe('fetchHandler: the request', () => {
  test('url: Host + origin-form target, normalised as new URL() does; absolute-form wins; no Host → localhost', async () => {
    const t = await serve((req) => new Response(req.url));
    try {
      const cases: Array<[string, string]> = [
        ['GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: t\r\n\r\n', 'http://t/a/b?x=1&y=2'],
        ['GET / HTTP/1.1\r\nHost: Example.COM:80\r\n\r\n', 'http://example.com/'],
        ['GET /p HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n', 'http://127.0.0.1:8080/p'],
        ['GET /p HTTP/1.1\r\nHost: [::1]:9\r\n\r\n', 'http://[::1]:9/p'],
        ['GET /a/../b/./c/%2e%2E/d HTTP/1.1\r\nHost: t\r\n\r\n', 'http://t/b/d'],
        ['GET /x%22y?q=a\'b~c HTTP/1.1\r\nHost: t\r\n\r\n', new URL("http://t/x%22y?q=a'b~c").href],
        ['GET //evil.example/x HTTP/1.1\r\nHost: t\r\n\r\n', 'http://t//evil.example/x'],
        ['GET /.well-known/x HTTP/1.1\r\nHost: t\r\n\r\n', 'http://t/.well-known/x'],
        ['GET http://Other.test:8080/p?q HTTP/1.1\r\nHost: ignored\r\n\r\n', 'http://other.test:8080/p?q'],
        ['GET /old HTTP/1.0\r\n\r\n', 'http://localhost/old'],
      ];
      for (const [raw, url] of cases) assert.equal((await one(t, raw)).body.toString(), url, raw.split('\r\n')[0]);
      const star = await one(t, 'OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n');
      assert.equal(star.status, 400);
      const badHost = await one(t, 'GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n');
      assert.equal(badHost.status, 400);
    } finally {
      await t.stop();
    }
  });

  test('TRACE and TRACK, which a Fetch Request cannot carry, are answered 501 before the app runs; the connection goes on', async () => {
    for (const overrideGlobals of [true, false]) {
      const seen: string[] = [];
      const t = await startServer(
        {},
        fetchHandler(
          (req) => {
            seen.push(req.method);
            return new Response(`${new Request(req).method} ${req.clone().method}`);
          },
          { overrideGlobals },
        ),
      );
      const c = await RawConnection.connect(t.port);
      try {
        for (const line of ['TRACE / HTTP/1.1', 'TRACK /new HTTP/1.1', 'trace / HTTP/1.1', 'TRACE / HTTP/1.0']) {
          c.write(`${line}\r\nHost: t\r\nConnection: keep-alive\r\n\r\n`);
          const res = await c.readResponse();
          assert.equal(res.status, 501, line);
          assert.notEqual(res.header('connection'), 'close', line);
        }
        c.write(GET('/after'));
        const after = await c.readResponse();
        assert.equal(after.status, 200);
        assert.equal(after.body.toString(), 'GET GET');
        assert.deepEqual(seen, ['GET']);
        assert.deepEqual(handlerErrors(t), []);
      } finally {
        c.destroy();
        await t.stop();
      }
    }
  });

  test('method (normalised as Fetch does), headers with duplicates, instanceof Request, the fixed attributes', async () => {
    const t = await serve((req) => {
      const real = new BuiltinRequest('http://x/');
      return Response.json({
        method: req.method,
        list: req.headers.get('x-list'),
        cookies: req.headers.getSetCookie(),
        entries: [...req.headers].filter(([name]) => name.startsWith('x-')),
        isRequest: req instanceof Request && req instanceof BuiltinRequest,
        tag: Object.prototype.toString.call(req),
        fixed: ['cache', 'credentials', 'destination', 'integrity', 'keepalive', 'mode', 'redirect', 'referrer', 'referrerPolicy'].every(
          (name) => (req as unknown as Record<string, unknown>)[name] === (real as unknown as Record<string, unknown>)[name],
        ),
      });
    });
    try {
      const res = await one(t, 'get / HTTP/1.1\r\nHost: t\r\nX-List: a\r\nX-Other: o\r\nx-list: b\r\n\r\n');
      assert.deepEqual(JSON.parse(res.body.toString()), {
        method: 'GET',
        list: 'a, b',
        cookies: [],
        entries: [['x-list', 'a, b'], ['x-other', 'o']],
        isRequest: true,
        tag: '[object Request]',
        fixed: true,
      });
      const patch = await one(t, 'patch / HTTP/1.1\r\nHost: t\r\n\r\n');
      assert.equal(JSON.parse(patch.body.toString()).method, 'patch', 'Fetch upper-cases only DELETE GET HEAD OPTIONS POST PUT');
    } finally {
      await t.stop();
    }
  });

  test('the second argument tells about the connection: address, port, connection id, request index', async () => {
    const seen: Array<Omit<FetchInfo, 'signal'> & { aborted: boolean }> = [];
    const t = await serve((_req, info) => {
      seen.push({ remoteAddress: info.remoteAddress, remotePort: info.remotePort, connectionId: info.connectionId, requestIndex: info.requestIndex, tls: info.tls, aborted: info.signal.aborted });
      return new Response('ok');
    });
    const a = await RawConnection.connect(t.port);
    const b = await RawConnection.connect(t.port);
    try {
      a.write(GET() + GET());
      await a.readResponse();
      await a.readResponse();
      b.write(GET());
      await b.readResponse();
      const portA = a.socket.localPort as number;
      const portB = b.socket.localPort as number;
      assert.deepEqual(seen, [
        { remoteAddress: '127.0.0.1', remotePort: portA, connectionId: 1, requestIndex: 1, tls: false, aborted: false },
        { remoteAddress: '127.0.0.1', remotePort: portA, connectionId: 1, requestIndex: 2, tls: false, aborted: false },
        { remoteAddress: '127.0.0.1', remotePort: portB, connectionId: 2, requestIndex: 1, tls: false, aborted: false },
      ]);
    } finally {
      a.destroy();
      b.destroy();
      await t.stop();
    }
  });

  test('GET and HEAD have a null body; other methods a stream, read with text/json/arrayBuffer/bytes/blob/formData', async () => {
    const t = await serve(async (req) => {
      const kind = req.headers.get('x-read');
      const out: Record<string, unknown> = { body: req.body === null ? null : 'stream' };
      if (kind === 'text') out.value = await req.text();
      if (kind === 'json') out.value = await req.json();
      if (kind === 'arrayBuffer') out.value = Buffer.from(await req.arrayBuffer()).toString('hex');
      if (kind === 'bytes') out.value = [...(await (req as Request & { bytes(): Promise<Uint8Array> }).bytes())];
      if (kind === 'blob') {
        const blob = await req.blob();
        out.value = [blob.type, await blob.text()];
      }
      if (kind === 'formData') out.value = [...(await req.formData())].map(([name, value]) => [name, String(value)]);
      out.used = req.bodyUsed;
      out.again = await req.text().then(
        () => 'read again',
        (error: Error) => error.name,
      );
      return Response.json(out);
    });
    try {
      const ask = async (raw: string, method?: string): Promise<unknown> => JSON.parse((await one(t, raw, method)).body.toString() || 'null');
      assert.deepEqual(await ask(request('GET', '/', { 'x-read': 'text' })), { body: null, value: '', used: false, again: 'read again' });
      assert.deepEqual(await ask(request('POST', '/', { 'x-read': 'text' }, '\ufeffhé')), { body: 'stream', value: 'hé', used: true, again: 'TypeError' });
      assert.deepEqual(await ask(request('PUT', '/', { 'x-read': 'json' }, '{"a":1}')), { body: 'stream', value: { a: 1 }, used: true, again: 'TypeError' });
      assert.deepEqual(await ask(request('POST', '/', { 'x-read': 'arrayBuffer' }, 'AB')), { body: 'stream', value: '4142', used: true, again: 'TypeError' });
      assert.deepEqual(await ask(request('POST', '/', { 'x-read': 'bytes' }, 'AB')), { body: 'stream', value: [65, 66], used: true, again: 'TypeError' });
      assert.deepEqual(await ask(request('POST', '/', { 'x-read': 'blob', 'content-type': 'Text/Plain' }, 'b')), { body: 'stream', value: ['text/plain', 'b'], used: true, again: 'TypeError' });
      assert.deepEqual(await ask(request('POST', '/', { 'x-read': 'formData', 'content-type': 'application/x-www-form-urlencoded' }, 'a=1&b=x%20y')), {
        body: 'stream',
        value: [['a', '1'], ['b', 'x y']],
        used: true,
        again: 'TypeError',
      });
      const bad = await one(t, request('POST', '/', { 'x-read': 'json' }, '{'));
      assert.equal(bad.status, 500, 'invalid JSON rejects json() with a SyntaxError, which the app did not catch');
      assert.match(handlerErrors(t)[0] ?? '', /SyntaxError/);
    } finally {
      await t.stop();
    }
  });

  test('the body stream pulls from the connection only when read: 100 Continue waits for the first read', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const t = await serve(async (req) => {
      await gate;
      const reader = (req.body as ReadableStream<Uint8Array>).getReader();
      const chunks: string[] = [];
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(Buffer.from(value).toString());
      }
      return Response.json(chunks);
    });
    const c = await RawConnection.connect(t.port);
    try {
      c.write('POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n');
      await sleep(100);
      assert.equal(c.unreadBytes, 0, 'no 100 Continue before the app reads');
      release();
      const interim = await c.readResponse();
      assert.equal(interim.status, 100);
      c.write('3\r\nabc\r\n');
      await sleep(20);
      c.write('2\r\nde\r\n0\r\n\r\n');
      const res = await c.readResponse();
      assert.equal(res.status, 200);
      assert.deepEqual(JSON.parse(res.body.toString()).join(''), 'abcde');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('clone(), new Request(request, init) and a body read through the stream after the real Request is built', async () => {
    const t = await serve(async (req) => {
      const copy = req.clone();
      const rebuilt = new Request(copy, { headers: { 'x-added': 'yes' } });
      return Response.json({
        original: await req.text(),
        rebuilt: await rebuilt.text(),
        added: rebuilt.headers.get('x-added'),
        method: rebuilt.method,
        url: rebuilt.url,
        builtin: rebuilt instanceof BuiltinRequest,
      });
    });
    try {
      const res = await one(t, request('POST', '/clone?x', {}, 'payload'));
      assert.deepEqual(JSON.parse(res.body.toString()), { original: 'payload', rebuilt: 'payload', added: 'yes', method: 'POST', url: 'http://t/clone?x', builtin: true });
    } finally {
      await t.stop();
    }
  });
});

describe('fetchHandler: the response', () => {
  test('bodies: string (Content-Type default), bytes, ArrayBuffer, Blob (its size and type), stream (chunked), null', async () => {
    const bytes = Uint8Array.from([0, 1, 2, 255]);
    const t = await serve((req) => {
      switch (new URL(req.url).pathname) {
        case '/string':
          return new Response('héllo');
        case '/bytes':
          return new Response(bytes);
        case '/buffer':
          return new Response(bytes.buffer.slice(0));
        case '/blob':
          return new Response(new Blob(['blob body'], { type: 'text/x-blob' }));
        case '/stream':
          return new Response(
            new ReadableStream({
              async start(controller) {
                controller.enqueue(new TextEncoder().encode('a'));
                await sleep(5);
                controller.enqueue(new TextEncoder().encode('b'));
                controller.close();
              },
            }),
          );
        case '/declared':
          return new Response(new Blob(['12345']).stream(), { headers: { 'content-length': '5' } });
        default:
          return new Response(null, { status: 201 });
      }
    });
    try {
      const text = await one(t, GET('/string'));
      assert.deepEqual([text.header('content-type'), text.header('content-length'), text.body.toString()], ['text/plain;charset=UTF-8', '6', 'héllo']);
      const raw = await one(t, GET('/bytes'));
      assert.deepEqual([raw.header('content-type'), raw.framing, [...raw.body]], [undefined, 'length', [0, 1, 2, 255]]);
      assert.deepEqual([...(await one(t, GET('/buffer'))).body], [0, 1, 2, 255]);
      const blob = await one(t, GET('/blob'));
      assert.deepEqual([blob.header('content-type'), blob.header('content-length'), blob.body.toString()], ['text/x-blob', '9', 'blob body']);
      const stream = await one(t, GET('/stream'));
      assert.deepEqual([stream.framing, stream.body.toString()], ['chunked', 'ab']);
      const declared = await one(t, GET('/declared'));
      assert.deepEqual([declared.framing, declared.header('content-length'), declared.body.toString()], ['length', '5', '12345']);
      const empty = await one(t, GET('/empty'));
      assert.deepEqual([empty.status, empty.header('content-length'), empty.body.length], [201, '0', 0]);
    } finally {
      await t.stop();
    }
  });

  test('fields: each Set-Cookie on its own line, duplicates joined, later edits to res.headers kept; hop-by-hop fields are the server’s', async () => {
    const t = await serve((req) => {
      const path = new URL(req.url).pathname;
      if (path === '/cookies') {
        const headers = new Headers([['set-cookie', 'a=1'], ['X-Dup', 'x'], ['set-cookie', 'b=2; Path=/'], ['x-dup', 'y']]);
        return new Response('c', { headers });
      }
      if (path === '/pairs') return new Response('p', { headers: [['Set-Cookie', 'p=1'], ['set-cookie', 'q=2'], ['X-Trim', '  padded  ']] });
      if (path === '/edited') {
        const res = new Response('e', { headers: { 'x-before': '1' } });
        res.headers.set('x-after', '2');
        res.headers.delete('x-before');
        return res;
      }
      return new Response('hop', { headers: { Connection: 'keep-alive, x-foo', 'Keep-Alive': 'timeout=999', 'Transfer-Encoding': 'chunked', 'Content-Length': '999' } });
    });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET('/cookies') + GET('/pairs') + GET('/edited') + GET('/hop'));
      const cookies = await c.readResponse();
      assert.deepEqual(all(cookies, 'set-cookie'), ['a=1', 'b=2; Path=/']);
      assert.equal(cookies.header('x-dup'), 'x, y');
      const pairs = await c.readResponse();
      assert.deepEqual(all(pairs, 'set-cookie'), ['p=1', 'q=2']);
      assert.equal(pairs.header('x-trim'), 'padded');
      const edited = await c.readResponse();
      assert.deepEqual([edited.header('x-before'), edited.header('x-after')], [undefined, '2']);
      const hop = await c.readResponse();
      assert.deepEqual(all(hop, 'connection'), ['keep-alive']);
      assert.deepEqual(all(hop, 'keep-alive'), ['timeout=30, max=96']);
      assert.deepEqual([hop.framing, hop.header('content-length'), hop.header('transfer-encoding'), hop.body.toString()], ['length', '3', undefined, 'hop']);
      assert.equal(c.closedBy, null);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('HEAD, 204 and 304 send no body bytes; HEAD keeps the length of the body it would have sent', async () => {
    const cancelled: string[] = [];
    const t = await serve((req) => {
      const path = new URL(req.url).pathname;
      if (path === '/304') return new Response(null, { status: 304, headers: { etag: '"x"' } });
      if (path === '/204') return new Response(null, { status: 204 });
      if (path === '/stream')
        return new Response(new ReadableStream({ pull: (controller) => controller.enqueue(new Uint8Array(10)), cancel: () => void cancelled.push(path) }));
      return new Response('twelve bytes');
    });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(request('HEAD', '/text') + request('HEAD', '/stream') + GET('/304') + GET('/204') + GET('/after'));
      const head = await c.readResponse({ method: 'HEAD' });
      assert.deepEqual([head.status, head.header('content-length'), head.body.length], [200, '12', 0]);
      const headStream = await c.readResponse({ method: 'HEAD' });
      assert.deepEqual([headStream.status, headStream.body.length], [200, 0]);
      const notModified = await c.readResponse();
      assert.deepEqual([notModified.status, notModified.header('etag'), notModified.body.length], [304, '"x"', 0]);
      const noContent = await c.readResponse();
      assert.deepEqual([noContent.status, noContent.body.length], [204, 0]);
      assert.equal((await c.readResponse()).body.toString(), 'twelve bytes');
      assert.equal(c.unreadBytes, 0);
      assert.deepEqual(cancelled, ['/stream'], 'the stream a HEAD response does not send is cancelled');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('Response.json and Response.redirect; a real Response (built-in class) is streamed; a materialised one still sends its body', async () => {
    const t = await serve((req) => {
      const path = new URL(req.url).pathname;
      if (path === '/json') return Response.json({ ok: true }, { status: 202, headers: { 'x-extra': '1' } });
      if (path === '/redirect') return Response.redirect('http://t/elsewhere', 307);
      if (path === '/builtin') return new BuiltinResponse('from the built-in class', { status: 203, headers: { 'x-builtin': 'yes' } });
      const res = new Response('materialised');
      assert.ok(res.body instanceof ReadableStream);
      return res;
    });
    try {
      const json = await one(t, GET('/json'));
      assert.deepEqual([json.status, json.header('content-type'), json.header('x-extra'), json.body.toString()], [202, 'application/json', '1', '{"ok":true}']);
      const redirect = await one(t, GET('/redirect'));
      assert.deepEqual([redirect.status, redirect.header('location')], [307, 'http://t/elsewhere']);
      const builtin = await one(t, GET('/builtin'));
      assert.deepEqual([builtin.status, builtin.header('x-builtin'), builtin.header('content-type'), builtin.body.toString()], [203, 'yes', 'text/plain;charset=UTF-8', 'from the built-in class']);
      assert.equal((await one(t, GET('/other'))).body.toString(), 'materialised');
    } finally {
      await t.stop();
    }
  });

  test('Response.json keeps each Set-Cookie on its own line, as the built-in Response.json does (pairs, a Headers, a status text)', async () => {
    const twoCookies = (): Headers => {
      const headers = new Headers();
      headers.append('set-cookie', 'h=1; Path=/');
      headers.append('Set-Cookie', 'i=2');
      return headers;
    };
    const inits: Record<string, () => ResponseInit> = {
      '/pairs': () => ({ headers: [['set-cookie', 'a=1'], ['x-dup', 'x'], ['Set-Cookie', 'b=2; HttpOnly'], ['x-dup', 'y']] }),
      '/headers': () => ({ headers: twoCookies() }),
      '/status-text': () => ({ status: 201, statusText: 'Made', headers: [['set-cookie', 'c=3'], ['set-cookie', 'd=4']] }),
      '/typed': () => ({ headers: [['content-type', 'application/vnd.x+json'], ['set-cookie', 'e=5'], ['set-cookie', 'f=6']] }),
    };
    const t = await serve((req) => Response.json({ ok: 1 }, inits[new URL(req.url).pathname]()));
    const c = await RawConnection.connect(t.port);
    try {
      for (const [target, init] of Object.entries(inits)) {
        c.write(GET(target));
        const res = await c.readResponse();
        const builtin = BuiltinResponse.json({ ok: 1 }, init());
        assert.deepEqual(all(res, 'set-cookie'), builtin.headers.getSetCookie(), target);
        assert.equal(all(res, 'set-cookie').length, 2, target);
        assert.deepEqual([res.status, res.header('content-type'), res.body.toString()], [builtin.status, builtin.headers.get('content-type'), '{"ok":1}'], target);
        if (target === '/pairs') assert.equal(res.header('x-dup'), 'x, y');
      }
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('Response constructor errors stay the app’s, as with the built-in class', () => {
    fetchHandler(() => new Response());
    assert.throws(() => new Response('body', { status: 204 }), TypeError);
    assert.throws(() => new Response('x', { headers: { 'bad name': 'x' } }), TypeError);
    assert.throws(() => new Response('x', { headers: { ok: 'line\nbreak' } }), TypeError);
    assert.throws(() => new Response('x', { status: 99 }), RangeError);
    assert.throws(() => Response.redirect('http://t/', 200 as 301), RangeError);
    assert.equal(new Response('x', { status: 201, statusText: 'Made' }).statusText, 'Made');
    assert.ok(new BuiltinResponse('x') instanceof Response, 'a built-in Response is a Response');
    assert.ok(new Response('x') instanceof BuiltinResponse, 'a light Response is a built-in Response');
  });

  test('a throw, a rejection, or an answer that is not a Response → 500 and a handler-error line; the connection is kept', async () => {
    const t = await serve((req) => {
      const path = new URL(req.url).pathname;
      if (path === '/throw') throw new Error('thrown');
      if (path === '/reject') return Promise.reject(new Error('rejected'));
      if (path === '/error') return Response.error();
      return { not: 'a response' } as unknown as Response;
    });
    const c = await RawConnection.connect(t.port);
    try {
      for (const path of ['/throw', '/reject', '/error', '/object']) {
        c.write(GET(path));
        const res = await c.readResponse();
        assert.equal(res.status, 500, path);
        assert.equal(res.header('connection'), 'keep-alive', path);
      }
      const errors = handlerErrors(t);
      assert.equal(errors.length, 4);
      assert.match(errors[0], /thrown/);
      assert.match(errors[1], /rejected/);
      assert.match(errors[2], /Response\.error/);
      assert.match(errors[3], /must answer with a Response/);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('an error in the middle of a streamed body aborts the connection: no last chunk, a log line', async () => {
    const t = await serve(
      () =>
        new Response(
          new ReadableStream({
            async start(controller) {
              controller.enqueue(new TextEncoder().encode('partial'));
              await sleep(20);
              controller.error(new Error('the source failed'));
            },
          }),
        ),
    );
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET());
      await assert.rejects(c.readResponse(), /reset|closed/);
      assert.match(c.received.toString(), /\r\n\r\n7\r\npartial\r\n$/, 'the first chunk, then nothing');
      await t.closed(1);
      assert.equal(t.closes[0].reason, 'handler-error');
      assert.match(handlerErrors(t)[0] ?? '', /the source failed/);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a stream chunk that is not bytes is an error mid-stream too', async () => {
    const t = await serve(() => new Response(new ReadableStream<unknown>({ start: (controller) => controller.enqueue('a string') }) as ReadableStream<Uint8Array>));
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET());
      await assert.rejects(c.readResponse(), /reset|closed/);
      await t.closed(1);
      assert.match(handlerErrors(t)[0] ?? '', /Uint8Array/);
    } finally {
      c.destroy();
      await t.stop();
    }
  });
});

describe('fetchHandler with overrideGlobals: false', () => {
  test('the app gets built-in Requests, its built-in Responses are streamed, the globals stay', async () => {
    const child = await startChild(path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'builtin-globals.js'));
    try {
      const c = await RawConnection.connect(child.port);
      try {
        c.write(request('POST', '/p?q=1', {}, 'sent body') + GET('/g'));
        const post = await c.readResponse();
        assert.deepEqual(JSON.parse(post.body.toString()), { builtinRequest: true, globalsKept: true, url: 'http://t/p?q=1', body: 'sent body' });
        assert.deepEqual([post.framing, post.header('content-type'), post.header('set-cookie')], ['chunked', 'application/json', 'a=1']);
        assert.equal(JSON.parse((await c.readResponse()).body.toString()).body, null);
      } finally {
        c.destroy();
      }
    } finally {
      child.process.kill();
      await once(child.process, 'exit');
    }
  });
});
