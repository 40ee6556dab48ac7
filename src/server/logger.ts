/**
 * The built-in logger: one line per connection open, request, connection close, protocol error,
 * handler error, accept error and internal error — one consumer of the server's events, which
 * stay as they are for any other listener. A server hands it each request directly (RequestLog:
 * the event's facts as arguments, no event object, no emit unless someone else listens). `pretty`
 * is for people, `json` is one JSON object (RFC 8259) per line.
 *
 * Each line is formatted straight into bytes (LineBytes and the put functions): no Date object and
 * no clock read of its own (a request line's time is its end reading, see clock.ts's wallMsAt), no
 * string per field, no intermediate objects, no toFixed; a request line like the previous one but
 * for its connection, index, duration and time is that line copied whole with those written over
 * it, and one that shares only its method, target, status and size copies that middle
 * (PreviousLine). Strings from the peer are escaped — JSON as RFC 8259 §7
 * requires, pretty as nginx escapes its access log — so a line is always one line.
 *
 * Sinks: standard output (the default) and a file path go through a shared LogWriter
 * (log-writer.ts): lines formatted into its buffers, flushed at close and at exit. A function
 * receives each line as a string (one complete line, "\n" included) at once, unbuffered: the
 * function decides what to do with it.
 */

import type { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { ServerEvents } from './events.js';
import { decimalWidth, LineBytes, literal, MAX_BYTES_PER_CHAR, putBytes, putFixed, putInt, putJsonText, putPretty, StampedPrefix, stampAt, stampMsAt } from './line-bytes.js';
import { LogWriter, openLogWriter, type DroppedNotice, type LineSink } from './log-writer.js';
import { OptionError, type LogFormat, type LogSink } from './options.js';

/**
 * A request's line, from the facts of its RequestEvent handed over one by one (no event object);
 * `endMs` is the performance.now() reading its duration ended at, which also gives the line its time.
 */
export type RequestLog = (
  connectionId: number,
  requestIndex: number,
  method: string,
  target: string,
  status: number,
  bytes: number,
  durationMs: number,
  keepAlive: boolean,
  endMs: number,
) => void;

/**
 * How a server ends its logger: lines flushed (bounded by `timeoutMs`), listeners off, the writer
 * released. `request` is the request lines' formatter when the server hands requests over directly
 * (attachLogger's `direct`), else null.
 */
export interface AttachedLogger {
  readonly request: RequestLog | null;
  close(timeoutMs: number): Promise<void>;
}

const NOT_LOGGING: AttachedLogger = { request: null, close: () => Promise.resolve() };

/** Room for a line's own text, timestamp and numbers; the strings it carries add MAX_BYTES_PER_CHAR each. */
const LINE_BYTES = 256;

type Listeners = { [E in keyof ServerEvents]: (...args: ServerEvents[E]) => void };

/**
 * Logs the events of `emitter` in `format` to `sink`. With `direct`, the caller hands each request
 * to the returned `request` itself instead of the logger listening for 'request': the server does,
 * so a logged request costs no event object and no emit when nobody else listens (listeners of
 * 'request' still get their events).
 */
export function attachLogger(emitter: EventEmitter<ServerEvents>, format: LogFormat, sink: LogSink | string | null, direct = false): AttachedLogger {
  if (format === 'off') return NOT_LOGGING;
  const json = format === 'json';
  const { lines, release } = openLineSink(sink, json);
  const shape = json ? JSON_REQUEST : PRETTY_REQUEST;
  const deferred = lines instanceof LogWriter ? new DeferredRequestLog(lines, shape) : null;
  const request = deferred?.log ?? requestLog(lines, shape);
  const listeners: Partial<Listeners> = json ? jsonListeners(lines) : prettyListeners(lines);
  if (!direct) {
    listeners.request = (e) => request(e.connectionId, e.requestIndex, e.method, e.target, e.status, e.bytes, e.durationMs, e.keepAlive, performance.now());
  }
  const close = (timeoutMs: number): Promise<void> => {
    deferred?.close();
    return release(timeoutMs);
  };
  return { request: direct ? request : null, close: listen(emitter as EventEmitter, listeners, close) };
}

/**
 * Puts a logger's `listeners` (event name → listener) on `emitter`; the returned close takes them
 * off and lets its sink go (`release`), once.
 */
export function listen(emitter: EventEmitter, listeners: object, release: (timeoutMs: number) => Promise<void>): (timeoutMs: number) => Promise<void> {
  const entries = Object.entries(listeners) as Array<[string, (...args: unknown[]) => void]>;
  for (const [event, listener] of entries) emitter.on(event, listener);
  let closed = false;
  return (timeoutMs) => {
    if (closed) return Promise.resolve();
    closed = true;
    for (const [event, listener] of entries) emitter.off(event, listener);
    return release(timeoutMs);
  };
}

/**
 * Where a logger's lines go: a function gets each line at once; a file path or null (standard
 * output) is the target's shared LogWriter, let go by `release` (flushed, at most `timeoutMs`).
 * Throws an OptionError when the file does not open.
 */
export function openLineSink(sink: LogSink | string | null, json: boolean): { lines: LineSink; release(timeoutMs: number): Promise<void> } {
  if (typeof sink === 'function') return { lines: new FunctionSink(sink), release: () => Promise.resolve() };
  try {
    const writer = openLogWriter(sink, json ? jsonDroppedNotice : prettyDroppedNotice);
    return { lines: writer, release: (timeoutMs) => writer.release(timeoutMs) };
  } catch (error) {
    throw new OptionError(`option logSink: cannot open the log file ${sink}: ${(error as Error).message}`);
  }
}

/** A LineSink for a function: each line formatted into a scratch buffer, then handed over as a string. */
class FunctionSink implements LineSink {
  readonly #fn: LogSink;
  readonly #out = new LineBytes(Buffer.allocUnsafe(4096));

  constructor(fn: LogSink) {
    this.#fn = fn;
  }

  begin(maxBytes: number): LineBytes {
    if (this.#out.buf.length < maxBytes) this.#out.buf = Buffer.allocUnsafe(maxBytes);
    this.#out.pos = 0;
    return this.#out;
  }

  end(): void {
    this.#fn(this.#out.buf.toString('utf8', 0, this.#out.pos));
  }
}

/** Bytes for a line carrying these strings (each escaped: at most MAX_BYTES_PER_CHAR per character). */
export function bound(a: string, b = '', c = ''): number {
  return LINE_BYTES + MAX_BYTES_PER_CHAR * (a.length + b.length + c.length);
}

/** The pretty format's constant text. */
const P = {
  conn: literal(' conn#'),
  req: literal(' req#'),
  open: literal(' open '),
  msClose: literal('ms close\n'),
  closeReason: literal(' close reason='),
  requests: literal(' requests='),
  in: literal(' in='),
  out: literal('B out='),
  lifetime: literal('B lifetime='),
  seconds: literal('s\n'),
  protocolError: literal(' protocol-error '),
  tlsError: literal(' tls-error '),
  during: literal(' during '),
  colon: literal(': '),
  openParen: literal(' ('),
  closeParenLine: literal(')\n'),
  handlerError: literal(' handler-error '),
  acceptError: literal(' accept-error '),
  internalError: literal(' internal-error '),
  dropped: literal(' log lines dropped: the log sink fell behind\n'),
};

/** `<time> conn#<id>`: how most pretty lines start. */
function prettyHead(out: LineBytes, connectionId: number): void {
  out.stamp(performance.now());
  out.bytes(P.conn);
  out.int(connectionId);
}

/** A pretty line for a thrown value: `<time> conn#<id>[ req#<index>] <tag> <stack or message>` (the stack's own lines included). */
function prettyErrorLine(lines: LineSink, connectionId: number, requestIndex: number | null, tag: Uint8Array, error: unknown): void {
  const text = errorText(error);
  const out = lines.begin(bound(text));
  if (out === null) return;
  prettyHead(out, connectionId);
  if (requestIndex !== null) {
    out.bytes(P.req);
    out.int(requestIndex);
  }
  out.bytes(tag);
  out.text(text);
  out.byte(0x0a);
  lines.end();
}

/**
 * The logger's previous request line: where it lies in the sink's buffer, where its fields lie in
 * it and the facts it was formatted from, so the next line copies what recurs instead of
 * formatting it again —
 * - `patch`: the whole line, when the next one has the same method, target, status, size and
 *   keep-alive and its connection id and request index are as wide, with the connection id, the
 *   index, the duration and (when its millisecond differs) the time written over the copy: a
 *   keep-alive client asking for one URL again and again, on any connection;
 * - `copyMiddle`: its middle (method to bytes), when only the method, target, status and size recur.
 * Only from a buffer lines are appended to, and only a line lying wholly before where the new one
 * starts, in the same buffer, still holds what was written there (a fresh buffer, or a sink that
 * reuses one buffer per line — the function sink — never matches).
 */
class PreviousLine {
  #buf: Buffer | null = null;
  #start = 0;
  // Where its pieces lie, from its start: they stay put in a patched copy.
  #length = 0;
  #idAt = 0;
  #idEnd = 0;
  #indexAt = 0;
  #middleAt = 0;
  #middleEnd = 0;
  #durationEnd = 0;
  /** The wall-clock millisecond its time shows (stampMsAt). */
  #stampMs = -1;
  #connectionId = -1;
  #durationMs = -1;
  #endMs = -1;
  #method = '';
  #target = '';
  #status = -1;
  #bytes = -1;
  #keepAlive = false;

  /**
   * Writes the patched copy at `buf[lineStart…]` and returns where it ends, or -1 when the line
   * differs in more than its connection, index, duration and time (what was written past
   * `lineStart` is then garbage for the whole line to overwrite).
   */
  patch(buf: Buffer, lineStart: number, shape: RequestShape, connectionId: number, requestIndex: number, method: string, target: string, status: number, bytes: number, durationMs: number, keepAlive: boolean, endMs: number): number {
    const start = this.#start;
    if (buf !== this.#buf || lineStart < start + this.#length || status !== this.#status || bytes !== this.#bytes || keepAlive !== this.#keepAlive || method !== this.#method || target !== this.#target) return -1;
    if (decimalWidth(connectionId) !== this.#idEnd - this.#idAt || decimalWidth(requestIndex) !== this.#middleAt - this.#indexAt) return -1;
    buf.copyWithin(lineStart, start, start + this.#length);
    putInt(buf, lineStart + this.#indexAt, requestIndex);
    // Pipelined requests answered together share a connection, a duration and a time: written once.
    if (connectionId !== this.#connectionId) {
      this.#connectionId = connectionId;
      putInt(buf, lineStart + this.#idAt, connectionId);
    }
    if (durationMs !== this.#durationMs) {
      // The duration as wide as before (nearly always): the copy holds the rest of the line.
      if (putFixed(buf, lineStart + this.#middleEnd, durationMs, shape.durationScale) !== lineStart + this.#durationEnd) return -1;
      this.#durationMs = durationMs;
    }
    if (endMs !== this.#endMs) {
      this.#endMs = endMs;
      const stampMs = stampMsAt(endMs);
      if (stampMs !== this.#stampMs) {
        this.#stampMs = stampMs;
        putBytes(buf, lineStart + shape.head.stampOffset, stampAt(endMs));
      }
    }
    this.#start = lineStart;
    return lineStart + this.#length;
  }

  /** Copies the middle to `buf[p…]` and returns where it ends, or -1 when it differs or is gone. */
  copyMiddle(buf: Buffer, p: number, lineStart: number, method: string, target: string, status: number, bytes: number): number {
    const start = this.#start;
    if (buf !== this.#buf || start + this.#middleEnd > lineStart || status !== this.#status || bytes !== this.#bytes || method !== this.#method || target !== this.#target) return -1;
    buf.copyWithin(p, start + this.#middleAt, start + this.#middleEnd);
    return p + this.#middleEnd - this.#middleAt;
  }

  /** A line formatted whole at `buf[start, end)`: its pieces' positions (see RequestShape) and facts. */
  remember(buf: Buffer, start: number, idAt: number, idEnd: number, middleAt: number, middleEnd: number, durationEnd: number, end: number, indexWidth: number, endMs: number, connectionId: number, durationMs: number, method: string, target: string, status: number, bytes: number, keepAlive: boolean): void {
    this.#buf = buf;
    this.#start = start;
    this.#length = end - start;
    this.#idAt = idAt - start;
    this.#idEnd = idEnd - start;
    this.#indexAt = middleAt - indexWidth - start;
    this.#middleAt = middleAt - start;
    this.#middleEnd = middleEnd - start;
    this.#durationEnd = durationEnd - start;
    this.#stampMs = stampMsAt(endMs);
    this.#connectionId = connectionId;
    this.#durationMs = durationMs;
    this.#endMs = endMs;
    this.#method = method;
    this.#target = target;
    this.#status = status;
    this.#bytes = bytes;
    this.#keepAlive = keepAlive;
  }
}

/**
 * How a format writes a request line, piece by piece around what requestLog() shares: the head
 * with the time (`head`), then the connection id, `index` (the request index with its label, ending
 * where the middle starts), the middle (method to bytes, see PreviousLine), the duration (to
 * `durationScale`: 10 for one decimal, 1000 for three) and `end` (keep-alive, the line end).
 */
interface RequestShape {
  readonly head: StampedPrefix;
  readonly durationScale: 10 | 1000;
  index(buf: Buffer, p: number, requestIndex: number): number;
  middle(buf: Buffer, p: number, method: string, target: string, status: number, bytes: number): number;
  end(buf: Buffer, p: number, keepAlive: boolean): number;
}

/** A format's request lines, into the sink's buffer with no call per field that could be saved. */
function requestLog(lines: LineSink, shape: RequestShape): RequestLog {
  const previous = new PreviousLine();
  return (connectionId, requestIndex, method, target, status, bytes, durationMs, keepAlive, endMs) => {
    const out = lines.begin(bound(method, target));
    if (out === null) return;
    const buf = out.buf;
    const lineStart = out.pos;
    const patched = previous.patch(buf, lineStart, shape, connectionId, requestIndex, method, target, status, bytes, durationMs, keepAlive, endMs);
    if (patched !== -1) {
      out.pos = patched;
      lines.end();
      return;
    }
    const idAt = shape.head.put(buf, lineStart, endMs);
    const idEnd = putInt(buf, idAt, connectionId);
    const middleAt = shape.index(buf, idEnd, requestIndex);
    const copied = previous.copyMiddle(buf, middleAt, lineStart, method, target, status, bytes);
    const middleEnd = copied !== -1 ? copied : shape.middle(buf, middleAt, method, target, status, bytes);
    const durationEnd = putFixed(buf, middleEnd, durationMs, shape.durationScale);
    out.pos = shape.end(buf, durationEnd, keepAlive);
    previous.remember(buf, lineStart, idAt, idEnd, middleAt, middleEnd, durationEnd, out.pos, decimalWidth(requestIndex), endMs, connectionId, durationMs, method, target, status, bytes, keepAlive);
    lines.end();
  };
}

/** Request lines held back as facts, at most this many: formatted together when that many wait, or before anything else reaches the writer. */
const DEFERRED_LINES = 256;
/** Integers per held-back request: connection id, request index, status, bytes. */
const INTEGERS = 4;

/**
 * Request lines for a LogWriter, formatted off the request's path: a request's facts wait in
 * arrays, and its line is formatted with the others when DEFERRED_LINES wait or the writer asks
 * (before any other line, the flush interval's write, flush(), a reopen, the exit's flush). On a
 * busy server the formatter's code and state then stay in the CPU's caches from one line to the
 * next, instead of being fetched again after each request's own work (measured side by side: 3–6 %
 * of the CPU per keep-alive request with the JSON log). A request reported at the same reading as
 * the one before (pipelined requests answered together) is formatted at once, after what waits:
 * those lines come together anyway. Lines keep their order and their times (each formatted from its
 * own end reading); they leave no later than before (the flush interval runs from the first held
 * back). Memory: DEFERRED_LINES requests' facts and strings. The holding back sits in a method of
 * its own so that `log`, called for every request, stays small enough for V8 to inline (with it
 * inline, pipelined requests cost ~5 % more).
 */
class DeferredRequestLog {
  readonly #writer: LogWriter;
  readonly #format: RequestLog;
  // The integers in a plain array, so they come back as the small integers they went in as (a
  // Float64Array would hand the formatter doubles, and code fed both runs slower for both).
  readonly #integers = new Array<number>(DEFERRED_LINES * INTEGERS).fill(0);
  readonly #durations = new Float64Array(DEFERRED_LINES);
  readonly #endings = new Float64Array(DEFERRED_LINES);
  readonly #keepAlive = new Uint8Array(DEFERRED_LINES);
  readonly #methods = new Array<string>(DEFERRED_LINES).fill('');
  readonly #targets = new Array<string>(DEFERRED_LINES).fill('');
  #count = 0;
  #lastEndMs = -1;

  constructor(writer: LogWriter, shape: RequestShape) {
    this.#writer = writer;
    this.#format = requestLog(writer, shape);
    writer.defer(this.#write);
  }

  readonly log: RequestLog = (connectionId, requestIndex, method, target, status, bytes, durationMs, keepAlive, endMs) => {
    if (endMs === this.#lastEndMs) {
      // Answered together with the request before (a pump's pipelined requests, reported at one
      // reading): lines that come together are formatted together anyway, holding them back buys
      // nothing. (The writer writes the held-back ones first.)
      this.#format(connectionId, requestIndex, method, target, status, bytes, durationMs, keepAlive, endMs);
    } else {
      this.#lastEndMs = endMs;
      this.#hold(connectionId, requestIndex, method, target, status, bytes, durationMs, keepAlive, endMs);
    }
  };

  #hold(connectionId: number, requestIndex: number, method: string, target: string, status: number, bytes: number, durationMs: number, keepAlive: boolean, endMs: number): void {
    // Full only if a request was logged while the writer was writing held-back lines (none is).
    if (this.#count === DEFERRED_LINES) this.#write();
    const i = this.#count++;
    const integers = this.#integers;
    const k = i * INTEGERS;
    integers[k] = connectionId;
    integers[k + 1] = requestIndex;
    integers[k + 2] = status;
    integers[k + 3] = bytes;
    this.#durations[i] = durationMs;
    this.#endings[i] = endMs;
    this.#methods[i] = method;
    this.#targets[i] = target;
    this.#keepAlive[i] = keepAlive ? 1 : 0;
    if (i === 0) this.#writer.held();
    if (i === DEFERRED_LINES - 1) this.#writer.writeDeferred();
  }

  /** The held-back lines, formatted into the writer (which calls this: see LogWriter.writeDeferred). */
  readonly #write = (): void => {
    const count = this.#count;
    this.#count = 0;
    const integers = this.#integers;
    const durations = this.#durations;
    const endings = this.#endings;
    const methods = this.#methods;
    const targets = this.#targets;
    for (let i = 0; i < count; i++) {
      const k = i * INTEGERS;
      this.#format(integers[k], integers[k + 1], methods[i], targets[i], integers[k + 2], integers[k + 3], durations[i], this.#keepAlive[i] === 1, endings[i]);
      methods[i] = ''; // the strings are not kept past their line
      targets[i] = '';
    }
  };

  /** The logger closes: what is held back is written, and nothing is from now on. */
  close(): void {
    this.#writer.undefer(this.#write);
  }
}

/** `<time> conn#<id> req#<index> <method> <target> <status> <bytes>B <duration>ms[ close]`; the short constant pieces as single stores, cheaper than a copy at that length. */
const PRETTY_REQUEST: RequestShape = {
  head: new StampedPrefix('', ' conn#'),
  durationScale: 10,
  index(buf, p, requestIndex) {
    buf[p] = 0x20; // " req#"
    buf[p + 1] = 0x72;
    buf[p + 2] = 0x65;
    buf[p + 3] = 0x71;
    buf[p + 4] = 0x23;
    return putInt(buf, p + 5, requestIndex);
  },
  middle(buf, p, method, target, status, bytes) {
    buf[p] = 0x20;
    p = putPretty(buf, p + 1, method);
    buf[p] = 0x20;
    p = putPretty(buf, p + 1, target);
    buf[p] = 0x20;
    p = putInt(buf, p + 1, status);
    buf[p] = 0x20;
    p = putInt(buf, p + 1, bytes);
    buf[p] = 0x42; // "B "
    buf[p + 1] = 0x20;
    return p + 2;
  },
  end(buf, p, keepAlive) {
    if (!keepAlive) return putBytes(buf, p, P.msClose);
    buf[p] = 0x6d; // "ms\n"
    buf[p + 1] = 0x73;
    buf[p + 2] = 0x0a;
    return p + 3;
  },
};

function prettyListeners(lines: LineSink): Omit<Listeners, 'request'> {
  return {
    'connection-open': (e) => {
      const out = lines.begin(bound(e.remoteAddress));
      if (out === null) return;
      prettyHead(out, e.connectionId);
      out.bytes(P.open);
      out.pretty(e.remoteAddress);
      out.byte(0x3a);
      out.int(e.remotePort);
      out.byte(0x0a);
      lines.end();
    },
    'connection-close': (e) => {
      const out = lines.begin(bound(e.reason));
      if (out === null) return;
      prettyHead(out, e.connectionId);
      out.bytes(P.closeReason);
      out.pretty(e.reason);
      out.bytes(P.requests);
      out.int(e.requestsServed);
      out.bytes(P.in);
      out.int(e.bytesIn);
      out.bytes(P.out);
      out.int(e.bytesOut);
      out.bytes(P.lifetime);
      out.fixed3(e.lifetimeMs / 1000);
      out.bytes(P.seconds);
      lines.end();
    },
    'protocol-error': (e) => {
      const out = lines.begin(bound(e.code));
      if (out === null) return;
      prettyHead(out, e.connectionId);
      out.bytes(P.protocolError);
      out.int(e.status);
      out.byte(0x20);
      out.pretty(e.code);
      out.byte(0x0a);
      lines.end();
    },
    'tls-error': (e) => {
      const out = lines.begin(bound(e.remoteAddress, e.code, e.reason));
      if (out === null) return;
      prettyHead(out, e.connectionId);
      out.bytes(P.tlsError);
      out.pretty(e.remoteAddress);
      out.bytes(P.during);
      out.pretty(e.phase);
      out.bytes(P.colon);
      out.text(e.reason);
      out.bytes(P.openParen);
      out.pretty(e.code);
      out.bytes(P.closeParenLine);
      lines.end();
    },
    'handler-error': (e) => prettyErrorLine(lines, e.connectionId, e.requestIndex, P.handlerError, e.error),
    'accept-error': (e) => {
      const out = lines.begin(bound(e.code, e.message));
      if (out === null) return;
      out.stamp(performance.now());
      out.bytes(P.acceptError);
      out.pretty(e.code);
      out.byte(0x3a);
      out.byte(0x20);
      out.text(e.message);
      out.byte(0x0a);
      lines.end();
    },
    'internal-error': (e) => prettyErrorLine(lines, e.connectionId, null, P.internalError, e.error),
  };
}

/** The JSON format's constant text; each line starts with `time`, then `event`, then its first field. */
const J = {
  time: literal('{"time":"'),
  openHead: literal('","event":"connection-open","connectionId":'),
  closeHead: literal('","event":"connection-close","connectionId":'),
  protocolErrorHead: literal('","event":"protocol-error","connectionId":'),
  tlsErrorHead: literal('","event":"tls-error","connectionId":'),
  phase: literal(',"phase":'),
  handlerErrorHead: literal('","event":"handler-error","connectionId":'),
  acceptErrorHead: literal('","event":"accept-error","code":'),
  internalErrorHead: literal('","event":"internal-error","connectionId":'),
  droppedHead: literal('","event":"log-dropped","lines":'),
  remoteAddress: literal(',"remoteAddress":'),
  remotePort: literal(',"remotePort":'),
  requestIndex: literal(',"requestIndex":'),
  methodOpen: literal(',"method":"'),
  targetOpen: literal('","target":"'),
  statusAfterString: literal('","status":'),
  status: literal(',"status":'),
  bytes: literal(',"bytes":'),
  durationMs: literal(',"durationMs":'),
  keepAliveTrue: literal(',"keepAlive":true}\n'),
  keepAliveFalse: literal(',"keepAlive":false}\n'),
  reason: literal(',"reason":'),
  requestsServed: literal(',"requestsServed":'),
  bytesIn: literal(',"bytesIn":'),
  bytesOut: literal(',"bytesOut":'),
  lifetimeMs: literal(',"lifetimeMs":'),
  code: literal(',"code":'),
  message: literal(',"message":'),
  stack: literal(',"stack":'),
  end: literal('}\n'),
};

/** `{"time":"<now>` and the rest of the line's head: the event and its first field's name. */
function jsonHead(out: LineBytes, head: Uint8Array): void {
  out.bytes(J.time);
  out.stamp(performance.now());
  out.bytes(head);
}

/** A JSON line for a thrown value: the connection, the request index if any, `message` and `stack` (when the error has one). */
function jsonErrorLine(lines: LineSink, head: Uint8Array, connectionId: number, requestIndex: number | null, value: unknown): void {
  const error = asError(value);
  const stack = typeof error.stack === 'string' ? error.stack : '';
  const out = lines.begin(bound(error.message, stack));
  if (out === null) return;
  jsonHead(out, head);
  out.int(connectionId);
  if (requestIndex !== null) {
    out.bytes(J.requestIndex);
    out.int(requestIndex);
  }
  out.bytes(J.message);
  out.json(error.message);
  if (stack !== '') {
    out.bytes(J.stack);
    out.json(stack);
  }
  out.bytes(J.end);
  lines.end();
}

/** A request's JSON line: the fields of its RequestEvent, in order. */
const JSON_REQUEST: RequestShape = {
  head: new StampedPrefix('{"time":"', '","event":"request","connectionId":'),
  durationScale: 1000,
  index: (buf, p, requestIndex) => putInt(buf, putBytes(buf, p, J.requestIndex), requestIndex),
  middle(buf, p, method, target, status, bytes) {
    p = putJsonText(buf, putBytes(buf, p, J.methodOpen), method);
    p = putJsonText(buf, putBytes(buf, p, J.targetOpen), target);
    p = putInt(buf, putBytes(buf, p, J.statusAfterString), status);
    p = putInt(buf, putBytes(buf, p, J.bytes), bytes);
    return putBytes(buf, p, J.durationMs);
  },
  end: (buf, p, keepAlive) => putBytes(buf, p, keepAlive ? J.keepAliveTrue : J.keepAliveFalse),
};

function jsonListeners(lines: LineSink): Omit<Listeners, 'request'> {
  return {
    'connection-open': (e) => {
      const out = lines.begin(bound(e.remoteAddress));
      if (out === null) return;
      jsonHead(out, J.openHead);
      out.int(e.connectionId);
      out.bytes(J.remoteAddress);
      out.json(e.remoteAddress);
      out.bytes(J.remotePort);
      out.int(e.remotePort);
      out.bytes(J.end);
      lines.end();
    },
    'connection-close': (e) => {
      const out = lines.begin(bound(e.remoteAddress, e.reason));
      if (out === null) return;
      jsonHead(out, J.closeHead);
      out.int(e.connectionId);
      out.bytes(J.remoteAddress);
      out.json(e.remoteAddress);
      out.bytes(J.reason);
      out.json(e.reason);
      out.bytes(J.requestsServed);
      out.int(e.requestsServed);
      out.bytes(J.bytesIn);
      out.int(e.bytesIn);
      out.bytes(J.bytesOut);
      out.int(e.bytesOut);
      out.bytes(J.lifetimeMs);
      out.fixed3(e.lifetimeMs);
      out.bytes(J.end);
      lines.end();
    },
    'protocol-error': (e) => {
      const out = lines.begin(bound(e.code));
      if (out === null) return;
      jsonHead(out, J.protocolErrorHead);
      out.int(e.connectionId);
      out.bytes(J.code);
      out.json(e.code);
      out.bytes(J.status);
      out.int(e.status);
      out.bytes(J.end);
      lines.end();
    },
    'tls-error': (e) => {
      const out = lines.begin(bound(e.remoteAddress, e.code, e.reason));
      if (out === null) return;
      jsonHead(out, J.tlsErrorHead);
      out.int(e.connectionId);
      out.bytes(J.remoteAddress);
      out.json(e.remoteAddress);
      out.bytes(J.phase);
      out.json(e.phase);
      out.bytes(J.code);
      out.json(e.code);
      out.bytes(J.reason);
      out.json(e.reason);
      out.bytes(J.end);
      lines.end();
    },
    'handler-error': (e) => jsonErrorLine(lines, J.handlerErrorHead, e.connectionId, e.requestIndex, e.error),
    'accept-error': (e) => {
      const out = lines.begin(bound(e.code, e.message));
      if (out === null) return;
      jsonHead(out, J.acceptErrorHead);
      out.json(e.code);
      out.bytes(J.message);
      out.json(e.message);
      out.bytes(J.end);
      lines.end();
    },
    'internal-error': (e) => jsonErrorLine(lines, J.internalErrorHead, e.connectionId, null, e.error),
  };
}

const prettyDroppedNotice: DroppedNotice = (out, count) => {
  out.stamp(performance.now());
  out.byte(0x20);
  out.int(count);
  out.bytes(P.dropped);
};

const jsonDroppedNotice: DroppedNotice = (out, count) => {
  jsonHead(out, J.droppedHead);
  out.int(count);
  out.bytes(J.end);
};

/** A thrown value for a pretty line: its stack, or its message. */
function errorText(value: unknown): string {
  const error = asError(value);
  return String(error.stack ?? error.message);
}

/** Whatever was thrown, as an Error with a string message (some thrown values cannot even be turned into strings). */
function asError(value: unknown): Error {
  if (value instanceof Error) return typeof value.message === 'string' ? value : new Error(safeString(value.message));
  return new Error(safeString(value));
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return 'non-Error value thrown';
  }
}
