import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { FILE_CHUNK_BYTES, FileBody } from '../../src/handlers/file-body.js';
import { RawConnection, exchange } from '../helpers/raw-client.js';
import { GET, sleep, startServer } from '../helpers/server.js';

let tmp = '';
const files: Array<{ file: string; bytes: Buffer }> = [];
// Sizes around the read piece: less than one, an exact multiple, and odd tails.
// The last two are bigger than the kernel's socket buffers, so a paused reader backs them up.
const SIZES = [1000, FILE_CHUNK_BYTES, 2 * FILE_CHUNK_BYTES + 17, 3 * FILE_CHUNK_BYTES - 1, 700_001, 6_000_003, 5_000_011];

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-filebody-'));
  SIZES.forEach((size, i) => {
    const file = path.join(tmp, `f${i}.bin`);
    const bytes = randomBytes(size);
    fs.writeFileSync(file, bytes);
    files.push({ file, bytes });
  });
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** This process's open file descriptors (Linux). */
function openDescriptors(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of body) parts.push(chunk);
  return Buffer.concat(parts);
}

/** Reads one response head + exactly `length` body bytes from a socket that may be paused at times. */
async function download(port: number, request: string, pauseMs: number): Promise<{ head: string; body: Buffer }> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = once(socket, 'end');
  if (pauseMs > 0) socket.pause(); // the response backs up: the server waits for drain with buffers queued
  socket.write(request);
  if (pauseMs > 0) {
    await sleep(pauseMs);
    socket.resume();
  }
  await ended;
  socket.destroy();
  const all = Buffer.concat(chunks);
  const headEnd = all.indexOf('\r\n\r\n');
  return { head: all.subarray(0, headEnd).toString('latin1'), body: all.subarray(headEnd + 4) };
}

describe('FileBody as an async iterable', () => {
  test('yields the byte range, in pieces of at most FILE_CHUNK_BYTES', async () => {
    const { file, bytes } = files[3];
    const chunks: Uint8Array[] = [];
    for await (const chunk of new FileBody(file, 0, bytes.length)) chunks.push(chunk);
    assert.ok(chunks.every((c) => c.length <= FILE_CHUNK_BYTES));
    assert.equal(chunks.length, 3);
    assert.ok(Buffer.concat(chunks).equals(bytes));
    assert.ok((await collect(new FileBody(file, 100_000, 400_000))).equals(bytes.subarray(100_000, 500_000)));
  });

  test('an empty range opens nothing; a file shorter than the range ends early', async () => {
    assert.equal((await collect(new FileBody(path.join(tmp, 'missing'), 0, 0))).length, 0);
    const { file, bytes } = files[0];
    assert.ok((await collect(new FileBody(file, 0, bytes.length + 50))).equals(bytes));
  });

  test('negative or fractional offsets are refused', () => {
    assert.throws(() => new FileBody('x', -1, 1), RangeError);
    assert.throws(() => new FileBody('x', 0, 1.5), RangeError);
  });
});

describe('FileBody written by the server', () => {
  test('byte-exact, with or without a declared Content-Length (one is added), ranges across pieces', async () => {
    const t = await startServer({}, (req) => {
      const { file, bytes } = files[Number(req.path.slice(1, 2))];
      if (req.path.endsWith('/range')) return { status: 206, headers: { 'content-length': '300000' }, body: new FileBody(file, 200_000, 300_000) };
      if (req.path.endsWith('/undeclared')) return { status: 200, body: new FileBody(file, 0, bytes.length) };
      return { status: 200, headers: { 'content-length': String(bytes.length) }, body: new FileBody(file, 0, bytes.length) };
    });
    const c = await RawConnection.connect(t.port);
    try {
      for (let i = 0; i < files.length; i++) {
        c.write(GET(`/${i}`));
        const whole = await c.readResponse();
        assert.equal(whole.header('content-length'), String(files[i].bytes.length));
        assert.ok(whole.body.equals(files[i].bytes), `file ${i}`);
        c.write(GET(`/${i}/undeclared`));
        const undeclared = await c.readResponse();
        assert.equal(undeclared.framing, 'length', 'its length is known: never chunked');
        assert.equal(undeclared.header('content-length'), String(files[i].bytes.length));
        assert.ok(undeclared.body.equals(files[i].bytes), `file ${i} without a declared length`);
      }
      c.write(GET('/4/range'));
      const range = await c.readResponse();
      assert.equal(range.status, 206);
      assert.ok(range.body.equals(files[4].bytes.subarray(200_000, 500_000)));
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('concurrent downloads through slow readers never see another response\'s bytes (reused buffers)', async () => {
    const t = await startServer({}, (req) => {
      const { file, bytes } = files[Number(req.path.slice(1))];
      return { status: 200, headers: { 'content-length': String(bytes.length) }, body: new FileBody(file, 0, bytes.length) };
    });
    try {
      const picks = [5, 6, 5, 6, 1, 2, 3, 4, 6, 5];
      // Four readers pause with their responses backed up (chunks queued in the socket); the other
      // six start meanwhile and read through the same buffer pool.
      const results = await Promise.all(
        picks.map(async (i, n) => {
          if (n >= 4) await sleep(40);
          return download(t.port, GET(`/${i}`, 'Connection: close\r\n'), n < 4 ? 150 : 0);
        }),
      );
      results.forEach((r, n) => {
        assert.match(r.head, /^HTTP\/1\.1 200 /);
        assert.ok(r.body.equals(files[picks[n]].bytes), `download ${n} (file ${picks[n]}) is byte-exact`);
      });
      await t.closed(picks.length, 2000);
      assert.equal(t.server.connectionCount, 0);
    } finally {
      await t.stop();
    }
  });

  test('a Content-Length that disagrees with the file body is a handler bug: 500 before any byte of it', async () => {
    const { file, bytes } = files[0];
    const t = await startServer({}, () => ({ status: 200, headers: { 'content-length': String(bytes.length + 1) }, body: new FileBody(file, 0, bytes.length) }));
    try {
      const [response] = await exchange(t.port, GET());
      assert.equal(response.status, 500);
    } finally {
      await t.stop();
    }
  });

  test('a FIFO is refused at once, without blocking the event loop in open(2)', () => {
    const fifo = path.join(tmp, 'fifo');
    execFileSync('mkfifo', [fifo]);
    // In a child with a time limit: opened blocking, it would hang the process instead of failing.
    const script = `import { FileBody } from ${JSON.stringify(new URL('../../src/handlers/file-body.js', import.meta.url).href)};
      try { new FileBody(process.argv[1], 0, 10).open(); console.log('opened'); } catch (error) { console.log(error.message); }`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script, fifo], { timeout: 5000, encoding: 'utf8' });
    assert.equal(out.trim(), 'not a regular file');
  });

  test('a file that is gone, not a regular file or not the one the headers describe: a clean 500, the connection kept', async () => {
    const { file, bytes } = files[0];
    const stats = fs.statSync(file);
    const bodies: Record<string, () => FileBody> = {
      '/gone': () => new FileBody(path.join(tmp, 'no-such-file'), 0, 10),
      '/dir': () => new FileBody(tmp, 0, 10),
      '/replaced': () => new FileBody(file, 0, bytes.length, { ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs - 1000 }),
      '/same': () => new FileBody(file, 0, bytes.length, { ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs }),
    };
    const t = await startServer({}, (req) => ({ status: 200, body: bodies[req.path]() }));
    const c = await RawConnection.connect(t.port);
    const fdsBefore = openDescriptors(); // both ends of the connection are in this process
    try {
      for (const p of ['/gone', '/dir', '/replaced']) {
        c.write(GET(p));
        const r = await c.readResponse();
        assert.equal(r.status, 500, p);
        assert.equal(r.header('connection'), 'keep-alive', p);
      }
      c.write(GET('/same'));
      const same = await c.readResponse();
      assert.equal(same.header('content-length'), String(bytes.length), 'a FileBody without Content-Length gets one');
      assert.ok(same.body.equals(bytes));
      assert.equal(openDescriptors(), fdsBefore, 'every descriptor opened was closed');
      assert.equal(t.logs.filter((line) => line.includes('handler-error')).length, 3);
    } finally {
      c.destroy();
      await t.stop();
    }
  });

  test('a client that resets mid-download: the server closes, the file descriptor is released', async () => {
    const { file, bytes } = files[5];
    const t = await startServer({}, () => ({ status: 200, body: new FileBody(file, 0, bytes.length) }));
    const fdsBefore = openDescriptors();
    const socket = net.connect({ port: t.port, host: '127.0.0.1' });
    try {
      await once(socket, 'connect');
      socket.on('error', () => undefined);
      socket.pause(); // the response backs up: the server is mid-file when the reset comes
      socket.write(GET());
      await sleep(60);
      socket.resetAndDestroy();
      await t.closed(1, 1000);
      assert.equal(t.server.connectionCount, 0);
      await sleep(20); // a read in flight on the thread pool finishes before the close
      assert.equal(openDescriptors(), fdsBefore);
    } finally {
      socket.destroy();
      await t.stop();
    }
  });
});
