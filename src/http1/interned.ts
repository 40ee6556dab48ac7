/**
 * The methods and field names most requests and responses carry, as constant strings: matching the bytes in
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
  // Responses (read by the proxy): what node:http, Express, nginx and Go put in most of theirs.
  'date', 'server', 'etag', 'last-modified', 'vary', 'set-cookie', 'content-encoding', 'location', 'expires',
  'age', 'x-powered-by', 'accept-ranges', 'access-control-allow-origin', 'strict-transport-security',
  'x-content-type-options', 'x-frame-options', 'content-security-policy', 'content-disposition', 'link',
  'retry-after', 'www-authenticate', 'referrer-policy', 'via', 'trailer',
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

// fieldNameIndex/fieldNameIn fold case with `| 0x20`, which is exact only for these characters.
for (const name of FIELD_NAMES) if (!/^[a-z-]+$/.test(name)) throw new Error(`interned field name ${name}: only a-z and - are allowed`);

const METHODS_BY_LENGTH = byLength(METHODS);
const NAME_INDEXES_BY_LENGTH = indexesByLength(FIELD_NAMES);
const NAME_BYTES_BY_LENGTH = byLength(FIELD_NAMES).map((bucket) => bucket.map((word) => Uint8Array.from(word, (c) => c.charCodeAt(0))));

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

/**
 * Index of the lower-cased field name in FIELD_NAMES, or -1 (bytes already checked to be token
 * characters). The names are compared as bytes (typed-array loads, no string reads). Same-length
 * names mostly differ at the end (`sec-fetch-mode`/`-site`/`-dest`), so the last byte goes first.
 * `(b | 0x20) === c` is a case-insensitive match because every FIELD_NAMES character is a lower-case
 * letter or `-` (checked at load) and `b` is a token character.
 */
export function fieldNameIndex(buf: Uint8Array, start: number, end: number): number {
  const candidates = NAME_BYTES_BY_LENGTH[end - start];
  if (candidates !== undefined) {
    const last = end - 1 - start;
    const lastByte = buf[end - 1] | 0x20;
    outer: for (let w = 0; w < candidates.length; w++) {
      const word = candidates[w];
      if (word[last] !== lastByte) continue;
      for (let i = 0; i < last; i++) if ((buf[start + i] | 0x20) !== word[i]) continue outer;
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

/**
 * The field name in `text[start, end)` lower-cased, where `text` is `buf` decoded from `offset`
 * (text index k is byte offset + k): a common name's constant string when it is one.
 */
export function fieldNameIn(text: string, start: number, end: number, buf: Uint8Array, offset: number): string {
  const index = fieldNameIndex(buf, offset + start, offset + end);
  return index === -1 ? text.slice(start, end).toLowerCase() : FIELD_NAMES[index];
}
