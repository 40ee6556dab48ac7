/**
 * Servers for the inspect tests, each on 127.0.0.1 with a free port and a stop() that closes every
 * socket: holdfast itself, node:http, a real nginx (a child process with a generated config), and
 * a scripted server whose keep-alive misbehaviours are chosen by the test.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createServer, type ServerOptions } from '../../src/index.js';
import { RequestParser } from '../../src/http1/parser.js';
import { inspect } from '../../src/inspect/inspect.js';
import type { InspectReport } from '../../src/inspect/report.js';
import { parseTarget } from '../../src/inspect/target.js';

export interface RunningServer {
  port: number;
  stop(): Promise<void>;
}

export async function inspectPort(port: number, maxWaitMs: number, concurrency = 3): Promise<InspectReport> {
  const parsed = parseTarget(`http://127.0.0.1:${port}/`);
  if (parsed.kind !== 'ok') throw new Error(parsed.message);
  return inspect({ target: parsed.target, maxWaitMs, concurrency });
}

/** Asserts |actual − expected| ≤ max(100 ms, 5 %): the accuracy inspect promises. */
export function assertNear(actual: number | null, expectedMs: number, what: string): void {
  const tolerance = Math.max(100, expectedMs * 0.05);
  if (actual === null || Math.abs(actual - expectedMs) > tolerance) {
    throw new Error(`${what}: measured ${actual} ms, expected ${expectedMs} ± ${tolerance} ms`);
  }
}

export async function startHoldfast(options: ServerOptions): Promise<RunningServer> {
  const server = createServer({ log: 'off', ...options }, () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' }));
  const { port } = await server.listen(0, '127.0.0.1');
  return { port, stop: async () => void (await server.close({ graceMs: 200 })) };
}

export async function startNodeHttp(options: http.ServerOptions, maxRequestsPerSocket: number): Promise<RunningServer> {
  const server = http.createServer(options, (_req, res) => res.end('ok'));
  server.keepAliveTimeout = options.keepAliveTimeout ?? server.keepAliveTimeout;
  server.maxRequestsPerSocket = maxRequestsPerSocket;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    async stop() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

export const NGINX_BINARY = '/usr/sbin/nginx';

async function freePort(): Promise<number> {
  const probe = net.createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as net.AddressInfo;
  probe.close();
  await once(probe, 'close');
  return port;
}

async function waitUntilListening(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited with code ${child.exitCode}`);
    const connected = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ port, host: '127.0.0.1' });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (connected) return;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A real nginx with `directives` in its http block; throws with install advice when nginx is missing. */
export async function startNginx(directives: string): Promise<RunningServer> {
  try {
    accessSync(NGINX_BINARY, constants.X_OK);
  } catch {
    throw new Error(`${NGINX_BINARY} not found: install nginx (e.g. \`apt-get install nginx\`) to run the nginx inspect test`);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'holdfast-nginx-'));
  const port = await freePort();
  const config = [
    'daemon off; master_process off; worker_processes 1;',
    `pid ${dir}/nginx.pid; error_log ${dir}/error.log;`,
    'events {}',
    'http {',
    `  access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};`,
    `  ${directives}`,
    `  server { listen 127.0.0.1:${port}; location / { return 200 "ok"; } }`,
    '}',
  ].join('\n');
  writeFileSync(path.join(dir, 'nginx.conf'), config);
  const child = spawn(NGINX_BINARY, ['-c', path.join(dir, 'nginx.conf'), '-p', dir, '-e', path.join(dir, 'error.log')], { stdio: 'ignore' });
  const exited = once(child, 'exit');
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntilListening(port, child, 3000);
  } catch (error) {
    let log = '';
    try {
      log = readFileSync(path.join(dir, 'error.log'), 'utf8');
    } catch {
      log = '(no error.log)';
    }
    await stop();
    throw new Error(`${(error as Error).message}\n${log}`);
  }
  return { port, stop };
}

export interface ScriptedBehaviour {
  /** Keep-Alive field value on keep-alive responses, or null for none. */
  keepAliveHeader: string | null;
  /** Idle time after a response before the server closes; 0 = never. */
  idleCloseMs: number;
  idleCloseKind: 'fin' | 'rst';
  /** Requests per connection; 0 = unlimited. */
  maxRequests: number;
  /** Say Connection: close on the last allowed response. */
  announceLast: boolean;
  /** Close a connection whose request head is unfinished this long after its first byte; 0 = never. */
  headersTimeoutMs: number;
}

/**
 * An HTTP/1.1 server with chosen keep-alive behaviour, on the holdfast request parser. Answers
 * every request with `ok` (no body for HEAD), closes after HTTP/1.0 requests without keep-alive
 * and after `Connection: close`.
 */
export async function startScripted(behaviour: ScriptedBehaviour): Promise<RunningServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const parser = new RequestParser({ maxRequestLineBytes: 8190, maxHeaderBytes: 16384, maxHeaderCount: 100, maxBodyBytes: 0 });
    let served = 0;
    let idleTimer: NodeJS.Timeout | null = null;
    let headTimer: NodeJS.Timeout | null = null;
    const clearTimers = (): void => {
      if (idleTimer !== null) clearTimeout(idleTimer);
      if (headTimer !== null) clearTimeout(headTimer);
      idleTimer = headTimer = null;
    };
    socket.on('close', clearTimers);
    socket.on('data', (chunk: Buffer) => {
      if (idleTimer !== null) clearTimeout(idleTimer);
      idleTimer = null;
      parser.feed(chunk);
      for (;;) {
        const event = parser.next();
        if (event.kind === 'need-data') {
          if (parser.isMidMessage && headTimer === null && behaviour.headersTimeoutMs > 0) {
            headTimer = setTimeout(() => socket.resetAndDestroy(), behaviour.headersTimeoutMs);
          }
          return;
        }
        if (event.kind === 'paused') {
          parser.nextCycle();
          continue;
        }
        if (event.kind === 'error' || event.kind === 'eof') {
          socket.end();
          return;
        }
        if (event.kind !== 'head') continue;
        if (headTimer !== null) clearTimeout(headTimer);
        headTimer = null;
        const head = event.head;
        served++;
        const last = behaviour.maxRequests > 0 && served >= behaviour.maxRequests;
        const persistent = head.version === '1.1' ? !head.connection.has('close') : head.connection.has('keep-alive');
        const close = !persistent || (last && behaviour.announceLast);
        let response = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n';
        if (close) response += 'Connection: close\r\n';
        else if (head.version === '1.0') response += 'Connection: keep-alive\r\n';
        if (!close && behaviour.keepAliveHeader !== null) response += `Keep-Alive: ${behaviour.keepAliveHeader}\r\n`;
        response += head.method === 'HEAD' ? '\r\n' : '\r\nok';
        socket.write(response);
        if (close || last) {
          socket.end();
          return;
        }
        if (behaviour.idleCloseMs > 0) {
          if (idleTimer !== null) clearTimeout(idleTimer);
          idleTimer = setTimeout(() => (behaviour.idleCloseKind === 'rst' ? socket.resetAndDestroy() : socket.end()), behaviour.idleCloseMs);
        }
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    async stop() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
