/**
 * serveStatic(root, options) → Handler: files under `root`, the way users of nginx, `serve` or
 * `http-server` expect.
 *
 * - GET and HEAD (other methods → 405 with Allow); `index.html` for directories; a directory
 *   without its trailing slash → 301 to the slash form.
 * - Content-Type from the extension (./mime.ts; charset=utf-8 for text); strong ETag and
 *   Last-Modified; conditional requests in RFC 9110 §13.2.2 order (If-Match, If-Unmodified-Since,
 *   If-None-Match, If-Modified-Since) → 412 / 304.
 * - Range (RFC 9110 §14): one range → 206 + Content-Range; unsatisfiable → 416; If-Range; several
 *   ranges → the whole file (200), as RFC 9110 §14.2 allows.
 * - Pre-compressed `.br` / `.gz` siblings when Accept-Encoding allows, with Vary: Accept-Encoding.
 * - Hot files are answered from memory (./file-cache.ts: bounded, least recently used first,
 *   revalidated by size, mtime and inode); the others are sent from disk with backpressure, never
 *   read whole (a FileBody, ./file-body.ts: reused 256 KiB read buffers). Metadata calls are
 *   synchronous (stat, realpath once per inode and mtime), as nginx's workers do: on a local disk
 *   they cost microseconds, far less than a trip through libuv's thread pool.
 * - Freshness: a cached file is stat'ed at most once per event-loop turn, a turn ending at the check
 *   phase (setImmediate). Requests read in one poll arrived together, so they are answered from the
 *   same version, as if served at the same instant; a request read in a later poll sees a change on
 *   disk. Two edges: a stat taken by code running in the check phase itself (a handler resumed by
 *   `setImmediate`) also serves requests read in the next poll; and a change this process makes to
 *   a file is seen once the turn has ended (`await new Promise(setImmediate)`), not after a
 *   microtask (`await null`).
 * - Safety: the decoded path never leaves the root (`..`, encoded slashes, backslashes, NUL,
 *   symlinks that resolve outside → 403/404); dotfiles are hidden (404). Error pages never show
 *   filesystem paths or stacks.
 */

import { promises as fs, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Handler, HttpRequest, HttpResponse, ResponseHeaders } from './types.js';
import { contentTypeFor } from './mime.js';
import { FileBody } from './file-body.js';
import { CachedFile, FileCache, SMALL_FILE_BYTES, type FileCacheStats } from './file-cache.js';
import { thisTurn } from './turn.js';

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
  encoding: 'br' | 'gzip' | null;
}

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

/** The defaults of the options the CLI shows. */
export const STATIC_DEFAULTS = Object.freeze({
  maxCacheBytes: DEFAULT_MAX_CACHE_BYTES,
  maxCachedFileBytes: DEFAULT_MAX_CACHED_FILE_BYTES,
});
const MAX_VERDICTS = 10_000;
const MAX_FAST_ENTRIES = 10_000;
/** How long a fast entry trusts that no pre-compressed sibling appeared (its own file is stat'ed every time). */
const SIBLING_RECHECK_MS = 1_000;
const CONDITIONAL_FIELDS = ['range', 'if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since'] as const;

/** A cached file with no variants, ready to answer an unconditional GET/HEAD with one stat per turn. */
interface FastEntry {
  cached: CachedFile;
  checkedAtMs: number;
  /** The event-loop turn (see thisTurn) in which the file was last stat'ed and found unchanged. */
  statTurn: number;
  response: HttpResponse;
}

export function serveStatic(root: string, options: StaticOptions = {}): StaticHandler {
  checkOptions(options);
  const rootDir = path.resolve(root);
  const withSep = (dir: string): string => (dir.endsWith(path.sep) ? dir : dir + path.sep);
  const rootPrefix = withSep(rootDir);
  const index = options.index ?? 'index.html';
  const cacheControl = options.cacheControl === undefined ? 'no-cache' : options.cacheControl;
  const fast = new Map<string, FastEntry>();
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

  const corsHeaders: ResponseHeaders = options.cors ? { 'access-control-allow-origin': '*' } : {};

  const plain = (status: number, text: string, extra?: ResponseHeaders): HttpResponse => ({
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', ...corsHeaders, ...extra },
    body: `${text}\n`,
  });

  /** realpath verdicts, keyed by path and valid while the file's inode and mtime stay the same. */
  const insideVerdicts = new Map<string, { ino: number; mtimeMs: number; inside: boolean }>();

  function insideRoot(file: string, stats: Stats): boolean {
    const known = insideVerdicts.get(file);
    if (known !== undefined && known.ino === stats.ino && known.mtimeMs === stats.mtimeMs) return known.inside;
    let inside = false;
    try {
      realRoot ??= realpathSync(rootDir);
      const real = realpathSync(file);
      inside = real === realRoot || real.startsWith(withSep(realRoot));
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

  /** Picks the pre-compressed sibling the client accepts, if one exists. */
  function pickVariant(resolved: Resolved, acceptEncoding: string | undefined): { variant: Variant; hasSiblings: boolean } {
    const accepted = parseAcceptEncoding(acceptEncoding);
    let hasSiblings = false;
    let chosen: Variant | null = null;
    for (const [suffix, encoding] of [['.br', 'br'], ['.gz', 'gzip']] as const) {
      const stats = statFile(resolved.file + suffix);
      if (stats === null || !stats.isFile() || !insideRoot(resolved.file + suffix, stats)) continue;
      hasSiblings = true;
      if (chosen === null && accepted(encoding)) chosen = { file: resolved.file + suffix, stats, encoding };
    }
    return { variant: chosen ?? { file: resolved.file, stats: resolved.stats, encoding: null }, hasSiblings };
  }

  function serveFile(req: HttpRequest, resolved: Resolved, status = 200): HttpResponse | Promise<HttpResponse> {
    const { variant, hasSiblings } = pickVariant(resolved, req.headers.get('accept-encoding'));
    const stats = variant.stats;
    const etag = `"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}${variant.encoding === null ? '' : `-${variant.encoding}`}"`;
    const lastModified = new Date(Math.floor(stats.mtimeMs / 1000) * 1000);
    const headers: Record<string, string> = {
      'content-type': contentTypeFor(path.extname(resolved.file)),
      etag,
      'last-modified': lastModified.toUTCString(),
      'accept-ranges': 'bytes',
      ...(corsHeaders as Record<string, string>),
    };
    if (cacheControl !== null) headers['cache-control'] = cacheControl;
    if (variant.encoding !== null) headers['content-encoding'] = variant.encoding;
    if (hasSiblings) headers.vary = 'Accept-Encoding';

    if (status === 200) {
      const condition = evaluateConditions(req, etag, lastModified);
      if (condition === 412) return plain(412, 'Precondition Failed', { etag });
      if (condition === 304) {
        const notModified: Record<string, string> = { etag, 'last-modified': headers['last-modified'] };
        if (cacheControl !== null) notModified['cache-control'] = cacheControl;
        if (hasSiblings) notModified.vary = 'Accept-Encoding';
        return { status: 304, headers: { ...notModified, ...(corsHeaders as Record<string, string>) } };
      }
    }

    const size = stats.size;
    let start = 0;
    let end = size - 1;
    const range = req.method === 'GET' && status === 200 ? req.headers.get('range') : undefined;
    if (range !== undefined && ifRangeAllows(req.headers.get('if-range'), etag, lastModified)) {
      const parsed = parseRange(range, size);
      if (parsed === 'unsatisfiable') return plain(416, 'Range Not Satisfiable', { 'content-range': `bytes */${size}` });
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
      if (status === 200 && variant.encoding === null && !hasSiblings && isUnconditional(req)) {
        if (fast.size >= MAX_FAST_ENTRIES) fast.clear();
        if (!cached.routes.includes(req.path)) cached.routes.push(req.path);
        fast.set(req.path, { cached, checkedAtMs: performance.now(), statTurn: thisTurn(), response: Object.freeze({ ...response, headers: Object.freeze({ ...headers }) }) });
      }
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

  /** The URL path → a file inside the root, or an HTTP status. */
  function resolve(urlPath: string): Resolved | { redirect: string } | { status: 403 | 404 | 400 } {
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
    if (stats === null) return { status: 404 };
    if (!insideRoot(file, stats)) return { status: 403 };
    if (stats.isDirectory()) {
      // Never `//host/`: a protocol-relative Location would send the browser to another host.
      if (!urlPath.endsWith('/')) return { redirect: `/${urlPath.replace(/^[/\\]+/, '')}/` };
      const indexFile = path.join(file, index);
      const indexStats = statFile(indexFile);
      if (indexStats !== null && indexStats.isFile() && insideRoot(indexFile, indexStats)) return { file: indexFile, stats: indexStats };
      return { file, stats };
    }
    if (!stats.isFile()) return { status: 404 };
    return { file, stats };
  }

  const handler = (req: HttpRequest): HttpResponse | Promise<HttpResponse> => {
    if (req.method === 'OPTIONS' && options.cors) {
      return {
        status: 204,
        headers: {
          ...corsHeaders,
          'access-control-allow-methods': ALLOW,
          'access-control-allow-headers': req.headers.get('access-control-request-headers') ?? '*',
          'access-control-max-age': '86400',
          allow: ALLOW,
        },
      };
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(405, 'Method Not Allowed', { allow: ALLOW });
    if (!req.path.startsWith('/')) return plain(400, 'Bad Request');
    const unconditional = isUnconditional(req);
    if (unconditional) {
      const entry = fast.get(req.path);
      if (entry !== undefined) {
        const turn = thisTurn();
        const cached = entry.cached;
        if (entry.statTurn === turn) {
          cache.touch(cached);
          return entry.response;
        }
        const stats = statFile(cached.file);
        if (stats !== null && stats.isFile() && cached.matches(stats) && performance.now() - entry.checkedAtMs < SIBLING_RECHECK_MS) {
          entry.statTurn = turn;
          cache.touch(cached);
          return entry.response;
        }
        fast.delete(req.path);
        if (stats === null) cache.forget(cached.file);
      }
    }
    const resolved = resolve(req.path);
    if ('redirect' in resolved) {
      const location = resolved.redirect + (req.query === '' ? '' : `?${req.query}`);
      return { status: 301, headers: { location, 'content-type': 'text/plain; charset=utf-8', ...corsHeaders }, body: `Moved to ${location}\n` };
    }
    if ('status' in resolved) {
      if (resolved.status === 404 && options.spa) {
        const fallback = resolve('/');
        if ('file' in fallback && fallback.stats.isFile()) return serveFile(req, fallback);
      }
      return plain(resolved.status, resolved.status === 403 ? 'Forbidden' : resolved.status === 400 ? 'Bad Request' : 'Not Found');
    }
    if (resolved.stats.isDirectory()) {
      if (!options.list) return plain(404, 'Not Found');
      return listDirectory(req, resolved.file, options.dotfiles === true, cacheControl, corsHeaders);
    }
    return serveFile(req, resolved);
  };
  return Object.assign(handler, { cache: { stats: () => cache.stats(), settled: () => cache.settled() } });
}

const NUMBER_OPTIONS = ['maxCachedFileBytes', 'maxCacheBytes', 'cacheInactiveMs'] as const;

/** Throws a TypeError naming the first invalid option. */
function checkOptions(options: StaticOptions): void {
  if (options === null || typeof options !== 'object') throw new TypeError('serveStatic: options must be an object');
  for (const name of NUMBER_OPTIONS) {
    const value = options[name];
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) throw new TypeError(`serveStatic: option ${name} must be a whole number ≥ 0; got ${String(value)}`);
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

/** Accept-Encoding (RFC 9110 §12.5.3) → a predicate: is this coding acceptable (q > 0)? */
function parseAcceptEncoding(header: string | undefined): (coding: string) => boolean {
  if (header === undefined) return () => false;
  const q = new Map<string, number>();
  for (const part of header.split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (name === '') continue;
    let weight = 1;
    for (const param of params) {
      const [key, value] = param.trim().split('=');
      if (key === 'q') weight = Number(value);
    }
    q.set(name, Number.isNaN(weight) ? 0 : weight);
  }
  return (coding) => {
    const weight = q.get(coding) ?? q.get('*');
    return weight !== undefined && weight > 0;
  };
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
