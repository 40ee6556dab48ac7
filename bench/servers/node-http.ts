/**
 * The node:http server under test, doing the holdfast server's work: `node node-http.js <port>
 * <root> [--tls-port PORT --tls-cert FILE --tls-key FILE]` listens on 127.0.0.1:<port>, and with
 * a certificate serves node:https on the TLS port too, with the same handler and settings. `GET /` → `Hello, World!` with Content-Length;
 * `GET /__mem` → `process.memoryUsage()` as JSON (after a full GC under --expose-gc); `GET /<name>`
 * → the file <root>/<name> via stat (Content-Length) and fs.createReadStream. Unlimited requests
 * per socket, 65 s keep-alive.
 */

import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { parseArgs } from 'node:util';

const USAGE = 'usage: node-http.js <port> <root> [--tls-port PORT --tls-cert FILE --tls-key FILE]\n';

let parsed;
try {
  parsed = parseArgs({ allowPositionals: true, options: { 'tls-port': { type: 'string' }, 'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' } } });
} catch {
  process.stderr.write(USAGE);
  process.exit(2);
}
const { values, positionals } = parsed;
const [portArg, root] = positionals;
const tlsFiles = [values['tls-port'], values['tls-cert'], values['tls-key']];
if (positionals.length !== 2 || (tlsFiles.some((value) => value === undefined) && tlsFiles.some((value) => value !== undefined))) {
  process.stderr.write(USAGE);
  process.exit(2);
}

const hello = 'Hello, World!';
const helloLength = String(Buffer.byteLength(hello));

function sendFile(res: http.ServerResponse, name: string): void {
  const file = path.join(root, name);
  fs.stat(file, (error, stats) => {
    if (error !== null || !stats.isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain', 'content-length': '10' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(stats.size) });
    const stream = fs.createReadStream(file);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  });
}

const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
  const url = req.url ?? '/';
  if (url === '/') {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': helloLength }).end(hello);
  } else if (url === '/__mem') {
    (globalThis as { gc?: () => void }).gc?.();
    const body = JSON.stringify(process.memoryUsage());
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }).end(body);
  } else if (/^\/[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(url)) {
    sendFile(res, url.slice(1));
  } else {
    res.writeHead(404, { 'content-type': 'text/plain', 'content-length': '10' }).end('not found\n');
  }
};

const listeners: Array<[http.Server, string]> = [[http.createServer(handler), portArg]];
const [tlsPort, certFile, keyFile] = tlsFiles;
if (tlsPort !== undefined && certFile !== undefined && keyFile !== undefined) {
  listeners.push([https.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) }, handler), tlsPort]);
}
for (const [server, port] of listeners) {
  server.keepAliveTimeout = 65_000;
  server.maxRequestsPerSocket = 0;
  server.listen(Number(port), '127.0.0.1');
}
