import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChunkedDecoder, LAST_CHUNK, chunkHeader, chunkTrailer, type ChunkedLimits, type ChunkStep } from '../../src/http1/chunked.js';
import type { HeaderMap } from '../../src/http1/header-map.js';

const LIMITS: ChunkedLimits = { maxChunkLineBytes: 4096, maxTrailerBytes: 1024, maxTrailerCount: 10, maxExtensionBytes: 16_384 };

interface Decoded {
  body: string;
  trailers: Array<[string, string]> | null;
  error: string | null;
  done: boolean;
}

/**
 * Drives a decoder the way a caller with a growing buffer does: bytes before `position` are
 * dropped, the rest is kept and presented again with the next chunk.
 */
function decode(chunks: Buffer[], limits: ChunkedLimits = LIMITS): Decoded {
  const decoder = new ChunkedDecoder(limits);
  let pending = Buffer.alloc(0);
  let body = '';
  for (const chunk of chunks) {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      const step = decoder.step(pending, 0, pending.length);
      if (step.kind === 'data') {
        body += pending.toString('latin1', step.start, step.end);
        pending = pending.subarray(decoder.position);
        continue;
      }
      if (step.kind === 'need-data') {
        pending = pending.subarray(decoder.position);
        break;
      }
      if (step.kind === 'end') {
        return { body, trailers: step.trailers ? [...step.trailers] : null, error: null, done: decoder.isDone };
      }
      return { body, trailers: null, error: step.code, done: decoder.isDone };
    }
  }
  return { body, trailers: null, error: null, done: decoder.isDone };
}

function splits(input: Buffer): Buffer[][] {
  const ways: Buffer[][] = [[input]];
  for (let at = 1; at < input.length; at++) ways.push([input.subarray(0, at), input.subarray(at)]);
  const bytes: Buffer[] = [];
  for (let i = 0; i < input.length; i++) bytes.push(input.subarray(i, i + 1));
  ways.push(bytes);
  return ways;
}

function decodeEverySplit(text: string, limits: ChunkedLimits = LIMITS): Decoded {
  const input = Buffer.from(text, 'latin1');
  const [first, ...rest] = splits(input).map((chunks) => decode(chunks, limits));
  for (const other of rest) assert.deepEqual(other, first);
  return first;
}

describe('chunk encoder', () => {
  test('chunkHeader writes the size in lower-case hex and CRLF', () => {
    assert.equal(chunkHeader(1).toString('latin1'), '1\r\n');
    assert.equal(chunkHeader(10).toString('latin1'), 'a\r\n');
    assert.equal(chunkHeader(255).toString('latin1'), 'ff\r\n');
    assert.equal(chunkHeader(4096).toString('latin1'), '1000\r\n');
    assert.equal(chunkHeader(65_537).toString('latin1'), '10001\r\n');
  });

  test('chunkHeader refuses sizes that are not a chunk: 0 would end the body', () => {
    for (const length of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => chunkHeader(length), RangeError, String(length));
    }
  });

  test('chunkTrailer is the CRLF after chunk data; LAST_CHUNK ends the body without trailers', () => {
    assert.equal(chunkTrailer().toString('latin1'), '\r\n');
    assert.equal(LAST_CHUNK.toString('latin1'), '0\r\n\r\n');
  });

  test('encoder output decodes to the same bytes', () => {
    const pieces = ['a', 'hello world', 'x'.repeat(300), '\r\n0\r\n\r\n', '\u00ff\u0000'];
    const parts: Buffer[] = [];
    for (const piece of pieces) {
      const data = Buffer.from(piece, 'latin1');
      parts.push(chunkHeader(data.length), data, chunkTrailer());
    }
    parts.push(LAST_CHUNK);
    const wire = Buffer.concat(parts);
    for (const chunks of splits(wire)) {
      assert.deepEqual(decode(chunks), { body: pieces.join(''), trailers: null, error: null, done: true });
    }
  });
});

describe('ChunkedDecoder', () => {
  test('decodes chunks, extensions and trailers the same at every split', () => {
    const result = decodeEverySplit('4;a=b\r\nWiki\r\n5;q="x;y"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\nX-A:\t1 \r\n\r\n');
    assert.deepEqual(result, {
      body: 'Wikipedia in\r\n\r\nchunks.',
      trailers: [
        ['expires', 'never'],
        ['x-a', '1'],
      ],
      error: null,
      done: true,
    });
  });

  test('honours start and end inside a larger buffer and reports absolute positions', () => {
    const decoder = new ChunkedDecoder(LIMITS);
    const buf = Buffer.from('JUNK3\r\nabc\r\n0\r\n\r\nNEXT', 'latin1');
    const end = buf.length - 4;
    const first = decoder.step(buf, 4, end);
    assert.deepEqual(first, { kind: 'data', start: 7, end: 10 });
    assert.equal(decoder.position, 10);
    const second = decoder.step(buf, decoder.position, end);
    assert.deepEqual(second, { kind: 'end', trailers: null });
    assert.equal(decoder.position, end);
    assert.equal(buf.toString('latin1', decoder.position), 'NEXT');
  });

  test('stops at end even when more bytes follow in the buffer', () => {
    const decoder = new ChunkedDecoder(LIMITS);
    const buf = Buffer.from('5\r\nhello\r\n', 'latin1');
    assert.deepEqual(decoder.step(buf, 0, 5), { kind: 'data', start: 3, end: 5 });
    assert.deepEqual(decoder.step(buf, 5, 5), { kind: 'need-data' });
    assert.equal(decoder.position, 5);
  });

  test('need-data leaves position at the start of an incomplete line', () => {
    const decoder = new ChunkedDecoder(LIMITS);
    const buf = Buffer.from('3\r\nabc\r\n1f;ext', 'latin1');
    assert.equal(decoder.step(buf, 0, buf.length).kind, 'data');
    assert.deepEqual(decoder.step(buf, decoder.position, buf.length), { kind: 'need-data' });
    assert.equal(decoder.position, 8);
  });

  test('data arrives in pieces as the bytes do', () => {
    const decoder = new ChunkedDecoder(LIMITS);
    const buf = Buffer.from('a\r\n0123456789\r\n', 'latin1');
    const steps: ChunkStep[] = [];
    steps.push(decoder.step(buf, 0, 6));
    steps.push(decoder.step(buf, decoder.position, 9));
    steps.push(decoder.step(buf, decoder.position, 13));
    assert.deepEqual(steps, [
      { kind: 'data', start: 3, end: 6 },
      { kind: 'data', start: 6, end: 9 },
      { kind: 'data', start: 9, end: 13 },
    ]);
    assert.equal(decoder.isDone, false);
  });

  test('isDone only after the trailer section ends; later steps repeat end without consuming', () => {
    const decoder = new ChunkedDecoder(LIMITS);
    const buf = Buffer.from('0\r\nX: 1\r\n\r\nGET', 'latin1');
    const first = decoder.step(buf, 0, 5);
    assert.deepEqual(first, { kind: 'need-data' });
    assert.equal(decoder.isDone, false);
    const second = decoder.step(buf, decoder.position, buf.length);
    assert.equal(second.kind, 'end');
    assert.deepEqual([...((second as { trailers: HeaderMap }).trailers)], [['x', '1']]);
    assert.equal(decoder.isDone, true);
    assert.equal(decoder.position, 11);
    assert.deepEqual(decoder.step(buf, 11, buf.length), { kind: 'end', trailers: null });
    assert.equal(decoder.position, 11);
  });

  test('no trailer fields → trailers null', () => {
    assert.deepEqual(decodeEverySplit('0\r\n\r\n'), { body: '', trailers: null, error: null, done: true });
  });

  const ERRORS: Array<[string, string, string]> = [
    ['non-hex size', 'g\r\n', 'bad-chunk-size'],
    ['empty size line', '\r\n', 'bad-chunk-size'],
    ['size with trailing space', '1 \r\nx\r\n0\r\n\r\n', 'bad-chunk-size'],
    ['bare LF after the size', '1\nx\r\n', 'bare-lf'],
    ['bare CR inside the size line', '1\rx\r\n', 'bare-cr'],
    ['overflowing size', '20000000000000\r\n', 'chunk-size-overflow'],
    ['extension without a name', '1;\r\nx\r\n', 'bad-chunk-extension'],
    ['extension with an unterminated quoted string', '1;a="b\r\nx\r\n', 'bad-chunk-extension'],
    ['extension with a control character', '1;a=\x01\r\nx\r\n', 'bad-chunk-extension'],
    ['data not followed by CRLF', '1\r\nxy', 'bad-chunk-terminator'],
    ['data followed by LF alone', '1\r\nx\n', 'bad-chunk-terminator'],
    ['bare LF in the trailer section', '0\r\nX: 1\n', 'bare-lf'],
    ['bad trailer field', '0\r\nX : 1\r\n\r\n', 'space-before-colon'],
    ['obs-fold in the trailer section', '0\r\nX: 1\r\n\t2\r\n\r\n', 'obs-fold'],
  ];
  for (const [name, text, code] of ERRORS) {
    test(`error: ${name}`, () => {
      assert.equal(decodeEverySplit(text).error, code);
    });
  }

  test('largest safe chunk size is accepted', () => {
    const decoder = new ChunkedDecoder(LIMITS);
    const buf = Buffer.from('1fffffffffffff\r\nab', 'latin1');
    assert.deepEqual(decoder.step(buf, 0, buf.length), { kind: 'data', start: 16, end: 18 });
  });

  describe('limits', () => {
    const small: ChunkedLimits = { maxChunkLineBytes: 8, maxTrailerBytes: 16, maxTrailerCount: 2, maxExtensionBytes: 8 };

    test('a chunk-size line exactly at maxChunkLineBytes', () => {
      assert.deepEqual(decodeEverySplit('1;a=bcde\r\nx\r\n0\r\n\r\n', small), { body: 'x', trailers: null, error: null, done: true });
    });

    test('a chunk-size line one byte over', () => {
      assert.equal(decodeEverySplit('1;a=bcdef\r\nx\r\n0\r\n\r\n', small).error, 'chunk-line-too-long');
    });

    test('chunk extensions exactly at maxExtensionBytes for the whole body, BWS counted', () => {
      assert.deepEqual(decodeEverySplit('1;a=b\r\nx\r\n1 ;cd\r\ny\r\n0\r\n\r\n', small), { body: 'xy', trailers: null, error: null, done: true });
    });

    test('chunk extensions one byte over maxExtensionBytes across chunks: an error, though each line is within its own limit', () => {
      assert.equal(decodeEverySplit('1;a=b\r\nx\r\n1;c=de\r\ny\r\n0\r\n\r\n', small).error, 'chunk-extensions-too-large');
      assert.equal(decodeEverySplit('1;a=b\r\nx\r\n1\r\ny\r\n0;cdef\r\n\r\n', small).error, 'chunk-extensions-too-large');
    });

    test('an over-long chunk-size line fails before its CRLF arrives', () => {
      assert.equal(decode([Buffer.from('1;a=bcdefg', 'latin1')], small).error, 'chunk-line-too-long');
      assert.equal(decode([Buffer.from('1;a=bcdef', 'latin1')], small).error, null);
    });

    test('the trailer section exactly at maxTrailerBytes, final CRLF included', () => {
      const result = decodeEverySplit('0\r\nA: 1\r\nB: 123\r\n\r\n', small);
      assert.deepEqual(result.trailers, [
        ['a', '1'],
        ['b', '123'],
      ]);
    });

    test('the trailer section one byte over', () => {
      assert.equal(decodeEverySplit('0\r\nA: 1\r\nB: 1234\r\n\r\n', small).error, 'header-section-too-large');
    });

    test('trailer fields at maxTrailerCount, then one more', () => {
      assert.deepEqual(decodeEverySplit('0\r\nA:1\r\nB:2\r\n\r\n', small).trailers, [
        ['a', '1'],
        ['b', '2'],
      ]);
      assert.equal(decodeEverySplit('0\r\nA:\r\nB:\r\nC:\r\n\r\n', small).error, 'too-many-fields');
    });
  });
});
