/**
 * FileBody: a byte range of a file as a response body.
 *
 * It is an `AsyncIterable<Uint8Array>` like any stream body, so any consumer can read it (each
 * chunk a fresh buffer; a file that shrank ends early, which a writer reports as a body shorter
 * than its Content-Length). The server recognises it and sends it itself (writeFileBody in
 * src/server/write-response.ts): it opens the file before the response head goes out, so a file
 * that is gone, is no longer a regular file, or is not the one `expect` describes (replaced since
 * the handler's stat) is a 500 rather than a head followed by a reset; then it reads into reused
 * buffers. A FileBody never sent holds no descriptor: HEAD and abandoned requests never open it,
 * and `destroy()` closes one that was opened.
 */

import { closeSync, constants, fstatSync, openSync, promises as fs } from 'node:fs';

/** Bytes read per piece: four thread-pool reads for a 1 MiB file, one piece held per slow client. */
export const FILE_CHUNK_BYTES = 262_144;

/** What the response head was built from: the opened file must still be this one. */
export interface FileIdentity {
  ino: number;
  size: number;
  mtimeMs: number;
}

// Non-blocking, so a FIFO swapped in for the file cannot stall the event loop in open(2).
export const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

export class FileBody implements AsyncIterable<Uint8Array> {
  #fd = -1;

  /**
   * @param path the file
   * @param start first byte offset
   * @param length bytes to send from `start` (the Content-Length the handler declares)
   * @param expect the file the headers describe (ETag, Last-Modified, Content-Range); optional
   */
  constructor(
    readonly path: string,
    readonly start: number,
    readonly length: number,
    readonly expect: FileIdentity | null = null,
  ) {
    if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new RangeError('FileBody start and length must be non-negative integers');
    }
  }

  /** Opens the file now (once; later calls return the same descriptor). Throws if it cannot be sent. */
  open(): number {
    if (this.#fd !== -1) return this.#fd;
    const fd = openSync(this.path, OPEN_FLAGS);
    try {
      checkOpened(fstatSync(fd), this.expect);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    this.#fd = fd;
    return fd;
  }

  /** Closes the descriptor if open. Never throws (a failing close(2) has nothing left to undo). */
  destroy(): void {
    const fd = this.#fd;
    if (fd === -1) return;
    this.#fd = -1;
    try {
      closeSync(fd);
    } catch {
      // EIO from a network filesystem, say: the descriptor is released all the same.
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    if (this.length === 0) return;
    const handle = await fs.open(this.path, OPEN_FLAGS);
    try {
      checkOpened(await handle.stat(), this.expect);
      let position = this.start;
      let left = this.length;
      while (left > 0) {
        const buffer = Buffer.allocUnsafe(Math.min(FILE_CHUNK_BYTES, left));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        if (bytesRead === 0) return;
        position += bytesRead;
        left -= bytesRead;
        yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
      }
    } finally {
      await handle.close();
    }
  }
}

/** Throws unless an opened file is a regular file and, when `expect` is given, still that version. */
export function checkOpened(stats: { isFile(): boolean; ino: number; size: number; mtimeMs: number }, expect: FileIdentity | null): void {
  if (!stats.isFile()) throw new Error('not a regular file');
  if (expect !== null && (stats.ino !== expect.ino || stats.size !== expect.size || stats.mtimeMs !== expect.mtimeMs)) {
    throw new Error('the file changed after the response headers were made from it');
  }
}
