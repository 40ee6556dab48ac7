/**
 * Every closed connection reports exactly one reason. The persistence reasons (the client, the
 * handler or the server's policy ended keep-alive after a response) are decided by
 * `decideKeepAlive` in src/http1/keep-alive.ts; the rest belong to the socket layer: deadlines,
 * resets, limits and failures.
 */

import type { PersistenceCloseReason } from '../http1/keep-alive.js';

export type ServerCloseReason =
  /** No request arrived within keepAliveTimeoutMs + keepAliveTimeoutBufferMs. */
  | 'idle-timeout'
  /** The peer reset the connection (ECONNRESET, ETIMEDOUT, EHOSTUNREACH), or it vanished. */
  | 'peer-reset'
  /** A request head was not complete within headersTimeoutMs → 408. */
  | 'headers-timeout'
  /** A request was not complete within requestTimeoutMs → 408. */
  | 'request-timeout'
  /** A request body arrived slower than minBodyBytesPerSecond → 408. */
  | 'slow-body'
  /** Evicted while idle to make room under maxConnections. */
  | 'connection-limit'
  /** The peer did not take our bytes within sendTimeoutMs. */
  | 'send-timeout'
  /** The peer broke HTTP/1.1 → 4xx/5xx and close. */
  | 'protocol-error'
  /** A write to the socket failed. */
  | 'write-error'
  /** The handler failed after its response had started (the response is cut short). */
  | 'handler-error'
  /** The handler did not answer within handlerTimeoutMs → 503. */
  | 'handler-timeout'
  /** A bug in holdfast: the connection is aborted, the process keeps serving. */
  | 'internal-error'
  /** The connection left HTTP (101 + upgrade, or takeover) and its new owner closed it. */
  | 'upgraded'
  /**
   * TLS failed: the handshake (plain HTTP or garbage on the TLS port, no shared protocol or cipher,
   * a client refusing the certificate, the peer closing mid-handshake) or a record after it. The
   * `tls-error` event carries OpenSSL's reason.
   */
  | 'tls-error'
  /** The TLS handshake was not complete within handshakeTimeoutMs (or headersTimeoutMs, if shorter). */
  | 'handshake-timeout';

export type CloseReason = PersistenceCloseReason | ServerCloseReason;
