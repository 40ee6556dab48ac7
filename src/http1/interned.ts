/**
 * The methods and field names most requests carry, as constant strings: matching the bytes in
 * place saves a string allocation (and a lower-casing) per token on the hot path. Anything else
 * falls back to decoding. Field names compare case-insensitively (RFC 9110 §5.1), methods exactly
 * (RFC 9110 §9.1).
 */

import { latin1, latin1Reuse } from './latin1.js';

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

/** For each bucket of byLength(words), the words' indexes in `words`. */
function indexesByLength(words: readonly string[]): number[][] {
  const buckets: number[][] = [];
  words.forEach((word, index) => (buckets[word.length] ??= []).push(index));
  return buckets;
}

const METHODS_BY_LENGTH = byLength(METHODS);
const NAME_INDEXES_BY_LENGTH = indexesByLength(FIELD_NAMES);
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

/** Index of the lower-cased field name in FIELD_NAMES, or -1 (bytes already checked to be token characters). */
export function fieldNameIndex(buf: Buffer, start: number, end: number): number {
  const candidates = NAMES_BY_LENGTH[end - start];
  if (candidates !== undefined) {
    outer: for (let w = 0; w < candidates.length; w++) {
      const word = candidates[w];
      for (let i = 0; i < word.length; i++) {
        const b = buf[start + i];
        const c = word.charCodeAt(i);
        if (b !== c && !(b >= 0x41 && b <= 0x5a && b + 0x20 === c)) continue outer;
      }
      return NAME_INDEXES_BY_LENGTH[end - start][w];
    }
  }
  return -1;
}

export function fieldNameAt(index: number): string {
  return FIELD_NAMES[index];
}

/** The last value decoded for each common field name: most repeat from request to request. */
const RECENT_VALUES: string[] = FIELD_NAMES.map(() => '');
let recentTarget = '';

/**
 * The value of the common field `index` in `buf[start, end)` when it repeats the last value
 * decoded for that name (then it needs no check either: only checked values are kept), else null.
 */
export function repeatedFieldValue(index: number, buf: Buffer, start: number, end: number): string | null {
  const previous = RECENT_VALUES[index];
  const length = end - start;
  if (previous.length !== length || length === 0) return null;
  for (let k = 0; k < length; k++) if (previous.charCodeAt(k) !== buf[start + k]) return null;
  return previous;
}

/** Decodes a checked value of the common field `index` and keeps it for repeatedFieldValue. */
export function recentFieldValue(index: number, buf: Buffer, start: number, end: number): string {
  const value = latin1(buf, start, end);
  RECENT_VALUES[index] = value;
  return value;
}

/** The request target in `buf[start, end)`, reusing the last one when the bytes match. */
export function recentTargetValue(buf: Buffer, start: number, end: number): string {
  const value = latin1Reuse(buf, start, end, recentTarget);
  recentTarget = value;
  return value;
}

/** The method in `text[start, end)` as one of the common methods' constant strings, or a new string. */
export function methodIn(text: string, start: number, end: number): string {
  const candidates = METHODS_BY_LENGTH[end - start];
  if (candidates !== undefined) {
    outer: for (let w = 0; w < candidates.length; w++) {
      const word = candidates[w];
      for (let i = 0; i < word.length; i++) if (text.charCodeAt(start + i) !== word.charCodeAt(i)) continue outer;
      return word;
    }
  }
  return text.slice(start, end);
}

/** The field name in `text[start, end)` (token characters) lower-cased: a common name's constant string when it is one. */
export function fieldNameIn(text: string, start: number, end: number): string {
  const candidates = NAMES_BY_LENGTH[end - start];
  if (candidates !== undefined) {
    outer: for (let w = 0; w < candidates.length; w++) {
      const word = candidates[w];
      for (let i = 0; i < word.length; i++) {
        const b = text.charCodeAt(start + i);
        const c = word.charCodeAt(i);
        if (b !== c && !(b >= 0x41 && b <= 0x5a && b + 0x20 === c)) continue outer;
      }
      return word;
    }
  }
  return text.slice(start, end).toLowerCase();
}
