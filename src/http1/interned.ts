/**
 * The methods and field names most requests carry, as constant strings: matching the bytes in
 * place saves a string allocation (and a lower-casing) per token on the hot path. Anything else
 * falls back to decoding. Field names compare case-insensitively (RFC 9110 §5.1), methods exactly
 * (RFC 9110 §9.1).
 */

import { latin1 } from './latin1.js';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'];

const FIELD_NAMES = [
  'host', 'user-agent', 'accept', 'accept-encoding', 'accept-language', 'connection', 'content-length',
  'content-type', 'cookie', 'transfer-encoding', 'expect', 'referer', 'cache-control', 'pragma',
  'if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'range', 'origin',
  'authorization', 'keep-alive', 'upgrade', 'te', 'dnt', 'x-forwarded-for', 'x-forwarded-proto',
  'x-real-ip', 'x-request-id', 'upgrade-insecure-requests', 'sec-fetch-mode', 'sec-fetch-site',
  'sec-fetch-dest', 'sec-fetch-user', 'sec-ch-ua', 'sec-ch-ua-mobile', 'sec-ch-ua-platform',
];

function byLength(words: readonly string[]): string[][] {
  const buckets: string[][] = [];
  for (const word of words) (buckets[word.length] ??= []).push(word);
  return buckets;
}

const METHODS_BY_LENGTH = byLength(METHODS);
const NAMES_BY_LENGTH = byLength(FIELD_NAMES);

export function internMethod(buf: Buffer, start: number, end: number): string {
  const candidates = METHODS_BY_LENGTH[end - start];
  if (candidates !== undefined) {
    outer: for (const word of candidates) {
      for (let i = 0; i < word.length; i++) if (buf[start + i] !== word.charCodeAt(i)) continue outer;
      return word;
    }
  }
  return latin1(buf, start, end);
}

/** The lower-cased field name (bytes already checked to be token characters). */
export function internFieldName(buf: Buffer, start: number, end: number): string {
  const candidates = NAMES_BY_LENGTH[end - start];
  if (candidates !== undefined) {
    outer: for (const word of candidates) {
      for (let i = 0; i < word.length; i++) {
        const b = buf[start + i];
        const c = word.charCodeAt(i);
        if (b !== c && !(b >= 0x41 && b <= 0x5a && b + 0x20 === c)) continue outer;
      }
      return word;
    }
  }
  return latin1(buf, start, end).toLowerCase();
}
