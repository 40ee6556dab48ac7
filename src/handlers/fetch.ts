/**
 * fetchHandler(app): runs a WHATWG fetch-style app — `(request: Request, info) => Response` or an
 * object with such a `fetch` (a Hono app, `export default { fetch }`) — as a holdfast Handler.
 *
 * The request is a lazy `Request` (fetch-request.ts); its URL is reconstructed per RFC 9112 §3.3
 * before the app runs, so a request without a usable URL is answered 400 by the server (and TRACE
 * or TRACK, which a Fetch Request cannot carry, 501). The second argument, FetchInfo, tells about
 * the connection, as Bun's `server.requestIP()` and Deno's `info.remoteAddr` do. The response is
 * turned into an HttpResponse by fetch-response.ts. A throw or a rejection is the core's handler
 * error: 500 and a log line.
 *
 * By default fetchHandler installs its `Request` and `Response` as the globals (idempotent), as
 * @hono/node-server does by default (`overrideGlobalObjects`): without them every `new
 * Response()` costs more than the rest of the exchange. With `overrideGlobals: false` the app gets
 * real `Request` objects and its real Responses are read through their streams.
 */

import { checkMethod, LazyRequest, RequestShim, requestUrl } from './fetch-request.js';
import { LightResponse, toHttpResponse } from './fetch-response.js';
import type { Handler, HttpRequest, HttpResponse } from './types.js';

/** What a fetch app learns about the request's connection (its second argument). */
export interface FetchInfo {
  /** The peer's address ('' once the connection is gone without it having been read). */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Server-unique connection id (the one in holdfast's logs and events). */
  readonly connectionId: number;
  /** 1 for the first request on the connection, 2 for the next, … */
  readonly requestIndex: number;
  /** The connection is TLS (the request's URL is https). */
  readonly tls: boolean;
  /** The request's signal: aborted when the client goes away before the response is done. */
  readonly signal: AbortSignal;
}

export type FetchFunction = (request: Request, info: FetchInfo) => Response | Promise<Response>;

/** An object with a fetch method: a Hono app, or a module's `export default { fetch }`. */
export interface FetchApp {
  fetch(request: Request, info: FetchInfo): Response | Promise<Response>;
}

export interface FetchHandlerOptions {
  /**
   * Install holdfast's lazy `Request` and light `Response` as the globals (default true, as
   * @hono/node-server's overrideGlobalObjects). `false` gives the app built-in Requests, built
   * for every request, and reads its Responses through their streams: correct, much slower.
   */
  overrideGlobals?: boolean;
}

/** FetchInfo over holdfast's request, read when asked (the peer address costs a system call). */
class ConnectionInfo implements FetchInfo {
  readonly #req: HttpRequest;

  constructor(req: HttpRequest) {
    this.#req = req;
  }

  get remoteAddress(): string {
    return this.#req.connection.remoteAddress;
  }

  get remotePort(): number {
    return this.#req.connection.remotePort;
  }

  get connectionId(): number {
    return this.#req.connection.id;
  }

  get requestIndex(): number {
    return this.#req.connection.requestIndex;
  }

  get tls(): boolean {
    return this.#req.scheme === 'https';
  }

  get signal(): AbortSignal {
    return this.#req.signal;
  }

  toJSON(): Omit<FetchInfo, 'signal'> {
    return { remoteAddress: this.remoteAddress, remotePort: this.remotePort, connectionId: this.connectionId, requestIndex: this.requestIndex, tls: this.tls };
  }
}

/** Makes holdfast's Request and Response the globals (once per process; a no-op after). */
export function installFetchGlobals(): void {
  if (globalThis.Response !== (LightResponse as unknown)) {
    Object.defineProperty(globalThis, 'Response', { value: LightResponse, writable: true, configurable: true, enumerable: false });
  }
  if (globalThis.Request !== (RequestShim as unknown)) {
    Object.defineProperty(globalThis, 'Request', { value: RequestShim, writable: true, configurable: true, enumerable: false });
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function';
}

export function fetchHandler(app: FetchFunction | FetchApp, options: FetchHandlerOptions = {}): Handler {
  let fetch: FetchFunction;
  if (typeof app === 'function') fetch = app;
  else if (app !== null && typeof app === 'object' && typeof app.fetch === 'function') fetch = app.fetch.bind(app);
  else throw new TypeError('fetchHandler needs a fetch function or an object with a fetch method');
  const lazy = options.overrideGlobals !== false;
  if (lazy) installFetchGlobals();
  return (req: HttpRequest): HttpResponse | Promise<HttpResponse> => {
    const url = requestUrl(req);
    checkMethod(req.method);
    const request = new LazyRequest(req, url);
    const result = fetch((lazy ? request : LazyRequest.real(request)) as unknown as Request, new ConnectionInfo(req));
    if (isThenable(result)) return Promise.resolve(result).then((response) => toHttpResponse(response, req));
    return toHttpResponse(result, req);
  };
}
