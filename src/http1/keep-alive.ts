/**
 * Persistence (RFC 9112 §9.3) decided by ONE pure function of facts, plus the values of the
 * Connection and Keep-Alive response fields. The close reasons of every connection are one union.
 *
 * Rules, in the order they are checked (the first that applies names the reason):
 * 1. the server is draining (graceful shutdown)                      → shutdown
 * 2. the server is configured for HTTP/1.0 (answers never persist)   → http10-default
 * 3. the client sent `Connection: close` (any token position/case)   → client-close
 * 4. the handler's response said `Connection: close`                 → handler-close
 * 5. the client half-closed its side                                 → peer-eof
 * 6. HTTP/1.0 request without `Connection: keep-alive`               → http10-default
 * 7. the response is close-delimited (no length, no chunked)         → unframed-body
 * 8. the request body was not read and cannot be drained             → unread-body
 * 9. this was the last request allowed on the connection             → max-requests
 * 10. the connection outlived maxConnectionLifetimeMs                → max-lifetime
 * Otherwise the connection persists; `remaining` is how many more requests the client may send
 * (null when unlimited).
 */

import type { ResponseFraming } from './framing.js';
import type { HttpVersion } from './framing.js';

/**
 * Why a connection is not kept after a response: the reasons this module decides. The server
 * layer adds its own (timeouts, resets, limits…) to form the one `CloseReason` union users see.
 */
export type PersistenceCloseReason =
  | 'shutdown'
  | 'http10-default'
  | 'client-close'
  | 'handler-close'
  | 'peer-eof'
  | 'unframed-body'
  | 'unread-body'
  | 'max-requests'
  | 'max-lifetime';

export interface KeepAliveFacts {
  serverVersion: HttpVersion;
  requestVersion: HttpVersion;
  /** Lower-cased Connection tokens of the request. */
  requestConnection: ReadonlySet<string>;
  /** True when the handler's response carried `Connection: close`. */
  responseConnectionClose: boolean;
  responseFraming: ResponseFraming;
  /** False when an unread request body would have to be discarded and cannot be (too large, or 100-continue never sent). */
  requestBodyDrainable: boolean;
  /** The peer has sent FIN. */
  peerEnded: boolean;
  /** Requests served on this connection, this one included. */
  requestsServed: number;
  /** 0 = unlimited. */
  maxRequestsPerConnection: number;
  lifetimeExceeded: boolean;
  shuttingDown: boolean;
}

export type KeepAliveDecision = { keepAlive: true; remaining: number | null } | { keepAlive: false; reason: PersistenceCloseReason };

const UNLIMITED: KeepAliveDecision = Object.freeze({ keepAlive: true, remaining: null });
const closing = (reason: PersistenceCloseReason): KeepAliveDecision => ({ keepAlive: false, reason });

export function decideKeepAlive(facts: KeepAliveFacts): KeepAliveDecision {
  if (facts.shuttingDown) return closing('shutdown');
  if (facts.serverVersion === '1.0') return closing('http10-default');
  if (facts.requestConnection.has('close')) return closing('client-close');
  if (facts.responseConnectionClose) return closing('handler-close');
  if (facts.peerEnded) return closing('peer-eof');
  if (isHttp10WithoutKeepAlive(facts.requestVersion, facts.requestConnection)) return closing('http10-default');
  if (facts.responseFraming === 'close-delimited') return closing('unframed-body');
  if (!facts.requestBodyDrainable) return closing('unread-body');
  const max = facts.maxRequestsPerConnection;
  if (max > 0 && facts.requestsServed >= max) return closing('max-requests');
  if (facts.lifetimeExceeded) return closing('max-lifetime');
  return max > 0 ? { keepAlive: true, remaining: max - facts.requestsServed } : UNLIMITED;
}

function isHttp10WithoutKeepAlive(version: HttpVersion, connection: ReadonlySet<string>): boolean {
  return version === '1.0' && !connection.has('keep-alive');
}

/** The request itself says it is the connection's last (RFC 9112 §9.3, §9.6): rules 3 and 6. */
export function requestEndsConnection(version: HttpVersion, connection: ReadonlySet<string>): boolean {
  return connection.has('close') || isHttp10WithoutKeepAlive(version, connection);
}

/**
 * `Keep-Alive: timeout=T, max=R` (RFC 2068 §19.7.1.1, kept by browsers and clients). T is the whole
 * seconds of the idle timeout rounded down, so it never promises more than is enforced.
 */
const FIELD_VALUES = new Map<number, string>();

export function keepAliveFieldValue(keepAliveTimeoutMs: number, remaining: number | null): string {
  const seconds = advertisedTimeoutSeconds(keepAliveTimeoutMs);
  if (remaining === null) return `timeout=${seconds}`;
  // The same few strings recur on every response: keep them (keys stay exact below 2^53).
  const cacheable = remaining < 65_536 && seconds < 1 << 30;
  const key = seconds * 65_536 + remaining;
  if (cacheable) {
    const known = FIELD_VALUES.get(key);
    if (known !== undefined) return known;
  }
  const value = `timeout=${seconds}, max=${remaining}`;
  if (cacheable && FIELD_VALUES.size < 4096) FIELD_VALUES.set(key, value);
  return value;
}

/** The `timeout=` of the Keep-Alive field: whole seconds, rounded down, never more than enforced. */
export function advertisedTimeoutSeconds(keepAliveTimeoutMs: number): number {
  return Math.floor(keepAliveTimeoutMs / 1000);
}
