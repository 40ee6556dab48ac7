/**
 * One field line, `field-name ":" OWS field-value OWS` (RFC 9112 §5), parsed strictly from a byte
 * range that excludes its CRLF. Shared by the header section and the chunked trailer section.
 * Rejects obs-fold (§5.2), whitespace before the colon (§5.1), non-token names and control
 * characters in values (RFC 9110 §5.5).
 */

import { latin1 } from './latin1.js';
import type { ProtocolErrorCode } from './errors.js';
import { TOKEN_CHARS, type HeaderMap } from './header-map.js';
import { fieldNameAt, fieldNameIn, fieldNameIndex, recentFieldValue, repeatedFieldValue } from './interned.js';
import { indexOfByte } from './bytes.js';

const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;
const CR = 0x0d;

/** Appends the field to `into`; returns an error code, or null on success. */
export function parseFieldLine(buf: Buffer, start: number, end: number, into: HeaderMap): ProtocolErrorCode | null {
  const first = buf[start];
  if (first === SP || first === HTAB) return 'obs-fold';
  let i = start;
  let c = 0;
  while (i < end) {
    c = buf[i];
    if (TOKEN_CHARS[c] !== 1) break;
    i++;
  }
  if (i === end) return 'bad-field-name';
  if (c !== COLON) return c === SP || c === HTAB ? 'space-before-colon' : c === CR ? 'bare-cr' : 'bad-field-name';
  if (i === start) return 'bad-field-name';
  const nameEnd = i;
  i++;
  while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
  let valueEnd = end;
  while (valueEnd > i && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) valueEnd--;
  const index = fieldNameIndex(buf, start, nameEnd);
  const name = index === -1 ? latin1(buf, start, nameEnd).toLowerCase() : fieldNameAt(index);
  // Framing fields: a tab anywhere in them (OWS included) is rejected; parsers that do not trim
  // tabs would read a different length or coding (request smuggling).
  if ((name === 'content-length' || name === 'transfer-encoding') && indexOfByte(buf, HTAB, nameEnd, end) !== -1) {
    return 'bad-field-value';
  }
  if (index !== -1) {
    // A common field repeating its last value: that one was checked, and the string is reused.
    const repeated = repeatedFieldValue(index, buf, i, valueEnd);
    if (repeated !== null) {
      into.append(name, repeated);
      return null;
    }
  }
  for (let j = i; j < valueEnd; j++) {
    c = buf[j];
    if ((c < SP && c !== HTAB) || c === 0x7f) return c === CR ? 'bare-cr' : 'bad-field-value';
  }
  into.append(name, index === -1 ? latin1(buf, i, valueEnd) : recentFieldValue(index, buf, i, valueEnd));
  return null;
}

/**
 * The field lines of a head a fast path matched whole (visible ASCII and SP only, `name:value` CRLF
 * each, so no check is left to do): `text[from, fieldsEnd)`, where `text` is `buf` decoded from
 * `offset`. Names and values interleaved, names lower-cased (common ones interned), values trimmed
 * of SP; null past `maxCount` lines (the byte parser then gives the verdict).
 */
export function simpleFieldLines(text: string, from: number, fieldsEnd: number, buf: Uint8Array, offset: number, maxCount: number): string[] | null {
  let fields: string[] | null = null;
  let count = 0;
  for (let line = from; line < fieldsEnd; ) {
    if (++count > maxCount) return null;
    const colon = text.indexOf(':', line);
    const cr = text.indexOf('\r', colon);
    let valueStart = colon + 1;
    while (valueStart < cr && text.charCodeAt(valueStart) === SP) valueStart++;
    let valueEnd = cr;
    while (valueEnd > valueStart && text.charCodeAt(valueEnd - 1) === SP) valueEnd--;
    const name = fieldNameIn(text, line, colon, buf, offset);
    const value = text.slice(valueStart, valueEnd);
    // Sized for what arrived: most heads are a few fields, and a pushed-to empty array reserves 17.
    if (fields === null) fields = [name, value];
    else fields.push(name, value);
    line = cr + 2;
  }
  return fields ?? [];
}
