import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DEFAULT_RESPONSE_LIMITS,
  ResponseParser,
  decideReceivedFraming,
  parseKeepAliveParameters,
  type ResponseParserLimits,
} from '../../src/http1/response-parser.js';

interface ResponseVector {
  name: string;
  /** Methods of the requests the responses answer, in order (default: GET for each). */
  methods?: string[];
  input: string;
  eof?: boolean;
  limits?: Partial<ResponseParserLimits>;
  /** Only the keys written are compared; consecutive data events are merged into `text`. */
  expected: Array<Record<string, unknown>>;
}

const VECTORS: ResponseVector[] = [
  {
    name: 'Content-Length body',
    input: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5, max=99\r\n\r\nhello',
    expected: [
      {
        kind: 'head',
        version: '1.1',
        status: 200,
        reason: 'OK',
        headers: [['content-length', '5'], ['connection', 'keep-alive'], ['keep-alive', 'timeout=5, max=99']],
        framing: 'length:5',
        connection: ['keep-alive'],
        interim: false,
      },
      { kind: 'data', text: 'hello' },
      { kind: 'end' },
    ],
  },
  {
    name: 'Content-Length: 0 ends at the head',
    input: 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
    expected: [{ kind: 'head', framing: 'length:0' }, { kind: 'end' }],
  },
  {
    name: 'equal Content-Length values are one length',
    input: 'HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nok',
    expected: [{ kind: 'head', framing: 'length:2' }, { kind: 'data', text: 'ok' }, { kind: 'end' }],
  },
  {
    name: 'chunked with extensions and trailers',
    input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n1\r\n!\r\n0\r\nX-Sum: 1\r\n\r\n',
    expected: [{ kind: 'head', framing: 'chunked' }, { kind: 'data', text: 'hello!' }, { kind: 'end', trailers: [['x-sum', '1']] }],
  },
  {
    name: 'final coding chunked after another coding',
    input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nzz\r\n0\r\n\r\n',
    expected: [{ kind: 'head', framing: 'chunked' }, { kind: 'data', text: 'zz' }, { kind: 'end' }],
  },
  {
    name: 'final coding not chunked is close-delimited',
    input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc',
    eof: true,
    expected: [{ kind: 'head', framing: 'close-delimited' }, { kind: 'data', text: 'abc' }, { kind: 'end' }, { kind: 'eof' }],
  },
  {
    name: 'no length: close-delimited, ends at EOF',
    input: 'HTTP/1.0 200 OK\r\nServer: old\r\n\r\nuntil the end',
    eof: true,
    expected: [{ kind: 'head', version: '1.0', framing: 'close-delimited' }, { kind: 'data', text: 'until the end' }, { kind: 'end' }, { kind: 'eof' }],
  },
  {
    name: 'close-delimited waits for EOF',
    input: 'HTTP/1.1 200 OK\r\n\r\npartial',
    expected: [{ kind: 'head', framing: 'close-delimited' }, { kind: 'data', text: 'partial' }],
  },
  {
    name: 'HEAD: no content whatever Content-Length says, even in the head a GET got just before; the next response follows',
    methods: ['GET', 'HEAD', 'GET'],
    input: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nyoHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi',
    expected: [
      { kind: 'head', framing: 'length:2', requestMethod: 'GET' },
      { kind: 'data', text: 'yo' },
      { kind: 'end' },
      { kind: 'head', framing: 'none', requestMethod: 'HEAD' },
      { kind: 'end' },
      { kind: 'head', framing: 'length:2', requestMethod: 'GET' },
      { kind: 'data', text: 'hi' },
      { kind: 'end' },
    ],
  },
  {
    name: '204 and 304 carry no content',
    input: 'HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nHTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n',
    expected: [{ kind: 'head', status: 204, framing: 'none' }, { kind: 'end' }, { kind: 'head', status: 304, framing: 'none' }, { kind: 'end' }],
  },
  {
    name: '1xx is interim; the final response answers the same request',
    methods: ['HEAD'],
    input: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n',
    expected: [
      { kind: 'head', status: 100, interim: true, requestMethod: 'HEAD' },
      { kind: 'end' },
      { kind: 'head', status: 103, interim: true, requestMethod: 'HEAD' },
      { kind: 'end' },
      { kind: 'head', status: 200, interim: false, framing: 'none', requestMethod: 'HEAD' },
      { kind: 'end' },
    ],
  },
  {
    name: '101 ends HTTP on the connection',
    input: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x00',
    expected: [{ kind: 'head', status: 101, framing: 'switched', connection: ['upgrade'] }, { kind: 'end' }, { kind: 'switched' }],
  },
  {
    name: '2xx to CONNECT is a tunnel',
    methods: ['CONNECT'],
    input: 'HTTP/1.1 200 Connection Established\r\n\r\nanything',
    expected: [{ kind: 'head', status: 200, framing: 'switched' }, { kind: 'end' }, { kind: 'switched' }],
  },
  {
    name: 'three pipelined responses in order',
    methods: ['GET', 'HEAD', 'GET'],
    input:
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na' +
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n' +
      'HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nc\r\n0\r\n\r\n',
    expected: [
      { kind: 'head', status: 200 },
      { kind: 'data', text: 'a' },
      { kind: 'end' },
      { kind: 'head', status: 200, framing: 'none' },
      { kind: 'end' },
      { kind: 'head', status: 404, reason: 'Not Found', framing: 'chunked' },
      { kind: 'data', text: 'c' },
      { kind: 'end' },
    ],
  },
  {
    name: 'status line without a reason-phrase, with or without its SP',
    input: 'HTTP/1.1 200\r\nContent-Length: 0\r\n\r\nHTTP/1.1 204 \r\n\r\n',
    expected: [{ kind: 'head', status: 200, reason: '' }, { kind: 'end' }, { kind: 'head', status: 204, reason: '' }, { kind: 'end' }],
  },
  {
    name: 'reason-phrase keeps obs-text and spaces',
    input: 'HTTP/1.1 200 Tr\xe8s  bien\r\nContent-Length: 0\r\n\r\n',
    expected: [{ kind: 'head', reason: 'Tr\u00e8s  bien' }, { kind: 'end' }],
  },
  {
    name: 'field names lower-cased, values trimmed, Connection tokens split',
    input: 'HTTP/1.1 200 OK\r\nCONNECTION:  Keep-Alive , X-Foo\r\nKeep-Alive:\ttimeout=5\t\r\nContent-Length: 0\r\n\r\n',
    expected: [{ kind: 'head', headers: [['connection', 'Keep-Alive , X-Foo'], ['keep-alive', 'timeout=5'], ['content-length', '0']], connection: ['keep-alive', 'x-foo'] }, { kind: 'end' }],
  },
  {
    name: 'simple heads (read whole by the fast path) as the byte parser reads them: names folded, SP trimmed, reasons kept',
    input:
      'HTTP/1.1 404 Nope\r\nDATE: Sat, 05 Dec 2026 19:24:05 GMT\r\nX-Odd-Name:  a  b  \r\nx-empty:\r\nContent-Length: 1\r\n\r\n!' +
      'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n',
    expected: [
      { kind: 'head', version: '1.1', status: 404, reason: 'Nope', headers: [['date', 'Sat, 05 Dec 2026 19:24:05 GMT'], ['x-odd-name', 'a  b'], ['x-empty', ''], ['content-length', '1']], framing: 'length:1', connection: [] },
      { kind: 'data', text: '!' },
      { kind: 'end' },
      { kind: 'head', version: '1.0', status: 200, reason: 'OK', headers: [['connection', 'keep-alive'], ['keep-alive', 'timeout=5'], ['content-length', '0']], connection: ['keep-alive'] },
      { kind: 'end' },
    ],
  },
  {
    name: 'a tab in a value or a reason: the byte parser reads the head (the fast path takes none)',
    input: 'HTTP/1.1 200 O\tK\r\nX-A: 1\t2\r\nContent-Length: 0\r\n\r\n',
    expected: [{ kind: 'head', reason: 'O\tK', headers: [['x-a', '1\t2'], ['content-length', '0']] }, { kind: 'end' }],
  },
  { name: 'EOF between responses', input: '', eof: true, expected: [{ kind: 'eof' }] },
  {
    name: 'EOF after a complete response',
    input: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
    eof: true,
    expected: [{ kind: 'head' }, { kind: 'data', text: 'ok' }, { kind: 'end' }, { kind: 'eof' }],
  },
  {
    name: 'EOF inside a head',
    input: 'HTTP/1.1 200 OK\r\nContent-Len',
    eof: true,
    expected: [{ kind: 'error', code: 'incomplete-message' }],
  },
  {
    name: 'EOF inside a Content-Length body',
    input: 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort',
    eof: true,
    expected: [{ kind: 'head' }, { kind: 'data', text: 'short' }, { kind: 'error', code: 'incomplete-message' }],
  },
  {
    name: 'EOF inside a chunked body',
    input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab',
    eof: true,
    expected: [{ kind: 'head' }, { kind: 'data', text: 'ab' }, { kind: 'error', code: 'incomplete-message' }],
  },
  { name: 'not HTTP: an SSH banner', input: 'SSH-2.0-OpenSSH_9.6\r\n', expected: [{ kind: 'error', code: 'not-http' }] },
  { name: 'not HTTP: a TLS alert', input: '\x15\x03\x01\x00\x02\x02\x46', expected: [{ kind: 'error', code: 'not-http' }] },
  { name: 'not HTTP: detected from the first byte', input: 'h', expected: [{ kind: 'error', code: 'not-http' }] },
  {
    name: 'a stray CRLF between responses',
    input: 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n\r\nHTTP/1.1 200 OK\r\n\r\n',
    expected: [{ kind: 'head' }, { kind: 'end' }, { kind: 'error', code: 'not-http' }],
  },
  { name: 'HTTP/2.0 status line', input: 'HTTP/2.0 200 OK\r\n\r\n', expected: [{ kind: 'error', code: 'unsupported-version' }] },
  { name: 'malformed version', input: 'HTTP/1.x 200 OK\r\n\r\n', expected: [{ kind: 'error', code: 'bad-version' }] },
  { name: 'short version', input: 'HTTP/1\r\n\r\n', expected: [{ kind: 'error', code: 'bad-version' }] },
  { name: 'two-digit status', input: 'HTTP/1.1 20 OK\r\n\r\n', expected: [{ kind: 'error', code: 'bad-status-line' }] },
  { name: 'status code 600', input: 'HTTP/1.1 600 Odd\r\n\r\n', expected: [{ kind: 'error', code: 'bad-status-code' }] },
  { name: 'status code 099', input: 'HTTP/1.1 099 Odd\r\n\r\n', expected: [{ kind: 'error', code: 'bad-status-code' }] },
  { name: 'four-digit status', input: 'HTTP/1.1 2000 OK\r\n\r\n', expected: [{ kind: 'error', code: 'bad-status-line' }] },
  { name: 'control character in reason', input: 'HTTP/1.1 200 O\x01K\r\n\r\n', expected: [{ kind: 'error', code: 'bad-status-line' }] },
  { name: 'bare LF in the head', input: 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n', expected: [{ kind: 'error', code: 'bare-lf' }] },
  { name: 'bare CR in the status line', input: 'HTTP/1.1 200 O\rK\r\n\r\n', expected: [{ kind: 'error', code: 'bare-cr' }] },
  { name: 'obs-fold', input: 'HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\n\r\n', expected: [{ kind: 'error', code: 'obs-fold' }] },
  { name: 'space before colon', input: 'HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n', expected: [{ kind: 'error', code: 'space-before-colon' }] },
  {
    name: 'Content-Length with Transfer-Encoding',
    input: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n',
    expected: [{ kind: 'error', code: 'content-length-and-transfer-encoding' }],
  },
  {
    name: 'Transfer-Encoding on HTTP/1.0',
    input: 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n',
    expected: [{ kind: 'error', code: 'transfer-encoding-on-http10' }],
  },
  {
    name: 'chunked not last',
    input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n',
    expected: [{ kind: 'error', code: 'bad-transfer-encoding' }],
  },
  { name: 'differing Content-Lengths', input: 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', expected: [{ kind: 'error', code: 'conflicting-content-length' }] },
  { name: 'negative Content-Length', input: 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', expected: [{ kind: 'error', code: 'bad-content-length' }] },
  {
    name: 'bad chunk size',
    input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    expected: [{ kind: 'head' }, { kind: 'error', code: 'bad-chunk-size' }],
  },
  {
    name: 'chunk data not followed by CRLF',
    input: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n',
    expected: [{ kind: 'head' }, { kind: 'data', text: 'a' }, { kind: 'error', code: 'bad-chunk-terminator' }],
  },
  {
    name: 'head larger than the limit',
    limits: { maxHeaderBytes: 40 },
    input: 'HTTP/1.1 200 OK\r\nX-Long: 0123456789012345678901234567890123456789\r\n\r\n',
    expected: [{ kind: 'error', code: 'header-section-too-large' }],
  },
  {
    name: 'too many fields',
    limits: { maxHeaderCount: 2 },
    input: 'HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n',
    expected: [{ kind: 'error', code: 'too-many-fields' }],
  },
];

type Observed = Record<string, unknown>;

function run(vector: ResponseVector, chunks: Buffer[]): Observed[] {
  const parser = new ResponseParser({ ...DEFAULT_RESPONSE_LIMITS, ...vector.limits });
  for (const method of vector.methods ?? []) parser.expectResponseTo(method);
  const out: Observed[] = [];
  let stopped = false;
  const drain = (): void => {
    while (!stopped) {
      const event = parser.next();
      switch (event.kind) {
        case 'need-data':
          return;
        case 'paused':
          parser.nextCycle();
          break;
        case 'head': {
          const h = event.head;
          const framing = h.framing.kind === 'length' ? `length:${h.framing.length}` : h.framing.kind;
          out.push({
            kind: 'head',
            version: h.version,
            status: h.status,
            reason: h.reason,
            headers: [...h.headers],
            framing,
            connection: [...h.connection],
            interim: h.interim,
            requestMethod: h.requestMethod,
          });
          break;
        }
        case 'data': {
          const last = out[out.length - 1];
          if (last?.kind === 'data') last.text = (last.text as string) + event.bytes.toString('latin1');
          else out.push({ kind: 'data', text: event.bytes.toString('latin1') });
          break;
        }
        case 'end':
          out.push(event.trailers ? { kind: 'end', trailers: [...event.trailers] } : { kind: 'end' });
          break;
        case 'eof':
        case 'switched':
          out.push({ kind: event.kind });
          stopped = true;
          return;
        case 'error':
          out.push({ kind: 'error', code: event.error.code });
          stopped = true;
          return;
      }
    }
  };
  for (const chunk of chunks) {
    parser.feed(chunk);
    drain();
  }
  if (vector.eof) {
    parser.feedEof();
    drain();
  }
  return out;
}

function project(actual: Observed[], expected: Observed[]): Observed[] {
  return actual.map((event, i) => {
    const want = expected[i];
    if (!want || want.kind !== event.kind) return event;
    const picked: Observed = {};
    for (const key of Object.keys(want)) picked[key] = event[key];
    return picked;
  });
}

describe('ResponseParser vectors (whole, split at every offset, byte by byte)', () => {
  test('vector names are unique', () => {
    const names = VECTORS.map((v) => v.name);
    assert.deepEqual(names.filter((name, i) => names.indexOf(name) !== i), []);
  });
  for (const vector of VECTORS) {
    test(vector.name, () => {
      const input = Buffer.from(vector.input, 'latin1');
      const expectedJson = JSON.stringify(vector.expected);
      const check = (chunks: Buffer[], how: string): void => {
        const projected = project(run(vector, chunks), vector.expected);
        if (JSON.stringify(projected) !== expectedJson) assert.deepEqual(projected, vector.expected, how);
      };
      check(input.length === 0 ? [] : [input], 'input in one chunk');
      for (let split = 1; split < input.length; split++) check([input.subarray(0, split), input.subarray(split)], `split at ${split}`);
      const bytes: Buffer[] = [];
      for (let i = 0; i < input.length; i++) bytes.push(input.subarray(i, i + 1));
      check(bytes, 'byte by byte');
    });
  }
});

describe('ResponseParser API', () => {
  test('paused until nextCycle(); pendingRequests counts final responses only', () => {
    const parser = new ResponseParser();
    parser.expectResponseTo('get');
    parser.expectResponseTo('HEAD');
    assert.equal(parser.pendingRequests, 2);
    parser.feed(Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n'));
    assert.equal(parser.next().kind, 'head');
    assert.equal(parser.pendingRequests, 2);
    assert.equal(parser.next().kind, 'end');
    assert.equal(parser.next().kind, 'paused');
    assert.equal(parser.next().kind, 'paused');
    assert.ok(parser.bufferedBytes > 0);
    parser.nextCycle();
    const final = parser.next();
    assert.ok(final.kind === 'head' && final.head.status === 200 && final.head.requestMethod === 'GET');
    assert.equal(parser.pendingRequests, 1);
    assert.throws(() => parser.nextCycle(), /in progress/);
  });

  test('isMidMessage tracks a response in progress', () => {
    const parser = new ResponseParser();
    assert.equal(parser.isMidMessage, false);
    parser.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\no'));
    assert.equal(parser.isMidMessage, true);
    assert.equal(parser.next().kind, 'head');
    assert.equal(parser.next().kind, 'data');
    assert.equal(parser.next().kind, 'need-data');
    assert.equal(parser.isMidMessage, true);
    parser.feed(Buffer.from('k'));
    assert.equal(parser.next().kind, 'data');
    assert.equal(parser.next().kind, 'end');
    assert.equal(parser.isMidMessage, false);
  });

  test('feedBorrowed: read in place, data events are copies, release() keeps what was not consumed', () => {
    const parser = new ResponseParser();
    parser.expectResponseTo('GET');
    parser.expectResponseTo('GET');
    const shared = Buffer.alloc(256);
    const first = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 20';
    const length = shared.write(first, 'latin1');
    assert.equal(parser.feedBorrowed(shared, length), true);
    assert.throws(() => parser.feed(Buffer.from('x')), /borrowed/);
    const head = parser.next();
    assert.ok(head.kind === 'head' && head.head.status === 200);
    const data = parser.next();
    assert.ok(data.kind === 'data');
    assert.equal(parser.next().kind, 'end');
    assert.equal(parser.next().kind, 'paused');
    parser.release();
    // The caller reuses its buffer: nothing the parser handed out or kept may change.
    shared.fill(0x58);
    assert.equal(data.bytes.toString('latin1'), 'hello');
    assert.equal(parser.bufferedBytes, 'HTTP/1.1 20'.length);
    assert.equal(parser.feedBorrowed(shared, 4), false, 'bytes are pending: the caller feeds a copy');
    parser.feed(Buffer.from('4 No Content\r\n\r\n', 'latin1'));
    parser.nextCycle();
    const second = parser.next();
    assert.ok(second.kind === 'head' && second.head.status === 204 && second.head.reason === 'No Content');
  });

  test('a head reused from the last one read is a head of its own: its fields can change without touching the next', () => {
    const input = Buffer.from('HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n');
    const heads = [0, 1].map(() => {
      const parser = new ResponseParser();
      parser.feed(input);
      const event = parser.next();
      assert.ok(event.kind === 'head');
      return event.head;
    });
    heads[0].headers.append('x-b', '2');
    assert.deepEqual([...heads[1].headers], [['x-a', '1'], ['content-length', '0']]);
    // Same length, other bytes: not the head last read.
    const other = new ResponseParser();
    other.feed(Buffer.from('HTTP/1.1 200 OK\r\nX-A: 2\r\nContent-Length: 0\r\n\r\n'));
    const event = other.next();
    assert.ok(event.kind === 'head' && event.head.headers.get('x-a') === '2');
  });

  test('errors repeat and never carry peer bytes', () => {
    const parser = new ResponseParser();
    parser.feed(Buffer.from('SECRET-TOKEN 200\r\n'));
    const first = parser.next();
    const second = parser.next();
    assert.equal(first.kind, 'error');
    assert.deepEqual(second, first);
    assert.ok(first.kind === 'error' && !first.error.message.includes('SECRET'));
  });
});

describe('decideReceivedFraming (RFC 9112 §6.3)', () => {
  const cases: Array<[string, number, '1.0' | '1.1', string[], string[], unknown]> = [
    ['GET', 200, '1.1', ['10'], [], { kind: 'length', length: 10 }],
    ['HEAD', 200, '1.1', ['10'], [], { kind: 'none' }],
    ['GET', 204, '1.1', ['10'], [], { kind: 'none' }],
    ['GET', 304, '1.1', [], ['chunked'], { kind: 'none' }],
    ['GET', 199, '1.1', [], [], { kind: 'none' }],
    ['GET', 101, '1.1', [], [], { kind: 'switched' }],
    ['CONNECT', 200, '1.1', [], [], { kind: 'switched' }],
    ['CONNECT', 407, '1.1', ['3'], [], { kind: 'length', length: 3 }],
    ['GET', 200, '1.1', [], ['chunked'], { kind: 'chunked' }],
    ['GET', 200, '1.1', [], ['gzip', 'chunked'], { kind: 'chunked' }],
    ['GET', 200, '1.1', [], ['chunked, , '], { kind: 'chunked' }],
    ['GET', 200, '1.1', [], ['gzip'], { kind: 'close-delimited' }],
    ['GET', 200, '1.1', [], ['chunked', 'chunked'], 'bad-transfer-encoding'],
    ['GET', 200, '1.1', ['1'], ['chunked'], 'content-length-and-transfer-encoding'],
    ['GET', 200, '1.0', [], ['chunked'], 'transfer-encoding-on-http10'],
    ['GET', 200, '1.1', ['1', '2'], [], 'conflicting-content-length'],
    ['GET', 200, '1.1', ['0x10'], [], 'bad-content-length'],
    ['GET', 200, '1.1', [''], [], 'bad-content-length'],
    ['GET', 200, '1.0', [], [], { kind: 'close-delimited' }],
  ];
  for (const [method, status, version, cl, te, expected] of cases) {
    test(`${method} ${status} HTTP/${version} CL=${JSON.stringify(cl)} TE=${JSON.stringify(te)}`, () => {
      assert.deepEqual(decideReceivedFraming(method, status, version, cl, te), expected);
    });
  }
});

describe('parseKeepAliveParameters', () => {
  const cases: Array<[string, { timeoutSeconds: number | null; max: number | null }]> = [
    ['timeout=5, max=100', { timeoutSeconds: 5, max: 100 }],
    ['timeout=5', { timeoutSeconds: 5, max: null }],
    ['Max=3,Timeout=0', { timeoutSeconds: 0, max: 3 }],
    ['timeout="15", max=1', { timeoutSeconds: 15, max: 1 }],
    ['timeout=5.5, max=-1', { timeoutSeconds: null, max: null }],
    ['', { timeoutSeconds: null, max: null }],
    ['timeout=1, timeout=9', { timeoutSeconds: 1, max: null }],
    ['timeout=5; max=100', { timeoutSeconds: 5, max: 100 }],
    ['max=3;timeout=2', { timeoutSeconds: 2, max: 3 }],
    ['timeout=5; max=100, max=7', { timeoutSeconds: 5, max: 100 }],
    ['timeout="4"; max=x', { timeoutSeconds: 4, max: null }],
  ];
  for (const [value, expected] of cases) {
    test(JSON.stringify(value), () => assert.deepEqual(parseKeepAliveParameters(value), expected));
  }
});
