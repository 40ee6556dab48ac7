/**
 * Header fields as an ordered multi-map (RFC 9110 §5). Names are stored lower-cased, values
 * as received (OWS trimmed). Also: the token character table and comma-separated token lists
 * (RFC 9110 §5.6.1, §5.6.2), used for Connection, Transfer-Encoding and the like.
 */

/** tchar per RFC 9110 §5.6.2, as a regular-expression character class body. */
export const TCHAR_CLASS = "!#$%&'*+\\-.^_`|~0-9A-Za-z";

/** tchar per RFC 9110 §5.6.2: 1 where the byte may appear in a token. */
export const TOKEN_CHARS: Uint8Array = (() => {
  const table = new Uint8Array(256);
  for (let c = 0x21; c < 0x7f; c++) table[c] = 1;
  for (const ch of '"(),/:;<=>?@[\\]{}') table[ch.charCodeAt(0)] = 0;
  return table;
})();

export function isToken(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0xff || TOKEN_CHARS[c] !== 1) return false;
  }
  return true;
}

/** A field value may hold VCHAR, obs-text, SP and HTAB (RFC 9110 §5.5); never CR, LF or NUL. */
export function isFieldValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) return false;
  }
  return true;
}

export class HeaderMap implements Iterable<[string, string]> {
  /** Names (lower-case) and values interleaved: [name0, value0, name1, value1, …] — one array to grow. */
  readonly #fields: string[];

  /** `fields`: names (lower-case) and values interleaved, taken as is (not copied). */
  constructor(fields: string[] = []) {
    this.#fields = fields;
  }

  /** Appends a field; `name` must already be lower-case. */
  append(name: string, value: string): void {
    this.#fields.push(name, value);
  }

  get size(): number {
    return this.#fields.length >> 1;
  }

  /** The i-th field's (lower-case) name, in received order. */
  nameAt(i: number): string {
    return this.#fields[2 * i];
  }

  /** The i-th field's value, in received order. */
  valueAt(i: number): string {
    return this.#fields[2 * i + 1];
  }

  has(name: string): boolean {
    const key = name.toLowerCase();
    const fields = this.#fields;
    for (let i = 0; i < fields.length; i += 2) if (fields[i] === key) return true;
    return false;
  }

  /** The field's values joined with ", " (RFC 9110 §5.3); undefined when absent. */
  get(name: string): string | undefined {
    const key = name.toLowerCase();
    const fields = this.#fields;
    let result: string | undefined;
    for (let i = 0; i < fields.length; i += 2) {
      if (fields[i] === key) result = result === undefined ? fields[i + 1] : `${result}, ${fields[i + 1]}`;
    }
    return result;
  }

  /** Every field line with this name, in order (use for Set-Cookie and the like). */
  getAll(name: string): string[] {
    const key = name.toLowerCase();
    const fields = this.#fields;
    const result: string[] = [];
    for (let i = 0; i < fields.length; i += 2) if (fields[i] === key) result.push(fields[i + 1]);
    return result;
  }

  /** Number of field lines with this name. */
  count(name: string): number {
    const key = name.toLowerCase();
    const fields = this.#fields;
    let n = 0;
    for (let i = 0; i < fields.length; i += 2) if (fields[i] === key) n++;
    return n;
  }

  *[Symbol.iterator](): IterableIterator<[string, string]> {
    const fields = this.#fields;
    for (let i = 0; i < fields.length; i += 2) yield [fields[i], fields[i + 1]];
  }

  entries(): IterableIterator<[string, string]> {
    return this[Symbol.iterator]();
  }

  toJSON(): Array<[string, string]> {
    return [...this];
  }
}

/**
 * Splits a comma-separated list (RFC 9110 §5.6.1) into lower-cased elements trimmed of OWS
 * (SP and HTAB only, RFC 9110 §5.6.3: never NBSP or other whitespace), keeping empty elements
 * as '' so callers can reject them where the grammar forbids them.
 */
export function splitList(value: string): string[] {
  const result: string[] = [];
  let start = 0;
  for (let i = 0; i <= value.length; i++) {
    if (i === value.length || value.charCodeAt(i) === 0x2c) {
      let from = start;
      let to = i;
      while (from < to && isOws(value.charCodeAt(from))) from++;
      while (to > from && isOws(value.charCodeAt(to - 1))) to--;
      result.push(value.slice(from, to).toLowerCase());
      start = i + 1;
    }
  }
  return result;
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** The set of tokens in every field line of `name`, lower-cased, empty elements dropped. */
export function tokenSet(headers: HeaderMap, name: string): Set<string> {
  const tokens = new Set<string>();
  for (const line of headers.getAll(name)) {
    for (const element of splitList(line)) if (element !== '') tokens.add(element);
  }
  return tokens;
}
