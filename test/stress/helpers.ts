/**
 * Shared helpers for the stress tests (idle-race, nginx-proxy, shutdown-load).
 *
 * This module is also the entry point of the child-process servers the idle-race test talks to:
 * `node helpers.js --serve holdfast|node:http <keepAliveTimeoutMs>` starts a server on 127.0.0.1:0 in
 * its own process (so a handler that blocks the server's event loop never blocks the clients that
 * measure it) and reports `{ port }` over IPC. Imported normally, it starts nothing.
 *
 * Both child servers answer the same two routes:
 *   GET /block?ms=N  busy-loops N ms on the server's event loop, then answers
 *                    `{"blockedFrom":…, "blockedUntil":…}` (epoch ms, sub-ms precision)
 *   anything else    `<connection id> <request index on that connection> <epoch ms when answered>`
 */

import { fork, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildConnector, Pool } from 'undici';
import { createServer } from '../../src/index.js';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves at the monotonic time `at` (performance.now() ms) or just after it. */
export function sleepUntil(at: number): Promise<void> {
  const wait = at - performance.now();
  return wait <= 0 ? Promise.resolve() : sleep(wait);
}

/** Epoch milliseconds with sub-millisecond precision, comparable across processes on one host. */
export const epochNow = (): number => performance.timeOrigin + performance.now();

/** A short label for whatever a client threw: code and message. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  const cause = (error as { cause?: unknown }).cause;
  const causeText = cause instanceof Error ? ` (cause: ${describeError(cause)})` : '';
  return `${code ? `${code}: ` : ''}${error.message}${causeText}`;
}

/** A fixed-width text table for console output. */
export function formatTable(header: string[], rows: Array<Array<string | number>>): string {
  const cells = [header, ...rows.map((row) => row.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]): string => row.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd();
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** A port that was free a moment ago (for servers that cannot report the port they bound, like nginx). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// ── nginx ────────────────────────────────────────────────────────────────────

export const NGINX = '/usr/sbin/nginx';

/** The nginx binary, or a failure that says how to get it: these tests never pass silently without it. */
export function requireNginx(): string {
  if (!existsSync(NGINX)) {
    throw new Error(`nginx is not installed (${NGINX} not found): run \`apt-get install -y nginx\` (Debian/Ubuntu) and re-run the stress tests`);
  }
  const probe = spawnSync(NGINX, ['-v'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(`${NGINX} -v failed (${probe.error?.message ?? probe.stderr}): reinstall it with \`apt-get install -y nginx\``);
  }
  return probe.stderr.trim();
}

// ── child-process servers ────────────────────────────────────────────────────

export type ServerKind = 'holdfast' | 'node:http';

export interface ChildServer {
  kind: ServerKind;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

const HELPERS = fileURLToPath(import.meta.url);

/** Starts `kind` in a child process with keepAliveTimeoutMs (node: server.keepAliveTimeout). */
export async function startChildServer(kind: ServerKind, keepAliveTimeoutMs: number): Promise<ChildServer> {
  const child = fork(HELPERS, ['--serve', kind, String(keepAliveTimeoutMs)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = once(child, 'exit');
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${kind} child server did not start within 5 s`));
    }, 5000);
    child.once('message', (message: { port: number }) => {
      clearTimeout(timer);
      resolve(message.port);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${kind} child server exited with ${code} before listening`));
    });
  });
  return {
    kind,
    port,
    pid: child.pid as number,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

function busyLoop(ms: number): { blockedFrom: number; blockedUntil: number } {
  const blockedFrom = epochNow();
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // The point: nothing else runs on this event loop meanwhile (no timers, no socket reads).
  }
  return { blockedFrom, blockedUntil: epochNow() };
}

function blockMs(target: string): number | null {
  const match = /^\/block\?ms=(\d+)$/.exec(target);
  return match === null ? null : Number(match[1]);
}

async function serveChild(kind: ServerKind, keepAliveTimeoutMs: number): Promise<void> {
  let port: number;
  if (kind === 'holdfast') {
    const server = createServer({ keepAliveTimeoutMs, maxRequestsPerConnection: 0, log: 'off' }, (req) => {
      const ms = blockMs(req.target);
      if (ms !== null) return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(busyLoop(ms)) };
      return { status: 200, headers: { 'content-type': 'text/plain' }, body: `${req.connection.id} ${req.connection.requestIndex} ${epochNow()}` };
    });
    port = (await server.listen(0, '127.0.0.1')).port;
  } else {
    const sockets = new WeakMap<object, { id: number; requests: number }>();
    let nextId = 1;
    const server = http.createServer((req, res) => {
      const ms = blockMs(req.url ?? '');
      if (ms !== null) {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(busyLoop(ms)));
        return;
      }
      let entry = sockets.get(req.socket);
      if (entry === undefined) {
        entry = { id: nextId++, requests: 0 };
        sockets.set(req.socket, entry);
      }
      entry.requests++;
      res.setHeader('content-type', 'text/plain');
      res.end(`${entry.id} ${entry.requests} ${epochNow()}`);
    });
    // node's documented configuration: advertises timeout=1 and (node 20 adds its 1 s buffer) enforces 2000 ms.
    server.keepAliveTimeout = keepAliveTimeoutMs;
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as net.AddressInfo).port;
  }
  process.on('disconnect', () => process.exit(0));
  process.send?.({ port });
}

const isEntryPoint = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isEntryPoint && process.argv[2] === '--serve') {
  const kind = process.argv[3] as ServerKind;
  if (kind !== 'holdfast' && kind !== 'node:http') throw new Error(`unknown server kind ${kind}`);
  await serveChild(kind, Number(process.argv[4]));
}

// ── real clients, one connection each ────────────────────────────────────────

export type ClientKind = 'undici' | 'http.Agent' | 'undici (defaults)' | 'http.Agent (defaults)';

export interface OneConnectionClient {
  /** GET `path`; resolves with the body of a 200, rejects with whatever the client library threw. */
  get(path: string): Promise<string>;
  /**
   * Epoch ms of the last `socket.write` the client library made, on any of its sockets. Issuing a
   * request is not writing it: with a busy event loop we saw undici write tens of ms after `request()`.
   */
  lastWriteEpoch(): number;
  close(): Promise<void>;
}

/** Records when the client library hands bytes to the socket (it writes head and body in one tick). */
function recordWrites(socket: net.Socket, onWrite: () => void): void {
  const write = socket.write;
  socket.write = function (this: net.Socket, ...args: Parameters<net.Socket['write']>) {
    onWrite();
    return write.apply(this, args);
  } as net.Socket['write'];
}

/**
 * node's Agent keeps a socket only while the server's `Keep-Alive: timeout=` hint minus 1 s is
 * positive, so at `timeout=1` it never reuses a connection. Clients that ignore the hint (Go's
 * Transport, urllib3, node before it honoured the hint) keep the connection until the server closes
 * it — the client an idle deadline must be safe for. `hintIgnoring` makes that client.
 */
class TrialAgent extends http.Agent {
  readonly #onWrite: () => void;
  readonly #hintIgnoring: boolean;

  constructor(hintIgnoring: boolean, onWrite: () => void) {
    super({ keepAlive: true, maxSockets: 1 });
    this.#hintIgnoring = hintIgnoring;
    this.#onWrite = onWrite;
  }

  override createConnection(options: net.NetConnectOpts): net.Socket {
    const socket = net.createConnection(options);
    recordWrites(socket, this.#onWrite);
    return socket;
  }

  override keepSocketAlive(socket: net.Socket): boolean {
    if (!this.#hintIgnoring) return (http.Agent.prototype.keepSocketAlive as (socket: net.Socket) => boolean).call(this, socket);
    socket.setKeepAlive(true, 1000);
    socket.unref();
    return true;
  }
}

const CLIENT_TIMEOUT_MS = 10_000;

export function oneConnectionClient(kind: ClientKind, port: number): OneConnectionClient {
  const origin = `http://127.0.0.1:${port}`;
  let lastWrite = 0;
  const onWrite = (): void => {
    lastWrite = epochNow();
  };
  if (kind === 'undici' || kind === 'undici (defaults)') {
    const connector = buildConnector({});
    const connect: buildConnector.connector = (options, callback) =>
      connector(options, (error, socket) => {
        if (socket !== null) recordWrites(socket as net.Socket, onWrite);
        (callback as (error: Error | null, socket: unknown) => void)(error, socket);
      });
    // undici subtracts keepAliveTimeoutThreshold (default 2 s) from the server's hint and, when
    // nothing is left, closes the connection after the response; −2000 makes it keep the idle
    // connection hint + 2 s = 3 s, long enough to send at T + B + 50 ms.
    const pool = new Pool(origin, kind === 'undici' ? { connections: 1, connect, keepAliveTimeoutThreshold: -2000 } : { connections: 1, connect });
    return {
      async get(path) {
        const { statusCode, body } = await pool.request({ path, method: 'GET', headersTimeout: CLIENT_TIMEOUT_MS, bodyTimeout: CLIENT_TIMEOUT_MS });
        const text = await body.text();
        if (statusCode !== 200) throw new Error(`status ${statusCode}`);
        return text;
      },
      lastWriteEpoch: () => lastWrite,
      async close() {
        await pool.destroy();
      },
    };
  }
  const agent = new TrialAgent(kind === 'http.Agent', onWrite);
  return {
    get(path) {
      return new Promise<string>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('error', reject);
          res.on('close', () => {
            if (!res.complete) reject(new Error('response closed before its end'));
            else if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
            else resolve(text);
          });
        });
        req.on('error', reject);
        req.setTimeout(CLIENT_TIMEOUT_MS, () => req.destroy(new Error('client timeout')));
      });
    },
    lastWriteEpoch: () => lastWrite,
    async close() {
      agent.destroy();
    },
  };
}
