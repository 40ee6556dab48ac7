/**
 * Server options, the seed's presets, validation and defaults. Every default names its precedent.
 * Invalid options throw at construction with the option's name and what it accepts.
 */

import { readdirSync, readFileSync } from 'node:fs';
import type { HttpVersion } from '../http1/framing.js';

export type Preset = 'production' | 'high-traffic' | 'low-traffic';
export type LogFormat = 'pretty' | 'json' | 'off';
export type LogSink = (line: string) => void;

export interface ServerOptions {
  /** Keep-alive timeout and max requests from the seed's recommendations. Default production. */
  preset?: Preset;
  /** Idle time allowed between requests, advertised as `Keep-Alive: timeout=`. */
  keepAliveTimeoutMs?: number;
  /** Extra idle time enforced beyond the advertised timeout (close-while-sending race). */
  keepAliveTimeoutBufferMs?: number;
  /** Requests per connection; 0 = unlimited, 1 = no keep-alive. */
  maxRequestsPerConnection?: number;
  /** The response that crosses this age says `Connection: close`; 0 = unlimited. */
  maxConnectionLifetimeMs?: number;
  /** From a request's first byte to the end of its head → 408. */
  headersTimeoutMs?: number;
  /** From a request's first byte to the end of its body → 408. */
  requestTimeoutMs?: number;
  /** Slowest accepted request body, measured per second while it arrives → 408; 0 = off. */
  minBodyBytesPerSecond?: number;
  /** During graceful close, an idle connection is closed once it has been idle this long. */
  shutdownMinIdleMs?: number;
  /**
   * Most connections at once; at the cap lingering and idle keep-alive connections are closed
   * first, then new ones are refused (and logged). 0 = unlimited (default). Independently, the
   * server refuses (and logs) new connections just below the process's open-file limit.
   */
  maxConnections?: number;
  /** Longest a handler may take to start its response → 503 and close; 0 = off. */
  handlerTimeoutMs?: number;
  /** Longest stall of a response write (peer not reading) before the connection is dropped. */
  sendTimeoutMs?: number;
  maxRequestLineBytes?: number;
  maxHeaderBytes?: number;
  maxHeaderCount?: number;
  /** Largest request body; 0 = unlimited. */
  maxBodyBytes?: number;
  /** Unread request body discarded after a response to keep the connection; beyond → close. */
  maxDrainBytes?: number;
  /** Lingering close: how long to read and discard after our FIN. */
  lingerMs?: number;
  /** Lingering close: how many bytes to discard at most. */
  maxLingerBytes?: number;
  /** '1.0' answers as HTTP/1.0 and never keeps connections alive (the seed's HTTP10 config). */
  httpVersion?: HttpVersion;
  /** Built-in logger: one line per connection and request event. */
  log?: LogFormat;
  /** Where log lines go. Default: process.stdout. */
  logSink?: LogSink;
}

export interface ResolvedOptions {
  preset: Preset;
  keepAliveTimeoutMs: number;
  keepAliveTimeoutBufferMs: number;
  maxRequestsPerConnection: number;
  maxConnectionLifetimeMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  minBodyBytesPerSecond: number;
  shutdownMinIdleMs: number;
  maxConnections: number;
  handlerTimeoutMs: number;
  sendTimeoutMs: number;
  maxRequestLineBytes: number;
  maxHeaderBytes: number;
  maxHeaderCount: number;
  maxBodyBytes: number;
  maxDrainBytes: number;
  lingerMs: number;
  maxLingerBytes: number;
  httpVersion: HttpVersion;
  log: LogFormat;
  logSink: LogSink | null;
}

/** The seed's configuration recommendations: production 30 s/100, high-traffic 15 s/50, low-traffic 60 s/200. */
export const PRESETS: Readonly<Record<Preset, { keepAliveTimeoutMs: number; maxRequestsPerConnection: number }>> = {
  production: { keepAliveTimeoutMs: 30_000, maxRequestsPerConnection: 100 },
  'high-traffic': { keepAliveTimeoutMs: 15_000, maxRequestsPerConnection: 50 },
  'low-traffic': { keepAliveTimeoutMs: 60_000, maxRequestsPerConnection: 200 },
};

export const DEFAULTS = {
  preset: 'production',
  keepAliveTimeoutBufferMs: 1_000, // node: HTTP_SERVER_KEEP_ALIVE_TIMEOUT_BUFFER
  maxConnectionLifetimeMs: 3_600_000, // nginx: keepalive_time 1h
  headersTimeoutMs: 60_000, // nginx: client_header_timeout 60s; node: headersTimeout 60s
  requestTimeoutMs: 300_000, // node: requestTimeout 300s
  minBodyBytesPerSecond: 0, // off; Apache mod_reqtimeout uses MinRate=500 when enabled
  shutdownMinIdleMs: 1_000, // nginx: keepalive_min_timeout (0 there); holdfast waits 1 s so a client about to send is answered
  maxConnections: 0, // unlimited; nginx: worker_connections, reusing idle keep-alive connections under pressure
  handlerTimeoutMs: 0, // off, as node and Go (Go's TimeoutHandler is opt-in)
  sendTimeoutMs: 60_000, // nginx: send_timeout 60s
  maxRequestLineBytes: 8_190, // Apache: LimitRequestLine 8190
  maxHeaderBytes: 16_384, // node: --max-http-header-size 16 KiB
  maxHeaderCount: 100, // Apache: LimitRequestFields 100
  maxBodyBytes: 1_048_576, // nginx: client_max_body_size 1m
  maxDrainBytes: 262_144, // Go: maxPostHandlerReadBytes 256 KiB
  lingerMs: 5_000, // nginx: lingering_timeout 5s
  maxLingerBytes: 1_048_576, // bounded discard; nginx bounds lingering by time only
  httpVersion: '1.1',
  log: 'pretty',
} as const;

/**
 * The soft open-file limit (Linux /proc/self/limits) less the descriptors already open and a
 * reserve for files, logs and the listener: libuv silently drops connections it cannot accept
 * (EMFILE), so refusing below the limit is what makes the condition visible. 0 (unlimited) where
 * the limit cannot be read.
 */
export function descriptorConnectionLimit(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = Number(line?.split(/\s{2,}/)[1]);
    if (!Number.isSafeInteger(soft) || soft <= 0) return 0;
    const openNow = readdirSync('/proc/self/fd').length;
    return Math.max(1, soft - openNow - Math.min(64, Math.floor(soft / 4)));
  } catch {
    return 0;
  }
}

type NumericOption = Exclude<
  { [K in keyof ResolvedOptions]: ResolvedOptions[K] extends number ? K : never }[keyof ResolvedOptions],
  undefined
>;

const NUMERIC: ReadonlyArray<{ name: NumericOption; min: number; unit: string }> = [
  { name: 'keepAliveTimeoutMs', min: 1, unit: 'milliseconds (to disable keep-alive, set maxRequestsPerConnection: 1)' },
  { name: 'keepAliveTimeoutBufferMs', min: 0, unit: 'milliseconds' },
  { name: 'maxRequestsPerConnection', min: 0, unit: 'requests (0 = unlimited)' },
  { name: 'maxConnectionLifetimeMs', min: 0, unit: 'milliseconds (0 = unlimited)' },
  { name: 'headersTimeoutMs', min: 1, unit: 'milliseconds' },
  { name: 'requestTimeoutMs', min: 1, unit: 'milliseconds' },
  { name: 'minBodyBytesPerSecond', min: 0, unit: 'bytes per second (0 = off)' },
  { name: 'shutdownMinIdleMs', min: 0, unit: 'milliseconds' },
  { name: 'maxConnections', min: 0, unit: 'connections (0 = unlimited)' },
  { name: 'handlerTimeoutMs', min: 0, unit: 'milliseconds (0 = off)' },
  { name: 'sendTimeoutMs', min: 1, unit: 'milliseconds' },
  { name: 'maxRequestLineBytes', min: 16, unit: 'bytes' },
  { name: 'maxHeaderBytes', min: 64, unit: 'bytes' },
  { name: 'maxHeaderCount', min: 1, unit: 'fields' },
  { name: 'maxBodyBytes', min: 0, unit: 'bytes (0 = unlimited)' },
  { name: 'maxDrainBytes', min: 0, unit: 'bytes' },
  { name: 'lingerMs', min: 0, unit: 'milliseconds' },
  { name: 'maxLingerBytes', min: 0, unit: 'bytes' },
];

const KNOWN = new Set<string>([...NUMERIC.map((o) => o.name), 'preset', 'httpVersion', 'log', 'logSink']);

export class OptionError extends TypeError {
  constructor(message: string) {
    super(`holdfast: ${message}`);
    this.name = 'OptionError';
  }
}

export function resolveOptions(options: ServerOptions = {}): ResolvedOptions {
  if (options === null || typeof options !== 'object') throw new OptionError('options must be an object');
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw new OptionError(`unknown option "${key}"`);
  }
  const preset = options.preset ?? DEFAULTS.preset;
  if (!Object.hasOwn(PRESETS, preset)) {
    throw new OptionError(`option preset must be one of ${Object.keys(PRESETS).join(', ')}; got ${String(preset)}`);
  }
  const httpVersion = options.httpVersion ?? DEFAULTS.httpVersion;
  if (httpVersion !== '1.0' && httpVersion !== '1.1') throw new OptionError(`option httpVersion must be '1.0' or '1.1'; got ${String(httpVersion)}`);
  const log = options.log ?? DEFAULTS.log;
  if (log !== 'pretty' && log !== 'json' && log !== 'off') throw new OptionError(`option log must be 'pretty', 'json' or 'off'; got ${String(log)}`);
  if (options.logSink !== undefined && typeof options.logSink !== 'function') throw new OptionError('option logSink must be a function');

  const resolved: ResolvedOptions = {
    ...DEFAULTS,
    ...PRESETS[preset],
    preset,
    httpVersion,
    log,
    logSink: options.logSink ?? null,
  };
  for (const { name, min, unit } of NUMERIC) {
    const value = options[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
      throw new OptionError(`option ${name} must be an integer ≥ ${min}, in ${unit}; got ${String(value)}`);
    }
    resolved[name] = value;
  }
  return resolved;
}
