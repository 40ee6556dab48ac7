import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { indexOfByte } from '../../src/http1/bytes.js';

describe('indexOfByte', () => {
  test('finds the first byte inside [from, end) and ignores bytes past end, for short and long ranges', () => {
    for (const size of [0, 1, 2, 255, 256, 257, 4096, 70_000]) {
      const buf = Buffer.alloc(size + 10, 0x61);
      buf[size + 3] = 0x0a; // only past `end`
      assert.equal(indexOfByte(buf, 0x0a, 0, size), -1, `size ${size}: a byte past end is not found`);
      assert.equal(indexOfByte(buf, 0x0a, 0, size + 4), size + 3, `size ${size}: found once end covers it`);
      if (size > 0) {
        buf[size - 1] = 0x0a;
        assert.equal(indexOfByte(buf, 0x0a, 0, size), size - 1, `size ${size}: the last byte of the range`);
        buf[0] = 0x0a;
        assert.equal(indexOfByte(buf, 0x0a, 0, size), 0, `size ${size}: the first byte`);
        assert.equal(indexOfByte(buf, 0x0a, 1, size), size === 1 ? -1 : size - 1, `size ${size}: search starts at from`);
      }
    }
  });

  test('an empty or inverted range finds nothing', () => {
    const buf = Buffer.from('a\nb\n');
    assert.equal(indexOfByte(buf, 0x0a, 2, 2), -1);
    assert.equal(indexOfByte(buf, 0x0a, 3, 1), -1);
    assert.equal(indexOfByte(buf, 0x0a, 2, 4), 3);
  });
});
