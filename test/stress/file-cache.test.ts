/**
 * serveStatic's file cache under a churn of more distinct large files than it holds, in a child
 * process so its memory is measured alone: the bytes the cache holds never pass its cap, and the
 * server's RSS grows by no more than the cap plus a small constant — both when the files in use
 * keep their place (the default) and when entries unused for 50 ms may be evicted
 * (cacheInactiveMs 50), where evicted buffers stay counted until the garbage collector frees them.
 * A file's two requests, written together, fall within 50 ms of each other and so admit it; within
 * 1 ms (this test's setting before) they did not where writing the first 1 MiB response took longer.
 */

import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { once } from 'node:events';
import { MemorySampler, MiB, mib, startChild } from './attack-helpers.js';

const FILES = 48;
const CAP = 16 * MiB;
/** What besides the cache may grow: responses in flight (4 clients × 1 MiB, and evicted buffers the GC has not freed yet), heap, allocator slack. */
const SLACK = 24 * MiB;
let root = '';

before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-cache-churn-'));
  for (let i = 0; i < FILES; i++) fs.writeFileSync(path.join(root, `f${i}.bin`), Buffer.alloc(MiB, i));
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

/**
 * `clients` keep-alive connections, each requesting `files` files in turn, `passes` times, each
 * file `times` times in one write (read in one turn: the second request admits it); checks every body.
 */
async function churn(port: number, clients: number, passes: number, files = FILES, times = 2): Promise<number> {
  let served = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, k) => {
      const socket = net.connect({ port, host: '127.0.0.1' });
      await once(socket, 'connect');
      let pending = Buffer.alloc(0);
      let wake: (() => void) | null = null;
      socket.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        wake?.();
      });
      const next = async (): Promise<Buffer> => {
        for (;;) {
          const headEnd = pending.indexOf('\r\n\r\n');
          if (headEnd !== -1) {
            const length = Number(/content-length: (\d+)/i.exec(pending.subarray(0, headEnd).toString('latin1'))?.[1]);
            if (pending.length >= headEnd + 4 + length) {
              const body = pending.subarray(headEnd + 4, headEnd + 4 + length);
              pending = pending.subarray(headEnd + 4 + length);
              return body;
            }
          }
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = null;
        }
      };
      for (let pass = 0; pass < passes; pass++) {
        for (let j = 0; j < files; j++) {
          const i = (j + k * 7) % FILES;
          socket.write(`GET /f${i}.bin HTTP/1.1\r\nHost: t\r\n\r\n`.repeat(times));
          for (let n = 0; n < times; n++) {
            const body = await next();
            assert.equal(body.length, MiB);
            assert.equal(body[0], i);
            assert.equal(body[MiB - 1], i);
            served++;
          }
        }
      }
      socket.destroy();
    }),
  );
  return served;
}

describe('file cache churn', () => {
  for (const [label, cacheInactiveMs] of [['files in use keep their place', 20_000], ['admissions evict (cacheInactiveMs 50)', 50]] as const) {
    test(`${FILES} distinct 1 MiB files through a ${mib(CAP)} cache, ${label}: held bytes ≤ cap, RSS growth ≤ cap + ${mib(SLACK)}`, async (t: TestContext) => {
      const child = await startChild({ handler: 'static', staticRoot: root, staticOptions: { maxCacheBytes: CAP, cacheInactiveMs }, options: { lingerMs: 200, maxRequestsPerConnection: 0 } });
      try {
        await churn(child.port, 1, 1, 1, 1); // code paths warm, nothing cached yet
        const before = await child.stats();
        const sampler = new MemorySampler(child, 50);
        const served = await churn(child.port, 4, 3);
        const samples = await sampler.stop();
        const last = await child.stats();
        const cache = last.fileCache;
        assert.ok(cache !== null);
        const maxHeld = Math.max(...samples.map((s) => s.fileCache?.bytes ?? 0), cache.bytes);
        t.diagnostic(`${served} requests; cache ${mib(cache.bytes)} held (max ${mib(maxHeld)}), ${cache.files} files, ${cache.hits} hits, ${cache.misses} misses, ${cache.evictions} evictions`);
        t.diagnostic(`RSS ${mib(before.rss)} → max ${mib(sampler.maxRss)} (growth ${mib(sampler.maxRss - before.rss)})`);
        assert.ok(maxHeld <= CAP, `held ${maxHeld}`);
        assert.ok(cache.hits > 0, 'some requests were answered from memory');
        if (cacheInactiveMs === 50) assert.ok(cache.evictions > 0, 'the churn evicted');
        else assert.equal(cache.evictions, 0, 'files in use were never evicted');
        assert.ok(sampler.maxRss - before.rss <= CAP + SLACK, `RSS grew by ${mib(sampler.maxRss - before.rss)}`);
      } finally {
        const final = await child.stop();
        assert.equal(final?.connectionCount, 0);
      }
    });
  }
});
