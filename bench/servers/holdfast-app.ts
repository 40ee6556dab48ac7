/**
 * holdfast running a fetch app (./apps.ts) through fetchHandler: `node holdfast-app.js <port>
 * <root> <hono|fetch>` listens on 127.0.0.1:<port>. Settings as the native holdfast server under
 * test: unlimited requests per connection, logging off, 65 s keep-alive.
 */

import { createServer, fetchHandler } from '../../src/index.js';
import { appFetch } from './apps.js';

const [portArg, root, appName] = process.argv.slice(2);
if (portArg === undefined || root === undefined || appName === undefined) {
  process.stderr.write('usage: holdfast-app.js <port> <root> <hono|fetch>\n');
  process.exit(2);
}

const server = createServer({ log: 'off', maxRequestsPerConnection: 0, keepAliveTimeoutMs: 65_000 }, fetchHandler(appFetch(appName)));

await server.listen(Number(portArg), '127.0.0.1');
