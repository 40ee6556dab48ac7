/**
 * Starts a holdfast server on 127.0.0.1:0 for one test, records its log lines and events, and on
 * stop() checks that every connection is gone (the live count returns to 0). With
 * HOLDFAST_TEST_HANDLER=fetch every handler is served through fetchHandler (viaFetch).
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Handler, type HoldfastServer, type ServerOptions } from '../../src/index.js';
import type { ConnectionCloseEvent, RequestEvent } from '../../src/server/events.js';
import { viaFetch } from './via-fetch.js';

export interface TestServer {
  server: HoldfastServer;
  port: number;
  logs: string[];
  closes: ConnectionCloseEvent[];
  requests: RequestEvent[];
  /** Resolves once `count` connections have closed in all. */
  closed(count?: number, timeoutMs?: number): Promise<ConnectionCloseEvent[]>;
  stop(): Promise<void>;
}

export const hello: Handler = (req) => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: `hello ${req.path}` });

export async function startServer(options: ServerOptions, handler: Handler = hello): Promise<TestServer> {
  const logs: string[] = [];
  const served = process.env.HOLDFAST_TEST_HANDLER === 'fetch' ? viaFetch(handler) : handler;
  const server = createServer({ lingerMs: 200, log: 'json', logSink: (line) => logs.push(line), ...options }, served);
  const closes: ConnectionCloseEvent[] = [];
  const requests: RequestEvent[] = [];
  server.on('connection-close', (e) => closes.push(e));
  server.on('request', (e) => requests.push(e));
  const { port } = await server.listen(0, '127.0.0.1');
  return {
    server,
    port,
    logs,
    closes,
    requests,
    async closed(count = 1, timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      while (closes.length < count) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`expected ${count} closed connections, saw ${closes.length}`);
        await Promise.race([once(server, 'connection-close'), new Promise((r) => setTimeout(r, left).unref())]);
      }
      return closes;
    },
    async stop() {
      await server.close({ graceMs: 500 });
      assert.equal(server.connectionCount, 0, 'live connections after close');
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export const GET = (path = '/', extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: t\r\n${extra}\r\n`;
