import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fieldNameAt, fieldNameIn, fieldNameIndex } from '../../src/http1/interned.js';

const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');

describe('interned field names', () => {
  test('common names match in any case, same-length neighbours stay apart', () => {
    const names = ['Host', 'user-agent', 'User-Agent', 'SEC-FETCH-MODE', 'Sec-Fetch-Site', 'sec-fetch-dest', 'Sec-Fetch-User', 'Content-Length', 'sec-ch-ua', 'Sec-CH-UA-Mobile', 'TE', 'DNT', 'X-Forwarded-For'];
    for (const name of names) {
      const buf = latin1(`xx${name}:`);
      const index = fieldNameIndex(buf, 2, 2 + name.length);
      assert.notEqual(index, -1, name);
      assert.equal(fieldNameAt(index), name.toLowerCase());
      assert.equal(fieldNameIn(`${name}:`, 0, name.length, buf, 2), name.toLowerCase());
    }
  });

  test('near misses are not common names and come back lower-cased', () => {
    // Same length as a common name, differing first, last, in the middle, or by a token character
    // whose bit 0x20 is set (`_` vs `-`, digits).
    for (const name of ['sec-fetch-usex', 'xec-fetch-user', 'sec-fetch_user', 'content_length', 'Content-Lengt1', 'hosT2', 'X-Custom', 'a', 'te9']) {
      const buf = latin1(name);
      assert.equal(fieldNameIndex(buf, 0, name.length), -1, name);
      assert.equal(fieldNameIn(name, 0, name.length, buf, 0), name.toLowerCase());
    }
  });
});
