/**
 * Demo mode (`npm start`, `holdfast --demo`): the bundled site in ./site, plus
 * `/__holdfast/requests`, a JSON record of recent requests (connection id, request index on the
 * connection) and when each connection opened. The page reads it to show, per resource, which
 * connection served it — keep-alive's point (one connection, many requests) with real numbers. It is
 * a demo feature, off otherwise.
 */

import { fileURLToPath } from 'node:url';
import type { HoldfastServer } from '../server/server.js';
import type { Handler } from '../handlers/types.js';

export const DEMO_SITE = fileURLToPath(new URL('../../../site/', import.meta.url));

const KEEP_REQUESTS = 200;
const KEEP_CONNECTIONS = 1000;

export function withDemoReport(server: HoldfastServer, inner: Handler): Handler {
  const requests: Array<{ connectionId: number; requestIndex: number; target: string; status: number; startedAt: number }> = [];
  const openedAt = new Map<number, number>();
  server.on('connection-open', (e) => {
    openedAt.set(e.connectionId, Date.now());
    if (openedAt.size > KEEP_CONNECTIONS) openedAt.delete(openedAt.keys().next().value as number);
  });
  server.on('request', (e) => {
    requests.push({ connectionId: e.connectionId, requestIndex: e.requestIndex, target: e.target.split('?')[0], status: e.status, startedAt: Date.now() - e.durationMs });
    if (requests.length > KEEP_REQUESTS) requests.shift();
  });
  return (req) => {
    if (req.path !== '/__holdfast/requests') return inner(req);
    const body = JSON.stringify({ requests, connections: Object.fromEntries(openedAt) });
    return { status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' }, body };
  };
}
