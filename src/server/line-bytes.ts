/**
 * Writes one log line's bytes straight into a buffer, as nginx formats into its log buffer: no
 * string per field, no intermediate objects, nothing left for the garbage collector on the hot
 * path. Whoever hands out a LineBytes guarantees room for the bound the caller asked for; the
 * methods document how many bytes each may write per character (at most 6: `\u00XX`).
 *
 * Escaping: `json()` writes an RFC 8259 §7 string literal, byte for byte what JSON.stringify gives
 * encoded as UTF-8; `pretty()` escapes as nginx's access log does (`\xHH`) control characters,
 * space, backslash, DEL and everything beyond ASCII, so a peer's bytes never break a line apart
 * or reach a terminal as escape sequences.
 */

import { isoSecondPrefix, wallMsAt } from './clock.js';

/** The most bytes `json()` or `pretty()` writes per UTF-16 code unit (`\u00XX`). */
export const MAX_BYTES_PER_CHAR = 6;

export class LineBytes {
  buf: Buffer;
  pos = 0;

  constructor(buf: Buffer) {
    this.buf = buf;
  }

  byte(c: number): void {
    this.buf[this.pos++] = c;
  }

  /** Bytes prepared once (a format's constant text, see `literal()`). */
  bytes(b: Uint8Array): void {
    this.pos = putBytes(this.buf, this.pos, b);
  }

  /** A string known to be ASCII: one byte per character. */
  ascii(s: string): void {
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < s.length; i++) buf[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  /** Any string as UTF-8, unescaped (at most 3 bytes per character). */
  text(s: string): void {
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** A number in decimal: digit by digit for a non-negative safe integer, else as String() (0 when not finite). */
  int(n: number): void {
    this.pos = putInt(this.buf, this.pos, n);
  }

  /** A non-negative number rounded to one decimal ("12.3"), without toFixed. */
  fixed1(value: number): void {
    this.pos = putFixed(this.buf, this.pos, value, 10);
  }

  /** A non-negative number rounded to three decimals ("12.345"), also a valid JSON number. */
  fixed3(value: number): void {
    this.pos = putFixed(this.buf, this.pos, value, 1000);
  }

  /**
   * The wall-clock time of the monotonic reading `monotonicMs` (performance.now()) as ISO 8601 UTC
   * with milliseconds (`2025-01-02T03:04:05.678Z`, 24 bytes): no Date object, no clock read of its
   * own (clock.ts's wallMsAt); the date and time of day are formatted once a second, the
   * milliseconds when they change. Milliseconds, where nginx's $time_iso8601 has whole seconds: the
   * lines of one busy second stay comparable with other logs.
   */
  stamp(monotonicMs: number): void {
    this.pos = putBytes(this.buf, this.pos, stampAt(monotonicMs));
  }

  /** `s` as a JSON string literal, quotes included (at most MAX_BYTES_PER_CHAR per character, plus 2). */
  json(s: string): void {
    this.buf[this.pos] = 0x22;
    const p = putJsonText(this.buf, this.pos + 1, s);
    this.buf[p] = 0x22;
    this.pos = p + 1;
  }

  /** `s` with nginx's access-log escaping (at most MAX_BYTES_PER_CHAR per character). */
  pretty(s: string): void {
    this.pos = putPretty(this.buf, this.pos, s);
  }
}

/** ASCII text encoded once, for `bytes()`: constant text leaves in one copy instead of a character at a time. */
export function literal(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

// The put functions write at `buf[p…]` and return the position after what they wrote: the request
// line's formatter keeps its position in a local instead of an object's field.

/** Bytes prepared once: one copy (a byte loop costs more from about 8 bytes on). */
export function putBytes(buf: Buffer, p: number, b: Uint8Array): number {
  buf.set(b, p);
  return p + b.length;
}

/** `n` in decimal: digit by digit for a non-negative integer below 2^31, else as String() (0 when not finite). */
export function putInt(buf: Buffer, p: number, n: number): number {
  if (n >= 0 && n < 0x8000_0000 && (n | 0) === n) {
    const end = p + smallIntWidth(n);
    let at = end;
    let x = n;
    do {
      const q = (x / 10) | 0;
      buf[--at] = 0x30 + x - q * 10;
      x = q;
    } while (x > 0);
    return end;
  }
  return putAscii(buf, p, Number.isFinite(n) ? String(n) : '0');
}

/** How many digits putInt writes for `n`. */
export function decimalWidth(n: number): number {
  return n >= 0 && n < 0x8000_0000 && (n | 0) === n ? smallIntWidth(n) : (Number.isFinite(n) ? String(n) : '0').length;
}

function smallIntWidth(n: number): number {
  return n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10_000 ? 4 : n < 100_000 ? 5 : n < 1_000_000 ? 6 : n < 10_000_000 ? 7 : n < 100_000_000 ? 8 : n < 1_000_000_000 ? 9 : 10;
}

function putAscii(buf: Buffer, p: number, s: string): number {
  for (let i = 0; i < s.length; i++) buf[p++] = s.charCodeAt(i);
  return p;
}

/** A non-negative number rounded to one decimal ("12.3") or, scale 1000, three ("12.345", also a valid JSON number), without toFixed. */
export function putFixed(buf: Buffer, p: number, value: number, scale: 10 | 1000): number {
  const scaled = Math.round(value * scale);
  if (!(scaled >= 0 && scaled <= Number.MAX_SAFE_INTEGER)) return putAscii(buf, p, scale === 10 ? '0.0' : '0.000');
  const whole = Math.floor(scaled / scale);
  const at = putInt(buf, p, whole);
  buf[at] = 0x2e;
  const fraction = scaled - whole * scale;
  if (scale === 10) {
    buf[at + 1] = 0x30 + fraction;
    return at + 2;
  }
  putThreeDigits(buf, at + 1, fraction);
  return at + 4;
}

/** `s` inside a JSON string literal (no quotes): as JSON.stringify escapes it, encoded as UTF-8. */
export function putJsonText(buf: Buffer, p: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c >= 0x80) {
      // The rest as JSON.stringify escapes it, without its quotes.
      const rest = JSON.stringify(s.slice(i));
      return p + buf.write(rest.slice(1, -1), p, 'utf8');
    }
    buf[p++] = c;
  }
  return p;
}

/** `s` with nginx's access-log escaping: bytes that need none are copied as they are scanned. */
export function putPretty(buf: Buffer, p: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x5c || c >= 0x7f) return putAscii(buf, p, prettyEscaped(s, i));
    buf[p++] = c;
  }
  return p;
}

const STAMP_BYTES = 24;
const stampBytes = new Uint8Array(STAMP_BYTES);
let stampMs = -1;
let stampSecond = -1;

/** The stamp text for the monotonic reading `monotonicMs` (shared: valid until the next call). */
export function stampAt(monotonicMs: number): Uint8Array {
  const nowMs = stampMsAt(monotonicMs);
  if (nowMs !== stampMs) setStamp(nowMs);
  return stampBytes;
}

/** The wall-clock millisecond the stamp of the monotonic reading `monotonicMs` shows: two readings with one value have one stamp. */
export function stampMsAt(monotonicMs: number): number {
  return Math.floor(wallMsAt(monotonicMs));
}

/**
 * A line's opening bytes with the stamp inside (`{"time":"<stamp>","event":"request",…`): copied
 * whole, the stamp rewritten in it only when it changes (at most once a millisecond).
 */
export class StampedPrefix {
  /** Where the stamp lies in the prefix. */
  readonly stampOffset: number;
  readonly #bytes: Uint8Array;
  #ms = -1;

  constructor(before: string, after: string) {
    this.#bytes = literal(before + ' '.repeat(STAMP_BYTES) + after);
    this.stampOffset = before.length;
  }

  /** Writes the prefix for the monotonic reading `monotonicMs` at `buf[p…]`. */
  put(buf: Buffer, p: number, monotonicMs: number): number {
    const stamp = stampAt(monotonicMs);
    if (this.#ms !== stampMs) {
      this.#ms = stampMs;
      this.#bytes.set(stamp, this.stampOffset);
    }
    return putBytes(buf, p, this.#bytes);
  }
}

/** The stamp text for `nowMs`: the prefix redone when the second changes, the milliseconds and `Z` every time. */
function setStamp(nowMs: number): void {
  const second = Math.floor(nowMs / 1000);
  if (second !== stampSecond) {
    stampSecond = second;
    const prefix = isoSecondPrefix(second);
    for (let i = 0; i < prefix.length; i++) stampBytes[i] = prefix.charCodeAt(i);
  }
  putThreeDigits(stampBytes, 20, nowMs - second * 1000);
  stampBytes[23] = 0x5a;
  stampMs = nowMs;
}

/** `n` (0 to 999) as three ASCII digits at `bytes[at…]`. */
function putThreeDigits(bytes: Uint8Array, at: number, n: number): void {
  const hundreds = (n / 100) | 0;
  const tens = ((n / 10) | 0) - hundreds * 10;
  bytes[at] = 0x30 + hundreds;
  bytes[at + 1] = 0x30 + tens;
  bytes[at + 2] = 0x30 + n - ((n / 10) | 0) * 10;
}

/** `s` from `from` on with `\xHH` for control characters, space, backslash, DEL and Latin-1, `\uHHHH` beyond. */
export function prettyEscaped(s: string, from = 0): string {
  let text = '';
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x20 && c !== 0x5c && c < 0x7f) text += s[i];
    else if (c <= 0xff) text += `\\x${c.toString(16).toUpperCase().padStart(2, '0')}`;
    else text += `\\u${c.toString(16).toUpperCase().padStart(4, '0')}`;
  }
  return text;
}
