/**
 * Message framing in one place (RFC 9112 §6.3).
 *
 * Requests: Transfer-Encoding (final coding chunked) or Content-Length or no body. Everything that
 * lets two parsers disagree about where a message ends is rejected (request smuggling,
 * RFC 9112 §11.2): CL with TE, differing CLs, non-digit CLs, TE not ending in chunked, TE in HTTP/1.0.
 *
 * Responses: no body for HEAD, 1xx, 204 and 304 (RFC 9110 §6.4.1); Content-Length when the size is
 * known; chunked for streams to HTTP/1.1 peers; close-delimited for streams to HTTP/1.0 peers.
 */

import type { ProtocolErrorCode } from './errors.js';
import { splitList } from './header-map.js';

export type BodyFraming = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' };

export type HttpVersion = '1.0' | '1.1';

const NO_BODY: BodyFraming = Object.freeze({ kind: 'none' });
const CHUNKED: BodyFraming = Object.freeze({ kind: 'chunked' });

/** Largest Content-Length we parse exactly: 15 decimal digits stay below 2^53. */
const MAX_CONTENT_LENGTH_DIGITS = 15;

export function decideRequestFraming(
  version: HttpVersion,
  contentLengths: readonly string[],
  transferEncodings: readonly string[],
): BodyFraming | ProtocolErrorCode {
  if (transferEncodings.length > 0) {
    if (version === '1.0') return 'transfer-encoding-on-http10'; // RFC 9112 §6.1
    if (contentLengths.length > 0) return 'content-length-and-transfer-encoding'; // RFC 9112 §6.1
    const codings: string[] = [];
    for (const line of transferEncodings) for (const coding of splitList(line)) codings.push(coding);
    if (codings[codings.length - 1] !== 'chunked') return 'transfer-encoding-not-chunked'; // RFC 9112 §6.3 (4)
    for (let i = 0; i < codings.length - 1; i++) {
      if (codings[i] === 'chunked' || codings[i] === '') return 'transfer-encoding-not-chunked'; // §7.1: chunked once
    }
    if (codings.length > 1) return 'unknown-transfer-coding'; // RFC 9112 §6.1: 501 for codings we do not implement
    return CHUNKED;
  }
  if (contentLengths.length > 0) {
    // RFC 9110 §8.6 lets a recipient accept `5, 5` or a repeated identical line as 5; llhttp and
    // node reject them in requests, and so does holdfast: a second value is a framing disagreement waiting.
    const parsed = parseContentLengths(contentLengths);
    if (typeof parsed === 'string') return parsed;
    if (parsed.count > 1) return 'duplicate-content-length';
    return parsed.length === 0 ? NO_BODY : { kind: 'length', length: parsed.length };
  }
  return NO_BODY;
}

/**
 * Every Content-Length line and list element (RFC 9110 §8.6): the length and how many values
 * carried it, or an error when one is not 1*DIGIT or two differ.
 */
export function parseContentLengths(lines: readonly string[]): { length: number; count: number } | 'bad-content-length' | 'conflicting-content-length' {
  if (lines.length === 1) {
    // The usual case, one plain number, without splitting the line.
    const single = parseDecimal(lines[0]);
    if (single >= 0) return { length: single, count: 1 };
  }
  let length = -1;
  let count = 0;
  for (const line of lines) {
    for (const element of splitList(line)) {
      const value = parseDecimal(element);
      if (value < 0) return 'bad-content-length';
      if (length !== -1 && value !== length) return 'conflicting-content-length';
      length = value;
      count++;
    }
  }
  return { length, count };
}

/** 1*DIGIT as a number, or -1. */
function parseDecimal(text: string): number {
  if (text.length === 0 || text.length > MAX_CONTENT_LENGTH_DIGITS) return -1;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}

export type ResponseFraming = 'none' | 'length' | 'chunked' | 'close-delimited';

export type ResponseBodyShape = { kind: 'empty' } | { kind: 'sized'; length: number } | { kind: 'stream' };

/** True when a response to this request with this status never carries content (RFC 9110 §6.4.1). */
export function isBodylessResponse(requestMethod: string, status: number): boolean {
  return requestMethod === 'HEAD' || status < 200 || status === 204 || status === 304;
}

/**
 * How the response body is delimited on the wire. `peerVersion` is the lower of the request's
 * version and the server's configured version: chunked only reaches HTTP/1.1 recipients (RFC 9112 §7).
 */
export function decideResponseFraming(
  requestMethod: string,
  status: number,
  body: ResponseBodyShape,
  peerVersion: HttpVersion,
): ResponseFraming {
  if (isBodylessResponse(requestMethod, status)) return 'none';
  switch (body.kind) {
    case 'empty':
    case 'sized':
      return 'length';
    case 'stream':
      return peerVersion === '1.1' ? 'chunked' : 'close-delimited';
  }
}
