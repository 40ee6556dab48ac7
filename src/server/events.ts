/** The server's typed events: what operators log, count and alert on. */

import type { CloseReason } from './close-reason.js';

export interface ConnectionOpenEvent {
  connectionId: number;
  remoteAddress: string;
  remotePort: number;
}

export interface RequestEvent {
  connectionId: number;
  /** Index of the request on its connection, from 1. */
  requestIndex: number;
  method: string;
  target: string;
  status: number;
  /** Response body bytes written. */
  bytes: number;
  durationMs: number;
  keepAlive: boolean;
}

export interface ConnectionCloseEvent {
  connectionId: number;
  remoteAddress: string;
  reason: CloseReason;
  requestsServed: number;
  bytesIn: number;
  bytesOut: number;
  lifetimeMs: number;
}

export interface ProtocolErrorEvent {
  connectionId: number;
  code: string;
  status: number;
}

export interface HandlerErrorEvent {
  connectionId: number;
  requestIndex: number;
  error: unknown;
}

/** A bug in holdfast itself: the connection is aborted, the process keeps serving. */
export interface InternalErrorEvent {
  connectionId: number;
  error: unknown;
}

/**
 * The listener refused or could not accept connections: the maxConnections cap or the open-file
 * limit (counted, at most one event a second), or an accept error node reports. libuv drops
 * connections on EMFILE without an error, which is why the server refuses new ones just below the
 * open-file limit, whatever maxConnections says (it defaults to unlimited).
 */
export interface AcceptErrorEvent {
  code: string;
  message: string;
}

/** A TLS connection failed (close reason `tls-error`): OpenSSL's reason, as nginx logs it. */
export interface TlsErrorEvent {
  connectionId: number;
  remoteAddress: string;
  /** Whether the handshake had completed. */
  phase: 'handshake' | 'established';
  /** node's code, e.g. `ERR_SSL_HTTP_REQUEST` (socket errors such as ECONNRESET are not TLS errors). */
  code: string;
  /** OpenSSL's reason, e.g. `http request`, `wrong version number`, `no application protocol`. */
  reason: string;
}

export interface ServerEvents {
  'connection-open': [ConnectionOpenEvent];
  request: [RequestEvent];
  'connection-close': [ConnectionCloseEvent];
  'protocol-error': [ProtocolErrorEvent];
  'handler-error': [HandlerErrorEvent];
  'internal-error': [InternalErrorEvent];
  'accept-error': [AcceptErrorEvent];
  'tls-error': [TlsErrorEvent];
}
