import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { acceptedEncodings, chooseCoding, compressStream, isCompressible, keptLevel, MIN_COMPRESS_BYTES } from '../../src/handlers/encoding.js';
import { serveStatic, type StaticHandler, type StaticOptions } from '../../src/handlers/static.js';
import type { Handler } from '../../src/handlers/types.js';
import { RawConnection, type ParsedResponse } from '../helpers/raw-client.js';
import { sleep, startServer } from '../helpers/server.js';

// Layout: app.js (20 KiB of JavaScript-like text), big.js (300 KiB, above the small-file size),
// tiny.js (200 bytes, below MIN_COMPRESS_BYTES), noise.txt (16 KiB of random bytes: text that does
// not compress), image.png (random), page.css + page.css.gz (a pre-compressed sibling).
let root = '';
let app: Buffer;
let big: Buffer;
let tiny: Buffer;
let page: Buffer;

/** Deterministic JavaScript-like text: repetitive enough to compress, varied enough to be real work. */
function javascript(bytes: number, seed: number): Buffer {
  const words = ['function', 'return', 'const', 'value', 'length', 'index', 'push', 'result', 'options', 'undefined', 'this', 'node'];
  let text = '';
  let state = seed;
  while (text.length < bytes) {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    const a = words[state % words.length];
    const b = words[(state >>> 8) % words.length];
    text += `${a} ${b}_${(state >>> 16) % 97}(x) { ${b}.${a} = x + ${state % 1000}; }\n`;
  }
  return Buffer.from(text.slice(0, bytes));
}

before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-compress-'));
  app = javascript(20_000, 1);
  big = javascript(300_000, 2);
  tiny = javascript(200, 3);
  page = javascript(8_000, 4);
  fs.writeFileSync(path.join(root, 'app.js'), app);
  fs.writeFileSync(path.join(root, 'big.js'), big);
  fs.writeFileSync(path.join(root, 'tiny.js'), tiny);
  fs.writeFileSync(path.join(root, 'noise.txt'), randomBytes(16_384));
  fs.writeFileSync(path.join(root, 'image.png'), randomBytes(20_000));
  fs.writeFileSync(path.join(root, 'page.css'), page);
  fs.writeFileSync(path.join(root, 'page.css.gz'), gzipSync(page));
});

after(() => fs.rmSync(root, { recursive: true, force: true }));

async function withFiles(options: StaticOptions, fn: (c: RawConnection, files: StaticHandler) => Promise<void>): Promise<void> {
  const files = serveStatic(root, options);
  const t = await startServer({}, files);
  const c = await RawConnection.connect(t.port);
  try {
    await fn(c, files);
  } finally {
    c.destroy();
    await t.stop();
  }
}

function send(c: RawConnection, target: string, fields: Record<string, string> = {}, method = 'GET'): Promise<ParsedResponse> {
  let head = `${method} ${target} HTTP/1.1\r\nHost: t\r\n`;
  for (const [name, value] of Object.entries(fields)) head += `${name}: ${value}\r\n`;
  c.write(`${head}\r\n`);
  return c.readResponse({ method });
}

/** The body as sent, decoded by its Content-Encoding. */
function decoded(r: ParsedResponse): Buffer {
  const coding = r.header('content-encoding');
  if (coding === 'br') return brotliDecompressSync(r.body);
  if (coding === 'gzip') return gunzipSync(r.body);
  assert.equal(coding, undefined);
  return r.body;
}

/**
 * What every kept br form answers besides itself (`kept`, a 200 of it): HEAD with its length and
 * ETag, 304 for its ETag but not for another representation's, 412, Vary on each, a Range from the
 * identity representation, or the whole form when the request refuses identity.
 */
async function checkKeptForm(c: RawConnection, target: string, content: Buffer, kept: ParsedResponse): Promise<void> {
  const etag = kept.header('etag') ?? '';
  assert.equal(kept.header('content-encoding'), 'br');
  const head = await send(c, target, { 'Accept-Encoding': 'br' }, 'HEAD');
  assert.equal(head.header('content-encoding'), 'br');
  assert.equal(head.header('content-length'), String(kept.body.length));
  assert.equal(head.header('etag'), etag);
  assert.equal(head.header('vary'), 'Accept-Encoding');
  assert.equal(head.body.length, 0);
  const notModified = await send(c, target, { 'Accept-Encoding': 'br', 'If-None-Match': etag });
  assert.equal(notModified.status, 304);
  assert.equal(notModified.header('etag'), etag);
  assert.equal(notModified.header('vary'), 'Accept-Encoding');
  assert.equal(notModified.body.length, 0);
  const otherRepresentation = await send(c, target, { 'Accept-Encoding': 'gzip', 'If-None-Match': etag });
  assert.equal(otherRepresentation.status, 200);
  assert.equal(otherRepresentation.header('content-encoding'), 'gzip');
  const failed = await send(c, target, { 'Accept-Encoding': 'br', 'If-Match': '"other"' });
  assert.equal(failed.status, 412);
  assert.equal(failed.header('vary'), 'Accept-Encoding');
  const range = await send(c, target, { 'Accept-Encoding': 'br', Range: 'bytes=1000-1999' });
  assert.equal(range.status, 206);
  assert.equal(range.header('content-encoding'), undefined);
  assert.equal(range.header('vary'), 'Accept-Encoding');
  assert.ok(range.body.equals(content.subarray(1000, 2000)));
  const refused = await send(c, target, { 'Accept-Encoding': 'br, identity;q=0', Range: 'bytes=1000-1999' });
  assert.equal(refused.status, 200);
  assert.equal(refused.header('etag'), etag);
  assert.ok(refused.body.equals(kept.body), 'the whole kept form');
  assert.equal(c.unreadBytes, 0);
}

describe('Accept-Encoding negotiation', () => {
  test('q-values, identity;q=0, * and x-gzip pick the coding RFC 9110 §12.5.3 says', () => {
    const table: Array<[string | undefined, string | null]> = [
      [undefined, null],
      ['', null],
      ['br, gzip', 'br'],
      ['gzip, br', 'br'],
      ['gzip', 'gzip'],
      ['GZIP', 'gzip'],
      ['x-gzip', 'gzip'],
      ['deflate', null],
      ['gzip;q=1, br;q=0.5', 'gzip'],
      ['br;q=0.001', 'br'],
      ['br;q=0, gzip;q=0', null],
      ['gzip;q=0.5', 'gzip'],
      ['gzip;q=0.5, identity', null],
      ['gzip, identity;q=0.5', 'gzip'],
      ['*', 'br'],
      ['*;q=0.5, gzip', 'gzip'],
      ['*;q=0, gzip', 'gzip'],
      ['gzip;q=2', null],
      ['gzip;q=0.1234', null],
      ['gzip ; q=0.8 , br ; q=0.9', 'br'],
      ['br;q=0, *', 'gzip'],
    ];
    for (const [header, expected] of table) assert.equal(chooseCoding(acceptedEncodings(header), true, true), expected, String(header));
  });

  test('identity is refused by identity;q=0, and by *;q=0 unless identity is named', () => {
    assert.equal(acceptedEncodings('identity;q=0').identity, 0);
    assert.equal(acceptedEncodings('*;q=0').identity, 0);
    assert.equal(acceptedEncodings('*;q=0, identity').identity, 1);
    assert.ok(acceptedEncodings('gzip').identity > 0);
    assert.equal(acceptedEncodings(undefined).identity, 1);
  });

  test('only what is available is chosen', () => {
    assert.equal(chooseCoding(acceptedEncodings('br, gzip'), false, true), 'gzip');
    assert.equal(chooseCoding(acceptedEncodings('br'), false, true), null);
    assert.equal(chooseCoding(acceptedEncodings('br, gzip'), false, false), null);
  });

  test('compressible types: text, JSON, JavaScript, XML, SVG, wasm, uncompressed fonts; never images, archives, media, woff', () => {
    for (const type of ['text/html; charset=utf-8', 'text/css', 'text/javascript; charset=utf-8', 'application/json', 'application/ld+json', 'application/xml', 'image/svg+xml', 'application/wasm', 'font/ttf', 'application/vnd.api+json']) {
      assert.ok(isCompressible(type), type);
    }
    for (const type of ['image/png', 'image/jpeg', 'image/webp', 'application/zip', 'application/gzip', 'video/mp4', 'audio/mpeg', 'font/woff2', 'font/woff', 'application/pdf', 'application/octet-stream']) {
      assert.ok(!isCompressible(type), type);
    }
  });
});

describe('compression on the fly', () => {
  test('a small file: compressed per response until its cached form is made, then that form; each with its own ETag and Vary', async () => {
    await withFiles({}, async (c, files) => {
      const first = await send(c, '/app.js', { 'Accept-Encoding': 'br, gzip' });
      assert.equal(first.status, 200);
      assert.equal(first.header('content-encoding'), 'br');
      assert.equal(first.header('vary'), 'Accept-Encoding');
      assert.equal(first.header('content-type'), 'text/javascript; charset=utf-8');
      assert.equal(first.header('content-length'), String(first.body.length));
      assert.equal(first.header('accept-ranges'), undefined);
      assert.ok(decoded(first).equals(app));
      assert.match(first.header('etag') ?? '', /^"[0-9a-f]+-[0-9a-f]+-br5"$/);
      await files.cache.settled();
      const cached = await send(c, '/app.js', { 'Accept-Encoding': 'br, gzip' });
      assert.match(cached.header('etag') ?? '', /^"[0-9a-f]+-[0-9a-f]+-br11"$/);
      assert.ok(decoded(cached).equals(app));
      assert.ok(cached.body.length <= first.body.length, 'brotli 11 is no larger than 5');
      const again = await send(c, '/app.js', { 'Accept-Encoding': 'br, gzip' });
      assert.ok(again.body.equals(cached.body), 'the kept form');

      const gzip = await send(c, '/app.js', { 'Accept-Encoding': 'gzip' });
      assert.equal(gzip.header('content-encoding'), 'gzip');
      assert.ok(decoded(gzip).equals(app));
      await files.cache.settled();
      const gzipCached = await send(c, '/app.js', { 'Accept-Encoding': 'gzip' });
      assert.match(gzipCached.header('etag') ?? '', /-gz9"$/);

      const identity = await send(c, '/app.js');
      assert.equal(identity.header('content-encoding'), undefined);
      assert.equal(identity.header('vary'), 'Accept-Encoding');
      assert.ok(identity.body.equals(app));
      assert.equal(new Set([cached.header('etag'), gzipCached.header('etag'), identity.header('etag')]).size, 3);

      const stats = files.cache.stats();
      assert.equal(stats.bytes, app.length + cached.body.length + gzipCached.body.length, 'the forms are counted with the file');
    });
  });

  test('304 per representation; HEAD says the length GET sends', async () => {
    await withFiles({}, async (c, files) => {
      await send(c, '/app.js', { 'Accept-Encoding': 'br' });
      await files.cache.settled();
      const br = await send(c, '/app.js', { 'Accept-Encoding': 'br' });
      await checkKeptForm(c, '/app.js', app, br);
    });
  });

  test('Range is answered from the identity representation; a request refusing identity gets the whole compressed body', async () => {
    await withFiles({}, async (c) => {
      const range = await send(c, '/app.js', { 'Accept-Encoding': 'br, gzip', Range: 'bytes=100-199' });
      assert.equal(range.status, 206);
      assert.equal(range.header('content-encoding'), undefined);
      assert.equal(range.header('vary'), 'Accept-Encoding');
      assert.equal(range.header('content-range'), `bytes 100-199/${app.length}`);
      assert.ok(range.body.equals(app.subarray(100, 200)));
      const big = await send(c, '/big.js', { 'Accept-Encoding': 'gzip', Range: 'bytes=-10' });
      assert.equal(big.status, 206);
      assert.equal(big.header('content-encoding'), undefined);
      const refused = await send(c, '/app.js', { 'Accept-Encoding': 'br, identity;q=0', Range: 'bytes=100-199' });
      assert.equal(refused.status, 200);
      assert.equal(refused.header('content-encoding'), 'br');
      assert.equal(refused.header('content-range'), undefined);
      assert.ok(decoded(refused).equals(app));
    });
  });

  test('below MIN_COMPRESS_BYTES a file is sent as is, unless the request refuses identity; images never', async () => {
    assert.ok(tiny.length < MIN_COMPRESS_BYTES);
    await withFiles({}, async (c) => {
      const small = await send(c, '/tiny.js', { 'Accept-Encoding': 'br, gzip' });
      assert.equal(small.header('content-encoding'), undefined);
      assert.equal(small.header('vary'), 'Accept-Encoding');
      assert.ok(small.body.equals(tiny));
      const forced = await send(c, '/tiny.js', { 'Accept-Encoding': 'gzip, identity;q=0' });
      assert.equal(forced.header('content-encoding'), 'gzip');
      assert.ok(decoded(forced).equals(tiny));
      const image = await send(c, '/image.png', { 'Accept-Encoding': 'br, gzip' });
      assert.equal(image.header('content-encoding'), undefined);
      assert.equal(image.header('vary'), undefined);
    });
  });

  test('a large file not cached streams through the compressor (chunked, no Content-Length), HEAD alike without a body', async () => {
    await withFiles({ maxCacheBytes: 0 }, async (c, files) => {
      for (let i = 0; i < 3; i++) {
        const r = await send(c, '/big.js', { 'Accept-Encoding': i === 1 ? 'gzip' : 'br' });
        assert.equal(r.status, 200);
        assert.equal(r.framing, 'chunked');
        assert.equal(r.header('content-length'), undefined);
        assert.equal(r.header('content-encoding'), i === 1 ? 'gzip' : 'br');
        assert.match(r.header('etag') ?? '', i === 1 ? /-gz6"$/ : /-br5"$/);
        assert.ok(decoded(r).equals(big), `request ${i}`);
      }
      const head = await send(c, '/big.js', { 'Accept-Encoding': 'br' }, 'HEAD');
      assert.equal(head.header('content-encoding'), 'br');
      assert.equal(head.header('content-length'), undefined);
      assert.match(head.header('etag') ?? '', /-br5"$/);
      assert.equal(head.header('vary'), 'Accept-Encoding');
      assert.equal(head.body.length, 0);
      await files.cache.settled();
      assert.equal(files.cache.stats().bytes, 0);
    });
  });

  test('a cached large file: streamed until its kept form is made (once, at brotli 9 / gzip 7), then that form with its own ETag, Content-Length, 304, HEAD, Vary and Range', async () => {
    assert.equal(keptLevel('br', big.length), 9);
    assert.equal(keptLevel('gzip', big.length), 7);
    await withFiles({}, async (c, files) => {
      const first = await send(c, '/big.js', { 'Accept-Encoding': 'br' });
      assert.equal(first.framing, 'chunked');
      assert.equal(files.cache.stats().files, 0, 'not admitted on its first request');
      const admitting = await send(c, '/big.js', { 'Accept-Encoding': 'br' });
      assert.equal(admitting.framing, 'chunked', 'the admitting request streams from the bytes just read');
      assert.match(admitting.header('etag') ?? '', /-br5"$/);
      assert.ok(decoded(admitting).equals(big));
      await files.cache.settled();

      const kept = await send(c, '/big.js', { 'Accept-Encoding': 'br, gzip' });
      assert.equal(kept.status, 200);
      assert.equal(kept.framing, 'length');
      assert.equal(kept.header('content-length'), String(kept.body.length));
      assert.equal(kept.header('content-encoding'), 'br');
      assert.equal(kept.header('vary'), 'Accept-Encoding');
      assert.match(kept.header('etag') ?? '', /^"[0-9a-f]+-[0-9a-f]+-br9"$/);
      assert.ok(decoded(kept).equals(big));
      assert.ok(kept.body.length < admitting.body.length, 'brotli 9 is smaller than 5');
      assert.ok((await send(c, '/big.js', { 'Accept-Encoding': 'br' })).body.equals(kept.body), 'the same form again');

      const gzipStreamed = await send(c, '/big.js', { 'Accept-Encoding': 'gzip' });
      assert.equal(gzipStreamed.framing, 'chunked', 'each coding is made on its first request');
      await files.cache.settled();
      const gzip = await send(c, '/big.js', { 'Accept-Encoding': 'gzip' });
      assert.match(gzip.header('etag') ?? '', /-gz7"$/);
      assert.equal(gzip.header('content-length'), String(gzip.body.length));
      assert.ok(decoded(gzip).equals(big));
      assert.equal(files.cache.stats().bytes, big.length + kept.body.length + gzip.body.length, 'the forms are counted with the file');

      await checkKeptForm(c, '/big.js', big, kept);
    });
  });

  test("a cached large file rewritten on disk: its kept forms go with the old version, the new one's are made again", async () => {
    const file = path.join(root, 'large-changing.js');
    const v1 = javascript(200_000, 8);
    fs.writeFileSync(file, v1);
    await withFiles({}, async (c, files) => {
      for (let i = 0; i < 2; i++) await send(c, '/large-changing.js', { 'Accept-Encoding': 'br' });
      await files.cache.settled();
      const old = await send(c, '/large-changing.js', { 'Accept-Encoding': 'br' });
      assert.match(old.header('etag') ?? '', /-br9"$/);
      assert.ok(decoded(old).equals(v1));
      const v2 = javascript(210_000, 9);
      fs.writeFileSync(file, v2);
      await new Promise(setImmediate);
      const fresh = await send(c, '/large-changing.js', { 'Accept-Encoding': 'br' });
      assert.match(fresh.header('etag') ?? '', /-br5"$/);
      assert.ok(decoded(fresh).equals(v2));
      const stats = files.cache.stats();
      assert.equal(stats.files, 1, 'a file changed while cached is read back in by its next request');
      assert.equal(stats.bytes - stats.unfreedBytes, v2.length, 'the old version and its form are dropped');
      await files.cache.settled();
      const kept = await send(c, '/large-changing.js', { 'Accept-Encoding': 'br' });
      assert.match(kept.header('etag') ?? '', /-br9"$/);
      assert.notEqual(kept.header('etag'), old.header('etag'));
      assert.ok(decoded(kept).equals(v2));
    });
    fs.rmSync(file);
  });

  test('large files admitted together: each gets both kept forms (the one-at-a-time queue loses none)', async () => {
    const names = [0, 1, 2, 3].map((i) => `together${i}.js`);
    const contents = names.map((_, i) => javascript(100_000 + i * 1_000, 20 + i));
    names.forEach((name, i) => fs.writeFileSync(path.join(root, name), contents[i]));
    await withFiles({}, async (c, files) => {
      for (let pass = 0; pass < 2; pass++) {
        for (const name of names) c.write(`GET /${name} HTTP/1.1\r\nHost: t\r\nAccept-Encoding: ${pass === 0 ? 'br' : 'br, gzip'}\r\n\r\n`);
        for (const content of contents) assert.ok(decoded(await c.readResponse()).equals(content));
      }
      for (const name of names) await send(c, `/${name}`, { 'Accept-Encoding': 'gzip' });
      await files.cache.settled();
      const stats = files.cache.stats();
      assert.equal(stats.files, names.length);
      let held = 0;
      for (const [i, name] of names.entries()) {
        for (const coding of ['br', 'gzip']) {
          const r = await send(c, `/${name}`, { 'Accept-Encoding': coding });
          assert.match(r.header('etag') ?? '', coding === 'br' ? /-br9"$/ : /-gz7"$/, `${name} ${coding}`);
          assert.ok(decoded(r).equals(contents[i]));
          held += r.body.length;
        }
        held += contents[i].length;
      }
      assert.equal(stats.bytes, held);
    });
    for (const name of names) fs.rmSync(path.join(root, name));
  });

  test('a cached large file without room for its forms keeps streaming; the cap holds', async () => {
    await withFiles({ maxCacheBytes: big.length + 1_000 }, async (c, files) => {
      for (let i = 0; i < 2; i++) await send(c, '/big.js', { 'Accept-Encoding': 'br' });
      await files.cache.settled();
      assert.equal(files.cache.stats().files, 1);
      for (let i = 0; i < 2; i++) {
        const r = await send(c, '/big.js', { 'Accept-Encoding': 'br' });
        assert.equal(r.framing, 'chunked');
        assert.match(r.header('etag') ?? '', /-br5"$/);
        assert.ok(decoded(r).equals(big));
      }
      assert.equal(files.cache.stats().bytes, big.length);
    });
  });

  test('Vary on every response of a compressible resource: HEAD, 412 and 416, small and large, with and without Accept-Encoding', async () => {
    await withFiles({}, async (c) => {
      for (const target of ['/app.js', '/big.js']) {
        for (const fields of [{}, { 'Accept-Encoding': 'br, gzip' }] as Array<Record<string, string>>) {
          const what = `${target} ${JSON.stringify(fields)}`;
          const head = await send(c, target, fields, 'HEAD');
          assert.equal(head.status, 200, what);
          assert.equal(head.header('vary'), 'Accept-Encoding', `HEAD ${what}`);
          const failed = await send(c, target, { ...fields, 'If-Match': '"other"' });
          assert.equal(failed.status, 412, what);
          assert.equal(failed.header('vary'), 'Accept-Encoding', `412 ${what}`);
          const unsatisfiable = await send(c, target, { ...fields, Range: 'bytes=9999999-' });
          assert.equal(unsatisfiable.status, 416, what);
          assert.equal(unsatisfiable.header('vary'), 'Accept-Encoding', `416 ${what}`);
          assert.equal(unsatisfiable.header('content-range'), `bytes */${target === '/app.js' ? app.length : big.length}`);
        }
      }
      const image = await send(c, '/image.png', { 'If-Match': '"other"' });
      assert.equal(image.status, 412);
      assert.equal(image.header('vary'), undefined, 'an image has one representation');
      assert.equal(c.unreadBytes, 0);
    });
  });

  test('HEAD says what GET sends before the kept form is made: the same coding, ETag and Content-Length', async () => {
    const perResponse = new Map<string, ParsedResponse>();
    await withFiles({ maxCacheBytes: 0 }, async (c) => {
      for (const target of ['/app.js', '/noise.txt']) perResponse.set(target, await send(c, target, { 'Accept-Encoding': 'br' }));
    });
    for (const options of [{}, { maxCacheBytes: 0 }] satisfies StaticOptions[]) {
      await withFiles(options, async (c) => {
        for (const target of ['/app.js', '/noise.txt']) {
          const head = await send(c, target, { 'Accept-Encoding': 'br' }, 'HEAD');
          const get = perResponse.get(target) as ParsedResponse;
          const what = `${target} ${JSON.stringify(options)}`;
          assert.equal(head.status, 200, what);
          assert.equal(head.header('content-encoding'), get.header('content-encoding'), what);
          assert.equal(head.header('etag'), get.header('etag'), what);
          assert.equal(head.header('content-length'), String(get.body.length), what);
          assert.equal(head.body.length, 0);
        }
      });
    }
    assert.equal(perResponse.get('/noise.txt')?.header('content-encoding'), undefined, 'noise does not compress: HEAD says identity as GET does');
    assert.match(perResponse.get('/app.js')?.header('etag') ?? '', /-br5"$/);
  });

  test('a pre-compressed sibling wins on the fast path too, after another coding was made on the fly for the same file', async () => {
    await withFiles({}, async (c, files) => {
      for (let i = 0; i < 2; i++) {
        const br = await send(c, '/page.css', { 'Accept-Encoding': 'br' });
        assert.equal(br.header('content-encoding'), 'br');
        await files.cache.settled();
      }
      const both = await send(c, '/page.css', { 'Accept-Encoding': 'br, gzip' });
      assert.equal(both.header('content-encoding'), 'gzip', 'the gzip sibling, not the kept br form');
      assert.ok(both.body.equals(fs.readFileSync(path.join(root, 'page.css.gz'))));
    });
  });

  test('a form not smaller than the file sends the file itself', async () => {
    await withFiles({}, async (c, files) => {
      const noise = fs.readFileSync(path.join(root, 'noise.txt'));
      const first = await send(c, '/noise.txt', { 'Accept-Encoding': 'br' });
      assert.ok(decoded(first).equals(noise));
      await files.cache.settled();
      for (let i = 0; i < 2; i++) {
        const r = await send(c, '/noise.txt', { 'Accept-Encoding': 'br' });
        assert.equal(r.header('content-encoding'), undefined);
        assert.equal(r.header('vary'), 'Accept-Encoding');
        assert.ok(r.body.equals(noise));
      }
    });
  });

  test('a pre-compressed sibling wins over compressing on the fly', async () => {
    await withFiles({}, async (c) => {
      const r = await send(c, '/page.css', { 'Accept-Encoding': 'br, gzip' });
      assert.equal(r.header('content-encoding'), 'gzip');
      assert.ok(r.body.equals(fs.readFileSync(path.join(root, 'page.css.gz'))), 'the sibling, byte for byte');
      assert.match(r.header('etag') ?? '', /-gzip"$/);
      assert.equal(r.header('vary'), 'Accept-Encoding');
      const br = await send(c, '/page.css', { 'Accept-Encoding': 'br' });
      assert.equal(br.header('content-encoding'), 'br', 'no br sibling: compressed on the fly');
      assert.ok(decoded(br).equals(page));
    });
  });

  test('a file rewritten on disk: its kept forms go with the old version', async () => {
    const file = path.join(root, 'changing.js');
    const v1 = javascript(10_000, 5);
    fs.writeFileSync(file, v1);
    await withFiles({}, async (c, files) => {
      await send(c, '/changing.js', { 'Accept-Encoding': 'br' });
      await files.cache.settled();
      assert.ok(decoded(await send(c, '/changing.js', { 'Accept-Encoding': 'br' })).equals(v1));
      const v2 = javascript(12_000, 6);
      fs.writeFileSync(file, v2);
      await new Promise(setImmediate);
      const fresh = await send(c, '/changing.js', { 'Accept-Encoding': 'br' });
      assert.ok(decoded(fresh).equals(v2));
      await files.cache.settled();
      assert.ok(decoded(await send(c, '/changing.js', { 'Accept-Encoding': 'br' })).equals(v2));
    });
    fs.rmSync(file);
  });

  test('{ compress: false } sends every file as is, without Vary', async () => {
    await withFiles({ compress: false }, async (c) => {
      const r = await send(c, '/app.js', { 'Accept-Encoding': 'br, gzip' });
      assert.equal(r.header('content-encoding'), undefined);
      assert.equal(r.header('vary'), undefined);
      assert.ok(r.body.equals(app));
      const sibling = await send(c, '/page.css', { 'Accept-Encoding': 'gzip' });
      assert.equal(sibling.header('content-encoding'), 'gzip', 'pre-compressed siblings are still served');
    });
  });

  test('with the file cache off, small and large files are compressed per response', async () => {
    await withFiles({ maxCacheBytes: 0 }, async (c, files) => {
      for (let i = 0; i < 2; i++) {
        const small = await send(c, '/app.js', { 'Accept-Encoding': 'br' });
        assert.match(small.header('etag') ?? '', /-br5"$/);
        assert.ok(decoded(small).equals(app));
        const large = await send(c, '/big.js', { 'Accept-Encoding': 'gzip' });
        assert.ok(decoded(large).equals(big));
        await files.cache.settled();
      }
      assert.equal(files.cache.stats().bytes, 0);
    });
  });
});

describe('compressed streams', () => {
  test('backpressure: the compressor reads its source only as fast as its output is taken', async () => {
    let pulled = 0;
    async function* source(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 1000; i++) {
        pulled++;
        yield randomBytes(65_536);
      }
    }
    const stream = compressStream(source(), 1000 * 65_536, 'gzip', 1);
    await sleep(100);
    assert.ok(pulled < 20, `pulled ${pulled} pieces while nothing was read`);
    let read = 0;
    for await (const chunk of stream as Readable) {
      read += (chunk as Buffer).length;
      if (read > 1_000_000) break;
    }
    await sleep(20);
    assert.ok(pulled < 60, `pulled ${pulled} pieces for ~1 MB of output`);
  });

  test('over the wire, a client that stops reading stops the compressor: its output stays far below the file', async (t) => {
    const SIZE = 16 * 1024 * 1024;
    const file = path.join(root, 'stalled.txt');
    const content = randomBytes(SIZE); // text/plain that does not compress: output ≈ input
    fs.writeFileSync(file, content);
    const files = serveStatic(root, { maxCacheBytes: 0 });
    let compressor: (Readable & { bytesWritten: number }) | null = null;
    let output = 0;
    const observed: Handler = async (req) => {
      const response = await files(req);
      if (response.body instanceof Readable) {
        const stream = response.body as Readable & { bytesWritten: number };
        const push = stream.push.bind(stream);
        stream.push = (chunk: Buffer | null, encoding?: BufferEncoding): boolean => {
          output += chunk?.length ?? 0;
          return push(chunk, encoding);
        };
        compressor = stream;
      }
      return response;
    };
    const server = await startServer({}, observed);
    const c = await RawConnection.connect(server.port);
    try {
      c.socket.pause();
      c.write('GET /stalled.txt HTTP/1.1\r\nHost: t\r\nAccept-Encoding: br\r\n\r\n');
      let consumed = -1;
      for (let i = 0; i < 60; i++) {
        await sleep(50);
        const now = (compressor as { bytesWritten: number } | null)?.bytesWritten ?? -1;
        if (now > 0 && now === consumed) break;
        consumed = now;
      }
      t.diagnostic(`the compressor read ${consumed} bytes and made ${output} while the client read nothing`);
      assert.ok(consumed > 0, 'the compressor started');
      assert.ok(consumed < SIZE / 2, `the compressor read ${consumed} of ${SIZE} bytes while the client read nothing`);
      assert.ok(output < SIZE / 2, `the compressor made ${output} bytes while the client read nothing`);
      c.socket.resume();
      const r = await c.readResponse({ timeoutMs: 5000 });
      assert.equal(r.header('content-encoding'), 'br');
      assert.ok(decoded(r).equals(content), 'resumed, the whole file');
    } finally {
      c.destroy();
      await server.stop();
      fs.rmSync(file);
    }
  });

  test('a client that goes away mid-stream: the file is closed', async () => {
    const file = path.join(root, 'long.txt');
    fs.writeFileSync(file, javascript(4_000_000, 7));
    const openFiles = (): number => fs.readdirSync('/proc/self/fd').length;
    const files = serveStatic(root);
    const t = await startServer({}, files);
    try {
      const before = openFiles();
      const socket = net.connect({ port: t.port, host: '127.0.0.1' });
      await once(socket, 'connect');
      socket.write('GET /long.txt HTTP/1.1\r\nHost: t\r\nAccept-Encoding: br\r\n\r\n');
      await once(socket, 'data');
      socket.pause();
      await sleep(50);
      socket.destroy();
      for (let i = 0; i < 40 && openFiles() > before; i++) await sleep(25);
      assert.equal(openFiles(), before, 'the file and the socket are closed');
    } finally {
      await t.stop();
      fs.rmSync(file);
    }
  });
});
