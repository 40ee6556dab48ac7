/**
 * Response head serialization (RFC 9112 §4, §6; RFC 9110 §6.6.1 Date).
 *
 * The status line uses the server's configured version. The framing fields (Content-Length,
 * Transfer-Encoding) and the persistence fields (Connection, Keep-Alive) are the server's: the
 * handler's copies are dropped. `Date` is cached per second; `Server: holdfast` unless the handler
 * sets its own. The status must be three digits (RFC 9112 §4 `status-code = 3DIGIT`; Go's net/http
 * checks 100–999 likewise), handler field names tokens and values free of CR, LF and NUL, or the
 * serializer throws (header injection is a handler bug, answered with 500). A frozen headers object
 * with plain values is serialized once and its text reused (it cannot change).
 */

import { isFieldValue, isToken, splitList } from './header-map.js';
import type { HttpVersion } from './framing.js';

export type ResponseHeaders = Record<string, string | number | readonly string[] | undefined>;

export interface ResponseHeadInit {
  version: HttpVersion;
  status: number;
  headers: ResponseHeaders | undefined;
  /** Emit `Content-Length` with this value, or none when null. */
  contentLength: number | null;
  chunked: boolean;
  connection: 'keep-alive' | 'close' | 'upgrade' | null;
  keepAlive: string | null;
  date: string;
}

export class InvalidResponseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidResponseError';
  }
}

const REASONS: Record<number, string> = {
  100: 'Continue', 101: 'Switching Protocols', 103: 'Early Hints',
  200: 'OK', 201: 'Created', 202: 'Accepted', 203: 'Non-Authoritative Information', 204: 'No Content',
  205: 'Reset Content', 206: 'Partial Content',
  300: 'Multiple Choices', 301: 'Moved Permanently', 302: 'Found', 303: 'See Other', 304: 'Not Modified',
  307: 'Temporary Redirect', 308: 'Permanent Redirect',
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  406: 'Not Acceptable', 408: 'Request Timeout', 409: 'Conflict', 410: 'Gone', 411: 'Length Required',
  412: 'Precondition Failed', 413: 'Content Too Large', 414: 'URI Too Long', 415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable', 417: 'Expectation Failed', 421: 'Misdirected Request', 422: 'Unprocessable Content',
  426: 'Upgrade Required', 428: 'Precondition Required', 429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable',
  504: 'Gateway Timeout', 505: 'HTTP Version Not Supported',
};

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? '';
}

/** Field names the server owns or fills in itself. */
const SERVER_OWNED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length']);

let cachedDateSecond = -1;
let cachedDate = '';
let cachedDateServerLines = '';

/** IMF-fixdate for `nowMs`, computed at most once per second (RFC 9110 §5.6.7). */
export function httpDate(nowMs: number): string {
  const second = Math.floor(nowMs / 1000);
  if (second !== cachedDateSecond) {
    cachedDateSecond = second;
    cachedDate = new Date(second * 1000).toUTCString();
    cachedDateServerLines = `Date: ${cachedDate}\r\nServer: holdfast\r\n`;
  }
  return cachedDate;
}

/** Status lines by version and code, built once each (`HTTP/1.1 200 OK\r\n`). */
const STATUS_LINES = new Map<number, string>();

function statusLine(version: HttpVersion, status: number): string {
  const key = version === '1.1' ? status : -status;
  let line = STATUS_LINES.get(key);
  if (line === undefined) {
    line = `HTTP/${version} ${status} ${reasonPhrase(status)}\r\n`;
    STATUS_LINES.set(key, line);
  }
  return line;
}

/** The persistence fields and the empty line that ends the head, by Keep-Alive value (few recur). */
const KEEP_ALIVE_TAILS = new Map<string, string>();
const CLOSE_TAIL = 'Connection: close\r\n\r\n';
let lastKeepAlive = '';
let lastKeepAliveTail = '';

function persistenceTail(connection: 'keep-alive' | 'close' | 'upgrade' | null, keepAlive: string | null): string {
  if (connection === 'close' && keepAlive === null) return CLOSE_TAIL;
  if (connection === 'keep-alive' && keepAlive !== null) {
    if (keepAlive === lastKeepAlive) return lastKeepAliveTail;
    let tail = KEEP_ALIVE_TAILS.get(keepAlive);
    if (tail === undefined) {
      tail = `Connection: keep-alive\r\nKeep-Alive: ${keepAlive}\r\n\r\n`;
      if (KEEP_ALIVE_TAILS.size < 4096) KEEP_ALIVE_TAILS.set(keepAlive, tail);
    }
    lastKeepAlive = keepAlive;
    lastKeepAliveTail = tail;
    return tail;
  }
  let tail = '';
  if (connection !== null) tail += `Connection: ${connection}\r\n`;
  if (keepAlive !== null) tail += `Keep-Alive: ${keepAlive}\r\n`;
  return tail + '\r\n';
}

/**
 * What the serializer knows about one response field name, kept per name (the same few names
 * recur): checked once, and the line for the value it last had, so a repeated
 * `content-type: text/plain` costs a comparison.
 */
class FieldName {
  readonly name: string;
  readonly owned: boolean;
  readonly date: boolean;
  readonly server: boolean;
  readonly contentLength: boolean;
  readonly connection: boolean;
  #lastValue: string | null = null;
  #lastLine = '';

  constructor(name: string) {
    if (!isToken(name)) throw new InvalidResponseError('response header name is not a token');
    const lower = name.toLowerCase();
    this.name = name;
    this.owned = SERVER_OWNED.has(lower);
    this.date = lower === 'date';
    this.server = lower === 'server';
    this.contentLength = lower === 'content-length';
    this.connection = lower === 'connection';
  }

  line(value: string): string {
    if (value === this.#lastValue) return this.#lastLine;
    const line = headerLine(this.name, value);
    this.#lastValue = value;
    this.#lastLine = line;
    return line;
  }
}

const FIELD_NAMES = new Map<string, FieldName>();

function fieldName(name: string): FieldName {
  let field = FIELD_NAMES.get(name);
  if (field === undefined) {
    field = new FieldName(name);
    if (FIELD_NAMES.size >= 1024) FIELD_NAMES.clear();
    FIELD_NAMES.set(name, field);
  }
  return field;
}

/**
 * What a handler's headers object comes to, from one pass over it: its own lines, serialized and
 * checked; whether it set Date and Server; and the two fields the connection acts on, its
 * Content-Length (a decimal number, else the response is invalid) and whether it asked for
 * `Connection: close`.
 */
export interface HeaderBlock {
  text: string;
  hasDate: boolean;
  hasServer: boolean;
  declaredLength: number | null;
  connectionClose: boolean;
}

export const NO_HEADERS: HeaderBlock = Object.freeze({ text: '', hasDate: false, hasServer: false, declaredLength: null, connectionClose: false });

/**
 * True when `headers` cannot change: frozen, no getters, and every value a string, a number or a
 * frozen array of them. Only such objects are cached by identity (checked once, when cached).
 */
export function isImmutableHeaders(headers: ResponseHeaders): boolean {
  if (!Object.isFrozen(headers)) return false;
  // Fields are read with for…in, which also sees inherited ones: only a plain prototype is fixed.
  const proto: unknown = Object.getPrototypeOf(headers);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const descriptor of Object.values(Object.getOwnPropertyDescriptors(headers))) {
    if (!('value' in descriptor)) return false;
    const value: unknown = descriptor.value;
    if (value === undefined || typeof value === 'string' || typeof value === 'number') continue;
    if (!Array.isArray(value) || !Object.isFrozen(value)) return false;
  }
  return true;
}

/**
 * `derive(headers)`, computed once per immutable headers object and kept in `cache` (a static
 * file's frozen headers, say); computed afresh for any other object.
 */
export function derivedOnce<T>(cache: WeakMap<ResponseHeaders, T>, headers: ResponseHeaders, derive: (headers: ResponseHeaders) => T): T {
  if (!Object.isFrozen(headers)) return derive(headers);
  const known = cache.get(headers);
  if (known !== undefined) return known;
  const derived = derive(headers);
  if (isImmutableHeaders(headers)) cache.set(headers, derived);
  return derived;
}

const HEADER_BLOCKS = new WeakMap<ResponseHeaders, HeaderBlock>();

/** The headers object's HeaderBlock (computed once for an immutable object); throws InvalidResponseError. */
export function headerBlock(headers: ResponseHeaders | undefined): HeaderBlock {
  return headers === undefined ? NO_HEADERS : derivedOnce(HEADER_BLOCKS, headers, buildHeaderBlock);
}

function buildHeaderBlock(headers: ResponseHeaders): HeaderBlock {
  let text = '';
  let hasDate = false;
  let hasServer = false;
  let declaredLength: number | null = null;
  let connectionClose = false;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    const field = fieldName(name);
    if (field.owned) {
      if (field.contentLength) {
        const length = String(value);
        if (!/^\d{1,15}$/.test(length)) throw new InvalidResponseError('response Content-Length must be a decimal number');
        declaredLength = Number(length);
      } else if (field.connection) {
        const lines = Array.isArray(value) ? value : [String(value)];
        for (const line of lines) if (splitList(line).includes('close')) connectionClose = true;
      }
      continue;
    }
    if (field.date) hasDate = true;
    else if (field.server) hasServer = true;
    if (typeof value === 'string') {
      text += field.line(value);
    } else if (typeof value === 'number') {
      text += field.line(String(value));
    } else {
      for (const item of value) text += field.line(item);
    }
  }
  return { text, hasDate, hasServer, declaredLength, connectionClose };
}

/** `Content-Length: n\r\n` for the length last asked for (the same size recurs). */
let lastLength = -1;
let lastLengthLine = '';

function contentLengthLine(length: number): string {
  if (length !== lastLength) {
    lastLength = length;
    lastLengthLine = `Content-Length: ${length}\r\n`;
  }
  return lastLengthLine;
}

/**
 * The last head built and the parts it was built from: the same response again (a hello, a cached
 * file, within the same second) reuses it. The first reuse flattens it, so a batch of identical
 * heads is a rope of a few leaves, cheap to write.
 */
let lastStatusLine = '';
let lastBlockText = '';
let lastDateLines = '';
let lastContentLength: number | null = null;
let lastChunked = false;
let lastTail = '';
let lastHead = '';
let lastHeadFlat = false;

/** One contiguous copy of `text` (V8 builds `a + b` as a tree of pieces, walked on every write). */
export function flatten(text: string): string {
  return text.length < 13 ? text : Buffer.from(text, 'latin1').toString('latin1');
}

/** The head for `init`; `block` is headerBlock(init.headers), passed when the caller has it already. */
export function serializeResponseHead(init: ResponseHeadInit, block: HeaderBlock = headerBlock(init.headers)): string {
  const status = init.status;
  if (!Number.isInteger(status) || status < 100 || status > 999) {
    throw new InvalidResponseError('response status is not three digits');
  }
  const line = statusLine(init.version, status);
  let dateLines: string;
  if (!block.hasDate && !block.hasServer && init.date === cachedDate) dateLines = cachedDateServerLines;
  else dateLines = (block.hasDate ? '' : `Date: ${init.date}\r\n`) + (block.hasServer ? '' : 'Server: holdfast\r\n');
  const contentLength = init.contentLength;
  const chunked = init.chunked;
  const tail = persistenceTail(init.connection, init.keepAlive);
  if (line === lastStatusLine && block.text === lastBlockText && dateLines === lastDateLines && contentLength === lastContentLength && chunked === lastChunked && tail === lastTail) {
    if (!lastHeadFlat) {
      lastHead = flatten(lastHead);
      lastHeadFlat = true;
    }
    return lastHead;
  }
  let head = line + block.text + dateLines;
  if (contentLength !== null) head += contentLengthLine(contentLength);
  if (chunked) head += 'Transfer-Encoding: chunked\r\n';
  head += tail;
  lastStatusLine = line;
  lastBlockText = block.text;
  lastDateLines = dateLines;
  lastContentLength = contentLength;
  lastChunked = chunked;
  lastTail = tail;
  lastHead = head;
  lastHeadFlat = false;
  return head;
}

let lastJoinHead = '';
let lastJoinBody = '';
let lastJoined = '';
let lastJoinedFlat = false;

/** `head + body` for a small text body, reusing (and on first reuse flattening) the last such join. */
export function joinHeadAndBody(head: string, body: string): string {
  if (head === lastJoinHead && body === lastJoinBody) {
    if (!lastJoinedFlat) {
      lastJoined = flatten(lastJoined);
      lastJoinedFlat = true;
    }
    return lastJoined;
  }
  const joined = head + body;
  if (joined.length <= 16_384) {
    lastJoinHead = head;
    lastJoinBody = body;
    lastJoined = joined;
    lastJoinedFlat = false;
  }
  return joined;
}

function headerLine(name: string, value: string): string {
  if (!isFieldValue(value)) throw new InvalidResponseError(`response header ${name} has an invalid value`);
  return `${name}: ${value}\r\n`;
}

/** Never sent in a trailer section: framing and routing (RFC 9110 §6.5.1) and the connection's own fields. */
const NOT_IN_TRAILERS = new Set([...SERVER_OWNED, 'host', 'trailer', 'te', 'upgrade', 'proxy-connection']);

/**
 * The last chunk of a chunked body with its trailer section (RFC 9112 §7.1.2): `0 CRLF`, the
 * fields, the empty line. Fields a trailer may not carry (framing, Host, the connection-specific
 * ones) are dropped, as the head drops the handler's framing fields; names must be tokens and
 * values free of CR, LF and NUL, or it throws.
 */
export function lastChunkWithTrailers(trailers: ResponseHeaders): string {
  let text = '0\r\n';
  for (const name in trailers) {
    const value = trailers[name];
    if (value === undefined) continue;
    if (!isToken(name)) throw new InvalidResponseError('trailer field name is not a token');
    if (NOT_IN_TRAILERS.has(name.toLowerCase())) continue;
    if (typeof value === 'string') text += headerLine(name, value);
    else if (typeof value === 'number') text += headerLine(name, String(value));
    else for (const item of value) text += headerLine(name, item);
  }
  return text + '\r\n';
}

/** `HTTP/1.1 100 Continue` (RFC 9110 §15.2.1). */
export const CONTINUE_HEAD = 'HTTP/1.1 100 Continue\r\n\r\n';

/**
 * A request head (RFC 9112 §3, §5): `method SP request-target SP HTTP/1.1`, then the field lines,
 * given as names and values interleaved (`[name0, value0, name1, value1, …]`), then the empty line.
 * The method must be a token, the target free of whitespace and controls, names tokens and values
 * free of CR, LF and NUL, or it throws (a request head must never carry injected lines).
 */
export function serializeRequestHead(method: string, target: string, fields: readonly string[]): string {
  if (!isToken(method)) throw new InvalidResponseError('request method is not a token');
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || c > 0xff) throw new InvalidResponseError('request-target has whitespace or control characters');
  }
  if (target.length === 0) throw new InvalidResponseError('request-target is empty');
  let head = `${method} ${target} HTTP/1.1\r\n`;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i];
    if (!isToken(name)) throw new InvalidResponseError('request header name is not a token');
    head += headerLine(name, fields[i + 1]);
  }
  return head + '\r\n';
}
