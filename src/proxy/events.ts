/**
 * The proxy's typed events and its logger: what operators log, count and alert on about the
 * upstream side, in the client side's style and through the same sinks (src/server/logger.ts):
 * `pretty` one line per event for people, `json` one object (RFC 8259) per line. Each line is
 * formatted straight into the sink's bytes (line-bytes.ts), its time from the server's cached
 * wall-clock offset (clock.ts's wallMsAt): no Date object and no JSON.stringify per line.
 */

import type { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { literal, type LineBytes } from '../server/line-bytes.js';
import type { LineSink } from '../server/log-writer.js';
import { bound, listen, openLineSink } from '../server/logger.js';
import type { LogFormat, LogSink } from '../server/options.js';

/** Why an upstream connection closed: exactly one per connection. */
export type UpstreamCloseReason =
  /** Idle in the pool past its idle deadline (idleTimeoutMs, or the upstream's Keep-Alive timeout less the margin). */
  | 'idle-timeout'
  /** The upstream closed it, or said it would (`Connection: close`, HTTP/1.0 without keep-alive, a close-delimited body). */
  | 'upstream-close'
  /** It carried maxRequestsPerConnection requests, or the upstream's `Keep-Alive: max`. */
  | 'max-requests'
  /** Bytes arrived on it while idle (a response to nothing): it cannot be trusted with a request. */
  | 'evicted-while-idle'
  /** A socket error, a reset, a framing error or a timeout. */
  | 'error'
  /** Older than maxConnectionLifetimeMs. */
  | 'lifetime'
  /** More idle connections than maxIdlePerUpstream: the least recently used goes. */
  | 'idle-cap'
  /** The client went away before the response was relayed to its end. */
  | 'client-gone'
  /** The exchange did not end cleanly (request body not all sent, response not read to its end). */
  | 'unfinished'
  /** Handed to a tunnel after a 101 (WebSocket and other upgrades); never pooled. */
  | 'tunnelled'
  /** The proxy was closed. */
  | 'proxy-closed';

/** Where an exchange with an upstream failed. */
export type UpstreamPhase = 'queue' | 'connect' | 'send' | 'headers' | 'body' | 'tunnel';

export interface UpstreamOpenEvent {
  upstream: string;
  connectionId: number;
}

export interface UpstreamCloseEvent {
  upstream: string;
  connectionId: number;
  reason: UpstreamCloseReason;
  requests: number;
  lifetimeMs: number;
}

export interface UpstreamErrorEvent {
  upstream: string;
  phase: UpstreamPhase;
  /** ECONNREFUSED, ECONNRESET, timeout, a response-parser code, queue-full… */
  code: string;
  method: string;
  target: string;
  /** What the client got: 502/503/504, or null when its response had started and was aborted. */
  status: number | null;
  /** It was sent again (to a new connection, or the next upstream) instead of failing. */
  retried: boolean;
}

export interface UpstreamHealthEvent {
  upstream: string;
  healthy: boolean;
  why: string;
}

export interface ProxyEvents {
  'upstream-open': [UpstreamOpenEvent];
  'upstream-close': [UpstreamCloseEvent];
  'upstream-error': [UpstreamErrorEvent];
  'upstream-health': [UpstreamHealthEvent];
}

/** How a proxy ends its logger: listeners off, lines flushed (at most `timeoutMs`), the writer released. */
export interface AttachedProxyLogger {
  close(timeoutMs: number): Promise<void>;
}

const J = {
  time: literal('{"time":"'),
  open: literal('","event":"upstream-open","upstream":'),
  close: literal('","event":"upstream-close","upstream":'),
  error: literal('","event":"upstream-error","upstream":'),
  health: literal('","event":"upstream-health","upstream":'),
  connectionId: literal(',"connectionId":'),
  reason: literal(',"reason":'),
  requests: literal(',"requests":'),
  lifetimeMs: literal(',"lifetimeMs":'),
  phase: literal(',"phase":'),
  code: literal(',"code":'),
  method: literal(',"method":'),
  target: literal(',"target":'),
  status: literal(',"status":'),
  statusNull: literal(',"status":null'),
  retriedTrue: literal(',"retried":true}\n'),
  retriedFalse: literal(',"retried":false}\n'),
  healthyTrue: literal(',"healthy":true,"why":'),
  healthyFalse: literal(',"healthy":false,"why":'),
  end: literal('}\n'),
};

const P = {
  upstream: literal(' upstream '),
  conn: literal(' conn#'),
  open: literal(' open\n'),
  closeReason: literal(' close reason='),
  requests: literal(' requests='),
  lifetime: literal(' lifetime='),
  seconds: literal('s\n'),
  errorPhase: literal(' error phase='),
  code: literal(' code='),
  retried: literal(' retried\n'),
  aborted: literal(' response aborted\n'),
  up: literal(' up: '),
  down: literal(' down: '),
};

/** `{"time":"<stamp>","event":"<event>","upstream":"<upstream>"` */
function jsonHead(out: LineBytes, head: Uint8Array, upstream: string): void {
  out.bytes(J.time);
  out.stamp(performance.now());
  out.bytes(head);
  out.json(upstream);
}

/** `<stamp> upstream <upstream>` */
function prettyHead(out: LineBytes, upstream: string): void {
  out.stamp(performance.now());
  out.bytes(P.upstream);
  out.pretty(upstream);
}

function jsonListeners(lines: LineSink): Listeners {
  return {
    'upstream-open': (e) => {
      const out = lines.begin(bound(e.upstream));
      if (out === null) return;
      jsonHead(out, J.open, e.upstream);
      out.bytes(J.connectionId);
      out.int(e.connectionId);
      out.bytes(J.end);
      lines.end();
    },
    'upstream-close': (e) => {
      const out = lines.begin(bound(e.upstream, e.reason));
      if (out === null) return;
      jsonHead(out, J.close, e.upstream);
      out.bytes(J.connectionId);
      out.int(e.connectionId);
      out.bytes(J.reason);
      out.json(e.reason);
      out.bytes(J.requests);
      out.int(e.requests);
      out.bytes(J.lifetimeMs);
      out.fixed3(e.lifetimeMs);
      out.bytes(J.end);
      lines.end();
    },
    'upstream-error': (e) => {
      const out = lines.begin(bound(e.upstream, e.code + e.phase, e.method + e.target));
      if (out === null) return;
      jsonHead(out, J.error, e.upstream);
      out.bytes(J.phase);
      out.json(e.phase);
      out.bytes(J.code);
      out.json(e.code);
      out.bytes(J.method);
      out.json(e.method);
      out.bytes(J.target);
      out.json(e.target);
      if (e.status === null) {
        out.bytes(J.statusNull);
      } else {
        out.bytes(J.status);
        out.int(e.status);
      }
      out.bytes(e.retried ? J.retriedTrue : J.retriedFalse);
      lines.end();
    },
    'upstream-health': (e) => {
      const out = lines.begin(bound(e.upstream, e.why));
      if (out === null) return;
      jsonHead(out, J.health, e.upstream);
      out.bytes(e.healthy ? J.healthyTrue : J.healthyFalse);
      out.json(e.why);
      out.bytes(J.end);
      lines.end();
    },
  };
}

function prettyListeners(lines: LineSink): Listeners {
  return {
    'upstream-open': (e) => {
      const out = lines.begin(bound(e.upstream));
      if (out === null) return;
      prettyHead(out, e.upstream);
      out.bytes(P.conn);
      out.int(e.connectionId);
      out.bytes(P.open);
      lines.end();
    },
    'upstream-close': (e) => {
      const out = lines.begin(bound(e.upstream, e.reason));
      if (out === null) return;
      prettyHead(out, e.upstream);
      out.bytes(P.conn);
      out.int(e.connectionId);
      out.bytes(P.closeReason);
      out.pretty(e.reason);
      out.bytes(P.requests);
      out.int(e.requests);
      out.bytes(P.lifetime);
      out.fixed3(e.lifetimeMs / 1000);
      out.bytes(P.seconds);
      lines.end();
    },
    'upstream-error': (e) => {
      const out = lines.begin(bound(e.upstream, e.code + e.phase, e.method + e.target));
      if (out === null) return;
      prettyHead(out, e.upstream);
      out.bytes(P.errorPhase);
      out.pretty(e.phase);
      out.bytes(P.code);
      out.pretty(e.code);
      out.byte(0x20);
      out.pretty(e.method);
      out.byte(0x20);
      out.pretty(e.target);
      if (e.retried) out.bytes(P.retried);
      else if (e.status === null) out.bytes(P.aborted);
      else {
        out.text(' → ');
        out.int(e.status);
        out.byte(0x0a);
      }
      lines.end();
    },
    'upstream-health': (e) => {
      const out = lines.begin(bound(e.upstream, e.why));
      if (out === null) return;
      prettyHead(out, e.upstream);
      out.bytes(e.healthy ? P.up : P.down);
      out.text(e.why.replace(/[\x00-\x1f\x7f]/g, ' '));
      out.byte(0x0a);
      lines.end();
    },
  };
}

type Listeners = { [E in keyof ProxyEvents]: (...args: ProxyEvents[E]) => void };

const NOT_LOGGING: AttachedProxyLogger = { close: () => Promise.resolve() };

/**
 * Logs the proxy's events in `format` to `sink` as the server's logger does (logger.ts's
 * openLineSink): a function gets each line at once; a file path or null (standard output) shares
 * that target's buffered LogWriter with any server logging there, so their lines interleave in
 * order and are flushed with them.
 */
export function attachProxyLogger(emitter: EventEmitter<ProxyEvents>, format: LogFormat, sink: LogSink | string | null): AttachedProxyLogger {
  if (format === 'off') return NOT_LOGGING;
  const { lines, release } = openLineSink(sink, format === 'json');
  return { close: listen(emitter as EventEmitter, format === 'json' ? jsonListeners(lines) : prettyListeners(lines), release) };
}
