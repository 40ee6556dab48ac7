/**
 * The holdfast server under test: `node holdfast.js <port> <root> [--log pretty|json --log-file PATH] [--status] [--no-file-cache]
 * [--tls-port PORT --tls-cert FILE --tls-key FILE]` listens on 127.0.0.1:<port>. `GET /` → `Hello, World!`; `GET /users/:id` → the JSON the app
 * servers answer (./apps.ts), by a native handler; `GET /__mem` → `process.memoryUsage()` as
 * JSON (after a full GC when node runs with --expose-gc); anything else → serveStatic(root).
 * Unlimited requests per connection, 65 s keep-alive (nginx's keepalive_timeout in the bench);
 * logging off unless `--log` names the built-in logger's format and `--log-file` its file. With
 * `--status` the live status is on (its counters, and its listener on a free loopback port) and
 * nobody reads it: what the status costs the hot path. With `--no-file-cache` serveStatic's memory
 * cache is off; `GET /__cache` → its stats. With `--tls-port` a second server with the same
 * handler and options serves HTTPS there with the given PEM certificate and key.
 */

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createServer, serveStatic, type Handler } from '../../src/index.js';

const USAGE = 'usage: holdfast.js <port> <root> [--log pretty|json --log-file PATH] [--status] [--no-file-cache] [--tls-port PORT --tls-cert FILE --tls-key FILE]\n';

function usage(): never {
  process.stderr.write(USAGE);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      log: { type: 'string', default: 'off' },
      'log-file': { type: 'string' },
      status: { type: 'boolean', default: false },
      'no-file-cache': { type: 'boolean', default: false },
      'tls-port': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
    },
  });
} catch {
  usage();
}
const { values, positionals } = parsed;
const [portArg, root] = positionals;
const logFormat = values.log;
const logFile = values['log-file'];
const noFileCache = values['no-file-cache'];
const withStatus = values.status;
const tlsFiles = [values['tls-port'], values['tls-cert'], values['tls-key']];
if (
  positionals.length !== 2 ||
  (logFormat !== 'off' && logFormat !== 'pretty' && logFormat !== 'json') ||
  (logFormat !== 'off') !== (logFile !== undefined) ||
  (tlsFiles.some((value) => value === undefined) && tlsFiles.some((value) => value !== undefined))
) {
  usage();
}

const files = serveStatic(root, noFileCache ? { maxCacheBytes: 0 } : {});
const hello = 'Hello, World!';
const USERS = '/users/';

const status = withStatus ? '127.0.0.1:0' : '';
const options = { log: logFormat, logSink: logFile, maxRequestsPerConnection: 0, keepAliveTimeoutMs: 65_000, status } as const;
const handler: Handler = (req) => {
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
};

await createServer(options, handler).listen(Number(portArg), '127.0.0.1');
const [tlsPort, certFile, keyFile] = tlsFiles;
if (tlsPort !== undefined && certFile !== undefined && keyFile !== undefined) {
  const tls = { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
  await createServer({ ...options, status: '', tls }, handler).listen(Number(tlsPort), '127.0.0.1');
}
