/**
 * The WHATWG `Request` a fetch-style app receives from fetchHandler, built lazily over holdfast's
 * HttpRequest: `method`, `url`, `headers`, `signal` and the body readers are computed on first use,
 * and a real `Request` is built only when the app asks for something only a real one has
 * (`clone()`, `formData()`, an attribute this class does not know). Its prototype chain runs
 * through `Request.prototype`, so `instanceof Request` holds.
 *
 * - url: the target URI reconstructed per RFC 9112 §3.3 — an absolute-form target as is (it wins
 *   over Host), an origin-form target after `scheme://` and the Host field value; both normalised
 *   as WHATWG `new URL()` does (a target already in normal form is used without parsing). A
 *   request without Host (HTTP/1.0) gets the authority `localhost`, the configured default RFC 9112
 *   §3.3 allows. Asterisk-form (`OPTIONS *`) has no URL: 400, as @hono/node-server answers it.
 * - method: TRACE and TRACK, which a Fetch Request cannot carry, are answered 501 (checkMethod).
 * - headers: a `Headers` with every field line appended in received order (so duplicates are
 *   joined with ", " by `get()`, and `getSetCookie()` keeps each line).
 * - body: `null` for GET and HEAD; otherwise a `ReadableStream` that pulls from the connection's parser only when read (highWaterMark 0), so
 *   `Expect: 100-continue` is answered on the first read and `maxBodyBytes` ends the exchange with
 *   413. `text()`, `json()`, `arrayBuffer()`, `bytes()` and `blob()` read holdfast's body
 *   directly when the stream was never asked for (`body` is then null, and `bodyUsed` true).
 * - signal: holdfast's `req.signal` — aborted when the client goes away before the response is done.
 *
 * `RequestShim` (installed as the global `Request` by fetchHandler) unwraps a lazy request given to
 * `new Request(request, init)`, which the built-in class cannot read.
 */

import { HttpError, type HttpRequest } from './types.js';

/** The authority for a request without Host (RFC 9112 §3.3: a configured default). */
const DEFAULT_AUTHORITY = 'localhost';

const GlobalRequest = globalThis.Request;
const GlobalHeaders = globalThis.Headers;

const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder();

/** Characters a WHATWG URL keeps as they are in an http path or query (RFC 3986 pchar, '/', '?', '%'). */
const KEPT_CHARS: Uint8Array = (() => {
  const table = new Uint8Array(128);
  for (const ch of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&()*+,;=:@/?%") table[ch.charCodeAt(0)] = 1;
  return table;
})();

/** True when `new URL()` would give `target` back unchanged: only kept characters, no dot segment or encoded dot. */
function isNormalTarget(target: string): boolean {
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c >= 128 || KEPT_CHARS[c] !== 1) return false;
    if (c === 0x2e && target.charCodeAt(i - 1) === 0x2f) return false; // "/."
    if (c === 0x25 && target.charCodeAt(i + 1) === 0x32 && (target.charCodeAt(i + 2) | 0x20) === 0x65) return false; // "%2e"
  }
  return true;
}

/** `scheme://host` of Host field values and the URL authority each normalises to ('' when it is not a valid URL host; the default port dropped is the scheme's). */
const AUTHORITIES = new Map<string, string>();
const MAX_AUTHORITIES = 256;

/** The last Host value and scheme looked up and their authority (one value usually recurs: compared before hashing). */
let lastHost = '';
let lastScheme = '';
let lastAuthority = '';

function authorityOf(scheme: string, host: string): string {
  if (host === lastHost && scheme === lastScheme) return lastAuthority;
  const base = `${scheme}://${host}`;
  let authority = AUTHORITIES.get(base);
  if (authority === undefined) {
    try {
      const url = new URL(`${base}/`);
      authority = url.username === '' && url.password === '' && url.pathname === '/' && url.search === '' ? url.host : '';
    } catch {
      authority = '';
    }
    if (AUTHORITIES.size >= MAX_AUTHORITIES) AUTHORITIES.clear();
    AUTHORITIES.set(base, authority);
  }
  lastHost = host;
  lastScheme = scheme;
  lastAuthority = authority;
  return authority;
}

/** The request's absolute URL (RFC 9112 §3.3), normalised as a WHATWG URL; HttpError 400 when there is none. */
export function requestUrl(req: HttpRequest): string {
  const target = req.target;
  if (target.charCodeAt(0) === 0x2f) {
    const host = req.headers.get('host');
    const scheme = req.scheme;
    const authority = host === undefined || host === '' ? DEFAULT_AUTHORITY : authorityOf(scheme, host);
    if (authority === '') throw new HttpError(400, 'invalid Host');
    const url = `${scheme}://${authority}${target}`;
    return isNormalTarget(target) ? url : parsedUrl(url);
  }
  if (target === '*') throw new HttpError(400, 'a fetch app cannot answer an asterisk-form request');
  const url = parsedUrl(target);
  if (!url.startsWith('http://') && !url.startsWith('https://')) throw new HttpError(400, 'the request-target is not an http URL');
  return url;
}

/**
 * HttpError 501 for TRACE and TRACK (any case), which Fetch forbids in a Request (Fetch "forbidden
 * method"): no app could clone or forward one. 501, as the core answers CONNECT (RFC 9110 §15.6.2:
 * not supported for any resource; a 405 would owe an Allow the adapter cannot know). TRACE is
 * optional (RFC 9110 §9.3.8); nginx refuses it too (405).
 */
export function checkMethod(method: string): void {
  if (method.length !== 5) return;
  const upper = method.toUpperCase();
  if (upper === 'TRACE' || upper === 'TRACK') throw new HttpError(501, `a fetch app cannot answer ${upper}`);
}

function parsedUrl(text: string): string {
  try {
    return new URL(text).href;
  } catch {
    throw new HttpError(400, 'the request-target is not a valid URL');
  }
}

/** The methods Fetch upper-cases whatever their case (Fetch "normalize a method"). */
const NORMALIZED_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']);

function normalizeMethod(method: string): string {
  if (NORMALIZED_METHODS.has(method)) return method;
  const upper = method.toUpperCase();
  return NORMALIZED_METHODS.has(upper) ? upper : method;
}

/** The Request attributes a request from the network has, whatever it carries (what `new Request(url)` gives). */
const FIXED_ATTRIBUTES: Record<string, unknown> = {
  cache: 'default',
  credentials: 'same-origin',
  destination: '',
  integrity: '',
  keepalive: false,
  mode: 'cors',
  redirect: 'follow',
  referrer: 'about:client',
  referrerPolicy: '',
  duplex: 'half',
  isReloadNavigation: false,
  isHistoryNavigation: false,
};

function unusable(): TypeError {
  return new TypeError('Body is unusable: it has already been read');
}

/** A request body as a ReadableStream that reads from the connection only when pulled. */
function pullStream(req: HttpRequest, onPull: () => void): ReadableStream<Uint8Array> {
  let iterator: AsyncIterator<Uint8Array> | null = null;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        onPull();
        iterator ??= req.body[Symbol.asyncIterator]();
        return iterator.next().then((result) => {
          if (result.done === true) controller.close();
          else controller.enqueue(result.value);
        });
      },
      cancel() {
        // The rest of the body is the connection's: drained after the response, or the connection closes.
        onPull();
      },
    },
    { highWaterMark: 0 },
  );
}

type BodyUse =
  | { kind: 'unread' }
  | { kind: 'stream'; stream: ReadableStream<Uint8Array> }
  | { kind: 'read' }
  | { kind: 'real' };

const UNREAD: BodyUse = Object.freeze({ kind: 'unread' });
const READ: BodyUse = Object.freeze({ kind: 'read' });
const REAL: BodyUse = Object.freeze({ kind: 'real' });

export class LazyRequest {
  readonly #req: HttpRequest;
  readonly #url: string;
  #method: string | null = null;
  #headers: Headers | null = null;
  #body: BodyUse;
  /** The stream handed out was read from or cancelled. */
  #disturbed = false;
  #real: Request | null = null;

  /** `url`: requestUrl(req), computed by the caller (it answers 400 when there is none). */
  constructor(req: HttpRequest, url: string) {
    this.#req = req;
    this.#url = url;
    this.#body = UNREAD;
  }

  /** The real Request for `request` (built on first need); `new Request(request)` goes through it. */
  static real(request: LazyRequest): Request {
    return request.#materialize();
  }

  get method(): string {
    return (this.#method ??= normalizeMethod(this.#req.method));
  }

  get url(): string {
    return this.#url;
  }

  get headers(): Headers {
    if (this.#headers === null) {
      const fields = this.#req.headers;
      const headers = new GlobalHeaders();
      for (let i = 0; i < fields.size; i++) headers.append(fields.nameAt(i), fields.valueAt(i));
      this.#headers = headers;
    }
    return this.#headers;
  }

  get signal(): AbortSignal {
    return this.#req.signal;
  }

  get #hasBody(): boolean {
    const method = this.method;
    return method !== 'GET' && method !== 'HEAD';
  }

  get body(): ReadableStream<Uint8Array> | null {
    const use = this.#body;
    if (use.kind === 'real') return (this.#real as Request).body;
    if (use.kind === 'stream') return use.stream;
    if (!this.#hasBody || use.kind === 'read') return null;
    const stream = pullStream(this.#req, () => (this.#disturbed = true));
    this.#body = { kind: 'stream', stream };
    return stream;
  }

  get bodyUsed(): boolean {
    const use = this.#body;
    if (use.kind === 'real') return (this.#real as Request).bodyUsed;
    return use.kind === 'read' || (use.kind === 'stream' && this.#disturbed);
  }

  /** The whole body, read straight from the connection; or from the real request once there is one. */
  #bytes(): Promise<Uint8Array> | null {
    const use = this.#body;
    if (use.kind === 'read') return Promise.reject(unusable());
    if (use.kind !== 'unread') return null;
    if (!this.#hasBody) return Promise.resolve(EMPTY);
    this.#body = READ;
    return this.#req.body.bytes();
  }

  text(): Promise<string> {
    return this.#bytes()?.then((bytes) => utf8.decode(bytes)) ?? this.#viaReal((real) => real.text());
  }

  json(): Promise<unknown> {
    return this.#bytes()?.then((bytes) => JSON.parse(utf8.decode(bytes)) as unknown) ?? this.#viaReal((real) => real.json());
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return this.#bytes()?.then(ownArrayBuffer) ?? this.#viaReal((real) => real.arrayBuffer());
  }

  bytes(): Promise<Uint8Array> {
    return this.#bytes()?.then((bytes) => new Uint8Array(ownArrayBuffer(bytes))) ?? this.#viaReal((real) => real.arrayBuffer().then((buffer) => new Uint8Array(buffer)));
  }

  blob(): Promise<Blob> {
    return this.#bytes()?.then((bytes) => new Blob([bytes], { type: this.#req.headers.get('content-type')?.toLowerCase() ?? '' })) ?? this.#viaReal((real) => real.blob());
  }

  formData(): Promise<FormData> {
    if (this.#body.kind === 'read') return Promise.reject(unusable());
    return this.#viaReal((real) => real.formData());
  }

  /** A body reader of the real request; a failure to build it (the stream was read) is a rejection. */
  #viaReal<T>(read: (real: Request) => Promise<T>): Promise<T> {
    try {
      return read(this.#materialize());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  [Symbol.for('nodejs.util.inspect.custom')](): object {
    return { method: this.method, url: this.url, headers: Object.fromEntries(this.#req.headers), bodyUsed: this.bodyUsed };
  }

  clone(): Request {
    if (this.#body.kind === 'read' || (this.#body.kind === 'stream' && this.#disturbed)) throw unusable();
    return this.#materialize().clone();
  }

  /**
   * The real Request, built once: same method, URL, headers and signal; its body is this request's
   * stream (so the connection is still read on demand). A body already read leaves it without one.
   */
  #materialize(): Request {
    if (this.#real !== null) return this.#real;
    const use = this.#body;
    if (use.kind === 'stream' && (use.stream.locked || this.#disturbed)) throw unusable();
    const body = use.kind === 'read' ? null : this.body;
    const init: RequestInit & { duplex?: 'half' } = { method: this.method, headers: this.headers, signal: this.signal };
    if (body !== null) {
      init.body = body;
      init.duplex = 'half';
    }
    this.#real = new GlobalRequest(this.url, init);
    if (use.kind !== 'read') this.#body = REAL;
    return this.#real;
  }
}

/** A copy of the bytes in an ArrayBuffer of their own (the app may keep or transfer it). */
function ownArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

for (const [name, value] of Object.entries(FIXED_ATTRIBUTES)) {
  Object.defineProperty(LazyRequest.prototype, name, { get: () => value, configurable: true });
}

// Anything else a real Request has (present or future attributes) is read from the real one.
for (const name of Reflect.ownKeys(GlobalRequest.prototype)) {
  if (name === 'constructor' || Object.prototype.hasOwnProperty.call(LazyRequest.prototype, name)) continue;
  const descriptor = Object.getOwnPropertyDescriptor(GlobalRequest.prototype, name) as PropertyDescriptor;
  if (typeof descriptor.get === 'function') {
    Object.defineProperty(LazyRequest.prototype, name, {
      get(this: LazyRequest) {
        return Reflect.get(LazyRequest.real(this), name);
      },
      configurable: true,
    });
  } else if (typeof descriptor.value === 'function') {
    Object.defineProperty(LazyRequest.prototype, name, {
      value(this: LazyRequest, ...args: unknown[]) {
        const real = LazyRequest.real(this);
        return (Reflect.get(real, name) as (...a: unknown[]) => unknown).apply(real, args);
      },
      writable: true,
      configurable: true,
    });
  }
}
Object.setPrototypeOf(LazyRequest.prototype, GlobalRequest.prototype);

/**
 * The global `Request` while fetchHandler's globals are installed: the built-in class, except that
 * a lazy request given as input is replaced by its real one, and `instanceof` is true for every
 * request (built-in, lazy or this class's).
 */
export class RequestShim extends GlobalRequest {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return value instanceof GlobalRequest;
  }

  constructor(input: ConstructorParameters<typeof GlobalRequest>[0], init?: RequestInit) {
    super(input instanceof LazyRequest ? LazyRequest.real(input) : input, init);
  }
}
Object.defineProperty(RequestShim, 'name', { value: 'Request' });

export { GlobalRequest };
