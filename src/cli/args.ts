/**
 * Command-line arguments → a config, purely (no I/O). Every error is one line naming the flag and
 * what it accepts; the caller prints it and exits with code 2.
 *
 * Durations accept `500ms`, `30s`, `2m`, `1h`; a bare number means seconds.
 */

import type { HttpVersion } from '../http1/framing.js';
import type { LogFormat, Preset } from '../server/options.js';

export interface CliConfig {
  kind: 'serve';
  /** The directory to serve; null means the bundled demo site. */
  root: string | null;
  demo: boolean;
  port: number;
  host: string;
  preset: Preset | undefined;
  keepAliveTimeoutMs: number | undefined;
  keepAliveTimeoutBufferMs: number | undefined;
  maxRequestsPerConnection: number | undefined;
  maxConnectionLifetimeMs: number | undefined;
  headersTimeoutMs: number | undefined;
  requestTimeoutMs: number | undefined;
  httpVersion: HttpVersion | undefined;
  log: LogFormat;
  workers: number | 'auto';
  cors: boolean;
  spa: boolean;
  list: boolean;
}

export type CliCommand = CliConfig | { kind: 'help' } | { kind: 'version' };

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const USAGE = `Usage: holdfast [dir] [options]

Serves the files in dir (default: the current directory) over HTTP/1.1.

Options:
  --port N                  port to listen on (default 8080; 0 picks a free port)
  --host ADDRESS            address to bind (default 127.0.0.1; 0.0.0.0 to expose)
  --preset NAME             production (30s/100) | high-traffic (15s/50) | low-traffic (60s/200)
  --keep-alive-timeout D    idle time between requests, advertised as Keep-Alive: timeout
  --keep-alive-buffer D     extra idle time enforced beyond the advertised timeout (default 1s)
  --max-requests N          requests per connection (0 = unlimited, 1 = no keep-alive)
  --max-lifetime D          close connections older than this after their next response (0 = off)
  --headers-timeout D       time allowed for a request head (408 after)
  --request-timeout D       time allowed for a whole request (408 after)
  --http-version V          1.1 (default) or 1.0 (never keeps connections alive)
  --log FORMAT              pretty (default) | json | off
  --workers N|auto          processes sharing the port (default 1; auto = one per CPU)
  --cors                    add Access-Control-Allow-Origin: * and answer preflights
  --spa                     serve index.html for unknown paths (single-page apps)
  --list                    list directories without an index.html
  --demo                    serve the bundled demo site with its connection report
  -h, --help                show this help
  -v, --version             show the version

Durations: 500ms, 30s, 2m, 1h; a bare number means seconds.
`;

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(flag: string, text: string): number {
  const match = DURATION.exec(text.trim());
  if (match === null) throw new UsageError(`${flag} takes a duration like 500ms, 30s, 2m or a number of seconds; got "${text}"`);
  const ms = Math.round(Number(match[1]) * UNIT_MS[match[2] ?? 's']);
  if (!Number.isSafeInteger(ms)) throw new UsageError(`${flag}: duration "${text}" is too large`);
  return ms;
}

function parseInteger(flag: string, text: string, min: number, max: number, what: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${flag} takes ${what}; got "${text}"`);
  const value = Number(text);
  if (value < min || value > max) throw new UsageError(`${flag} takes ${what}; got "${text}"`);
  return value;
}

function oneOf<T extends string>(flag: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text)) throw new UsageError(`${flag} takes one of ${allowed.join(', ')}; got "${text}"`);
  return text as T;
}

const PRESETS = ['production', 'high-traffic', 'low-traffic'] as const;
const LOGS = ['pretty', 'json', 'off'] as const;
const VERSIONS = ['1.1', '1.0'] as const;
const SWITCHES = new Set(['--cors', '--spa', '--list', '--demo']);

export function parseArgs(argv: readonly string[]): CliCommand {
  const config: CliConfig = {
    kind: 'serve',
    root: null,
    demo: false,
    port: 8080,
    host: '127.0.0.1',
    preset: undefined,
    keepAliveTimeoutMs: undefined,
    keepAliveTimeoutBufferMs: undefined,
    maxRequestsPerConnection: undefined,
    maxConnectionLifetimeMs: undefined,
    headersTimeoutMs: undefined,
    requestTimeoutMs: undefined,
    httpVersion: undefined,
    log: 'pretty',
    workers: 1,
    cors: false,
    spa: false,
    list: false,
  };
  let rootGiven = false;
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    if (arg === '-h' || arg === '--help') return { kind: 'help' };
    if (arg === '-v' || arg === '--version') return { kind: 'version' };
    if (!arg.startsWith('-')) {
      if (rootGiven) throw new UsageError(`only one directory may be given; got "${config.root}" and "${arg}"`);
      config.root = arg;
      rootGiven = true;
      continue;
    }
    if (SWITCHES.has(arg)) {
      if (arg === '--cors') config.cors = true;
      else if (arg === '--spa') config.spa = true;
      else if (arg === '--list') config.list = true;
      else config.demo = true;
      continue;
    }
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (eq !== -1) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
      if (SWITCHES.has(arg)) throw new UsageError(`${arg} takes no value; got "${value}"`);
    } else {
      value = argv[i + 1];
      if (value !== undefined && value.startsWith('--')) value = undefined;
      if (value !== undefined) i++;
    }
    const need = (what: string): string => {
      if (value === undefined || value === '') throw new UsageError(`${arg} needs a value: ${what}`);
      return value;
    };
    switch (arg) {
      case '--port':
        config.port = parseInteger(arg, need('a port from 0 to 65535'), 0, 65535, 'a port from 0 to 65535');
        break;
      case '--host':
        config.host = need('an address such as 127.0.0.1 or 0.0.0.0');
        break;
      case '--preset':
        config.preset = oneOf(arg, need(PRESETS.join(', ')), PRESETS);
        break;
      case '--keep-alive-timeout':
        config.keepAliveTimeoutMs = parseDuration(arg, need('a duration such as 30s'));
        if (config.keepAliveTimeoutMs < 1) throw new UsageError(`${arg} must be longer than 0 (use --max-requests 1 to disable keep-alive)`);
        break;
      case '--keep-alive-buffer':
        config.keepAliveTimeoutBufferMs = parseDuration(arg, need('a duration such as 1s'));
        break;
      case '--max-requests':
        config.maxRequestsPerConnection = parseInteger(arg, need('a number of requests (0 = unlimited)'), 0, Number.MAX_SAFE_INTEGER, 'a whole number of requests (0 = unlimited)');
        break;
      case '--max-lifetime':
        config.maxConnectionLifetimeMs = parseDuration(arg, need('a duration such as 1h (0 = off)'));
        break;
      case '--headers-timeout':
        config.headersTimeoutMs = parseDuration(arg, need('a duration such as 60s'));
        if (config.headersTimeoutMs < 1) throw new UsageError(`${arg} must be longer than 0`);
        break;
      case '--request-timeout':
        config.requestTimeoutMs = parseDuration(arg, need('a duration such as 300s'));
        if (config.requestTimeoutMs < 1) throw new UsageError(`${arg} must be longer than 0`);
        break;
      case '--http-version':
        config.httpVersion = oneOf(arg, need(VERSIONS.join(', ')), VERSIONS);
        break;
      case '--log':
        config.log = oneOf(arg, need(LOGS.join(', ')), LOGS);
        break;
      case '--workers': {
        const text = need('a number of processes or auto');
        config.workers = text === 'auto' ? 'auto' : parseInteger(arg, text, 1, 1024, 'a number of processes from 1 to 1024, or auto');
        break;
      }
      default:
        throw new UsageError(`unknown option ${arg} (see holdfast --help)`);
    }
  }
  if (config.demo && rootGiven) throw new UsageError('--demo serves the bundled demo site; it takes no directory');
  if (!config.demo && !rootGiven) config.root = '.';
  return config;
}
