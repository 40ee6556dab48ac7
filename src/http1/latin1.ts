/**
 * Bytes ↔ string, one byte per character (ISO-8859-1, as RFC 9110 §5.5 field values are read).
 * Uses Buffer's own latin1Slice/latin1Write when present (what toString/write call after their argument
 * checks), which the parser calls for every target and field value.
 */

type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };

const hasLatin1Slice = typeof (Buffer.prototype as Partial<Latin1Buffer>).latin1Slice === 'function';

/** `buf[start, end)` as a latin1 string; `start <= end <= buf.length` is the caller's promise. */
export function latin1(buf: Buffer, start: number, end: number): string {
  if (start === end) return '';
  return hasLatin1Slice ? (buf as Latin1Buffer).latin1Slice(start, end) : buf.toString('latin1', start, end);
}

/**
 * `buf[start, end)` as a latin1 string, or `previous` itself when it holds exactly those bytes:
 * a value that repeats (the Host, the target) then costs a comparison, not an allocation and a
 * call into C++.
 */
export function latin1Reuse(buf: Buffer, start: number, end: number, previous: string): string {
  const length = end - start;
  if (previous.length === length) {
    let k = 0;
    while (k < length && previous.charCodeAt(k) === buf[start + k]) k++;
    if (k === length) return previous;
  }
  return latin1(buf, start, end);
}

type Latin1WritableBuffer = Buffer & { latin1Write(text: string, offset: number): number };

const hasLatin1Write = typeof (Buffer.prototype as Partial<Latin1WritableBuffer>).latin1Write === 'function';

/** Writes `text` (latin1, one byte per character) into `buf` at `offset`; returns the bytes written. */
export function writeLatin1(buf: Buffer, text: string, offset: number): number {
  return hasLatin1Write ? (buf as Latin1WritableBuffer).latin1Write(text, offset) : buf.write(text, offset, 'latin1');
}
