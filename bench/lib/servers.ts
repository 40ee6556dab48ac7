/**
 * The servers under test. Each `ServerSpec` starts one child process pinned to core 0 on a free
 * 127.0.0.1 port and resolves once `GET /` answers 200; `RunningServer.stop()` stops it by PID.
 * holdfast and node:http run the scripts in ./servers/ (compiled next to this file's parent);
 * nginx runs from a config generated into the work dir, and only when /usr/sbin/nginx exists.
 */

import { existsSync, promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { fetchOnce } from './http-client.js';
import { spawnPinned, stop, tail } from './processes.js';

export const SERVER_CORE = 0;
export const NGINX = '/usr/sbin/nginx';

export type ServerName = 'holdfast' | 'holdfast+status' | 'node:http' | 'nginx';

export interface RunningServer {
  name: ServerName;
  port: number;
  pid: number;
  /** Whether `GET /__mem` answers with process.memoryUsage(). */
  hasHeap: boolean;
  alive(): boolean;
  stderr(): string;
  stop(): Promise<void>;
}

export interface ServerSpec {
  name: ServerName;
  /** The only scenarios it runs in (started only when one of them is); absent: every scenario. */
  only?: readonly string[];
  /** null when it can run here, else why not. */
  unavailable(): string | null;
  start(workDir: string, wwwDir: string): Promise<RunningServer>;
}

const serversDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'servers');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

async function waitUntilAnswering(child: ChildProcess, port: number, stderr: () => string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`exited (${child.exitCode ?? child.signalCode}) before answering: ${stderr().trim()}`);
    }
    try {
      const response = await fetchOnce(port, '/', 1000);
      if (response.status === 200) return;
      last = `status ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no answer on port ${port} within ${timeoutMs} ms (${last}) ${stderr().trim()}`);
}

async function launch(name: ServerName, command: string, args: (port: number) => Promise<string[]>, hasHeap: boolean): Promise<RunningServer> {
  const port = await freePort();
  const child = spawnPinned(SERVER_CORE, command, await args(port));
  child.stdout?.resume();
  const stderr = tail(child.stderr);
  try {
    await waitUntilAnswering(child, port, stderr);
  } catch (error) {
    await stop(child);
    throw new Error(`${name}: ${(error as Error).message}`);
  }
  return {
    name,
    port,
    pid: child.pid as number,
    hasHeap,
    alive: () => child.exitCode === null && child.signalCode === null,
    stderr,
    stop: () => stop(child),
  };
}

function nodeServer(name: ServerName, script: string, extra: string[] = [], only?: readonly string[]): ServerSpec {
  const file = path.join(serversDir, script);
  return {
    name,
    only,
    unavailable: () => (existsSync(file) ? null : `${file} is missing (run npm run build)`),
    start: (_workDir, wwwDir) => launch(name, process.execPath, async (port) => ['--expose-gc', file, String(port), wwwDir, ...extra], true),
  };
}

/** The scenario comparing holdfast with its live status on (nobody watching) and off. */
export const STATUS_SCENARIO = 'hello-status';

export function nginxConfig(port: number, workDir: string, wwwDir: string): string {
  const temp = (what: string): string => path.join(workDir, 'nginx', `${what}_temp`);
  return `daemon off;
master_process off;
worker_processes 1;
pid ${path.join(workDir, 'nginx', 'nginx.pid')};
error_log ${path.join(workDir, 'nginx', 'error.log')} warn;

events {
    worker_connections 16384;
}

http {
    access_log off;
    client_body_temp_path ${temp('client_body')};
    proxy_temp_path ${temp('proxy')};
    fastcgi_temp_path ${temp('fastcgi')};
    uwsgi_temp_path ${temp('uwsgi')};
    scgi_temp_path ${temp('scgi')};
    default_type application/octet-stream;
    sendfile on;
    keepalive_requests 1000000;
    keepalive_timeout 65;

    server {
        listen 127.0.0.1:${port};
        root ${wwwDir};

        location = / {
            default_type text/plain;
            return 200 "Hello, World!";
        }
    }
}
`;
}

const nginx: ServerSpec = {
  name: 'nginx',
  unavailable: () => (existsSync(NGINX) ? null : `${NGINX} is not installed`),
  async start(workDir, wwwDir) {
    const dir = path.join(workDir, 'nginx');
    await fs.mkdir(dir, { recursive: true });
    const conf = path.join(dir, 'nginx.conf');
    return launch(
      'nginx',
      NGINX,
      async (port) => {
        await fs.writeFile(conf, nginxConfig(port, workDir, wwwDir));
        return ['-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')];
      },
      false,
    );
  },
};

export const SERVERS: readonly ServerSpec[] = [
  nodeServer('holdfast', 'holdfast.js'),
  nodeServer('holdfast+status', 'holdfast.js', ['--status'], [STATUS_SCENARIO]),
  nodeServer('node:http', 'node-http.js'),
  nginx,
];

/** Whether `server` takes part in `scenario`. */
export function runsIn(server: ServerSpec, scenario: { name: string; servers?: readonly ServerName[] }): boolean {
  if (scenario.servers !== undefined) return scenario.servers.includes(server.name);
  return server.only === undefined;
}
