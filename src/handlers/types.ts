/**
 * The handler API: `(req: HttpRequest) => HttpResponse | Promise<HttpResponse>` — a whole
 * response and a streamed one in one interface. A response body may be a string, bytes, or a
 * stream (`AsyncIterable<Uint8Array>`, which includes Node `Readable`); streams are written with
 * backpressure. A response may also take the connection out of HTTP (`upgrade`, `takeover()`).
 * Names stay off the WHATWG `Request`/`Response` globals so a fetch-style adapter sits on top.
 */

import type { Socket } from 'node:net';
import type { HeaderMap } from '../http1/header-map.js';
import type { HttpVersion } from '../http1/framing.js';
import type { ResponseHeaders } from '../http1/serializer.js';

export type { ResponseHeaders } from '../http1/serializer.js';

export type ResponseBody = null | undefined | string | Uint8Array | AsyncIterable<Uint8Array | string>;

export interface HttpResponse {
  status: number;
  headers?: ResponseHeaders;
  body?: ResponseBody;
  /**
   * Trailer fields for a streamed body (RFC 9110 §6.5): called once the stream has ended, when the
   * body goes out chunked (an HTTP/1.1 client, no Content-Length); its fields follow the last
   * chunk (RFC 9112 §7.1.2). Not called when the body is sent otherwise (an HTTP/1.0 client, a
   * length, no body): trailers are optional and then dropped. Framing, Host and connection fields
   * are never sent in trailers. Name them in a `Trailer` field (§6.6.2) when the client should know.
   */
  trailers?: () => ResponseHeaders | null | undefined;
  /**
   * With status 101 (and the handler's `Upgrade` field): the server writes the 101 head, then the
   * connection leaves HTTP and this function owns the socket (RFC 9110 §7.8, hyper's on_upgrade).
   * The request must have asked for an upgrade (`Connection: upgrade` and `Upgrade`, HTTP/1.1).
   */
  upgrade?: UpgradeHandler;
  /** Set by takeover(): the connection leaves HTTP with nothing written (Go's Hijack). */
  takeover?: UpgradeHandler;
}

/**
 * Receives a connection that left HTTP: its socket (reading, with its original listeners gone but
 * a close listener that reports `upgraded`) and the bytes already read past the request head.
 * Called synchronously; a throw destroys the socket and is logged as a handler error.
 */
export type UpgradeHandler = (socket: Socket, head: Buffer) => void;

/**
 * A response that takes the connection out of HTTP with nothing written: `fn` gets the socket
 * and the bytes read past the request head, and writes whatever it answers itself (a WebSocket
 * library's 101, a tunnel). Earlier pipelined responses have been flushed.
 */
export function takeover(fn: UpgradeHandler): HttpResponse {
  return { status: 101, takeover: fn };
}

export interface ConnectionRef {
  /** Server-unique connection id. */
  id: number;
  /** The connection is TLS (HTTPS). */
  tls: boolean;
  /** 1 for the first request on the connection, 2 for the next, … */
  requestIndex: number;
  remoteAddress: string;
  remotePort: number;
}

/** The request body: pull it as an async iterable (backpressure), or read it whole. */
export interface RequestBody extends AsyncIterable<Uint8Array> {
  /** Whole body, bounded by maxBodyBytes (413 beyond). */
  bytes(): Promise<Uint8Array>;
  text(): Promise<string>;
  json(): Promise<unknown>;
  /**
   * The trailer section of a chunked body (RFC 9112 §7.1.2), once the body has been read to its
   * end; null before that, or when it had none.
   */
  readonly trailers: HeaderMap | null;
}

/**
 * `scheme`, `connection`, `body` and `signal` are accessors, built on first use: copy a request with explicit fields
 * (or keep the object), since `{ ...req }` leaves them out.
 */
export interface HttpRequest {
  method: string;
  /** The request-target as received. */
  target: string;
  /** The path part of the target (percent-encoding kept). */
  path: string;
  /** The query without '?', '' when absent. */
  query: string;
  /** The target URI's scheme (RFC 9112 §3.3): 'https' on a TLS connection. */
  scheme: 'http' | 'https';
  version: HttpVersion;
  headers: HeaderMap;
  connection: ConnectionRef;
  body: RequestBody;
  /**
   * Aborted when the client goes away (the connection closes, or the client ends its side after
   * the whole request) or the server gives up on the request (a timeout) before the response is
   * done; never after. Built on first use.
   */
  readonly signal: AbortSignal;
}

export type Handler = (req: HttpRequest) => HttpResponse | Promise<HttpResponse>;

/** Throw from a handler to answer with this status (and an optional short plain-text message). */
export class HttpError extends Error {
  readonly status: number;
  readonly headers: ResponseHeaders | undefined;

  constructor(status: number, message?: string, headers?: ResponseHeaders) {
    super(message ?? `HTTP ${status}`);
    if (!Number.isInteger(status) || status < 400 || status > 599) throw new RangeError('HttpError status must be 400–599');
    this.name = 'HttpError';
    this.status = status;
    this.headers = headers;
  }
}
