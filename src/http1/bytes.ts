/**
 * Byte search bounded by the end of the bytes that count. The parser works on buffers whose tail
 * past `end` is stale (the shared socket read buffer, a grown window): `Buffer#indexOf` would scan
 * that tail too, up to 64 KiB for every read of a partial head. Short ranges are searched in JS
 * (no call into C++); long ones on a view that stops at `end`.
 */

const SHORT_RANGE_BYTES = 256;

/** Index of the first `byte` in `buf[from, end)`, or -1. */
export function indexOfByte(buf: Uint8Array, byte: number, from: number, end: number): number {
  if (end - from <= SHORT_RANGE_BYTES) {
    for (let i = from; i < end; i++) if (buf[i] === byte) return i;
    return -1;
  }
  const found = buf.subarray(from, end).indexOf(byte);
  return found === -1 ? -1 : from + found;
}
