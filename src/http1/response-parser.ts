/**
 * ResponseParser: bytes in, response events out (RFC 9112 §4–§7). Sans-I/O: no sockets, no timers.
 * The client-side twin of RequestParser, used by `holdfast inspect` to observe servers byte by byte.
 *
 * Contract:
 * - expectResponseTo(method) queues the method of each request sent, in order: a response to HEAD
 *   has no content (RFC 9110 §9.3.2), and a 2xx to CONNECT ends HTTP on the connection. A response
 *   that arrives with nothing queued is read as a response to GET.
 * - feed(bytes) appends; feedEof() records that the peer will send nothing more. feedBorrowed(buf, n)
 *   reads a caller's buffer in place (a socket's reusable read buffer) until release(), which copies
 *   what was not consumed; meanwhile `data` events carry copies.
 * - next() returns one event: `head`, `data` (a view of received bytes, valid as long as the caller
 *   keeps it), `end`, `need-data`, `paused` (a message ended; bytes that follow wait until
 *   nextCycle()), `eof` (the peer closed between messages), `switched` (after 101 or a 2xx to
 *   CONNECT the bytes that follow are not HTTP/1.1) or `error` (fatal; repeated forever).
 * - A 1xx other than 101 is interim (RFC 9110 §15.2): `head` (interim: true), `end`, and the final
 *   response to the same request follows.
 * - Framing per RFC 9112 §6.3: no content for HEAD, 1xx, 204 and 304 whatever the fields say;
 *   Transfer-Encoding whose final coding is chunked → chunked (decoded by ChunkedDecoder); another
 *   final coding → close-delimited; else Content-Length; else close-delimited (ends at EOF).
 * - Strict: Content-Length with Transfer-Encoding, Transfer-Encoding on HTTP/1.0 (§6.1), differing
 *   or non-digit Content-Lengths (§6.3 (5)), obs-fold, bare CR/LF, status codes outside 100–599
 *   (RFC 9110 §15) are errors. One leniency, as llhttp has it: a status line without the
 *   SP before an empty reason-phrase ("HTTP/1.1 200").
 * - The result never depends on how the bytes were split across feed() calls.
 */

import { appendBytes, copyRange } from './byte-window.js';
import { indexOfByte } from './bytes.js';
import { ChunkedDecoder, MAX_CHUNK_EXTENSION_BYTES } from './chunked.js';
import type { ProtocolErrorCode } from './errors.js';
import { parseFieldLine, simpleFieldLines } from './field-line.js';
import { isBodylessResponse, parseContentLengths, type HttpVersion } from './framing.js';
import { HeaderMap, TCHAR_CLASS, splitList } from './header-map.js';
import { latin1 } from './latin1.js';
import { reasonPhrase } from './serializer.js';

export type { HttpVersion } from './framing.js';

export interface ResponseParserLimits {
  /** Largest head: status line, fields and the empty line. Also bounds trailers. */
  maxHeaderBytes: number;
  /** Most field lines in the head (and in trailers). */
  maxHeaderCount: number;
  /** Longest chunk-size line, extensions included. */
  maxChunkLineBytes: number;
}

export const DEFAULT_RESPONSE_LIMITS: Readonly<ResponseParserLimits> = Object.freeze({
  maxHeaderBytes: 102_400, // curl: CURL_MAX_HTTP_HEADER 100 KiB
  maxHeaderCount: 1_000, // bounds memory; curl bounds the head by size only
  maxChunkLineBytes: 4_096, // the request parser's bound, as llhttp and Go
});

export type ReceivedFraming =
  | { kind: 'none' }
  | { kind: 'length'; length: number }
  | { kind: 'chunked' }
  | { kind: 'close-delimited' }
  | { kind: 'switched' };

export interface ResponseHead {
  version: HttpVersion;
  status: number;
  reason: string;
  headers: HeaderMap;
  framing: ReceivedFraming;
  /** Connection tokens, lower-cased (RFC 9110 §7.6.1). */
  connection: ReadonlySet<string>;
  /** A 1xx other than 101: the final response to the same request follows. */
  interim: boolean;
  /** The method this response answers, as queued with expectResponseTo(). */
  requestMethod: string;
}

export type ResponseErrorCode =
  | 'not-http'
  | 'bad-status-line'
  | 'bad-version'
  | 'unsupported-version'
  | 'bad-status-code'
  | 'header-section-too-large'
  | 'too-many-fields'
  | 'bad-field-name'
  | 'bad-field-value'
  | 'space-before-colon'
  | 'obs-fold'
  | 'bare-cr'
  | 'bare-lf'
  | 'content-length-and-transfer-encoding'
  | 'transfer-encoding-on-http10'
  | 'bad-transfer-encoding'
  | 'bad-content-length'
  | 'conflicting-content-length'
  | 'bad-chunk-size'
  | 'chunk-size-overflow'
  | 'bad-chunk-extension'
  | 'chunk-line-too-long'
  | 'chunk-extensions-too-large'
  | 'bad-chunk-terminator'
  | 'incomplete-message';

const DESCRIPTION: Record<ResponseErrorCode, string> = {
  'not-http': 'response does not start with "HTTP/"',
  'bad-status-line': 'malformed status line',
  'bad-version': 'malformed HTTP-version',
  'unsupported-version': 'HTTP version other than 1.0 and 1.1',
  'bad-status-code': 'status code outside 100–599',
  'header-section-too-large': 'header section exceeds the limit',
  'too-many-fields': 'too many header fields',
  'bad-field-name': 'invalid field name',
  'bad-field-value': 'invalid character in field value',
  'space-before-colon': 'whitespace between field name and colon',
  'obs-fold': 'obsolete line folding',
  'bare-cr': 'CR not followed by LF',
  'bare-lf': 'LF not preceded by CR',
  'content-length-and-transfer-encoding': 'both Content-Length and Transfer-Encoding',
  'transfer-encoding-on-http10': 'Transfer-Encoding in an HTTP/1.0 response',
  'bad-transfer-encoding': 'chunked applied more than once or not last',
  'bad-content-length': 'Content-Length is not a plain decimal number',
  'conflicting-content-length': 'differing Content-Length values',
  'bad-chunk-size': 'malformed chunk size',
  'chunk-size-overflow': 'chunk size too large',
  'bad-chunk-extension': 'malformed chunk extension',
  'chunk-line-too-long': 'chunk size line exceeds the limit',
  'chunk-extensions-too-large': 'chunk extensions exceed the limit for a body',
  'bad-chunk-terminator': 'chunk data not followed by CRLF',
  'incomplete-message': 'connection ended inside a response',
};

/** The server broke HTTP/1.x. The message never contains peer bytes. */
export class ResponseParseError extends Error {
  readonly code: ResponseErrorCode;

  constructor(code: ResponseErrorCode) {
    super(DESCRIPTION[code]);
    this.name = 'ResponseParseError';
    this.code = code;
  }
}

export type ResponseEvent =
  | { kind: 'head'; head: ResponseHead }
  | { kind: 'data'; bytes: Buffer }
  | { kind: 'end'; trailers: HeaderMap | null }
  | { kind: 'need-data' }
  | { kind: 'paused' }
  | { kind: 'eof' }
  | { kind: 'switched' }
  | { kind: 'error'; error: ResponseParseError };

type ReadState =
  | { kind: 'head' }
  | { kind: 'length-body'; remaining: number }
  | { kind: 'chunked-body'; decoder: ChunkedDecoder }
  | { kind: 'close-delimited-body' }
  | { kind: 'message-end'; trailers: HeaderMap | null; then: 'paused' | 'switched' }
  | { kind: 'paused' }
  | { kind: 'eof' }
  | { kind: 'switched' }
  | { kind: 'failed'; error: ResponseParseError };

const NEED_DATA: ResponseEvent = Object.freeze({ kind: 'need-data' });
const PAUSED: ResponseEvent = Object.freeze({ kind: 'paused' });
const EOF: ResponseEvent = Object.freeze({ kind: 'eof' });
const SWITCHED: ResponseEvent = Object.freeze({ kind: 'switched' });
const HEAD_STATE: ReadState = Object.freeze({ kind: 'head' });
const PAUSED_STATE: ReadState = Object.freeze({ kind: 'paused' });
const EOF_STATE: ReadState = Object.freeze({ kind: 'eof' });
const SWITCHED_STATE: ReadState = Object.freeze({ kind: 'switched' });
const CLOSE_DELIMITED_STATE: ReadState = Object.freeze({ kind: 'close-delimited-body' });

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const HTTP_SLASH = Buffer.from('HTTP/', 'latin1');
/**
 * The heads the fast path takes whole: status line and field lines of visible ASCII and SP only (no
 * HTAB, no obs-text), ending in an empty line. A strict subset of what the byte parser accepts, and
 * unambiguous (no backtracking): anything else, an incomplete head included, goes to the byte parser,
 * whose verdicts (errors too) are the reference.
 */
const SIMPLE_RESPONSE_HEAD = new RegExp(`HTTP/1\\.[01] [1-5][0-9][0-9](?: [\\x20-\\x7e]*)?\\r\\n(?:[${TCHAR_CLASS}]+:[\\x20-\\x7e]*\\r\\n)*\\r\\n`, 'y');
/**
 * The last simple head read (by any parser) and what it was read as: an upstream answers the same
 * head again and again but for its Date, once a second, so a head whose bytes start the window
 * again is taken as is (one comparison instead of a parse).
 */
let lastSimpleHead: { bytes: Buffer; version: HttpVersion; status: number; reason: string; fields: readonly string[] } | null = null;
/** `HTTP/1.1 200\r\n\r\n`: shorter windows cannot hold a head. */
const MIN_HEAD_BYTES = 16;
/** The fast path decodes at most this much of the window (larger heads take the byte parser). */
const FAST_WINDOW_BYTES = 2048;
const EMPTY_BUFFER = Buffer.alloc(0);

export class ResponseParser {
  readonly #limits: ResponseParserLimits;
  readonly #methods: string[] = [];
  #state: ReadState = HEAD_STATE;
  #buf: Buffer = EMPTY_BUFFER;
  #owned = false;
  /** #buf is the caller's, lent by feedBorrowed() until release(). */
  #borrowed = false;
  #pos = 0;
  #end = 0;
  #eof = false;
  /** Head scan progress, relative to #pos: where the current line starts, and the line bounds seen. */
  #lineStart = 0;
  #lineBounds: number[] = [];
  /** Entries of #lineBounds in use (the array is reused, never shrunk: setting length is slow). */
  #lineCount = 0;

  constructor(limits: ResponseParserLimits = DEFAULT_RESPONSE_LIMITS) {
    this.#limits = limits;
  }

  /** Queues the method of a request sent on this connection; responses are matched in order. */
  expectResponseTo(method: string): void {
    this.#methods.push(method === 'GET' || method === 'HEAD' || method === 'POST' ? method : method.toUpperCase());
  }

  /** Requests queued whose final response has not begun. */
  get pendingRequests(): number {
    return this.#methods.length;
  }

  /** Bytes received and not yet consumed by an event. */
  get bufferedBytes(): number {
    return this.#end - this.#pos;
  }

  /** True while a response has begun (bytes of its head or body were consumed or are buffered). */
  get isMidMessage(): boolean {
    const kind = this.#state.kind;
    if (kind === 'head') return this.#end > this.#pos;
    return kind === 'length-body' || kind === 'chunked-body' || kind === 'close-delimited-body' || kind === 'message-end';
  }

  feed(bytes: Uint8Array): void {
    if (this.#borrowed) throw new Error('feed() while a borrowed buffer is not released');
    const window = appendBytes({ buf: this.#buf, owned: this.#owned, pos: this.#pos, end: this.#end }, bytes);
    this.#buf = window.buf;
    this.#owned = window.owned;
    this.#pos = window.pos;
    this.#end = window.end;
  }

  /**
   * feed(bytes[0, length)) without copying when nothing is pending: the parser reads the caller's
   * buffer in place until release(), which must come before the caller reuses the buffer and before
   * the next feed. Returns false (nothing done) when bytes are pending: feed a copy instead.
   */
  feedBorrowed(bytes: Buffer, length: number): boolean {
    if (this.#pos !== this.#end || length === 0 || this.#borrowed) return false;
    this.#borrowed = true;
    this.#buf = bytes;
    this.#pos = 0;
    this.#end = length;
    return true;
  }

  /** Ends a feedBorrowed(): the bytes not yet consumed are copied into a buffer of the parser's own. */
  release(): void {
    if (!this.#borrowed) return;
    this.#borrowed = false;
    this.#owned = false;
    this.#buf = copyRange(this.#buf, this.#pos, this.#end);
    this.#end -= this.#pos;
    this.#pos = 0;
  }

  feedEof(): void {
    this.#eof = true;
  }

  /**
   * The bytes received and not consumed, copied out (after `switched`: the first bytes of the new
   * protocol); the parser holds none afterwards.
   */
  takeBuffered(): Buffer {
    const taken = Buffer.from(this.#buf.subarray(this.#pos, this.#end));
    this.#pos = this.#end;
    return taken;
  }

  /** After `paused`: start on the next response (its bytes may already be buffered). */
  nextCycle(): void {
    if (this.#state.kind !== 'paused') throw new Error('nextCycle() called while a response is in progress');
    this.#state = HEAD_STATE;
    this.#lineStart = 0;
    this.#lineCount = 0;
  }

  next(): ResponseEvent {
    const state = this.#state;
    switch (state.kind) {
      case 'head':
        return this.#readHead();
      case 'length-body': {
        if (this.#pos === this.#end) return this.#eof ? this.#fail('incomplete-message') : NEED_DATA;
        const take = Math.min(state.remaining, this.#end - this.#pos);
        const bytes = this.#view(this.#pos, this.#pos + take);
        this.#pos += take;
        state.remaining -= take;
        if (state.remaining === 0) this.#state = { kind: 'message-end', trailers: null, then: 'paused' };
        return { kind: 'data', bytes };
      }
      case 'chunked-body': {
        const step = state.decoder.step(this.#buf, this.#pos, this.#end);
        this.#pos = state.decoder.position;
        switch (step.kind) {
          case 'data':
            return { kind: 'data', bytes: this.#view(step.start, step.end) };
          case 'need-data':
            return this.#eof ? this.#fail('incomplete-message') : NEED_DATA;
          case 'end':
            this.#state = PAUSED_STATE;
            return { kind: 'end', trailers: step.trailers };
          case 'error':
            return this.#fail(fromSharedCode(step.code));
        }
      }
      case 'close-delimited-body': {
        if (this.#pos < this.#end) {
          const bytes = this.#view(this.#pos, this.#end);
          this.#pos = this.#end;
          return { kind: 'data', bytes };
        }
        if (!this.#eof) return NEED_DATA;
        this.#state = PAUSED_STATE;
        return { kind: 'end', trailers: null };
      }
      case 'message-end':
        this.#state = state.then === 'switched' ? SWITCHED_STATE : PAUSED_STATE;
        return { kind: 'end', trailers: state.trailers };
      case 'paused':
        return PAUSED;
      case 'eof':
        return EOF;
      case 'switched':
        return SWITCHED;
      case 'failed':
        return { kind: 'error', error: state.error };
    }
  }

  /** Received bytes for a `data` event: a view, or a copy while the buffer is borrowed. */
  #view(start: number, end: number): Buffer {
    return this.#borrowed ? copyRange(this.#buf, start, end) : this.#buf.subarray(start, end);
  }

  #fail(code: ResponseErrorCode): ResponseEvent {
    const error = new ResponseParseError(code);
    this.#state = { kind: 'failed', error };
    return { kind: 'error', error };
  }

  #readHead(): ResponseEvent {
    const buf = this.#buf;
    const base = this.#pos;
    const limits = this.#limits;
    if (this.#lineCount === 0) {
      const prefixEnd = Math.min(this.#end, base + HTTP_SLASH.length);
      for (let i = base; i < prefixEnd; i++) if (buf[i] !== HTTP_SLASH[i - base]) return this.#fail('not-http');
      if (this.#lineStart === 0) {
        const simple = this.#simpleHead(base);
        if (simple !== null) return simple;
      }
    }
    for (;;) {
      const cap = limits.maxHeaderBytes;
      const windowEnd = Math.min(this.#end, base + cap);
      const from = base + this.#lineStart;
      const lf = from < windowEnd ? indexOfByte(buf, LF, from, windowEnd) : -1;
      if (lf === -1) {
        if (this.#end - base >= cap) return this.#fail('header-section-too-large');
        if (!this.#eof) return NEED_DATA;
        if (this.#end === base) {
          this.#state = EOF_STATE;
          return EOF;
        }
        return this.#fail('incomplete-message');
      }
      if (lf === from || buf[lf - 1] !== CR) return this.#fail('bare-lf');
      const lineEnd = lf - 1 - base;
      if (lineEnd === this.#lineStart) {
        if (this.#lineCount === 0) return this.#fail('bad-status-line');
        return this.#completeHead(base, lf + 1);
      }
      const count = this.#lineCount;
      if (count / 2 > limits.maxHeaderCount) return this.#fail('too-many-fields');
      this.#lineBounds[count] = this.#lineStart;
      this.#lineBounds[count + 1] = lineEnd;
      this.#lineCount = count + 2;
      this.#lineStart = lf + 1 - base;
    }
  }

  #completeHead(base: number, headEnd: number): ResponseEvent {
    const buf = this.#buf;
    const bounds = this.#lineBounds;
    const lineStart = base + bounds[0];
    const lineEnd = base + bounds[1];

    // Status line: HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4).
    for (let i = lineStart; i < lineEnd; i++) if (buf[i] === CR) return this.#fail('bare-cr');
    const versionEnd = lineStart + 8;
    const version = lineEnd < versionEnd ? 'bad' : parseVersion(buf, lineStart);
    if (version === 'bad') return this.#fail('bad-version');
    if (version === 'other') return this.#fail('unsupported-version');
    if (lineEnd < versionEnd + 4 || buf[versionEnd] !== SP) return this.#fail('bad-status-line');
    let status = 0;
    for (let i = versionEnd + 1; i < versionEnd + 4; i++) {
      const digit = buf[i] - 0x30;
      if (digit < 0 || digit > 9) return this.#fail('bad-status-line');
      status = status * 10 + digit;
    }
    if (status < 100 || status > 599) return this.#fail('bad-status-code');
    const afterStatus = versionEnd + 4;
    if (afterStatus < lineEnd && buf[afterStatus] !== SP) return this.#fail('bad-status-line');
    for (let i = afterStatus + 1; i < lineEnd; i++) {
      const c = buf[i];
      if ((c < SP && c !== HTAB) || c === 0x7f) return this.#fail('bad-status-line');
    }
    const reason = afterStatus < lineEnd ? reasonAt(buf, afterStatus + 1, lineEnd, status) : '';

    // Field lines (RFC 9112 §5).
    const headers = new HeaderMap();
    const boundsEnd = this.#lineCount;
    for (let k = 2; k < boundsEnd; k += 2) {
      const error = parseFieldLine(buf, base + bounds[k], base + bounds[k + 1], headers);
      if (error !== null) return this.#fail(fromSharedCode(error));
    }
    return this.#finishHead(version, status, reason, headers, headEnd);
  }

  /**
   * The whole head at `base` when it is a simple one (SIMPLE_RESPONSE_HEAD) and complete within the
   * limits, read with one decode and a regular expression instead of byte by byte; null otherwise
   * (nothing changed: the byte parser takes over). Produces exactly the head the byte parser would.
   */
  #simpleHead(base: number): ResponseEvent | null {
    const limits = this.#limits;
    const windowEnd = Math.min(this.#end, base + Math.min(FAST_WINDOW_BYTES, limits.maxHeaderBytes));
    if (windowEnd - base < MIN_HEAD_BYTES) return null;
    const last = lastSimpleHead;
    if (last !== null) {
      const length = last.bytes.length;
      if (windowEnd - base >= length && this.#buf.compare(last.bytes, 0, length, base, base + length) === 0) {
        return this.#finishHead(last.version, last.status, last.reason, new HeaderMap(last.fields.slice()), base + length);
      }
    }
    const text = latin1(this.#buf, base, windowEnd);
    const re = SIMPLE_RESPONSE_HEAD;
    re.lastIndex = 0;
    if (!re.test(text)) return null;
    const end = re.lastIndex;
    const version: HttpVersion = text.charCodeAt(7) === 0x31 ? '1.1' : '1.0';
    const status = (text.charCodeAt(9) - 0x30) * 100 + (text.charCodeAt(10) - 0x30) * 10 + (text.charCodeAt(11) - 0x30);
    const statusLineEnd = text.indexOf('\r', 12);
    const reason = statusLineEnd > 12 ? reasonIn(text, 13, statusLineEnd, status) : '';
    const fields = simpleFieldLines(text, statusLineEnd + 2, end - 2, this.#buf, base, limits.maxHeaderCount);
    if (fields === null) return null;
    lastSimpleHead = { bytes: Buffer.from(this.#buf.subarray(base, base + end)), version, status, reason, fields: fields.slice() };
    return this.#finishHead(version, status, reason, new HeaderMap(fields), base + end);
  }

  /** A head read: the framing (RFC 9112 §6.3) and the state for its body; the `head` event. */
  #finishHead(version: HttpVersion, status: number, reason: string, headers: HeaderMap, headEnd: number): ResponseEvent {
    let contentLengths: string[] | null = null;
    let transferEncodings: string[] | null = null;
    let connection: string[] | null = null;
    for (let i = 0; i < headers.size; i++) {
      const name = headers.nameAt(i);
      if (name === 'content-length') (contentLengths ??= []).push(headers.valueAt(i));
      else if (name === 'transfer-encoding') (transferEncodings ??= []).push(headers.valueAt(i));
      else if (name === 'connection') (connection ??= []).push(headers.valueAt(i));
    }
    const interim = status < 200 && status !== 101;
    const requestMethod = this.#methods[0] ?? 'GET';
    if (!interim) this.#methods.shift();
    const framing = decideReceivedFraming(requestMethod, status, version, contentLengths ?? NO_LINES, transferEncodings ?? NO_LINES);
    if (typeof framing === 'string') return this.#fail(framing);

    this.#pos = headEnd;
    this.#lineStart = 0;
    this.#lineCount = 0;
    switch (framing.kind) {
      case 'none':
        this.#state = { kind: 'message-end', trailers: null, then: 'paused' };
        break;
      case 'switched':
        this.#state = { kind: 'message-end', trailers: null, then: 'switched' };
        break;
      case 'length':
        this.#state = framing.length === 0 ? { kind: 'message-end', trailers: null, then: 'paused' } : { kind: 'length-body', remaining: framing.length };
        break;
      case 'chunked':
        this.#state = {
          kind: 'chunked-body',
          decoder: new ChunkedDecoder({
            maxChunkLineBytes: this.#limits.maxChunkLineBytes,
            maxTrailerBytes: this.#limits.maxHeaderBytes,
            maxTrailerCount: this.#limits.maxHeaderCount,
            maxExtensionBytes: MAX_CHUNK_EXTENSION_BYTES,
          }),
        };
        break;
      case 'close-delimited':
        this.#state = CLOSE_DELIMITED_STATE;
        break;
    }
    return {
      kind: 'head',
      head: { version, status, reason, headers, framing, connection: connectionTokens(connection), interim, requestMethod },
    };
  }
}

/** The chunked decoder and the field-line parser share the request side's codes; each one they return is also a ResponseErrorCode. */
function fromSharedCode(code: ProtocolErrorCode): ResponseErrorCode {
  return Object.hasOwn(DESCRIPTION, code) ? (code as ResponseErrorCode) : 'bad-field-value';
}

const NO_LINES: readonly string[] = Object.freeze([]);
const NO_TOKENS: ReadonlySet<string> = new Set();
/** Connection token sets by field value, for heads with one Connection line (the same few recur). */
const TOKEN_SETS = new Map<string, ReadonlySet<string>>();

/** The lower-cased tokens of the Connection lines (RFC 9110 §7.6.1), empty elements dropped; shared, never to be changed. */
function connectionTokens(lines: string[] | null): ReadonlySet<string> {
  if (lines === null) return NO_TOKENS;
  if (lines.length === 1) {
    const known = TOKEN_SETS.get(lines[0]);
    if (known !== undefined) return known;
  }
  const tokens = new Set<string>();
  for (const line of lines) for (const element of splitList(line)) if (element !== '') tokens.add(element);
  if (lines.length === 1 && lines[0].length <= 64) {
    if (TOKEN_SETS.size >= 256) TOKEN_SETS.clear();
    TOKEN_SETS.set(lines[0], tokens);
  }
  return tokens;
}

/** The reason-phrase in `buf[start, end)`: the standard one's constant string when it is that (RFC 9110 §15). */
function reasonAt(buf: Buffer, start: number, end: number, status: number): string {
  const standard = reasonPhrase(status);
  if (standard.length === end - start) {
    let i = 0;
    while (i < standard.length && standard.charCodeAt(i) === buf[start + i]) i++;
    if (i === standard.length) return standard;
  }
  return latin1(buf, start, end);
}

/** The same for `text[start, end)`. */
function reasonIn(text: string, start: number, end: number, status: number): string {
  const standard = reasonPhrase(status);
  return end - start === standard.length && text.startsWith(standard, start) ? standard : text.slice(start, end);
}

/** `HTTP/d.d` at `start` → '1.0' | '1.1' | 'other' (well-formed, another version) | 'bad'. */
function parseVersion(buf: Buffer, start: number): HttpVersion | 'other' | 'bad' {
  for (let i = 0; i < HTTP_SLASH.length; i++) if (buf[start + i] !== HTTP_SLASH[i]) return 'bad';
  if (buf[start + 6] !== 0x2e) return 'bad';
  const major = buf[start + 5] - 0x30;
  const minor = buf[start + 7] - 0x30;
  if (major < 0 || major > 9 || minor < 0 || minor > 9) return 'bad';
  if (major === 1 && minor === 1) return '1.1';
  if (major === 1 && minor === 0) return '1.0';
  return 'other';
}

/**
 * How a received response's content is delimited (RFC 9112 §6.3), in the order of its rules:
 * (1) HEAD, 1xx, 204, 304 → none; 101 → switched; (2) 2xx to CONNECT → switched (a tunnel);
 * (3) Transfer-Encoding with Content-Length → error, as the rule advises; Transfer-Encoding in
 * HTTP/1.0 → error (§6.1); (4) final coding chunked → chunked, else close-delimited;
 * (5) invalid Content-Length → error; (6) Content-Length → length; (7) close-delimited.
 */
export function decideReceivedFraming(
  requestMethod: string,
  status: number,
  version: HttpVersion,
  contentLengths: readonly string[],
  transferEncodings: readonly string[],
): ReceivedFraming | ResponseErrorCode {
  if (status === 101) return { kind: 'switched' };
  if (isBodylessResponse(requestMethod, status)) return { kind: 'none' };
  if (requestMethod === 'CONNECT' && status < 300) return { kind: 'switched' };
  if (transferEncodings.length > 0) {
    if (contentLengths.length > 0) return 'content-length-and-transfer-encoding';
    if (version === '1.0') return 'transfer-encoding-on-http10';
    const codings: string[] = [];
    for (const line of transferEncodings) for (const coding of splitList(line)) if (coding !== '') codings.push(coding); // RFC 9110 §5.6.1.2
    const chunkedAt = codings.indexOf('chunked');
    if (chunkedAt === codings.length - 1) return { kind: 'chunked' };
    if (chunkedAt !== -1) return 'bad-transfer-encoding'; // RFC 9112 §7.1: chunked once, and last
    return { kind: 'close-delimited' };
  }
  if (contentLengths.length > 0) {
    // RFC 9110 §8.6: identical values (a list or repeated lines) are one length in a response.
    const parsed = parseContentLengths(contentLengths);
    if (typeof parsed === 'string') return parsed;
    return { kind: 'length', length: parsed.length };
  }
  return { kind: 'close-delimited' };
}

export interface KeepAliveParameters {
  /** `timeout=` in seconds, or null when absent or not a number. */
  timeoutSeconds: number | null;
  /** `max=`, or null when absent or not a number. */
  max: number | null;
}

/**
 * The `Keep-Alive` field (RFC 2068 §19.7.1.1; RFC 9110 §7.6.1 lists it among connection-specific
 * fields): comma-separated `name=value` parameters, names case-insensitive, values optionally quoted.
 * A semicolon separates them too (`timeout=5; max=100`, as some servers write it): the field is only
 * a hint, read leniently (undici finds `timeout=` anywhere in the field).
 */
export function parseKeepAliveParameters(value: string): KeepAliveParameters {
  const result: KeepAliveParameters = { timeoutSeconds: null, max: null };
  for (const element of value.split(/[,;]/)) {
    const equals = element.indexOf('=');
    if (equals === -1) continue;
    const name = element.slice(0, equals).trim().toLowerCase();
    let text = element.slice(equals + 1).trim();
    if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) text = text.slice(1, -1);
    if (!/^[0-9]{1,9}$/.test(text)) continue;
    const number = Number(text);
    if (name === 'timeout' && result.timeoutSeconds === null) result.timeoutSeconds = number;
    else if (name === 'max' && result.max === null) result.max = number;
  }
  return result;
}
