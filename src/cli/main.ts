#!/usr/bin/env node
/**
 * `holdfast [dir] [options]`: serve a directory (or, with --demo, the bundled demo site), or an
 * app module (`holdfast ./app.mjs`, see app-module.ts).
 * Prints where it listens and the effective keep-alive settings. SIGINT/SIGTERM → graceful close
 * with a drain report; a second signal exits at once. `--workers N` forks N processes with
 * node:cluster sharing the port; the primary relays signals and sums the workers' drain reports.
 * A serving process prints through the same buffered writer as its log, so its own lines and the
 * log lines on stdout stay in order; with `--log-file` the primary passes SIGUSR1 (reopen the log)
 * on to the workers.
 * With --tls-cert/--tls-key it serves HTTPS on --tls-port (and, with --redirect-http, a plain
 * listener answering 308 to https://); SIGHUP rereads both files for new handshakes, keeping the
 * current certificate (and saying why) when they do not load. Workers share session-ticket keys
 * made by the primary, so a ticket from one resumes on another.
 */

import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { redirectToHttps } from '../handlers/redirect.js';
import { serveStatic, type StaticOptions } from '../handlers/static.js';
import { tryFiles } from '../handlers/try-files.js';
import type { Handler } from '../handlers/types.js';
import { proxy, type ProxyHandler } from '../proxy/proxy.js';
import { describeProxy } from './proxy-banner.js';
import { advertisedTimeoutSeconds } from '../http1/keep-alive.js';
import { createServer, type CloseReport, type HoldfastServer } from '../server/server.js';
import { openLogWriter } from '../server/log-writer.js';
import { OptionError, resolveOptions, type ResolvedOptions } from '../server/options.js';
import type { TlsOptions } from '../server/tls.js';
import { formatBytes } from '../server/units.js';
import { AppModuleError, classifyServed, loadAppModule } from './app-module.js';
import { holdfastVersion } from '../server/version.js';
import { answerSampleRequests, clusterSampleSource } from '../status/cluster.js';
import { serveStatus, StatusListener } from '../status/index.js';
import { USAGE, UsageError, parseArgs, withCliDefaults, type CliConfig } from './args.js';
import { DEMO_SITE, withDemoReport } from './demo.js';

const GRACE_MS = 10_000;
const STDOUT_FLUSH_TIMEOUT_MS = 2_000;
/** How the primary hands its session-ticket keys (hex) to its workers. */
const TICKET_KEYS_ENV = 'HOLDFAST_TLS_TICKET_KEYS';

type WorkerMessage =
  | { kind: 'listening'; port: number; host: string }
  | { kind: 'drained'; drained: number; forced: number; upgraded: number }
  | { kind: 'failed'; message: string };

/** The shutdown line: connections drained and forced, and how many of them had left HTTP (upgraded). */
function shutdownSummary(report: CloseReport): string {
  const upgraded = report.upgraded === 0 ? '' : ` (${report.upgraded} upgraded)`;
  return `${report.drained} connection(s) drained cleanly, ${report.forced} forced${upgraded}`;
}

function usageError(message: string): never {
  process.stderr.write(`holdfast: ${message.replace(/^holdfast: /, '')}\n`);
  process.exit(2);
}

/** The banner line for the status listener, or '' when it is off. */
function describeStatus(listener: StatusListener | null, token: string): string {
  const address = listener?.address;
  if (address === null || address === undefined) return '';
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `live status on http://${host}:${address.port}/ (also /status.json, /metrics)${token === '' ? '' : '; bearer token required'}\n`;
}

/** `--proxy`: the proxy handler, logging as the server does and where it does (--log, --log-file); exits 2 on a bad proxy option. */
function buildProxy(config: CliConfig): ProxyHandler | null {
  if (config.proxy.length === 0) return null;
  try {
    return proxy({ upstreams: config.proxy, ...config.proxyOptions, log: config.options.log ?? 'pretty', logSink: config.options.logSink ?? null });
  } catch (error) {
    if (error instanceof OptionError || (error instanceof Error && config.tlsCert !== null && /^--tls-(cert|key) /.test(error.message))) usageError(error.message);
    throw error;
  }
}

/** The certificate and key files as the tls option, with this process group's ticket keys; throws with the file's problem. */
function readTlsFiles(config: CliConfig): TlsOptions {
  const read = (flag: string, file: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      throw new Error(`${flag} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  };
  const keys = process.env[TICKET_KEYS_ENV];
  return {
    cert: read('--tls-cert', config.tlsCert as string),
    key: read('--tls-key', config.tlsKey as string),
    ticketKeys: keys === undefined ? undefined : Buffer.from(keys, 'hex'),
  };
}

/** The handler: an app module's, or the directory's files (and the proxy for what matches none). */
function staticOptions(config: CliConfig): StaticOptions {
  // A name given twice (in any case) is one list-valued field (RFC 9110 §5.3), spelled as first given.
  const fields = new Map<string, [string, string]>();
  for (const [name, value] of config.headers) {
    const known = fields.get(name.toLowerCase());
    fields.set(name.toLowerCase(), known === undefined ? [name, value] : [known[0], `${known[1]}, ${value}`]);
  }
  const headers = Object.fromEntries(fields.values());
  const { spa, list, cors, maxCacheBytes, maxCachedFileBytes, cacheControl, compress, cleanUrls } = config;
  return { spa, list, cors, maxCacheBytes, maxCachedFileBytes, cacheControl, compress, cleanUrls, headers };
}

/** The banner's line on how files are served. */
function describeFiles(config: CliConfig): string {
  const cache = config.maxCacheBytes === 0 || config.maxCachedFileBytes === 0 ? 'off' : `${formatBytes(config.maxCacheBytes)} (files up to ${formatBytes(config.maxCachedFileBytes)})`;
  return `files: memory cache ${cache}, compression ${config.compress ? 'br/gzip' : 'off'}, Cache-Control ${config.cacheControl}${config.cleanUrls ? ', clean URLs' : ''}`;
}

/** The handler: an app module's, or the directory's files (and the proxy for what matches none). */
function buildServer(config: CliConfig, upstreams: ProxyHandler | null, app: Handler | null): HoldfastServer {
  const root = config.demo ? DEMO_SITE : config.root;
  let server: HoldfastServer;
  const files = app ?? (root === null ? null : serveStatic(root, staticOptions(config)));
  try {
    const tls = config.tlsCert === null ? undefined : readTlsFiles(config);
    server = createServer({ ...withCliDefaults(config.options), tls }, (req) => handler(req));
  } catch (error) {
    if (error instanceof OptionError || (error instanceof Error && config.tlsCert !== null && /^--tls-(cert|key) /.test(error.message))) usageError(error.message);
    throw error;
  }
  let handler: Handler;
  if (upstreams !== null) handler = files === null ? upstreams : tryFiles(files, upstreams);
  else handler = config.demo ? withDemoReport(server, files as Handler) : (files as Handler);
  return server;
}

/** SIGHUP: the certificate files again, for new handshakes; on failure the current ones stay. */
function reloadCertificates(server: HoldfastServer, config: CliConfig): void {
  const who = cluster.isWorker ? `worker ${process.pid}: ` : '';
  try {
    server.reloadTls(readTlsFiles(config));
    process.stdout.write(`${who}SIGHUP: reloaded ${config.tlsCert} and ${config.tlsKey}; new connections use them\n`);
  } catch (error) {
    process.stderr.write(`holdfast: ${who}SIGHUP: keeping the current certificate: ${(error as Error).message.replace(/^holdfast: /, '')}\n`);
  }
}

/** The plain-HTTP listener of --redirect-http: every request gets a 308 to the https:// URL. */
async function startRedirect(config: CliConfig, httpsPort: number): Promise<{ server: HoldfastServer; port: number } | null> {
  if (config.redirectHttp === null) return null;
  const server = createServer(withCliDefaults(config.options), redirectToHttps(httpsPort, config.host));
  const { port } = await server.listen(config.redirectHttp, config.host);
  return { server, port };
}

function describeWhat(config: CliConfig): string {
  if (config.demo) return 'the demo site';
  if (config.proxy.length === 0) return config.root as string;
  return config.root === null ? `a proxy to ${config.proxy.join(', ')}` : `${config.root}, then a proxy to ${config.proxy.join(', ')}`;
}

function describeSettings(o: ResolvedOptions): string {
  const max = o.maxRequestsPerConnection === 0 ? 'unlimited' : String(o.maxRequestsPerConnection);
  return (
    `keep-alive: advertised timeout=${advertisedTimeoutSeconds(o.keepAliveTimeoutMs)}s, ` +
    `enforced ${o.keepAliveTimeoutMs + o.keepAliveTimeoutBufferMs} ms (timeout + ${o.keepAliveTimeoutBufferMs} ms buffer), ` +
    `max requests ${max}, HTTP/${o.httpVersion} (preset ${o.preset})`
  );
}

/** One process serving; in a cluster it reports to the primary instead of printing the banner. */
async function runServer(config: CliConfig, appModule: boolean): Promise<void> {
  let app: Handler | null = null;
  try {
    if (appModule) app = await loadAppModule(config.root as string);
  } catch (error) {
    if (!(error instanceof AppModuleError)) throw error;
    // In a cluster the primary prints it once, for every worker.
    if (cluster.isWorker) process.send?.({ kind: 'failed', message: error.message } satisfies WorkerMessage, () => process.exit(2));
    else usageError(error.message);
    return;
  }
  const upstreams = buildProxy(config);
  const server = buildServer(config, upstreams, app);
  // Under --workers the primary serves the status; a worker counts and answers it.
  let status: StatusListener | null = null;
  if (server.options.status !== '') {
    if (cluster.isWorker) answerSampleRequests(server, cluster.worker?.id ?? 0);
    else status = serveStatus(server);
  }
  const secure = config.tlsCert !== null;
  const { port, host } = await server.listen(secure ? config.tlsPort : config.port, config.host);
  const redirecting = await startRedirect(config, port);
  const redirect = redirecting?.server ?? null;
  const closeAll = async (): Promise<CloseReport> => {
    const [report, redirected] = await Promise.all([server.close({ graceMs: GRACE_MS }), redirect?.close({ graceMs: GRACE_MS })]);
    await upstreams?.close();
    return { drained: report.drained + (redirected?.drained ?? 0), forced: report.forced + (redirected?.forced ?? 0), upgraded: report.upgraded };
  };
  if (secure) process.on('SIGHUP', () => reloadCertificates(server, config));
  if (cluster.isWorker) {
    process.send?.({ kind: 'listening', port, host } satisfies WorkerMessage);
    process.on('message', (message: unknown) => {
      if (message === 'shutdown') {
        void closeAll().then((report) => {
          process.send?.({ kind: 'drained', ...report } satisfies WorkerMessage, () => process.exit(0));
        });
      } else if (message === 'reload' && secure) {
        reloadCertificates(server, config);
      }
    });
    process.on('SIGINT', () => undefined);
    process.on('SIGTERM', () => undefined);
    return;
  }
  const stdout = openLogWriter(null);
  const say = (text: string): Promise<void> => {
    stdout.write(text);
    return stdout.flush(STDOUT_FLUSH_TIMEOUT_MS);
  };
  let signals = 0;
  const stop = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      void say(`${signal} again: exiting now\n`);
      process.exit(1);
    }
    void say(`${signal}: draining ${server.connectionCount + (redirect?.connectionCount ?? 0)} connection(s) (grace ${GRACE_MS / 1000}s)\n`);
    void closeAll()
      .then((report) => say(`shutdown: ${shutdownSummary(report)}\n`).then(() => report))
      .then((report) => process.exit(report.forced === 0 ? 0 : 1));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // The banner last: whoever waits for it may signal at once.
  const proxyLine = upstreams === null ? '' : `${describeProxy(upstreams.options, server.options)}\n`;
  const redirectLine = redirecting === null ? '' : `redirecting http://${host}:${redirecting.port}/ to https:// (308)\n`;
  void say(`${redirectLine}holdfast serving ${describeWhat(config)} on ${secure ? 'https' : 'http'}://${host}:${port}/\n${describeSettings(server.options)}\n${app === null && (config.root !== null || config.demo) ? `${describeFiles(config)}\n` : ''}${proxyLine}${describeStatus(status, server.options.statusToken)}`);
}

async function runPrimary(config: CliConfig, count: number): Promise<void> {
  let settings: string;
  let options: ResolvedOptions;
  try {
    options = resolveOptions(withCliDefaults(config.options));
    settings = describeSettings(options);
  } catch (error) {
    if (error instanceof OptionError) usageError(error.message);
    throw error;
  }
  const status = options.status === '' ? null : new StatusListener({ address: options.status, token: options.statusToken, source: clusterSampleSource() });
  await status?.listen();
  let listening = 0;
  let address = '';
  let drained = 0;
  let forced = 0;
  let upgraded = 0;
  let reported = 0;
  let signals = 0;
  // One set of session-ticket keys for every worker: a client resumes on whichever worker accepts it.
  const env = config.tlsCert === null ? {} : { [TICKET_KEYS_ENV]: randomBytes(48).toString('hex') };
  for (let i = 0; i < count; i++) cluster.fork(env);
  if (config.tlsCert !== null) {
    process.on('SIGHUP', () => {
      for (const worker of Object.values(cluster.workers ?? {})) worker?.send('reload');
    });
  }
  cluster.on('message', (_worker, message: WorkerMessage) => {
    if (message.kind === 'listening') {
      address = `${config.tlsCert === null ? 'http' : 'https'}://${message.host}:${message.port}/`;
      if (++listening === count) {
        process.stdout.write(`holdfast serving ${describeWhat(config)} on ${address} with ${count} workers\n${settings}\n${describeFiles(config)} per worker\n${describeStatus(status, options.statusToken)}`);
        if (config.redirectHttp !== null) process.stdout.write(`redirecting http://${message.host}:${config.redirectHttp}/ to https:// (308)\n`);
      }
    } else if (message.kind === 'failed') {
      // A worker could not load the app module: the others cannot either.
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
      usageError(message.message);
    } else if (message.kind === 'drained') {
      drained += message.drained;
      forced += message.forced;
      upgraded += message.upgraded;
      reported++;
    }
  });
  cluster.on('exit', (worker, code) => {
    if (signals === 0) process.stderr.write(`holdfast: worker ${worker.process.pid} exited with code ${code}\n`);
    if (Object.keys(cluster.workers ?? {}).length === 0) {
      if (signals > 0) process.stdout.write(`shutdown: ${shutdownSummary({ drained, forced, upgraded })} (${reported} workers)\n`);
      process.exit(signals > 0 && reported === count ? 0 : 1);
    }
  });
  const stop = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      process.stdout.write(`${signal} again: exiting now\n`);
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
      process.exit(1);
    }
    process.stdout.write(`${signal}: draining ${count} workers (grace ${GRACE_MS / 1000}s)\n`);
    for (const worker of Object.values(cluster.workers ?? {})) worker?.send('shutdown');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  if (typeof config.options.logSink === 'string') {
    process.on('SIGUSR1', () => {
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGUSR1');
    });
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === 'inspect') {
    const { runInspect } = await import('./inspect.js');
    process.exitCode = await runInspect(process.argv.slice(3));
    return;
  }
  let command;
  try {
    command = parseArgs(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) usageError(error.message);
    throw error;
  }
  if (command.kind === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  if (command.kind === 'version') {
    process.stdout.write(`holdfast ${holdfastVersion()}\n`);
    return;
  }
  const config = command;
  let appModule = false;
  if (!config.demo && config.root !== null) {
    const served = classifyServed(config.root);
    if (served.kind === 'neither') usageError(served.message);
    appModule = served.kind === 'module';
    if (appModule && (config.spa || config.list || config.cors)) usageError('--spa, --list and --cors are for directories; an app module answers for itself');
  }
  const workers = config.workers === 'auto' ? os.availableParallelism() : config.workers;
  if (workers > 1 && cluster.isPrimary) await runPrimary(config, workers);
  else await runServer(config, appModule);
}

main().catch((error: unknown) => {
  process.stderr.write(`holdfast: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
