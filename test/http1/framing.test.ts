import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decideRequestFraming,
  decideResponseFraming,
  isBodylessResponse,
  type BodyFraming,
  type HttpVersion,
  type ResponseBodyShape,
  type ResponseFraming,
} from '../../src/http1/framing.js';
import type { ProtocolErrorCode } from '../../src/http1/errors.js';

const EMPTY: ResponseBodyShape = { kind: 'empty' };
const SIZED: ResponseBodyShape = { kind: 'sized', length: 10 };
const STREAM: ResponseBodyShape = { kind: 'stream' };
const SHAPES = [EMPTY, SIZED, STREAM];
const VERSIONS: HttpVersion[] = ['1.0', '1.1'];

describe('isBodylessResponse (RFC 9110 §6.4.1)', () => {
  const ROWS: Array<[string, number, boolean]> = [
    ['GET', 100, true],
    ['GET', 101, true],
    ['GET', 103, true],
    ['GET', 199, true],
    ['GET', 200, false],
    ['GET', 204, true],
    ['GET', 205, false],
    ['GET', 206, false],
    ['GET', 304, true],
    ['GET', 302, false],
    ['GET', 404, false],
    ['POST', 500, false],
    ['HEAD', 200, true],
    ['HEAD', 404, true],
    ['HEAD', 500, true],
    ['head', 200, false],
  ];
  for (const [method, status, expected] of ROWS) {
    test(`${method} → ${status}: ${expected ? 'no content' : 'may carry content'}`, () => {
      assert.equal(isBodylessResponse(method, status), expected);
    });
  }
});

describe('decideResponseFraming', () => {
  test('HEAD never has a body, whatever the shape or version', () => {
    for (const status of [200, 404, 500]) {
      for (const shape of SHAPES) for (const version of VERSIONS) assert.equal(decideResponseFraming('HEAD', status, shape, version), 'none');
    }
  });

  for (const status of [100, 101, 103, 204, 304]) {
    test(`${status} never has a body, whatever the shape or version`, () => {
      for (const shape of SHAPES) for (const version of VERSIONS) assert.equal(decideResponseFraming('GET', status, shape, version), 'none');
    });
  }

  const ROWS: Array<[ResponseBodyShape, HttpVersion, ResponseFraming]> = [
    [EMPTY, '1.1', 'length'],
    [EMPTY, '1.0', 'length'],
    [SIZED, '1.1', 'length'],
    [SIZED, '1.0', 'length'],
    [{ kind: 'sized', length: 0 }, '1.1', 'length'],
    [STREAM, '1.1', 'chunked'],
    [STREAM, '1.0', 'close-delimited'],
  ];
  for (const [shape, version, expected] of ROWS) {
    test(`${shape.kind} body to an HTTP/${version} peer → ${expected}`, () => {
      for (const [method, status] of [['GET', 200], ['POST', 201], ['GET', 205], ['DELETE', 404], ['GET', 500]] as const) {
        assert.equal(decideResponseFraming(method, status, shape, version), expected, `${method} ${status}`);
      }
    });
  }
});

type Expected = BodyFraming | ProtocolErrorCode;

describe('decideRequestFraming', () => {
  const ROWS: Array<[string, HttpVersion, string[], string[], Expected]> = [
    ['nothing → no body', '1.1', [], [], { kind: 'none' }],
    ['nothing on HTTP/1.0 → no body', '1.0', [], [], { kind: 'none' }],
    ['CL 0 → no body', '1.1', ['0'], [], { kind: 'none' }],
    ['CL 000 → no body', '1.1', ['000'], [], { kind: 'none' }],
    ['CL 5', '1.1', ['5'], [], { kind: 'length', length: 5 }],
    ['CL 5 on HTTP/1.0', '1.0', ['5'], [], { kind: 'length', length: 5 }],
    ['CL 00005 and 5 on two lines are a duplicate', '1.1', ['00005', '5'], [], 'duplicate-content-length'],
    ['CL list of equal values is a duplicate', '1.1', ['5, 5,5'], [], 'duplicate-content-length'],
    ['CL list and lines that agree are a duplicate', '1.1', ['5, 05', '005'], [], 'duplicate-content-length'],
    ['CL list with OWS is a duplicate', '1.1', ['5 ,\t5'], [], 'duplicate-content-length'],
    ['CL 15 digits', '1.1', ['999999999999999'], [], { kind: 'length', length: 999_999_999_999_999 }],
    ['CL 16 digits', '1.1', ['1000000000000000'], [], 'bad-content-length'],
    ['CL 16 digits of leading zeros', '1.1', ['0000000000000005'], [], 'bad-content-length'],
    ['CL differing across lines', '1.1', ['5', '6'], [], 'conflicting-content-length'],
    ['CL differing in a list', '1.1', ['5, 6'], [], 'conflicting-content-length'],
    ['CL 0 then 5', '1.1', ['0', '5'], [], 'conflicting-content-length'],
    ['CL empty', '1.1', [''], [], 'bad-content-length'],
    ['CL empty element', '1.1', ['5, '], [], 'bad-content-length'],
    ['CL with a sign', '1.1', ['+5'], [], 'bad-content-length'],
    ['CL negative', '1.1', ['-5'], [], 'bad-content-length'],
    ['CL decimal point', '1.1', ['5.0'], [], 'bad-content-length'],
    ['CL hex', '1.1', ['0x5'], [], 'bad-content-length'],
    ['CL inner space', '1.1', ['5 5'], [], 'bad-content-length'],
    ['CL followed by NBSP', '1.1', ['5\u00a0'], [], 'bad-content-length'],
    ['CL preceded by a form feed', '1.1', ['\f5'], [], 'bad-content-length'],
    ['CL valid then invalid', '1.1', ['5', 'x'], [], 'bad-content-length'],
    ['TE chunked', '1.1', [], ['chunked'], { kind: 'chunked' }],
    ['TE CHUNKED', '1.1', [], ['CHUNKED'], { kind: 'chunked' }],
    ['TE chunked with OWS', '1.1', [], [' \tchunked\t '], { kind: 'chunked' }],
    ['TE chunked followed by NBSP', '1.1', [], ['chunked\u00a0'], 'transfer-encoding-not-chunked'],
    ['TE chunked on HTTP/1.0', '1.0', [], ['chunked'], 'transfer-encoding-on-http10'],
    ['TE on HTTP/1.0 beats CL+TE', '1.0', ['5'], ['chunked'], 'transfer-encoding-on-http10'],
    ['TE with CL', '1.1', ['5'], ['chunked'], 'content-length-and-transfer-encoding'],
    ['TE with CL 0', '1.1', ['0'], ['chunked'], 'content-length-and-transfer-encoding'],
    ['TE with an invalid CL', '1.1', ['abc'], ['chunked'], 'content-length-and-transfer-encoding'],
    ['TE with an unknown final coding and CL', '1.1', ['5'], ['gzip'], 'content-length-and-transfer-encoding'],
    ['TE gzip', '1.1', [], ['gzip'], 'transfer-encoding-not-chunked'],
    ['TE identity', '1.1', [], ['identity'], 'transfer-encoding-not-chunked'],
    ['TE chunked, gzip', '1.1', [], ['chunked, gzip'], 'transfer-encoding-not-chunked'],
    ['TE empty', '1.1', [], [''], 'transfer-encoding-not-chunked'],
    ['TE leading empty element', '1.1', [], [',chunked'], 'transfer-encoding-not-chunked'],
    ['TE trailing empty element', '1.1', [], ['chunked,'], 'transfer-encoding-not-chunked'],
    ['TE chunked twice in a list', '1.1', [], ['chunked, chunked'], 'transfer-encoding-not-chunked'],
    ['TE chunked twice across lines', '1.1', [], ['chunked', 'chunked'], 'transfer-encoding-not-chunked'],
    ['TE gzip, chunked', '1.1', [], ['gzip, chunked'], 'unknown-transfer-coding'],
    ['TE gzip then chunked on two lines', '1.1', [], ['gzip', 'chunked'], 'unknown-transfer-coding'],
    ['TE deflate, gzip, chunked', '1.1', [], ['deflate, gzip, chunked'], 'unknown-transfer-coding'],
    ['TE gzip, chunked, chunked is malformed before it is unknown', '1.1', [], ['gzip, chunked, chunked'], 'transfer-encoding-not-chunked'],
    ['TE gzip, empty, chunked', '1.1', [], ['gzip, , chunked'], 'transfer-encoding-not-chunked'],
  ];
  for (const [name, version, contentLengths, transferEncodings, expected] of ROWS) {
    test(name, () => {
      assert.deepEqual(decideRequestFraming(version, contentLengths, transferEncodings), expected);
    });
  }

  test('the shared no-body and chunked results cannot be mutated by a caller', () => {
    const none = decideRequestFraming('1.1', [], []);
    const chunked = decideRequestFraming('1.1', [], ['chunked']);
    assert.ok(Object.isFrozen(none) && Object.isFrozen(chunked));
  });
});
