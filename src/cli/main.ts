#!/usr/bin/env node
/**
 * `holdfast [--port N] [--host H] [--preset P]`: serves the built-in demo site (the static-file
 * CLI is a later issue). SIGINT/SIGTERM → graceful close; a second signal exits at once.
 */

import { createServer } from '../server/server.js';
import { OptionError, type Preset } from '../server/options.js';
import { demoHandler } from './demo.js';

function fail(message: string): never {
  process.stderr.write(`holdfast: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): { port: number; host: string; preset: Preset } {
  let port = 8080;
  let host = '127.0.0.1';
  let preset: Preset = 'production';
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--port') {
      port = Number(value);
      if (!Number.isInteger(port) || port < 0 || port > 65535) fail('--port takes an integer from 0 to 65535');
      i++;
    } else if (flag === '--host') {
      if (value === undefined) fail('--host takes an address, e.g. 127.0.0.1 or 0.0.0.0');
      host = value;
      i++;
    } else if (flag === '--preset') {
      if (value !== 'production' && value !== 'high-traffic' && value !== 'low-traffic') fail('--preset takes production, high-traffic or low-traffic');
      preset = value;
      i++;
    } else {
      fail(`unknown argument ${flag}; accepted: --port N, --host ADDRESS, --preset production|high-traffic|low-traffic`);
    }
  }
  return { port, host, preset };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  let server;
  try {
    server = createServer({ preset: args.preset }, demoHandler);
  } catch (error) {
    if (error instanceof OptionError) fail(error.message);
    throw error;
  }
  const { port, host } = await server.listen(args.port, args.host);
  const o = server.options;
  process.stdout.write(
    `holdfast listening on http://${host}:${port}/\n` +
      `keep-alive: advertised timeout=${Math.floor(o.keepAliveTimeoutMs / 1000)}s, enforced ${o.keepAliveTimeoutMs + o.keepAliveTimeoutBufferMs} ms, ` +
      `max requests ${o.maxRequestsPerConnection === 0 ? 'unlimited' : o.maxRequestsPerConnection} (preset ${o.preset})\n`,
  );
  let signals = 0;
  const stop = (signal: string): void => {
    if (++signals > 1) {
      process.stdout.write(`${signal} again: exiting now\n`);
      process.exit(1);
    }
    process.stdout.write(`${signal}: draining ${server.connectionCount} connection(s)…\n`);
    void server.close({ graceMs: 10_000 }).then((report) => {
      process.stdout.write(`shutdown complete: ${report.drained} drained cleanly, ${report.forced} forced\n`);
      process.exit(0);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
  process.stderr.write(`holdfast: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
