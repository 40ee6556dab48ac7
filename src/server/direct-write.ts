/**
 * Writes straight to a TCP socket's handle, beneath net.Socket's Writable. A write through the
 * Writable pays for its state machine, a deferred callback (process.nextTick) per write and the
 * tick queue that runs it after every read; a keep-alive response is one small write that the
 * kernel takes at once, so that machinery is most of node's cost of sending it (measured: ~7 % of a
 * bare node:net server's CPU per request). The handle's own write methods (the ones the Writable
 * calls in the end) take a request object of node's `WriteWrap` class, which only
 * `process.binding('stream_wrap')` hands out; where it does not (another node, the permission
 * model) or HOLDFAST_SOCKET_WRITES=1 is set, nothing is direct and every write goes through
 * socket.write() as before.
 *
 * Contract: a direct write is allowed only while the Writable holds nothing (no byte buffered or
 * in flight, not corked, not ended), so bytes leave in the order they were written: libuv queues a
 * write behind any still pending on the handle, the Writable's included. The result says whether
 * the kernel took it all (`sync`) or libuv queued the rest (`async`: `done` is called once it has
 * left, or failed); an error destroys the socket with node's errno error, as a failed
 * socket.write() does ('error', then 'close', on the next tick).
 */

import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';

interface WriteRequest {
  oncomplete: (this: WriteRequest, status: number) => void;
  /** What the write was for: told when an async write finished. */
  owner: DirectWriteOwner | null;
  /** Keeps a queued Buffer alive until libuv has written it. */
  buffer: Buffer | null;
}

type WriteRequestClass = new () => WriteRequest;

interface TcpHandle {
  writeLatin1String(req: WriteRequest, text: string): number;
  writeBuffer(req: WriteRequest, bytes: Buffer): number;
  readonly writeQueueSize?: number;
}

interface StreamBinding {
  WriteWrap?: unknown;
  /** Where node's stream writes report whether the last one was left queued (at kLastWriteWasAsync). */
  streamBaseState?: unknown;
  kLastWriteWasAsync?: unknown;
}

export interface DirectWriteOwner {
  readonly socket: Socket;
  /** An async direct write left, or failed (`status` < 0: the socket is being destroyed). */
  directWriteDone(status: number): void;
}

interface Binding {
  WriteRequest: WriteRequestClass;
  state: Int32Array;
  lastWriteWasAsync: number;
}

function probe(): Binding | null {
  if (process.env.HOLDFAST_SOCKET_WRITES === '1') return null;
  try {
    const binding = (process as unknown as { binding(name: string): StreamBinding }).binding('stream_wrap');
    const { WriteWrap, streamBaseState, kLastWriteWasAsync } = binding;
    if (typeof WriteWrap !== 'function' || !(streamBaseState instanceof Int32Array) || typeof kLastWriteWasAsync !== 'number') return null;
    if (kLastWriteWasAsync < 0 || kLastWriteWasAsync >= streamBaseState.length) return null;
    return { WriteRequest: WriteWrap as WriteRequestClass, state: streamBaseState, lastWriteWasAsync: kLastWriteWasAsync };
  } catch {
    return null;
  }
}

const BINDING = probe();
const WriteRequestOf = BINDING?.WriteRequest ?? null;
const STATE = BINDING?.state ?? new Int32Array(1);
const LAST_WRITE_WAS_ASYNC = BINDING?.lastWriteWasAsync ?? 0;

/** Whether this process writes directly where it can. */
export const directWritesAvailable = WriteRequestOf !== null;

function completed(this: WriteRequest, status: number): void {
  const owner = this.owner;
  this.owner = null;
  this.buffer = null;
  if (owner === null) return;
  if (status < 0) owner.socket.destroy(errnoError(status));
  owner.directWriteDone(status);
}

/** The request object for the next write: one is reused until a write leaves it queued in libuv. */
let spare: WriteRequest | null = null;

function request(): WriteRequest {
  if (spare !== null) return spare;
  const req = new (WriteRequestOf as WriteRequestClass)();
  req.oncomplete = completed;
  req.owner = null;
  req.buffer = null;
  spare = req;
  return req;
}

function errnoError(status: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(status);
  const error: NodeJS.ErrnoException = new Error(`write ${code}`);
  error.code = code;
  error.errno = status;
  error.syscall = 'write';
  return error;
}

/** The socket's handle when a direct write may go now, else null (write through the socket). */
function handleFor(socket: Socket): TcpHandle | null {
  if (WriteRequestOf === null || socket.writableLength !== 0 || socket.writableCorked !== 0 || socket.writableEnded) return null;
  const handle = (socket as unknown as { _handle: TcpHandle | null })._handle;
  return handle === null || handle === undefined ? null : handle;
}

/** 'sync': the kernel took it all; 'async': libuv holds the rest (owner.directWriteDone follows); 'failed': the socket is being destroyed; null: not written (use socket.write). */
export type DirectWriteResult = 'sync' | 'async' | 'failed' | null;

/** Latin-1 text straight to the handle, when allowed (see the contract). */
export function writeTextDirect(owner: DirectWriteOwner, text: string): DirectWriteResult {
  const handle = handleFor(owner.socket);
  if (handle === null) return null;
  const req = request();
  return settle(owner, req, handle.writeLatin1String(req, text), null);
}

/** A Buffer straight to the handle, when allowed (see the contract). */
export function writeBufferDirect(owner: DirectWriteOwner, bytes: Buffer): DirectWriteResult {
  const handle = handleFor(owner.socket);
  if (handle === null) return null;
  const req = request();
  return settle(owner, req, handle.writeBuffer(req, bytes), bytes);
}

function settle(owner: DirectWriteOwner, req: WriteRequest, status: number, bytes: Buffer | null): DirectWriteResult {
  if (status !== 0) {
    owner.socket.destroy(errnoError(status));
    return 'failed';
  }
  if (STATE[LAST_WRITE_WAS_ASYNC] === 0) return 'sync';
  // libuv holds the rest and will call req.oncomplete: this request object is its until then.
  spare = null;
  req.owner = owner;
  req.buffer = bytes;
  return 'async';
}

/** Bytes the handle still holds for the kernel (direct writes and the Writable's alike). */
export function handleBacklogBytes(socket: Socket): number {
  const handle = (socket as unknown as { _handle: TcpHandle | null })._handle;
  return handle === null || handle === undefined || typeof handle.writeQueueSize !== 'number' ? 0 : handle.writeQueueSize;
}
