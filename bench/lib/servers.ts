/**
 * The servers under test. Each `ServerSpec` starts one child process pinned to core 0 on a free
 * 127.0.0.1 port and resolves once `GET /` answers 200; `RunningServer.stop()` stops it by PID.
 * holdfast and node:http run the scripts in ./servers/ (compiled next to this file's parent);
 * nginx runs from a config generated into the work dir, and only when /usr/sbin/nginx exists.
 * Given a certificate, each also serves HTTPS on `tlsPort` with the same answers (node:http's
 * process with node:https; nginx one worker with ssl_session_cache and tickets).
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

export type ServerName = 'holdfast' | 'node:http' | 'nginx';

/** The bench's certificate (PEM files), when it could be made. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface RunningServer {
  name: ServerName;
  port: number;
  /** Where it serves HTTPS, when it was given a certificate. */
  tlsPort: number | null;
  pid: number;
  /** Whether `GET /__mem` answers with process.memoryUsage(). */
  hasHeap: boolean;
  alive(): boolean;
  stderr(): string;
  stop(): Promise<void>;
}

export interface ServerSpec {
  name: ServerName;
  /** null when it can run here, else why not. */
  unavailable(): string | null;
  start(workDir: string, wwwDir: string, tls: TlsFiles | null): Promise<RunningServer>;
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

async function launch(name: ServerName, command: string, args: (port: number, tlsPort: number | null) => Promise<string[]>, hasHeap: boolean, tls: TlsFiles | null): Promise<RunningServer> {
  const port = await freePort();
  const tlsPort = tls === null ? null : await freePort();
  const child = spawnPinned(SERVER_CORE, command, await args(port, tlsPort));
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
    tlsPort,
    pid: child.pid as number,
    hasHeap,
    alive: () => child.exitCode === null && child.signalCode === null,
    stderr,
    stop: () => stop(child),
  };
}

function nodeServer(name: ServerName, script: string): ServerSpec {
  const file = path.join(serversDir, script);
  return {
    name,
    unavailable: () => (existsSync(file) ? null : `${file} is missing (run npm run build)`),
    start: (_workDir, wwwDir, tls) =>
      launch(name, process.execPath, async (port, tlsPort) => ['--expose-gc', file, String(port), wwwDir, ...(tls === null ? [] : [String(tlsPort), tls.certFile, tls.keyFile])], true, tls),
  };
}

export function nginxConfig(port: number, workDir: string, wwwDir: string, tls: (TlsFiles & { port: number }) | null = null): string {
  const hello = `
        location = / {
            default_type text/plain;
            return 200 "Hello, World!";
        }`;
  // HTTPS as nginx is usually tuned: a shared session cache for session ids, tickets on (the default).
  const https =
    tls === null
      ? ''
      : `
    server {
        listen 127.0.0.1:${tls.port} ssl;
        root ${wwwDir};
        ssl_certificate ${tls.certFile};
        ssl_certificate_key ${tls.keyFile};
        ssl_session_cache shared:SSL:10m;
        ssl_session_tickets on;
${hello}
    }
`;
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
${hello}
    }
${https}}
`;
}

const nginx: ServerSpec = {
  name: 'nginx',
  unavailable: () => (existsSync(NGINX) ? null : `${NGINX} is not installed`),
  async start(workDir, wwwDir, tls) {
    const dir = path.join(workDir, 'nginx');
    await fs.mkdir(dir, { recursive: true });
    const conf = path.join(dir, 'nginx.conf');
    return launch(
      'nginx',
      NGINX,
      async (port, tlsPort) => {
        await fs.writeFile(conf, nginxConfig(port, workDir, wwwDir, tls === null ? null : { ...tls, port: tlsPort as number }));
        return ['-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')];
      },
      false,
      tls,
    );
  },
};

export const SERVERS: readonly ServerSpec[] = [nodeServer('holdfast', 'holdfast.js'), nodeServer('node:http', 'node-http.js'), nginx];
