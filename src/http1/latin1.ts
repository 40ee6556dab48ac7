/**
 * Bytes → string, one byte per character (ISO-8859-1, as RFC 9110 §5.5 field values are read).
 * Uses Buffer's own latin1Slice when present (what toString('latin1', …) calls after its argument
 * checks), which the parser calls for every target and field value.
 */

type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };

const hasLatin1Slice = typeof (Buffer.prototype as Partial<Latin1Buffer>).latin1Slice === 'function';

/** `buf[start, end)` as a latin1 string; `start <= end <= buf.length` is the caller's promise. */
export function latin1(buf: Buffer, start: number, end: number): string {
  if (start === end) return '';
  return hasLatin1Slice ? (buf as Latin1Buffer).latin1Slice(start, end) : buf.toString('latin1', start, end);
}
