/**
 * `holdfast` command-line arguments → a config, purely (no I/O). The server-option flags come from
 * the option table (src/server/options.ts): every row with a `cli` part is a flag, read by its kind
 * and range, and lands under the option's library name in `config.options`, which main.ts hands to
 * createServer as it is. The command's own flags (where to listen, what to serve) are the small
 * table below. Every error is a one-line UsageError naming the flag and what it accepts; the caller
 * prints it and exits with code 2.
 */

import { PROXY_OPTION_ROWS, type ProxyNumericOptions } from '../proxy/options.js';
import { parseUpstream } from '../proxy/target.js';
import { OPTION_ROWS, PRESETS, isTextRow, type EnumRow, type NumberRow, type OptionName, type ServerOptions, type SinkRow, type TextRow } from '../server/options.js';
import { ADDRESS_SYNTAX, DURATION_SYNTAX, SIZE_SYNTAX, TOKEN_SYNTAX, formatNumber, isBearerToken, parseAddress, parseDuration, type NumberSpec } from '../server/units.js';
import { extraHeaderProblem, STATIC_DEFAULTS } from '../handlers/static.js';
import { isFieldValue } from '../http1/header-map.js';
import { describeAccepted, helpEntry, parseChoiceFlag, parseNumberFlag, readArgv, requireValue, UsageError } from './flags.js';

export { UsageError };

export interface CliConfig {
  kind: 'serve';
  /** The directory or app module to serve; null means the bundled demo site. */
  root: string | null;
  demo: boolean;
  port: number;
  host: string;
  workers: number | 'auto';
  cors: boolean;
  spa: boolean;
  list: boolean;
  /** Upstream URLs from `--proxy` (repeatable): requests go there (with a dir: those that match no file). */
  proxy: string[];
  /** HTTPS: PEM files of the certificate (chain) and its key; both or neither. */
  tlsCert: string | null;
  tlsKey: string | null;
  /** Where HTTPS listens (with tlsCert/tlsKey). */
  tlsPort: number;
  /** A plain-HTTP listener answering every request with a 308 to the https:// URL. */
  redirectHttp: number | null;
  /** serveStatic's options of the same names. */
  maxCacheBytes: number;
  maxCachedFileBytes: number;
  cacheControl: string;
  compress: boolean;
  cleanUrls: boolean;
  /** Extra response fields from `--header "Name: value"` (repeatable), in order. */
  headers: Array<[string, string]>;
  /** The server options given as flags, under their library names; the library supplies the rest. */
  options: ServerOptions;
  /** The proxy options given as `--proxy-*` flags, under their library names. */
  proxyOptions: Partial<ProxyNumericOptions>;
}

export type CliCommand = CliConfig | { kind: 'help' } | { kind: 'version' };

type Settings = Omit<CliConfig, 'kind' | 'root' | 'options' | 'proxyOptions'>;

// 8443: the usual unprivileged HTTPS port (Tomcat's and Jetty's default), as 8080 is for HTTP.
// serveStatic's options take its defaults (STATIC_DEFAULTS).
const DEFAULT_SETTINGS: Readonly<Settings> = {
  demo: false,
  port: 8080,
  host: '127.0.0.1',
  workers: 1,
  cors: false,
  spa: false,
  list: false,
  proxy: [],
  tlsCert: null,
  tlsKey: null,
  tlsPort: 8443,
  redirectHttp: null,
  ...STATIC_DEFAULTS,
  compress: true,
  cleanUrls: false,
  headers: [],
};

/**
 * A flag of the command itself: with `parse` it takes a value (`show` prints its default in
 * --help), without it is a switch that sets true (false with `clears`). `parse` gets the value so
 * far, so a repeatable flag (a list default) adds to it.
 */
type CommandFlag = {
  [K in keyof Settings]: { key: K; help: string } & (
    | { hint: string; accepts: string; parse: (flag: string, text: string, previous: Settings[K]) => Settings[K]; show?: (value: Settings[K]) => string }
    | { parse?: never; clears?: true }
  );
}[keyof Settings];

const PORT: NumberSpec = { kind: 'count', min: 0, max: 65_535 };
const UPSTREAM_ACCEPTS = 'an upstream URL such as http://127.0.0.1:3000 or unix:/path/to.sock';

function parseUpstreamFlag(flag: string, text: string, previous: readonly string[]): string[] {
  const target = parseUpstream(text);
  if (typeof target === 'string') throw new UsageError(`${flag} takes ${UPSTREAM_ACCEPTS}: ${target}; got "${text}"`);
  return [...previous, text];
}
const WORKERS: NumberSpec = { kind: 'count', unit: 'processes', min: 1, max: 1024 };
const CACHE_SIZE: NumberSpec = { kind: 'bytes', zero: 'off', min: 0 };

const CACHE_CONTROL_ACCEPTS = 'a Cache-Control value such as no-cache or "public, max-age=31536000, immutable", or a duration for max-age such as 1h';
const HEADER_ACCEPTS = '"Name: value", such as "X-Frame-Options: DENY"';

/** `--cache-control`: a field value as given, or a duration (`1h`, `3600`) as `max-age` in seconds. */
function parseCacheControl(flag: string, text: string): string {
  const ms = parseDuration(text);
  if (typeof ms === 'number') return `max-age=${Math.floor(ms / 1000)}`;
  if (text.trim() === '' || !isFieldValue(text)) throw new UsageError(`${flag} takes ${CACHE_CONTROL_ACCEPTS}; got ${JSON.stringify(text)}`);
  return text.trim();
}

/** `--header "Name: value"`, added to those before it. */
function parseHeader(flag: string, text: string, previous: Array<[string, string]>): Array<[string, string]> {
  const colon = text.indexOf(':');
  if (colon <= 0) throw new UsageError(`${flag} takes ${HEADER_ACCEPTS}; got ${JSON.stringify(text)}`);
  const name = text.slice(0, colon).trim();
  const value = text.slice(colon + 1).trim();
  const problem = extraHeaderProblem(name, value);
  if (problem !== null) throw new UsageError(`${flag}: ${problem}; got ${JSON.stringify(text)}`);
  if (name.toLowerCase() === 'set-cookie' && previous.some(([known]) => known.toLowerCase() === 'set-cookie')) {
    throw new UsageError(`${flag}: Set-Cookie may be given once (cookies cannot be joined into one field line, RFC 9110 §5.3); got ${JSON.stringify(text)}`);
  }
  return [...previous, [name, value]];
}

/** A size flag of the command (`--file-cache 64m`). */
function sizeFlag<K extends 'maxCacheBytes' | 'maxCachedFileBytes'>(key: K, help: string): CommandFlag {
  return { key, hint: 'SIZE', help, accepts: describeAccepted(CACHE_SIZE), parse: (flag, text) => parseNumberFlag(flag, CACHE_SIZE, text), show: (value) => formatNumber('bytes', value) } as CommandFlag;
}

const COMMAND_FLAGS = new Map<string, CommandFlag>([
  ['--port', { key: 'port', hint: 'N', help: 'port to listen on; 0 picks a free port', accepts: describeAccepted(PORT), parse: (flag, text) => parseNumberFlag(flag, PORT, text) }],
  ['--host', { key: 'host', hint: 'ADDRESS', help: 'address to bind; 0.0.0.0 to expose', accepts: 'an address such as 127.0.0.1 or 0.0.0.0', parse: (_flag, text) => text }],
  ['--workers', { key: 'workers', hint: 'N|auto', help: 'processes sharing the port; auto = one per CPU', accepts: `${describeAccepted(WORKERS)}, or auto`, parse: (flag, text) => (text === 'auto' ? 'auto' : parseNumberFlag(flag, WORKERS, text)) }],
  ['--tls-cert', { key: 'tlsCert', hint: 'FILE', help: 'serve HTTPS with this PEM certificate (chain); SIGHUP reloads it', accepts: 'a PEM file', parse: (_flag, text) => text }],
  ['--tls-key', { key: 'tlsKey', hint: 'FILE', help: "the certificate's PEM private key; SIGHUP reloads it", accepts: 'a PEM file', parse: (_flag, text) => text }],
  ['--tls-port', { key: 'tlsPort', hint: 'N', help: 'port HTTPS listens on', accepts: describeAccepted(PORT), parse: (flag, text) => parseNumberFlag(flag, PORT, text) }],
  ['--redirect-http', { key: 'redirectHttp', hint: 'PORT', help: 'also listen for plain HTTP here, answering 308 to https://', accepts: describeAccepted(PORT), parse: (flag, text) => parseNumberFlag(flag, PORT, text) }],
  ['--cors', { key: 'cors', help: 'add Access-Control-Allow-Origin: * and answer preflights' }],
  ['--spa', { key: 'spa', help: 'serve index.html for unknown paths (single-page apps)' }],
  ['--list', { key: 'list', help: 'list directories without an index.html' }],
  ['--demo', { key: 'demo', help: 'serve the bundled demo site with its connection report' }],
  ['--proxy', { key: 'proxy', hint: 'URL', help: 'proxy requests to this upstream; repeat to balance; with a dir, only those matching no file', accepts: UPSTREAM_ACCEPTS, parse: parseUpstreamFlag }],
  ['--file-cache', sizeFlag('maxCacheBytes', 'memory for hot files (contents and compressed forms); 0 = off')],
  ['--file-cache-max', sizeFlag('maxCachedFileBytes', 'largest file kept in memory; 0 = no memory cache')],
  ['--cache-control', { key: 'cacheControl', hint: 'VALUE', help: 'Cache-Control of files (a duration means max-age)', accepts: CACHE_CONTROL_ACCEPTS, parse: parseCacheControl }],
  ['--header', { key: 'headers', hint: '"NAME: VALUE"', help: 'add this field to every response', accepts: HEADER_ACCEPTS, parse: parseHeader }],
  ['--clean-urls', { key: 'cleanUrls', help: 'serve /about from about.html when there is no about' }],
  ['--no-compress', { key: 'compress', clears: true, help: 'send files as they are (no brotli or gzip on the fly)' }],
]);

type FlaggedRow = (NumberRow | EnumRow | SinkRow | TextRow) & { readonly name: string; readonly cli: NonNullable<NumberRow['cli']> };

/** The server options that have a flag, by flag, in table order. */
export const OPTION_FLAGS: ReadonlyMap<string, FlaggedRow> = new Map(
  OPTION_ROWS.flatMap((row) => (row.kind !== 'function' && row.kind !== 'object' && row.cli !== undefined ? [[row.cli.flag, row as FlaggedRow] as const] : [])),
);

/** The proxy options that have a flag (`--proxy-*`), by flag. */
export const PROXY_FLAGS: ReadonlyMap<string, FlaggedRow> = new Map(PROXY_OPTION_ROWS.flatMap((row) => (row.cli !== undefined ? [[row.cli.flag, row as FlaggedRow] as const] : [])));

const flagOf = (name: string): string | undefined => [...OPTION_FLAGS.values()].find((row) => row.name === name)?.cli.flag;

/** The below-minimum hint in CLI words: "(to disable keep-alive, use --max-requests 1)". */
function insteadNote(row: NumberRow): string {
  if (row.instead === undefined) return '';
  const flag = flagOf(row.instead.set);
  return flag === undefined ? '' : ` (to ${row.instead.to}, use ${flag} ${row.instead.value})`;
}

function parseOptionFlag(row: FlaggedRow, flag: string, value: string | undefined): string | number {
  if (row.kind === 'sink') return requireValue(flag, value, 'a file path');
  if (row.kind === 'enum') return parseChoiceFlag(flag, row.values, requireValue(flag, value, row.values.join(', ')));
  if (isTextRow(row)) {
    const syntax = row.kind === 'address' ? ADDRESS_SYNTAX : TOKEN_SYNTAX;
    const text = requireValue(flag, value, syntax);
    if (row.kind === 'address' && parseAddress(text) === 'malformed') throw new UsageError(`${flag} takes ${syntax}; got "${text}"`);
    // A secret is never repeated in a message.
    if (row.kind === 'secret' && !isBearerToken(text)) throw new UsageError(`${flag} takes ${syntax}`);
    return text;
  }
  return parseNumberFlag(flag, row, requireValue(flag, value, describeAccepted(row)), insteadNote(row));
}

const HINTS = { duration: 'D', count: 'N', bytes: 'SIZE', enum: 'NAME', sink: 'PATH', address: 'HOST:PORT', secret: 'TOKEN' } as const;

/** The `--help` entry of a server option: its help, its values if it has a list, and its default. */
function optionEntry(row: FlaggedRow): string {
  const usage = `${row.cli.flag} ${row.cli.hint ?? HINTS[row.kind]}`;
  if (row.kind === 'sink') return helpEntry(usage, row.cli.help, '(default stdout)');
  if (row.kind === 'enum') {
    const values = row.values.map((value) => (row.notes?.[value] === undefined ? value : `${value} (${row.notes[value]})`));
    return helpEntry(usage, `${row.cli.help}: ${values.join(' | ')}`, `(default ${row.cli.default ?? row.default})`);
  }
  if (isTextRow(row)) return helpEntry(usage, row.cli.help, `(default ${row.empty})`);
  const presetFlag = flagOf('preset');
  const fromPreset = Object.hasOwn(PRESETS.production, row.name) && presetFlag !== undefined;
  const zeroDefault = row.default === 0 && row.zero !== undefined;
  const value = zeroDefault ? row.zero : formatNumber(row.kind, row.default);
  const zero = row.zero === undefined || zeroDefault ? '' : `; 0 = ${row.zero}`;
  return helpEntry(usage, row.cli.help, fromPreset ? `(from ${presetFlag}${zero})` : `(default ${value}${zero})`);
}

const commandEntries = (valued: boolean): string[] =>
  [...COMMAND_FLAGS].flatMap(([flag, entry]) => {
    if (entry.parse === undefined) return valued ? [] : [helpEntry(flag, entry.help)];
    const initial = DEFAULT_SETTINGS[entry.key];
    const shown = entry.show === undefined ? String(initial) : (entry.show as (value: typeof initial) => string)(initial);
    return valued ? [helpEntry(`${flag} ${entry.hint}`, entry.help, Array.isArray(initial) ? '(repeatable)' : initial === null ? '' : `(default ${shown})`)] : [];
  });

export const USAGE = [
  'Usage: holdfast [dir] [options]',
  '',
  'Serves the files in dir (default: the current directory) over HTTP/1.1; given an app module',
  '(a .js, .mjs or .cjs file), serves its default export: a fetch function, an object with a',
  'fetch method (a Hono app), or defineHandler(handler).',
  '',
  'Options:',
  ...commandEntries(true),
  ...[...OPTION_FLAGS.values()].map(optionEntry),
  ...[...PROXY_FLAGS.values()].map(optionEntry),
  ...commandEntries(false),
  helpEntry('-h, --help', 'show this help'),
  helpEntry('-v, --version', 'show the version'),
  '',
  `Durations: ${DURATION_SYNTAX}.`,
  `Sizes: ${SIZE_SYNTAX}.`,
  '',
].join('\n');

const SWITCHES = new Set(['-h', '--help', '-v', '--version', ...[...COMMAND_FLAGS].flatMap(([flag, entry]) => (entry.parse === undefined ? [flag] : []))]);

/**
 * The server options the command line uses where the library's default differs (`cli.default` in
 * the table: the CLI logs `pretty`, the library nothing), overridden by the flags given.
 */
export function withCliDefaults(given: ServerOptions): ServerOptions {
  const options: Record<string, unknown> = {};
  for (const row of OPTION_FLAGS.values()) if (row.cli.default !== undefined) options[row.name] = row.cli.default;
  return { ...options, ...given } as ServerOptions;
}

/** --tls-cert and --tls-key go together; --tls-port and --redirect-http need them; HTTPS replaces --port. */
function checkTlsFlags(config: CliConfig, given: ReadonlySet<string>): void {
  if ((config.tlsCert === null) !== (config.tlsKey === null)) throw new UsageError('--tls-cert and --tls-key go together: give both PEM files');
  if (config.tlsCert === null) {
    for (const flag of ['--tls-port', '--redirect-http']) if (given.has(flag)) throw new UsageError(`${flag} needs --tls-cert and --tls-key`);
    return;
  }
  if (given.has('--port')) throw new UsageError('with --tls-cert, HTTPS listens on --tls-port; for a plain-HTTP listener use --redirect-http PORT');
  if (config.redirectHttp !== null && config.redirectHttp === config.tlsPort && config.tlsPort !== 0) throw new UsageError(`--redirect-http and --tls-port cannot both be ${config.tlsPort}`);
}

/** The status token from the environment when --status-token is not given: argv is visible to every local user in `ps`. */
export const STATUS_TOKEN_ENV = 'HOLDFAST_STATUS_TOKEN';

export function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): CliCommand {
  const config: CliConfig = { kind: 'serve', root: null, ...DEFAULT_SETTINGS, options: {}, proxyOptions: {} };
  const settings = config as unknown as Record<string, unknown>;
  const options = config.options as Record<string, unknown>;
  let rootGiven = false;
  const given = new Set<string>();
  for (const item of readArgv(argv, SWITCHES)) {
    if (item.kind === 'positional') {
      if (rootGiven) throw new UsageError(`only one directory or app module may be given; got "${config.root}" and "${item.text}"`);
      config.root = item.text;
      rootGiven = true;
      continue;
    }
    const { flag, value } = item;
    if (flag === '-h' || flag === '--help') return { kind: 'help' };
    if (flag === '-v' || flag === '--version') return { kind: 'version' };
    const command = COMMAND_FLAGS.get(flag);
    const row = OPTION_FLAGS.get(flag);
    const proxyRow = PROXY_FLAGS.get(flag);
    if (command !== undefined) {
      given.add(flag);
      settings[command.key] = command.parse === undefined ? command.clears !== true : command.parse(flag, requireValue(flag, value, command.accepts), settings[command.key] as never);
    } else if (row !== undefined) {
      options[row.name] = parseOptionFlag(row, flag, value);
    } else if (proxyRow !== undefined) {
      (config.proxyOptions as Record<string, unknown>)[proxyRow.name] = parseOptionFlag(proxyRow, flag, value);
    } else {
      throw new UsageError(`unknown option ${flag} (see holdfast --help)`);
    }
  }
  checkTlsFlags(config, given);
  const envToken = env[STATUS_TOKEN_ENV];
  if (options.statusToken === undefined && envToken !== undefined && envToken !== '') {
    options.statusToken = parseOptionFlag(OPTION_FLAGS.get('--status-token')!, STATUS_TOKEN_ENV, envToken);
  }
  if (config.demo && rootGiven) throw new UsageError('--demo serves the bundled demo site; it takes no directory');
  if (config.demo && config.proxy.length > 0) throw new UsageError('--demo serves the bundled demo site; it does not proxy');
  if (Object.keys(config.proxyOptions).length > 0 && config.proxy.length === 0) throw new UsageError('--proxy-* options need at least one --proxy URL');
  // With --proxy and no dir every request is proxied; with both, files first (nginx's try_files $uri @app).
  if (!config.demo && !rootGiven && config.proxy.length === 0) config.root = '.';
  return config;
}
