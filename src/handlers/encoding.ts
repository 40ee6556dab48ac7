/**
 * Content codings for serveStatic: which one a request accepts (Accept-Encoding, RFC 9110 §12.5.3),
 * which types are worth compressing, and compressing with node:zlib — whole (off the main thread)
 * or as a stream with backpressure.
 *
 * - Accept-Encoding: q-values per coding; `*` stands for every coding not named; `x-gzip` is gzip
 *   (RFC 9110 §8.4.1.3); identity is acceptable unless `identity;q=0`, or `*;q=0` without an
 *   `identity` entry, refuses it. A request without the field gets identity. Among what is
 *   available the highest q wins; on a tie br, then gzip, then identity. When nothing available is
 *   acceptable the answer is identity all the same (RFC 9110 §12.5.3: respond without a coding).
 * - Compressible: text, JSON, JavaScript, XML, SVG, wasm, fonts that are not compressed already
 *   (ttf, otf, eot) and icons; never images, audio, video, archives, PDF or woff/woff2.
 * - Levels, measured on a 64 KiB slice of a minified-style JavaScript file on this machine: brotli
 *   quality 5 takes ~1.6 ms (output 15.0 % of the input), 6 ~1.9 ms (14.7 %), 9 ~10 ms (14.2 %),
 *   11 ~115 ms (13.1 %); gzip level 6 ~1.6 ms (15.6 %), 9 ~5.7 ms (15.4 %). A form made once and
 *   kept with the file cache affords the best (brotli 11, gzip 9), off the main thread; a stream
 *   made per request uses brotli 5 — the speed of gzip 6 (nginx's level in the bench) with smaller
 *   output; nginx's brotli module defaults to 6 — and gzip 6 (zlib's and nginx's own default).
 * - Above 64 KiB a kept form is made at brotli 9 / gzip 7 (keptLevel): brotli 10 and 11 switch to a
 *   far costlier search, ~1.7 ms per KiB of TypeScript's compiler here (128 KiB ~0.3 s, 512 KiB
 *   ~1.7 s, 8 MiB ~15 s of a thread-pool thread) for output 5–10 % smaller than 9, which takes
 *   ~0.1–0.15 ms per KiB (8 MiB ~0.9–1.2 s, 14.2 % against brotli 5's 15.6 %); gzip 9 saves 0.1 %
 *   over 6 at three times the time (8 MiB: 6 ~0.4 s, 7 ~0.4 s, 9 ~1.3 s, all 17.8–17.9 %), so 7 —
 *   as small as 9 within 0.1 % at the cost of 6, and a level of its own, so its strong ETag never
 *   names a per-response stream's bytes.
 */

import { Readable, pipeline } from 'node:stream';
import { brotliCompress, constants, createBrotliCompress, createGzip, gzip, type BrotliOptions, type ZlibOptions } from 'node:zlib';

export type Coding = 'br' | 'gzip';

/** The q-values (0–1) a request gives the codings serveStatic can send; 0 refuses. */
export interface AcceptedEncodings {
  readonly br: number;
  readonly gzip: number;
  readonly identity: number;
}

/** Levels for a form kept with the file cache (made once; above BEST_LEVEL_MAX_BYTES, LARGE_CACHED_LEVEL) and for one made per response. */
export const CACHED_LEVEL: Readonly<Record<Coding, number>> = { br: 11, gzip: 9 };
export const LARGE_CACHED_LEVEL: Readonly<Record<Coding, number>> = { br: 9, gzip: 7 };
export const STREAM_LEVEL: Readonly<Record<Coding, number>> = { br: 5, gzip: 6 };
/** Largest file whose kept forms are made at CACHED_LEVEL (brotli 11 takes ~115 ms on 64 KiB). */
export const BEST_LEVEL_MAX_BYTES = 65_536;

/** The level of a kept form of a file of `size` bytes (its ETag names it). */
export function keptLevel(coding: Coding, size: number): number {
  return size <= BEST_LEVEL_MAX_BYTES ? CACHED_LEVEL[coding] : LARGE_CACHED_LEVEL[coding];
}

/**
 * Smaller bodies are sent as they are (unless the request refuses identity): below ~1 KiB a
 * response fits one TCP segment (Ethernet MSS 1460) either way, so compressing saves no round trip
 * and costs CPU; `serve` (the compression package) uses 1 KiB too, nginx's gzip_min_length is 20.
 */
export const MIN_COMPRESS_BYTES = 1024;

/** No Accept-Encoding: identity only (the RFC allows any coding, but clients that say nothing expect none). */
const NONE: AcceptedEncodings = Object.freeze({ br: 0, gzip: 0, identity: 1 });
/** An identity that is acceptable without being named ranks below any named coding. */
const IMPLICIT_IDENTITY = 0.0001;
const PARSED_LIMIT = 256;
/** Accept-Encoding values seen (browsers send few distinct ones), cleared when full. */
const parsed = new Map<string, AcceptedEncodings>();

export function acceptedEncodings(header: string | undefined): AcceptedEncodings {
  if (header === undefined) return NONE;
  let known = parsed.get(header);
  if (known === undefined) {
    known = parseAcceptEncoding(header);
    if (parsed.size >= PARSED_LIMIT) parsed.clear();
    parsed.set(header, known);
  }
  return known;
}

function parseAcceptEncoding(header: string): AcceptedEncodings {
  const q = new Map<string, number>();
  for (const part of header.split(',')) {
    const [rawName, ...params] = part.split(';');
    let name = rawName.trim().toLowerCase();
    if (name === '') continue;
    if (name === 'x-gzip') name = 'gzip';
    let weight = 1;
    for (const param of params) {
      const eq = param.indexOf('=');
      if (eq !== -1 && param.slice(0, eq).trim().toLowerCase() === 'q') weight = parseQ(param.slice(eq + 1).trim());
    }
    // A coding named twice keeps its highest weight.
    q.set(name, Math.max(weight, q.get(name) ?? 0));
  }
  const star = q.get('*');
  const of = (coding: string): number => q.get(coding) ?? star ?? 0;
  // `*` covers identity too when it is not named; named by neither, it is acceptable but last.
  return Object.freeze({ br: of('br'), gzip: of('gzip'), identity: q.get('identity') ?? star ?? IMPLICIT_IDENTITY });
}

/** qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) (RFC 9110 §12.4.2); anything else counts as 0. */
function parseQ(text: string): number {
  if (!/^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/.test(text)) return 0;
  return Number(text);
}

/**
 * The coding to send among those available (`br`, `gzip` true when that form can be sent), or null
 * for identity: the highest q, ties going to br, then gzip, then identity.
 */
export function chooseCoding(accepted: AcceptedEncodings, br: boolean, gzip: boolean): Coding | null {
  const brQ = br ? accepted.br : 0;
  const gzipQ = gzip ? accepted.gzip : 0;
  if (brQ > 0 && brQ >= gzipQ && brQ >= accepted.identity) return 'br';
  if (gzipQ > 0 && gzipQ >= accepted.identity) return 'gzip';
  return null;
}

const COMPRESSIBLE_TYPES = new Set([
  'application/json',
  'application/ld+json',
  'application/manifest+json',
  'application/javascript',
  'application/xml',
  'application/rss+xml',
  'application/atom+xml',
  'application/wasm',
  'application/rtf',
  'application/dash+xml',
  'application/vnd.apple.mpegurl',
  'application/vnd.ms-fontobject',
  'image/svg+xml',
  'image/bmp',
  'image/vnd.microsoft.icon',
  'font/ttf',
  'font/otf',
]);

/** Whether a Content-Type (parameters allowed) is worth compressing: text and the listed types. */
export function isCompressible(contentType: string): boolean {
  const semi = contentType.indexOf(';');
  const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return type.startsWith('text/') || COMPRESSIBLE_TYPES.has(type) || type.endsWith('+json') || type.endsWith('+xml');
}

function brotliOptions(level: number, sizeHint: number): BrotliOptions {
  return {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: level,
      // Lets the encoder pick a window no larger than the input: less memory per stream.
      [constants.BROTLI_PARAM_SIZE_HINT]: sizeHint,
    },
  };
}

function gzipOptions(level: number): ZlibOptions {
  return { level };
}

/** `bytes` compressed whole, in libuv's thread pool. */
export function compressBytes(bytes: Uint8Array, coding: Coding, level: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const done = (error: Error | null, out: Buffer): void => (error === null ? resolve(out) : reject(error));
    if (coding === 'br') brotliCompress(bytes, brotliOptions(level, bytes.length), done);
    else gzip(bytes, gzipOptions(level), done);
  });
}

/** Pieces fed to a compressor from memory, so that backpressure acts between them. */
const PIECE_BYTES = 65_536;

function* pieces(bytes: Uint8Array): Generator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += PIECE_BYTES) yield bytes.subarray(at, at + PIECE_BYTES);
}

/**
 * A Readable of `source` (bytes in memory, or pieces read from a file) compressed as it is read:
 * the compressor takes input only as fast as its output is taken, and destroying the result (the
 * connection went away) destroys the source. A source that fails fails the stream.
 */
export function compressStream(source: Uint8Array | AsyncIterable<Uint8Array>, sizeHint: number, coding: Coding, level: number): Readable {
  const compressor = coding === 'br' ? createBrotliCompress(brotliOptions(level, sizeHint)) : createGzip(gzipOptions(level));
  const input = Readable.from(source instanceof Uint8Array ? pieces(source) : source, { objectMode: false });
  pipeline(input, compressor, () => undefined);
  return compressor;
}
