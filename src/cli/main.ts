#!/usr/bin/env node
/**
 * `holdfast [dir] [options]`: serve a directory (or, with --demo, the bundled demo site).
 * Prints where it listens and the effective keep-alive settings. SIGINT/SIGTERM → graceful close
 * with a drain report; a second signal exits at once. `--workers N` forks N processes with
 * node:cluster sharing the port; the primary relays signals and sums the workers' drain reports.
 */

import cluster from 'node:cluster';
import { statSync } from 'node:fs';
import os from 'node:os';
import { serveStatic } from '../handlers/static.js';
import { advertisedTimeoutSeconds } from '../http1/keep-alive.js';
import { createServer, type HoldfastServer } from '../server/server.js';
import { answerSampleRequests, clusterSampleSource } from '../status/cluster.js';
import { serveStatus, StatusListener } from '../status/index.js';
import { OptionError, resolveOptions, type ResolvedOptions } from '../server/options.js';
import { holdfastVersion } from '../server/version.js';
import { USAGE, UsageError, parseArgs, type CliConfig } from './args.js';
import { DEMO_SITE, withDemoReport } from './demo.js';

const GRACE_MS = 10_000;

type WorkerMessage = { kind: 'listening'; port: number; host: string } | { kind: 'drained'; drained: number; forced: number };

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

function buildServer(config: CliConfig): HoldfastServer {
  const root = config.demo ? DEMO_SITE : (config.root as string);
  let server: HoldfastServer;
  const files = serveStatic(root, { spa: config.spa, list: config.list, cors: config.cors });
  try {
    server = createServer(config.options, (req) => handler(req));
  } catch (error) {
    if (error instanceof OptionError) usageError(error.message);
    throw error;
  }
  const handler = config.demo ? withDemoReport(server, files) : files;
  return server;
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
async function runServer(config: CliConfig): Promise<void> {
  const server = buildServer(config);
  // Under --workers the primary serves the status; a worker counts and answers it.
  let status: StatusListener | null = null;
  if (server.options.status !== '') {
    if (cluster.isWorker) answerSampleRequests(server, cluster.worker?.id ?? 0);
    else status = serveStatus(server);
  }
  const { port, host } = await server.listen(config.port, config.host);
  if (cluster.isWorker) {
    process.send?.({ kind: 'listening', port, host } satisfies WorkerMessage);
    process.on('message', (message: unknown) => {
      if (message === 'shutdown') {
        void server.close({ graceMs: GRACE_MS }).then((report) => {
          process.send?.({ kind: 'drained', ...report } satisfies WorkerMessage, () => process.exit(0));
        });
      }
    });
    process.on('SIGINT', () => undefined);
    process.on('SIGTERM', () => undefined);
    return;
  }
  const where = config.demo ? 'the demo site' : (config.root as string);
  process.stdout.write(`holdfast serving ${where} on http://${host}:${port}/\n${describeSettings(server.options)}\n${describeStatus(status, server.options.statusToken)}`);
  let signals = 0;
  const stop = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      process.stdout.write(`${signal} again: exiting now\n`);
      process.exit(1);
    }
    process.stdout.write(`${signal}: draining ${server.connectionCount} connection(s) (grace ${GRACE_MS / 1000}s)\n`);
    void server.close({ graceMs: GRACE_MS }).then((report) => {
      process.stdout.write(`shutdown: ${report.drained} connection(s) drained cleanly, ${report.forced} forced\n`);
      process.exit(report.forced === 0 ? 0 : 1);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

async function runPrimary(config: CliConfig, count: number): Promise<void> {
  let settings: string;
  let options: ResolvedOptions;
  try {
    options = resolveOptions(config.options);
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
  let reported = 0;
  let signals = 0;
  for (let i = 0; i < count; i++) cluster.fork();
  cluster.on('message', (_worker, message: WorkerMessage) => {
    if (message.kind === 'listening') {
      address = `http://${message.host}:${message.port}/`;
      if (++listening === count) {
        const where = config.demo ? 'the demo site' : (config.root as string);
        process.stdout.write(`holdfast serving ${where} on ${address} with ${count} workers\n${settings}\n${describeStatus(status, options.statusToken)}`);
      }
    } else if (message.kind === 'drained') {
      drained += message.drained;
      forced += message.forced;
      reported++;
    }
  });
  cluster.on('exit', (worker, code) => {
    if (signals === 0) process.stderr.write(`holdfast: worker ${worker.process.pid} exited with code ${code}\n`);
    if (Object.keys(cluster.workers ?? {}).length === 0) {
      if (signals > 0) process.stdout.write(`shutdown: ${drained} connection(s) drained cleanly, ${forced} forced (${reported} workers)\n`);
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
  if (!config.demo) {
    let isDirectory = false;
    try {
      isDirectory = statSync(config.root as string).isDirectory();
    } catch {
      isDirectory = false;
    }
    if (!isDirectory) usageError(`${config.root} is not a directory`);
  }
  const workers = config.workers === 'auto' ? os.availableParallelism() : config.workers;
  if (workers > 1 && cluster.isPrimary) await runPrimary(config, workers);
  else await runServer(config);
}

main().catch((error: unknown) => {
  process.stderr.write(`holdfast: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
