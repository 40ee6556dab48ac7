/**
 * @hono/node-server (node:http) running a fetch app (./apps.ts) with its default settings (its
 * lightweight Request and Response installed as globals): `node node-server-app.js <port> <root>
 * <hono|fetch>` listens on 127.0.0.1:<port>. Unlimited requests per socket, 65 s keep-alive, as
 * the node:http server under test.
 */

import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { appFetch } from './apps.js';

const [portArg, root, appName] = process.argv.slice(2);
if (portArg === undefined || root === undefined || appName === undefined) {
  process.stderr.write('usage: node-server-app.js <port> <root> <hono|fetch>\n');
  process.exit(2);
}

const server = serve({ fetch: appFetch(appName), port: Number(portArg), hostname: '127.0.0.1' }) as Server;
server.keepAliveTimeout = 65_000;
server.maxRequestsPerSocket = 0;
