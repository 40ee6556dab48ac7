/**
 * Graceful shutdown under load: 100 keep-alive clients send back-to-back requests, and the server is
 * told to stop mid-load.
 *
 * Each client is a raw socket (test/helpers/raw-client.ts parses the framing for real) that behaves
 * as a correct HTTP/1.1 client: it sends its next request as soon as a response is complete, and
 * stops when a response says `Connection: close` (then expects the server's FIN). A request that gets
 * no response, a reset, or a connection closed without `Connection: close` is a failure.
 *
 *   holdfast CLI   `node dist/src/cli/main.js <tmpdir> --port 0 --log json --max-requests 0`
 *                  (static file), SIGTERM. Asserted: zero failures; all 100 clients got
 *                  `Connection: close` then FIN; every request logged after the CLI announced the
 *                  drain says keepAlive false; the process exits 0 within its 10 s grace and prints
 *                  `shutdown: 100 connection(s) drained cleanly, 0 forced`; its JSON log has 100
 *                  closes with reason `shutdown` and as many requests as the clients got responses.
 *   holdfast       in-process `server.close()`, with a handler that answers at once and one that
 *                  takes 2 ms: the same, and the CloseReport is { drained: 100, forced: 0, upgraded: 0 }.
 *   node:http      in-process `server.close()` + `server.closeIdleConnections()`, as node users do,
 *                  same two handlers. Printed, not asserted: failed requests, clients told
 *                  `Connection: close`, clients still kept alive 2 s after close(). What we see:
 *                  close() destroys every connection that is between requests at that instant
 *                  (RST when the client's next request is already there, FIN just before it comes),
 *                  and keeps serving the others with `Connection: keep-alive`.
 *
 * The "…said keep-alive" column counts, on the client side, responses read after the stop began that
 * said keep-alive; for holdfast those were sent before it began (the server-side checks prove it).
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import { createServer, type HttpResponse } from '../../src/index.js';
import { startCli } from '../helpers/cli.js';
import { RawConnection } from '../helpers/raw-client.js';
import { describeError, formatTable, sleep } from './helpers.js';

const CLIENTS = 100;
/** Load before the shutdown starts. */
const LOAD_MS = 1500;
const FILE_BODY = 'holdfast shutdown-load fixture\n'.repeat(8);

interface Outcome {
  /** Complete responses received. */
  responses: number;
  /** Responses that arrived after the shutdown began. */
  afterShutdown: number;
  /** …of which said `Connection: keep-alive` (a promise the server may not keep). */
  keepAliveAfterShutdown: number;
  /** The last response said `Connection: close`. */
  toldToClose: boolean;
  /** How the server ended the connection after `Connection: close`. */
  closedBy: 'fin' | 'rst' | null;
  /** Still being served with keep-alive when the client was stopped. */
  stillServed: boolean;
  error: string | null;
}

interface Load {
  /** Resolves when every client has connected and received its first response. */
  ready: Promise<void>;
  /** Marks the moment the shutdown starts (responses after it are counted). */
  markShutdown(): void;
  /** Stops the clients still running (they count as `stillServed`). */
  stop(): void;
  done: Promise<Outcome[]>;
}

function startLoad(port: number, clients = CLIENTS): Load {
  let shutdownAt = Infinity;
  let stopped = false;
  let readyCount = 0;
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const request = `GET /file.txt HTTP/1.1\r\nHost: load\r\n\r\n`;
  const one = async (): Promise<Outcome> => {
    const outcome: Outcome = { responses: 0, afterShutdown: 0, keepAliveAfterShutdown: 0, toldToClose: false, closedBy: null, stillServed: false, error: null };
    let counted = false;
    /** This client is under way (first response) or finished: `ready` waits for every client. */
    const countReady = (): void => {
      if (counted) return;
      counted = true;
      if (++readyCount === clients) markReady();
    };
    let connection: RawConnection;
    try {
      connection = await RawConnection.connect(port);
    } catch (error) {
      outcome.error = `connect: ${describeError(error)}`;
      countReady();
      return outcome;
    }
    try {
      for (;;) {
        if (stopped) {
          outcome.stillServed = true;
          return outcome;
        }
        connection.write(request);
        let response;
        try {
          response = await connection.readResponse({ timeoutMs: 15_000 });
        } catch (error) {
          outcome.error = `request ${outcome.responses + 1}: ${describeError(error)}`;
          return outcome;
        }
        outcome.responses++;
        countReady();
        const close = (response.header('connection') ?? '').toLowerCase() === 'close';
        if (performance.now() > shutdownAt) {
          outcome.afterShutdown++;
          if (!close) outcome.keepAliveAfterShutdown++;
        }
        if (response.status !== 200 || response.body.toString() !== FILE_BODY) {
          outcome.error = `request ${outcome.responses}: status ${response.status}, ${response.body.length} body bytes`;
          return outcome;
        }
        if (close) {
          outcome.toldToClose = true;
          try {
            outcome.closedBy = await connection.waitForClose(5000);
          } catch (error) {
            outcome.error = `after Connection: close: ${describeError(error)}`;
          }
          if (outcome.closedBy === 'rst') outcome.error = 'reset after Connection: close';
          return outcome;
        }
      }
    } finally {
      connection.destroy();
      countReady();
    }
  };
  const done = Promise.all(Array.from({ length: clients }, one));
  return {
    ready,
    markShutdown: () => (shutdownAt = performance.now()),
    stop: () => (stopped = true),
    done,
  };
}

interface Row {
  server: string;
  outcomes: Outcome[];
  stopMs: number;
  report: string;
}

const rows: Row[] = [];
const failed = (outcomes: Outcome[]): Outcome[] => outcomes.filter((o) => o.error !== null);
const sum = (outcomes: Outcome[], pick: (o: Outcome) => number): number => outcomes.reduce((total, o) => total + pick(o), 0);

function errorsOf(outcomes: Outcome[]): string {
  const counts = new Map<string, number>();
  for (const o of failed(outcomes)) {
    const key = (o.error as string).replace(/^request \d+: /, '');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([error, n]) => `${n} × ${error}`).join('; ');
}

function assertCleanDrain(outcomes: Outcome[]): void {
  assert.equal(failed(outcomes).length, 0, `failed clients: ${errorsOf(outcomes)}`);
  assert.equal(outcomes.filter((o) => o.toldToClose && o.closedBy === 'fin').length, CLIENTS, 'every client is told Connection: close, then gets a FIN');
  assert.ok(
    outcomes.every((o) => o.responses >= 2 && o.afterShutdown >= 1),
    'every client was mid-load: served before the shutdown and answered (with Connection: close) after it',
  );
}

let root: string;
before(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'holdfast-shutdown-'));
  writeFileSync(path.join(root, 'file.txt'), FILE_BODY);
});
after(() => {
  rmSync(root, { recursive: true, force: true });
  console.log(`\nshutdown under load: ${CLIENTS} keep-alive clients sending back-to-back, stopped after ${LOAD_MS} ms`);
  console.log(
    formatTable(
      ['server', 'responses', 'after stop began', '…said keep-alive', 'failed requests', 'told Connection: close', 'still kept alive after 2 s', 'stop took', 'server said'],
      rows.map((r) => [
        r.server,
        sum(r.outcomes, (o) => o.responses),
        sum(r.outcomes, (o) => o.afterShutdown),
        sum(r.outcomes, (o) => o.keepAliveAfterShutdown),
        failed(r.outcomes).length,
        r.outcomes.filter((o) => o.toldToClose).length,
        r.outcomes.filter((o) => o.stillServed).length,
        `${r.stopMs.toFixed(0)} ms`,
        r.report,
      ]),
    ),
  );
  for (const r of rows) if (failed(r.outcomes).length > 0) console.log(`${r.server} failures: ${errorsOf(r.outcomes)}`);
  console.log('');
});

test('holdfast CLI: SIGTERM under load drains all 100 connections with Connection: close, exits 0', { timeout: 60_000 }, async () => {
  const cli = await startCli([root, '--port', '0', '--log', 'json', '--max-requests', '0']);
  try {
    const load = startLoad(cli.port);
    await load.ready;
    await sleep(LOAD_MS);
    load.markShutdown();
    const signalledAt = performance.now();
    const stopped = cli.stop('SIGTERM');
    const outcomes = await load.done;
    const { code, stdout } = await stopped;
    const stopMs = performance.now() - signalledAt;
    const report = /shutdown: (\d+) connection\(s\) drained cleanly, (\d+) forced/.exec(stdout);
    rows.push({ server: 'holdfast CLI (SIGTERM)', outcomes, stopMs, report: report?.[0] ?? '(no drain report)' });

    assertCleanDrain(outcomes);
    assert.equal(code, 0, 'exit code');
    assert.ok(stopMs < 10_000, `exited ${stopMs.toFixed(0)} ms after SIGTERM: beyond the 10 s grace`);
    assert.ok(report !== null, `no drain report in:\n${stdout.slice(-2000)}`);
    assert.equal(Number(report[1]), CLIENTS, 'drained cleanly = the connections the clients saw closed with Connection: close');
    assert.equal(Number(report[2]), 0, 'forced');
    const lines = stdout.split('\n');
    const signalLine = lines.findIndex((line) => line.startsWith('SIGTERM: draining'));
    assert.ok(signalLine > 0, 'the CLI announced the drain');
    const afterSignal = lines.slice(signalLine).filter((line) => line.startsWith('{"')).map((line) => JSON.parse(line) as { event: string; keepAlive?: boolean });
    assert.deepEqual(
      afterSignal.filter((e) => e.event === 'request' && e.keepAlive !== false),
      [],
      'every response after SIGTERM says Connection: close',
    );
    const events = lines
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { event: string; reason?: string; keepAlive?: boolean });
    const closes = events.filter((e) => e.event === 'connection-close');
    assert.equal(closes.length, CLIENTS);
    assert.deepEqual([...new Set(closes.map((e) => e.reason))], ['shutdown']);
    const requests = events.filter((e) => e.event === 'request');
    assert.equal(requests.length, sum(outcomes, (o) => o.responses), 'requests logged = responses the clients received');
    assert.equal(requests.filter((e) => e.keepAlive === false).length, CLIENTS, 'one Connection: close response per connection');
  } finally {
    await cli.stop('SIGKILL');
  }
});

/** In-process handlers: the body at once, or after 2 ms (a handler waiting on something, as real ones do). */
type Handling = 'immediate' | '2 ms handler';
const HANDLINGS: Handling[] = ['immediate', '2 ms handler'];

for (const handling of HANDLINGS) {
  test(`holdfast in-process, ${handling}: server.close() under load drains all 100 connections, CloseReport { drained: 100, forced: 0, upgraded: 0 }`, { timeout: 60_000 }, async () => {
    const respond = (): HttpResponse => ({ status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: FILE_BODY });
    const server = createServer({ keepAliveTimeoutMs: 5000, maxRequestsPerConnection: 0, log: 'off' }, handling === 'immediate' ? respond : () => sleep(2).then(respond));
    let keptAliveAfterClose = 0;
    let closing = false;
    server.on('request', (e) => {
      if (closing && e.keepAlive) keptAliveAfterClose++;
    });
    const { port } = await server.listen(0, '127.0.0.1');
    try {
      const load = startLoad(port);
      await load.ready;
      await sleep(LOAD_MS);
      load.markShutdown();
      const startedAt = performance.now();
      closing = true;
      const report = await server.close({ graceMs: 10_000 });
      const stopMs = performance.now() - startedAt;
      const outcomes = await load.done;
      rows.push({ server: `holdfast server.close(), ${handling}`, outcomes, stopMs, report: `drained ${report.drained}, forced ${report.forced}` });

      assertCleanDrain(outcomes);
      assert.deepEqual(report, { drained: CLIENTS, forced: 0, upgraded: 0 });
      assert.equal(keptAliveAfterClose, 0, 'responses after close() began must all say Connection: close');
      assert.equal(server.connectionCount, 0);
    } finally {
      await server.close({ graceMs: 0 });
    }
  });
}

for (const handling of HANDLINGS) {
  test(`node:http, ${handling}: server.close() + closeIdleConnections() under the same load (measured, not asserted)`, { timeout: 60_000 }, async () => {
    const server = http.createServer((_req, res) => {
      const respond = (): void => {
        res.setHeader('content-type', 'text/plain; charset=utf-8');
        res.end(FILE_BODY);
      };
      if (handling === 'immediate') respond();
      else setTimeout(respond, 2);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      const load = startLoad(port);
      await load.ready;
      await sleep(LOAD_MS);
      load.markShutdown();
      const startedAt = performance.now();
      let closedAfterMs = -1;
      const closed = new Promise<void>((resolve) =>
        server.close(() => {
          closedAfterMs = performance.now() - startedAt;
          resolve();
        }),
      );
      server.closeIdleConnections();
      // Clients node still serves 2 s after close() are stopped (and counted); then close() can finish.
      await Promise.race([load.done, sleep(2000)]);
      load.stop();
      const outcomes = await load.done;
      await closed;
      const stopMs = performance.now() - startedAt;
      rows.push({ server: `node:http close() + closeIdleConnections(), ${handling}`, outcomes, stopMs, report: `close() callback after ${closedAfterMs.toFixed(0)} ms` });
      assert.equal(outcomes.length, CLIENTS);
    } finally {
      server.closeAllConnections();
      if (server.listening) server.close();
    }
  });
}
