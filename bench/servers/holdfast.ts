/**
 * The holdfast server under test: `node holdfast.js <port> <root> [--log pretty|json --log-file PATH] [--status] [--no-file-cache]`
 * listens on 127.0.0.1:<port>. `GET /` → `Hello, World!`; `GET /users/:id` → the JSON the app
 * servers answer (./apps.ts), by a native handler; `GET /__mem` → `process.memoryUsage()` as
 * JSON (after a full GC when node runs with --expose-gc); anything else → serveStatic(root).
 * Unlimited requests per connection, 65 s keep-alive (nginx's keepalive_timeout in the bench);
 * logging off unless `--log` names the built-in logger's format and `--log-file` its file. With
 * `--status` the live status is on (its counters, and its listener on a free loopback port) and
 * nobody reads it: what the status costs the hot path. With `--no-file-cache` serveStatic's memory
 * cache is off; `GET /__cache` → its stats.
 */

import { createServer, serveStatic } from '../../src/index.js';

const [portArg, root, ...flags] = process.argv.slice(2);
const noFileCache = flags.includes('--no-file-cache');
const given = flags.filter((flag) => flag !== '--no-file-cache');
const withStatus = given.at(-1) === '--status';
const rest = withStatus ? given.slice(0, -1) : given;
const logFormat = rest[0] === '--log' ? rest[1] : 'off';
const logFile = rest[2] === '--log-file' ? rest[3] : undefined;
if (portArg === undefined || root === undefined || (logFormat !== 'off' && logFormat !== 'pretty' && logFormat !== 'json') || (logFormat !== 'off') !== (logFile !== undefined)) {
  process.stderr.write('usage: holdfast.js <port> <root> [--log pretty|json --log-file PATH] [--status] [--no-file-cache]\n');
  process.exit(2);
}

const files = serveStatic(root, noFileCache ? { maxCacheBytes: 0 } : {});
const hello = 'Hello, World!';
const USERS = '/users/';

const status = withStatus ? '127.0.0.1:0' : '';
const server = createServer({ log: logFormat, logSink: logFile, maxRequestsPerConnection: 0, keepAliveTimeoutMs: 65_000, status }, (req) => {
  if (req.path === '/') return { status: 200, headers: { 'content-type': 'text/plain' }, body: hello };
  if (req.path.startsWith(USERS) && req.path.indexOf('/', USERS.length) === -1) {
    const id = decodeURIComponent(req.path.slice(USERS.length));
    return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id, name: `user ${id}` }) };
  }
  if (req.path === '/__mem') {
    (globalThis as { gc?: () => void }).gc?.();
    return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(process.memoryUsage()) };
  }
  if (req.path === '/__cache') return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(files.cache.stats()) };
  return files(req);
});

await server.listen(Number(portArg), '127.0.0.1');
