/**
 * The built-in logger: one line per connection open, request, connection close, protocol error,
 * handler error, accept error and internal error — one consumer of the server's events, which
 * stay as they are for any other listener. `pretty` is for people, `json` is one JSON object
 * (RFC 8259) per line.
 *
 * Lines are built directly as strings on the hot path: no Date object (logTimestamp() formats the
 * date once per second), no intermediate objects, no toFixed. Strings from the peer are escaped:
 * in JSON as RFC 8259 §7 requires, in pretty lines as nginx escapes its access log (`\xHH` for
 * control characters, space, backslash, DEL and beyond ASCII), so a line is always one line.
 *
 * Sinks: a function receives every line, complete and at once (unbuffered: the caller decides);
 * standard output (the default) and a file path go through a shared LogWriter (log-writer.ts):
 * buffered, bounded, flushed at close and at exit.
 */

import type { EventEmitter } from 'node:events';
import { logTimestamp, threeDigits } from './clock.js';
import type { ServerEvents } from './events.js';
import { openLogWriter, type DroppedNotice } from './log-writer.js';
import { OptionError, type LogFormat, type LogSink } from './options.js';

/** How a server ends its logger: lines flushed (bounded by `timeoutMs`), listeners off, the writer released. */
export interface AttachedLogger {
  close(timeoutMs: number): Promise<void>;
}

const NOT_LOGGING: AttachedLogger = { close: () => Promise.resolve() };

type Listeners = { [E in keyof ServerEvents]: (...args: ServerEvents[E]) => void };

export function attachLogger(emitter: EventEmitter<ServerEvents>, format: LogFormat, sink: LogSink | string | null): AttachedLogger {
  if (format === 'off') return NOT_LOGGING;
  const json = format === 'json';
  let out: LogSink;
  let release: (timeoutMs: number) => Promise<void> = () => Promise.resolve();
  if (typeof sink === 'function') {
    out = sink;
  } else {
    let writer;
    try {
      writer = openLogWriter(sink, json ? jsonDroppedNotice : prettyDroppedNotice);
    } catch (error) {
      throw new OptionError(`option logSink: cannot open the log file ${sink}: ${(error as Error).message}`);
    }
    out = (line) => writer.write(line);
    release = (timeoutMs) => writer.release(timeoutMs);
  }
  const listeners: Listeners = json ? jsonListeners(out) : prettyListeners(out);
  for (const [event, listener] of Object.entries(listeners)) emitter.on(event as keyof ServerEvents, listener as never);
  return {
    close(timeoutMs) {
      for (const [event, listener] of Object.entries(listeners)) emitter.off(event as keyof ServerEvents, listener as never);
      return release(timeoutMs);
    },
  };
}

function prettyListeners(out: LogSink): Listeners {
  return {
    'connection-open': (e) => out(`${logTimestamp()} conn#${e.connectionId} open ${prettyText(e.remoteAddress)}:${e.remotePort}\n`),
    request: (e) =>
      out(
        `${logTimestamp()} conn#${e.connectionId} req#${e.requestIndex} ${prettyText(e.method)} ${prettyText(e.target)} ${e.status} ${e.bytes}B ${fixed1(e.durationMs)}ms${e.keepAlive ? '\n' : ' close\n'}`,
      ),
    'connection-close': (e) =>
      out(
        `${logTimestamp()} conn#${e.connectionId} close reason=${e.reason} requests=${e.requestsServed} in=${e.bytesIn}B out=${e.bytesOut}B lifetime=${fixed3(e.lifetimeMs / 1000)}s\n`,
      ),
    'protocol-error': (e) => out(`${logTimestamp()} conn#${e.connectionId} protocol-error ${e.status} ${e.code}\n`),
    'handler-error': (e) => {
      const error = asError(e.error);
      out(`${logTimestamp()} conn#${e.connectionId} req#${e.requestIndex} handler-error ${error.stack ?? error.message}\n`);
    },
    'accept-error': (e) => out(`${logTimestamp()} accept-error ${e.code}: ${e.message}\n`),
    'internal-error': (e) => {
      const error = asError(e.error);
      out(`${logTimestamp()} conn#${e.connectionId} internal-error ${error.stack ?? error.message}\n`);
    },
  };
}

function jsonListeners(out: LogSink): Listeners {
  return {
    'connection-open': (e) =>
      out(`{"time":"${logTimestamp()}","event":"connection-open","connectionId":${e.connectionId},"remoteAddress":${jsonString(e.remoteAddress)},"remotePort":${e.remotePort}}\n`),
    request: (e) =>
      out(
        `{"time":"${logTimestamp()}","event":"request","connectionId":${e.connectionId},"requestIndex":${e.requestIndex},"method":${jsonString(e.method)},"target":${jsonString(e.target)},"status":${e.status},"bytes":${e.bytes},"durationMs":${fixed3(e.durationMs)},"keepAlive":${e.keepAlive}}\n`,
      ),
    'connection-close': (e) =>
      out(
        `{"time":"${logTimestamp()}","event":"connection-close","connectionId":${e.connectionId},"remoteAddress":${jsonString(e.remoteAddress)},"reason":${jsonString(e.reason)},"requestsServed":${e.requestsServed},"bytesIn":${e.bytesIn},"bytesOut":${e.bytesOut},"lifetimeMs":${fixed3(e.lifetimeMs)}}\n`,
      ),
    'protocol-error': (e) =>
      out(`{"time":"${logTimestamp()}","event":"protocol-error","connectionId":${e.connectionId},"code":${jsonString(e.code)},"status":${e.status}}\n`),
    'handler-error': (e) => {
      const error = asError(e.error);
      out(
        `{"time":"${logTimestamp()}","event":"handler-error","connectionId":${e.connectionId},"requestIndex":${e.requestIndex},"message":${jsonString(error.message)}${jsonStack(error)}}\n`,
      );
    },
    'accept-error': (e) => out(`{"time":"${logTimestamp()}","event":"accept-error","code":${jsonString(e.code)},"message":${jsonString(e.message)}}\n`),
    'internal-error': (e) => {
      const error = asError(e.error);
      out(`{"time":"${logTimestamp()}","event":"internal-error","connectionId":${e.connectionId},"message":${jsonString(error.message)}${jsonStack(error)}}\n`);
    },
  };
}

const prettyDroppedNotice: DroppedNotice = (count) => `${logTimestamp()} ${count} log lines dropped: the log sink fell behind\n`;
const jsonDroppedNotice: DroppedNotice = (count) => `{"time":"${logTimestamp()}","event":"log-dropped","lines":${count}}\n`;

/** `s` as a JSON string literal (RFC 8259 §7): quoted as is unless it holds a character that needs escaping. */
export function jsonString(s: string): string {
  if (typeof s !== 'string') return JSON.stringify(String(s));
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return `"${s}"`;
}

/** `s` with control characters, space, backslash, DEL and non-ASCII as `\xHH` (nginx's access-log escaping). */
export function prettyText(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x5c || c >= 0x7f) return escapeFrom(s, i);
  }
  return s;
}

function escapeFrom(s: string, first: number): string {
  let text = s.slice(0, first);
  for (let i = first; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x20 && c !== 0x5c && c < 0x7f) text += s[i];
    else if (c <= 0xff) text += `\\x${c.toString(16).toUpperCase().padStart(2, '0')}`;
    else text += `\\u${c.toString(16).toUpperCase().padStart(4, '0')}`;
  }
  return text;
}

function jsonStack(error: Error): string {
  return typeof error.stack === 'string' ? `,"stack":${jsonString(error.stack)}` : '';
}

/** A non-negative number with one decimal ("12.3"): integer arithmetic, no toFixed. */
export function fixed1(value: number): string {
  const tenths = Math.round(value * 10);
  if (!(tenths >= 0 && tenths <= Number.MAX_SAFE_INTEGER)) return '0.0';
  const whole = Math.floor(tenths / 10);
  return `${whole}.${tenths - whole * 10}`;
}

/** A non-negative number with three decimals ("12.345"), also a valid JSON number. */
export function fixed3(value: number): string {
  const thousandths = Math.round(value * 1000);
  if (!(thousandths >= 0 && thousandths <= Number.MAX_SAFE_INTEGER)) return '0.000';
  const whole = Math.floor(thousandths / 1000);
  return `${whole}.${threeDigits(thousandths - whole * 1000)}`;
}

/** Whatever was thrown, as an Error (some thrown values cannot even be turned into strings). */
function asError(value: unknown): Error {
  if (value instanceof Error) return value;
  try {
    return new Error(String(value));
  } catch {
    return new Error('non-Error value thrown');
  }
}
