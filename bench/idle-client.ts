/**
 * Idle-connection client: `node idle-client.js <port> <count> [tls]` opens <count> keep-alive
 * connections (TLS ones with `tls`) to 127.0.0.1:<port>, each after one `GET /` answered
 * `Hello, World!`, and prints one JSON line `{"event":"opened","ok","failed","ms","error"}`. On a line `again` on stdin it sends one more
 * `GET /` on every open connection, prints `{"event":"served","ok","failed","closedWhileIdle","ms",
 * "error"}`, closes everything and exits. Handshakes and requests in flight are bounded.
 */

import readline from 'node:readline';
import { connect, connectTls, getRequest, withTimeout, type RawConnection } from './lib/http-client.js';
import { HELLO } from './lib/scenarios.js';

const OPEN_CONCURRENCY = 200;
const AGAIN_CONCURRENCY = 1000;
const PHASE_TIMEOUT_MS = 120_000;

const [portArg, countArg, mode] = process.argv.slice(2);
const port = Number(portArg);
const count = Number(countArg);
if (!Number.isInteger(port) || !Number.isInteger(count) || count < 1 || (mode !== undefined && mode !== 'tls')) {
  process.stderr.write('usage: idle-client.js <port> <count> [tls]\n');
  process.exit(2);
}

const request = getRequest('/');

async function served(conn: RawConnection): Promise<void> {
  conn.send(request);
  const [response] = await withTimeout(conn.read(1), 30_000, 'response');
  if (response.status !== 200 || response.body.toString('latin1') !== HELLO) throw new Error(`bad response: status ${response.status}`);
}

/** Runs `task` for 0..n-1 with at most `limit` in flight. */
async function pool(n: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

const conns: RawConnection[] = [];
let failed = 0;
let firstError: string | null = null;
const noteError = (error: unknown): void => {
  failed++;
  firstError ??= (error as Error).message;
};

let started = Date.now();
await withTimeout(
  pool(count, OPEN_CONCURRENCY, async () => {
    let conn: RawConnection | null = null;
    try {
      conn = await (mode === 'tls' ? connectTls(port) : connect(port));
      await served(conn);
      conns.push(conn);
    } catch (error) {
      conn?.close();
      noteError(error);
    }
  }),
  PHASE_TIMEOUT_MS,
  'opening connections',
);
emit({ event: 'opened', ok: conns.length, failed, ms: Date.now() - started, error: firstError });

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) if (line.trim() === 'again') break;

const closedWhileIdle = conns.filter((conn) => !conn.open).length;
failed = 0;
firstError = null;
let ok = 0;
started = Date.now();
await withTimeout(
  pool(conns.length, AGAIN_CONCURRENCY, async (i) => {
    try {
      await served(conns[i]);
      ok++;
    } catch (error) {
      noteError(error);
    }
  }),
  PHASE_TIMEOUT_MS,
  'serving again',
);
emit({ event: 'served', ok, failed, closedWhileIdle, ms: Date.now() - started, error: firstError });
for (const conn of conns) conn.close();
lines.close();
process.exit(0);
