/**
 * The servers under test. Each `ServerSpec` starts one child process pinned to core 0 on a free
 * 127.0.0.1 port and resolves once `GET /` answers 200; `RunningServer.stop()` stops it by PID.
 * holdfast and node:http run the scripts in ./servers/ (compiled next to this file's parent);
 * nginx runs from a config generated into the work dir, and only when /usr/sbin/nginx exists.
 * The logged variants write an access log into the work dir: holdfast with its built-in logger
 * (`--log pretty|json` to a file), nginx with `access_log … buffer=64k flush=1s` in its `combined`
 * format or a JSON format with the same fields as holdfast's; `resetLog()` truncates the file
 * (both open it O_APPEND, so writing goes on at the new end) and `logBytes()` says how much was written.
 * The app servers run the same fetch apps (./servers/apps.ts: a Hono app, a plain fetch function)
 * on holdfast's fetchHandler and on @hono/node-server. holdfast-uncached is holdfast with its
 * memory cache for files off (every file read from disk, as before the cache existed); nginx
 * compresses .js files (`gzip on`, level 6); `serve` is the npm package (a dev dependency) with
 * request logging, clipboard and update check off, compressing as it does by default.
 * Given the bench's certificate (`start(…, tls)`), holdfast, node:http and nginx also serve HTTPS
 * on `tlsPort` with the same answers: holdfast a second server with `tls`, node:http's process
 * node:https, nginx a second `server` (one worker, `ssl_session_cache`, tickets on).
 */

import { existsSync, promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { fetchOnce } from './http-client.js';
import { spawnPinned, stop, tail } from './processes.js';

export const SERVER_CORE = 0;
export const NGINX = '/usr/sbin/nginx';

/** In the proxy scenarios 'holdfast' and 'nginx' are those servers as proxies, and 'http-proxy' is the Node reference. */
export type ServerName =
  | 'holdfast'
  | 'holdfast-uncached'
  | 'serve'
  | 'node:http'
  | 'node:net floor'
  | 'nginx'
  | 'http-proxy'
  | 'holdfast+log'
  | 'holdfast+json-log'
  | 'holdfast+status'
  | 'nginx+log'
  | 'nginx+json-log'
  | 'holdfast fetch'
  | 'holdfast + Hono'
  | '@hono/node-server fetch'
  | '@hono/node-server + Hono';

/** The servers every scenario runs unless it names its own. */
export const BASE_SERVERS: readonly ServerName[] = ['holdfast', 'node:http', 'nginx'];

/** The app scenarios' servers: the fetch apps on holdfast and on @hono/node-server, and holdfast's native handler for reference. */
export const APP_SERVERS: readonly ServerName[] = ['holdfast', 'holdfast fetch', 'holdfast + Hono', '@hono/node-server fetch', '@hono/node-server + Hono'];

/** Each app on holdfast, and the same app on @hono/node-server. */
export const APP_PEERS: Partial<Record<ServerName, ServerName>> = {
  'holdfast fetch': '@hono/node-server fetch',
  'holdfast + Hono': '@hono/node-server + Hono',
};

/** The bench's certificate (PEM files), when openssl could make one. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface RunningServer {
  name: ServerName;
  port: number;
  /** Where it serves HTTPS, when it was started with a certificate. */
  tlsPort: number | null;
  pid: number;
  /** Whether `GET /__mem` answers with process.memoryUsage(). */
  hasHeap: boolean;
  /** The access log, for the logged variants; null when the server does not log. */
  logFile: string | null;
  alive(): boolean;
  stderr(): string;
  stop(): Promise<void>;
}

export interface ServerSpec {
  name: ServerName;
  /** null when it can run here, else why not. */
  unavailable(): string | null;
  /** `tls`: serve HTTPS on a second port too (only the servers that can; the others ignore it). */
  start(workDir: string, wwwDir: string, tls?: TlsFiles | null): Promise<RunningServer>;
}

export const serversDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'servers');

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

export async function launch(
  name: ServerName,
  command: string,
  args: (port: number, tlsPort: number | null) => Promise<string[]>,
  hasHeap: boolean,
  logFile: string | null = null,
  env?: NodeJS.ProcessEnv,
  withTls = false,
): Promise<RunningServer> {
  const port = await freePort();
  const tlsPort = withTls ? await freePort() : null;
  const child = spawnPinned(SERVER_CORE, command, await args(port, tlsPort), env === undefined ? {} : { env: { ...process.env, ...env } });
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
    logFile,
    alive: () => child.exitCode === null && child.signalCode === null,
    stderr,
    stop: () => stop(child),
  };
}

/** `name` as a file name: `node:http` → `node-http`, `holdfast+log` → `holdfast-log`. */
function fileName(name: ServerName): string {
  return name.replace(/[^a-z-]/g, '-');
}

function logPath(workDir: string, name: ServerName): string {
  return path.join(workDir, 'logs', `${fileName(name)}.log`);
}

/** The servers that serve HTTPS too when given the certificate. */
export const TLS_SERVERS: readonly ServerName[] = ['holdfast', 'node:http', 'nginx'];

function nodeServer(name: ServerName, script: string, log: 'pretty' | 'json' | null = null, app?: 'hono' | 'fetch', extra: readonly string[] = []): ServerSpec {
  const file = path.join(serversDir, script);
  return {
    name,
    unavailable: () => (existsSync(file) ? null : `${file} is missing (run npm run build)`),
    start: (workDir, wwwDir, given) => {
      const tls = TLS_SERVERS.includes(name) ? (given ?? null) : null;
      const logFile = log === null ? null : logPath(workDir, name);
      const logArgs = logFile === null ? [] : ['--log', log as string, '--log-file', logFile];
      return launch(
        name,
        process.execPath,
        async (port, tlsPort) => {
          if (logFile !== null) await fs.mkdir(path.dirname(logFile), { recursive: true });
          const tlsArgs = tls === null ? [] : ['--tls-port', String(tlsPort), '--tls-cert', tls.certFile, '--tls-key', tls.keyFile];
          return ['--expose-gc', file, String(port), wwwDir, ...logArgs, ...(app === undefined ? [] : [app]), ...extra, ...tlsArgs];
        },
        true,
        logFile,
        undefined,
        tls !== null,
      );
    },
  };
}

/** nginx's access log for a logged variant: the format's definition (if not built in) and its file. */
interface NginxLog {
  format: 'combined' | 'json';
  file: string;
}

/** The JSON line holdfast's `--log json` writes for a request, in nginx variables. */
const NGINX_JSON_FORMAT = `'{"time":"$time_iso8601","event":"request","connectionId":$connection,"requestIndex":$connection_requests,"method":"$request_method","target":"$request_uri","status":$status,"bytes":$body_bytes_sent,"durationMs":$request_time}'`;

function nginxLogDirectives(log: NginxLog | null): string {
  if (log === null) return '    access_log off;';
  const define = log.format === 'json' ? `    log_format json escape=json ${NGINX_JSON_FORMAT};\n` : '';
  return `${define}    access_log ${log.file} ${log.format} buffer=64k flush=1s;`;
}

/**
 * The HTTPS `server` block: as nginx is usually tuned for it, a shared session cache for session
 * ids and tickets on (its default); one worker like the plain one.
 */
function nginxHttps(tls: TlsFiles & { port: number }, wwwDir: string): string {
  return `
    server {
        listen 127.0.0.1:${tls.port} ssl;
        root ${wwwDir};
        ssl_certificate ${tls.certFile};
        ssl_certificate_key ${tls.keyFile};
        ssl_session_cache shared:SSL:10m;
        ssl_session_tickets on;

        location = / {
            default_type text/plain;
            return 200 "Hello, World!";
        }
    }
`;
}

/** nginx's configuration; `dir` (which must exist) holds its pid file, error log and temp paths. */
export function nginxConfig(port: number, dir: string, wwwDir: string, log: NginxLog | null = null, tls: (TlsFiles & { port: number }) | null = null): string {
  const temp = (what: string): string => path.join(dir, `${what}_temp`);
  return `daemon off;
master_process off;
worker_processes 1;
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'error.log')} warn;

events {
    worker_connections 16384;
}

http {
${nginxLogDirectives(log)}
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

        location ~ \.js$ {
            types { text/javascript js; }
            gzip on;
            gzip_comp_level 6;
            gzip_types text/javascript;
            gzip_vary on;
        }
    }
${tls === null ? '' : nginxHttps(tls, wwwDir)}}
`;
}

function nginx(name: ServerName, format: NginxLog['format'] | null = null): ServerSpec {
  return {
    name,
    unavailable: () => (existsSync(NGINX) ? null : `${NGINX} is not installed`),
    async start(workDir, wwwDir, given) {
      const tls = TLS_SERVERS.includes(name) ? (given ?? null) : null;
      const dir = path.join(workDir, fileName(name));
      await fs.mkdir(dir, { recursive: true });
      const conf = path.join(dir, 'nginx.conf');
      const log = format === null ? null : { format, file: logPath(workDir, name) };
      if (log !== null) await fs.mkdir(path.dirname(log.file), { recursive: true });
      return launch(
        name,
        NGINX,
        async (port, tlsPort) => {
          await fs.writeFile(conf, nginxConfig(port, dir, wwwDir, log, tls === null ? null : { ...tls, port: tlsPort as number }));
          return ['-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')];
        },
        false,
        log?.file ?? null,
        undefined,
        tls !== null,
      );
    },
  };
}

/** The `serve` package's command-line entry point, or null when the dev dependency is not installed. */
const SERVE: string | null = (() => {
  try {
    return createRequire(import.meta.url).resolve('serve/build/main.js');
  } catch {
    return null;
  }
})();

const serve: ServerSpec = {
  name: 'serve',
  unavailable: () => (SERVE === null ? 'the serve package is not installed (npm install)' : null),
  start: (_workDir, wwwDir) =>
    launch('serve', process.execPath, async (port) => [SERVE as string, '-l', `tcp://127.0.0.1:${port}`, '-L', '-n', '--no-port-switching', wwwDir], false, null, { NO_UPDATE_CHECK: '1' }),
};

export const SERVERS: readonly ServerSpec[] = [
  nodeServer('holdfast', 'holdfast.js'),
  nodeServer('holdfast-uncached', 'holdfast.js', null, undefined, ['--no-file-cache']),
  serve,
  nodeServer('node:http', 'node-http.js'),
  nodeServer('node:net floor', 'net-floor.js'),
  nginx('nginx'),
  nodeServer('holdfast+log', 'holdfast.js', 'pretty'),
  nodeServer('holdfast+json-log', 'holdfast.js', 'json'),
  nodeServer('holdfast+status', 'holdfast.js', null, undefined, ['--status']),
  nginx('nginx+log', 'combined'),
  nginx('nginx+json-log', 'json'),
  nodeServer('holdfast fetch', 'holdfast-app.js', null, 'fetch'),
  nodeServer('holdfast + Hono', 'holdfast-app.js', null, 'hono'),
  nodeServer('@hono/node-server fetch', 'node-server-app.js', null, 'fetch'),
  nodeServer('@hono/node-server + Hono', 'node-server-app.js', null, 'hono'),
];

/** Empties a logged server's access log before a measured run. */
export async function resetLog(server: RunningServer): Promise<void> {
  if (server.logFile !== null) await fs.truncate(server.logFile, 0).catch(() => undefined);
}

/** Bytes in a logged server's access log (null for a server that does not log). */
export async function logBytes(server: RunningServer): Promise<number | null> {
  if (server.logFile === null) return null;
  return fs.stat(server.logFile).then((stats) => stats.size, () => 0);
}
