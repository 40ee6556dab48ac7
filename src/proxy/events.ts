/**
 * The proxy's typed events and its logger: what operators log, count and alert on about the
 * upstream side, in the client side's style (src/server/logger.ts): `pretty` one line per event
 * for people, `json` one object per line.
 */

import type { EventEmitter } from 'node:events';
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

export function attachProxyLogger(emitter: EventEmitter<ProxyEvents>, format: LogFormat, sink: LogSink): void {
  if (format === 'off') return;
  const json = format === 'json';
  const emit = (event: string, fields: object, text: string): void => {
    const time = new Date().toISOString();
    sink(json ? JSON.stringify({ time, event, ...fields }) + '\n' : `${time} ${text}\n`);
  };
  emitter.on('upstream-open', (e) => emit('upstream-open', e, `upstream ${e.upstream} conn#${e.connectionId} open`));
  emitter.on('upstream-close', (e) =>
    emit('upstream-close', e, `upstream ${e.upstream} conn#${e.connectionId} close reason=${e.reason} requests=${e.requests} lifetime=${(e.lifetimeMs / 1000).toFixed(3)}s`),
  );
  emitter.on('upstream-error', (e) =>
    emit(
      'upstream-error',
      e,
      `upstream ${e.upstream} error phase=${e.phase} code=${e.code} ${e.method} ${e.target} ${e.retried ? 'retried' : e.status === null ? 'response aborted' : `→ ${e.status}`}`,
    ),
  );
  emitter.on('upstream-health', (e) => emit('upstream-health', e, `upstream ${e.upstream} ${e.healthy ? 'up' : 'down'}: ${e.why}`));
}
