/**
 * The holdfast server under test: `node holdfast.js <port> <root> [<tlsPort> <cert> <key>]` listens
 * on 127.0.0.1:<port>, and with a certificate also serves HTTPS on <tlsPort> (a second server with
 * the same handler and options).
 * `GET /` → `Hello, World!`; `GET /__mem` → `process.memoryUsage()` as JSON (after a full GC when
 * node runs with --expose-gc); anything else → serveStatic(root). Unlimited requests per
 * connection, logging off, 65 s keep-alive (nginx's keepalive_timeout in the bench).
 */

import { readFileSync } from 'node:fs';
import { createServer, serveStatic, type Handler } from '../../src/index.js';

const [portArg, root, tlsPortArg, certFile, keyFile] = process.argv.slice(2);
if (portArg === undefined || root === undefined) {
  process.stderr.write('usage: holdfast.js <port> <root>\n');
  process.exit(2);
}

const files = serveStatic(root);
const hello = 'Hello, World!';

const handler: Handler = (req) => {
  if (req.path === '/') return { status: 200, headers: { 'content-type': 'text/plain' }, body: hello };
  if (req.path === '/__mem') {
    (globalThis as { gc?: () => void }).gc?.();
    return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(process.memoryUsage()) };
  }
  return files(req);
};

const options = { log: 'off', maxRequestsPerConnection: 0, keepAliveTimeoutMs: 65_000 } as const;
await createServer(options, handler).listen(Number(portArg), '127.0.0.1');
if (tlsPortArg !== undefined) {
  const tls = { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
  await createServer({ ...options, tls }, handler).listen(Number(tlsPortArg), '127.0.0.1');
}
