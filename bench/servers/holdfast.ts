/**
 * The holdfast server under test: `node holdfast.js <port> <root>` listens on 127.0.0.1:<port>.
 * `GET /` → `Hello, World!`; `GET /__mem` → `process.memoryUsage()` as JSON (after a full GC when
 * node runs with --expose-gc); anything else → serveStatic(root). Unlimited requests per
 * connection, logging off, 65 s keep-alive (nginx's keepalive_timeout in the bench).
 */

import { createServer, serveStatic } from '../../src/index.js';

const [portArg, root] = process.argv.slice(2);
if (portArg === undefined || root === undefined) {
  process.stderr.write('usage: holdfast.js <port> <root>\n');
  process.exit(2);
}

const files = serveStatic(root);
const hello = 'Hello, World!';

const server = createServer({ log: 'off', maxRequestsPerConnection: 0, keepAliveTimeoutMs: 65_000 }, (req) => {
  if (req.path === '/') return { status: 200, headers: { 'content-type': 'text/plain' }, body: hello };
  if (req.path === '/__mem') {
    (globalThis as { gc?: () => void }).gc?.();
    return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(process.memoryUsage()) };
  }
  return files(req);
});

await server.listen(Number(portArg), '127.0.0.1');
