/**
 * Soak: 500,000 requests over 10,000 churned connections (50 pipelined requests each, 100
 * connections at a time) against a holdfast server in a child process started with --expose-gc.
 * Connections end three ways: 80 % send `Connection: close` on their last request (the server
 * closes), 10 % half-close after their last response (FIN), 10 % reset (RST) after it.
 *
 * At the end the server has no live connection, every request was answered 200, and the JS heap
 * after a full GC is back within 10 % of where it was after a 20,000-request warm-up.
 */

import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { mib, startChild, summary, waitForStats, type ChildServer, type ChildStats } from './attack-helpers.js';

const PER_CONNECTION = 50;
const CONNECTIONS = 10_000;
const WARMUP_CONNECTIONS = 400; // 20,000 requests
const CONCURRENCY = 100;
const CONNECTION_TIMEOUT_MS = 15_000;

const REQUEST = 'GET /soak HTTP/1.1\r\nHost: soak\r\n\r\n';
const LAST_CLOSE = 'GET /soak HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n';
const PIPELINE_KEEP = Buffer.from(REQUEST.repeat(PER_CONNECTION), 'latin1');
const PIPELINE_CLOSE = Buffer.from(REQUEST.repeat(PER_CONNECTION - 1) + LAST_CLOSE, 'latin1');
const STATUS_PREFIX = Buffer.from('HTTP/1.1 ', 'latin1');

type Ending = 'server-close' | 'fin' | 'rst';

/** One connection: 50 pipelined requests in one write, all 50 responses counted, then the ending. */
function runConnection(port: number, ending: Ending): Promise<{ ok: number; other: number; error: string | null }> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let tail = Buffer.alloc(0);
    let ok = 0;
    let statuses = 0;
    let error: string | null = null;
    let finished = false;
    const timer = setTimeout(() => {
      error = `timed out with ${ok}/${PER_CONNECTION} responses (${ending})`;
      socket.destroy();
    }, CONNECTION_TIMEOUT_MS);
    socket.setNoDelay(true);
    socket.on('connect', () => socket.write(ending === 'server-close' ? PIPELINE_CLOSE : PIPELINE_KEEP));
    socket.on('data', (chunk: Buffer) => {
      // Status lines may be split across chunks: keep the unmatched end of the previous chunk.
      const data = tail.length === 0 ? chunk : Buffer.concat([tail, chunk]);
      let consumed = 0;
      let at = data.indexOf(STATUS_PREFIX);
      while (at !== -1 && at + STATUS_PREFIX.length + 3 <= data.length) {
        statuses++;
        if (data[at + 9] === 0x32 && data[at + 10] === 0x30 && data[at + 11] === 0x30) ok++;
        consumed = at + STATUS_PREFIX.length + 3;
        at = data.indexOf(STATUS_PREFIX, consumed);
      }
      tail = Buffer.from(data.subarray(at !== -1 ? at : Math.max(consumed, data.length - (STATUS_PREFIX.length - 1))));
      if (!finished && ok === PER_CONNECTION) {
        finished = true;
        if (ending === 'fin') socket.end();
        else if (ending === 'rst') socket.resetAndDestroy();
      }
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (!(ending === 'rst' && finished)) error ??= `${e.code ?? e.message} after ${ok} responses (${ending})`;
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (error === null && ok !== PER_CONNECTION) error = `closed after ${ok}/${PER_CONNECTION} responses (${ending})`;
      resolve({ ok, other: statuses - ok, error });
    });
  });
}

async function runBatch(port: number, from: number, to: number, totals: { ok: number; other: number; errors: string[] }): Promise<void> {
  let next = from;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < to) {
        const i = next++;
        const ending: Ending = i % 10 < 8 ? 'server-close' : i % 10 === 8 ? 'fin' : 'rst';
        const result = await runConnection(port, ending);
        totals.ok += result.ok;
        totals.other += result.other;
        if (result.error !== null && totals.errors.length < 20) totals.errors.push(`connection ${i}: ${result.error}`);
      }
    }),
  );
}

describe('soak', () => {
  test(`${(PER_CONNECTION * CONNECTIONS).toLocaleString('en')} requests over ${CONNECTIONS.toLocaleString('en')} churned connections: no connection left, heap back within 10 %`, async (t: TestContext) => {
    const child: ChildServer = await startChild({ handler: 'hello', options: { lingerMs: 1000, keepAliveTimeoutMs: 5000 } }, { exposeGc: true });
    try {
      const totals = { ok: 0, other: 0, errors: [] as string[] };
      const started = Date.now();
      await runBatch(child.port, 0, WARMUP_CONNECTIONS, totals);
      await waitForStats(child, (s) => s.connectionCount === 0, 10_000, 'warm-up connections to close');
      const before = await child.gc();
      const warmMs = Date.now() - started;

      const samples: ChildStats[] = [];
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          samples.push(await child.stats());
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
      })();
      const mainStarted = Date.now();
      await runBatch(child.port, WARMUP_CONNECTIONS, CONNECTIONS, totals);
      const mainMs = Date.now() - mainStarted;
      sampling = false;
      await sampler;

      const drained = await waitForStats(child, (s) => s.connectionCount === 0, 10_000, 'every connection to close');
      const after = await child.gc();
      const requests = PER_CONNECTION * CONNECTIONS;
      const peakHeap = Math.max(...samples.map((s) => s.heapUsed));
      const peakRss = Math.max(...samples.map((s) => s.rss));
      const peakLive = Math.max(...samples.map((s) => s.connectionCount));
      t.diagnostic(`warm-up ${(WARMUP_CONNECTIONS * PER_CONNECTION).toLocaleString('en')} requests in ${warmMs} ms; main ${(requests - WARMUP_CONNECTIONS * PER_CONNECTION).toLocaleString('en')} in ${mainMs} ms (${Math.round(((requests - WARMUP_CONNECTIONS * PER_CONNECTION) / mainMs) * 1000).toLocaleString('en')} req/s)`);
      t.diagnostic(`heap after GC: ${mib(before.heapUsed)} after warm-up → ${mib(after.heapUsed)} at the end (${(((after.heapUsed - before.heapUsed) / before.heapUsed) * 100).toFixed(1)} %); peak heap ${mib(peakHeap)}, peak RSS ${mib(peakRss)} (RSS ${mib(before.rss)} → ${mib(after.rss)}); peak live connections ${peakLive}`);
      t.diagnostic(`server: ${JSON.stringify(summary(drained))}`);

      assert.deepEqual(totals.errors, [], 'every connection got its 50 responses and ended as planned');
      assert.equal(totals.ok, requests, 'every request answered 200');
      assert.equal(totals.other, 0, 'no other status');
      assert.equal(drained.requests, requests);
      assert.equal(drained.opened, CONNECTIONS);
      assert.equal(drained.closed, CONNECTIONS);
      assert.equal(drained.connectionCount, 0, 'no live connection at the end');
      assert.equal(drained.internalErrors, 0);
      assert.deepEqual(drained.protocolErrors, {});
      assert.equal(drained.closeReasons['client-close'], (CONNECTIONS * 8) / 10);
      assert.ok(after.heapUsed <= before.heapUsed * 1.1, `heap grew from ${mib(before.heapUsed)} to ${mib(after.heapUsed)}`);
    } finally {
      const final = await child.stop();
      assert.equal(final?.connectionCount, 0);
    }
  });
});
