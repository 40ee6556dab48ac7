/**
 * The proxy scenarios: one app process (bench/servers/proxy-app.ts, node:http) behind three
 * proxies, each a process of its own on the server core — holdfast's proxy(), nginx (one worker,
 * `upstream { keepalive 32; }`, proxy_http_version 1.1, Connection ""), and http-proxy on node:http
 * with a keep-alive Agent (32 idle sockets). Keep-alive hello and a 64 KiB response, each checked
 * through every proxy before it is measured.
 */

import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { connect, getRequest, withTimeout, type RawResponse } from './http-client.js';
import { HTTP_LOAD_TOOL, httpLoadCommand, httpLoadMissing, runHttpLoad } from './load.js';
import { expectHello, type Scenario } from './scenarios.js';
import { freePort, launch, NGINX, serversDir, type RunningServer } from './servers.js';
import { spawnPinned, stop, tail } from './processes.js';
import { SERVER_CORE } from './servers.js';

export const BIG_BYTES = 65_536;

function nginxProxyConfig(port: number, appPort: number, dir: string): string {
  return `daemon off;
master_process off;
worker_processes 1;
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'error.log')} warn;
events { worker_connections 16384; }
http {
    access_log off;
    client_body_temp_path ${path.join(dir, 'client_body')};
    proxy_temp_path ${path.join(dir, 'proxy')};
    fastcgi_temp_path ${path.join(dir, 'fastcgi')};
    uwsgi_temp_path ${path.join(dir, 'uwsgi')};
    scgi_temp_path ${path.join(dir, 'scgi')};
    keepalive_requests 1000000;
    keepalive_timeout 65;
    upstream app {
        server 127.0.0.1:${appPort};
        keepalive 32;
    }
    server {
        listen 127.0.0.1:${port};
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`;
}

/** The app, then each proxy that can run here; a proxy that cannot start is reported, not fatal. */
export async function startProxies(workDir: string, log: (line: string) => void): Promise<{ app: { stop(): Promise<void> }; proxies: RunningServer[] }> {
  const appPort = await freePort();
  const appChild = spawnPinned(SERVER_CORE, process.execPath, [path.join(serversDir, 'proxy-app.js'), String(appPort)]);
  appChild.stdout?.resume();
  const appErr = tail(appChild.stderr);
  const app = { stop: () => stop(appChild) };
  const proxies: RunningServer[] = [];
  const node = (name: 'holdfast' | 'http-proxy', script: string) => launch(name, process.execPath, async (port) => [path.join(serversDir, script), String(port), String(appPort)], false);
  const starts: Array<[string, () => Promise<RunningServer>]> = [
    ['holdfast', () => node('holdfast', 'holdfast-proxy.js')],
    ['http-proxy', () => node('http-proxy', 'http-proxy.js')],
  ];
  if (existsSync(NGINX)) {
    starts.push([
      'nginx',
      async () => {
        const dir = path.join(workDir, 'nginx-proxy');
        for (const sub of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) await fs.mkdir(path.join(dir, sub), { recursive: true });
        const conf = path.join(dir, 'nginx.conf');
        return launch('nginx', NGINX, async (port) => {
          await fs.writeFile(conf, nginxProxyConfig(port, appPort, dir));
          return ['-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')];
        }, false);
      },
    ]);
  } else {
    log(`proxy nginx: skipped — ${NGINX} is not installed`);
  }
  for (const [name, start] of starts) {
    try {
      const server = await start();
      proxies.push(server);
      log(`proxy ${name}: pid ${server.pid}, port ${server.port} → app port ${appPort}`);
    } catch (error) {
      log(`proxy ${name}: failed to start — ${(error as Error).message.split('\n')[0]} ${appErr().trim()}`);
    }
  }
  return { app, proxies };
}

async function expectBig(response: RawResponse): Promise<void> {
  if (response.status !== 200 || response.body.length !== BIG_BYTES || response.body.some((b) => b !== 0x78)) {
    throw new Error(`GET /64k: expected ${BIG_BYTES} bytes of "x" (status ${response.status}, ${response.body.length} bytes)`);
  }
}

function proxyScenario(name: string, title: string, target: string, expect: (response: RawResponse) => void | Promise<void>): Scenario {
  return {
    name,
    title: `${title} (${HTTP_LOAD_TOOL} -c50)`,
    command: (durationS) => httpLoadCommand({ url: `http://127.0.0.1:PORT${target}`, connections: 50, durationS }),
    unavailable: httpLoadMissing,
    check: async (port) => {
      const conn = await connect(port);
      try {
        await withTimeout(
          (async () => {
            for (let i = 0; i < 3; i++) {
              conn.send(getRequest(target));
              await expect((await conn.read(1))[0]);
            }
            await new Promise((resolve) => setTimeout(resolve, 20));
            if (!conn.open) throw new Error(`GET ${target}: the proxy closed a keep-alive connection`);
          })(),
          10_000,
          'answer check',
        );
      } finally {
        conn.close();
      }
    },
    load: (port, durationS) => runHttpLoad({ url: `http://127.0.0.1:${port}${target}`, connections: 50, durationS }),
  };
}

export const PROXY_SCENARIOS: readonly Scenario[] = [
  proxyScenario('proxy-hello', 'proxy: hello, keep-alive', '/', (response) => expectHello(response)),
  proxyScenario('proxy-64k', 'proxy: 64 KiB response, keep-alive', '/64k', expectBig),
];
