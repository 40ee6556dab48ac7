/**
 * RequestParser: bytes in, request events out (RFC 9112 §2–§7). Sans-I/O: no sockets, no timers.
 *
 * Contract:
 * - feed(bytes) appends; feedEof() records that the peer will send nothing more.
 * - next() returns one event: `head`, `data` (a view of received bytes, valid as long as the
 *   caller keeps it), `end`, `need-data`, `paused` (a message ended; pipelined bytes wait until
 *   nextCycle()), `eof` (the peer closed between messages) or `error` (fatal; repeated forever).
 * - The result never depends on how the bytes were split across feed() calls.
 * - Strict: see ./errors.ts for every rejection and its status. Limits are checked on the
 *   bytes of the message only, so a verdict is the same however the input was split.
 */

import { latin1 } from './latin1.js';
import { appendBytes, copyRange } from './byte-window.js';
import { ChunkedDecoder, MAX_CHUNK_EXTENSION_BYTES } from './chunked.js';
import { ProtocolError, type ProtocolErrorCode } from './errors.js';
import { parseFieldLine, simpleFieldLines } from './field-line.js';
import { decideRequestFraming, type BodyFraming, type HttpVersion } from './framing.js';
import { HeaderMap, TCHAR_CLASS, TOKEN_CHARS, splitList } from './header-map.js';
import { internMethod, methodIn, recentTargetValue } from './interned.js';
import { indexOfByte } from './bytes.js';

export type { BodyFraming, HttpVersion } from './framing.js';

export interface ParserLimits {
  /** Longest request line, CRLF excluded → 414. */
  maxRequestLineBytes: number;
  /** Largest head: request line, fields and the empty line → 431. Also bounds trailers. */
  maxHeaderBytes: number;
  /** Most field lines in the head (and in trailers) → 431. */
  maxHeaderCount: number;
  /** Largest body; 0 = unlimited → 413. */
  maxBodyBytes: number;
}

export type TargetForm = 'origin' | 'absolute' | 'asterisk';

export interface RequestHead {
  method: string;
  target: string;
  targetForm: TargetForm;
  version: HttpVersion;
  headers: HeaderMap;
  framing: BodyFraming;
  /** Connection tokens, lower-cased (RFC 9110 §7.6.1). */
  connection: ReadonlySet<string>;
  /** `Expect: 100-continue` on an HTTP/1.1 request (RFC 9110 §10.1.1). */
  expectContinue: boolean;
}

export type ParserEvent =
  | { kind: 'head'; head: RequestHead }
  | { kind: 'data'; bytes: Buffer }
  | { kind: 'end'; trailers: HeaderMap | null }
  | { kind: 'need-data' }
  | { kind: 'paused' }
  | { kind: 'eof' }
  | { kind: 'error'; error: ProtocolError };

type ReadState =
  | { kind: 'head' }
  | { kind: 'length-body'; remaining: number }
  | { kind: 'chunked-body'; decoder: ChunkedDecoder; bodyBytes: number; overLimit: boolean }
  | { kind: 'message-end'; trailers: HeaderMap | null }
  | { kind: 'paused' }
  | { kind: 'eof' }
  | { kind: 'failed'; error: ProtocolError };

const EMPTY_BUFFER = Buffer.alloc(0);
const NO_TOKENS: ReadonlySet<string> = new Set<string>();
/** A Connection field that is exactly one common token, as clients send it → its token set. */
const SINGLE_TOKEN_SETS: ReadonlyMap<string, ReadonlySet<string>> = (() => {
  const keepAlive: ReadonlySet<string> = new Set(['keep-alive']);
  const close: ReadonlySet<string> = new Set(['close']);
  return new Map([
    ['keep-alive', keepAlive],
    ['Keep-Alive', keepAlive],
    ['close', close],
    ['Close', close],
  ]);
})();
const NO_LINES: readonly string[] = Object.freeze([]);
/** Framing of a request without Content-Length or Transfer-Encoding (what decideRequestFraming returns for it). */
const NO_BODY_FRAMING = decideRequestFraming('1.1', NO_LINES, NO_LINES) as BodyFraming;
const NEED_DATA: ParserEvent = Object.freeze({ kind: 'need-data' });
const PAUSED: ParserEvent = Object.freeze({ kind: 'paused' });
const EOF: ParserEvent = Object.freeze({ kind: 'eof' });
const HEAD_STATE: ReadState = Object.freeze({ kind: 'head' });
const PAUSED_STATE: ReadState = Object.freeze({ kind: 'paused' });
const NO_TRAILERS_END: ReadState = Object.freeze({ kind: 'message-end', trailers: null });

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;

/** RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line. */
const MAX_LEADING_EMPTY_LINES = 8;
/**
 * The heads the fast path takes whole: request line and field lines of visible ASCII and SP only (no
 * HTAB, no obs-text, no leading empty line, only TARGET_CHAR in the target), ending in an empty line. A strict
 * subset of what the byte-by-byte parser accepts, and unambiguous (no backtracking): anything else,
 * an incomplete head included, goes to the byte parser, whose verdicts (errors too) are the reference.
 */
/** Visible ASCII but `#` and what RFC 3986 never allows in a URI: `"` `<` `>` `\` `^` `` ` `` `{` `|` `}`. */
const TARGET_CHAR = '[\\x21\\x24-\\x3b\\x3d\\x3f-\\x5b\\x5d\\x5f\\x61-\\x7a\\x7e]';
const SIMPLE_HEAD = new RegExp(`[${TCHAR_CLASS}]+ ${TARGET_CHAR}+ HTTP/1\\.[01]\\r\\n(?:[${TCHAR_CLASS}]+:[\\x20-\\x7e]*\\r\\n)*\\r\\n`, 'y');
/** The fast path decodes at most this much of the receive window at a time (larger heads take the byte parser). */
const FAST_WINDOW_BYTES = 4096;

/** Longest chunk-size line with extensions; llhttp and Go bound it likewise. */
const MAX_CHUNK_LINE_BYTES = 4096;

export class RequestParser {
  readonly #limits: ParserLimits;
  #state: ReadState = HEAD_STATE;
  #buf: Buffer = EMPTY_BUFFER;
  #owned = false;
  /** #buf is the caller's, lent by feedBorrowed() until release(): body views handed out are copies. */
  #borrowed = false;
  #pos = 0;
  #end = 0;
  #eof = false;
  /** Head scan progress, relative to #pos: where the current line starts, and the line ends seen. */
  #lineStart = 0;
  #lineBounds: number[] = [];
  /** Entries of #lineBounds in use (the array is reused, never shrunk: setting length is slow). */
  #lineCount = 0;
  #leadingEmptyLines = 0;
  /** The request line, once parsed (valid while #lineCount > 0). */
  #method = '';
  #target = '';
  #targetForm: TargetForm = 'origin';
  #version: HttpVersion = '1.1';
  /** Fast path: `buf[#textFrom, #textFrom + #text.length)` decoded once (dropped on feed). */
  #text = '';
  #textFrom = 0;

  constructor(limits: ParserLimits) {
    this.#limits = limits;
  }

  /** Bytes received and not yet consumed by an event. */
  get bufferedBytes(): number {
    return this.#end - this.#pos;
  }

  /** True while a message has begun (bytes of its head or body were consumed or are buffered). */
  get isMidMessage(): boolean {
    const kind = this.#state.kind;
    if (kind === 'head') return this.#end > this.#pos;
    return kind === 'length-body' || kind === 'chunked-body' || kind === 'message-end';
  }

  /**
   * True when every byte of the current message's body has been received (consumed or buffered).
   * For chunked bodies that is known only once decoded, so unread chunked bytes count as missing.
   */
  get bodyFullyReceived(): boolean {
    const state = this.#state;
    switch (state.kind) {
      case 'length-body':
        return state.remaining <= this.#end - this.#pos;
      case 'chunked-body':
        return state.decoder.isDone;
      case 'head':
        return false;
      default:
        return true;
    }
  }

  /**
   * The message whose head is being read, or whose head failed, was sent with the method HEAD (its
   * request line starts `HEAD `), so an error answer to it carries no body (RFC 9110 §9.3.2; nginx
   * does the same even when the rest of the line is invalid). Meaningless once a head was parsed.
   */
  get isHeadRequest(): boolean {
    const buf = this.#buf;
    const p = this.#pos;
    return this.#end - p >= 5 && buf[p] === 0x48 && buf[p + 1] === 0x45 && buf[p + 2] === 0x41 && buf[p + 3] === 0x44 && buf[p + 4] === SP;
  }

  /** Between messages with nothing received and no EOF: indistinguishable from a new parser. */
  get isPristine(): boolean {
    return this.#state === HEAD_STATE && this.#pos === this.#end && !this.#eof && this.#lineStart === 0 && this.#lineCount === 0 && this.#leadingEmptyLines === 0;
  }

  feed(bytes: Uint8Array): void {
    if (this.#borrowed) throw new Error('feed() while a borrowed buffer is not released');
    const window = appendBytes({ buf: this.#buf, owned: this.#owned, pos: this.#pos, end: this.#end }, bytes);
    this.#buf = window.buf;
    this.#owned = window.owned;
    this.#pos = window.pos;
    this.#end = window.end;
    this.#text = '';
  }

  /**
   * Like feed(bytes[0, length)) for an empty window, without copying: the parser reads the caller's
   * buffer in place until release(), which the caller must call before it reuses the buffer (and
   * before the next feed). Body `data` events meanwhile carry copies. Returns false (nothing done)
   * unless the window is empty; the caller then copies and feeds.
   */
  feedBorrowed(bytes: Buffer, length: number): boolean {
    if (this.#pos !== this.#end || length === 0) return false;
    this.#buf = bytes;
    this.#owned = false;
    this.#borrowed = true;
    this.#pos = 0;
    this.#end = length;
    this.#text = '';
    return true;
  }

  /** Ends a feedBorrowed(): bytes not yet consumed are copied into a buffer of the parser's own. */
  release(): void {
    if (!this.#borrowed) return;
    this.#borrowed = false;
    this.#buf = copyRange(this.#buf, this.#pos, this.#end);
    this.#end -= this.#pos;
    this.#pos = 0;
    this.#text = '';
  }

  feedEof(): void {
    this.#eof = true;
  }

  /**
   * The bytes received and not yet consumed, in a buffer of their own; the parser then holds none.
   * For a connection leaving HTTP (an upgrade, RFC 9110 §7.8): what follows the head is the new
   * protocol's.
   */
  takeBuffered(): Buffer {
    const taken = Buffer.from(this.#buf.subarray(this.#pos, this.#end));
    this.#pos = this.#end;
    this.#text = '';
    return taken;
  }

  /** After `paused`: start on the next message (pipelined bytes may already be buffered). */
  nextCycle(): void {
    if (this.#state.kind !== 'paused') throw new Error('nextCycle() called while a message is in progress');
    this.#state = HEAD_STATE;
    if (this.#pos === this.#end) {
      // Nothing pipelined: let go of the last chunk so an idle connection holds no buffer.
      this.#buf = EMPTY_BUFFER;
      this.#owned = false;
      this.#borrowed = false;
      this.#pos = 0;
      this.#end = 0;
      this.#text = '';
    }
    this.#lineStart = 0;
    this.#lineCount = 0;
    this.#leadingEmptyLines = 0;
  }

  next(): ParserEvent {
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
        if (state.remaining === 0) this.#state = NO_TRAILERS_END;
        return { kind: 'data', bytes };
      }
      case 'chunked-body': {
        if (state.overLimit) return this.#fail('body-too-large');
        const step = state.decoder.step(this.#buf, this.#pos, this.#end);
        this.#pos = state.decoder.position;
        switch (step.kind) {
          case 'data': {
            const max = this.#limits.maxBodyBytes;
            let end = step.end;
            if (max > 0 && state.bodyBytes + (end - step.start) > max) {
              // Deliver exactly the allowed bytes, then fail: the events do not depend on splits.
              if (state.bodyBytes === max) return this.#fail('body-too-large');
              end = step.start + (max - state.bodyBytes);
              state.overLimit = true;
            }
            state.bodyBytes += end - step.start;
            return { kind: 'data', bytes: this.#view(step.start, end) };
          }
          case 'need-data':
            return this.#eof ? this.#fail('incomplete-message') : NEED_DATA;
          case 'end':
            this.#state = PAUSED_STATE;
            return { kind: 'end', trailers: step.trailers };
          case 'error':
            return this.#fail(step.code);
        }
      }
      case 'message-end':
        this.#state = PAUSED_STATE;
        return { kind: 'end', trailers: state.trailers };
      case 'paused':
        return PAUSED;
      case 'eof':
        return EOF;
      case 'failed':
        return { kind: 'error', error: state.error };
    }
  }

  /** Received bytes for a `data` event: a view, or a copy while the buffer is borrowed. */
  #view(start: number, end: number): Buffer {
    return this.#borrowed ? copyRange(this.#buf, start, end) : this.#buf.subarray(start, end);
  }

  #fail(code: ProtocolErrorCode): ParserEvent {
    const error = new ProtocolError(code);
    this.#state = { kind: 'failed', error };
    return { kind: 'error', error };
  }

  #readHead(): ParserEvent {
    const buf = this.#buf;
    if (this.#lineCount === 0 && this.#lineStart === 0) {
      while (this.#pos < this.#end && (buf[this.#pos] === CR || buf[this.#pos] === LF)) {
        if (buf[this.#pos] === LF) return this.#fail('bare-lf');
        if (this.#pos + 1 === this.#end) break;
        if (buf[this.#pos + 1] !== LF) return this.#fail('bare-cr');
        if (++this.#leadingEmptyLines > MAX_LEADING_EMPTY_LINES) return this.#fail('bad-request-line');
        this.#pos += 2;
      }
    }
    const base = this.#pos;
    if (this.#lineCount === 0 && this.#lineStart === 0 && base < this.#end && TOKEN_CHARS[buf[base]] === 1) {
      const head = this.#simpleHead(base);
      if (head !== null) return head;
    }
    const limits = this.#limits;
    for (;;) {
      const onRequestLine = this.#lineCount === 0;
      const cap = onRequestLine ? Math.min(limits.maxRequestLineBytes + 2, limits.maxHeaderBytes) : limits.maxHeaderBytes;
      const windowEnd = Math.min(this.#end, base + cap);
      const from = base + this.#lineStart;
      const lf = indexOfByte(buf, LF, from, windowEnd);
      if (lf === -1) {
        if (onRequestLine) {
          const early = this.#checkMethodPrefix(base, windowEnd);
          if (early !== null) return this.#fail(early);
        }
        if (this.#end - base >= cap) {
          return this.#fail(onRequestLine && cap === limits.maxRequestLineBytes + 2 ? 'request-line-too-long' : 'header-section-too-large');
        }
        if (!this.#eof) return NEED_DATA;
        if (this.#end === base && this.#lineCount === 0) {
          this.#state = { kind: 'eof' };
          return EOF;
        }
        return this.#fail('incomplete-message');
      }
      if (onRequestLine) {
        // The same early verdict a byte-by-byte feed would have reached before this LF arrived.
        const early = this.#checkMethodPrefix(base, lf);
        if (early !== null) return this.#fail(early);
      }
      if (lf === from || buf[lf - 1] !== CR) return this.#fail('bare-lf');
      const lineEnd = lf - 1 - base;
      if (lineEnd === this.#lineStart) {
        if (onRequestLine) return this.#fail('bad-request-line');
        return this.#completeHead(base, lf + 1);
      }
      if (onRequestLine) {
        const error = this.#parseRequestLine(base, base + lineEnd);
        if (error !== null) return this.#fail(error);
      } else if (this.#lineCount / 2 > limits.maxHeaderCount) {
        return this.#fail('too-many-fields');
      }
      this.#lineBounds[this.#lineCount++] = this.#lineStart;
      this.#lineBounds[this.#lineCount++] = lineEnd;
      this.#lineStart = lf + 1 - base;
    }
  }

  /** Request line: method SP request-target SP HTTP-version (RFC 9112 §3), checked as soon as it is complete. */
  #parseRequestLine(lineStart: number, lineEnd: number): ProtocolErrorCode | null {
    const buf = this.#buf;
    let i = lineStart;
    while (i < lineEnd && TOKEN_CHARS[buf[i]] === 1) i++;
    if (i === lineStart) return buf[i] === SP ? 'bad-request-line' : 'bad-method';
    if (i === lineEnd || buf[i] !== SP) return i === lineEnd ? 'bad-request-line' : buf[i] === CR ? 'bare-cr' : 'bad-method';
    const method = internMethod(buf, lineStart, i);
    const targetStart = ++i;
    while (i < lineEnd && buf[i] > SP && buf[i] < 0x7f) i++;
    if (i === targetStart || i === lineEnd || buf[i] !== SP) {
      if (i < lineEnd && buf[i] === CR) return 'bare-cr';
      return i === targetStart || i === lineEnd ? 'bad-request-line' : 'bad-target';
    }
    const targetEnd = i;
    const version = parseVersion(buf, i + 1, lineEnd);
    if (version !== '1.0' && version !== '1.1') {
      return version === 'other' ? 'unsupported-version' : version === 'bare-cr' ? 'bare-cr' : 'bad-version';
    }
    if (method === 'CONNECT') return 'connect-not-supported';
    const target = recentTargetValue(buf, targetStart, targetEnd);
    const targetForm = classifyTarget(target, method);
    if (!isTargetForm(targetForm)) return targetForm;
    this.#method = method;
    this.#target = target;
    this.#targetForm = targetForm;
    this.#version = version;
    return null;
  }

  /**
   * While the request line is incomplete: a byte that cannot belong to a method fails at once
   * (e.g. a TLS handshake on the plain port) instead of waiting for a timeout. CR and LF are left
   * to the line scan, so the verdict matches the one for the complete line.
   */
  #checkMethodPrefix(base: number, windowEnd: number): ProtocolErrorCode | null {
    const buf = this.#buf;
    let i = base;
    while (i < windowEnd && TOKEN_CHARS[buf[i]] === 1) i++;
    if (i === windowEnd) return null;
    const c = buf[i];
    if (c === CR || c === LF) return null;
    if (c === SP) return i === base ? 'bad-request-line' : null;
    return 'bad-method';
  }

  /**
   * The whole head at `base` when it is a simple one (SIMPLE_HEAD) and complete within the limits,
   * read with one decode and a regular expression instead of byte by byte; null otherwise (nothing
   * changed: the byte parser takes over). Produces exactly the head the byte parser would.
   */
  #simpleHead(base: number): ParserEvent | null {
    const limits = this.#limits;
    const windowEnd = Math.min(this.#end, base + Math.min(FAST_WINDOW_BYTES, limits.maxHeaderBytes));
    let text = this.#text;
    let from = this.#textFrom;
    const re = SIMPLE_HEAD;
    if (base < from || base >= from + text.length) {
      text = latin1(this.#buf, base, windowEnd);
      from = base;
      this.#text = text;
      this.#textFrom = base;
    }
    re.lastIndex = base - from;
    if (!re.test(text)) {
      if (from === base || from + text.length >= windowEnd) return null;
      // The decoded text may end before this head does: decode from here and try once more.
      text = latin1(this.#buf, base, windowEnd);
      from = base;
      this.#text = text;
      this.#textFrom = base;
      re.lastIndex = 0;
      if (!re.test(text)) return null;
    }
    const start = base - from;
    const end = re.lastIndex;
    if (end - start > limits.maxHeaderBytes) return null;
    let sp1 = start + 1;
    while (text.charCodeAt(sp1) !== SP) sp1++;
    const sp2 = text.indexOf(' ', sp1 + 1);
    // `HTTP/1.x` follows the second space; the line's CR comes after it.
    if (sp2 + 9 - start > limits.maxRequestLineBytes) return null;
    const method = methodIn(text, start, sp1);
    if (method === 'CONNECT') return null;
    const target = text.slice(sp1 + 1, sp2);
    // SIMPLE_HEAD admits no `#`: a target starting with `/` is in origin-form.
    const targetForm = target.charCodeAt(0) === 0x2f ? 'origin' : classifyTarget(target, method);
    if (!isTargetForm(targetForm)) return null;
    const version: HttpVersion = text.charCodeAt(sp2 + 8) === 0x31 ? '1.1' : '1.0';
    const fields = simpleFieldLines(text, sp2 + 11, end - 2, this.#buf, from, limits.maxHeaderCount);
    if (fields === null) return null;
    const headers = new HeaderMap(fields);
    return this.#finishHead(headers, method, target, targetForm, version, from + end);
  }

  #completeHead(base: number, headEnd: number): ParserEvent {
    const buf = this.#buf;
    const bounds = this.#lineBounds;
    const method = this.#method;
    const target = this.#target;
    const targetForm = this.#targetForm;
    const version = this.#version;
    this.#target = '';

    // Field lines (RFC 9112 §5).
    const headers = new HeaderMap();
    for (let k = 2, count = this.#lineCount; k < count; k += 2) {
      const error = parseFieldLine(buf, base + bounds[k], base + bounds[k + 1], headers);
      if (error !== null) return this.#fail(error);
    }
    return this.#finishHead(headers, method, target, targetForm, version, headEnd);
  }

  /** The checks on a head's fields (RFC 9112 §3.2, §6; RFC 9110 §7.6.1, §10.1.1), then the body state. */
  #finishHead(headers: HeaderMap, method: string, target: string, targetForm: TargetForm, version: HttpVersion, headEnd: number): ParserEvent {
    // One pass for the fields the parser acts on; most requests carry none but Host.
    let hostCount = 0;
    let host = '';
    let framingFields = false;
    let expect: string | undefined;
    let connectionLine: string | null = null;
    let connectionLines = 0;
    for (let i = 0, size = headers.size; i < size; i++) {
      const name = headers.nameAt(i);
      if (name === 'host') {
        hostCount++;
        host = headers.valueAt(i);
      } else if (name === 'content-length' || name === 'transfer-encoding') {
        framingFields = true;
      } else if (name === 'expect') {
        expect = expect === undefined ? headers.valueAt(i) : `${expect}, ${headers.valueAt(i)}`;
      } else if (name === 'connection') {
        connectionLines++;
        connectionLine = headers.valueAt(i);
      }
    }

    // Host (RFC 9112 §3.2): exactly one in HTTP/1.1, at most one in HTTP/1.0, and a valid value.
    if (hostCount > 1) return this.#fail('duplicate-host');
    if (hostCount === 0 && version === '1.1') return this.#fail('missing-host');
    if (hostCount === 1 && !isValidHost(host)) return this.#fail('bad-field-value');

    let framing = NO_BODY_FRAMING;
    if (framingFields) {
      const decided = decideRequestFraming(version, headers.getAll('content-length'), headers.getAll('transfer-encoding'));
      if (typeof decided === 'string') return this.#fail(decided);
      framing = decided;
      if (framing.kind === 'length' && this.#limits.maxBodyBytes > 0 && framing.length > this.#limits.maxBodyBytes) {
        return this.#fail('body-too-large');
      }
    }

    let expectContinue = false;
    if (expect !== undefined && version === '1.1') {
      // RFC 9110 §10.1.1: 100-continue is the only expectation; an HTTP/1.0 request's is ignored.
      if (expect.toLowerCase() !== '100-continue') return this.#fail('unsupported-expectation');
      expectContinue = framing.kind !== 'none';
    }

    let connection: ReadonlySet<string> = NO_TOKENS;
    if (connectionLine !== null) {
      // The usual single `keep-alive` or `close` shares one frozen set; anything else is parsed.
      const single = connectionLines === 1 ? SINGLE_TOKEN_SETS.get(connectionLine) : undefined;
      if (single !== undefined) connection = single;
      else {
        const tokens = new Set<string>();
        for (const line of headers.getAll('connection')) for (const token of splitList(line)) if (token !== '') tokens.add(token);
        connection = tokens;
      }
    }

    this.#pos = headEnd;
    this.#lineStart = 0;
    this.#lineCount = 0;
    switch (framing.kind) {
      case 'none':
        this.#state = NO_TRAILERS_END;
        break;
      case 'length':
        this.#state = { kind: 'length-body', remaining: framing.length };
        break;
      case 'chunked':
        this.#state = {
          kind: 'chunked-body',
          bodyBytes: 0,
          overLimit: false,
          decoder: new ChunkedDecoder({
            maxChunkLineBytes: MAX_CHUNK_LINE_BYTES,
            maxTrailerBytes: this.#limits.maxHeaderBytes,
            maxTrailerCount: this.#limits.maxHeaderCount,
            maxExtensionBytes: MAX_CHUNK_EXTENSION_BYTES,
          }),
        };
        break;
    }
    return {
      kind: 'head',
      head: { method, target, targetForm, version, headers, framing, connection, expectContinue },
    };
  }
}

/** `HTTP/d.d` → '1.0' | '1.1' | 'other' (well-formed but unsupported) | 'bad' | 'bare-cr'. */
function parseVersion(buf: Buffer, start: number, end: number): HttpVersion | 'other' | 'bad' | 'bare-cr' {
  for (let i = start; i < end; i++) if (buf[i] === CR) return 'bare-cr';
  if (end - start !== 8) return 'bad';
  if (buf[start] !== 0x48 || buf[start + 1] !== 0x54 || buf[start + 2] !== 0x54 || buf[start + 3] !== 0x50) return 'bad';
  if (buf[start + 4] !== 0x2f || buf[start + 6] !== 0x2e) return 'bad';
  const major = buf[start + 5] - 0x30;
  const minor = buf[start + 7] - 0x30;
  if (major < 0 || major > 9 || minor < 0 || minor > 9) return 'bad';
  if (major === 1 && minor === 1) return '1.1';
  if (major === 1 && minor === 0) return '1.0';
  return 'other';
}

type TargetError = 'bad-target' | 'forbidden-target-character' | 'target-userinfo';

function isTargetForm(form: TargetForm | TargetError): form is TargetForm {
  return form === 'origin' || form === 'absolute' || form === 'asterisk';
}

/** 1 for the characters RFC 3986 §2 never allows in a URI: `"` `<` `>` `\` `^` `` ` `` `{` `|` `}`. */
const FORBIDDEN_TARGET_CHARS: Uint8Array = (() => {
  const table = new Uint8Array(128);
  for (const ch of '"<>\\^`{|}') table[ch.charCodeAt(0)] = 1;
  return table;
})();

/**
 * RFC 9112 §3.2: origin-form, absolute-form, asterisk-form (OPTIONS only); no fragment (`#`), none
 * of the characters RFC 3986 forbids, and no userinfo in absolute-form (RFC 9110 §4.2.4: a sender
 * MUST NOT generate it, and it is where phishing hides a host). `target` holds visible ASCII only.
 */
function classifyTarget(target: string, method: string): TargetForm | TargetError {
  if (target.indexOf('#') !== -1) return 'bad-target';
  for (let i = 0; i < target.length; i++) if (FORBIDDEN_TARGET_CHARS[target.charCodeAt(i)] === 1) return 'forbidden-target-character';
  const first = target.charCodeAt(0);
  if (first === 0x2f) return 'origin';
  if (target === '*') return method === 'OPTIONS' ? 'asterisk' : 'bad-target';
  const lower = target.slice(0, 8).toLowerCase();
  if (lower.startsWith('http://') || lower.startsWith('https://')) {
    const authorityStart = lower.startsWith('http://') ? 7 : 8;
    if (target.length === authorityStart || target.charCodeAt(authorityStart) === 0x2f) return 'bad-target';
    const end = authorityEnd(target, authorityStart);
    return target.lastIndexOf('@', end - 1) >= authorityStart ? 'target-userinfo' : 'absolute';
  }
  return 'bad-target';
}

/** Where the authority of an absolute-form target that starts at `authorityStart` ends: at the first `/` or `?`, else the target's end. */
export function authorityEnd(target: string, authorityStart: number): number {
  let end = authorityStart;
  while (end < target.length && target.charCodeAt(end) !== 0x2f && target.charCodeAt(end) !== 0x3f) end++;
  return end;
}

/**
 * Host = uri-host [ ":" port ] (RFC 9110 §7.2; RFC 3986 §3.2.2, §3.2.3); empty is allowed
 * (RFC 9110 §7.2). A reg-name or IPv4address is unreserved / sub-delims / pct-encoded characters;
 * an IP-literal is checked for its characters (those and `:`), not its address grammar.
 */
const HOST = /^(?:\[[A-Za-z0-9\-._~!$&'()*+,;=:]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::[0-9]*)?$/;

/** The usual host[:port] (no IP-literal, no pct-encoding), matched without alternation. */
const PLAIN_HOST = /^[A-Za-z0-9\-._~!$&'()*+,;=]*(?::[0-9]*)?$/;

export function isValidHost(value: string): boolean {
  return PLAIN_HOST.test(value) || HOST.test(value);
}
