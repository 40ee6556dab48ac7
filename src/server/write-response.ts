/**
 * Turning a handler's HttpResponse into bytes on a socket: validation and body shape (prepare),
 * then streams written with backpressure — one chunk in flight beyond the socket's buffer, never
 * an unbounded queue. Chunked framing for HTTP/1.1 peers (RFC 9112 §7.1), exact Content-Length
 * enforcement when the handler declared one (a stream that disagrees is a handler bug: the
 * connection is aborted rather than left claiming a complete body).
 */

import { read } from 'node:fs';
import type { Socket } from 'node:net';
import { LAST_CHUNK, chunkHeader, chunkTrailer } from '../http1/chunked.js';
import type { ResponseBodyShape, ResponseFraming } from '../http1/framing.js';
import { InvalidResponseError, NO_HEADERS, headerBlock, lastChunkWithTrailers, reasonPhrase, type HeaderBlock, type ResponseHeaders } from '../http1/serializer.js';
import type { HttpResponse, UpgradeHandler } from '../handlers/types.js';
import { FILE_CHUNK_BYTES, FileBody } from '../handlers/file-body.js';

export type StreamBody = AsyncIterable<Uint8Array | string>;

export type TrailersFn = () => ResponseHeaders | null | undefined;

export interface PreparedResponse {
  status: number;
  headers: ResponseHeaders | undefined;
  /** The headers' lines and facts, checked (serializer's headerBlock). */
  block: HeaderBlock;
  shape: ResponseBodyShape;
  /** The whole body when its size is known. */
  payload: Uint8Array | string | null;
  stream: StreamBody | null;
  /** The handler's trailer fields, asked for after a chunked stream. */
  trailers: TrailersFn | null;
  /** The handler's own Content-Length, when it set one (used for HEAD and for streams). */
  declaredLength: number | null;
  /** The handler asked for `Connection: close`. */
  connectionClose: boolean;
  /** The connection leaves HTTP after this response (101 written first) or without one (takeover). */
  handoff: Handoff | null;
}

export interface Handoff {
  kind: 'upgrade' | 'takeover';
  fn: UpgradeHandler;
}

const EMPTY: ResponseBodyShape = Object.freeze({ kind: 'empty' });
const STREAM: ResponseBodyShape = Object.freeze({ kind: 'stream' });

/** The shape of the last sized body (frozen; the same size recurs). */
let lastSized: ResponseBodyShape = Object.freeze({ kind: 'sized', length: 0 });

function sized(length: number): ResponseBodyShape {
  if (lastSized.kind !== 'sized' || lastSized.length !== length) lastSized = Object.freeze({ kind: 'sized', length });
  return lastSized;
}

/** The last string body measured, and its UTF-8 length (the same body recurs). */
let lastBody = '';
let lastBodyBytes = 0;

function utf8Length(body: string): number {
  if (body !== lastBody) {
    lastBody = body;
    lastBodyBytes = Buffer.byteLength(body);
  }
  return lastBodyBytes;
}

export function prepareResponse(response: HttpResponse | unknown): PreparedResponse {
  if (response === null || typeof response !== 'object') throw new InvalidResponseError('handler must return an HttpResponse object');
  const { status, headers, body, upgrade, takeover, trailers } = response as HttpResponse;
  if (upgrade !== undefined || takeover !== undefined) return prepareHandoff(response as HttpResponse);
  if (!Number.isInteger(status) || status < 200 || status > 999) throw new InvalidResponseError('response status must be an integer from 200 to 999');
  if (headers !== undefined && (headers === null || typeof headers !== 'object')) throw new InvalidResponseError('response headers must be an object');

  const block = headerBlock(headers);
  const declaredLength = block.declaredLength;

  let shape: ResponseBodyShape;
  let payload: Uint8Array | string | null = null;
  let stream: StreamBody | null = null;
  if (body === null || body === undefined) {
    shape = EMPTY;
  } else if (typeof body === 'string') {
    payload = body;
    shape = sized(utf8Length(body));
  } else if (body instanceof Uint8Array) {
    payload = body;
    shape = sized(body.length);
  } else if (typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
    stream = body as StreamBody;
    if (body instanceof FileBody) {
      if (declaredLength !== null && declaredLength !== body.length) {
        throw new InvalidResponseError(`file body is ${body.length} bytes but Content-Length says ${declaredLength}`);
      }
      shape = sized(body.length); // its length is known: Content-Length, never chunked
    } else {
      shape = declaredLength === null ? STREAM : { kind: 'sized', length: declaredLength };
    }
  } else {
    throw new InvalidResponseError('response body must be a string, Uint8Array, AsyncIterable or null');
  }
  if (trailers !== undefined && typeof trailers !== 'function') throw new InvalidResponseError('response trailers must be a function');
  return { status, headers, block, shape, payload, stream, trailers: trailers ?? null, declaredLength, connectionClose: block.connectionClose, handoff: null };
}

/** A response that takes the connection out of HTTP: 101 with `upgrade`, or any `takeover`. */
function prepareHandoff(response: HttpResponse): PreparedResponse {
  const { status, headers, body, upgrade, takeover } = response;
  const fn = takeover ?? upgrade;
  if (typeof fn !== 'function') throw new InvalidResponseError('response upgrade/takeover must be a function');
  if (body !== undefined && body !== null) throw new InvalidResponseError('a response that leaves HTTP has no body');
  let block = NO_HEADERS;
  if (takeover === undefined) {
    if (status !== 101) throw new InvalidResponseError('a response with upgrade must have status 101');
    if (headers !== undefined && (headers === null || typeof headers !== 'object')) throw new InvalidResponseError('response headers must be an object');
    // RFC 9110 §15.2.2: a 101 names the protocol(s) switched to in Upgrade.
    if (headers === undefined || !Object.keys(headers).some((name) => name.toLowerCase() === 'upgrade' && headers[name] !== undefined)) {
      throw new InvalidResponseError('a 101 response must carry an Upgrade field');
    }
    block = headerBlock(headers);
  }
  return {
    status: 101,
    headers,
    block,
    shape: EMPTY,
    payload: null,
    stream: null,
    trailers: null,
    declaredLength: null,
    connectionClose: false,
    handoff: { kind: takeover === undefined ? 'upgrade' : 'takeover', fn },
  };
}

/**
 * A whole body larger than this leaves in pieces of this size, each waited for: node tells of no
 * progress within one write, so a single write would put the whole body under one send deadline,
 * where nginx's send_timeout runs between two successive writes. Up to this size (the file
 * cache's 1 MiB hot files included) a body still leaves with its head in one write.
 */
export const WHOLE_WRITE_MAX_BYTES = 1_048_576;

/** `payload` (of `shape`: its byte length) as a stream of WHOLE_WRITE_MAX_BYTES pieces when it is larger than that, else null. */
export function inPieces(payload: Uint8Array | string, shape: ResponseBodyShape): StreamBody | null {
  if (shape.kind !== 'sized' || shape.length <= WHOLE_WRITE_MAX_BYTES) return null;
  const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
  return (async function* pieces() {
    for (let at = 0; at < bytes.length; at += WHOLE_WRITE_MAX_BYTES) yield bytes.subarray(at, Math.min(bytes.length, at + WHOLE_WRITE_MAX_BYTES));
  })();
}

/** A short plain-text response for errors (never echoes peer bytes). */
export function plainResponse(status: number, message?: string, headers?: ResponseHeaders): HttpResponse {
  return {
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', ...headers },
    body: `${message ?? `${status} ${reasonPhrase(status)}`}\n`,
  };
}

/** Releases a body the response will not send (HEAD, 304, abandoned requests). Never throws. */
export function discardBody(body: unknown): void {
  if (body === null || typeof body !== 'object' || body instanceof Uint8Array) return;
  try {
    const destroy = (body as { destroy?: unknown }).destroy;
    if (typeof destroy === 'function') {
      destroy.call(body);
      return;
    }
    const iterate = (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator];
    if (typeof iterate !== 'function') return;
    const iterator = iterate.call(body) as AsyncIterator<unknown>;
    const closing = iterator.return?.();
    if (closing !== undefined) Promise.resolve(closing).catch(() => undefined);
  } catch {
    // A body that cannot even be released is dropped as is.
  }
}

/** The end of a chunked body: the last chunk, with the handler's trailer section when it has one. */
function writeLastChunk(socket: Socket, trailers: TrailersFn | null): void {
  const fields = trailers === null ? null : trailers();
  socket.write(fields == null ? LAST_CHUNK : lastChunkWithTrailers(fields), 'latin1');
}

/**
 * Writes a stream body; resolves with the body bytes written. `waitDrain` resolves when the socket
 * can take more, and rejects if the connection dies meanwhile. A chunked body ends with the
 * `trailers` the handler gives once the stream is done.
 */
export async function writeStreamBody(
  socket: Socket,
  stream: StreamBody,
  framing: ResponseFraming,
  declaredLength: number | null,
  trailers: TrailersFn | null,
  waitDrain: () => Promise<void>,
): Promise<number> {
  if (stream instanceof FileBody) return writeFileBody(socket, stream, waitDrain);
  if (isReadable(stream)) return writeReadableBody(socket, stream, framing, declaredLength, trailers, waitDrain);
  let written = 0;
  for await (const item of stream) {
    const chunk = typeof item === 'string' ? Buffer.from(item) : item;
    if (chunk.length === 0) continue;
    written += chunk.length;
    if (declaredLength !== null && written > declaredLength) throw new InvalidResponseError('stream is longer than its Content-Length');
    if (socket.destroyed) throw new Error('connection closed while writing the response');
    writeChunk(socket, chunk, framing);
    if (socket.writableNeedDrain) await waitDrain();
  }
  if (declaredLength !== null && written !== declaredLength) throw new InvalidResponseError('stream is shorter than its Content-Length');
  if (framing === 'chunked') writeLastChunk(socket, trailers);
  return written;
}

const ignore = (): void => undefined;

/** One piece of a streamed body, in chunked framing (RFC 9112 §7.1) or as is. */
function writeChunk(socket: Socket, chunk: Uint8Array, framing: ResponseFraming): void {
  if (framing !== 'chunked') {
    socket.write(chunk);
    return;
  }
  socket.cork();
  socket.write(chunkHeader(chunk.length));
  socket.write(chunk);
  socket.write(chunkTrailer());
  socket.uncork();
}

/**
 * Read buffers for FileBody, reused across responses: a fresh 256 KiB buffer per read costs its
 * page faults (the allocator hands large blocks back to the system), more than the read itself.
 * A buffer returns only when the socket has handed its bytes to the kernel; at most
 * FILE_POOL_BUFFERS are kept (the thread pool reads four at a time, plus one per response
 * waiting for its write to finish).
 */
const FILE_POOL_BUFFERS = 8;
const filePool: Buffer[] = [];

function releaseFileBuffer(buffer: Buffer): void {
  if (filePool.length < FILE_POOL_BUFFERS) filePool.push(buffer);
}

function readAt(fd: number, buffer: Buffer, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, buffer, 0, length, position, (error, bytesRead) => (error === null ? resolve(bytesRead) : reject(error)));
  });
}

/**
 * A FileBody (always Content-Length framed: prepareResponse gives it a sized shape): opened before
 * the head was written (#respond; open() is idempotent), read through the thread pool into pooled
 * buffers, one piece in flight beyond the socket's buffer; closed at the end.
 */
async function writeFileBody(socket: Socket, body: FileBody, waitDrain: () => Promise<void>): Promise<number> {
  let written = 0; // prepareResponse checked that a declared Content-Length is body.length
  try {
    const fd = body.open();
    while (written < body.length) {
      const buffer = filePool.pop() ?? Buffer.allocUnsafeSlow(FILE_CHUNK_BYTES);
      const bytesRead = await readAt(fd, buffer, Math.min(FILE_CHUNK_BYTES, body.length - written), body.start + written).catch((error: unknown) => {
        releaseFileBuffer(buffer);
        throw error;
      });
      if (bytesRead === 0 || socket.destroyed || socket.writableEnded) {
        releaseFileBuffer(buffer);
        if (bytesRead === 0) break;
        throw new Error('connection closed while writing the response');
      }
      written += bytesRead;
      socket.write(buffer.subarray(0, bytesRead), (error) => {
        // A failed write may still be in libuv's hands: that buffer is left to the GC.
        if (error == null) releaseFileBuffer(buffer);
      });
      if (socket.writableNeedDrain) await waitDrain();
    }
  } finally {
    body.destroy();
  }
  if (written !== body.length) throw new InvalidResponseError('file is shorter than its Content-Length (it shrank)');
  return written;
}

interface ReadableLike {
  on(event: string, listener: (...args: never[]) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
  pause(): unknown;
  resume(): unknown;
  destroy(error?: Error): unknown;
}

function isReadable(stream: unknown): stream is StreamBody & ReadableLike {
  const candidate = stream as Partial<ReadableLike> & { readable?: unknown };
  return typeof candidate.on === 'function' && typeof candidate.pause === 'function' && typeof candidate.resume === 'function' && typeof candidate.destroy === 'function' && candidate.readable !== undefined;
}

/** A Node Readable, by events: pause while the socket is full, resume on drain (no promise per chunk). */
function writeReadableBody(
  socket: Socket,
  readable: ReadableLike,
  framing: ResponseFraming,
  declaredLength: number | null,
  trailers: TrailersFn | null,
  waitDrain: () => Promise<void>,
): Promise<number> {
  return new Promise((resolve, reject) => {
    let written = 0;
    let settled = false;
    const finish = (error: unknown): void => {
      if (settled) return;
      settled = true;
      readable.off('data', onData);
      readable.off('end', onEnd);
      readable.off('error', finish);
      readable.off('close', onClose);
      if (error === null) {
        resolve(written);
        return;
      }
      readable.destroy();
      reject(error);
    };
    const onData = (item: Uint8Array | string): void => {
      const chunk = typeof item === 'string' ? Buffer.from(item) : item;
      if (chunk.length === 0) return;
      written += chunk.length;
      if (declaredLength !== null && written > declaredLength) return finish(new InvalidResponseError('stream is longer than its Content-Length'));
      if (socket.destroyed) return finish(new Error('connection closed while writing the response'));
      writeChunk(socket, chunk, framing);
      if (socket.writableNeedDrain) {
        readable.pause();
        waitDrain().then(
          () => {
            if (!settled) readable.resume();
          },
          (error: unknown) => finish(error),
        );
      }
    };
    const onEnd = (): void => {
      if (declaredLength !== null && written !== declaredLength) return finish(new InvalidResponseError('stream is shorter than its Content-Length'));
      if (framing === 'chunked') {
        try {
          writeLastChunk(socket, trailers);
        } catch (error) {
          return finish(error);
        }
      }
      finish(null);
    };
    // Destroyed without an error (its owner tore it down): 'close' comes with neither 'end' nor 'error'.
    const onClose = (): void => finish(new Error('the response body closed before its end'));
    // A late error (after we stopped listening) must not become an unhandled 'error' event.
    readable.on('error', ignore);
    readable.on('data', onData);
    readable.on('end', onEnd);
    readable.on('error', finish);
    readable.on('close', onClose);
  });
}
