/**
 * 100 MiB each way through holdfast's proxy (in a process of its own, maxBodyBytes 0), byte-exact
 * and with bounded memory:
 *   upload    the client sends as fast as it can (Content-Length), the upstream (node:http) reads
 *             slowly: the proxy must stop reading the client, not buffer;
 *   download  the upstream writes as fast as it can (chunked), the client reads slowly: the proxy
 *             must stop reading the upstream, not buffer.
 * Both sides hash what they send and receive (SHA-256). The proxy's RSS is sampled every 50 ms by
 * the child itself; its peak above the RSS before the transfers must stay far below 100 MiB.
 */

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import { test } from 'node:test';
import { startProxyChild } from './proxy-helpers.js';

const TOTAL_BYTES = 100 * 1024 * 1024;
const PIECE_BYTES = 1024 * 1024;
/** Readers on the slow side pause this long after every SLOW_EVERY_BYTES. */
const SLOW_PAUSE_MS = 2;
const SLOW_EVERY_BYTES = 128 * 1024;
/** Peak RSS growth of the proxy allowed (a proxy that buffered would grow by 100 MiB or more; measured: about 37 MiB, read buffers awaiting GC). */
const MAX_RSS_GROWTH_BYTES = 64 * 1024 * 1024;

/** Piece i of the pattern: every piece differs, so a repeated or dropped piece changes the hash. */
function piece(i: number): Buffer {
  const bytes = Buffer.allocUnsafe(PIECE_BYTES);
  for (let k = 0; k < PIECE_BYTES; k += 4) bytes.writeUInt32LE((i * 2_654_435_761 + k) >>> 0, k);
  return bytes;
}

function expectedHash(): string {
  const hash = createHash('sha256');
  for (let i = 0; i < TOTAL_BYTES / PIECE_BYTES; i++) hash.update(piece(i));
  return hash.digest('hex');
}

/** Reads `stream` slowly: a pause every SLOW_EVERY_BYTES; resolves with the bytes and their hash. */
function readSlowly(stream: NodeJS.ReadableStream & { pause(): unknown; resume(): unknown }): Promise<{ bytes: number; sha: string }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let bytes = 0;
    let sinceBreak = 0;
    stream.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
      sinceBreak += chunk.length;
      if (sinceBreak >= SLOW_EVERY_BYTES) {
        sinceBreak = 0;
        stream.pause();
        setTimeout(() => stream.resume(), SLOW_PAUSE_MS);
      }
    });
    stream.on('end', () => resolve({ bytes, sha: hash.digest('hex') }));
    stream.on('error', reject);
  });
}

/** Writes the pattern with backpressure (as fast as the peer takes it). */
async function writePattern(out: NodeJS.WritableStream): Promise<void> {
  for (let i = 0; i < TOTAL_BYTES / PIECE_BYTES; i++) {
    if (!out.write(piece(i))) await once(out as unknown as NodeJS.EventEmitter, 'drain');
  }
}

test('100 MiB up and down through the proxy, slow reader on the far side: byte-exact, proxy RSS bounded', { timeout: 90_000 }, async () => {
  const sha = expectedHash();
  const upstream = http.createServer((req, res) => {
    if (req.url === '/upload') {
      void readSlowly(req).then((received) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(received)));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    void writePattern(res).then(() => res.end());
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const upstreamPort = (upstream.address() as net.AddressInfo).port;
  const proxy = await startProxyChild({ proxy: { upstreams: [`http://127.0.0.1:${upstreamPort}`] }, server: { maxBodyBytes: 0 } });
  try {
    const before = await proxy.report();
    const agent = new http.Agent({ keepAlive: false });

    const upload = await new Promise<{ bytes: number; sha: string }>((resolve, reject) => {
      const req = http.request({ port: proxy.port, host: '127.0.0.1', path: '/upload', method: 'POST', agent, headers: { 'content-length': TOTAL_BYTES } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text) as { bytes: number; sha: string }) : reject(new Error(`upload: ${res.statusCode} ${text}`))));
      });
      req.on('error', reject);
      void writePattern(req).then(() => req.end());
    });
    assert.deepEqual(upload, { bytes: TOTAL_BYTES, sha }, 'the upstream received the upload byte for byte');
    const afterUpload = await proxy.report();

    const download = await new Promise<{ bytes: number; sha: string }>((resolve, reject) => {
      const req = http.get({ port: proxy.port, host: '127.0.0.1', path: '/download', agent }, (res) => {
        assert.equal(res.headers['transfer-encoding'], 'chunked');
        readSlowly(res).then(resolve, reject);
      });
      req.on('error', reject);
    });
    assert.deepEqual(download, { bytes: TOTAL_BYTES, sha }, 'the client received the download byte for byte');
    const after = await proxy.report();
    agent.destroy();

    const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
    console.log(
      `proxy RSS: before ${mib(before.rss)}; peak during the upload +${mib(afterUpload.maxRss - before.rss)}, during the download +${mib(after.maxRss - before.rss)} (limit +${mib(MAX_RSS_GROWTH_BYTES)})`,
    );
    assert.ok(afterUpload.maxRss - before.rss < MAX_RSS_GROWTH_BYTES, `upload: the proxy's RSS grew by ${mib(afterUpload.maxRss - before.rss)}`);
    assert.ok(after.maxRss - before.rss < MAX_RSS_GROWTH_BYTES, `download: the proxy's RSS grew by ${mib(after.maxRss - before.rss)}`);
    assert.deepEqual([...before.errors, ...afterUpload.errors, ...after.errors], []);
  } finally {
    await proxy.stop();
    upstream.closeAllConnections();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  }
});
