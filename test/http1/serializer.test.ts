import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CONTINUE_HEAD,
  InvalidResponseError,
  httpDate,
  joinHeadAndBody,
  lastChunkWithTrailers,
  reasonPhrase,
  serializeResponseHead,
  type ResponseHeadInit,
  type ResponseHeaders,
} from '../../src/http1/serializer.js';

const DATE = 'Sun, 06 Nov 1994 08:49:37 GMT';

function head(overrides: Partial<ResponseHeadInit> = {}): string {
  return serializeResponseHead({
    version: '1.1',
    status: 200,
    headers: undefined,
    contentLength: null,
    chunked: false,
    connection: null,
    keepAlive: null,
    date: DATE,
    ...overrides,
  });
}

/** The head's lines without the final empty line; asserts the CRLF structure on the way. */
function lines(text: string): string[] {
  assert.ok(text.endsWith('\r\n\r\n'), 'head ends with an empty line');
  assert.equal(text.indexOf('\r\n\r\n'), text.length - 4, 'exactly one empty line, at the end');
  assert.doesNotMatch(text.replaceAll('\r\n', ''), /[\r\n]/, 'no bare CR or LF');
  return text.slice(0, -4).split('\r\n');
}

function fields(text: string): Array<[string, string]> {
  return lines(text)
    .slice(1)
    .map((line) => {
      const colon = line.indexOf(': ');
      return [line.slice(0, colon), line.slice(colon + 2)];
    });
}

describe('serializeResponseHead: status line', () => {
  test('HTTP/1.1 200 with the defaults, byte for byte', () => {
    assert.equal(head(), `HTTP/1.1 200 OK\r\nDate: ${DATE}\r\nServer: holdfast\r\n\r\n`);
  });

  test('the configured version appears in the status line', () => {
    assert.equal(lines(head({ version: '1.0', status: 404 }))[0], 'HTTP/1.0 404 Not Found');
  });

  const PHRASES: Array<[number, string]> = [
    [100, 'Continue'],
    [101, 'Switching Protocols'],
    [200, 'OK'],
    [204, 'No Content'],
    [206, 'Partial Content'],
    [301, 'Moved Permanently'],
    [304, 'Not Modified'],
    [400, 'Bad Request'],
    [408, 'Request Timeout'],
    [413, 'Content Too Large'],
    [414, 'URI Too Long'],
    [417, 'Expectation Failed'],
    [431, 'Request Header Fields Too Large'],
    [500, 'Internal Server Error'],
    [501, 'Not Implemented'],
    [503, 'Service Unavailable'],
    [505, 'HTTP Version Not Supported'],
  ];
  for (const [status, phrase] of PHRASES) {
    test(`${status} ${phrase}`, () => {
      assert.equal(reasonPhrase(status), phrase);
      assert.equal(lines(head({ status }))[0], `HTTP/1.1 ${status} ${phrase}`);
    });
  }

  test('an unregistered status keeps the SP before an empty reason (RFC 9112 §4)', () => {
    assert.equal(reasonPhrase(299), '');
    assert.equal(lines(head({ status: 299 }))[0], 'HTTP/1.1 299 ');
    assert.equal(lines(head({ status: 599 }))[0], 'HTTP/1.1 599 ');
    assert.equal(lines(head({ status: 999 }))[0], 'HTTP/1.1 999 ');
  });

  for (const status of [0, 99, 1000, -200, 200.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    test(`status ${status} throws InvalidResponseError`, () => {
      assert.throws(() => head({ status }), InvalidResponseError);
    });
  }
});

describe('serializeResponseHead: Date and Server', () => {
  test('Date comes from init.date and Server defaults to holdfast', () => {
    assert.deepEqual(fields(head({ date: 'Thu, 01 Jan 1970 00:00:00 GMT' })), [
      ['Date', 'Thu, 01 Jan 1970 00:00:00 GMT'],
      ['Server', 'holdfast'],
    ]);
  });

  test('a handler Date replaces the default, whatever its case', () => {
    const result = fields(head({ headers: { date: 'Mon, 01 Jan 2024 00:00:00 GMT' } }));
    assert.deepEqual(result, [
      ['date', 'Mon, 01 Jan 2024 00:00:00 GMT'],
      ['Server', 'holdfast'],
    ]);
  });

  test('a handler Server replaces the default, whatever its case', () => {
    const result = fields(head({ headers: { SERVER: 'custom/1.0' } }));
    assert.deepEqual(result, [
      ['SERVER', 'custom/1.0'],
      ['Date', DATE],
    ]);
  });

  test('undefined Date and Server values leave the defaults in place', () => {
    const result = fields(head({ headers: { Date: undefined, Server: undefined } }));
    assert.deepEqual(result, [
      ['Date', DATE],
      ['Server', 'holdfast'],
    ]);
  });
});

describe('serializeResponseHead: handler fields', () => {
  test('names keep their case and order; numbers become decimal text', () => {
    const result = fields(head({ headers: { 'Content-Type': 'text/plain', 'x-Count': 42, ETag: '"abc"' } }));
    assert.deepEqual(result.slice(0, 3), [
      ['Content-Type', 'text/plain'],
      ['x-Count', '42'],
      ['ETag', '"abc"'],
    ]);
  });

  test('array values emit one line each, in order', () => {
    const result = fields(head({ headers: { 'Set-Cookie': ['a=1; Path=/', 'b=2', 'c=3; HttpOnly'], Vary: 'Accept' } }));
    assert.deepEqual(result.slice(0, 4), [
      ['Set-Cookie', 'a=1; Path=/'],
      ['Set-Cookie', 'b=2'],
      ['Set-Cookie', 'c=3; HttpOnly'],
      ['Vary', 'Accept'],
    ]);
  });

  test('an empty array emits no line', () => {
    assert.deepEqual(fields(head({ headers: { 'X-None': [] } })).map(([name]) => name), ['Date', 'Server']);
  });

  test('undefined values are skipped', () => {
    assert.deepEqual(fields(head({ headers: { 'X-Gone': undefined, 'X-Here': 'yes' } }))[0], ['X-Here', 'yes']);
  });

  test('empty values, tabs and obs-text are valid field content', () => {
    const result = fields(head({ headers: { 'X-Empty': '', 'X-Tab': 'a\tb', 'X-Latin1': 'caf\u00e9' } }));
    assert.deepEqual(result.slice(0, 3), [
      ['X-Empty', ''],
      ['X-Tab', 'a\tb'],
      ['X-Latin1', 'caf\u00e9'],
    ]);
  });

  test('server-owned fields from the handler are dropped, whatever their case', () => {
    const headers: ResponseHeaders = {
      'Content-Length': '999',
      'transfer-encoding': 'gzip, chunked',
      CONNECTION: 'upgrade',
      'Keep-Alive': 'timeout=999',
      'X-Kept': '1',
    };
    assert.deepEqual(fields(head({ headers })), [
      ['X-Kept', '1'],
      ['Date', DATE],
      ['Server', 'holdfast'],
    ]);
  });

  test('server-owned fields are replaced by the init values', () => {
    const headers: ResponseHeaders = { 'Content-Length': '999', Connection: 'keep-alive', 'Keep-Alive': 'max=1' };
    const result = fields(head({ headers, contentLength: 5, connection: 'close' }));
    assert.deepEqual(result, [
      ['Date', DATE],
      ['Server', 'holdfast'],
      ['Content-Length', '5'],
      ['Connection', 'close'],
    ]);
  });

  const BAD_NAMES = ['', 'X Space', 'X:Colon', 'X\r\nInjected', 'X\nY', 'X\0', 'Caf\u00e9', 'X"Q"', 'X(1)', 'X\t', 'a/b'];
  for (const name of BAD_NAMES) {
    test(`name ${JSON.stringify(name)} throws InvalidResponseError`, () => {
      assert.throws(() => head({ headers: { [name]: 'v' } }), InvalidResponseError);
    });
  }

  test('a bad name is rejected even when it looks server-owned', () => {
    assert.throws(() => head({ headers: { 'Content-Length ': '1' } }), InvalidResponseError);
  });

  const BAD_VALUES = ['a\r\nSet-Cookie: evil=1', 'a\rb', 'a\nb', 'a\0b', 'a\x01b', 'a\x7fb', 'snow\u2603man', '\r\n'];
  for (const value of BAD_VALUES) {
    test(`value ${JSON.stringify(value)} throws InvalidResponseError`, () => {
      assert.throws(() => head({ headers: { 'X-Bad': value } }), InvalidResponseError);
    });
  }

  test('a bad value inside an array throws', () => {
    assert.throws(() => head({ headers: { 'Set-Cookie': ['ok=1', 'bad=1\r\nX: y'] } }), InvalidResponseError);
  });

  test('a bad Date or Server override throws too', () => {
    assert.throws(() => head({ headers: { Date: 'x\r\ny' } }), InvalidResponseError);
    assert.throws(() => head({ headers: { Server: 'x\ny' } }), InvalidResponseError);
  });

  test('the error message never echoes the value', () => {
    assert.throws(
      () => head({ headers: { 'X-Bad': 'secret\r\n' } }),
      (error: unknown) => error instanceof InvalidResponseError && !error.message.includes('secret'),
    );
  });
});

describe('serializeResponseHead: framing and persistence fields', () => {
  test('Content-Length, including 0', () => {
    assert.deepEqual(fields(head({ contentLength: 0 })).at(-1), ['Content-Length', '0']);
    assert.deepEqual(fields(head({ contentLength: 1_048_576 })).at(-1), ['Content-Length', '1048576']);
  });

  test('no Content-Length when null', () => {
    assert.ok(fields(head({ contentLength: null })).every(([name]) => name !== 'Content-Length'));
  });

  test('chunked', () => {
    assert.deepEqual(fields(head({ chunked: true })).at(-1), ['Transfer-Encoding', 'chunked']);
  });

  test('Connection: keep-alive with Keep-Alive, server fields last in a fixed order', () => {
    const result = fields(
      head({
        headers: { 'Content-Type': 'text/html' },
        contentLength: 12,
        connection: 'keep-alive',
        keepAlive: 'timeout=5, max=99',
      }),
    );
    assert.deepEqual(result, [
      ['Content-Type', 'text/html'],
      ['Date', DATE],
      ['Server', 'holdfast'],
      ['Content-Length', '12'],
      ['Connection', 'keep-alive'],
      ['Keep-Alive', 'timeout=5, max=99'],
    ]);
  });

  test('chunked with Connection: close', () => {
    const result = fields(head({ chunked: true, connection: 'close' }));
    assert.deepEqual(result.slice(-2), [
      ['Transfer-Encoding', 'chunked'],
      ['Connection', 'close'],
    ]);
  });

  test('no Connection or Keep-Alive when null', () => {
    const names = fields(head()).map(([name]) => name);
    assert.ok(!names.includes('Connection') && !names.includes('Keep-Alive'));
  });
});

describe('CONTINUE_HEAD', () => {
  test('is a complete interim response head', () => {
    assert.equal(CONTINUE_HEAD, 'HTTP/1.1 100 Continue\r\n\r\n');
  });
});

describe('httpDate', () => {
  const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/;

  test('RFC 9110 §5.6.7 example', () => {
    assert.equal(httpDate(784_111_777_000), 'Sun, 06 Nov 1994 08:49:37 GMT');
  });

  test('the epoch and a leap day', () => {
    assert.equal(httpDate(0), 'Thu, 01 Jan 1970 00:00:00 GMT');
    assert.equal(httpDate(Date.UTC(2024, 1, 29, 13, 5, 9)), 'Thu, 29 Feb 2024 13:05:09 GMT');
  });

  test('IMF-fixdate shape across a range of instants', () => {
    for (let ms = Date.UTC(1999, 11, 31, 23, 59, 58); ms < Date.UTC(2000, 0, 1, 0, 0, 3); ms += 250) {
      assert.match(httpDate(ms), IMF_FIXDATE);
    }
    assert.match(httpDate(Date.now()), IMF_FIXDATE);
  });

  test('milliseconds round down to the second', () => {
    const second = Date.UTC(2030, 4, 6, 7, 8, 9);
    assert.equal(httpDate(second + 999), 'Mon, 06 May 2030 07:08:09 GMT');
    assert.equal(httpDate(second), 'Mon, 06 May 2030 07:08:09 GMT');
    assert.equal(httpDate(second + 1000), 'Mon, 06 May 2030 07:08:10 GMT');
  });

  test('computed at most once per second', (t) => {
    const format = t.mock.method(Date.prototype, 'toUTCString');
    const second = Date.UTC(2031, 0, 2, 3, 4, 5);
    for (let ms = second; ms < second + 1000; ms += 7) assert.equal(httpDate(ms), 'Thu, 02 Jan 2031 03:04:05 GMT');
    assert.equal(format.mock.callCount(), 1);
    assert.equal(httpDate(second + 1000), 'Thu, 02 Jan 2031 03:04:06 GMT');
    assert.equal(format.mock.callCount(), 2);
    assert.equal(httpDate(second + 1500), 'Thu, 02 Jan 2031 03:04:06 GMT');
    assert.equal(format.mock.callCount(), 2);
    assert.equal(httpDate(second), 'Thu, 02 Jan 2031 03:04:05 GMT');
    assert.equal(format.mock.callCount(), 3);
  });
});


describe('serializeResponseHead: frozen headers are serialized once', () => {
  test('the same frozen object gives the same head every time, with the per-response fields current', () => {
    const headers: ResponseHeaders = Object.freeze({ 'Content-Type': 'text/css', etag: '"1-2"', 'content-length': '9' });
    const first = head({ headers, contentLength: 9, connection: 'keep-alive', keepAlive: 'timeout=5' });
    const second = head({ headers, contentLength: 9, connection: 'keep-alive', keepAlive: 'timeout=5' });
    assert.equal(second, first);
    const closing = head({ headers, contentLength: 7, connection: 'close', date: 'Mon, 07 Nov 1994 08:49:37 GMT' });
    assert.deepEqual(fields(closing), [
      ['Content-Type', 'text/css'],
      ['etag', '"1-2"'],
      ['Date', 'Mon, 07 Nov 1994 08:49:37 GMT'],
      ['Server', 'holdfast'],
      ['Content-Length', '7'],
      ['Connection', 'close'],
    ]);
  });

  test('a frozen object with an invalid field fails every time (nothing cached)', () => {
    const headers: ResponseHeaders = Object.freeze({ 'x-bad': 'a\r\nInjected: 1' });
    assert.throws(() => head({ headers }), InvalidResponseError);
    assert.throws(() => head({ headers }), InvalidResponseError);
  });

  test('a frozen object holding a mutable array or a getter is not cached', () => {
    const cookies = ['a=1'];
    const withArray: ResponseHeaders = Object.freeze({ 'set-cookie': cookies });
    assert.deepEqual(fields(head({ headers: withArray }))[0], ['set-cookie', 'a=1']);
    cookies[0] = 'a=2';
    assert.deepEqual(fields(head({ headers: withArray }))[0], ['set-cookie', 'a=2']);
    let n = 0;
    const withGetter = Object.freeze(
      Object.defineProperty({}, 'x-count', { enumerable: true, get: () => String(++n) }),
    ) as ResponseHeaders;
    assert.deepEqual(fields(head({ headers: withGetter }))[0], ['x-count', '1']);
    assert.deepEqual(fields(head({ headers: withGetter }))[0], ['x-count', '2']);
  });

  test('a frozen object with a mutable prototype is not cached (inherited fields are serialized too)', () => {
    const defaults: Record<string, string> = { 'x-inherited': '1' };
    const headers = Object.freeze(Object.create(defaults, { 'x-own': { value: 'a', enumerable: true } })) as ResponseHeaders;
    assert.deepEqual(fields(head({ headers })).slice(0, 2), [['x-own', 'a'], ['x-inherited', '1']]);
    defaults['x-inherited'] = '2';
    assert.deepEqual(fields(head({ headers })).slice(0, 2), [['x-own', 'a'], ['x-inherited', '2']]);
  });

  test('a mutable object is read afresh on every response', () => {
    const headers: Record<string, string> = { 'x-n': '1' };
    assert.deepEqual(fields(head({ headers }))[0], ['x-n', '1']);
    headers['x-n'] = '2';
    assert.deepEqual(fields(head({ headers }))[0], ['x-n', '2']);
  });
});

describe('serializeResponseHead: the last head is reused only for the same parts', () => {
  test('heads that differ in one part each come out right, in any order', () => {
    const headers = { 'content-type': 'text/plain' };
    const base = { headers, contentLength: 13, connection: 'keep-alive' as const, keepAlive: 'timeout=5' };
    const a = head(base);
    assert.equal(head(base), a);
    assert.equal(head(base), a);
    assert.deepEqual(fields(head({ ...base, contentLength: 14 })).find(([name]) => name === 'Content-Length'), ['Content-Length', '14']);
    assert.deepEqual(fields(head({ ...base, keepAlive: 'timeout=5, max=9' })).at(-1), ['Keep-Alive', 'timeout=5, max=9']);
    assert.deepEqual(fields(head({ ...base, headers: { 'content-type': 'text/html' } }))[0], ['content-type', 'text/html']);
    assert.match(head({ ...base, date: 'Mon, 07 Nov 1994 08:49:37 GMT' }), /\r\nDate: Mon, 07 Nov 1994 08:49:37 GMT\r\n/);
    assert.match(head({ ...base, status: 404 }), /^HTTP\/1\.1 404 Not Found\r\n/);
    assert.match(head({ ...base, chunked: true, contentLength: null }), /\r\nTransfer-Encoding: chunked\r\n/);
    assert.equal(head(base), a);
  });

  test('joinHeadAndBody joins, and reuses only for the same head and body', () => {
    assert.equal(joinHeadAndBody('H1\r\n\r\n', 'body-a'), 'H1\r\n\r\nbody-a');
    assert.equal(joinHeadAndBody('H1\r\n\r\n', 'body-a'), 'H1\r\n\r\nbody-a');
    assert.equal(joinHeadAndBody('H1\r\n\r\n', 'body-b'), 'H1\r\n\r\nbody-b');
    assert.equal(joinHeadAndBody('H2\r\n\r\n', 'body-b'), 'H2\r\n\r\nbody-b');
    assert.equal(joinHeadAndBody('H2\r\n\r\n', 'body-b'), 'H2\r\n\r\nbody-b');
  });

  test('lastChunkWithTrailers: the last chunk, the trailer fields, the empty line; framing, Host and connection fields dropped; bad names and values throw', () => {
    assert.equal(lastChunkWithTrailers({}), '0\r\n\r\n');
    assert.equal(
      lastChunkWithTrailers({ 'X-Sum': 'abc', 'x-list': ['1', '2'], 'x-n': 7, 'Content-Length': '3', host: 'h', trailer: 'x', te: 'trailers', connection: 'close', 'keep-alive': 'timeout=1', 'transfer-encoding': 'chunked', none: undefined }),
      '0\r\nX-Sum: abc\r\nx-list: 1\r\nx-list: 2\r\nx-n: 7\r\n\r\n',
    );
    assert.throws(() => lastChunkWithTrailers({ 'x-bad': 'a\r\nInjected: 1' }), InvalidResponseError);
    assert.throws(() => lastChunkWithTrailers({ 'bad name': '1' }), InvalidResponseError);
  });
});
