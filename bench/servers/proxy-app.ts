/**
 * The app behind the proxies in the proxy scenarios: `node proxy-app.js <port>`, node:http on
 * 127.0.0.1:<port>. `GET /` → `Hello, World!`; `GET /64k` → 64 KiB (Content-Length). 65 s
 * keep-alive, unlimited requests per socket: longer than every proxy's idle pool timeout.
 */

import http from 'node:http';

const [portArg] = process.argv.slice(2);
if (portArg === undefined) {
  process.stderr.write('usage: proxy-app.js <port>\n');
  process.exit(2);
}

const hello = Buffer.from('Hello, World!');
const big = Buffer.alloc(65_536, 'x');

const server = http.createServer((req, res) => {
  const body = req.url === '/64k' ? big : hello;
  res.writeHead(200, { 'content-type': req.url === '/64k' ? 'application/octet-stream' : 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.maxRequestsPerSocket = 0;
server.listen(Number(portArg), '127.0.0.1');
