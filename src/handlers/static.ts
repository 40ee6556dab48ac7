/**
 * serveStatic(root, options) → Handler: files under `root`, the way users of nginx, `serve` or
 * `http-server` expect.
 *
 * - GET and HEAD (other methods → 405 with Allow); `index.html` for directories; a directory
 *   without its trailing slash → 301 to the slash form, a file with one → 404 (nginx); with
 *   `cleanUrls`, `/about` → `about.html` when there is no file `about` nor a directory `about/` with an
 *   index (nginx's `try_files $uri $uri.html $uri/`); `404.html` in the root (when present) answers
 *   what is not found.
 * - Content-Type from the extension (./mime.ts; charset=utf-8 for text); strong ETag and
 *   Last-Modified; conditional requests in RFC 9110 §13.2.2 order (If-Match, If-Unmodified-Since,
 *   If-None-Match, If-Modified-Since) → 412 / 304.
 * - Range (RFC 9110 §14): one range → 206 + Content-Range; unsatisfiable → 416; If-Range; several
 *   ranges → the whole file (200), as RFC 9110 §14.2 allows.
 * - Content codings (./encoding.ts), each representation with its own strong ETag (RFC 9110
 *   §8.8.3) and `Vary: Accept-Encoding` on every response of a resource that has several:
 *   pre-compressed `.br` / `.gz` siblings first; else compressible types are compressed on the fly
 *   — a cached file's compressed forms (small or large) are made once, off the main thread, and
 *   kept (and counted, revalidated and dropped) with it; until they are ready, and for files not
 *   cached, a small file is compressed whole per response and a large one streams through the
 *   compressor with backpressure. A Range request is answered from the identity representation
 *   (never a range of a stream), or, when the request refuses identity, with the whole compressed
 *   body.
 * - Hot files are answered from memory (./file-cache.ts: bounded, least recently used first,
 *   revalidated by size, mtime and inode); the others are sent from disk with backpressure, never
 *   read whole (a FileBody, ./file-body.ts: reused 256 KiB read buffers). Metadata calls are
 *   synchronous (stat, realpath once per inode and mtime), as nginx's workers do: on a local disk
 *   they cost microseconds, far less than a trip through libuv's thread pool.
 * - Freshness: a cached file is stat'ed at most once per event-loop turn, a turn ending at the check
 *   phase (setImmediate). Requests read in one poll arrived together, so they are answered from the
 *   same version, as if served at the same instant; a request read in a later poll sees a change on
 *   disk to the file it would be answered from and, for a fallback answer (the SPA's index, a clean
 *   URL's `.html` page), to each path the fallback passed over (a file that appears there is served
 *   instead). Three edges: a pre-compressed sibling (`.br`, `.gz`) that appears beside a file
 *   already answered from memory is seen within SIBLING_RECHECK_MS (1 s), not the next turn; a
 *   stat taken by code running in the check phase itself (a handler resumed by `setImmediate`) also
 *   serves requests read in the next poll; and a change this process makes to a file is seen once
 *   the turn has ended (`await new Promise(setImmediate)`), not after a microtask (`await null`).
 * - Safety: the decoded path never leaves the root (`..`, encoded slashes, backslashes, NUL,
 *   symlinks that resolve outside → 403/404); dotfiles are hidden (404). Error pages never show
 *   filesystem paths or stacks. The root may itself be a symlink swapped to a new release (an
 *   atomic deploy, `mv -T`): it is resolved again with each file's verdict, so the new release is
 *   served from the next turn on, as nginx serves it at once, and the old one counts as outside.
 */

import { promises as fs, read, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Handler, HttpRequest, HttpResponse, ResponseHeaders } from './types.js';
import { contentTypeFor } from './mime.js';
import { FileBody } from './file-body.js';
import { CachedFile, FileCache, SMALL_FILE_BYTES, type FileCacheStats } from './file-cache.js';
import { MIN_COMPRESS_BYTES, STREAM_LEVEL, acceptedEncodings, chooseCoding, compressBytes, compressStream, isCompressible, keptLevel, type AcceptedEncodings, type Coding } from './encoding.js';
import { thisTurn } from './turn.js';
import { isFieldValue, isToken } from '../http1/header-map.js';

export interface StaticOptions {
  /** File served for a directory. Default `index.html`. */
  index?: string;
  /** `Cache-Control` value; default `no-cache` (always revalidate: cheap with 304). null = none. */
  cacheControl?: string | null;
  /** Serve dotfiles instead of hiding them. Default false. */
  dotfiles?: boolean;
  /** Unknown paths → the root index.html (single-page apps). Default false. */
  spa?: boolean;
  /** HTML listings for directories without an index. Default false. */
  list?: boolean;
  /** `Access-Control-Allow-Origin: *` and preflight answers. Default false. */
  cors?: boolean;
  /** Compress compressible types on the fly (brotli, gzip) for clients that accept it. Default true. */
  compress?: boolean;
  /** `/about` → `about.html` when there is no file `about` nor a directory `about/` with an index. Default false. */
  cleanUrls?: boolean;
  /** A page in the root that answers 404s, when present. Default `404.html`; null = a plain-text 404. */
  notFoundPage?: string | null;
  /**
   * Fields added to every response (`{ 'x-frame-options': 'DENY' }`). Framing, hop-by-hop and the
   * fields serveStatic sets itself are refused (set `cacheControl` for Cache-Control).
   */
  headers?: Readonly<Record<string, string>>;
  /**
   * Largest file kept in memory; 0 = no memory cache (every file is read from disk on every
   * request). Default 8 MiB. Files up to 64 KiB are kept from their first request, larger ones from
   * their second within `cacheInactiveMs`.
   */
  maxCachedFileBytes?: number;
  /** Memory for cached files in all (contents and their compressed forms); 0 = no memory cache. Default 64 MiB. */
  maxCacheBytes?: number;
  /**
   * A cached file unused this long may be evicted to make room; a large file requested twice
   * within it is cached. Default 20 s.
   */
  cacheInactiveMs?: number;
}

/** serveStatic's handler, with a view of its memory cache. */
export interface StaticHandler extends Handler {
  readonly cache: {
    stats(): FileCacheStats;
    /** Resolves once no file read or compression for the cache is in flight. */
    settled(): Promise<void>;
  };
}

interface Resolved {
  file: string;
  stats: Stats;
}

interface Variant {
  file: string;
  stats: Stats;
  /** A pre-compressed sibling's coding; null for the file itself. */
  encoding: Coding | null;
}

type Siblings = Record<Coding, Variant | null>;

const ALLOW = 'GET, HEAD';
/**
 * 8 MiB per file, 64 MiB in all: a fixed figure, not a share of the machine's memory, so that N
 * workers take N × 64 MiB and a container's limit (which os.totalmem() does not see) is not
 * overrun; Varnish's default storage is 100 MB. One file takes at most an eighth of it; larger
 * files are mostly media, fetched in ranges, which the page cache serves well enough.
 */
const DEFAULT_MAX_CACHED_FILE_BYTES = 8 * 1_048_576;
const DEFAULT_MAX_CACHE_BYTES = 64 * 1_048_576;
/** nginx's documented example: `open_file_cache inactive=20s` with `open_file_cache_min_uses 2`. */
const DEFAULT_CACHE_INACTIVE_MS = 20_000;
/** Always revalidate (cheap with 304), as `serve` and http-server do by default. */
const DEFAULT_CACHE_CONTROL = 'no-cache';

/** The defaults of the options the CLI shows. */
export const STATIC_DEFAULTS = Object.freeze({
  maxCacheBytes: DEFAULT_MAX_CACHE_BYTES,
  maxCachedFileBytes: DEFAULT_MAX_CACHED_FILE_BYTES,
  cacheControl: DEFAULT_CACHE_CONTROL,
});
const MAX_VERDICTS = 10_000;
const MAX_FAST_ENTRIES = 10_000;
/**
 * How long a fast entry trusts that no pre-compressed sibling appeared (its own file, and what a
 * fallback passed over, are stat'ed every turn): stat'ing both siblings every turn would triple
 * the stats of the hot path. Far shorter than nginx's `open_file_cache_valid` (60 s by default).
 */
const SIBLING_RECHECK_MS = 1_000;
const CONDITIONAL_FIELDS = ['range', 'if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since'] as const;
const VARY = 'Accept-Encoding';
/** Bytes read per piece of a file streamed through a compressor (fresh buffers: the compressor holds them). */
const COMPRESS_READ_BYTES = 65_536;

/**
 * A path a fallback answer (the SPA's index, a clean URL's `.html` page) passed over, as it was then:
 * while it stays so, so does the answer. `signature`: inode and mtime, null when absent (a
 * directory's mtime changes when an entry, such as its index, is added).
 */
interface Probe {
  file: string;
  signature: string | null;
}

/**
 * A cached file with no siblings, ready to answer an unconditional GET/HEAD with one stat per turn:
 * its identity response, and for a compressible one the response for each coding once its form
 * is made (absent until then: the request goes the long way).
 */
interface FastEntry {
  cached: CachedFile;
  checkedAtMs: number;
  /** The event-loop turn (see thisTurn) in which the file was last stat'ed and found unchanged. */
  statTurn: number;
  /** For a fallback answer, the paths it passed over (stat'ed with the file); null when the file is what the path names. */
  probes: readonly Probe[] | null;
  compressible: boolean;
  responses: Partial<Record<Coding | 'identity', HttpResponse>>;
}

export function serveStatic(root: string, options: StaticOptions = {}): StaticHandler {
  checkOptions(options);
  const rootDir = path.resolve(root);
  const withSep = (dir: string): string => (dir.endsWith(path.sep) ? dir : dir + path.sep);
  const rootPrefix = withSep(rootDir);
  const index = options.index ?? 'index.html';
  const cacheControl = options.cacheControl === undefined ? DEFAULT_CACHE_CONTROL : options.cacheControl;
  const compress = options.compress !== false;
  const notFoundPage = options.notFoundPage === undefined ? '404.html' : options.notFoundPage;
  const fast = new Map<string, FastEntry>();
  /** The paths a fallback answer to a request passed over, for its fast entry (a fallback may be remembered after an await). */
  const passedOver = new WeakMap<HttpRequest, readonly Probe[]>();
  const cache = new FileCache(
    {
      maxBytes: options.maxCacheBytes ?? DEFAULT_MAX_CACHE_BYTES,
      maxFileBytes: options.maxCachedFileBytes ?? DEFAULT_MAX_CACHED_FILE_BYTES,
      inactiveMs: options.cacheInactiveMs ?? DEFAULT_CACHE_INACTIVE_MS,
    },
    (dropped) => {
      for (const route of dropped.routes) if (fast.get(route)?.cached === dropped) fast.delete(route);
    },
  );
  let realRoot: string | null = null;
  /** The last large file's kept form queued (see makeCachedForm). */
  let largeForms: Promise<void> = Promise.resolve();

  /** On every response: CORS, then the caller's own fields. */
  const extraHeaders: Readonly<Record<string, string>> = { ...(options.cors ? { 'access-control-allow-origin': '*' } : {}), ...options.headers };

  const plain = (status: number, text: string, extra?: ResponseHeaders): HttpResponse => ({
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', ...extraHeaders, ...extra },
    body: `${text}\n`,
  });

  /** realpath verdicts, keyed by path and valid while the file's inode and mtime stay the same. */
  const insideVerdicts = new Map<string, { ino: number; mtimeMs: number; inside: boolean }>();

  function insideRoot(file: string, stats: Stats): boolean {
    const known = insideVerdicts.get(file);
    if (known !== undefined && known.ino === stats.ino && known.mtimeMs === stats.mtimeMs) return known.inside;
    let inside = false;
    try {
      // The root is resolved again with each verdict: it may be a symlink swapped to a new release
      // (an atomic deploy), whose files must be checked against it, not against the old release.
      const now = realpathSync(rootDir);
      if (now !== realRoot) {
        realRoot = now;
        insideVerdicts.clear();
      }
      const real = realpathSync(file);
      inside = real === now || real.startsWith(withSep(now));
    } catch {
      inside = false;
    }
    if (insideVerdicts.size >= MAX_VERDICTS) insideVerdicts.clear();
    insideVerdicts.set(file, { ino: stats.ino, mtimeMs: stats.mtimeMs, inside });
    return inside;
  }

  function statFile(file: string): Stats | null {
    try {
      return statSync(file, { throwIfNoEntry: false }) ?? null;
    } catch {
      return null;
    }
  }

  const signatureOf = (stats: Stats | null): string | null => (stats === null ? null : `${stats.ino}-${stats.mtimeMs}`);
  const changed = (probes: readonly Probe[]): boolean => probes.some((probe) => signatureOf(statFile(probe.file)) !== probe.signature);

  /** The pre-compressed siblings of a file that exist inside the root. */
  function siblingsOf(resolved: Resolved): Siblings {
    const siblings: Siblings = { br: null, gzip: null };
    for (const [suffix, encoding] of [['.br', 'br'], ['.gz', 'gzip']] as const) {
      const file = resolved.file + suffix;
      const stats = statFile(file);
      if (stats !== null && stats.isFile() && insideRoot(file, stats)) siblings[encoding] = { file, stats, encoding };
    }
    return siblings;
  }

  /**
   * The coding to compress with on the fly, or null for identity: never below MIN_COMPRESS_BYTES,
   * nor for a Range request (answered from identity), unless the request refuses identity.
   */
  function onTheFlyCoding(req: HttpRequest, accepted: AcceptedEncodings, size: number): Coding | null {
    if (accepted.identity > 0 && (size < MIN_COMPRESS_BYTES || (req.method === 'GET' && req.headers.has('range')))) return null;
    return chooseCoding(accepted, true, true);
  }

  /** A 200 or 206 of a whole file (identity or a sibling) or of the custom 404 page. */
  function serveFile(req: HttpRequest, resolved: Resolved, status = 200): HttpResponse | Promise<HttpResponse> {
    const type = contentTypeFor(path.extname(resolved.file));
    const accepted = acceptedEncodings(req.headers.get('accept-encoding'));
    const siblings = siblingsOf(resolved);
    const compressible = compress && isCompressible(type);
    const vary = siblings.br !== null || siblings.gzip !== null || compressible;
    const fromSibling = chooseCoding(accepted, siblings.br !== null, siblings.gzip !== null);
    if (fromSibling !== null) return sendFile(req, siblings[fromSibling] as Variant, type, vary, false, status);
    const identity: Variant = { file: resolved.file, stats: resolved.stats, encoding: null };
    if (compressible) {
      const coding = onTheFlyCoding(req, accepted, resolved.stats.size);
      if (coding !== null) return sendCompressed(req, identity, type, coding, siblings.br === null && siblings.gzip === null);
    }
    return sendFile(req, identity, type, vary, siblings.br === null && siblings.gzip === null, status);
  }

  /** The headers every representation of a file carries. */
  function fileHeaders(type: string, lastModified: Date | null, vary: boolean): Record<string, string> {
    const headers: Record<string, string> = { 'content-type': type };
    if (lastModified !== null) headers['last-modified'] = lastModified.toUTCString();
    if (cacheControl !== null) headers['cache-control'] = cacheControl;
    if (vary) headers.vary = VARY;
    return Object.assign(headers, extraHeaders);
  }

  /** 304 or 412 when the request's preconditions say so (RFC 9110 §13.2.2), else null. */
  function preconditions(req: HttpRequest, etag: string, lastModified: Date, vary: boolean): HttpResponse | null {
    const condition = evaluateConditions(req, etag, lastModified);
    if (condition === 412) return plain(412, 'Precondition Failed', { etag, ...(vary ? { vary: VARY } : {}) });
    if (condition === 304) {
      const notModified: Record<string, string> = { etag, 'last-modified': lastModified.toUTCString() };
      if (cacheControl !== null) notModified['cache-control'] = cacheControl;
      if (vary) notModified.vary = VARY;
      return { status: 304, headers: Object.assign(notModified, extraHeaders) };
    }
    return null;
  }

  /** Remembers `response` (a 200 from memory) as the fast answer for `req.path` in its representation. */
  function rememberFast(req: HttpRequest, cached: CachedFile, compressible: boolean, key: Coding | 'identity', response: HttpResponse): void {
    if (req.method !== 'GET' || !isUnconditional(req)) return;
    let entry = fast.get(req.path);
    if (entry === undefined || entry.cached !== cached) {
      if (fast.size >= MAX_FAST_ENTRIES) fast.clear();
      if (!cached.routes.includes(req.path)) cached.routes.push(req.path);
      entry = { cached, checkedAtMs: performance.now(), statTurn: thisTurn(), probes: passedOver.get(req) ?? null, compressible, responses: {} };
      fast.set(req.path, entry);
    }
    entry.responses[key] = Object.freeze({ ...response, headers: Object.freeze({ ...response.headers }) });
  }

  /**
   * A file as it is on disk: the file itself, or a pre-compressed sibling (`variant.encoding`).
   * `fastKey`: the file has no siblings, so a 200 from memory may answer the same path later with
   * one stat. `status` 404 is the custom not-found page: no validators, no ranges.
   */
  function sendFile(req: HttpRequest, variant: Variant, type: string, vary: boolean, fastKey: boolean, status: number): HttpResponse | Promise<HttpResponse> {
    const stats = variant.stats;
    const size = stats.size;
    const page = status !== 200;
    const lastModified = page ? null : new Date(Math.floor(stats.mtimeMs / 1000) * 1000);
    const headers = fileHeaders(type, lastModified, vary);
    let etag = '';
    if (lastModified !== null) {
      etag = `"${identityTag(stats)}${variant.encoding === null ? '' : `-${variant.encoding}`}"`;
      headers.etag = etag;
      headers['accept-ranges'] = 'bytes';
      if (variant.encoding !== null) headers['content-encoding'] = variant.encoding;
      const answered = preconditions(req, etag, lastModified, vary);
      if (answered !== null) return answered;
    }

    let start = 0;
    let end = size - 1;
    const range = req.method === 'GET' && lastModified !== null ? req.headers.get('range') : undefined;
    if (range !== undefined && lastModified !== null && ifRangeAllows(req.headers.get('if-range'), etag, lastModified)) {
      const parsed = parseRange(range, size);
      if (parsed === 'unsatisfiable') return plain(416, 'Range Not Satisfiable', { 'content-range': `bytes */${size}`, ...(vary ? { vary: VARY } : {}) });
      if (parsed !== null) {
        start = parsed.start;
        end = parsed.end;
        status = 206;
        headers['content-range'] = `bytes ${start}-${end}/${size}`;
      }
    }
    const length = size === 0 ? 0 : end - start + 1;
    headers['content-length'] = String(length);
    if (req.method === 'HEAD' || length === 0) return { status, headers, body: null };
    const fromDisk = (): HttpResponse => ({ status, headers, body: new FileBody(variant.file, start, length, { ino: stats.ino, size, mtimeMs: stats.mtimeMs }) });
    if (!cache.accepts(size)) return fromDisk();
    const fromMemory = (cached: CachedFile): HttpResponse => {
      const response = { status, headers, body: status === 206 ? cached.bytes.subarray(start, end + 1) : cached.bytes };
      if (status === 200 && fastKey) rememberFast(req, cached, vary, 'identity', response);
      return response;
    };
    const cached = cache.lookup(variant.file, stats);
    if (cached !== null) return fromMemory(cached);
    if (size > SMALL_FILE_BYTES) {
      const admitting = cache.admit(variant.file, stats);
      return admitting === null ? fromDisk() : admitting.then((entry) => (entry === null ? fromDisk() : fromMemory(entry)));
    }
    const bytes = readFileSync(variant.file);
    if (bytes.length !== size) return fromDisk();
    const kept = cache.keep(variant.file, stats, bytes);
    return kept === null ? { status, headers, body: status === 206 ? bytes.subarray(start, end + 1) : bytes } : fromMemory(kept);
  }

  /**
   * The file compressed with `coding` on the fly. A cached file's form is made once at its kept
   * level (keptLevel), in the background, and kept with it; until it is ready, and for files not
   * cached, a small file is compressed whole per response (HEAD too, so that it says the length and
   * coding GET sends) and a large one streamed, at STREAM_LEVEL. Each level has its own ETag (the
   * bytes differ). A form not smaller than the file sends the file. `fastKey`: the file has no
   * pre-compressed siblings, so a 200 from memory may answer the same path later.
   */
  function sendCompressed(req: HttpRequest, file: Variant, type: string, coding: Coding, fastKey: boolean): HttpResponse | Promise<HttpResponse> {
    const stats = file.stats;
    const size = stats.size;
    const lastModified = new Date(Math.floor(stats.mtimeMs / 1000) * 1000);
    const headers = fileHeaders(type, lastModified, true);
    headers['content-encoding'] = coding;
    const identity = (): HttpResponse | Promise<HttpResponse> => sendFile(req, file, type, true, fastKey, 200);
    let entry = cache.accepts(size) ? cache.lookup(file.file, stats) : null;
    let bytes = entry?.bytes ?? null;
    if (entry === null && size <= SMALL_FILE_BYTES) {
      const read = readFileSync(file.file);
      if (read.length !== size) return identity();
      entry = cache.keep(file.file, stats, read);
      bytes = entry?.bytes ?? read;
    }

    if (entry !== null) {
      const form = entry.forms.get(coding);
      if (form instanceof Buffer) {
        const etag = compressedTag(stats, coding, keptLevel(coding, size));
        const answered = preconditions(req, etag, lastModified, true);
        if (answered !== null) return answered;
        const response = { status: 200, headers: { ...headers, etag, 'content-length': String(form.length) }, body: form };
        if (fastKey) rememberFast(req, entry, true, coding, response);
        return response;
      }
      if (form === 'identity') {
        const response = identity();
        if (fastKey && !(response instanceof Promise) && response.status === 200 && response.body instanceof Uint8Array) rememberFast(req, entry, true, coding, response);
        return response;
      }
      if (form === undefined) makeCachedForm(entry, coding);
    }

    const etag = compressedTag(stats, coding, STREAM_LEVEL[coding]);
    const answered = preconditions(req, etag, lastModified, true);
    if (answered !== null) return answered;
    headers.etag = etag;
    if (size <= SMALL_FILE_BYTES && bytes !== null) {
      return compressBytes(bytes, coding, STREAM_LEVEL[coding]).then((out) =>
        out.length >= size ? identity() : { status: 200, headers: { ...headers, 'content-length': String(out.length) }, body: req.method === 'HEAD' ? null : out },
      );
    }
    if (req.method === 'HEAD') return { status: 200, headers, body: null };
    const streamed = (source: Uint8Array | AsyncIterable<Uint8Array>): HttpResponse => ({ status: 200, headers, body: compressStream(source, size, coding, STREAM_LEVEL[coding]) });
    if (bytes !== null) return streamed(bytes);
    const admitting = cache.accepts(size) ? cache.admit(file.file, stats) : null;
    if (admitting === null) return streamed(readPieces(file, stats));
    return admitting.then((admitted) => {
      if (admitted === null) return streamed(readPieces(file, stats));
      makeCachedForm(admitted, coding);
      return streamed(admitted.bytes);
    });
  }

  /**
   * Makes `entry`'s `coding` form at its kept level off the main thread and keeps it, if there is
   * room. A large file's forms are made one at a time (largeForms), so that however many large
   * files are admitted at once, the compression takes at most one of the thread pool's four
   * threads and the rest stay free for file reads.
   */
  function makeCachedForm(entry: CachedFile, coding: Coding): void {
    entry.forms.set(coding, 'pending');
    const make = (): Promise<Buffer | null> => (entry.dropped ? Promise.resolve(null) : compressBytes(entry.bytes, coding, keptLevel(coding, entry.size)));
    let made: Promise<Buffer | null>;
    if (entry.size <= SMALL_FILE_BYTES) {
      made = make();
    } else {
      made = largeForms.then(make);
      largeForms = made.then(ignore, ignore);
    }
    cache.track(
      made.then(
        (out) => {
          if (out === null || entry.dropped) return;
          if (out.length >= entry.size) entry.forms.set(coding, 'identity');
          else entry.forms.set(coding, cache.attach(entry, out) ?? 'uncached');
        },
        () => {
          if (!entry.dropped) entry.forms.set(coding, 'uncached');
        },
      ),
    );
  }

  /** The index file of the directory `dir`, when it exists inside the root. */
  function indexIn(dir: string): Resolved | null {
    const file = path.join(dir, index);
    const stats = statFile(file);
    return stats !== null && stats.isFile() && insideRoot(file, stats) ? { file, stats } : null;
  }

  /** The URL path → a file inside the root, a redirect to a directory's slash form, or an HTTP status. */
  function resolve(urlPath: string): Resolved | { redirect: string; dir: string } | { status: 403 | 404 | 400; named?: string } {
    let segments: string[];
    try {
      segments = urlPath.split('/').map((s) => decodeURIComponent(s));
    } catch {
      return { status: 400 };
    }
    for (const segment of segments) {
      if (segment === '..' || segment.includes('\0') || segment.includes('\\') || segment.includes('/')) return { status: segment === '..' ? 403 : 404 };
      if (!options.dotfiles && segment.startsWith('.') && segment !== '' && segment !== '.') return { status: 404 };
    }
    const relative = segments.filter((s) => s !== '' && s !== '.').join(path.sep);
    const file = path.join(rootDir, relative);
    if (file !== rootDir && !file.startsWith(rootPrefix)) return { status: 403 };
    const stats = statFile(file);
    if (stats === null) return { status: 404, named: file };
    if (!insideRoot(file, stats)) return { status: 403 };
    if (stats.isDirectory()) {
      // Never `//host/`: a protocol-relative Location would send the browser to another host.
      if (!urlPath.endsWith('/')) return { redirect: `/${urlPath.replace(/^[/\\]+/, '')}/`, dir: file };
      return indexIn(file) ?? { file, stats };
    }
    if (!stats.isFile()) return { status: 404, named: file };
    // A file named as a directory (`/hello.txt/`) is ENOTDIR, a 404 in nginx: served, it would be a
    // second URL for the file, whose relative links resolve one level too deep.
    const last = segments[segments.length - 1];
    if (last === '' || last === '.') return { status: 404, named: file };
    return { file, stats };
  }

  /** What is not found: the SPA's index (for a path, not a directory), the custom 404 page, or a plain 404. */
  function notFound(req: HttpRequest, spa = options.spa === true): HttpResponse | Promise<HttpResponse> {
    if (spa) {
      const fallback = resolve('/');
      if ('file' in fallback && fallback.stats.isFile()) return serveFile(req, fallback);
    }
    if (notFoundPage !== null) {
      const page = resolve(`/${notFoundPage}`);
      if ('file' in page && page.stats.isFile()) return sendFile(req, { file: page.file, stats: page.stats, encoding: null }, contentTypeFor(path.extname(page.file)), false, false, 404);
    }
    return plain(404, 'Not Found');
  }

  /** An answer from the fast table: one stat per turn, no resolution; null to go the long way. */
  function answerFast(req: HttpRequest, entry: FastEntry): HttpResponse | null {
    const cached = entry.cached;
    const turn = thisTurn();
    if (entry.statTurn !== turn) {
      const stats = statFile(cached.file);
      if (stats === null || !stats.isFile() || !cached.matches(stats) || (entry.probes !== null && changed(entry.probes)) || performance.now() - entry.checkedAtMs >= SIBLING_RECHECK_MS) {
        fast.delete(req.path);
        if (stats === null) cache.forget(cached.file);
        return null;
      }
      entry.statTurn = turn;
    }
    let key: Coding | 'identity' = 'identity';
    if (entry.compressible) key = onTheFlyCoding(req, acceptedEncodings(req.headers.get('accept-encoding')), cached.size) ?? 'identity';
    const response = entry.responses[key];
    if (response === undefined) return null;
    cache.touch(cached);
    return response;
  }

  const handler = (req: HttpRequest): HttpResponse | Promise<HttpResponse> => {
    if (req.method === 'OPTIONS' && options.cors) {
      return {
        status: 204,
        headers: {
          ...extraHeaders,
          'access-control-allow-methods': ALLOW,
          'access-control-allow-headers': req.headers.get('access-control-request-headers') ?? '*',
          'access-control-max-age': '86400',
          allow: ALLOW,
        },
      };
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(405, 'Method Not Allowed', { allow: ALLOW });
    if (!req.path.startsWith('/')) return plain(400, 'Bad Request');
    if (isUnconditional(req)) {
      const entry = fast.get(req.path);
      if (entry !== undefined) {
        const answer = answerFast(req, entry);
        if (answer !== null) return answer;
      }
    }
    let resolved = resolve(req.path);
    // As nginx's `try_files $uri $uri.html $uri/`: about.html before a directory about/ without an
    // index (a static export writes both), while a directory with one keeps its redirect.
    const missing = 'status' in resolved ? resolved.status === 404 : 'redirect' in resolved && options.cleanUrls === true && indexIn(resolved.dir) === null;
    const passed: string[] = [];
    if (missing && (options.spa || options.cleanUrls)) {
      const named = 'redirect' in resolved ? resolved.dir : 'status' in resolved ? resolved.named : undefined;
      if (named !== undefined) passed.push(named);
    }
    if (missing && options.cleanUrls && !req.path.endsWith('/')) {
      const clean = resolve(`${req.path}.html`);
      if ('file' in clean && clean.stats.isFile()) resolved = clean;
      else if ('status' in clean && clean.named !== undefined) passed.push(clean.named);
    }
    if (passed.length > 0) passedOver.set(req, passed.map((file) => ({ file, signature: signatureOf(statFile(file)) })));
    if ('redirect' in resolved) {
      const location = resolved.redirect + (req.query === '' ? '' : `?${req.query}`);
      return { status: 301, headers: { location, 'content-type': 'text/plain; charset=utf-8', ...extraHeaders }, body: `Moved to ${location}\n` };
    }
    if ('status' in resolved) {
      if (resolved.status === 404) return notFound(req);
      return plain(resolved.status, resolved.status === 403 ? 'Forbidden' : 'Bad Request');
    }
    if (resolved.stats.isDirectory()) {
      if (!options.list) return notFound(req, false);
      return listDirectory(req, resolved.file, options.dotfiles === true, cacheControl, extraHeaders);
    }
    return serveFile(req, resolved);
  };
  return Object.assign(handler, { cache: { stats: () => cache.stats(), settled: () => cache.settled() } });
}

const ignore = (): void => undefined;

/** `size-mtime` in hex: the identity representation's validator, which the others extend. */
function identityTag(stats: Stats): string {
  return `${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}`;
}

/** A compressed form's strong ETag: the file's version, the coding and the level (the bytes depend on both). */
function compressedTag(stats: Stats, coding: Coding, level: number): string {
  return `"${identityTag(stats)}-${coding === 'br' ? 'br' : 'gz'}${level}"`;
}

/** A file's bytes in pieces from an opened FileBody (opened now: a file gone or replaced is a 500, before any byte). */
function readPieces(file: Variant, stats: Stats): AsyncIterable<Uint8Array> {
  const body = new FileBody(file.file, 0, stats.size, { ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs });
  const fd = body.open();
  return (async function* pieces(): AsyncGenerator<Uint8Array> {
    try {
      for (let position = 0; position < stats.size; ) {
        const buffer = Buffer.allocUnsafe(Math.min(COMPRESS_READ_BYTES, stats.size - position));
        const bytesRead = await new Promise<number>((resolve, reject) => read(fd, buffer, 0, buffer.length, position, (error, n) => (error === null ? resolve(n) : reject(error))));
        if (bytesRead === 0) throw new Error('the file shrank while it was compressed');
        position += bytesRead;
        yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
      }
    } finally {
      body.destroy();
    }
  })();
}

const NUMBER_OPTIONS = ['maxCachedFileBytes', 'maxCacheBytes', 'cacheInactiveMs'] as const;

/**
 * Fields `headers` may not set: framing and hop-by-hop fields (RFC 9110 §7.6.1, RFC 9112 §6), and
 * those serveStatic sets itself for each response (Cache-Control has its own option).
 */
const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'content-length',
  'content-type', 'content-encoding', 'content-range', 'accept-ranges', 'etag', 'last-modified', 'vary', 'location',
  'date', 'cache-control', 'allow',
]);

/** Why `name: value` cannot be an extra response field, or null. */
export function extraHeaderProblem(name: string, value: string): string | null {
  if (!isToken(name)) return `"${name}" is not a field name`;
  if (!isFieldValue(value)) return `the value of ${name} holds a control character`;
  const lower = name.toLowerCase();
  if (lower === 'cache-control') return 'Cache-Control has its own option (cacheControl, --cache-control)';
  if (RESERVED_HEADERS.has(lower)) return `${name} is set by the server itself`;
  return null;
}

/** Throws a TypeError naming the first invalid option. */
function checkOptions(options: StaticOptions): void {
  if (options === null || typeof options !== 'object') throw new TypeError('serveStatic: options must be an object');
  for (const name of NUMBER_OPTIONS) {
    const value = options[name];
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) throw new TypeError(`serveStatic: option ${name} must be a whole number ≥ 0; got ${String(value)}`);
  }
  const cacheControl = options.cacheControl;
  if (cacheControl !== undefined && cacheControl !== null && (typeof cacheControl !== 'string' || cacheControl.trim() === '' || !isFieldValue(cacheControl))) {
    throw new TypeError('serveStatic: option cacheControl must be a field value (no control characters) or null');
  }
  const page = options.notFoundPage;
  if (page !== undefined && page !== null && (typeof page !== 'string' || page === '')) throw new TypeError('serveStatic: option notFoundPage must be a file name in the root or null');
  if (options.headers !== undefined) {
    if (options.headers === null || typeof options.headers !== 'object') throw new TypeError('serveStatic: option headers must be an object of field names and values');
    for (const [name, value] of Object.entries(options.headers)) {
      const problem = typeof value === 'string' ? extraHeaderProblem(name, value) : `the value of ${name} must be a string`;
      if (problem !== null) throw new TypeError(`serveStatic: option headers: ${problem}`);
    }
  }
}

const CONDITIONAL_NAMES: ReadonlySet<string> = new Set(CONDITIONAL_FIELDS);

/** No Range and no precondition: the answer depends on the file alone. One pass over the fields. */
function isUnconditional(req: HttpRequest): boolean {
  const headers = req.headers;
  for (let i = 0, size = headers.size; i < size; i++) if (CONDITIONAL_NAMES.has(headers.nameAt(i))) return false;
  return true;
}

/** RFC 9110 §13.2.2: the order in which preconditions are evaluated. */
function evaluateConditions(req: HttpRequest, etag: string, lastModified: Date): 200 | 304 | 412 {
  const ifMatch = req.headers.get('if-match');
  if (ifMatch !== undefined) {
    if (!matchesEtag(ifMatch, etag, true)) return 412;
  } else {
    const ifUnmodifiedSince = parseHttpDate(req.headers.get('if-unmodified-since'));
    if (ifUnmodifiedSince !== null && lastModified.getTime() > ifUnmodifiedSince) return 412;
  }
  const ifNoneMatch = req.headers.get('if-none-match');
  if (ifNoneMatch !== undefined) return matchesEtag(ifNoneMatch, etag, false) ? 304 : 200;
  const ifModifiedSince = parseHttpDate(req.headers.get('if-modified-since'));
  if (ifModifiedSince !== null && lastModified.getTime() <= ifModifiedSince) return 304;
  return 200;
}

/** `*` or a list of entity-tags; weak comparison unless `strong` (RFC 9110 §8.8.3.2). */
function matchesEtag(header: string, etag: string, strong: boolean): boolean {
  const trimmed = header.trim();
  if (trimmed === '*') return true;
  for (let candidate of trimmed.split(',')) {
    candidate = candidate.trim();
    if (candidate.startsWith('W/')) {
      if (strong) continue;
      candidate = candidate.slice(2);
    }
    if (candidate === etag) return true;
  }
  return false;
}

function parseHttpDate(value: string | undefined): number | null {
  if (value === undefined) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

/** RFC 9110 §13.1.5: If-Range with a strong ETag or an exact date; otherwise send the whole file. */
function ifRangeAllows(ifRange: string | undefined, etag: string, lastModified: Date): boolean {
  if (ifRange === undefined) return true;
  const value = ifRange.trim();
  if (value.startsWith('"')) return value === etag;
  if (value.startsWith('W/')) return false;
  const date = parseHttpDate(value);
  return date !== null && date === lastModified.getTime();
}

/** One byte range, null to ignore the header (malformed or several ranges), or unsatisfiable. */
export function parseRange(header: string, size: number): { start: number; end: number } | null | 'unsatisfiable' {
  const match = /^bytes=(.*)$/i.exec(header.trim());
  if (match === null) return null;
  const specs = match[1].split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (specs.length !== 1) return null;
  const spec = /^(\d*)-(\d*)$/.exec(specs[0]);
  if (spec === null || (spec[1] === '' && spec[2] === '')) return null;
  if (spec[1] === '') {
    const suffix = Number(spec[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(spec[1]);
  const end = spec[2] === '' ? size - 1 : Math.min(Number(spec[2]), size - 1);
  if (spec[2] !== '' && Number(spec[2]) < start) return null;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

async function listDirectory(req: HttpRequest, dir: string, dotfiles: boolean, cacheControl: string | null, extra: ResponseHeaders): Promise<HttpResponse> {
  const entries = (await fs.readdir(dir, { withFileTypes: true }))
    .filter((e) => dotfiles || !e.name.startsWith('.'))
    .sort((a, b) => Number(b.isDirectory()) - Number(a.isDirectory()) || a.name.localeCompare(b.name));
  const title = escapeHtml(decodeURIComponent(req.path));
  const items = entries
    .map((e) => {
      const name = e.name + (e.isDirectory() ? '/' : '');
      return `<li><a href="${escapeHtml(encodeURIComponent(e.name) + (e.isDirectory() ? '/' : ''))}">${escapeHtml(name)}</a></li>`;
    })
    .join('\n');
  const parent = req.path === '/' ? '' : '<li><a href="../">../</a></li>\n';
  const body = `<!doctype html>\n<meta charset="utf-8">\n<title>Index of ${title}</title>\n<h1>Index of ${title}</h1>\n<ul>\n${parent}${items}\n</ul>\n`;
  const headers: ResponseHeaders = { 'content-type': 'text/html; charset=utf-8', ...extra };
  if (cacheControl !== null) headers['cache-control'] = cacheControl;
  return { status: 200, headers, body };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
