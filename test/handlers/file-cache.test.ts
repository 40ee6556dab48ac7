import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { brotliCompressSync, brotliDecompressSync, gzipSync } from 'node:zlib';
import { FileBody } from '../../src/handlers/file-body.js';
import { ownsBuffer, SMALL_FILE_BYTES } from '../../src/handlers/file-cache.js';
import { serveStatic, type StaticHandler, type StaticOptions } from '../../src/handlers/static.js';
import type { HttpRequest, HttpResponse } from '../../src/handlers/types.js';
import { HeaderMap } from '../../src/http1/header-map.js';
import { RawConnection, type ParsedResponse } from '../helpers/raw-client.js';
import { sleep, startServer } from '../helpers/server.js';

// Layout: large/f0.bin … f9.bin (LARGE bytes each, above the small-file size), small/s0.txt … s9.txt
// (SMALL bytes each), big.bin (3 MiB), each with random contents.
let root = '';
const LARGE = 200_000;
const SMALL = 10_000;
const BIG = 3 * 1024 * 1024;
const large: Buffer[] = [];
const small: Buffer[] = [];
let big: Buffer;

before(() => {
  assert.ok(LARGE > SMALL_FILE_BYTES && SMALL < SMALL_FILE_BYTES);
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-file-cache-'));
  fs.mkdirSync(path.join(root, 'large'));
  fs.mkdirSync(path.join(root, 'small'));
  for (let i = 0; i < 10; i++) {
    large.push(randomBytes(LARGE));
    fs.writeFileSync(path.join(root, 'large', `f${i}.bin`), large[i]);
    small.push(randomBytes(SMALL));
    fs.writeFileSync(path.join(root, 'small', `s${i}.txt`), small[i]);
  }
  big = randomBytes(BIG);
  fs.writeFileSync(path.join(root, 'big.bin'), big);
  // Pre-compressed siblings: a large file with a .gz, a small script with both .gz and .br.
  fs.writeFileSync(path.join(root, 'large', 'f7.bin.gz'), gzipSync(large[7]));
  const script = Buffer.from('export const answer = () => 42;\n'.repeat(300));
  fs.writeFileSync(path.join(root, 'small', 'page.js'), script);
  fs.writeFileSync(path.join(root, 'small', 'page.js.gz'), gzipSync(script));
  fs.writeFileSync(path.join(root, 'small', 'page.js.br'), brotliCompressSync(script));
});

after(() => fs.rmSync(root, { recursive: true, force: true }));

function request(target: string, fields: Record<string, string> = {}, method = 'GET'): HttpRequest {
  const headers = new HeaderMap(Object.entries({ host: 't', ...fields }).flatMap(([name, value]) => [name.toLowerCase(), value]));
  return {
    method,
    target,
    path: target,
    query: '',
    scheme: 'http',
    version: '1.1',
    headers,
    connection: { id: 1, tls: false, requestIndex: 1, remoteAddress: '127.0.0.1', remotePort: 1 },
    body: undefined as never,
    signal: new AbortController().signal,
  };
}

/** The handler's answer, each call in an event-loop turn of its own (as requests read in separate polls are). */
async function call(handler: StaticHandler, target: string, fields?: Record<string, string>, method?: string): Promise<HttpResponse> {
  await new Promise(setImmediate);
  return handler(request(target, fields, method));
}

async function bodyOf(response: HttpResponse): Promise<Buffer> {
  const body = response.body;
  if (body === null || body === undefined) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.length);
  const parts: Buffer[] = [];
  for await (const chunk of body) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Full collections until `done()` (FinalizationRegistry callbacks run in a task after one). */
async function collectGarbage(done: () => boolean): Promise<void> {
  for (let i = 0; i < 20 && !done(); i++) {
    gc();
    await sleep(5);
  }
  assert.ok(done(), 'the garbage collector freed the dropped buffers');
}

/** A few full collections, with the tasks between them that release what they found. */
async function fullCollection(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(5);
  }
}

const fromMemory = (response: HttpResponse): boolean => response.body instanceof Uint8Array;
const fromDisk = (response: HttpResponse): boolean => response.body instanceof FileBody;

describe('file cache: admission', () => {
  test('a large file is sent from disk on its first request and from memory from its second (the same bytes, never copied)', async () => {
    const files = serveStatic(root);
    const first = await call(files, '/large/f0.bin');
    assert.ok(fromDisk(first));
    assert.ok((await bodyOf(first)).equals(large[0]));
    const second = await call(files, '/large/f0.bin');
    assert.ok(fromMemory(second), 'the second request is answered from the cache');
    assert.ok((await bodyOf(second)).equals(large[0]));
    const third = await call(files, '/large/f0.bin');
    assert.equal(third.body, second.body, 'the same buffer');
    assert.deepEqual({ ...files.cache.stats(), hits: 0, misses: 0 }, { maxBytes: 64 * 1024 * 1024, maxFileBytes: 8 * 1024 * 1024, bytes: LARGE, unfreedBytes: 0, files: 1, hits: 0, misses: 0, evictions: 0 });
    assert.equal(files.cache.stats().misses, 2);
    assert.ok(files.cache.stats().hits >= 1);
  });

  test('a small file is kept from its first request; HEAD reads nothing; 0 for either cap turns the cache off', async () => {
    const files = serveStatic(root);
    assert.ok(fromMemory(await call(files, '/small/s0.txt')));
    assert.equal(files.cache.stats().files, 1);
    const head = await call(files, '/large/f1.bin', {}, 'HEAD');
    assert.equal(head.body, null);
    assert.equal(head.headers?.['content-length'], String(LARGE));
    assert.ok(fromDisk(await call(files, '/large/f1.bin')), 'HEAD did not count as a first request');

    for (const options of [{ maxCacheBytes: 0 }, { maxCachedFileBytes: 0 }] satisfies StaticOptions[]) {
      const off = serveStatic(root, options);
      for (let i = 0; i < 3; i++) {
        assert.ok(fromDisk(await call(off, '/small/s0.txt')), JSON.stringify(options));
        assert.ok(fromDisk(await call(off, '/large/f0.bin')), JSON.stringify(options));
      }
      assert.equal(off.cache.stats().files, 0);
      assert.equal(off.cache.stats().bytes, 0);
    }
  });

  test('files above maxCachedFileBytes are always sent from disk', async () => {
    const files = serveStatic(root, { maxCachedFileBytes: LARGE - 1 });
    for (let i = 0; i < 3; i++) assert.ok(fromDisk(await call(files, '/large/f2.bin')));
    assert.ok(fromMemory(await call(files, '/small/s2.txt')));
  });

  test('a second request later than cacheInactiveMs does not admit; requests while the file is read share one read', async () => {
    const files = serveStatic(root, { cacheInactiveMs: 30 });
    assert.ok(fromDisk(await call(files, '/large/f3.bin')));
    await sleep(60);
    assert.ok(fromDisk(await call(files, '/large/f3.bin')), 'too late to count as a second request');
    await new Promise(setImmediate);
    const together = await Promise.all([files(request('/large/f3.bin')), files(request('/large/f3.bin')), files(request('/large/f3.bin'))]);
    for (const response of together) assert.ok(fromMemory(response));
    assert.equal(together[0].body, together[2].body, 'one read for all three');
    assert.equal(files.cache.stats().bytes, LARGE);
  });

  test('a range of a cached file is a view of the cached buffer, not a copy (large and small)', async () => {
    const files = serveStatic(root);
    for (const [target, content, times] of [['/large/f6.bin', large[6], 2], ['/small/s6.txt', small[6], 1]] as const) {
      let whole: HttpResponse | null = null;
      for (let i = 0; i < times; i++) whole = await call(files, target);
      assert.ok(whole !== null && whole.body instanceof Uint8Array && fromMemory(whole));
      const range = await call(files, target, { range: 'bytes=1000-1999' });
      assert.equal(range.status, 206);
      assert.ok(range.body instanceof Uint8Array, target);
      assert.equal(range.body.buffer, whole.body.buffer, `${target}: the same ArrayBuffer`);
      assert.equal(range.body.byteOffset, whole.body.byteOffset + 1000);
      assert.equal(range.body.length, 1000);
      assert.ok(Buffer.from(range.body).equals(content.subarray(1000, 2000)));
    }
  });

  test('invalid options throw a TypeError naming the option', () => {
    for (const [name, value] of [['maxCacheBytes', -1], ['maxCachedFileBytes', 1.5], ['cacheInactiveMs', '20s']] as const) {
      assert.throws(() => serveStatic(root, { [name]: value } as StaticOptions), (error: Error) => error instanceof TypeError && error.message.includes(name));
    }
  });
});

describe('file cache: eviction and bounds', () => {
  test('the least recently used file is evicted first', async () => {
    const files = serveStatic(root, { maxCacheBytes: 3 * SMALL, cacheInactiveMs: 0 });
    for (const i of [0, 1, 2]) await call(files, `/small/s${i}.txt`);
    assert.equal(files.cache.stats().files, 3);
    await call(files, '/small/s0.txt'); // s0 is now the most recently used: s1 is the oldest
    await call(files, '/small/s3.txt');
    assert.equal(files.cache.stats().evictions, 1);
    assert.equal(files.cache.stats().files, 2, 's3 waits until the garbage collector has freed s1');
    assert.equal(files.cache.stats().bytes, 3 * SMALL, "s1's bytes count until they are freed");
    await collectGarbage(() => files.cache.stats().unfreedBytes === 0);
    await call(files, '/small/s3.txt');
    const stats = files.cache.stats();
    assert.equal(stats.evictions, 1);
    assert.equal(stats.files, 3);
    const hitsBefore = stats.hits;
    for (const i of [0, 2, 3]) await call(files, `/small/s${i}.txt`);
    assert.equal(files.cache.stats().hits, hitsBefore + 3, 's0, s2 and s3 stayed');
    const missesBefore = files.cache.stats().misses;
    await call(files, '/small/s1.txt');
    assert.equal(files.cache.stats().misses, missesBefore + 1, 's1 was evicted');
  });

  test('files in use are not evicted for newcomers: the newcomers are answered uncached', async () => {
    const files = serveStatic(root, { maxCacheBytes: 3 * SMALL + LARGE, cacheInactiveMs: 60_000 });
    for (const i of [0, 1, 2]) await call(files, `/small/s${i}.txt`);
    for (let k = 0; k < 2; k++) await call(files, '/large/f0.bin');
    assert.equal(files.cache.stats().bytes, 3 * SMALL + LARGE);
    for (let k = 0; k < 3; k++) {
      const newcomer = await call(files, '/small/s4.txt');
      assert.ok((await bodyOf(newcomer)).equals(small[4]));
      assert.ok(fromDisk(await call(files, '/large/f1.bin')));
    }
    assert.equal(files.cache.stats().evictions, 0);
    assert.equal(files.cache.stats().files, 4);
  });

  test('the cap is never exceeded: sequential and concurrent churn of more files than fit', async () => {
    const max = 5 * LARGE + 2 * SMALL;
    const inactiveMs = 5;
    const files = serveStatic(root, { maxCacheBytes: max, cacheInactiveMs: inactiveMs });
    const check = (): void => {
      const stats = files.cache.stats();
      assert.ok(stats.bytes <= max, `${stats.bytes} > ${max}`);
      assert.ok(stats.bytes >= 0);
    };
    for (let pass = 0; pass < 3; pass++) {
      for (let i = 0; i < 10; i++) {
        for (const target of [`/large/f${i}.bin`, `/large/f${i}.bin`, `/small/s${i}.txt`]) {
          const response = await call(files, target);
          check();
          assert.ok((await bodyOf(response)).equals(target.startsWith('/large') ? large[i] : small[i]), target);
        }
        await sleep(inactiveMs + 1); // the files just cached may now be evicted
      }
    }
    assert.ok(files.cache.stats().evictions > 0);
    for (let pass = 0; pass < 3; pass++) {
      await sleep(inactiveMs + 1);
      const pending = large.map((_, i) => files(request(`/large/f${i}.bin`)));
      check(); // reads in flight are reserved before they start
      const responses = await Promise.all(pending);
      check();
      for (let i = 0; i < 10; i++) assert.ok((await bodyOf(responses[i])).equals(large[i]));
    }
    await files.cache.settled();
    check();
  });
});

describe('file cache: memory counted', () => {
  /** Text that compresses to a few hundred bytes: its forms are far smaller than zlib's 16 KiB output chunks. */
  const script = (i: number, bytes: number): Buffer => {
    let text = '';
    for (let line = 0; text.length < bytes; line++) text += `export const value_${i}_${line % 17} = compute(${i}, ${line % 5}) + offset;\n`;
    return Buffer.from(text.slice(0, bytes));
  };

  test('every buffer kept owns its ArrayBuffer, and the memory they keep alive is what stats() counts', async (t) => {
    const FILES = 150;
    const dir = path.join(root, 'scripts');
    fs.mkdirSync(dir);
    try {
      // 1.5–3.9 KiB: read by readFileSync into its 8 KiB pool, compressed to slices of zlib's output chunks.
      for (let i = 0; i < FILES; i++) fs.writeFileSync(path.join(dir, `m${i}.js`), script(i, 1_500 + ((i * 97) % 2_400)));
      const files = serveStatic(root);
      await call(files, '/scripts/m0.js', { 'accept-encoding': 'br' }); // code paths warm
      await files.cache.settled();
      await fullCollection();
      const before = process.memoryUsage().arrayBuffers - files.cache.stats().bytes;
      for (const coding of ['br', 'gzip']) {
        for (let i = 0; i < FILES; i++) await call(files, `/scripts/m${i}.js`, { 'accept-encoding': coding });
      }
      await files.cache.settled();
      const stats = files.cache.stats();
      assert.equal(stats.files, FILES);
      await fullCollection();
      const grown = process.memoryUsage().arrayBuffers - before;
      t.diagnostic(`ArrayBuffers grew by ${grown} bytes; the cache counts ${stats.bytes}`);
      assert.ok(grown <= stats.bytes * 1.25 + 256 * 1024, `ArrayBuffers grew by ${grown} bytes while the cache counts ${stats.bytes}`);
      const owners = (response: HttpResponse): boolean => response.body instanceof Uint8Array && ownsBuffer(response.body);
      for (let i = 0; i < FILES; i += 7) {
        for (const coding of ['br', 'gzip', 'identity']) {
          const response = await call(files, `/scripts/m${i}.js`, { 'accept-encoding': coding });
          assert.equal(response.headers?.['content-encoding'], coding === 'identity' ? undefined : coding);
          assert.ok(fromMemory(response) && owners(response), `m${i}.js ${coding}: a buffer of its own`);
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('file cache: freshness', () => {
  test('a cached large file rewritten between two requests is served fresh (same size, and another size)', async () => {
    const file = path.join(root, 'rewrite.bin');
    const v1 = randomBytes(LARGE);
    fs.writeFileSync(file, v1);
    const files = serveStatic(root);
    await call(files, '/rewrite.bin');
    assert.ok(fromMemory(await call(files, '/rewrite.bin')));
    const v2 = randomBytes(LARGE);
    fs.writeFileSync(file, v2);
    fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
    // Compared inline: a response kept in a variable would keep its version's buffer alive.
    assert.ok((await bodyOf(await call(files, '/rewrite.bin'))).equals(v2));
    const v3 = randomBytes(LARGE + 1000);
    fs.writeFileSync(file, v3);
    assert.ok((await bodyOf(await call(files, '/rewrite.bin'))).equals(v3));
    const stats = files.cache.stats();
    assert.equal(stats.bytes - stats.unfreedBytes, LARGE + 1000, 'only the current version is held');
    await collectGarbage(() => files.cache.stats().unfreedBytes === 0);
    assert.equal(files.cache.stats().bytes, LARGE + 1000);
    fs.rmSync(file);
  });

  test('a file replaced by rename (same size and mtime, new inode) is served fresh; a deleted one is 404 and dropped', async () => {
    const file = path.join(root, 'replace.bin');
    const v1 = randomBytes(LARGE);
    fs.writeFileSync(file, v1);
    const mtime = fs.statSync(file).mtime;
    const files = serveStatic(root);
    await call(files, '/replace.bin');
    assert.ok((await bodyOf(await call(files, '/replace.bin'))).equals(v1));
    const v2 = randomBytes(LARGE);
    fs.writeFileSync(`${file}.tmp`, v2);
    fs.utimesSync(`${file}.tmp`, mtime, mtime);
    fs.renameSync(`${file}.tmp`, file);
    assert.ok((await bodyOf(await call(files, '/replace.bin'))).equals(v2));
    assert.ok((await bodyOf(await call(files, '/replace.bin'))).equals(v2));
    fs.rmSync(file);
    assert.equal((await call(files, '/replace.bin')).status, 404);
    assert.equal(files.cache.stats().files, 0);
    assert.equal(files.cache.stats().bytes, files.cache.stats().unfreedBytes);
    await collectGarbage(() => files.cache.stats().bytes === 0);
  });
});

describe('file cache: over the wire', () => {
  /** The response without its Date and Keep-Alive fields, the body as a digest. */
  const comparable = (r: ParsedResponse): unknown => ({
    status: r.status,
    headers: r.headers.filter(([name]) => name !== 'date' && name !== 'keep-alive'),
    body: createHash('sha256').update(r.body).digest('hex'),
  });

  test('cached and uncached answers are byte-identical: whole, ranges, If-Range, HEAD, 304, pre-compressed siblings', async () => {
    const cached = serveStatic(root);
    const servers = [await startServer({}, cached), await startServer({}, serveStatic(root, { maxCacheBytes: 0 }))];
    const connections = await Promise.all(servers.map((s) => RawConnection.connect(s.port)));
    try {
      const etag = (await exchangeOn(connections[0], '/big.bin', {})).header('etag') ?? '';
      const cases: Array<[string, Record<string, string>, string?]> = [
        ['/big.bin', {}],
        ['/big.bin', {}],
        ['/big.bin', { Range: 'bytes=0-0' }],
        ['/big.bin', { Range: 'bytes=1000003-1200000' }],
        ['/big.bin', { Range: 'bytes=-7' }],
        ['/big.bin', { Range: `bytes=${BIG - 10}-` }],
        ['/big.bin', { Range: 'bytes=5-9', 'If-Range': etag }],
        ['/big.bin', { Range: 'bytes=5-9', 'If-Range': '"other"' }],
        ['/big.bin', {}, 'HEAD'],
        ['/big.bin', { 'If-None-Match': etag }],
        ['/large/f5.bin', {}],
        ['/large/f5.bin', { Range: 'bytes=10-20' }],
        ['/small/s5.txt', {}],
        ['/small/s5.txt', { Range: 'bytes=10-20' }],
      ];
      const gzipTag = (await exchangeOn(connections[0], '/large/f7.bin', { 'Accept-Encoding': 'gzip' })).header('etag') ?? '';
      for (const target of ['/large/f7.bin', '/small/page.js']) {
        for (let i = 0; i < 2; i++) cases.push([target, { 'Accept-Encoding': 'gzip' }], [target, { 'Accept-Encoding': 'br, gzip' }], [target, {}]);
        cases.push(
          [target, { 'Accept-Encoding': 'br' }],
          [target, { 'Accept-Encoding': 'gzip', Range: 'bytes=10-20' }],
          [target, { 'Accept-Encoding': 'gzip' }, 'HEAD'],
          [target, { 'Accept-Encoding': 'gzip, identity;q=0' }],
        );
      }
      cases.push(['/large/f7.bin', { 'Accept-Encoding': 'gzip', 'If-None-Match': gzipTag }]);
      for (const [target, fields, method] of cases) {
        const [a, b] = await Promise.all(connections.map((c) => exchangeOn(c, target, fields, method)));
        assert.deepEqual(comparable(a), comparable(b), `${method ?? 'GET'} ${target} ${JSON.stringify(fields)}`);
      }
      assert.ok(cached.cache.stats().hits >= 8, 'the cached side answered from memory');
      const whole = await exchangeOn(connections[0], '/big.bin', {});
      assert.ok(whole.body.equals(big));
    } finally {
      for (const c of connections) c.destroy();
      for (const s of servers) await s.stop();
    }
  });

  test('a cached file rewritten while a slow client downloads it: the client gets the old version whole', async () => {
    const file = path.join(root, 'mid.bin');
    const v1 = randomBytes(BIG);
    fs.writeFileSync(file, v1);
    const files = serveStatic(root);
    const t = await startServer({}, files);
    try {
      const c = await RawConnection.connect(t.port);
      await exchangeOn(c, '/mid.bin', {});
      await exchangeOn(c, '/mid.bin', {});
      c.destroy();
      assert.equal(files.cache.stats().files, 1);
      const socket = net.connect({ port: t.port, host: '127.0.0.1' });
      await once(socket, 'connect');
      const chunks: Buffer[] = [];
      let received = 0;
      let held = false;
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        if (received > 64 * 1024 && !held) {
          held = true;
          socket.pause();
        }
      });
      socket.write('GET /mid.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
      while (received <= 64 * 1024) await sleep(5);
      fs.writeFileSync(file, randomBytes(BIG));
      await sleep(20);
      const ended = once(socket, 'end');
      socket.resume();
      await ended;
      socket.destroy();
      const all = Buffer.concat(chunks);
      const body = all.subarray(all.indexOf('\r\n\r\n') + 4);
      assert.ok(body.equals(v1), 'one version, whole');
    } finally {
      await t.stop();
      fs.rmSync(file, { force: true });
    }
  });
});

describe('files changing on disk, over the wire: no torn responses', () => {
  /** The body of a raw response, chunked framing removed; complete when its Content-Length or last chunk arrived. */
  function bodyOfRaw(raw: Buffer): { head: string; body: Buffer; complete: boolean; declared: number | null } {
    const headEnd = raw.indexOf('\r\n\r\n');
    assert.ok(headEnd !== -1, 'a response head');
    const head = raw.subarray(0, headEnd).toString('latin1');
    let rest = raw.subarray(headEnd + 4);
    const length = /\r\ncontent-length: (\d+)/i.exec(head);
    if (length !== null) {
      const declared = Number(length[1]);
      assert.ok(rest.length <= declared, 'never more than Content-Length');
      return { head, body: rest, complete: rest.length === declared, declared };
    }
    assert.match(head, /\r\ntransfer-encoding: chunked/i);
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = rest.indexOf('\r\n');
      if (lineEnd === -1) return { head, body: Buffer.concat(parts), complete: false, declared: null };
      const size = Number.parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
      if (size === 0) return { head, body: Buffer.concat(parts), complete: true, declared: null };
      if (rest.length < lineEnd + 2 + size + 2) return { head, body: Buffer.concat(parts), complete: false, declared: null };
      parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      rest = rest.subarray(lineEnd + 2 + size + 2);
    }
  }

  type Change = 'shrinks' | 'grows' | 'is replaced by rename';
  const CHANGES: Change[] = ['shrinks', 'grows', 'is replaced by rename'];

  /** Applies `change` to `file` in place (truncate, append) or by rename; returns the new contents. */
  function change(file: string, kind: Change, current: Buffer, fresh: (size: number) => Buffer): Buffer {
    if (kind === 'shrinks') {
      fs.truncateSync(file, current.length >> 1);
      return current.subarray(0, current.length >> 1);
    }
    if (kind === 'grows') {
      const more = fresh(current.length >> 2);
      fs.appendFileSync(file, more);
      return Buffer.concat([current, more]);
    }
    const next = fresh(current.length);
    fs.writeFileSync(`${file}.next`, next);
    fs.renameSync(`${file}.next`, file);
    return next;
  }

  const text = (size: number): Buffer => Buffer.from(randomBytes(Math.ceil(size / 2)).toString('hex').slice(0, size));

  test('between requests: every answer is the version on disk, whole (cached or not, identity or br, small or large)', async () => {
    for (const options of [{}, { maxCacheBytes: 0 }] satisfies StaticOptions[]) {
      const files = serveStatic(root, options);
      const t = await startServer({}, files);
      const c = await RawConnection.connect(t.port);
      try {
        for (const size of [20_000, 300_000]) {
          const file = path.join(root, 'changing.txt');
          let current = text(size);
          fs.writeFileSync(file, current);
          for (const kind of [...CHANGES, null]) {
            for (const fields of [{}, { 'Accept-Encoding': 'br' }] as Array<Record<string, string>>) {
              for (let i = 0; i < 3; i++) {
                const r = await exchangeOn(c, '/changing.txt', fields);
                const body = r.header('content-encoding') === 'br' ? brotliDecompressSync(r.body) : r.body;
                assert.ok(body.equals(current), `${JSON.stringify(options)} ${size} bytes, after it ${kind ?? 'was written'}, ${JSON.stringify(fields)} #${i}`);
                await files.cache.settled();
              }
            }
            if (kind !== null) current = change(file, kind, current, text);
            await new Promise(setImmediate);
          }
          fs.rmSync(file);
        }
      } finally {
        c.destroy();
        await t.stop();
      }
    }
  });

  const MEMORY_BYTES = 3 * 1024 * 1024;
  /** Well beyond what a client that does not read lets the kernel take (~4 MiB on loopback). */
  const DISK_BYTES = 8 * 1024 * 1024;
  const kinds = [
    { name: 'from memory', options: {}, size: MEMORY_BYTES, fields: '', warm: true },
    { name: 'from disk', options: { maxCacheBytes: 0 }, size: DISK_BYTES, fields: '', warm: false },
    { name: 'compressed from disk', options: { maxCacheBytes: 0 }, size: DISK_BYTES, fields: 'Accept-Encoding: br\r\n', warm: false },
  ] as const;

  for (const kind of kinds) {
    for (const what of CHANGES) {
      test(`while a client that stopped reading downloads it ${kind.name}, the file ${what}: one version whole, or cut short and closed`, async () => {
        const file = path.join(root, 'during.txt');
        const v1 = randomBytes(kind.size);
        fs.writeFileSync(file, v1);
        const files = serveStatic(root, kind.options);
        const t = await startServer({}, files);
        try {
          if (kind.warm) {
            const c = await RawConnection.connect(t.port);
            for (let i = 0; i < 2; i++) await exchangeOn(c, '/during.txt', {});
            c.destroy();
            assert.equal(files.cache.stats().files, 1);
          }
          const c = await RawConnection.connect(t.port);
          c.socket.pause();
          c.write(`GET /during.txt HTTP/1.1\r\nHost: t\r\n${kind.fields}Connection: close\r\n\r\n`);
          await sleep(50);
          change(file, what, v1, randomBytes);
          await sleep(20);
          c.socket.resume();
          await c.waitForClose(3000);
          const { head, body, complete } = bodyOfRaw(c.received);
          c.destroy();
          const compressed = /\r\ncontent-encoding: br/i.test(head);
          assert.equal(compressed, kind.fields !== '');
          const cutShort = kind.name !== 'from memory' && what === 'shrinks';
          assert.equal(complete, !cutShort, cutShort ? 'a file that shrank under a download from disk cuts the response short' : 'the response is whole');
          if (complete) assert.ok((compressed ? brotliDecompressSync(body) : body).equals(v1), 'the version the download began with');
          else if (!compressed) assert.ok(v1.subarray(0, body.length).equals(body), 'what was sent is the start of that version');
        } finally {
          await t.stop();
          fs.rmSync(file, { force: true });
        }
      });
    }
  }
});

function exchangeOn(c: RawConnection, target: string, fields: Record<string, string>, method = 'GET'): Promise<ParsedResponse> {
  let head = `${method} ${target} HTTP/1.1\r\nHost: t\r\n`;
  for (const [name, value] of Object.entries(fields)) head += `${name}: ${value}\r\n`;
  c.write(`${head}\r\n`);
  return c.readResponse({ method });
}
