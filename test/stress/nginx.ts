/**
 * A real nginx (Debian's /usr/sbin/nginx) as a reverse proxy for the stress tests, from a config
 * generated into a temp dir (`daemon off; master_process off; worker_processes 1;`, every path
 * inside the temp dir): `upstream { server 127.0.0.1:PORT; keepalive N; [keepalive_timeout T;] }`
 * with `proxy_http_version 1.1; proxy_set_header Connection "";`, an access log of
 * `$request_method $status "$upstream_status" $upstream_connect_time` (a retry shows as "502, 200")
 * and an error log at info. nginx runs as one process, so pause() (SIGSTOP) stops all of it.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { freePort, NGINX, sleep } from './helpers.js';

export interface Nginx {
  port: number;
  dir: string;
  /** SIGSTOP / SIGCONT: nginx runs as one process (master_process off). */
  pause(): void;
  resume(): void;
  errorLog(): string;
  accessLog(): string;
  stop(): Promise<void>;
}

export interface NginxUpstream {
  /** Idle upstream connections nginx keeps (its `keepalive`). */
  keepalive: number;
  /** Its upstream `keepalive_timeout`; undefined leaves nginx's default (60s). */
  keepaliveTimeout?: string;
}

function nginxConfig(dir: string, listenPort: number, upstreamPort: number, upstream: NginxUpstream): string {
  const timeout = upstream.keepaliveTimeout === undefined ? '' : `\n    keepalive_timeout ${upstream.keepaliveTimeout};`;
  return `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 1024; }
http {
  log_format upstream '$request_method $status "$upstream_status" $upstream_connect_time';
  access_log ${dir}/access.log upstream;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream holdfast {
    server 127.0.0.1:${upstreamPort};
    keepalive ${upstream.keepalive};${timeout}
  }
  server {
    listen 127.0.0.1:${listenPort};
    keepalive_timeout 65s;
    location / {
      proxy_pass http://holdfast;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = performance.now() + 5000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${output()}`);
    const connected = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (connected) return;
    if (performance.now() > deadline) throw new Error(`nginx did not listen on ${port} within 5 s: ${output()}`);
    await sleep(50);
  }
}

export async function startNginx(upstreamPort: number, upstream: NginxUpstream): Promise<Nginx> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'holdfast-nginx-'));
  for (const sub of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(dir, sub));
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    writeFileSync(path.join(dir, 'nginx.conf'), nginxConfig(dir, port, upstreamPort, upstream));
    const child = spawn(NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d));
    child.stderr?.on('data', (d: Buffer) => (output += d));
    const exited = once(child, 'exit');
    // If this process dies before stop(), do not leave nginx behind.
    const killOnExit = (): void => {
      child.kill('SIGKILL');
    };
    process.once('exit', killOnExit);
    void exited.then(() => process.off('exit', killOnExit));
    try {
      await waitForPort(port, child, () => output);
    } catch (error) {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
      if (attempt < 3 && /Address already in use/.test(output)) {
        rmSync(path.join(dir, 'error.log'), { force: true });
        continue;
      }
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    const read = (name: string): string => {
      try {
        return readFileSync(path.join(dir, name), 'utf8');
      } catch {
        return '';
      }
    };
    return {
      port,
      dir,
      errorLog: () => read('error.log'),
      accessLog: () => read('access.log'),
      pause: () => child.kill('SIGSTOP'),
      resume: () => child.kill('SIGCONT'),
      async stop() {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGCONT');
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
          await exited;
          clearTimeout(timer);
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}

