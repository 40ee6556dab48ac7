/**
 * Upstreams for the proxy tests, each a real server on 127.0.0.1:0: node:http (its keep-alive
 * timeout set or left at node's default), holdfast, a Go net/http server built from
 * fixtures/upstream.go with Debian's golang-go, and raw scripted TCP servers. `startProxy` puts a
 * holdfast server with `proxy()` in front; its stop() closes the server, the proxy, and checks that
 * no connection is left on either side.
 */

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { proxy, type Handler, type ProxyHandler, type ProxyOptions, type ServerOptions } from '../../src/index.js';
import type { UpstreamCloseEvent, UpstreamErrorEvent } from '../../src/proxy/events.js';
import { startServer, type TestServer } from '../helpers/server.js';

export interface Upstream {
  port: number;
  url: string;
  /** Connections accepted so far. */
  accepted(): number;
  stop(): Promise<void>;
}

/** node:http; `keepAliveTimeoutMs` undefined keeps node's default (5 s, advertised as timeout=5). */
export async function startNodeUpstream(handler: http.RequestListener, keepAliveTimeoutMs?: number): Promise<Upstream & { server: http.Server }> {
  const server = http.createServer(handler);
  if (keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = keepAliveTimeoutMs;
  let accepted = 0;
  server.on('connection', () => accepted++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    accepted: () => accepted,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The request as node:http saw it, echoed as JSON: method, url, headers, body length. */
export const echoRequest: http.RequestListener = (req, res) => {
  let bytes = 0;
  req.on('data', (chunk: Buffer) => (bytes += chunk.length));
  req.on('end', () => {
    const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: bytes });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
};

/** A raw TCP upstream: `onConnection` scripts each accepted socket. */
export async function startRawUpstream(onConnection: (socket: net.Socket, index: number) => void): Promise<Upstream> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onConnection(socket, accepted++);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    accepted: () => accepted,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Calls `onRequest` with each complete request head (and its text) a raw socket receives. */
export function onRequestHeads(socket: net.Socket, onRequest: (head: string, count: number) => void): void {
  let buffered = '';
  let count = 0;
  socket.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('latin1');
    for (let end = buffered.indexOf('\r\n\r\n'); end !== -1; end = buffered.indexOf('\r\n\r\n')) {
      const head = buffered.slice(0, end + 4);
      buffered = buffered.slice(end + 4);
      onRequest(head, ++count);
    }
  });
}

const here = path.dirname(fileURLToPath(import.meta.url));
const GO_SOURCE = path.resolve(here, '..', '..', '..', 'test', 'proxy', 'fixtures', 'upstream.go');
let goBinary: Promise<string | null> | null = null;

/**
 * The Go upstream, built once per process into a temp dir (with a build cache kept in the temp
 * dir across runs). Null when `go` is absent and CI is not set: the caller skips with a message.
 * In CI its absence fails the test.
 */
export function buildGoUpstream(): Promise<string | null> {
  goBinary ??= (async () => {
    const probe = spawnSync('go', ['version'], { encoding: 'utf8' });
    if (probe.error !== undefined || probe.status !== 0) {
      if (process.env.CI) throw new Error('go is not installed; CI installs golang-go (.ci/run)');
      return null;
    }
    const base = path.join(os.tmpdir(), 'holdfast-go');
    mkdirSync(path.join(base, 'cache'), { recursive: true });
    mkdirSync(path.join(base, 'gopath'), { recursive: true });
    const out = path.join(base, `upstream-${process.pid}`);
    const child = spawn('go', ['build', '-o', out, GO_SOURCE], {
      env: { ...process.env, GOCACHE: path.join(base, 'cache'), GOPATH: path.join(base, 'gopath'), HOME: base, GO111MODULE: 'off', GOFLAGS: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d));
    const [code] = (await once(child, 'exit')) as [number | null];
    if (code !== 0 || !existsSync(out)) throw new Error(`go build failed (${code}): ${stderr}`);
    process.once('exit', () => spawnSync('rm', ['-f', out]));
    return out;
  })();
  return goBinary;
}

export const GO_MISSING = 'go is not installed: apt-get install -y golang-go (.ci/run does)';

/** Starts the Go upstream with the given idle timeout (Go duration text, e.g. "1s"). */
export async function startGoUpstream(binary: string, idle: string): Promise<Upstream> {
  const child = spawn(binary, ['-idle', idle], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the Go upstream did not start within 5 s')), 5000);
    child.stdout?.once('data', (d: Buffer) => {
      clearTimeout(timer);
      resolve(Number(d.toString().trim()));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the Go upstream exited with ${code}`));
    });
  });
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    accepted: () => -1,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface ProxyUnderTest extends TestServer {
  proxy: ProxyHandler;
  upstreamCloses: UpstreamCloseEvent[];
  upstreamErrors: UpstreamErrorEvent[];
  proxyLogs: string[];
}

/** holdfast with proxy(options) (or `wrap(proxy)` as its handler) on 127.0.0.1:0. */
export async function startProxy(options: ProxyOptions, serverOptions: ServerOptions = {}, wrap?: (proxy: ProxyHandler) => Handler): Promise<ProxyUnderTest> {
  const proxyLogs: string[] = [];
  const handler = proxy({ log: 'json', logSink: (line) => proxyLogs.push(line), readTimeoutMs: 5_000, connectTimeoutMs: 2_000, ...options });
  const upstreamCloses: UpstreamCloseEvent[] = [];
  const upstreamErrors: UpstreamErrorEvent[] = [];
  handler.events.on('upstream-close', (e) => upstreamCloses.push(e));
  handler.events.on('upstream-error', (e) => upstreamErrors.push(e));
  const t = await startServer(serverOptions, wrap === undefined ? handler : wrap(handler));
  const stopServer = t.stop;
  return Object.assign(t, {
    proxy: handler,
    upstreamCloses,
    upstreamErrors,
    proxyLogs,
    async stop() {
      await stopServer();
      await handler.close();
      for (const stats of handler.stats()) assert.equal(stats.idle + stats.active, 0, `upstream connections left to ${stats.upstream}`);
    },
  });
}

/** Waits until `predicate` holds, polling every 5 ms, for at most `timeoutMs`. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
