/**
 * The built-in logger: one line per connection open, request, connection close, protocol error,
 * handler error, accept error and internal error — one consumer of the server's events, which
 * stay as they are for any other listener. `pretty` is for people, `json` is one JSON object
 * (RFC 8259) per line.
 *
 * Each line is formatted straight into bytes (LineBytes): no Date object (the clock formats the
 * date once per second), no string per field, no intermediate objects, no toFixed. Strings from
 * the peer are escaped — JSON as RFC 8259 §7 requires, pretty as nginx escapes its access log — so
 * a line is always one line.
 *
 * Sinks: standard output (the default) and a file path go through a shared LogWriter
 * (log-writer.ts): lines formatted into its buffers, flushed at close and at exit. A function
 * receives each line as a string (one complete line, "\n" included) at once, unbuffered: the
 * function decides what to do with it.
 */

import type { EventEmitter } from 'node:events';
import type { ServerEvents } from './events.js';
import { LineBytes, literal, MAX_BYTES_PER_CHAR } from './line-bytes.js';
import { openLogWriter, type DroppedNotice, type LineSink } from './log-writer.js';
import { OptionError, type LogFormat, type LogSink } from './options.js';

/** How a server ends its logger: lines flushed (bounded by `timeoutMs`), listeners off, the writer released. */
export interface AttachedLogger {
  close(timeoutMs: number): Promise<void>;
}

const NOT_LOGGING: AttachedLogger = { close: () => Promise.resolve() };

/** Room for a line's own text, timestamp and numbers; the strings it carries add MAX_BYTES_PER_CHAR each. */
const LINE_BYTES = 256;

type Listeners = { [E in keyof ServerEvents]: (...args: ServerEvents[E]) => void };

export function attachLogger(emitter: EventEmitter<ServerEvents>, format: LogFormat, sink: LogSink | string | null): AttachedLogger {
  if (format === 'off') return NOT_LOGGING;
  const json = format === 'json';
  let lines: LineSink;
  let release: (timeoutMs: number) => Promise<void> = () => Promise.resolve();
  if (typeof sink === 'function') {
    lines = new FunctionSink(sink);
  } else {
    try {
      const writer = openLogWriter(sink, json ? jsonDroppedNotice : prettyDroppedNotice);
      lines = writer;
      release = (timeoutMs) => writer.release(timeoutMs);
    } catch (error) {
      throw new OptionError(`option logSink: cannot open the log file ${sink}: ${(error as Error).message}`);
    }
  }
  const listeners = json ? jsonListeners(lines) : prettyListeners(lines);
  for (const [event, listener] of Object.entries(listeners)) emitter.on(event as keyof ServerEvents, listener as never);
  return {
    close(timeoutMs) {
      for (const [event, listener] of Object.entries(listeners)) emitter.off(event as keyof ServerEvents, listener as never);
      return release(timeoutMs);
    },
  };
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
function bound(a: string, b = '', c = ''): number {
  return LINE_BYTES + MAX_BYTES_PER_CHAR * (a.length + b.length + c.length);
}

/** The pretty format's constant text. */
const P = {
  conn: literal(' conn#'),
  req: literal(' req#'),
  open: literal(' open '),
  bytesUnit: literal('B '),
  ms: literal('ms\n'),
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
  out.stamp();
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

function prettyListeners(lines: LineSink): Listeners {
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
    request: (e) => {
      const out = lines.begin(bound(e.method, e.target));
      if (out === null) return;
      prettyHead(out, e.connectionId);
      out.bytes(P.req);
      out.int(e.requestIndex);
      out.byte(0x20);
      out.pretty(e.method);
      out.byte(0x20);
      out.pretty(e.target);
      out.byte(0x20);
      out.int(e.status);
      out.byte(0x20);
      out.int(e.bytes);
      out.bytes(P.bytesUnit);
      out.fixed1(e.durationMs);
      out.bytes(e.keepAlive ? P.ms : P.msClose);
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
      out.stamp();
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
  requestHead: literal('","event":"request","connectionId":'),
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
  method: literal(',"method":'),
  target: literal(',"target":'),
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
  out.stamp();
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

function jsonListeners(lines: LineSink): Listeners {
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
    request: (e) => {
      const out = lines.begin(bound(e.method, e.target));
      if (out === null) return;
      jsonHead(out, J.requestHead);
      out.int(e.connectionId);
      out.bytes(J.requestIndex);
      out.int(e.requestIndex);
      out.bytes(J.method);
      out.json(e.method);
      out.bytes(J.target);
      out.json(e.target);
      out.bytes(J.status);
      out.int(e.status);
      out.bytes(J.bytes);
      out.int(e.bytes);
      out.bytes(J.durationMs);
      out.fixed3(e.durationMs);
      out.bytes(e.keepAlive ? J.keepAliveTrue : J.keepAliveFalse);
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
  out.stamp();
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
