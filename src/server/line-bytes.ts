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

import { isoSecondPrefix } from './clock.js';

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
    this.buf.set(b, this.pos);
    this.pos += b.length;
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
    if (n >= 0 && n < 0x8000_0000 && (n | 0) === n) {
      const digits = n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10_000 ? 4 : n < 100_000 ? 5 : n < 1_000_000 ? 6 : n < 10_000_000 ? 7 : n < 100_000_000 ? 8 : n < 1_000_000_000 ? 9 : 10;
      const buf = this.buf;
      let p = this.pos + digits;
      this.pos = p;
      let x = n;
      do {
        const q = (x / 10) | 0;
        buf[--p] = 0x30 + x - q * 10;
        x = q;
      } while (x > 0);
      return;
    }
    this.ascii(Number.isFinite(n) ? String(n) : '0');
  }

  /** A non-negative number rounded to one decimal ("12.3"), without toFixed. */
  fixed1(value: number): void {
    this.#fixed(value, 10);
  }

  /** A non-negative number rounded to three decimals ("12.345"), also a valid JSON number. */
  fixed3(value: number): void {
    this.#fixed(value, 1000);
  }

  #fixed(value: number, scale: 10 | 1000): void {
    const scaled = Math.round(value * scale);
    if (!(scaled >= 0 && scaled <= Number.MAX_SAFE_INTEGER)) {
      this.ascii(scale === 10 ? '0.0' : '0.000');
      return;
    }
    const whole = Math.floor(scaled / scale);
    this.int(whole);
    this.buf[this.pos++] = 0x2e;
    const fraction = scaled - whole * scale;
    if (scale === 10) this.buf[this.pos++] = 0x30 + fraction;
    else this.#threeDigits(fraction);
  }

  /**
   * Now as ISO 8601 UTC with milliseconds (`2025-01-02T03:04:05.678Z`, 24 bytes). The clock is read
   * once per event-loop turn, as nginx caches its time once per event-loop iteration: the lines of
   * one turn share a reading (Date.now(), no Date object), and the text changes at most once a
   * millisecond (the date and time of day formatted once a second by the clock). Milliseconds, where
   * nginx's $time_iso8601 has whole seconds: the lines of one busy second stay comparable with
   * other logs.
   */
  stamp(): void {
    if (!stampFresh) {
      stampFresh = true;
      setImmediate(expireStamp);
      const nowMs = Date.now();
      if (nowMs !== stampMs) setStamp(nowMs);
    }
    this.buf.set(stampBytes, this.pos);
    this.pos += STAMP_BYTES;
  }

  #threeDigits(n: number): void {
    putThreeDigits(this.buf, this.pos, n);
    this.pos += 3;
  }

  /** `s` as a JSON string literal, quotes included (at most MAX_BYTES_PER_CHAR per character, plus 2). */
  json(s: string): void {
    const buf = this.buf;
    let p = this.pos;
    buf[p++] = 0x22;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c === 0x22 || c === 0x5c || c >= 0x80) {
        // The rest as JSON.stringify escapes it, without its opening quote (ours is written).
        this.pos = p;
        this.text(JSON.stringify(s.slice(i)).slice(1));
        return;
      }
      buf[p++] = c;
    }
    buf[p++] = 0x22;
    this.pos = p;
  }

  /** `s` with nginx's access-log escaping (at most MAX_BYTES_PER_CHAR per character). */
  pretty(s: string): void {
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c <= 0x20 || c === 0x5c || c >= 0x7f) {
        this.pos = p;
        this.ascii(prettyEscaped(s, i));
        return;
      }
      buf[p++] = c;
    }
    this.pos = p;
  }
}

/** ASCII text encoded once, for `bytes()`: constant text leaves in one copy instead of a character at a time. */
export function literal(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

const STAMP_BYTES = 24;
const stampBytes = new Uint8Array(STAMP_BYTES);
let stampMs = -1;
let stampSecond = -1;
/** stampBytes holds this event-loop turn's time; an immediate (after this turn's I/O callbacks) clears it. */
let stampFresh = false;

function expireStamp(): void {
  stampFresh = false;
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
