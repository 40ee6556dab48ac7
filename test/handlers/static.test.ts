import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { serveStatic, type StaticOptions } from '../../src/handlers/static.js';
import { RawConnection, type ParsedResponse } from '../helpers/raw-client.js';
import { GET, startServer } from '../helpers/server.js';

// Layout (tmp is the mkdtemp dir; the served root is tmp/root so that `/../secret` would hit tmp/secret):
//   tmp/secret                      SECRET content, outside the root
//   tmp/outside/secret.txt          SECRET content, outside the root
//   tmp/root/index.html, alpha.txt, style.css, app.js, data.json, pixel.png, .dotfile, big.bin,
//            page.txt (+ .br, .gz), "with space.txt", sub/index.html, sub/inner.txt,
//            noindex/{a.txt, <b>&"x'.txt, .hidden-in-dir, nested/}, link-in.txt -> alpha.txt,
//            link-out.txt -> tmp/secret, link-out-dir -> tmp/outside, leak.txt (+ .gz -> tmp/secret),
//            mutable.txt
let tmp = '';
let root = '';

const SECRET = 'TOP-SECRET-OUTSIDE-THE-ROOT';
const ALPHA = '0123456789abcdefghijklmnopqrstuvwxyz'; // 36 bytes
const INDEX_HTML = '<!doctype html><title>home</title><p>ROOT-INDEX</p>\n';
const SUB_INDEX = '<!doctype html><p>SUB-INDEX</p>\n';
const PAGE = 'the plain page body, compressible compressible compressible compressible\n';
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52]);
const BIG_SIZE = 3 * 1024 * 1024;
const FIXED_MTIME = new Date('2024-01-02T03:04:05.000Z');
const FIXED_HTTP_DATE = 'Tue, 02 Jan 2024 03:04:05 GMT';
const UGLY_NAME = `<b>&"x'.txt`;
let big: Buffer;
let pageBr: Buffer;
let pageGz: Buffer;

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-static-'));
  root = path.join(tmp, 'root');
  const w = (rel: string, data: string | Buffer): void => {
    const file = path.join(root, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, data);
    fs.utimesSync(file, FIXED_MTIME, FIXED_MTIME);
  };
  fs.writeFileSync(path.join(tmp, 'secret'), SECRET);
  fs.mkdirSync(path.join(tmp, 'outside'));
  fs.writeFileSync(path.join(tmp, 'outside', 'secret.txt'), SECRET);

  w('index.html', INDEX_HTML);
  w('alpha.txt', ALPHA);
  w('style.css', 'body { color: red }\n');
  w('app.js', 'console.log(1);\n');
  w('data.json', '{"ok":true}\n');
  w('pixel.png', PNG);
  w('.dotfile', 'DOTFILE-CONTENT');
  big = randomBytes(BIG_SIZE);
  w('big.bin', big);
  pageBr = brotliCompressSync(PAGE);
  pageGz = gzipSync(PAGE);
  w('page.txt', PAGE);
  w('page.txt.br', pageBr);
  w('page.txt.gz', pageGz);
  w('with space.txt', 'SPACE-CONTENT');
  w('sub/index.html', SUB_INDEX);
  w('sub/inner.txt', 'INNER');
  w('noindex/a.txt', 'A');
  w(`noindex/${UGLY_NAME}`, 'UGLY');
  w('noindex/.hidden-in-dir', 'HIDDEN');
  fs.mkdirSync(path.join(root, 'noindex', 'nested'));
  fs.symlinkSync('alpha.txt', path.join(root, 'link-in.txt'));
  fs.symlinkSync(path.join(tmp, 'secret'), path.join(root, 'link-out.txt'));
  fs.symlinkSync(path.join(tmp, 'outside'), path.join(root, 'link-out-dir'));
  w('leak.txt', 'inside');
  fs.symlinkSync(path.join(tmp, 'secret'), path.join(root, 'leak.txt.gz'));
  w('mutable.txt', 'v1');
});

after(() => {
  if (tmp !== '') fs.rmSync(tmp, { recursive: true, force: true });
});

/** Starts a server for serveStatic(root, opts), opens one keep-alive connection, and always cleans up. */
async function withStatic(opts: StaticOptions, fn: (c: RawConnection) => Promise<void>, dir?: string): Promise<void> {
  const t = await startServer({}, serveStatic(dir ?? root, opts));
  const c = await RawConnection.connect(t.port);
  try {
    await fn(c);
  } finally {
    c.destroy();
    await t.stop();
  }
}

function send(c: RawConnection, method: string, target: string, headers: Record<string, string> = {}): Promise<ParsedResponse> {
  let head = `${method} ${target} HTTP/1.1\r\nHost: t\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  c.write(`${head}\r\n`);
  return c.readResponse({ method });
}

const get = (c: RawConnection, target: string, headers?: Record<string, string>): Promise<ParsedResponse> => send(c, 'GET', target, headers);
const text = (r: ParsedResponse): string => r.body.toString('utf8');

/** An error response must not leak the filesystem layout or a stack trace. */
function assertCleanError(r: ParsedResponse): void {
  const body = text(r);
  assert.ok(!body.includes(tmp), `error body leaks the tmp path: ${JSON.stringify(body)}`);
  assert.ok(!body.includes(os.tmpdir() + path.sep), `error body leaks a filesystem path: ${JSON.stringify(body)}`);
  assert.doesNotMatch(body, /\n\s+at |ENOENT|EACCES|ENOTDIR|Error:/, `error body looks like a stack: ${JSON.stringify(body)}`);
  assert.ok(!body.includes(SECRET));
}

describe('serveStatic: methods, index, redirects', () => {
  test('GET serves bytes; HEAD has the same Content-Length and no body (same connection)', async () => {
    await withStatic({}, async (c) => {
      const g = await get(c, '/alpha.txt');
      assert.equal(g.status, 200);
      assert.equal(text(g), ALPHA);
      assert.equal(g.header('content-length'), String(ALPHA.length));
      const h = await send(c, 'HEAD', '/alpha.txt');
      assert.equal(h.status, 200);
      assert.equal(h.header('content-length'), String(ALPHA.length));
      assert.equal(h.header('etag'), g.header('etag'));
      assert.equal(h.body.length, 0);
      // Nothing stray followed the HEAD response: the next exchange parses cleanly.
      const again = await get(c, '/alpha.txt');
      assert.equal(text(again), ALPHA);
      assert.equal(c.unreadBytes, 0);
    });
  });

  test('other methods → 405 with Allow: GET, HEAD', async () => {
    await withStatic({}, async (c) => {
      for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
        c.write(`${method} /alpha.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n`);
        const r = await c.readResponse({ method });
        assert.equal(r.status, 405, method);
        assert.equal(r.header('allow'), 'GET, HEAD', method);
        assert.ok(!text(r).includes(ALPHA), method);
        assertCleanError(r);
      }
    });
  });

  test('/ serves index.html; /sub/ serves sub/index.html; a name with a space is served', async () => {
    await withStatic({}, async (c) => {
      const r = await get(c, '/');
      assert.equal(r.status, 200);
      assert.equal(text(r), INDEX_HTML);
      assert.equal(r.header('content-type'), 'text/html; charset=utf-8');
      const s = await get(c, '/sub/');
      assert.equal(s.status, 200);
      assert.equal(text(s), SUB_INDEX);
      const i = await get(c, '/sub/inner.txt');
      assert.equal(text(i), 'INNER');
      const sp = await get(c, '/with%20space.txt');
      assert.equal(sp.status, 200);
      assert.equal(text(sp), 'SPACE-CONTENT');
    });
  });

  test('a directory without its trailing slash → 301 to the slash form, query preserved', async () => {
    await withStatic({}, async (c) => {
      const r = await get(c, '/sub');
      assert.equal(r.status, 301);
      assert.equal(r.header('location'), '/sub/');
      const q = await get(c, '/sub?x=1&y=a%20b');
      assert.equal(q.status, 301);
      assert.equal(q.header('location'), '/sub/?x=1&y=a%20b');
      const n = await get(c, '/noindex');
      assert.equal(n.status, 301);
      assert.equal(n.header('location'), '/noindex/');
    });
  });

  test('a file named with a trailing slash → 404 (ENOTDIR, as nginx), even once cached; the file itself and directories unchanged', async () => {
    await withStatic({}, async (c) => {
      for (let round = 0; round < 2; round++) {
        for (const target of ['/alpha.txt/', '/alpha.txt/.', '/alpha.txt/%2e', '/sub/inner.txt/', '/link-in.txt/', '/alpha.txt//', '/alpha.txt/index.html']) {
          const r = await get(c, target);
          assert.equal(r.status, 404, `${target} → ${r.status}`);
          assert.ok(!text(r).includes(ALPHA) && !text(r).includes('INNER'), `${target} served the file`);
          assertCleanError(r);
        }
        assert.equal(text(await get(c, '/alpha.txt')), ALPHA);
        assert.equal(text(await get(c, '/sub/')), SUB_INDEX);
        assert.equal((await get(c, '/sub')).status, 301);
      }
    });
    await withStatic({ spa: true }, async (c) => {
      const r = await get(c, '/alpha.txt/');
      assert.equal(r.status, 200);
      assert.equal(text(r), INDEX_HTML); // an unknown path, like any other, gets the app
    });
  });

  test('the trailing-slash redirect for //sub must not be a protocol-relative (open) redirect', async () => {
    await withStatic({}, async (c) => {
      const r = await get(c, '//sub');
      // Location `//sub/` would send a browser to the host "sub". Either serve/redirect to a
      // single-slash path or refuse, but never emit a Location starting with // or /\.
      if (r.status === 301 || r.status === 302 || r.status === 308) {
        const location = r.header('location') ?? '';
        assert.match(location, /^\/(?![/\\])/, `open redirect: Location ${JSON.stringify(location)}`);
      } else {
        assert.ok([200, 400, 403, 404].includes(r.status), `status ${r.status}`);
      }
    });
  });

  test('a directory without index → 404 by default', async () => {
    await withStatic({}, async (c) => {
      const r = await get(c, '/noindex/');
      assert.equal(r.status, 404);
      assert.ok(!text(r).includes('a.txt'));
      assertCleanError(r);
      const missing = await get(c, '/nope.txt');
      assert.equal(missing.status, 404);
      assertCleanError(missing);
    });
  });

  test('{ list: true } lists the directory: names HTML-escaped, dotfiles hidden, dirs with /', async () => {
    await withStatic({ list: true }, async (c) => {
      const r = await get(c, '/noindex/');
      assert.equal(r.status, 200);
      assert.equal(r.header('content-type'), 'text/html; charset=utf-8');
      const body = text(r);
      assert.match(body, />a\.txt</);
      assert.match(body, />nested\/</);
      assert.ok(body.includes('&#60;b&#62;&#38;&#34;x&#39;.txt'), body);
      assert.ok(!body.includes('<b>'), 'raw file name markup in listing');
      assert.ok(!body.includes(`"x'`), 'unescaped quote from a file name');
      assert.ok(!body.includes('.hidden-in-dir'), 'dotfile listed');
      assert.ok(!body.includes(tmp), 'listing leaks the filesystem path');
      // The root has an index.html, so it is served rather than listed.
      assert.equal(text(await get(c, '/')), INDEX_HTML);
    });
  });

  test('HEAD of a listing carries the Content-Length GET would have', async () => {
    await withStatic({ list: true }, async (c) => {
      const g = await get(c, '/noindex/');
      assert.equal(g.status, 200);
      const h = await send(c, 'HEAD', '/noindex/');
      assert.equal(h.status, 200);
      assert.equal(h.body.length, 0);
      assert.equal(h.header('content-length'), String(g.body.length));
    });
  });

  test('a listing honours cacheControl like files do', async () => {
    await withStatic({ list: true, cacheControl: 'max-age=60' }, async (c) => {
      const file = await get(c, '/alpha.txt');
      assert.equal(file.header('cache-control'), 'max-age=60');
      const listing = await get(c, '/noindex/');
      assert.equal(listing.status, 200);
      assert.equal(listing.header('cache-control'), 'max-age=60');
    });
  });
});

describe('serveStatic: headers', () => {
  test('Content-Type by extension', async () => {
    await withStatic({}, async (c) => {
      const cases: Array<[string, string]> = [
        ['/index.html', 'text/html; charset=utf-8'],
        ['/style.css', 'text/css; charset=utf-8'],
        ['/app.js', 'text/javascript; charset=utf-8'],
        ['/data.json', 'application/json; charset=utf-8'],
        ['/pixel.png', 'image/png'],
        ['/alpha.txt', 'text/plain; charset=utf-8'],
      ];
      for (const [target, type] of cases) {
        const r = await get(c, target);
        assert.equal(r.status, 200, target);
        assert.equal(r.header('content-type'), type, target);
      }
      const png = await get(c, '/pixel.png');
      assert.ok(png.body.equals(PNG));
    });
  });

  test('ETag and Last-Modified present; Cache-Control defaults to no-cache', async () => {
    await withStatic({}, async (c) => {
      const r = await get(c, '/alpha.txt');
      assert.match(r.header('etag') ?? '', /^"[^"]+"$/);
      assert.equal(r.header('last-modified'), FIXED_HTTP_DATE);
      assert.equal(r.header('cache-control'), 'no-cache');
      assert.equal(r.header('accept-ranges'), 'bytes');
      assert.notEqual((await get(c, '/style.css')).header('etag'), r.header('etag'));
    });
  });

  test('{ cacheControl } is honoured; null omits the header', async () => {
    await withStatic({ cacheControl: 'max-age=60' }, async (c) => {
      const r = await get(c, '/alpha.txt');
      assert.equal(r.header('cache-control'), 'max-age=60');
      const nm = await get(c, '/alpha.txt', { 'If-None-Match': r.header('etag') ?? '' });
      assert.equal(nm.status, 304);
      assert.equal(nm.header('cache-control'), 'max-age=60');
    });
    await withStatic({ cacheControl: null }, async (c) => {
      assert.equal((await get(c, '/alpha.txt')).header('cache-control'), undefined);
    });
  });

  test('{ cors: true }: Access-Control-Allow-Origin on responses; OPTIONS preflight → 204', async () => {
    await withStatic({ cors: true }, async (c) => {
      const r = await get(c, '/alpha.txt', { Origin: 'http://example.test' });
      assert.equal(r.status, 200);
      assert.equal(r.header('access-control-allow-origin'), '*');
      const missing = await get(c, '/nope');
      assert.equal(missing.header('access-control-allow-origin'), '*');
      const pre = await send(c, 'OPTIONS', '/alpha.txt', {
        Origin: 'http://example.test',
        'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Headers': 'x-custom',
      });
      assert.equal(pre.status, 204);
      assert.equal(pre.body.length, 0);
      assert.equal(pre.header('access-control-allow-origin'), '*');
      assert.match(pre.header('access-control-allow-methods') ?? '', /GET/);
      assert.equal(pre.header('access-control-allow-headers'), 'x-custom');
    });
    await withStatic({}, async (c) => {
      const r = await get(c, '/alpha.txt');
      assert.equal(r.header('access-control-allow-origin'), undefined);
    });
  });
});

describe('serveStatic: conditional requests', () => {
  test('If-None-Match: exact, weak W/ form, list, * → 304 without body; mismatch → 200', async () => {
    await withStatic({}, async (c) => {
      const first = await get(c, '/alpha.txt');
      const etag = first.header('etag') ?? '';
      for (const value of [etag, `W/${etag}`, `"nope", ${etag}`, `"a", W/${etag}, "b"`, '*']) {
        const r = await get(c, '/alpha.txt', { 'If-None-Match': value });
        assert.equal(r.status, 304, value);
        assert.equal(r.body.length, 0, value);
        assert.equal(r.header('etag'), etag, value);
      }
      const head = await send(c, 'HEAD', '/alpha.txt', { 'If-None-Match': etag });
      assert.equal(head.status, 304);
      const miss = await get(c, '/alpha.txt', { 'If-None-Match': '"nope", W/"other"' });
      assert.equal(miss.status, 200);
      assert.equal(text(miss), ALPHA);
      assert.equal(c.unreadBytes, 0);
    });
  });

  test('If-Modified-Since → 304 when not modified, 200 when modified since', async () => {
    await withStatic({}, async (c) => {
      const same = await get(c, '/alpha.txt', { 'If-Modified-Since': FIXED_HTTP_DATE });
      assert.equal(same.status, 304);
      assert.equal(same.body.length, 0);
      const later = await get(c, '/alpha.txt', { 'If-Modified-Since': 'Wed, 03 Jan 2024 00:00:00 GMT' });
      assert.equal(later.status, 304);
      const earlier = await get(c, '/alpha.txt', { 'If-Modified-Since': 'Mon, 01 Jan 2024 00:00:00 GMT' });
      assert.equal(earlier.status, 200);
      assert.equal(text(earlier), ALPHA);
      const garbage = await get(c, '/alpha.txt', { 'If-Modified-Since': 'not a date' });
      assert.equal(garbage.status, 200);
    });
  });

  test('If-None-Match takes precedence over If-Modified-Since (RFC 9110 §13.2.2)', async () => {
    await withStatic({}, async (c) => {
      const etag = (await get(c, '/alpha.txt')).header('etag') ?? '';
      // The date alone would say 304; the failing If-None-Match must win → 200.
      const r = await get(c, '/alpha.txt', { 'If-None-Match': '"other"', 'If-Modified-Since': 'Fri, 01 Jan 2100 00:00:00 GMT' });
      assert.equal(r.status, 200);
      assert.equal(text(r), ALPHA);
      // The date alone would say 200; the matching If-None-Match must win → 304.
      const m = await get(c, '/alpha.txt', { 'If-None-Match': etag, 'If-Modified-Since': 'Thu, 01 Jan 1970 00:00:00 GMT' });
      assert.equal(m.status, 304);
    });
  });

  test('If-Match mismatch → 412; match or * → 200; weak If-Match never matches', async () => {
    await withStatic({}, async (c) => {
      const etag = (await get(c, '/alpha.txt')).header('etag') ?? '';
      const bad = await get(c, '/alpha.txt', { 'If-Match': '"other"' });
      assert.equal(bad.status, 412);
      assert.ok(!text(bad).includes(ALPHA));
      assertCleanError(bad);
      const weak = await get(c, '/alpha.txt', { 'If-Match': `W/${etag}` });
      assert.equal(weak.status, 412);
      assert.equal((await get(c, '/alpha.txt', { 'If-Match': etag })).status, 200);
      assert.equal((await get(c, '/alpha.txt', { 'If-Match': '*' })).status, 200);
      const ius = await get(c, '/alpha.txt', { 'If-Unmodified-Since': 'Mon, 01 Jan 2024 00:00:00 GMT' });
      assert.equal(ius.status, 412);
    });
  });
});

describe('serveStatic: ranges', () => {
  test('single ranges → 206 with Content-Range; suffix, open-ended and clamped forms', async () => {
    await withStatic({}, async (c) => {
      const cases: Array<[string, string, string]> = [
        ['bytes=0-9', '0123456789', 'bytes 0-9/36'],
        ['bytes=-5', 'vwxyz', 'bytes 31-35/36'],
        ['bytes=10-', ALPHA.slice(10), 'bytes 10-35/36'],
        ['bytes=30-1000', ALPHA.slice(30), 'bytes 30-35/36'],
        ['bytes=-100', ALPHA, 'bytes 0-35/36'],
        ['bytes=35-35', 'z', 'bytes 35-35/36'],
      ];
      for (const [range, body, contentRange] of cases) {
        const r = await get(c, '/alpha.txt', { Range: range });
        assert.equal(r.status, 206, range);
        assert.equal(text(r), body, range);
        assert.equal(r.header('content-range'), contentRange, range);
        assert.equal(r.header('content-length'), String(body.length), range);
      }
    });
  });

  test('unsatisfiable → 416 with Content-Range: bytes */size', async () => {
    await withStatic({}, async (c) => {
      for (const range of ['bytes=36-', 'bytes=100-200', 'bytes=-0']) {
        const r = await get(c, '/alpha.txt', { Range: range });
        assert.equal(r.status, 416, range);
        assert.equal(r.header('content-range'), 'bytes */36', range);
        assert.ok(!text(r).includes(ALPHA), range);
        assertCleanError(r);
      }
    });
  });

  test('several ranges and malformed ranges → 200 with the whole file', async () => {
    await withStatic({}, async (c) => {
      for (const range of ['bytes=0-1,5-6', 'bytes=abc', 'bytes=5-2', 'items=0-5', 'bytes=-', 'bytes 0-5']) {
        const r = await get(c, '/alpha.txt', { Range: range });
        assert.equal(r.status, 200, range);
        assert.equal(text(r), ALPHA, range);
        assert.equal(r.header('content-range'), undefined, range);
      }
    });
  });

  test('If-Range: matching ETag → 206; different ETag → 200 full body', async () => {
    await withStatic({}, async (c) => {
      const etag = (await get(c, '/alpha.txt')).header('etag') ?? '';
      const match = await get(c, '/alpha.txt', { Range: 'bytes=0-3', 'If-Range': etag });
      assert.equal(match.status, 206);
      assert.equal(text(match), '0123');
      const other = await get(c, '/alpha.txt', { Range: 'bytes=0-3', 'If-Range': '"different"' });
      assert.equal(other.status, 200);
      assert.equal(text(other), ALPHA);
      const date = await get(c, '/alpha.txt', { Range: 'bytes=0-3', 'If-Range': FIXED_HTTP_DATE });
      assert.equal(date.status, 206);
      const oldDate = await get(c, '/alpha.txt', { Range: 'bytes=0-3', 'If-Range': 'Mon, 01 Jan 2024 00:00:00 GMT' });
      assert.equal(oldDate.status, 200);
    });
  });

  test('a 3 MiB file sent from disk (file cache off) streams byte-exact; ranges in its middle too', async () => {
    await withStatic({ maxCacheBytes: 0 }, async (c) => {
      const full = await get(c, '/big.bin');
      assert.equal(full.status, 200);
      assert.equal(full.header('content-length'), String(BIG_SIZE));
      assert.equal(full.body.length, BIG_SIZE);
      assert.ok(full.body.equals(big), 'big file bytes differ');
      const start = 1_000_003;
      const end = 1_200_000; // spans several 64 KiB read chunks
      const part = await get(c, '/big.bin', { Range: `bytes=${start}-${end}` });
      assert.equal(part.status, 206);
      assert.equal(part.header('content-range'), `bytes ${start}-${end}/${BIG_SIZE}`);
      assert.ok(part.body.equals(big.subarray(start, end + 1)), 'range bytes differ');
      const tail = await get(c, '/big.bin', { Range: 'bytes=-7' });
      assert.ok(tail.body.equals(big.subarray(BIG_SIZE - 7)));
      const head = await send(c, 'HEAD', '/big.bin');
      assert.equal(head.header('content-length'), String(BIG_SIZE));
      assert.equal(head.body.length, 0);
      // Framing stayed exact: the connection still works.
      assert.equal(text(await get(c, '/alpha.txt')), ALPHA);
      assert.equal(c.unreadBytes, 0);
    });
  });
});

describe('serveStatic: pre-compressed siblings', () => {
  test('Accept-Encoding picks .br, then .gz, else identity; always Vary: Accept-Encoding', async () => {
    await withStatic({}, async (c) => {
      const br = await get(c, '/page.txt', { 'Accept-Encoding': 'br, gzip' });
      assert.equal(br.status, 200);
      assert.equal(br.header('content-encoding'), 'br');
      assert.equal(br.header('vary'), 'Accept-Encoding');
      assert.equal(br.header('content-type'), 'text/plain; charset=utf-8');
      assert.ok(br.body.equals(pageBr));
      assert.equal(brotliDecompressSync(br.body).toString(), PAGE);

      const gz = await get(c, '/page.txt', { 'Accept-Encoding': 'gzip' });
      assert.equal(gz.header('content-encoding'), 'gzip');
      assert.equal(gz.header('vary'), 'Accept-Encoding');
      assert.ok(gz.body.equals(pageGz));
      assert.equal(gunzipSync(gz.body).toString(), PAGE);

      const none = await get(c, '/page.txt');
      assert.equal(none.header('content-encoding'), undefined);
      assert.equal(none.header('vary'), 'Accept-Encoding');
      assert.equal(text(none), PAGE);

      const refused = await get(c, '/page.txt', { 'Accept-Encoding': 'br;q=0, gzip' });
      assert.equal(refused.header('content-encoding'), 'gzip');
      const brOff = await get(c, '/page.txt', { 'Accept-Encoding': 'br;q=0' });
      assert.equal(brOff.header('content-encoding'), undefined);
      assert.equal(text(brOff), PAGE);

      // Each representation has its own validator.
      const etags = new Set([br.header('etag'), gz.header('etag'), none.header('etag')]);
      assert.equal(etags.size, 3);

      // A file without siblings of a type not compressed on the fly does not vary.
      assert.equal((await get(c, '/pixel.png', { 'Accept-Encoding': 'br, gzip' })).header('vary'), undefined);
    });
  });

  test('a pre-compressed sibling that is a symlink out of the root is not served', async () => {
    await withStatic({}, async (c) => {
      const r = await get(c, '/leak.txt', { 'Accept-Encoding': 'gzip' });
      assert.ok(!text(r).includes(SECRET), `leak.txt.gz -> ${tmp}/secret was served`);
      assert.equal(r.status, 200);
      assert.equal(text(r), 'inside');
    });
  });
});

describe('serveStatic: path safety', () => {
  test('traversal attempts → 403/404 and never file content', async () => {
    await withStatic({}, async (c) => {
      const attempts = [
        '/../secret',
        '/%2e%2e/secret',
        '/..%2fsecret',
        '/%2e%2e%2fsecret',
        '/%2E%2E%2Fsecret',
        '/sub/../../secret',
        '/sub/..%5c..%5csecret',
        '/a%00b',
        '/alpha.txt%00.png',
        '//etc/passwd',
        '/link-out.txt',
        '/link-out-dir/secret.txt',
        '/link-out-dir/',
      ];
      for (const target of attempts) {
        const r = await get(c, target);
        assert.ok(r.status === 403 || r.status === 404, `${target} → ${r.status}`);
        assert.ok(!text(r).includes(SECRET), `${target} served the secret`);
        assert.ok(!text(r).includes('root:'), `${target} served /etc/passwd`);
        assertCleanError(r);
      }
      const bad = await get(c, '/%E0%A4%A');
      assert.equal(bad.status, 400);
      assertCleanError(bad);
    });
  });

  test('a raw backslash never reaches the handler: the parser refuses it (RFC 3986) with 400', async () => {
    const t = await startServer({}, serveStatic(root));
    try {
      for (const target of ['/..\\secret', '/sub\\..\\..\\secret']) {
        const c = await RawConnection.connect(t.port);
        try {
          const r = await get(c, target);
          assert.equal(r.status, 400, target);
          assert.ok(!text(r).includes(SECRET));
        } finally {
          c.destroy();
        }
      }
    } finally {
      await t.stop();
    }
  });

  test('a symlink pointing inside the root is served', async () => {
    await withStatic({}, async (c) => {
      const r = await get(c, '/link-in.txt');
      assert.equal(r.status, 200);
      assert.equal(text(r), ALPHA);
    });
  });

  test('dotfiles → 404 by default, served with { dotfiles: true }', async () => {
    await withStatic({}, async (c) => {
      for (const target of ['/.dotfile', '/%2edotfile', '/noindex/.hidden-in-dir']) {
        const r = await get(c, target);
        assert.equal(r.status, 404, target);
        assert.ok(!text(r).includes('DOTFILE-CONTENT') && !text(r).includes('HIDDEN'), target);
      }
    });
    await withStatic({ dotfiles: true }, async (c) => {
      const r = await get(c, '/.dotfile');
      assert.equal(r.status, 200);
      assert.equal(text(r), 'DOTFILE-CONTENT');
      // `..` stays forbidden even when dotfiles are served.
      const up = await get(c, '/../secret');
      assert.ok(up.status === 403 || up.status === 404);
      assert.ok(!text(up).includes(SECRET));
    });
  });

  test('serving the filesystem root "/" still serves files under it', async () => {
    const realFile = fs.realpathSync(path.join(root, 'alpha.txt'));
    const target = realFile.split(path.sep).map(encodeURIComponent).join('/');
    await withStatic(
      { dotfiles: true },
      async (c) => {
        const r = await get(c, target);
        assert.equal(r.status, 200, `${target} under root "/" → ${r.status}`);
        assert.equal(text(r), ALPHA);
      },
      '/',
    );
  });
});

describe('serveStatic: SPA and freshness', () => {
  test('{ spa: true }: unknown paths get index.html with 200; real files and traversal unchanged', async () => {
    await withStatic({ spa: true }, async (c) => {
      const r = await get(c, '/app/route/42');
      assert.equal(r.status, 200);
      assert.equal(r.header('content-type'), 'text/html; charset=utf-8');
      assert.equal(text(r), INDEX_HTML);
      assert.equal(text(await get(c, '/alpha.txt')), ALPHA);
      const up = await get(c, '/../secret');
      assert.equal(up.status, 403);
      assert.ok(!text(up).includes(SECRET));
    });
    await withStatic({}, async (c) => {
      assert.equal((await get(c, '/app/route/42')).status, 404);
    });
  });

  test('a file changed on disk is served fresh (memory cache revalidated by size and mtime)', async () => {
    const file = path.join(root, 'mutable.txt');
    await withStatic({}, async (c) => {
      const v1 = await get(c, '/mutable.txt');
      assert.equal(text(v1), 'v1');
      assert.equal(text(await get(c, '/mutable.txt')), 'v1'); // now cached

      fs.writeFileSync(file, 'version-2'); // different size
      const v2 = await get(c, '/mutable.txt');
      assert.equal(text(v2), 'version-2');
      assert.notEqual(v2.header('etag'), v1.header('etag'));

      fs.writeFileSync(file, 'version-3'); // same size…
      const newTime = new Date(Date.now() + 60_000);
      fs.utimesSync(file, newTime, newTime); // …and a clearly different mtime
      const v3 = await get(c, '/mutable.txt');
      assert.equal(text(v3), 'version-3');
      assert.notEqual(v3.header('etag'), v2.header('etag'));
      // The old validator no longer yields 304.
      const stale = await get(c, '/mutable.txt', { 'If-None-Match': v2.header('etag') ?? '' });
      assert.equal(stale.status, 200);
      assert.equal(text(stale), 'version-3');
    });
  });

  test('a cached file is stat\'ed once per event-loop turn: requests read together share a version, the next turn sees the change', async () => {
    const file = path.join(root, 'turns.txt');
    const version = (n: number): string => `v${'.'.repeat(n)}`; // a new size for every version
    fs.writeFileSync(file, version(0));
    const files = serveStatic(root);
    let answered = 0;
    // After each answer the file is rewritten synchronously: a request answered later in the same
    // turn still gets the version stat'ed at that turn's first request.
    const t = await startServer({}, (req) => {
      const response = files(req);
      fs.writeFileSync(file, version(++answered));
      return response;
    });
    const c = await RawConnection.connect(t.port);
    try {
      assert.equal(text(await get(c, '/turns.txt')), version(0));
      assert.equal(text(await get(c, '/turns.txt')), version(1)); // a later turn: the change is seen
      // Three pipelined requests in one write are read, and answered, in one turn.
      c.write(GET('/turns.txt') + GET('/turns.txt') + GET('/turns.txt'));
      const together = [await c.readResponse(), await c.readResponse(), await c.readResponse()].map(text);
      assert.deepEqual(together, [version(2), version(2), version(2)]);
      assert.equal(text(await get(c, '/turns.txt')), version(5));
    } finally {
      c.destroy();
      await t.stop();
      fs.rmSync(file, { force: true });
    }
  });
});

describe('serveStatic: a fallback answered from memory gives way to the real file in the next turn', () => {
  /** Asks twice (the second answer comes from the fast table), changes the disk, asks again in a later turn. */
  async function fallbackThenReal(opts: StaticOptions, layout: Record<string, string>, target: string, change: (dir: string) => void, check: (r: ParsedResponse) => void, fallback: string): Promise<void> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-fallback-'));
    try {
      for (const [rel, body] of Object.entries(layout)) {
        fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
        fs.writeFileSync(path.join(dir, rel), body);
      }
      await withStatic(opts, async (c) => {
        assert.equal(text(await get(c, target)), fallback);
        assert.equal(text(await get(c, target)), fallback);
        change(dir);
        await new Promise(setImmediate);
        check(await get(c, target));
      }, dir);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  test('{ spa }: a file that appears at a path the index answered', async () => {
    await fallbackThenReal({ spa: true }, { 'index.html': '<p>APP</p>' }, '/data.json', (dir) => fs.writeFileSync(path.join(dir, 'data.json'), '{"real":true}'), (r) => {
      assert.equal(r.status, 200);
      assert.equal(text(r), '{"real":true}');
    }, '<p>APP</p>');
    await fallbackThenReal({ spa: true }, { 'index.html': '<p>APP</p>' }, '/deep/er.txt', (dir) => {
      fs.mkdirSync(path.join(dir, 'deep'));
      fs.writeFileSync(path.join(dir, 'deep', 'er.txt'), 'DEEPER');
    }, (r) => assert.equal(text(r), 'DEEPER'), '<p>APP</p>');
  });

  test('{ spa, cleanUrls }: an .html page that appears at a path the index answered', async () => {
    await fallbackThenReal({ spa: true, cleanUrls: true }, { 'index.html': '<p>APP</p>' }, '/about', (dir) => fs.writeFileSync(path.join(dir, 'about.html'), '<p>ABOUT</p>'), (r) => assert.equal(text(r), '<p>ABOUT</p>'), '<p>APP</p>');
  });

  test('{ cleanUrls }: a file named as the path, or an index in the directory passed over, takes over from the .html page', async () => {
    await fallbackThenReal({ cleanUrls: true }, { 'about.html': '<p>ABOUT</p>' }, '/about', (dir) => fs.writeFileSync(path.join(dir, 'about'), 'PLAIN ABOUT'), (r) => assert.equal(text(r), 'PLAIN ABOUT'), '<p>ABOUT</p>');
    await fallbackThenReal({ cleanUrls: true }, { 'blog.html': '<p>BLOG</p>', 'blog/post-1.html': '<p>POST</p>' }, '/blog', (dir) => fs.writeFileSync(path.join(dir, 'blog', 'index.html'), '<p>BLOG INDEX</p>'), (r) => {
      assert.equal(r.status, 301);
      assert.equal(r.header('location'), '/blog/');
    }, '<p>BLOG</p>');
  });
});

describe('serveStatic: a root that is a symlink swapped to a new release', () => {
  // An atomic deploy: `current -> rel1`, then `ln -sfn rel2 tmp && mv -T tmp current`.
  // rel1 and rel2 hold the same names; same.txt has the same size and mtime in both (a build that
  // pins mtimes), page.css is compressible (its gzip form is kept with the cached file).
  const CSS = (tag: string): string => `/* ${tag} */\n${'.rule { color: red; margin: 0 }\n'.repeat(80)}`;
  function release(dir: string, tag: string, other: string): void {
    fs.mkdirSync(dir);
    fs.symlinkSync(path.join('..', other, 'index.html'), path.join(dir, 'other.txt'));
    fs.writeFileSync(path.join(dir, 'index.html'), `<p>${tag}</p>`);
    fs.writeFileSync(path.join(dir, 'same.txt'), `same-${tag}`);
    fs.utimesSync(path.join(dir, 'same.txt'), FIXED_MTIME, FIXED_MTIME);
    fs.writeFileSync(path.join(dir, 'page.css'), CSS(tag));
    fs.symlinkSync(path.join(tmp, 'secret'), path.join(dir, 'out.txt'));
  }
  function swap(base: string, to: string): void {
    const next = path.join(base, 'current.next');
    fs.symlinkSync(to, next);
    fs.renameSync(next, path.join(base, 'current'));
  }

  test('after the swap every file is served from the new release (memory cache and fast answers too); links out (and into the old release) stay refused', async () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-deploy-'));
    try {
      release(path.join(base, 'rel1'), 'one', 'rel2');
      release(path.join(base, 'rel2'), 'two', 'rel1');
      swap(base, 'rel1');
      const files = serveStatic(path.join(base, 'current'));
      const t = await startServer({}, files);
      const c = await RawConnection.connect(t.port);
      try {
        const expectRelease = async (tag: string): Promise<void> => {
          for (let round = 0; round < 2; round++) {
            // Asked first after a swap: a link into the other release is outside the root now.
            const other = await get(c, '/other.txt');
            assert.equal(other.status, 403, `/other.txt (${tag}) → ${other.status}`);
            const home = await get(c, '/');
            assert.equal(home.status, 200, `/ (${tag}) → ${home.status}`);
            assert.equal(text(home), `<p>${tag}</p>`);
            const same = await get(c, '/same.txt');
            assert.equal(same.status, 200);
            assert.equal(text(same), `same-${tag}`);
            const css = await get(c, '/page.css', { 'Accept-Encoding': 'gzip' });
            assert.equal(css.status, 200);
            assert.equal(css.header('content-encoding'), 'gzip');
            assert.equal(gunzipSync(css.body).toString('utf8'), CSS(tag));
            assert.equal(text(await get(c, '/page.css')), CSS(tag));
            const out = await get(c, '/out.txt');
            assert.ok(out.status === 403 || out.status === 404, `/out.txt (${tag}) → ${out.status}`);
            assert.ok(!text(out).includes(SECRET));
            await files.cache.settled(); // the kept gzip form is made: the next round is answered from memory
          }
        };
        await expectRelease('one');
        swap(base, 'rel2');
        await expectRelease('two');
        swap(base, 'rel1');
        await expectRelease('one');
      } finally {
        c.destroy();
        await t.stop();
      }
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });
});

describe('serveStatic: conveniences', () => {
  /** A root of its own: about.html, docs/intro.html, docs/ (a directory), 404.html, hello.txt. */
  function site(with404: boolean): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-conveniences-'));
    fs.writeFileSync(path.join(dir, 'about.html'), '<p>ABOUT</p>');
    fs.mkdirSync(path.join(dir, 'docs'));
    fs.writeFileSync(path.join(dir, 'docs', 'intro.html'), '<p>INTRO</p>');
    fs.writeFileSync(path.join(dir, 'docs.html'), '<p>DOCS PAGE</p>');
    fs.writeFileSync(path.join(dir, 'hello.txt'), 'hello');
    if (with404) fs.writeFileSync(path.join(dir, '404.html'), '<p>NOT HERE</p>');
    return dir;
  }

  test('a 404.html in the root answers what is not found (GET and HEAD), without validators; null turns it off', async () => {
    const dir = site(true);
    try {
      await withStatic({}, async (c) => {
        const r = await get(c, '/nope/deeper');
        assert.equal(r.status, 404);
        assert.equal(text(r), '<p>NOT HERE</p>');
        assert.equal(r.header('content-type'), 'text/html; charset=utf-8');
        assert.equal(r.header('etag'), undefined);
        assert.equal(r.header('last-modified'), undefined);
        const h = await send(c, 'HEAD', '/nope');
        assert.equal(h.status, 404);
        assert.equal(h.header('content-length'), String('<p>NOT HERE</p>'.length));
        assert.equal(h.body.length, 0);
        assert.equal((await get(c, '/nope', { Range: 'bytes=0-1' })).status, 404);
        assert.equal(text(await get(c, '/docs/missing.html')), '<p>NOT HERE</p>');
      }, dir);
      await withStatic({ notFoundPage: null }, async (c) => {
        const r = await get(c, '/nope');
        assert.equal(r.status, 404);
        assert.equal(text(r), 'Not Found\n');
      }, dir);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    await withStatic({}, async (c) => assert.equal(text(await get(c, '/nope')), 'Not Found\n'));
  });

  test('{ cleanUrls }: /about → about.html when nothing is named about; directories and real files first', async () => {
    const dir = site(false);
    try {
      await withStatic({ cleanUrls: true }, async (c) => {
        const about = await get(c, '/about');
        assert.equal(about.status, 200);
        assert.equal(text(about), '<p>ABOUT</p>');
        assert.equal(about.header('content-type'), 'text/html; charset=utf-8');
        assert.equal(text(await get(c, '/docs/intro')), '<p>INTRO</p>');
        assert.equal(text(await get(c, '/docs')), '<p>DOCS PAGE</p>', 'docs.html comes before the directory docs/, which has no index');
        assert.equal(text(await get(c, '/about.html')), '<p>ABOUT</p>');
        assert.equal((await get(c, '/about/')).status, 404);
        assert.equal((await get(c, '/hello')).status, 404, 'only .html');
      }, dir);
      await withStatic({}, async (c) => assert.equal((await get(c, '/about')).status, 404), dir);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('{ cleanUrls }: blog.html beside a directory blog/ without an index serves /blog (a static export); with an index, 301', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-clean-dir-'));
    try {
      fs.writeFileSync(path.join(dir, 'blog.html'), '<p>BLOG</p>');
      fs.mkdirSync(path.join(dir, 'blog'));
      fs.writeFileSync(path.join(dir, 'blog', 'post-1.html'), '<p>POST</p>');
      await withStatic({ cleanUrls: true }, async (c) => {
        const blog = await get(c, '/blog?page=2');
        assert.equal(blog.status, 200);
        assert.equal(text(blog), '<p>BLOG</p>');
        assert.equal(text(await get(c, '/blog/post-1')), '<p>POST</p>');
        assert.equal((await get(c, '/blog/')).status, 404, 'the directory itself still has no index');
      }, dir);
      fs.writeFileSync(path.join(dir, 'blog', 'index.html'), '<p>BLOG INDEX</p>');
      await withStatic({ cleanUrls: true }, async (c) => {
        const moved = await get(c, '/blog');
        assert.equal(moved.status, 301, 'a directory with an index keeps its redirect');
        assert.equal(moved.header('location'), '/blog/');
        assert.equal(text(await get(c, '/blog/')), '<p>BLOG INDEX</p>');
      }, dir);
      await withStatic({}, async (c) => assert.equal((await get(c, '/blog')).status, 301, 'without cleanUrls the directory answers'), dir);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('{ headers } are added to every response: files, 304, 404, 301, 405', async () => {
    await withStatic({ headers: { 'X-Frame-Options': 'DENY', 'content-security-policy': "default-src 'self'" } }, async (c) => {
      const ok = await get(c, '/alpha.txt');
      const notModified = await get(c, '/alpha.txt', { 'If-None-Match': ok.header('etag') ?? '' });
      const missing = await get(c, '/nope');
      const moved = await get(c, '/sub');
      c.write('POST /alpha.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n');
      const notAllowed = await c.readResponse({ method: 'POST' });
      for (const r of [ok, notModified, missing, moved, notAllowed]) {
        assert.equal(r.header('x-frame-options'), 'DENY', String(r.status));
        assert.equal(r.header('content-security-policy'), "default-src 'self'", String(r.status));
      }
      assert.deepEqual([ok.status, notModified.status, missing.status, moved.status, notAllowed.status], [200, 304, 404, 301, 405]);
    });
  });

  test('invalid options throw a TypeError that says what is wrong', () => {
    const cases: Array<[StaticOptions, RegExp]> = [
      [{ headers: { 'Content-Length': '5' } }, /headers: Content-Length is set by the server itself/],
      [{ headers: { 'Bad Name': 'x' } }, /headers: "Bad Name" is not a field name/],
      [{ headers: { 'X-A': 'a\r\nX-B: b' } }, /headers: the value of X-A holds a control character/],
      [{ headers: { 'Cache-Control': 'max-age=1' } }, /Cache-Control has its own option/],
      [{ headers: { 'X-A': 5 as unknown as string } }, /the value of X-A must be a string/],
      [{ cacheControl: 'max-age=1\r\nX-Injected: 1' }, /option cacheControl must be a field value/],
      [{ cacheControl: '' }, /option cacheControl/],
      [{ notFoundPage: '' }, /option notFoundPage/],
    ];
    for (const [options, pattern] of cases) assert.throws(() => serveStatic(root, options), (error: Error) => error instanceof TypeError && pattern.test(error.message), JSON.stringify(options));
  });
});
