/**
 * The request handed to handlers (`HttpRequest`) and its body (`RequestBody`). Both are thin views
 * of one exchange on a connection: `connection`, `body` and `signal` are built on first use (most requests
 * never read either), the peer address is read from the socket only when asked for, and the body
 * is pulled from the connection's parser on demand, so pulling is the backpressure.
 */

import type { HttpVersion } from '../http1/framing.js';
import type { HeaderMap } from '../http1/header-map.js';
import { authorityEnd } from '../http1/parser.js';
import { HttpError, type ConnectionRef, type HttpRequest, type RequestBody } from '../handlers/types.js';
import type { AbandonWatcher, ClientGoneWatcher, Connection, Exchange } from './connection.js';

/**
 * `watcher.clientGone()` is called once, at the moment `req.signal` would abort (the client went
 * away, or the server gave up on the request), until `watchClientGone(req, null)`: what an
 * AbortSignal listener does, without its cost (microseconds per listener, too much per request on
 * a hot path such as the proxy's). `gone`: that moment has already passed (the watcher is not
 * kept); `unsupported`: a request this server did not build (use `req.signal`).
 */
export function watchClientGone(req: HttpRequest, watcher: ClientGoneWatcher | null): 'watching' | 'gone' | 'unsupported' {
  if (!(req instanceof ServerRequest)) return 'unsupported';
  return req.watchGone(watcher);
}

/**
 * `watcher.responseAbandoned()` is called once, when the response to `req` can no longer be
 * delivered (the connection closed, was reset, or is being closed by the server), until
 * `watchAbandoned(req, null)`. Unlike `req.signal` it is not told of a client's FIN after a
 * complete request: the response to such a client is still sent (as nginx and Go do).
 * `gone`: that already happened; `unsupported`: a request this server did not build.
 */
export function watchAbandoned(req: HttpRequest, watcher: AbandonWatcher | null): 'watching' | 'gone' | 'unsupported' {
  if (!(req instanceof ServerRequest)) return 'unsupported';
  return req.watchAbandoned(watcher);
}

/** The handler's view of `ex`: path and query split from the request-target (RFC 9112 §3.2). */
export function buildRequest(connection: Connection, ex: Exchange): HttpRequest {
  const head = ex.head;
  const target = head.target;
  let pathStart = 0;
  // http://authority[/path][?query]: the path starts where the authority ends.
  if (head.targetForm === 'absolute') pathStart = authorityEnd(target, target.indexOf('//') + 2);
  const q = target.indexOf('?', pathStart);
  const path = head.targetForm === 'asterisk' ? '*' : target.slice(pathStart, q === -1 ? target.length : q) || '/';
  return new ServerRequest(connection, ex, path, q === -1 ? '' : target.slice(q + 1));
}

class ServerRequest implements HttpRequest {
  readonly method: string;
  readonly target: string;
  readonly path: string;
  readonly query: string;
  readonly version: HttpVersion;
  readonly headers: HeaderMap;
  readonly #connection: Connection;
  readonly #exchange: Exchange;
  #ref: ConnectionRef | null = null;
  #body: IncomingBody | null = null;

  constructor(connection: Connection, exchange: Exchange, path: string, query: string) {
    const head = exchange.head;
    this.method = head.method;
    this.target = head.target;
    this.path = path;
    this.query = query;
    this.version = head.version;
    this.headers = head.headers;
    this.#connection = connection;
    this.#exchange = exchange;
  }

  /** Read when asked (the fetch adapter's URL): no per-request work for handlers that never look. */
  get scheme(): 'http' | 'https' {
    return this.#connection.encrypted ? 'https' : 'http';
  }

  get connection(): ConnectionRef {
    if (this.#ref === null) {
      const connection = this.#connection;
      this.#ref = { id: connection.id, tls: connection.encrypted, requestIndex: this.#exchange.index, remoteAddress: connection.peerAddress, remotePort: connection.peerPort };
    }
    return this.#ref;
  }

  get body(): RequestBody {
    return (this.#body ??= new IncomingBody(this.#connection, this.#exchange, this.#connection.maxBodyBytes));
  }

  get signal(): AbortSignal {
    const ex = this.#exchange;
    if (ex.aborter === null) {
      ex.aborter = new AbortController();
      if (ex.signalState === 'aborted') ex.aborter.abort();
    }
    return ex.aborter.signal;
  }

  watchGone(watcher: ClientGoneWatcher | null): 'watching' | 'gone' {
    const ex = this.#exchange;
    if (ex.signalState === 'aborted') {
      ex.goneWatcher = null;
      return 'gone';
    }
    ex.goneWatcher = watcher;
    return 'watching';
  }

  watchAbandoned(watcher: AbandonWatcher | null): 'watching' | 'gone' {
    const ex = this.#exchange;
    if (ex.writing === 'abandoned') {
      ex.abandonWatcher = null;
      return 'gone';
    }
    ex.abandonWatcher = watcher;
    return 'watching';
  }

  toJSON(): Omit<HttpRequest, 'body' | 'signal'> {
    return { method: this.method, target: this.target, path: this.path, query: this.query, scheme: this.scheme, version: this.version, headers: this.headers, connection: this.connection };
  }
}

class IncomingBody implements RequestBody {
  readonly #connection: Connection;
  readonly #exchange: Exchange;
  readonly #maxBytes: number;

  constructor(connection: Connection, exchange: Exchange, maxBytes: number) {
    this.#connection = connection;
    this.#exchange = exchange;
    this.#maxBytes = maxBytes;
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return { next: () => this.#connection.pullBody(this.#exchange) };
  }

  get trailers(): HeaderMap | null {
    return this.#exchange.trailers;
  }

  async bytes(): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let total = 0;
    for await (const part of this) {
      total += part.length;
      if (this.#maxBytes > 0 && total > this.#maxBytes) throw new HttpError(413);
      parts.push(part);
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, total);
  }

  async text(): Promise<string> {
    const bytes = await this.bytes();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
  }

  async json(): Promise<unknown> {
    const text = await this.text();
    try {
      return JSON.parse(text);
    } catch {
      throw new HttpError(400, 'request body is not valid JSON');
    }
  }
}

