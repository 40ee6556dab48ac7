/**
 * Reverse-proxy options: ONE table (`PROXY_OPTIONS`), in the shape of the server's (src/server/
 * options.ts): each option's kind, default and the precedent for it, its range, and its `holdfast`
 * flag when it has one. `ProxyOptions`, `ResolvedProxyOptions`, the validation in
 * `resolveProxyOptions` and the `--proxy-*` flags derive from it. The upstream list, the trusted
 * proxies and the health-check path are not numbers or choices and are checked here by hand.
 * Invalid or unknown options throw an OptionError naming the option and what it accepts.
 */

import { OptionError, type EnumRow, type LogFormat, type LogSink, type NumberRow } from '../server/options.js';
import { isInRange } from '../server/units.js';
import { parseUpstream, type UpstreamTarget } from './target.js';

type ProxyRow = NumberRow | EnumRow;

/** Each option once. The JSDoc on a row is what library users see on that option. */
export const PROXY_OPTIONS = {
  /** How a request picks its upstream: in turn, or the one with the fewest requests in flight. */
  balance: {
    kind: 'enum', values: ['round-robin', 'least-outstanding'], default: 'round-robin',
    precedent: "nginx's default round-robin; least_conn as the alternative",
    cli: { flag: '--proxy-balance', help: 'how requests are spread over the upstreams' },
  },
  /**
   * Idle keep-alive connections kept per upstream; beyond, the least recently used closes once it has
   * been idle for idleCapGraceMs. 0 = no reuse.
   */
  maxIdlePerUpstream: {
    kind: 'count', unit: 'connections', min: 0, default: 32,
    precedent: 'nginx 1.29 upstream keepalive 32',
    cli: { flag: '--proxy-keepalive', help: 'idle connections kept per upstream' },
  },
  /**
   * How long an idle connection beyond maxIdlePerUpstream may wait to be used again before it
   * closes. 0 closes it at once, as nginx does: under a load of more concurrent requests than the
   * cap, a burst of responses then closes connections that the next burst of requests reopens.
   */
  idleCapGraceMs: {
    kind: 'duration', min: 0, default: 1_000,
    precedent: 'HAProxy pool-purge-delay 5s (surplus idle connections closed over time, not at once); shorter, to stay near the cap',
  },
  /** Connections per upstream at once; 0 = unlimited. At the cap requests wait in a bounded queue. */
  maxConnectionsPerUpstream: {
    kind: 'count', unit: 'connections', zero: 'unlimited', min: 0, default: 0,
    precedent: 'nginx server max_conns=0 (unlimited)',
    cli: { flag: '--proxy-max-conns', help: 'connections per upstream at once; requests queue beyond' },
  },
  /** Requests waiting for a connection per upstream (under maxConnectionsPerUpstream); beyond → 503. */
  maxQueuedPerUpstream: {
    kind: 'count', unit: 'requests', min: 0, default: 1_000,
    precedent: 'bounded; nginx Plus queue takes an explicit number',
  },
  /** Longest a request waits in that queue → 503. */
  queueTimeoutMs: {
    kind: 'duration', min: 1, default: 60_000,
    precedent: 'nginx Plus queue timeout=60s',
  },
  /**
   * Longest an upstream connection stays idle in the pool. The upstream's own `Keep-Alive: timeout=`
   * lowers it (less keepAliveHintMarginMs), so the pool lets go first.
   */
  idleTimeoutMs: {
    kind: 'duration', min: 1, default: 60_000,
    precedent: 'nginx upstream keepalive_timeout 60s',
    cli: { flag: '--proxy-idle-timeout', help: 'idle time of a pooled upstream connection (an upstream Keep-Alive timeout lowers it)' },
  },
  /** Taken off an upstream's advertised `Keep-Alive: timeout=` (at most half of it). */
  keepAliveHintMarginMs: {
    kind: 'duration', min: 0, default: 1_000,
    precedent: 'undici keepAliveTimeoutThreshold 1 s',
  },
  /** Requests sent on one upstream connection before it is retired; 0 = unlimited. */
  maxRequestsPerConnection: {
    kind: 'count', unit: 'requests', zero: 'unlimited', min: 0, default: 1_000,
    precedent: 'nginx upstream keepalive_requests 1000',
  },
  /** An upstream connection this old is retired after its current request; 0 = unlimited. */
  maxConnectionLifetimeMs: {
    kind: 'duration', zero: 'unlimited', min: 0, default: 3_600_000,
    precedent: 'nginx upstream keepalive_time 1h',
  },
  /** Longest a connect may take → 504 (or the next upstream). */
  connectTimeoutMs: {
    kind: 'duration', min: 1, default: 60_000,
    precedent: 'nginx proxy_connect_timeout 60s',
    cli: { flag: '--proxy-connect-timeout', help: 'time allowed to connect to an upstream, 504 after' },
  },
  /** Longest wait between two reads from the upstream (the head included) → 504, or an aborted body; the longest a tunnel may stay idle both ways. */
  readTimeoutMs: {
    kind: 'duration', min: 1, default: 60_000,
    precedent: 'nginx proxy_read_timeout 60s',
    cli: { flag: '--proxy-read-timeout', help: 'longest wait for upstream bytes (head or body), 504 after; idle limit of a tunnel' },
  },
  /** Longest a write to the upstream may stall → 504. */
  sendTimeoutMs: {
    kind: 'duration', min: 1, default: 60_000,
    precedent: 'nginx proxy_send_timeout 60s',
  },
  /** Consecutive connect failures or timeouts that mark an upstream down (with several upstreams). */
  maxFails: {
    kind: 'count', unit: 'failures', min: 1, default: 1,
    precedent: 'nginx server max_fails=1',
  },
  /** How long an upstream marked down is skipped. */
  failTimeoutMs: {
    kind: 'duration', min: 1, default: 10_000,
    precedent: 'nginx server fail_timeout=10s',
  },
  /** Interval of the active health check (only with healthCheckPath). */
  healthCheckIntervalMs: {
    kind: 'duration', min: 1, default: 5_000,
    precedent: 'nginx Plus health_check interval=5',
  },
  /** A request body up to this size is read before it is sent, so an idempotent request can be retried. */
  retryBodyBytes: {
    kind: 'bytes', min: 0, default: 16_384,
    precedent: 'nginx client_body_buffer_size 16k (64-bit)',
  },
  /** Upstream response heads larger than this → 502. */
  maxResponseHeaderBytes: {
    kind: 'bytes', min: 1_024, default: 102_400,
    precedent: 'curl CURL_MAX_HTTP_HEADER 100 KiB (the response parser default)',
  },
  /**
   * The proxy's own log lines: upstream connections opened and closed, failures, retries, health.
   * Off for the library unless a `logSink` is given (then `pretty`), as the server's `log`; the
   * `holdfast` command passes its own `--log`.
   */
  log: {
    kind: 'enum', values: ['pretty', 'json', 'off'], default: 'off',
    precedent: "the server's log option",
  },
} as const satisfies Record<string, ProxyRow>;

type Table = typeof PROXY_OPTIONS;
type ValueOf<R> = R extends { kind: 'enum'; values: readonly (infer V)[] } ? V : number;

export type ProxyNumericOptions = { -readonly [K in keyof Table]: ValueOf<Table[K]> };
export type BalanceStrategy = ProxyNumericOptions['balance'];

export interface ProxyOptions extends Partial<ProxyNumericOptions> {
  /** `http://host:port` (HTTP/1.1 over TCP) or `unix:/path/to.sock`; at least one. */
  upstreams: readonly string[];
  /**
   * Peers whose X-Forwarded-For/-Proto/-Host are believed (exact addresses, as the socket reports
   * them). From anyone else those fields are replaced. Default none, as nginx's set_real_ip_from.
   */
  trustedProxies?: readonly string[];
  /** Send the client's Host upstream (default), as Go's ReverseProxy; false: the upstream's authority. */
  preserveHost?: boolean;
  /** Active health check: GET this path on each upstream every healthCheckIntervalMs; non-2xx/3xx → down. */
  healthCheckPath?: string;
  /**
   * Where log lines go, as the server's logSink: a function gets each line at once (unbuffered); a
   * file path is appended to and null (the default) is standard output, both through the buffered
   * writer a server logging to the same target shares (flushed at close() and at exit).
   */
  logSink?: LogSink | string | null;
}

export interface ResolvedProxyOptions extends ProxyNumericOptions {
  upstreams: UpstreamTarget[];
  trustedProxies: ReadonlySet<string>;
  preserveHost: boolean;
  healthCheckPath: string | null;
  logSink: LogSink | string | null;
  log: LogFormat;
}

export const PROXY_OPTION_ROWS: ReadonlyArray<ProxyRow & { readonly name: keyof Table }> = Object.entries(PROXY_OPTIONS).map(([name, row]) => ({
  name: name as keyof Table,
  ...(row as ProxyRow),
}));

const BY_HAND = new Set(['upstreams', 'trustedProxies', 'preserveHost', 'healthCheckPath', 'logSink']);

export function resolveProxyOptions(options: ProxyOptions): ResolvedProxyOptions {
  if (options === null || typeof options !== 'object') throw new OptionError('proxy options must be an object');
  const resolved: Record<string, unknown> = {};
  for (const row of PROXY_OPTION_ROWS) resolved[row.name] = row.default;
  for (const [name, value] of Object.entries(options)) {
    if (value === undefined || BY_HAND.has(name)) continue;
    if (!Object.hasOwn(PROXY_OPTIONS, name)) throw new OptionError(`unknown proxy option "${name}"`);
    const row: ProxyRow = PROXY_OPTIONS[name as keyof Table];
    if (row.kind === 'enum') {
      if (!row.values.includes(value as string)) throw new OptionError(`proxy option ${name} must be one of ${row.values.join(', ')}; got ${String(value)}`);
    } else if (typeof value !== 'number' || !isInRange(row, value)) {
      const range = row.max === undefined ? `≥ ${row.min}` : `from ${row.min} to ${row.max}`;
      throw new OptionError(`proxy option ${name} must be an integer ${range}${row.zero === undefined ? '' : ` (0 = ${row.zero})`}; got ${String(value)}`);
    }
    resolved[name] = value;
  }
  const list = options.upstreams;
  if (!Array.isArray(list) || list.length === 0) throw new OptionError('proxy option upstreams must list at least one upstream URL');
  const upstreams = list.map((text) => {
    const target = parseUpstream(text);
    if (typeof target === 'string') throw new OptionError(`proxy upstream ${JSON.stringify(text)}: ${target}`);
    return target;
  });
  const trusted = options.trustedProxies ?? [];
  if (!Array.isArray(trusted) || trusted.some((a) => typeof a !== 'string')) throw new OptionError('proxy option trustedProxies must be a list of addresses');
  const path = options.healthCheckPath;
  if (path !== undefined && (typeof path !== 'string' || !/^\/[\x21-\x7e]*$/.test(path))) throw new OptionError('proxy option healthCheckPath must be a path starting with /');
  if (options.preserveHost !== undefined && typeof options.preserveHost !== 'boolean') throw new OptionError('proxy option preserveHost must be true or false');
  const sink = options.logSink;
  if (sink !== undefined && sink !== null && typeof sink !== 'function' && (typeof sink !== 'string' || sink === '')) throw new OptionError('proxy option logSink must be a function or a file path');
  return {
    ...(resolved as ProxyNumericOptions),
    upstreams,
    trustedProxies: new Set(trusted),
    preserveHost: options.preserveHost ?? true,
    healthCheckPath: path ?? null,
    log: options.log ?? (sink === undefined || sink === null ? 'off' : 'pretty'),
    logSink: sink ?? null,
  };
}
