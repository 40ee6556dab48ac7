import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AutoRouter, StatusError, json, text, withParams } from 'itty-router';
import { fetchHandler } from '../../src/index.js';
import { exchange, RawConnection, type ParsedResponse } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { honoApp, request } from './fixtures/hono-app.js';

async function one(t: TestServer, raw: string, method?: string): Promise<ParsedResponse> {
  return (await exchange(t.port, raw, { method }))[0];
}

const jsonOf = (res: ParsedResponse): unknown => JSON.parse(res.body.toString());
const all = (res: ParsedResponse, name: string): string[] => res.headers.filter(([n]) => n === name).map(([, v]) => v);

describe('Hono on fetchHandler', () => {
  test('routing with params, the query, and a 404 from notFound', async () => {
    const t = await startServer({}, fetchHandler(honoApp()));
    try {
      const hello = await one(t, request('GET', '/'));
      assert.equal(hello.status, 200);
      assert.equal(hello.body.toString(), 'Hello, World!');
      assert.equal(hello.header('content-type'), 'text/plain;charset=UTF-8');
      assert.equal(hello.header('content-length'), '13');
      assert.deepEqual(jsonOf(await one(t, request('GET', '/users/42'))), { id: '42' });
      assert.deepEqual(jsonOf(await one(t, request('GET', '/users/a%20b/posts/9'))), { id: 'a b', post: '9' });
      const search = await one(t, request('GET', '/search?q=caf%C3%A9&tag=a&tag=b'));
      assert.deepEqual(jsonOf(search), { q: 'café', tags: ['a', 'b'], url: '/search' });
      assert.equal(search.header('content-type'), 'application/json');
      const missing = await one(t, request('GET', '/nowhere'));
      assert.equal(missing.status, 404);
      assert.equal(missing.body.toString(), 'no route for /nowhere');
    } finally {
      await t.stop();
    }
  });

  test('JSON in and out, a text body, and a validator that rejects bad and malformed JSON', async () => {
    const t = await startServer({}, fetchHandler(honoApp()));
    try {
      const echoed = await one(t, request('POST', '/echo', { 'Content-Type': 'application/json' }, '{"a":[1,2],"b":"ü"}'));
      assert.equal(echoed.status, 201);
      assert.deepEqual(jsonOf(echoed), { got: { a: [1, 2], b: 'ü' }, type: 'application/json' });
      assert.equal((await one(t, request('POST', '/text', {}, 'héllo'))).body.toString(), '5 characters');
      const good = await one(t, request('POST', '/validated', { 'Content-Type': 'application/json' }, '{"name":"ada"}'));
      assert.deepEqual([good.status, jsonOf(good)], [200, { hello: 'ada' }]);
      const wrong = await one(t, request('POST', '/validated', { 'Content-Type': 'application/json' }, '{"name":7}'));
      assert.deepEqual([wrong.status, jsonOf(wrong)], [400, { error: 'name must be a string' }]);
      const malformed = await one(t, request('POST', '/validated', { 'Content-Type': 'application/json' }, '{"name":'));
      assert.equal(malformed.status, 400);
      assert.match(malformed.body.toString(), /Malformed JSON/);
    } finally {
      await t.stop();
    }
  });

  test('c.header, two cookies on two Set-Cookie lines, redirects, 204', async () => {
    const t = await startServer({}, fetchHandler(honoApp()));
    try {
      const headed = await one(t, request('GET', '/header'));
      assert.equal(headed.header('x-custom'), 'yes');
      assert.equal(headed.header('cache-control'), 'no-store');
      assert.equal(headed.body.toString(), 'with headers');
      const cookies = await one(t, request('GET', '/cookies'));
      assert.deepEqual(all(cookies, 'set-cookie'), ['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
      const moved = await one(t, request('GET', '/redirect'));
      assert.deepEqual([moved.status, moved.header('location'), moved.body.length], [302, '/users/7', 0]);
      const permanent = await one(t, request('GET', '/redirect-301'));
      assert.deepEqual([permanent.status, permanent.header('location')], [301, 'https://example.com/elsewhere']);
      const empty = await one(t, request('GET', '/no-content'));
      assert.deepEqual([empty.status, empty.framing, empty.header('content-length')], [204, 'none', undefined]);
    } finally {
      await t.stop();
    }
  });

  test('hono/streaming: stream and streamText arrive chunked, in order; SSE events parse', async () => {
    const t = await startServer({}, fetchHandler(honoApp()));
    const c = await RawConnection.connect(t.port);
    try {
      c.write(request('GET', '/stream'));
      const streamed = await c.readResponse();
      assert.deepEqual([streamed.status, streamed.framing, streamed.body.toString()], [200, 'chunked', 'one two']);
      c.write(request('GET', '/text-stream'));
      const lines = await c.readResponse();
      assert.equal(lines.framing, 'chunked');
      assert.equal(lines.header('content-type'), 'text/plain; charset=UTF-8');
      assert.equal(lines.body.toString(), 'line 1\nline 2\n');
      c.write(request('GET', '/sse'));
      const sse = await c.readResponse();
      assert.equal(sse.header('content-type'), 'text/event-stream');
      assert.equal(sse.header('cache-control'), 'no-cache');
      const events = sse.body.toString().trim().split('\n\n').map((block) => Object.fromEntries(block.split('\n').map((line) => line.split(': '))));
      assert.deepEqual(events, [0, 1, 2].map((i) => ({ event: 'tick', id: String(i), data: `tick ${i}` })));
      assert.equal(c.closedBy, null, 'the connection is kept after streamed responses');
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('onError answers a thrown error (no log line: the app handled it); an HTTPException keeps its status', async () => {
    const t = await startServer({}, fetchHandler(honoApp()));
    try {
      const failed = await one(t, request('GET', '/error'));
      assert.deepEqual([failed.status, failed.body.toString()], [500, 'handled: boom']);
      const teapot = await one(t, request('GET', '/teapot'));
      assert.deepEqual([teapot.status, teapot.body.toString()], [418, 'short and stout']);
      assert.equal(t.logs.filter((line) => line.includes('handler-error')).length, 0);
    } finally {
      await t.stop();
    }
  });

  test('HEAD on a GET route: the GET headers (Hono drops the body and with it the length, as on @hono/node-server), no body bytes, the connection kept', async () => {
    const t = await startServer({}, fetchHandler(honoApp()));
    const c = await RawConnection.connect(t.port);
    try {
      c.write(request('HEAD', '/users/42'));
      const head = await c.readResponse({ method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.header('content-type'), 'application/json');
      assert.equal(head.body.length, 0);
      c.write(request('GET', '/'));
      assert.equal((await c.readResponse()).body.toString(), 'Hello, World!');
      assert.equal(c.unreadBytes, 0, 'no body bytes after the HEAD response');
    } finally {
      c.destroy();
      await t.stop();
    }
  });
});

describe('itty-router on fetchHandler', () => {
  function ittyApp(): { fetch: (request: Request, ...rest: unknown[]) => Promise<Response> } {
    const router = AutoRouter({ before: [withParams] });
    router.get('/items/:id', ({ id }) => ({ id, kind: 'item' }));
    router.get('/plain', () => text('plain text'));
    router.post('/items', async (req) => json({ created: await req.json() }, { status: 201 }));
    router.get('/forbidden', () => {
      throw new StatusError(403, 'no entry');
    });
    router.get('/crash', () => {
      throw new Error('unexpected');
    });
    return router;
  }

  test('params, JSON in and out, text, StatusError, 404 and 500 from its own error handling', async () => {
    const t = await startServer({}, fetchHandler(ittyApp()));
    try {
      const item = await one(t, request('GET', '/items/7'));
      assert.deepEqual([item.status, item.header('content-type'), jsonOf(item)], [200, 'application/json; charset=utf-8', { id: '7', kind: 'item' }]);
      assert.equal((await one(t, request('GET', '/plain'))).body.toString(), 'plain text');
      const created = await one(t, request('POST', '/items', { 'content-type': 'application/json' }, '{"n":1}'));
      assert.deepEqual([created.status, jsonOf(created)], [201, { created: { n: 1 } }]);
      const forbidden = await one(t, request('GET', '/forbidden'));
      assert.deepEqual([forbidden.status, jsonOf(forbidden)], [403, { status: 403, error: 'no entry' }]);
      assert.equal((await one(t, request('GET', '/missing'))).status, 404);
      assert.equal((await one(t, request('GET', '/crash'))).status, 500);
    } finally {
      await t.stop();
    }
  });
});
