/**
 * The holdfast server under test: `node holdfast.js <port> <root> [--no-file-cache]` listens on
 * 127.0.0.1:<port>. `GET /` → `Hello, World!`; `GET /__mem` → `process.memoryUsage()` as JSON
 * (after a full GC when node runs with --expose-gc); `GET /__cache` → the file cache's stats;
 * anything else → serveStatic(root), with its memory cache off under --no-file-cache. Unlimited
 * requests per connection, logging off, 65 s keep-alive (nginx's keepalive_timeout in the bench).
 */

import { createServer, serveStatic } from '../../src/index.js';

const [portArg, root, ...flags] = process.argv.slice(2);
if (portArg === undefined || root === undefined || flags.some((flag) => flag !== '--no-file-cache')) {
  process.stderr.write('usage: holdfast.js <port> <root> [--no-file-cache]\n');
  process.exit(2);
}

const files = serveStatic(root, flags.includes('--no-file-cache') ? { maxCacheBytes: 0 } : {});
const hello = 'Hello, World!';

const server = createServer({ log: 'off', maxRequestsPerConnection: 0, keepAliveTimeoutMs: 65_000 }, (req) => {
  if (req.path === '/') return { status: 200, headers: { 'content-type': 'text/plain' }, body: hello };
  if (req.path === '/__mem') {
    (globalThis as { gc?: () => void }).gc?.();
    return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(process.memoryUsage()) };
  }
  if (req.path === '/__cache') return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(files.cache.stats()) };
  return files(req);
});

await server.listen(Number(portArg), '127.0.0.1');
