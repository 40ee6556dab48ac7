/**
 * The holdfast server under test: `node holdfast.js <port> <root> [--status]` listens on
 * 127.0.0.1:<port>. `GET /` → `Hello, World!`; `GET /__mem` → `process.memoryUsage()` as JSON (after
 * a full GC when node runs with --expose-gc); anything else → serveStatic(root). Unlimited requests
 * per connection, logging off, 65 s keep-alive (nginx's keepalive_timeout in the bench). With
 * `--status` the live status is on (its counters and a listener on a free loopback port) and
 * nobody reads it: what the status costs the hot path.
 */

import { createServer, serveStatic } from '../../src/index.js';

const [portArg, root, flag] = process.argv.slice(2);
if (portArg === undefined || root === undefined || (flag !== undefined && flag !== '--status')) {
  process.stderr.write('usage: holdfast.js <port> <root> [--status]\n');
  process.exit(2);
}

const files = serveStatic(root);
const hello = 'Hello, World!';

const status = flag === '--status' ? '127.0.0.1:0' : '';
const server = createServer({ log: 'off', maxRequestsPerConnection: 0, keepAliveTimeoutMs: 65_000, status }, (req) => {
  if (req.path === '/') return { status: 200, headers: { 'content-type': 'text/plain' }, body: hello };
  if (req.path === '/__mem') {
    (globalThis as { gc?: () => void }).gc?.();
    return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(process.memoryUsage()) };
  }
  return files(req);
});

await server.listen(Number(portArg), '127.0.0.1');
