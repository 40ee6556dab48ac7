/**
 * The receive window shared by the request and response parsers: bytes not yet consumed, as
 * `buf[pos, end)`. A chunk fed into an empty window is used as is (no copy); otherwise the pending
 * bytes and the chunk are copied into an owned buffer that grows by doubling, so byte-by-byte
 * input costs amortised O(1) per byte. Bytes before `end` are never overwritten, so views handed
 * out earlier stay valid.
 */

export interface ByteWindow {
  buf: Buffer;
  owned: boolean;
  pos: number;
  end: number;
}

/** The window after appending `bytes` (the same object when nothing changed). */
export function appendBytes(window: ByteWindow, bytes: Uint8Array): ByteWindow {
  if (bytes.length === 0) return window;
  const chunk = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (window.pos === window.end) return { buf: chunk, owned: false, pos: 0, end: chunk.length };
  let { buf, owned, pos, end } = window;
  const pending = end - pos;
  if (!owned || buf.length - end < chunk.length) {
    const grown = Buffer.allocUnsafe(Math.max(4096, (pending + chunk.length) * 2));
    buf.copy(grown, 0, pos, end);
    buf = grown;
    owned = true;
    pos = 0;
    end = pending;
  }
  chunk.copy(buf, end);
  return { buf, owned, pos, end: end + chunk.length };
}

const EMPTY = Buffer.alloc(0);

/** `buf[start, end)` in a buffer of its own (small copies land in node's buffer pool); a shared empty one for none. */
export function copyRange(buf: Buffer, start: number, end: number): Buffer {
  const length = end - start;
  if (length === 0) return EMPTY;
  const copy = Buffer.allocUnsafe(length);
  // A few bytes are copied in place: Buffer#copy's argument checks and call cost more than the loop.
  if (length <= SMALL_COPY_BYTES) for (let i = 0; i < length; i++) copy[i] = buf[start + i];
  else buf.copy(copy, 0, start, end);
  return copy;
}

const SMALL_COPY_BYTES = 64;
