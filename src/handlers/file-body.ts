/**
 * FileBody: a byte range of a file as a response body, opened only when it is sent.
 *
 * It is an `AsyncIterable<Uint8Array>` like any stream body, so any consumer can read it (each
 * chunk a fresh buffer; a file that shrank ends early, which the writer reports as a body shorter
 * than its Content-Length). The server recognises it and writes it itself (src/server/write-file.ts):
 * read into reused buffers, no stream machinery. Nothing is open before the write starts, so a
 * FileBody that is never sent (HEAD, an abandoned request) holds no file descriptor.
 */

import { promises as fs } from 'node:fs';

/** Bytes read per piece: four thread-pool reads for a 1 MiB file, one piece held per slow client. */
export const FILE_CHUNK_BYTES = 262_144;

export class FileBody implements AsyncIterable<Uint8Array> {
  /**
   * @param path the file
   * @param start first byte offset
   * @param length bytes to send from `start` (the Content-Length the handler declares)
   */
  constructor(
    readonly path: string,
    readonly start: number,
    readonly length: number,
  ) {
    if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new RangeError('FileBody start and length must be non-negative integers');
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    if (this.length === 0) return;
    const handle = await fs.open(this.path, 'r');
    try {
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
