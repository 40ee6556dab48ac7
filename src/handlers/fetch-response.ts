/**
 * Responses from fetch-style apps and how they become holdfast HttpResponses.
 *
 * `LightResponse` is installed as the global `Response` by fetchHandler (as @hono/node-server does
 * by default): a `new Response('hi', init)` there keeps its status, its fields (checked and
 * normalised as a `Headers` would, once) and its body as given, so the server sends them without
 * building the built-in Response and its stream. Anything only a real Response has (`body`,
 * `text()`, `clone()`…) builds the real one on first use; bodies the fast path does not know
 * (FormData, URLSearchParams) make a real one at once. `instanceof Response` holds both ways.
 *
 * toHttpResponse: status; fields with lower-case names, each `Set-Cookie` on a line of its own;
 * body as null, string or bytes when known, else streamed from the ReadableStream (a Blob's with
 * its size as Content-Length) — one chunk read per write (backpressure), the reader cancelled when
 * the connection is gone (not on a client's mere FIN), an error mid-stream aborts the connection. The core
 * owns framing and persistence: a Content-Length the app sets frames a stream, and Connection,
 * Keep-Alive and Transfer-Encoding are dropped (src/http1/serializer.ts).
 */

import { isToken } from '../http1/header-map.js';
import { watchAbandoned } from '../server/request.js';
import type { HttpRequest, HttpResponse } from './types.js';

const GlobalResponse = globalThis.Response;
const GlobalHeaders = globalThis.Headers;

type BodyInit = ConstructorParameters<typeof GlobalResponse>[0];

/** Response fields: lower-case names, values joined with ", " (RFC 9110 §5.3), Set-Cookie lines kept apart. */
export type Fields = Record<string, string | string[]>;

/** The Content-Type Fetch gives a string body (Fetch "extract a body"). */
const TEXT_TYPE = 'text/plain;charset=UTF-8';
const JSON_TYPE = 'application/json';
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const DONE: IteratorResult<Uint8Array> = Object.freeze({ done: true, value: undefined });
const ignore = (): void => undefined;

/** A header value as Fetch normalises it (leading and trailing HTTP whitespace removed), or TypeError. */
function fieldValue(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  let start = 0;
  let end = text.length;
  while (start < end && isHttpWhitespace(text.charCodeAt(start))) start++;
  while (end > start && isHttpWhitespace(text.charCodeAt(end - 1))) end--;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 0 || c === 0x0a || c === 0x0d || c > 0xff) throw new TypeError(`invalid header value ${JSON.stringify(text)}`);
  }
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

function isHttpWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** Header names as given and their lower-case forms, checked once each (the same few names recur). */
const NAMES = new Map<string, string>();
const MAX_NAMES = 1024;

function lowerName(name: string): string {
  let lower = NAMES.get(name);
  if (lower === undefined) {
    if (!isToken(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}`);
    lower = name.toLowerCase();
    if (NAMES.size >= MAX_NAMES) NAMES.clear();
    NAMES.set(name, lower);
  }
  return lower;
}

/**
 * Fields live in a plain object (fast properties: the serializer walks it with for…in); the two
 * lower-case names Object.prototype also has are read and written as own properties only.
 */
function fieldOf(fields: Fields, key: string): string | string[] | undefined {
  return key === 'constructor' || key === '__proto__' ? (Object.hasOwn(fields, key) ? fields[key] : undefined) : fields[key];
}

function setField(fields: Fields, key: string, value: string | string[]): void {
  if (key === '__proto__') Object.defineProperty(fields, key, { value, writable: true, enumerable: true, configurable: true });
  else fields[key] = value;
}

function addField(fields: Fields, name: string, value: unknown): void {
  const key = lowerName(name);
  const text = fieldValue(value);
  const existing = fieldOf(fields, key);
  if (key === 'set-cookie') {
    if (existing === undefined) fields[key] = [text];
    else (existing as string[]).push(text);
  } else {
    setField(fields, key, existing === undefined ? text : `${existing as string}, ${text}`);
  }
}

/** The fields of a `Headers` (already checked and lower-cased). */
function fieldsOfHeaders(headers: Headers): Fields {
  const fields: Fields = {};
  for (const [name, value] of headers) {
    if (name === 'set-cookie') {
      const lines = fields[name];
      if (lines === undefined) fields[name] = [value];
      else (lines as string[]).push(value);
    } else {
      setField(fields, name, value);
    }
  }
  return fields;
}

/** The fields of any HeadersInit, checked as `new Headers(init)` would; TypeError otherwise. */
function fieldsOf(init: unknown): Fields {
  if (init instanceof GlobalHeaders) return fieldsOfHeaders(init);
  const fields: Fields = {};
  if (init === undefined || init === null) return fields;
  if (typeof init !== 'object') throw new TypeError('headers must be a Headers, an array of pairs or a record');
  if (typeof (init as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const pair of init as Iterable<unknown>) {
      const entry = Array.from(pair as Iterable<unknown>);
      if (entry.length !== 2) throw new TypeError('a header pair must have two items');
      addField(fields, String(entry[0]), entry[1]);
    }
    return fields;
  }
  for (const name of Object.keys(init)) addField(fields, name, (init as Record<string, unknown>)[name]);
  return fields;
}

/** Fields as the pairs of a HeadersInit: each Set-Cookie a pair of its own (a record would join them). */
function pairsOf(fields: Fields): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const name of Object.keys(fields)) {
    const value = fields[name];
    if (typeof value === 'string') pairs.push([name, value]);
    else for (const line of value) pairs.push([name, line]);
  }
  return pairs;
}

/** The bodies the fast path keeps as given (bytes copied, as Fetch copies them). */
type LightBody = null | string | Uint8Array | ReadableStream<Uint8Array> | Blob;

/** Statuses whose responses have no body (Fetch "null body status"). */
function isNullBodyStatus(status: number): boolean {
  return status === 204 || status === 205 || status === 304;
}

/** `body` as the fast path keeps it, or undefined when only a real Response can take it. */
function lightBody(body: unknown): LightBody | undefined {
  if (body === undefined || body === null) return null;
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array || ArrayBuffer.isView(body)) {
    const view = body as ArrayBufferView;
    return Buffer.from(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  }
  if (body instanceof ArrayBuffer) return Buffer.from(new Uint8Array(body));
  if (body instanceof ReadableStream) {
    if (body.locked) throw new TypeError('Response body object should not be disturbed or locked');
    return body as ReadableStream<Uint8Array>;
  }
  if (body instanceof Blob) return body;
  return undefined;
}

interface Init {
  status?: unknown;
  statusText?: unknown;
  headers?: unknown;
}

export class LightResponse {
  /** Null once the response is a real one throughout (built from a body or init the fast path does not take). */
  #fields: Fields | null = null;
  #status = 200;
  #body: LightBody = null;
  /** Built when the app asks for `headers`; from then on the fields come from it. */
  #headers: Headers | null = null;
  #real: Response | null = null;

  constructor(body?: BodyInit | null, init?: ResponseInit) {
    const given = init as Init | undefined;
    const status = given?.status;
    const statusText = given?.statusText;
    const kept = lightBody(body);
    if (
      kept === undefined ||
      (given !== undefined && (given === null || typeof given !== 'object')) ||
      (status !== undefined && !(Number.isInteger(status) && (status as number) >= 200 && (status as number) <= 599)) ||
      (statusText !== undefined && statusText !== '')
    ) {
      this.#real = new GlobalResponse(body, init);
      return;
    }
    const code = (status as number | undefined) ?? 200;
    if (kept !== null && isNullBodyStatus(code)) throw new TypeError(`Response constructor: Invalid response status code ${code}`);
    const fields = fieldsOf(given?.headers);
    if (fields['content-type'] === undefined) {
      if (typeof kept === 'string') fields['content-type'] = TEXT_TYPE;
      else if (kept instanceof Blob && kept.type !== '') fields['content-type'] = kept.type;
    }
    this.#fields = fields;
    this.#status = code;
    this.#body = kept;
  }

  static json(data: unknown, init?: ResponseInit): Response {
    const text = JSON.stringify(data);
    if (text === undefined) throw new TypeError('Response.json: the value is not JSON serializable');
    const fields = fieldsOf((init as Init | undefined)?.headers);
    if (fields['content-type'] === undefined) fields['content-type'] = JSON_TYPE;
    return new LightResponse(text, { status: init?.status, statusText: init?.statusText, headers: pairsOf(fields) }) as unknown as Response;
  }

  static redirect(url: string | URL, status = 302): Response {
    if (!REDIRECT_STATUSES.has(status)) throw new RangeError(`Response.redirect: invalid status ${status}`);
    return new LightResponse(null, { status, headers: { location: new URL(url).href } }) as unknown as Response;
  }

  /** True for a LightResponse (`instanceof` is true for every Response). */
  static isLight(value: object): value is LightResponse {
    return #fields in value;
  }

  /** The real Response: built on first need from the status, fields and body. */
  #materialize(): Response {
    if (this.#real === null) {
      const body = this.#body;
      this.#real = new GlobalResponse(body as BodyInit | null, { status: this.#status, headers: this.headers });
    }
    return this.#real;
  }

  get status(): number {
    return this.#fields === null ? (this.#real as Response).status : this.#status;
  }

  get ok(): boolean {
    const status = this.status;
    return status >= 200 && status <= 299;
  }

  get statusText(): string {
    return this.#fields === null ? (this.#real as Response).statusText : '';
  }

  get headers(): Headers {
    if (this.#fields === null) return (this.#real as Response).headers;
    return (this.#headers ??= new GlobalHeaders(pairsOf(this.#fields)));
  }

  get type(): Response['type'] {
    return this.#fields === null ? (this.#real as Response).type : 'default';
  }

  get url(): string {
    return this.#fields === null ? (this.#real as Response).url : '';
  }

  get redirected(): boolean {
    return this.#fields === null ? (this.#real as Response).redirected : false;
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.#real === null && this.#body === null) return null;
    return this.#materialize().body;
  }

  get bodyUsed(): boolean {
    return this.#real === null ? false : this.#real.bodyUsed;
  }

  text(): Promise<string> {
    return this.#materialize().text();
  }

  json(): Promise<unknown> {
    return this.#materialize().json();
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return this.#materialize().arrayBuffer();
  }

  blob(): Promise<Blob> {
    return this.#materialize().blob();
  }

  formData(): Promise<FormData> {
    return this.#materialize().formData();
  }

  bytes(): Promise<Uint8Array> {
    return this.#materialize().arrayBuffer().then((buffer) => new Uint8Array(buffer));
  }

  clone(): Response {
    return this.#materialize().clone();
  }

  [Symbol.for('nodejs.util.inspect.custom')](): object {
    return this.#fields === null ? { real: this.#real } : { status: this.#status, headers: this.#headers ?? this.#fields, body: this.#body };
  }

  /**
   * The HttpResponse for `response`. A kept body is sent as is (a further send of the same object
   * sends it again, where a real Response would refuse); a real one's body is streamed.
   */
  static toHttp(response: LightResponse, req: HttpRequest): HttpResponse {
    const fields = response.#fields;
    const real = response.#real;
    if (fields === null) return fromReal(real as Response, req);
    const status = response.#status;
    const headers = response.#headers === null ? fields : fieldsOfHeaders(response.#headers);
    if (real !== null) return { status, headers, body: real.body === null ? null : streamBody(real, req) };
    const body = response.#body;
    if (body === null || typeof body === 'string' || body instanceof Uint8Array) return { status, headers, body };
    if (body instanceof Blob) {
      if (headers['content-length'] === undefined) headers['content-length'] = String(body.size);
      return { status, headers, body: new StreamBody(body.stream() as ReadableStream<Uint8Array>, req) };
    }
    return { status, headers, body: new StreamBody(body, req) };
  }
}
Object.setPrototypeOf(LightResponse, GlobalResponse);
Object.setPrototypeOf(LightResponse.prototype, GlobalResponse.prototype);
Object.defineProperty(LightResponse, 'name', { value: 'Response' });
Object.defineProperty(LightResponse, Symbol.hasInstance, { value: (value: unknown): boolean => value instanceof GlobalResponse });

/** A real Response as an HttpResponse: its status and fields, its body streamed. */
function fromReal(response: Response, req: HttpRequest): HttpResponse {
  if (response.type === 'error') throw new TypeError('the fetch handler answered with Response.error()');
  return { status: response.status, headers: fieldsOfHeaders(response.headers), body: response.body === null ? null : streamBody(response, req) };
}

function streamBody(response: Response, req: HttpRequest): StreamBody {
  if (response.bodyUsed) throw new TypeError('the response body was already read');
  return new StreamBody(response.body as ReadableStream<Uint8Array>, req);
}

/** The HttpResponse for what a fetch app answered; TypeError when it is not a Response. */
export function toHttpResponse(response: unknown, req: HttpRequest): HttpResponse {
  if (response !== null && typeof response === 'object') {
    if (LightResponse.isLight(response)) return LightResponse.toHttp(response, req);
    if (response instanceof GlobalResponse) return fromReal(response, req);
  }
  throw new TypeError(`the fetch handler must answer with a Response, not ${response === null ? 'null' : typeof response}`);
}

/**
 * A response ReadableStream as the AsyncIterable the core writes: one read per chunk written. When
 * the response can no longer be delivered (the connection closed, was reset or is closing:
 * watchAbandoned) the reader is cancelled and the next read fails, so the core never ends the body
 * as if it were complete. A client's FIN after its request is not that: the body is still sent
 * (as a native handler's is; nginx and Go keep sending too), though `request.signal` aborts. A
 * request this server did not build falls back to its signal. `destroy()` cancels a stream that
 * will not be sent (HEAD, 304, an abandoned exchange).
 */
class StreamBody implements AsyncIterable<Uint8Array> {
  readonly #stream: ReadableStream<Uint8Array>;
  readonly #req: HttpRequest;
  #reader: ReadableStreamDefaultReader<Uint8Array> | null = null;

  constructor(stream: ReadableStream<Uint8Array>, req: HttpRequest) {
    this.#stream = stream;
    this.#req = req;
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    const reader = (this.#reader = this.#stream.getReader());
    const req = this.#req;
    let gone = false;
    const cancel = (): void => {
      gone = true;
      reader.cancel(new Error('the response could not be delivered: the connection is gone')).catch(ignore);
    };
    let release = ignore;
    const watching = watchAbandoned(req, { responseAbandoned: cancel });
    if (watching === 'watching') release = () => watchAbandoned(req, null);
    else if (watching === 'gone' || req.signal.aborted) cancel();
    else {
      const signal = req.signal;
      signal.addEventListener('abort', cancel);
      release = () => signal.removeEventListener('abort', cancel);
    }
    return {
      next: () =>
        reader.read().then(
          (result) => {
            if (gone) {
              release();
              throw new Error('the client went away before the response was sent');
            }
            if (result.done === true) {
              release();
              return DONE;
            }
            if (!(result.value instanceof Uint8Array)) {
              release();
              const error = new TypeError('a response stream chunk must be a Uint8Array');
              reader.cancel(error).catch(ignore);
              throw error;
            }
            return result;
          },
          (error: unknown) => {
            release();
            throw error;
          },
        ),
      return: () => {
        release();
        return reader.cancel().then(
          () => DONE,
          () => DONE,
        );
      },
    };
  }

  destroy(): void {
    const closing = this.#reader === null ? (this.#stream.locked ? null : this.#stream.cancel()) : this.#reader.cancel();
    closing?.catch(ignore);
  }
}
