/**
 * Chunked transfer coding (RFC 9112 §7.1): an incremental decoder over a byte range and the
 * encoder's framing bytes.
 *
 * Decoder grammar, strictly: chunk-size is 1*HEXDIG; optional chunk extensions follow the §7.1.1
 * grammar (`BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ]`, no control characters),
 * their bad whitespace parsed and removed as RFC 9110 §5.6.3 requires (`5 ; name = value` is a
 * chunk of 5), and are otherwise ignored; whitespace that precedes no ";" (after the size alone,
 * or at the end of the line) is not BWS and is rejected. Every line ends in CRLF; chunk data is
 * followed by CRLF; the last chunk is followed by a trailer section of field lines and an empty line.
 */

import type { ProtocolErrorCode } from './errors.js';
import { parseFieldLine } from './field-line.js';
import { HeaderMap, TOKEN_CHARS } from './header-map.js';
import { indexOfByte } from './bytes.js';

export interface ChunkedLimits {
  /** Longest chunk-size line, extensions included (bytes before CRLF). */
  maxChunkLineBytes: number;
  /** Total size of the trailer section, and its field count. */
  maxTrailerBytes: number;
  maxTrailerCount: number;
  /**
   * Chunk-extension bytes in the whole body: each line's extensions are bounded by
   * maxChunkLineBytes, but a body of one-byte chunks could otherwise carry thousands of times its
   * size in them, outside every body limit (CVE-2024-22019).
   */
  maxExtensionBytes: number;
}

/** The extension budget of a body, as hyper bounds it (16 KiB); node's llhttp caps it since CVE-2024-22019. */
export const MAX_CHUNK_EXTENSION_BYTES = 16_384;

type DecoderState =
  | { kind: 'size' }
  | { kind: 'data'; remaining: number }
  | { kind: 'data-crlf' }
  | { kind: 'trailers'; fields: HeaderMap | null; bytes: number }
  | { kind: 'done' };

export type ChunkStep =
  | { kind: 'data'; start: number; end: number }
  | { kind: 'need-data' }
  | { kind: 'end'; trailers: HeaderMap | null }
  | { kind: 'error'; code: ProtocolErrorCode };

const NEED_DATA: ChunkStep = Object.freeze({ kind: 'need-data' });
const SIZE: DecoderState = Object.freeze({ kind: 'size' });
const DATA_CRLF: DecoderState = Object.freeze({ kind: 'data-crlf' });
const DONE: DecoderState = Object.freeze({ kind: 'done' });

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const SEMI = 0x3b;
const EQUALS = 0x3d;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const MAX_SIZE_BEFORE_SHIFT = Math.floor((Number.MAX_SAFE_INTEGER - 15) / 16);

export class ChunkedDecoder {
  #state: DecoderState = SIZE;
  readonly #limits: ChunkedLimits;
  #extensionBytes = 0;
  /** Position just past what the last step consumed. */
  position = 0;

  constructor(limits: ChunkedLimits) {
    this.#limits = limits;
  }

  get isDone(): boolean {
    return this.#state.kind === 'done';
  }

  /** Decodes from buf[start, end); afterwards `position` tells how far it consumed (on an error: where the bad element starts). */
  step(buf: Buffer, start: number, end: number): ChunkStep {
    let pos = start;
    for (;;) {
      const state = this.#state;
      switch (state.kind) {
        case 'size': {
          const windowEnd = Math.min(end, pos + this.#limits.maxChunkLineBytes + 2);
          const lf = indexOfByte(buf, LF, pos, windowEnd);
          if (lf === -1) {
            this.position = pos;
            if (end - pos >= this.#limits.maxChunkLineBytes + 2) return this.#error(pos, 'chunk-line-too-long');
            return NEED_DATA;
          }
          if (lf === pos || buf[lf - 1] !== CR) return this.#error(pos, 'bare-lf');
          const result = parseChunkSize(buf, pos, lf - 1);
          if (typeof result === 'string') return this.#error(pos, result);
          let digitsEnd = pos;
          while (hexValue(buf[digitsEnd]) >= 0) digitsEnd++;
          this.#extensionBytes += lf - 1 - digitsEnd;
          if (this.#extensionBytes > this.#limits.maxExtensionBytes) return this.#error(pos, 'chunk-extensions-too-large');
          pos = lf + 1;
          this.#state = result === 0 ? { kind: 'trailers', fields: null, bytes: 0 } : { kind: 'data', remaining: result };
          break;
        }
        case 'data': {
          if (pos === end) {
            this.position = pos;
            return NEED_DATA;
          }
          const take = Math.min(state.remaining, end - pos);
          state.remaining -= take;
          if (state.remaining === 0) this.#state = DATA_CRLF;
          this.position = pos + take;
          return { kind: 'data', start: pos, end: pos + take };
        }
        case 'data-crlf': {
          if (end - pos < 2) {
            if (end - pos === 1 && buf[pos] !== CR) return this.#error(pos, 'bad-chunk-terminator');
            this.position = pos;
            return NEED_DATA;
          }
          if (buf[pos] !== CR || buf[pos + 1] !== LF) return this.#error(pos, 'bad-chunk-terminator');
          pos += 2;
          this.#state = SIZE;
          break;
        }
        case 'trailers': {
          const budget = this.#limits.maxTrailerBytes - state.bytes;
          const windowEnd = Math.min(end, pos + budget);
          const lf = indexOfByte(buf, LF, pos, windowEnd);
          if (lf === -1) {
            this.position = pos;
            if (end - pos >= budget) return this.#error(pos, 'header-section-too-large');
            return NEED_DATA;
          }
          if (lf === pos || buf[lf - 1] !== CR) return this.#error(pos, 'bare-lf');
          state.bytes += lf + 1 - pos;
          if (lf - 1 === pos) {
            this.#state = DONE;
            this.position = lf + 1;
            return { kind: 'end', trailers: state.fields };
          }
          const fields = state.fields ?? (state.fields = new HeaderMap());
          if (fields.size >= this.#limits.maxTrailerCount) return this.#error(pos, 'too-many-fields');
          const error = parseFieldLine(buf, pos, lf - 1, fields);
          if (error !== null) return this.#error(pos, error);
          if (isForbiddenTrailer(fields)) return this.#error(pos, 'forbidden-trailer');
          pos = lf + 1;
          break;
        }
        case 'done':
          this.position = pos;
          return { kind: 'end', trailers: null };
      }
    }
  }

  #error(pos: number, code: ProtocolErrorCode): ChunkStep {
    this.position = pos;
    return { kind: 'error', code };
  }
}

/** chunk-size [ BWS chunk-ext ] from buf[start, end) (CRLF excluded): the size, or an error code. */
function parseChunkSize(buf: Buffer, start: number, end: number): number | ProtocolErrorCode {
  let size = 0;
  let i = start;
  for (; i < end; i++) {
    const digit = hexValue(buf[i]);
    if (digit < 0) break;
    if (size > MAX_SIZE_BEFORE_SHIFT) return 'chunk-size-overflow';
    size = size * 16 + digit;
  }
  if (i === start) return 'bad-chunk-size';
  if (i === end) return size;
  // The line ends at its CRLF whatever the extensions hold (no control character but HTAB in
  // them), so accepting the BWS the grammar allows cannot move where the chunk data starts.
  const semi = skipBws(buf, i, end);
  if (semi === end) return 'bad-chunk-size';
  if (buf[semi] !== SEMI) return buf[semi] === CR ? 'bare-cr' : 'bad-chunk-size';
  for (let j = semi + 1; j < end; j++) {
    const c = buf[j];
    if ((c < SP && c !== HTAB) || c === 0x7f) return c === CR ? 'bare-cr' : 'bad-chunk-extension';
  }
  return isChunkExtension(buf, semi, end) ? size : 'bad-chunk-extension';
}

/**
 * `*( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )` (RFC 9112 §7.1.1) from the first
 * ";" at `start` to `end`, with control characters already excluded. Whitespace after the last
 * extension precedes no ";": not BWS, rejected.
 */
function isChunkExtension(buf: Buffer, start: number, end: number): boolean {
  let semi = start;
  for (;;) {
    let i = skipBws(buf, semi + 1, end);
    let next = skipToken(buf, i, end);
    if (next === i) return false;
    i = next;
    let after = skipBws(buf, i, end);
    if (after < end && buf[after] === EQUALS) {
      const value = skipBws(buf, after + 1, end);
      next = value < end && buf[value] === DQUOTE ? skipQuotedString(buf, value, end) : skipToken(buf, value, end);
      if (next <= value) return false;
      i = next;
      after = skipBws(buf, i, end);
    }
    if (after === end) return after === i;
    if (buf[after] !== SEMI) return false;
    semi = after;
  }
}

/** Past BWS (SP / HTAB, RFC 9110 §5.6.3) at `i`. */
function skipBws(buf: Buffer, i: number, end: number): number {
  while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
  return i;
}

/** RFC 9110 §6.5.1: framing and routing fields never come from trailers (checks the newest line). */
function isForbiddenTrailer(fields: HeaderMap): boolean {
  let last = '';
  for (const [name] of fields) last = name;
  return last === 'content-length' || last === 'transfer-encoding' || last === 'host';
}

function skipToken(buf: Buffer, i: number, end: number): number {
  while (i < end && TOKEN_CHARS[buf[i]] === 1) i++;
  return i;
}

/** Index just past the closing DQUOTE of the quoted-string at `i` (RFC 9110 §5.6.4), or -1. */
function skipQuotedString(buf: Buffer, i: number, end: number): number {
  for (i++; i < end; i++) {
    const c = buf[i];
    if (c === DQUOTE) return i + 1;
    if (c === BACKSLASH && ++i === end) return -1;
  }
  return -1;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

const CRLF = Buffer.from('\r\n', 'latin1');
export const LAST_CHUNK: Buffer = Buffer.from('0\r\n\r\n', 'latin1');

/**
 * The `size CRLF` line that precedes a chunk of `length` bytes. A chunk holds at least one byte
 * (RFC 9112 §7.1: `0` is the last-chunk), so an empty chunk throws rather than end the body early.
 */
export function chunkHeader(length: number): Buffer {
  if (!Number.isSafeInteger(length) || length < 1) throw new RangeError('a chunk holds at least one byte');
  return Buffer.from(`${length.toString(16)}\r\n`, 'latin1');
}

export function chunkTrailer(): Buffer {
  return CRLF;
}
