/**
 * The apps of the bench's app scenarios, served the same by holdfast's fetchHandler and by
 * @hono/node-server: `GET /` → `Hello, World!` (text/plain), `GET /users/:id` → a small JSON object
 * naming the id. `hono` is a Hono app; `fetch` is a plain fetch function doing the same by hand.
 */

import { Hono } from 'hono';

export const HELLO = 'Hello, World!';

export function honoApp(): Hono {
  const app = new Hono();
  app.get('/', (c) => c.text(HELLO));
  app.get('/users/:id', (c) => c.json({ id: c.req.param('id'), name: `user ${c.req.param('id')}` }));
  return app;
}

const TEXT = { 'content-type': 'text/plain' };
const JSON_TYPE = { 'content-type': 'application/json' };
const USERS = '/users/';

/** The path of an absolute URL (`http://host/path?query` → `/path`). */
function pathOf(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  const query = url.indexOf('?', start);
  return url.slice(start, query === -1 ? url.length : query);
}

export function plainFetch(request: Request): Response {
  const path = pathOf(request.url);
  if (path === '/') return new Response(HELLO, { headers: TEXT });
  if (path.startsWith(USERS) && path.length > USERS.length && path.indexOf('/', USERS.length) === -1) {
    const id = decodeURIComponent(path.slice(USERS.length));
    return new Response(JSON.stringify({ id, name: `user ${id}` }), { headers: JSON_TYPE });
  }
  return new Response('not found\n', { status: 404, headers: TEXT });
}

export type AppName = 'hono' | 'fetch';

export function appFetch(name: string): (request: Request) => Response | Promise<Response> {
  if (name === 'hono') {
    const app = honoApp();
    return (request) => app.fetch(request);
  }
  if (name === 'fetch') return plainFetch;
  throw new Error(`unknown app ${JSON.stringify(name)} (hono or fetch)`);
}
