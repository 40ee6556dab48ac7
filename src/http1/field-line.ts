/**
 * One field line, `field-name ":" OWS field-value OWS` (RFC 9112 §5), parsed strictly from a byte
 * range that excludes its CRLF. Shared by the header section and the chunked trailer section.
 * Rejects obs-fold (§5.2), whitespace before the colon (§5.1), non-token names and control
 * characters in values (RFC 9110 §5.5).
 */

import { latin1 } from './latin1.js';
import type { ProtocolErrorCode } from './errors.js';
import { TOKEN_CHARS, type HeaderMap } from './header-map.js';
import { fieldNameAt, fieldNameIndex, recentFieldValue, repeatedFieldValue } from './interned.js';
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
