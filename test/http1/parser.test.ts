import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProtocolError } from '../../src/http1/errors.js';
import { RequestParser, type ParserEvent } from '../../src/http1/parser.js';
import { DEFAULT_LIMITS, loadVectors, project, runParser } from './vectors.js';

const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');

function expectKind<K extends ParserEvent['kind']>(event: ParserEvent, kind: K): Extract<ParserEvent, { kind: K }> {
  assert.equal(event.kind, kind);
  return event as Extract<ParserEvent, { kind: K }>;
}

/** Runs input whole, at a handful of splits and byte by byte; all must agree. Returns the events. */
function eventsEveryWay(input: Buffer, limits = DEFAULT_LIMITS, eof = false): Array<Record<string, unknown>> {
  const whole = runParser(limits, [input], eof);
  const offsets = [1, 2, input.length >> 1, input.length - 3, input.length - 2, input.length - 1].filter((n) => n > 0 && n < input.length);
  for (const at of offsets) assert.deepEqual(runParser(limits, [input.subarray(0, at), input.subarray(at)], eof), whole, `split at ${at}`);
  const bytes: Buffer[] = [];
  for (let i = 0; i < input.length; i++) bytes.push(input.subarray(i, i + 1));
  assert.deepEqual(runParser(limits, bytes, eof), whole, 'byte by byte');
  return whole;
}

describe('RequestParser event contract', () => {
  test('need-data before a complete head, and bufferedBytes counts what waits', () => {
    const parser = new RequestParser(DEFAULT_LIMITS);
    assert.equal(parser.next().kind, 'need-data');
    parser.feed(latin1('GET / HTTP/1.1\r\nHo'));
    assert.equal(parser.next().kind, 'need-data');
    assert.equal(parser.bufferedBytes, 18);
    parser.feed(latin1('st: a\r\n\r\n'));
    assert.equal(expectKind(parser.next(), 'head').head.target, '/');
    assert.equal(parser.bufferedBytes, 0);
  });

  test('paused after each message until nextCycle, with pipelined bytes held back', () => {
    const parser = new RequestParser(DEFAULT_LIMITS);
    parser.feed(latin1('GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n'));
    assert.equal(expectKind(parser.next(), 'head').head.target, '/1');
    assert.equal(parser.next().kind, 'end');
    assert.equal(parser.next().kind, 'paused');
    assert.equal(parser.next().kind, 'paused');
    assert.equal(parser.bufferedBytes, 28);
    assert.equal(parser.isMidMessage, false);
    parser.nextCycle();
    assert.equal(expectKind(parser.next(), 'head').head.target, '/2');
  });

  test('nextCycle throws unless paused', () => {
    const parser = new RequestParser(DEFAULT_LIMITS);
    assert.throws(() => parser.nextCycle());
    parser.feed(latin1('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\na'));
    expectKind(parser.next(), 'head');
    assert.throws(() => parser.nextCycle());
    expectKind(parser.next(), 'data');
    assert.throws(() => parser.nextCycle());
  });

  test('isMidMessage tracks a message from its first byte to its end', () => {
    const parser = new RequestParser(DEFAULT_LIMITS);
    assert.equal(parser.isMidMessage, false);
    parser.feed(latin1('\r\n'));
    assert.equal(parser.next().kind, 'need-data');
    assert.equal(parser.isMidMessage, false, 'a skipped empty line is not a message');
    parser.feed(latin1('P'));
    assert.equal(parser.isMidMessage, true);
    parser.feed(latin1('OST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n'));
    expectKind(parser.next(), 'head');
    assert.equal(parser.isMidMessage, true, 'body pending');
    parser.feed(latin1('x'));
    expectKind(parser.next(), 'data');
    assert.equal(parser.isMidMessage, true, 'end not yet reported');
    expectKind(parser.next(), 'end');
    assert.equal(parser.isMidMessage, false);
  });

  test('an error repeats forever with the same ProtocolError', () => {
    const parser = new RequestParser(DEFAULT_LIMITS);
    parser.feed(latin1('GET / HTTP/1.1\r\n\r\n'));
    const first = expectKind(parser.next(), 'error');
    assert.ok(first.error instanceof ProtocolError);
    assert.equal(first.error.code, 'missing-host');
    assert.equal(first.error.status, 400);
    parser.feed(latin1('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
    assert.equal(expectKind(parser.next(), 'error').error, first.error);
    assert.equal(expectKind(parser.next(), 'error').error, first.error);
  });

  test('bytes fed after a chunked-body error are buffered, never thrown on', () => {
    const parser = new RequestParser(DEFAULT_LIMITS);
    parser.feed(latin1('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc'));
    expectKind(parser.next(), 'head');
    expectKind(parser.next(), 'data');
    assert.equal(parser.next().kind, 'need-data');
    parser.feed(latin1('X'));
    assert.equal(expectKind(parser.next(), 'error').error.code, 'bad-chunk-terminator');
    assert.ok(parser.bufferedBytes >= 0 && parser.bufferedBytes <= 1, `bufferedBytes ${parser.bufferedBytes}`);
    parser.feed(latin1('more bytes'));
    parser.feed(latin1('and more'));
    assert.equal(expectKind(parser.next(), 'error').error.code, 'bad-chunk-terminator');
  });

  test('every error vector accepts further bytes after its error', () => {
    const drain = (parser: RequestParser): ParserEvent => {
      for (;;) {
        const event = parser.next();
        if (event.kind === 'paused') parser.nextCycle();
        else if (event.kind === 'need-data' || event.kind === 'error' || event.kind === 'eof') return event;
      }
    };
    let checked = 0;
    for (const v of loadVectors()) {
      if (v.expected.at(-1)?.kind !== 'error' || v.eof) continue;
      for (const at of [1, v.input.length >> 1, v.input.length - 1]) {
        const parser = new RequestParser(v.limits);
        parser.feed(v.input.subarray(0, at));
        drain(parser);
        parser.feed(v.input.subarray(at));
        const error = expectKind(drain(parser), 'error');
        assert.doesNotThrow(() => parser.feed(latin1('GET / HTTP/1.1\r\n')), `${v.name} split at ${at}`);
        assert.ok(parser.bufferedBytes >= 0, `${v.name}: bufferedBytes ${parser.bufferedBytes}`);
        assert.equal(expectKind(parser.next(), 'error').error, error.error);
        checked++;
      }
    }
    assert.ok(checked > 100, `only ${checked} runs`);
  });

  test('the error message never carries peer bytes', () => {
    const parser = new RequestParser(DEFAULT_LIMITS);
    parser.feed(latin1('GET / HTTP/1.1\r\nHost: a\r\nX-Secret: tok\x01en\r\n\r\n'));
    const { error } = expectKind(parser.next(), 'error');
    assert.doesNotMatch(error.message, /tok|Secret/);
  });

  test('eof between messages repeats', () => {
    const parser = new RequestParser(DEFAULT_LIMITS);
    parser.feedEof();
    assert.equal(parser.next().kind, 'eof');
    assert.equal(parser.next().kind, 'eof');
  });

  test('an empty feed changes nothing', () => {
    const parser = new RequestParser(DEFAULT_LIMITS);
    parser.feed(new Uint8Array(0));
    assert.equal(parser.bufferedBytes, 0);
    assert.equal(parser.next().kind, 'need-data');
  });

  test('accepts plain Uint8Array views, honouring their offset', () => {
    const backing = new TextEncoder().encode('xxxxGET /u HTTP/1.1\r\nHost: a\r\n\r\nyyyy');
    const parser = new RequestParser(DEFAULT_LIMITS);
    parser.feed(backing.subarray(4, backing.length - 4));
    assert.equal(expectKind(parser.next(), 'head').head.target, '/u');
    assert.equal(parser.next().kind, 'end');
  });

  test('data views stay intact as later bytes arrive and the buffer grows', () => {
    const parser = new RequestParser(DEFAULT_LIMITS);
    parser.feed(latin1('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9000\r\n\r\nfirst'));
    expectKind(parser.next(), 'head');
    const views: Buffer[] = [expectKind(parser.next(), 'data').bytes];
    parser.feed(latin1('-sec'));
    parser.feed(latin1('ond'));
    views.push(expectKind(parser.next(), 'data').bytes);
    parser.feed(latin1('a'.repeat(5000)));
    parser.feed(latin1('b'.repeat(3988)));
    views.push(expectKind(parser.next(), 'data').bytes);
    assert.equal(views[0].toString('latin1'), 'first');
    assert.equal(views[1].toString('latin1'), '-second');
    assert.equal(views[2].toString('latin1'), 'a'.repeat(5000) + 'b'.repeat(3988));
    assert.equal(parser.next().kind, 'end');
  });

  test('a body view survives pipelined bytes appended behind it in the same buffer', () => {
    const parser = new RequestParser(DEFAULT_LIMITS);
    parser.feed(latin1('POST /1 HTTP/1.1\r\nHost: a\r\nContent-Le'));
    parser.feed(latin1('ngth: 3\r\n\r\nabcGET /2 HT'));
    expectKind(parser.next(), 'head');
    const { bytes } = expectKind(parser.next(), 'data');
    assert.equal(parser.next().kind, 'end');
    parser.feed(latin1('TP/1.1\r\nHost: zzzzzzzzzzzzzzzz\r\n\r\n'));
    parser.nextCycle();
    assert.equal(expectKind(parser.next(), 'head').head.target, '/2');
    assert.equal(bytes.toString('latin1'), 'abc');
  });

  test('a data view is a view, not a copy', () => {
    const input = latin1('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc');
    const parser = new RequestParser(DEFAULT_LIMITS);
    parser.feed(input);
    expectKind(parser.next(), 'head');
    const { bytes } = expectKind(parser.next(), 'data');
    assert.equal(bytes.buffer, input.buffer);
  });

  test('chunked data never includes framing bytes', () => {
    const parser = new RequestParser(DEFAULT_LIMITS);
    parser.feed(latin1('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n'));
    expectKind(parser.next(), 'head');
    assert.equal(expectKind(parser.next(), 'data').bytes.toString('latin1'), 'abc');
    assert.equal(expectKind(parser.next(), 'data').bytes.toString('latin1'), 'de');
    assert.equal(expectKind(parser.next(), 'end').trailers, null);
  });
});

describe('RequestParser limits at their real sizes', () => {
  const headOf = (valueLength: number): Buffer => latin1(`GET / HTTP/1.1\r\nHost: a\r\nX-Long: ${'v'.repeat(valueLength)}\r\n\r\n`);
  const overhead = headOf(0).length;

  test('a field value filling the head exactly to maxHeaderBytes', () => {
    const input = headOf(DEFAULT_LIMITS.maxHeaderBytes - overhead);
    assert.equal(input.length, DEFAULT_LIMITS.maxHeaderBytes);
    const events = eventsEveryWay(input);
    assert.equal(events[0].kind, 'head');
    const headers = events[0].headers as Array<[string, string]>;
    assert.equal(headers[1][1].length, DEFAULT_LIMITS.maxHeaderBytes - overhead);
  });

  test('one byte more is 431', () => {
    const events = eventsEveryWay(headOf(DEFAULT_LIMITS.maxHeaderBytes - overhead + 1));
    assert.deepEqual(events, [{ kind: 'error', code: 'header-section-too-large', status: 431, headRequest: false }]);
  });

  test('a request line of exactly maxRequestLineBytes, then one more', () => {
    const lineOf = (length: number): Buffer => latin1(`GET /${'a'.repeat(length - 14)} HTTP/1.1\r\nHost: a\r\n\r\n`);
    const ok = eventsEveryWay(lineOf(DEFAULT_LIMITS.maxRequestLineBytes));
    assert.equal(ok[0].kind, 'head');
    assert.equal((ok[0].target as string).length, DEFAULT_LIMITS.maxRequestLineBytes - 13);
    assert.deepEqual(eventsEveryWay(lineOf(DEFAULT_LIMITS.maxRequestLineBytes + 1)), [
      { kind: 'error', code: 'request-line-too-long', status: 414, headRequest: false },
    ]);
  });

  test('maxHeaderCount fields, then one more', () => {
    const withFields = (count: number): Buffer => {
      let text = 'GET / HTTP/1.1\r\nHost: a\r\n';
      for (let i = 1; i < count; i++) text += `X-${i}: ${i}\r\n`;
      return latin1(text + '\r\n');
    };
    const limits = { ...DEFAULT_LIMITS, maxHeaderCount: 150 };
    const ok = eventsEveryWay(withFields(limits.maxHeaderCount), limits);
    assert.equal((ok[0].headers as unknown[]).length, limits.maxHeaderCount);
    assert.deepEqual(eventsEveryWay(withFields(limits.maxHeaderCount + 1), limits), [
      { kind: 'error', code: 'too-many-fields', status: 431, headRequest: false },
    ]);
  });

  const chunkedWithSizeLine = (line: string): Buffer =>
    latin1(`POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${line}\r\nx\r\n0\r\n\r\n`);

  test('a 4096-byte chunk-size line, then 4097', () => {
    const ok = eventsEveryWay(chunkedWithSizeLine('1;a=' + 'b'.repeat(4092)));
    assert.deepEqual(
      ok.map((e) => e.kind),
      ['head', 'data', 'end'],
    );
    const tooLong = eventsEveryWay(chunkedWithSizeLine('1;a=' + 'b'.repeat(4093)));
    assert.deepEqual(tooLong.slice(1), [{ kind: 'error', code: 'chunk-line-too-long', status: 400, headRequest: false }]);
  });

  test('chunk extensions: 16 KiB in a body is accepted, one byte more is a 400, whatever the body limit', () => {
    // Four lines of 4096 bytes, each extension 4095 bytes (';' and 4094 more); the last chunk's line then carries the rest.
    const extension = ';a=' + 'b'.repeat(4092);
    const body = (lastExtension: string): Buffer =>
      latin1(`POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${`1${extension}\r\nx\r\n`.repeat(4)}0${lastExtension}\r\n\r\n`);
    const ok = eventsEveryWay(body(';' + 'c'.repeat(16_384 - 4 * extension.length - 1)));
    assert.deepEqual([ok[0].kind, ok.at(-1)?.kind, ok.some((e) => e.kind === 'error')], ['head', 'end', false]);
    const over = eventsEveryWay(body(';' + 'c'.repeat(16_384 - 4 * extension.length)));
    assert.deepEqual(over.at(-1), { kind: 'error', code: 'chunk-extensions-too-large', status: 400, headRequest: false });
  });

  test('a chunked body exactly at maxBodyBytes in many chunks, then one byte over', () => {
    const limits = { ...DEFAULT_LIMITS, maxBodyBytes: 40 };
    const body = (total: number): Buffer => {
      let text = 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n';
      for (let sent = 0; sent < total; sent += 7) {
        const n = Math.min(7, total - sent);
        text += `${n.toString(16)}\r\n${'z'.repeat(n)}\r\n`;
      }
      return latin1(text + '0\r\n\r\n');
    };
    assert.deepEqual(eventsEveryWay(body(40), limits).slice(1), [{ kind: 'data', text: 'z'.repeat(40) }, { kind: 'end' }]);
    assert.deepEqual(eventsEveryWay(body(41), limits).slice(1), [
      { kind: 'data', text: 'z'.repeat(40) },
      { kind: 'error', code: 'body-too-large', status: 413, headRequest: false },
    ]);
  });
});

describe('every vector under random multi-way splits', () => {
  /** mulberry32: a small deterministic PRNG so failures reproduce. */
  function prng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  test('the events never depend on how the input was cut', () => {
    const random = prng(0x9112);
    for (const v of loadVectors()) {
      for (let round = 0; round < 5; round++) {
        const chunks: Buffer[] = [];
        let at = 0;
        while (at < v.input.length) {
          const size = 1 + Math.floor(random() * Math.min(24, v.input.length));
          chunks.push(v.input.subarray(at, at + size));
          at += size;
        }
        const cuts = chunks.map((c) => c.length).join(',');
        assert.deepEqual(project(runParser(v.limits, chunks, v.eof), v.expected), v.expected, `${v.file}: ${v.name} cut as ${cuts}`);
      }
    }
  });
});

describe('RequestParser fast path and value reuse agree with the byte parser', () => {
  const headOf = (events: Array<Record<string, unknown>>, i = 0): Record<string, unknown> => events.filter((e) => e.kind === 'head')[i];

  test('simple and not-so-simple heads give the same events whole, split and byte by byte', () => {
    const inputs = [
      'GET /a?b HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: x/1\r\nACCEPT:  */*  \r\nX-Empty:\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: a\r\nX-Tab:\tv\t\r\n\r\n', // HTAB: byte parser
      'GET / HTTP/1.1\r\nHost: a\r\nX-Obs: caf\xe9\r\n\r\n', // obs-text: byte parser
      '\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n', // a leading empty line: byte parser
      'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n',
      'GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n',
      'GET / HTTP/1.0\r\n\r\n',
      'GET /#frag HTTP/1.1\r\nHost: a\r\n\r\n',
      'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: a%41b\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: a%4\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: []\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: a b\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n',
      'get / HTTP/1.1\r\nHost: a\r\n\r\n',
    ];
    for (const input of inputs) eventsEveryWay(latin1(input));
  });

  test('a repeated field value is reused only when its bytes are the same', () => {
    const events = eventsEveryWay(latin1('GET / HTTP/1.1\r\nHost: a.example\r\nX-Tab:\tv\r\n\r\nGET / HTTP/1.1\r\nHost: b.example\r\nX-Tab:\tw\r\n\r\nGET / HTTP/1.1\r\nHost: b.example\r\nX-Tab:\tw\r\n\r\n'));
    assert.deepEqual(headOf(events, 0).headers, [['host', 'a.example'], ['x-tab', 'v']]);
    assert.deepEqual(headOf(events, 1).headers, [['host', 'b.example'], ['x-tab', 'w']]);
    assert.deepEqual(headOf(events, 2).headers, [['host', 'b.example'], ['x-tab', 'w']]);
  });

  test('a tab around Content-Length is rejected even right after the same value was accepted', () => {
    const parser = new RequestParser(DEFAULT_LIMITS);
    parser.feed(latin1('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx'));
    expectKind(parser.next(), 'head');
    expectKind(parser.next(), 'data');
    expectKind(parser.next(), 'end');
    const again = new RequestParser(DEFAULT_LIMITS);
    again.feed(latin1('POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\t1\r\n\r\nx'));
    assert.equal(expectKind(again.next(), 'error').error.code, 'bad-field-value');
  });

  test('a head larger than the fast window, or over a limit, gets the byte parser verdict', () => {
    const big = `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'v'.repeat(6000)}\r\n\r\n`;
    assert.equal(String(headOf(eventsEveryWay(latin1(big))).target), '/');
    const tight = { ...DEFAULT_LIMITS, maxHeaderCount: 1 };
    const events = eventsEveryWay(latin1('GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n'), tight);
    assert.equal(events[0].kind, 'error');
    assert.equal(events[0].code, 'too-many-fields');
    const longLine = { ...DEFAULT_LIMITS, maxRequestLineBytes: 10 };
    assert.equal(eventsEveryWay(latin1('GET /abcdefgh HTTP/1.1\r\nHost: a\r\n\r\n'), longLine)[0].code, 'request-line-too-long');
    // `GET /ab HTTP/1.1` is 16 bytes: at the limit it passes, one byte under it fails.
    assert.equal(eventsEveryWay(latin1('GET /ab HTTP/1.1\r\nHost: a\r\n\r\n'), { ...DEFAULT_LIMITS, maxRequestLineBytes: 16 })[0].kind, 'head');
    assert.equal(eventsEveryWay(latin1('GET /ab HTTP/1.1\r\nHost: a\r\n\r\n'), { ...DEFAULT_LIMITS, maxRequestLineBytes: 15 })[0].code, 'request-line-too-long');
    // 27 bytes of head: at maxHeaderBytes 27 it passes, at 26 it fails.
    assert.equal(eventsEveryWay(latin1('GET / HTTP/1.1\r\nHost: a\r\n\r\n'), { ...DEFAULT_LIMITS, maxHeaderBytes: 27 })[0].kind, 'head');
    assert.equal(eventsEveryWay(latin1('GET / HTTP/1.1\r\nHost: a\r\n\r\n'), { ...DEFAULT_LIMITS, maxHeaderBytes: 26 })[0].code, 'header-section-too-large');
  });
});

describe('RequestParser borrowed buffers (reading the socket buffer in place)', () => {
  test('what was not consumed survives release() and the lender reusing its buffer', () => {
    const parser = new RequestParser(DEFAULT_LIMITS);
    const shared = Buffer.alloc(256);
    const first = latin1('GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHo');
    first.copy(shared);
    assert.equal(parser.feedBorrowed(shared, first.length), true);
    assert.equal(expectKind(parser.next(), 'head').head.target, '/1');
    parser.next();
    parser.next();
    parser.nextCycle();
    assert.equal(parser.next().kind, 'need-data');
    parser.release();
    shared.fill(0x58); // the lender's next read overwrites its buffer
    const rest = latin1('st: b\r\n\r\n');
    rest.copy(shared);
    assert.equal(parser.feedBorrowed(shared, rest.length), false, 'bytes are pending: the caller copies and feeds');
    parser.feed(Buffer.from(shared.subarray(0, rest.length)));
    const head = expectKind(parser.next(), 'head').head;
    assert.equal(head.target, '/2');
    assert.equal(head.headers.get('host'), 'b');
  });

  test('body bytes handed out while borrowed are copies; feed() before release() throws', () => {
    const parser = new RequestParser(DEFAULT_LIMITS);
    const shared = Buffer.alloc(256);
    const input = latin1('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello');
    input.copy(shared);
    assert.equal(parser.feedBorrowed(shared, input.length), true);
    expectKind(parser.next(), 'head');
    const data = expectKind(parser.next(), 'data').bytes;
    assert.throws(() => parser.feed(latin1('x')), /borrowed/);
    parser.release();
    shared.fill(0);
    assert.equal(Buffer.from(data).toString('latin1'), 'hello');
    expectKind(parser.next(), 'end');
  });

  test('stale bytes past the borrowed length are never read: line ends there do not complete a head, a chunk size or trailers', () => {
    const stale = latin1('\r\n\r\n0\r\n\r\nGET /stale HTTP/1.1\r\nHost: s\r\n\r\n'.repeat(3000)); // > 64 KiB of line ends
    const cases: Array<[string, string[]]> = [
      ['GET /real HTTP/1.1\r\nHost: a', ['need-data']],
      ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5', ['head', 'need-data']],
      ['POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1', ['head', 'need-data']],
    ];
    for (const [text, kinds] of cases) {
      const parser = new RequestParser(DEFAULT_LIMITS);
      const shared = Buffer.from(stale);
      const input = latin1(text);
      input.copy(shared);
      assert.equal(parser.feedBorrowed(shared, input.length), true);
      assert.deepEqual(kinds.map(() => parser.next().kind), kinds, JSON.stringify(text));
      parser.release();
    }
  });

  test('a borrowed head split across reads gives the same head as a whole one', () => {
    const input = latin1('GET /split HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n');
    for (let at = 1; at < input.length; at++) {
      const parser = new RequestParser(DEFAULT_LIMITS);
      const shared = Buffer.alloc(128);
      input.copy(shared, 0, 0, at);
      assert.equal(parser.feedBorrowed(shared, at), true);
      assert.equal(parser.next().kind, 'need-data', `split at ${at}`);
      parser.release();
      shared.fill(0x21);
      parser.feed(Buffer.from(input.subarray(at)));
      const head = expectKind(parser.next(), 'head').head;
      assert.equal(head.target, '/split');
      assert.deepEqual([...head.headers], [['host', 'example.com'], ['accept', '*/*']], `split at ${at}`);
    }
  });
});
