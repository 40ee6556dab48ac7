/**
 * The most used Node proxy under test: `node http-proxy.js <port> <appPort>`, the http-proxy
 * package on a node:http server, relaying to the app through a keep-alive Agent that keeps up to
 * 32 idle sockets (as nginx's keepalive 32 in the bench). 65 s keep-alive toward clients,
 * unlimited requests per socket; a proxy error answers 502.
 */

import http from 'node:http';
import httpProxy from 'http-proxy';

const [portArg, appPort] = process.argv.slice(2);
if (portArg === undefined || appPort === undefined) {
  process.stderr.write('usage: http-proxy.js <port> <appPort>\n');
  process.exit(2);
}

const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 32 });
const relay = httpProxy.createProxyServer({ target: `http://127.0.0.1:${appPort}`, agent, xfwd: true });
relay.on('error', (_error, _req, res) => {
  if (res instanceof http.ServerResponse && !res.headersSent) res.writeHead(502).end();
  else res.destroy();
});
const server = http.createServer((req, res) => relay.web(req, res));
server.keepAliveTimeout = 65_000;
server.maxRequestsPerSocket = 0;
server.listen(Number(portArg), '127.0.0.1');
