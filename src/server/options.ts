/**
 * Server options: ONE table (`OPTIONS`) declares each option once — its kind, default and the
 * precedent for that default, the range it accepts, its `holdfast` flag and help line (or none).
 * `ServerOptions`, `ResolvedOptions`, `DEFAULTS`, the validation in `resolveOptions`, the CLI flags,
 * `holdfast --help` and the CLI → library mapping all derive from it. Invalid options throw at
 * construction with the option's name and what it accepts; an unknown name is rejected, so a typo
 * never falls back to a default silently.
 *
 * Adding an option is one row here and one line in the README's options table.
 */

import { readdirSync, readFileSync } from 'node:fs';
import type { HttpVersion } from '../http1/framing.js';
import { checkTlsOptions, type TlsOptions } from './tls.js';
import { ADDRESS_SYNTAX, TOKEN_SYNTAX, formatDuration, isBearerToken, isInRange, isLoopbackHost, parseAddress, type NumberSpec } from './units.js';

export type LogSink = (line: string) => void;

/**
 * The recommended keep-alive settings: idle timeout / requests per connection. Production's 100
 * requests is Apache's MaxKeepAliveRequests (and nginx's keepalive_requests before 1.19.10); its
 * 30 s idle time lies between node's 5 s and nginx's 75 s. Busier servers free connections sooner,
 * quieter ones keep them longer.
 */
export const PRESETS = {
  production: { keepAliveTimeoutMs: 30_000, maxRequestsPerConnection: 100 },
  'high-traffic': { keepAliveTimeoutMs: 15_000, maxRequestsPerConnection: 50 },
  'low-traffic': { keepAliveTimeoutMs: 60_000, maxRequestsPerConnection: 200 },
} as const satisfies Record<string, { keepAliveTimeoutMs: number; maxRequestsPerConnection: number }>;

export type Preset = keyof typeof PRESETS;

/** The `holdfast` flag of an option: `--name HINT   help (default …)` in `--help`. */
export interface OptionFlag {
  readonly flag: `--${string}`;
  /** The value's placeholder in `--help`; by default D (duration), N (count), SIZE or NAME. */
  readonly hint?: string;
  readonly help: string;
  /** The value the command line uses when the flag is absent, where it differs from the library's. */
  readonly default?: string;
}

interface RowBase {
  /** Who else uses this default, and under what name. */
  readonly precedent: string;
  readonly cli?: OptionFlag;
}

export interface NumberRow extends RowBase, NumberSpec {
  readonly default: number;
  /** Below the minimum, point at the option that does what the caller probably wants. */
  readonly instead?: { readonly to: string; readonly set: string; readonly value: number };
}

export interface EnumRow extends RowBase {
  readonly kind: 'enum';
  readonly values: readonly string[];
  readonly default: string;
  /** A few words on a value, shown after it in `--help`. */
  readonly notes?: Readonly<Record<string, string>>;
}

export interface FunctionRow extends RowBase {
  readonly kind: 'function';
  /** Always null at run time; its type names the function the option takes. */
  readonly default: ((...args: never[]) => unknown) | null;
  readonly cli?: never;
}

/** A string option: '' is its default and means `empty`; otherwise `address` takes HOST:PORT and `secret` a bearer token. */
export interface TextRow extends RowBase {
  readonly kind: 'address' | 'secret';
  readonly default: '';
  readonly empty: string;
}

/** Where output goes: a function, or a file path (the flag's value); the default (null) is stdout. */
export interface SinkRow extends RowBase {
  readonly kind: 'sink';
  /** Always null at run time (standard output); its type names the function and the path the option takes. */
  readonly default: ((...args: never[]) => unknown) | string | null;
}

/** An option whose value is an object, checked by `check` (library only: the CLI maps its own flags to it). */
export interface ObjectRow extends RowBase {
  readonly kind: 'object';
  /** Always null at run time; its type names the object the option takes. */
  readonly default: object | null;
  /** What is wrong with a value, or null when it is acceptable. */
  readonly check: (value: unknown) => string | null;
  readonly cli?: never;
}

export type OptionRow = NumberRow | EnumRow | TextRow | FunctionRow | SinkRow | ObjectRow;

export function isTextRow<R extends OptionRow>(row: R): row is Extract<R, TextRow> {
  return row.kind === 'address' || row.kind === 'secret';
}

const presetNotes = (): Record<string, string> =>
  Object.fromEntries(Object.entries(PRESETS).map(([name, p]) => [name, `${formatDuration(p.keepAliveTimeoutMs)}/${p.maxRequestsPerConnection}`]));

/** Each option once. The JSDoc on a row is what library users see on that option. */
export const OPTIONS = {
  /** Keep-alive timeout and max requests per connection from `PRESETS`; explicit options override them. */
  preset: {
    kind: 'enum', values: Object.keys(PRESETS) as Preset[], default: 'production',
    notes: presetNotes(),
    precedent: 'the recommended keep-alive settings in PRESETS',
    cli: { flag: '--preset', help: 'keep-alive idle timeout/max requests' },
  },
  /** Idle time allowed between requests, advertised as `Keep-Alive: timeout=` (whole seconds, rounded down). */
  keepAliveTimeoutMs: {
    kind: 'duration', min: 1, default: PRESETS.production.keepAliveTimeoutMs,
    instead: { to: 'disable keep-alive', set: 'maxRequestsPerConnection', value: 1 },
    precedent: 'the preset; node keepAliveTimeout 5 s, nginx keepalive_timeout 75 s',
    cli: { flag: '--keep-alive-timeout', help: 'idle time between requests, advertised in Keep-Alive' },
  },
  /** Extra idle time enforced beyond the advertised timeout (the close-while-the-client-sends race). */
  keepAliveTimeoutBufferMs: {
    kind: 'duration', min: 0, default: 1_000,
    precedent: "node's HTTP_SERVER_KEEP_ALIVE_TIMEOUT_BUFFER",
    cli: { flag: '--keep-alive-buffer', help: 'extra idle time enforced beyond the advertised timeout' },
  },
  /** Requests per connection; 0 = unlimited, 1 = no keep-alive. */
  maxRequestsPerConnection: {
    kind: 'count', unit: 'requests', zero: 'unlimited', min: 0, default: PRESETS.production.maxRequestsPerConnection,
    precedent: 'the preset; Apache MaxKeepAliveRequests, nginx keepalive_requests',
    cli: { flag: '--max-requests', help: 'requests per connection; 1 = no keep-alive' },
  },
  /** The response that crosses this age says `Connection: close`; 0 = unlimited. */
  maxConnectionLifetimeMs: {
    kind: 'duration', zero: 'unlimited', min: 0, default: 3_600_000,
    precedent: 'nginx keepalive_time 1h',
    cli: { flag: '--max-lifetime', help: 'a connection this old closes after its next response' },
  },
  /** From a request's first byte to the end of its head → 408. */
  headersTimeoutMs: {
    kind: 'duration', min: 1, default: 60_000,
    precedent: 'nginx client_header_timeout 60s; node headersTimeout 60 s',
    cli: { flag: '--headers-timeout', help: 'time allowed for a request head, 408 after' },
  },
  /** From a request's first byte to the end of its body → 408. */
  requestTimeoutMs: {
    kind: 'duration', min: 1, default: 300_000,
    precedent: 'node requestTimeout 300 s',
    cli: { flag: '--request-timeout', help: 'time allowed for a whole request, 408 after' },
  },
  /** Slowest accepted request body, measured per second while it arrives → 408; 0 = off. */
  minBodyBytesPerSecond: {
    kind: 'bytes', unit: 'bytes per second', zero: 'off', min: 0, default: 0,
    precedent: 'off; Apache mod_reqtimeout uses MinRate=500 when enabled',
  },
  /** During graceful close, an idle connection is closed once it has been idle this long. */
  shutdownMinIdleMs: {
    kind: 'duration', min: 0, default: 1_000,
    precedent: 'nginx keepalive_min_timeout (0 there); holdfast waits 1 s so a client about to send is answered',
  },
  /**
   * Most connections at once; 0 = unlimited. At the cap a new connection makes room by closing a
   * lingering one, else the oldest idle keep-alive one; when there is none it is refused (and
   * logged). Whatever this says, new connections are refused (and logged) once they would come
   * within a small reserve of the open-file limit read when the server was created (Linux).
   */
  maxConnections: {
    kind: 'count', unit: 'connections', zero: 'unlimited', min: 0, default: 0,
    precedent: 'unlimited; nginx worker_connections, reusing idle keep-alive connections under pressure',
    cli: { flag: '--max-connections', help: 'most connections at once; at the cap idle ones close to make room' },
  },
  /** Longest a handler may take to start its response → 503 and close; 0 = off. */
  handlerTimeoutMs: {
    kind: 'duration', zero: 'off', min: 0, default: 0,
    precedent: "off, as node and Go (Go's TimeoutHandler is opt-in)",
  },
  /** Longest stall of a response write (peer not reading) before the connection is dropped. */
  sendTimeoutMs: {
    kind: 'duration', min: 1, default: 60_000,
    precedent: 'nginx send_timeout 60s',
    cli: { flag: '--send-timeout', help: 'longest a response write may stall (client not reading)' },
  },
  /** Longest request line → 414. */
  maxRequestLineBytes: {
    kind: 'bytes', min: 16, default: 8_190,
    precedent: 'Apache LimitRequestLine 8190',
  },
  /** Longest request head (request line and fields) → 431. */
  maxHeaderBytes: {
    kind: 'bytes', min: 64, default: 16_384,
    precedent: 'node --max-http-header-size 16 KiB',
  },
  /** Most header fields in a request → 431 (maxHeaderBytes bounds the head first for all but tiny fields). */
  maxHeaderCount: {
    kind: 'count', unit: 'fields', min: 1, default: 2_000,
    precedent: "node http.Server maxHeadersCount 2000; nginx and Go bound the head's bytes only (Apache's LimitRequestFields 100 refuses 100 custom fields plus Host)",
  },
  /** Largest request body → 413; 0 = unlimited. */
  maxBodyBytes: {
    kind: 'bytes', zero: 'unlimited', min: 0, default: 1_048_576,
    precedent: 'nginx client_max_body_size 1m',
    cli: { flag: '--max-body', help: 'largest request body, 413 beyond' },
  },
  /** Unread request body discarded after a response to keep the connection; beyond → close. */
  maxDrainBytes: {
    kind: 'bytes', min: 0, default: 262_144,
    precedent: 'Go maxPostHandlerReadBytes 256 KiB',
  },
  /** Lingering close: how long to read and discard after our FIN. */
  lingerMs: {
    kind: 'duration', min: 0, default: 5_000,
    precedent: 'nginx lingering_timeout 5s',
    cli: { flag: '--linger', help: 'time to read and discard late client bytes when closing' },
  },
  /** Lingering close: how many bytes to discard at most. */
  maxLingerBytes: {
    kind: 'bytes', min: 0, default: 1_048_576,
    precedent: 'bounded discard; nginx bounds lingering by time only',
  },
  /** '1.0' answers as HTTP/1.0 and never keeps connections alive (a server configured for HTTP/1.0). */
  httpVersion: {
    kind: 'enum', values: ['1.1', '1.0'] satisfies readonly HttpVersion[], default: '1.1',
    notes: { '1.0': 'no keep-alive' },
    precedent: 'HTTP/1.1 (RFC 9112)',
    cli: { flag: '--http-version', hint: 'V', help: 'version to answer with' },
  },
  /**
   * Where the live status (dashboard, /status.json, /metrics) listens, as HOST:PORT; '' = off. Its
   * own listener, never the public port; a non-loopback address needs `statusToken`.
   */
  status: {
    kind: 'address', default: '', empty: 'off',
    precedent: 'off, as Apache mod_status and the HAProxy stats page are until configured',
    cli: { flag: '--status', help: 'serve the live status (dashboard, /status.json, /metrics) on this address' },
  },
  /** The bearer token the status listener requires (compared in constant time); '' = none, loopback only. */
  statusToken: {
    kind: 'secret', default: '', empty: 'none',
    precedent: 'none; a token as Prometheus bearer_token scrape configs send',
    cli: { flag: '--status-token', help: 'require Authorization: Bearer TOKEN on the status listener' },
  },
  /**
   * Built-in logger: one line per connection and request event. Off for the library (node:http,
   * Fastify and Express print nothing unless asked) unless a `logSink` is given (then `pretty`);
   * the `holdfast` command logs `pretty`.
   */
  log: {
    kind: 'enum', values: ['pretty', 'json', 'off'], default: 'off',
    precedent: "off as node:http, Fastify, Express; the CLI: one line per request, as nginx's access_log",
    cli: { flag: '--log', hint: 'FORMAT', help: 'log format', default: 'pretty' },
  },
  /**
   * Serve HTTPS: TLS terminated on each connection with these certificates (PEM) — `{ cert, key,
   * ca?, passphrase? }`, and/or `certs: [{ servername, cert, key }]` chosen by SNI, an `sni`
   * callback, shared `ticketKeys`. Omitted: plain HTTP.
   */
  tls: {
    kind: 'object', default: null as TlsOptions | null, check: checkTlsOptions,
    precedent: 'plain HTTP, as node:http; HTTPS as node:https and nginx ssl_certificate',
  },
  /** Longest TLS handshake; it also counts toward the first request's headersTimeoutMs. */
  handshakeTimeoutMs: {
    kind: 'duration', min: 1, default: 10_000,
    precedent: "Go's DefaultTransport TLSHandshakeTimeout 10 s (node's tls.Server: 120 s; nginx: client_header_timeout)",
    cli: { flag: '--handshake-timeout', help: 'time allowed for a TLS handshake' },
  },
  /**
   * Where log lines go. Default: standard output, buffered (64 KiB, flushed within a second, at
   * close and at exit). A string is a file path, opened in append mode, buffered the same way and
   * reopened on SIGUSR1. A function gets each line as it is logged, unbuffered.
   */
  logSink: {
    kind: 'sink', default: null as LogSink | string | null,
    precedent: "stdout; a file as nginx's access_log … buffer=64k",
    cli: { flag: '--log-file', hint: 'PATH', help: 'append the log to PATH instead of stdout; SIGUSR1 reopens it' },
  },
} as const satisfies Record<string, OptionRow>;

type Table = typeof OPTIONS;
export type OptionName = keyof Table;

type ValueOf<R> = R extends { kind: 'enum'; values: readonly (infer V)[] }
  ? V
  : R extends { kind: 'function' | 'sink' | 'object'; default: infer D }
    ? D
    : R extends { kind: 'address' | 'secret' }
      ? string
      : number;

/** Every option, resolved: the given value, else the preset's, else the default. */
export type ResolvedOptions = { -readonly [K in keyof Table]: ValueOf<Table[K]> };
/** What `createServer(options, handler)` accepts; every field is optional. */
export type ServerOptions = { [K in keyof Table]?: Exclude<ValueOf<Table[K]>, null> };
export type LogFormat = ResolvedOptions['log'];

/** The rows in table order, each with its name. */
export const OPTION_ROWS: ReadonlyArray<OptionRow & { readonly name: OptionName }> = Object.entries(OPTIONS).map(([name, row]) => ({
  name: name as OptionName,
  ...(row as OptionRow),
}));

export const DEFAULTS = Object.freeze(Object.fromEntries(OPTION_ROWS.map((row) => [row.name, row.default]))) as Readonly<ResolvedOptions>;

/** The unit of a numeric option for messages: milliseconds, bytes, or what it counts. */
export function unitOf(row: NumberSpec): string {
  return row.unit ?? (row.kind === 'duration' ? 'milliseconds' : row.kind === 'bytes' ? 'bytes' : 'units');
}

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

export class OptionError extends TypeError {
  constructor(message: string) {
    super(`holdfast: ${message}`);
    this.name = 'OptionError';
  }
}

function invalid(name: string, row: OptionRow, value: unknown): OptionError {
  if (row.kind === 'object') return new OptionError(`option ${name} ${row.check(value) ?? 'is invalid'}`);
  if (row.kind === 'function') return new OptionError(`option ${name} must be a function`);
  if (row.kind === 'sink') return new OptionError(`option ${name} must be a function or a file path`);
  if (row.kind === 'enum') return new OptionError(`option ${name} must be one of ${row.values.join(', ')}; got ${String(value)}`);
  if (isTextRow(row)) {
    // A secret is never repeated in a message.
    const got = row.kind === 'secret' ? '' : `; got ${String(value)}`;
    return new OptionError(`option ${name} must be ${row.kind === 'address' ? ADDRESS_SYNTAX : TOKEN_SYNTAX}, or '' (${row.empty})${got}`);
  }
  const range = row.max === undefined ? `≥ ${row.min}` : `from ${row.min} to ${row.max}`;
  const zero = row.zero === undefined ? '' : ` (0 = ${row.zero})`;
  const instead = row.instead === undefined ? '' : ` (to ${row.instead.to}, set ${row.instead.set}: ${row.instead.value})`;
  return new OptionError(`option ${name} must be an integer ${range}, in ${unitOf(row)}${zero}${instead}; got ${String(value)}`);
}

function isValid(row: OptionRow, value: unknown): boolean {
  if (row.kind === 'object') return row.check(value) === null;
  if (row.kind === 'function') return typeof value === 'function';
  if (row.kind === 'sink') return typeof value === 'function' || (typeof value === 'string' && value !== '');
  if (row.kind === 'enum') return row.values.includes(value as string);
  if (isTextRow(row)) {
    if (value === '') return true;
    if (typeof value !== 'string') return false;
    return row.kind === 'address' ? parseAddress(value) !== 'malformed' : isBearerToken(value);
  }
  return typeof value === 'number' && isInRange(row, value);
}

/** The rules between options. */
function checkTogether(resolved: ResolvedOptions): void {
  const status = parseAddress(resolved.status);
  if (status !== 'malformed' && !isLoopbackHost(status.host) && resolved.statusToken === '') {
    throw new OptionError(`option status: ${resolved.status} is not a loopback address; serving the status there needs statusToken`);
  }
}

export function resolveOptions(options: ServerOptions = {}): ResolvedOptions {
  if (options === null || typeof options !== 'object') throw new OptionError('options must be an object');
  const given: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) {
    if (!Object.hasOwn(OPTIONS, name)) throw new OptionError(`unknown option "${name}"`);
    if (value === undefined) continue;
    const row: OptionRow = OPTIONS[name as OptionName];
    if (!isValid(row, value)) throw invalid(name, row, value);
    given[name] = value;
  }
  const preset = (given.preset as Preset | undefined) ?? DEFAULTS.preset;
  // A log destination asks for a log, as nginx's access_log does: pretty unless a format is given.
  if (given.logSink !== undefined && given.log === undefined) given.log = 'pretty';
  const resolved = { ...DEFAULTS, ...PRESETS[preset], ...given } as ResolvedOptions;
  checkTogether(resolved);
  return resolved;
}
