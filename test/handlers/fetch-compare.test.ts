import assert from 'node:assert/strict';
import { once } from 'node:events';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fetchHandler } from '../../src/index.js';
import { RawConnection, type ParsedResponse } from '../helpers/raw-client.js';
import { startServer } from '../helpers/server.js';
import { startChild } from './fixtures/child.js';
import { honoApp, request } from './fixtures/hono-app.js';

const PEER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'hono-node-server.js');

/** Fields that belong to the connection and the framing, not to what the app said. */
const FRAMING = new Set(['date', 'connection', 'keep-alive', 'server', 'transfer-encoding', 'content-length']);

const JSON_TYPE = { 'Content-Type': 'application/json' };

/**
 * Where @hono/node-server departs from a WHATWG Response, holdfast follows the standard: its
 * lightweight Response labels any body without a Content-Type `text/plain` (a built-in Response
 * gives a stream body no Content-Type; Hono's stream() sets none).
 */
const PEER_ONLY_FIELDS: Record<string, Array<[string, string]>> = {
  'GET /stream HTTP/1.1': [['content-type', 'text/plain; charset=utf-8']],
};

const REQUESTS: Array<{ raw: string; method?: string }> = [
  { raw: request('GET', '/') },
  { raw: request('GET', '/users/42') },
  { raw: request('GET', '/users/a%20b/posts/9') },
  { raw: request('GET', '/search?q=caf%C3%A9&tag=a&tag=b') },
  { raw: request('GET', '/a/../users/3') },
  { raw: request('POST', '/echo', JSON_TYPE, '{"a":[1,2],"b":"ü"}') },
  { raw: request('POST', '/text', {}, 'héllo wörld') },
  { raw: request('POST', '/validated', JSON_TYPE, '{"name":"ada"}') },
  { raw: request('POST', '/validated', JSON_TYPE, '{"name":7}') },
  { raw: request('POST', '/validated', JSON_TYPE, '{"name":') },
  { raw: request('GET', '/header') },
  { raw: request('GET', '/cookies') },
  { raw: request('GET', '/redirect') },
  { raw: request('GET', '/redirect-301') },
  { raw: request('GET', '/stream') },
  { raw: request('GET', '/text-stream') },
  { raw: request('GET', '/sse') },
  { raw: request('GET', '/no-content') },
  { raw: request('GET', '/error') },
  { raw: request('GET', '/teapot') },
  { raw: request('GET', '/nowhere') },
  { raw: request('DELETE', '/users/1') },
  { raw: request('HEAD', '/'), method: 'HEAD' },
  { raw: request('HEAD', '/users/42'), method: 'HEAD' },
];

interface Answer {
  status: number;
  body: string;
  fields: Array<[string, string]>;
}

function semantic(res: ParsedResponse): Answer {
  const fields = res.headers.filter(([name]) => !FRAMING.has(name)).map(([name, value]): [string, string] => [name, name === 'content-type' ? value.replace(/; ?/g, '; ').toLowerCase() : value]);
  fields.sort(([a, x], [b, y]) => (a === b ? (x < y ? -1 : 1) : a < b ? -1 : 1));
  return { status: res.status, body: res.body.toString(), fields };
}

async function answers(port: number): Promise<Answer[]> {
  const c = await RawConnection.connect(port);
  try {
    const out: Answer[] = [];
    for (const { raw, method } of REQUESTS) {
      c.write(raw);
      out.push(semantic(await c.readResponse({ method })));
    }
    return out;
  } finally {
    c.destroy();
  }
}

describe('the same Hono app on holdfast and on @hono/node-server', () => {
  test('every request gets the same status, body and fields (framing and connection fields aside)', async () => {
    const peer = await startChild(PEER);
    const t = await startServer({}, fetchHandler(honoApp()));
    try {
      const [ours, theirs] = await Promise.all([answers(t.port), answers(peer.port)]);
      assert.equal(ours.length, REQUESTS.length);
      const differences: string[] = [];
      for (let i = 0; i < REQUESTS.length; i++) {
        const line = REQUESTS[i].raw.split('\r\n')[0];
        for (const extra of PEER_ONLY_FIELDS[line] ?? []) {
          const at = theirs[i].fields.findIndex((field) => field[0] === extra[0] && field[1] === extra[1]);
          assert.notEqual(at, -1, `${line}: @hono/node-server no longer adds ${extra.join(': ')}`);
          theirs[i].fields.splice(at, 1);
        }
        try {
          assert.deepEqual(ours[i], theirs[i]);
        } catch {
          differences.push(`${line}\n  holdfast: ${JSON.stringify(ours[i])}\n  @hono/node-server: ${JSON.stringify(theirs[i])}`);
        }
      }
      assert.deepEqual(differences, []);
    } finally {
      peer.process.kill();
      await once(peer.process, 'exit');
      await t.stop();
    }
  });
});
