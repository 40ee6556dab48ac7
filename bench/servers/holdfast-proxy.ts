/**
 * holdfast's proxy under test: `node holdfast-proxy.js <port> <appPort>` listens on
 * 127.0.0.1:<port> and relays every request to the app on <appPort> with proxy()'s defaults
 * (32 idle upstream connections, as nginx's keepalive 32 in the bench). Logging off, unlimited
 * requests per client connection, 65 s keep-alive (nginx's keepalive_timeout in the bench).
 */

import { createServer, proxy } from '../../src/index.js';

const [portArg, appPort] = process.argv.slice(2);
if (portArg === undefined || appPort === undefined) {
  process.stderr.write('usage: holdfast-proxy.js <port> <appPort>\n');
  process.exit(2);
}

const server = createServer({ log: 'off', maxRequestsPerConnection: 0, keepAliveTimeoutMs: 65_000 }, proxy({ upstreams: [`http://127.0.0.1:${appPort}`], log: 'off' }));
await server.listen(Number(portArg), '127.0.0.1');
