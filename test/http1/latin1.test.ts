import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { latin1, writeLatin1 } from '../../src/http1/latin1.js';

describe('latin1: one byte per character, both ways', () => {
  const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

  test('every byte value decodes to the character with the same code, at any offset', () => {
    const text = latin1(every, 0, 256);
    assert.equal(text.length, 256);
    for (let i = 0; i < 256; i++) assert.equal(text.charCodeAt(i), i);
    assert.equal(latin1(every, 65, 68), 'ABC');
    assert.equal(latin1(every, 10, 10), '');
  });

  test('writing the decoded text back gives the same bytes, at an offset', () => {
    const out = Buffer.alloc(260, 0xee);
    assert.equal(writeLatin1(out, latin1(every, 0, 256), 2), 256);
    assert.deepEqual(out.subarray(2, 258), every);
    assert.equal(out[0], 0xee);
    assert.equal(out[259], 0xee);
  });
});
