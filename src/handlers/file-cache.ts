/**
 * FileCache: the contents of served files kept in memory for serveStatic, as a CDN edge or Varnish
 * keeps hot objects (node has no sendfile: a file answered from memory is never read again).
 *
 * - Bounded: at most `maxBytes` in all — contents, what entries add to themselves (compressed
 *   forms, `hold`) and reads in flight, reserved before they start — and no file larger than
 *   `maxFileBytes`. Either at 0 turns the cache off.
 * - Admission: a small file (`SMALL_FILE_BYTES`, read synchronously in any case) on its first
 *   request (`keep`); a larger one on its second request within `inactiveMs` (`admit`; nginx's
 *   `open_file_cache_min_uses 2`), read once through the thread pool by the request that admits
 *   it, which is then answered from memory like every later one.
 * - Eviction: least recently used first (recency moves once per entry per event-loop turn), and
 *   only entries unused for `inactiveMs` (nginx's `open_file_cache inactive`). A scan, or a churn
 *   of more distinct files than fit, cannot flush the files in use: the newcomers are not cached,
 *   and their requests take the uncached path at its usual cost (no read into memory that the
 *   next admission throws away).
 * - Validity: an entry is one version of a file (inode, size, mtime); `lookup` with a stat that
 *   differs drops it. serveStatic stats at most once per turn, so a file changed on disk is never
 *   served stale past the current turn. A file read for the cache is fstat'ed before and after the
 *   read, and kept only if it was that version throughout.
 *
 * - Memory, not just bookkeeping: every buffer kept owns its ArrayBuffer, so the bytes counted are
 *   the bytes held — a buffer that is a slice of a larger shared one (readFileSync's result under
 *   4 KiB sits in an 8 KiB pool block; zlib's output under 16 KiB is a slice of its 16 KiB output
 *   chunk) is copied out first, else a 38-byte form would keep 16 KiB alive uncounted, and the
 *   FinalizationRegistry would watch a block that outlives the entry.
 * - A dropped entry's buffers stay counted until the garbage collector has freed them (a
 *   FinalizationRegistry says when) — until then responses may still be sending them, and V8 frees
 *   external memory only at its next collection, which under a churn of evictions comes tens of MiB
 *   late. Room they would leave is refused meanwhile (those requests are sent from disk), so the
 *   buffers the cache ever made never take more than `maxBytes` at once.
 */

import { promises as fs } from 'node:fs';
import { checkOpened, OPEN_FLAGS, type FileIdentity } from './file-body.js';
import { thisTurn, turnNowMs } from './turn.js';

/** Files up to this size are read synchronously (a few µs from the page cache) and cached on their first request. */
export const SMALL_FILE_BYTES = 65_536;
/** Recorded first requests of large files, cleared when full (a request seen again after that only waits one more request). */
const MAX_SIGHTINGS = 10_000;

export interface FileCacheLimits {
  /** Everything held; 0 = no cache. */
  maxBytes: number;
  /** Largest file kept; 0 = no cache. */
  maxFileBytes: number;
  /** Unused this long, an entry may be evicted; a large file requested twice within it is admitted. */
  inactiveMs: number;
}

export interface FileCacheStats {
  maxBytes: number;
  maxFileBytes: number;
  /** Held now: contents, their additions, reads in flight, and dropped buffers not yet freed (never above maxBytes). */
  bytes: number;
  /** Of those, dropped buffers the garbage collector has not freed yet. */
  unfreedBytes: number;
  files: number;
  /** Requests answered from memory / with the file read (or sent from disk). */
  hits: number;
  misses: number;
  evictions: number;
}

interface Stat extends FileIdentity {
  isFile(): boolean;
}

/** One version of a file, in memory. */
export class CachedFile implements FileIdentity {
  /** Bytes counted against the cache for this entry: its contents and what was attached to it. */
  heldBytes: number;
  /** Buffers attached to it (its compressed forms, say), counted in heldBytes. */
  readonly attached: Buffer[] = [];
  usedMs: number;
  usedTurn: number;
  /** Out of the cache (evicted, stale, or the cache dropped it): nothing may be added to it. */
  dropped = false;
  /** The request paths serveStatic answers from this entry without resolving them again. */
  readonly routes: string[] = [];
  /**
   * Its compressed forms by coding, made by serveStatic: the bytes (attached, so counted and
   * dropped with the entry); `pending` while made; `identity` when not smaller than the file;
   * `uncached` when there was no room for them.
   */
  readonly forms = new Map<string, Buffer | 'pending' | 'identity' | 'uncached'>();

  constructor(
    readonly file: string,
    readonly ino: number,
    readonly size: number,
    readonly mtimeMs: number,
    readonly bytes: Buffer,
  ) {
    this.heldBytes = bytes.length;
    this.usedMs = turnNowMs();
    this.usedTurn = thisTurn();
  }

  /** Still the version `stats` describes. */
  matches(stats: FileIdentity): boolean {
    return stats.size === this.size && stats.mtimeMs === this.mtimeMs && stats.ino === this.ino;
  }
}

interface PendingRead {
  identity: FileIdentity;
  promise: Promise<CachedFile | null>;
}

export class FileCache {
  readonly #limits: FileCacheLimits;
  readonly #onDrop: (entry: CachedFile) => void;
  /** By file, least recently used first. */
  readonly #entries = new Map<string, CachedFile>();
  readonly #pending = new Map<string, PendingRead>();
  /** Large files requested once, when (turnNowMs). */
  readonly #sightings = new Map<string, number>();
  readonly #work = new Set<Promise<unknown>>();
  /** Dropped buffers, until collected: their bytes leave #unfreed then. */
  readonly #collected = new FinalizationRegistry<number>((bytes) => {
    this.#unfreed -= bytes;
  });
  /** Live entries, their attachments and reads in flight. */
  #bytes = 0;
  #unfreed = 0;
  #hits = 0;
  #misses = 0;
  #evictions = 0;

  constructor(limits: FileCacheLimits, onDrop: (entry: CachedFile) => void = () => undefined) {
    this.#limits = limits;
    this.#onDrop = onDrop;
  }

  get enabled(): boolean {
    return this.#limits.maxBytes > 0 && this.#limits.maxFileBytes > 0;
  }

  /** A file of this size may be cached (else it is always sent from disk). */
  accepts(size: number): boolean {
    return this.enabled && size <= this.#limits.maxFileBytes && size <= this.#limits.maxBytes;
  }

  /** The entry for `file` if it is still the version `stats` describes (then counted as a hit and used); a stale one is dropped. */
  lookup(file: string, stats: FileIdentity): CachedFile | null {
    const entry = this.#entries.get(file);
    if (entry !== undefined) {
      if (entry.matches(stats)) {
        this.touch(entry);
        return entry;
      }
      this.#drop(entry);
      // A file that changed while cached was in use: its next request reads it back in.
      this.#sightings.set(file, turnNowMs());
    }
    this.#misses++;
    return null;
  }

  /** Drops the entry for a file that is gone. */
  forget(file: string): void {
    const entry = this.#entries.get(file);
    if (entry !== undefined) this.#drop(entry);
  }

  /** A hit on an entry known to be current: it becomes the most recently used (once per turn). */
  touch(entry: CachedFile): void {
    this.#hits++;
    const turn = thisTurn();
    if (entry.usedTurn === turn || entry.dropped) return;
    entry.usedTurn = turn;
    entry.usedMs = turnNowMs();
    this.#entries.delete(entry.file);
    this.#entries.set(entry.file, entry);
  }

  /**
   * Keeps the bytes of a small file the caller has just read (as they are, or copied into a buffer
   * of their own: the entry's `bytes`); null when it is not cached (off, too large, no room).
   */
  keep(file: string, stats: FileIdentity, bytes: Buffer): CachedFile | null {
    if (!this.accepts(bytes.length) || bytes.length !== stats.size || this.#pending.has(file)) return null;
    const old = this.#entries.get(file);
    if (old !== undefined) this.#drop(old);
    if (!this.#reserve(bytes.length)) return null;
    const entry = new CachedFile(file, stats.ino, stats.size, stats.mtimeMs, ownBuffer(bytes));
    this.#entries.set(file, entry);
    return entry;
  }

  /**
   * A large file was requested (and missed): on its second request within inactiveMs, with room
   * for it, it is read into the cache — the promise resolves to the entry, or null if the read
   * failed or the file changed meanwhile. Requests for the same version while it is read share the
   * read. Null: not now (send it from disk).
   */
  admit(file: string, stats: Stat): Promise<CachedFile | null> | null {
    if (!this.accepts(stats.size)) return null;
    const pending = this.#pending.get(file);
    if (pending !== undefined) {
      const identity = pending.identity;
      return identity.ino === stats.ino && identity.size === stats.size && identity.mtimeMs === stats.mtimeMs ? pending.promise : null;
    }
    const now = turnNowMs();
    const seenMs = this.#sightings.get(file);
    if (this.#sightings.size >= MAX_SIGHTINGS && seenMs === undefined) this.#sightings.clear();
    this.#sightings.set(file, now);
    if (seenMs === undefined || now - seenMs > this.#limits.inactiveMs) return null;
    if (!this.#reserve(stats.size)) return null;
    this.#sightings.delete(file);
    const identity: FileIdentity = { ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs };
    const promise = readWhole(file, identity).then(
      (bytes) => {
        this.#pending.delete(file);
        const old = this.#entries.get(file);
        if (old !== undefined) this.#drop(old);
        const entry = new CachedFile(file, identity.ino, identity.size, identity.mtimeMs, bytes);
        this.#entries.set(file, entry);
        return entry;
      },
      () => {
        this.#pending.delete(file);
        this.#bytes -= identity.size;
        return null;
      },
    );
    this.#pending.set(file, { identity, promise });
    this.#track(promise);
    return promise;
  }

  /**
   * Counts `buffer` (a compressed form of the entry, say) with `entry`, which keeps it: the buffer
   * kept (`buffer`, or a copy of it in a buffer of its own), or null when there is no room.
   */
  attach(entry: CachedFile, buffer: Buffer): Buffer | null {
    if (entry.dropped || !this.#reserve(buffer.length)) return null;
    if (entry.dropped) {
      this.#bytes -= buffer.length;
      return null;
    }
    const kept = ownBuffer(buffer);
    entry.heldBytes += kept.length;
    entry.attached.push(kept);
    return kept;
  }

  /** Follows background work (reads, and what callers `track`) so that settled() can wait for it. */
  track(work: Promise<unknown>): void {
    this.#track(work);
  }

  /** Resolves once no read or tracked work is in flight. */
  async settled(): Promise<void> {
    while (this.#work.size > 0) await Promise.allSettled([...this.#work]);
  }

  stats(): FileCacheStats {
    return {
      maxBytes: this.#limits.maxBytes,
      maxFileBytes: this.#limits.maxFileBytes,
      bytes: this.#bytes + this.#unfreed,
      unfreedBytes: this.#unfreed,
      files: this.#entries.size,
      hits: this.#hits,
      misses: this.#misses,
      evictions: this.#evictions,
    };
  }

  #track(work: Promise<unknown>): void {
    this.#work.add(work);
    const done = (): void => {
      this.#work.delete(work);
    };
    work.then(done, done);
  }

  /**
   * Counts `bytes` more if they fit with what is held and what is dropped but not yet freed;
   * evicts unused entries, least recently used first, so that they will fit once those are freed.
   */
  #reserve(bytes: number): boolean {
    const max = this.#limits.maxBytes;
    if (bytes > max) return false;
    if (this.#bytes + bytes > max) {
      const now = turnNowMs();
      for (const entry of this.#entries.values()) {
        if (now - entry.usedMs < this.#limits.inactiveMs) return false;
        this.#drop(entry);
        this.#evictions++;
        if (this.#bytes + bytes <= max) break;
      }
      if (this.#bytes + bytes > max) return false;
    }
    if (this.#bytes + this.#unfreed + bytes > max) return false;
    this.#bytes += bytes;
    return true;
  }

  #drop(entry: CachedFile): void {
    if (entry.dropped) return;
    entry.dropped = true;
    this.#entries.delete(entry.file);
    this.#bytes -= entry.heldBytes;
    this.#unfreed += entry.heldBytes;
    this.#collected.register(entry.bytes.buffer, entry.bytes.length);
    for (const buffer of entry.attached) this.#collected.register(buffer.buffer, buffer.length);
    this.#onDrop(entry);
  }
}

/** Whether `bytes` is the whole of its ArrayBuffer (then its length is the memory it keeps alive). */
export function ownsBuffer(bytes: Uint8Array): boolean {
  return bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length;
}

/** `bytes`, or a copy of them in an ArrayBuffer of their own when they are a slice of a larger one. */
function ownBuffer(bytes: Buffer): Buffer {
  if (ownsBuffer(bytes)) return bytes;
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(copy);
  return copy;
}

/** The whole file, if it is the version `expect` describes from open to the end of the read. */
async function readWhole(file: string, expect: FileIdentity): Promise<Buffer> {
  const handle = await fs.open(file, OPEN_FLAGS);
  try {
    checkOpened(await handle.stat(), expect);
    const bytes = Buffer.allocUnsafeSlow(expect.size);
    let filled = 0;
    while (filled < expect.size) {
      const { bytesRead } = await handle.read(bytes, filled, expect.size - filled, filled);
      if (bytesRead === 0) throw new Error('the file shrank while it was read');
      filled += bytesRead;
    }
    checkOpened(await handle.stat(), expect);
    return bytes;
  } finally {
    await handle.close();
  }
}
