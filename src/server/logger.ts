/**
 * The built-in logger: one line per connection open, request, connection close, protocol error
 * and handler error. `pretty` is for people, `json` is one JSON object per line.
 */

import type { EventEmitter } from 'node:events';
import type { LogFormat, LogSink } from './options.js';
import type { ServerEvents } from './events.js';

export function attachLogger(emitter: EventEmitter<ServerEvents>, format: LogFormat, sink: LogSink): void {
  if (format === 'off') return;
  const json = format === 'json';
  const stamp = (): string => new Date().toISOString();
  const emit = (event: string, fields: Record<string, unknown>, text: string): void => {
    sink(json ? JSON.stringify({ time: stamp(), event, ...fields }) + '\n' : `${stamp()} ${text}\n`);
  };
  emitter.on('connection-open', (e) => emit('connection-open', { ...e }, `conn#${e.connectionId} open ${e.remoteAddress}:${e.remotePort}`));
  emitter.on('request', (e) =>
    emit('request', { ...e }, `conn#${e.connectionId} req#${e.requestIndex} ${e.method} ${e.target} ${e.status} ${e.bytes}B ${e.durationMs.toFixed(1)}ms${e.keepAlive ? '' : ' close'}`),
  );
  emitter.on('connection-close', (e) =>
    emit(
      'connection-close',
      { ...e },
      `conn#${e.connectionId} close reason=${e.reason} requests=${e.requestsServed} in=${e.bytesIn}B out=${e.bytesOut}B lifetime=${(e.lifetimeMs / 1000).toFixed(3)}s`,
    ),
  );
  emitter.on('protocol-error', (e) => emit('protocol-error', { ...e }, `conn#${e.connectionId} protocol-error ${e.status} ${e.code}`));
  emitter.on('handler-error', (e) => {
    const error = asError(e.error);
    emit(
      'handler-error',
      { connectionId: e.connectionId, requestIndex: e.requestIndex, message: error.message, stack: error.stack },
      `conn#${e.connectionId} req#${e.requestIndex} handler-error ${error.stack ?? error.message}`,
    );
  });
  emitter.on('tls-error', (e) => emit('tls-error', { ...e }, `conn#${e.connectionId} tls-error ${e.remoteAddress} during ${e.phase}: ${e.reason} (${e.code})`));
  emitter.on('accept-error', (e) => emit('accept-error', { ...e }, `accept-error ${e.code}: ${e.message}`));
  emitter.on('internal-error', (e) => {
    const error = asError(e.error);
    emit('internal-error', { connectionId: e.connectionId, message: error.message, stack: error.stack }, `conn#${e.connectionId} internal-error ${error.stack ?? error.message}`);
  });
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
