/**
 * The write side of a connection: how response bytes reach the socket, never how many or when to
 * close (that is the response plan's). It owns
 * - batching: while one read's pipelined requests are answered, their responses collect as latin1
 *   text and leave in one write (bounded, so backpressure still sees them);
 * - the payload strategies: head and small body joined in one write, cork + two writes for large
 *   bodies and UTF-8 text, streams and files with one piece in flight beyond the socket's buffer;
 * - the write-blocked state (the peer is not taking our bytes), the send deadline that runs while
 *   it lasts, and the waiters of a streamed body;
 * - direct writes: a plain TCP socket's latin1 text and small buffers go straight to its handle
 *   while its Writable holds nothing (./direct-write.ts), at most one left pending in libuv.
 *
 * It is the base class of Connection (beneath it, Deadlines) rather than an object of its own, so
 * that an idle connection carries no extra object: 10,000 idle connections are the memory figure.
 */

import type { Socket } from 'node:net';
import type { ResponseBodyShape, ResponseFraming } from '../http1/framing.js';
import { latin1, writeLatin1 } from '../http1/latin1.js';
import { CONTINUE_HEAD, joinHeadAndBody } from '../http1/serializer.js';
import { Deadlines } from './deadlines.js';
import { directWritesAvailable, handleBacklogBytes, writeBufferDirect, writeTextDirect, type DirectWriteOwner } from './direct-write.js';
import { writeStreamBody, type StreamBody, type TrailersFn } from './write-response.js';

/** Output flags in `flags`; Connection's own start at FIRST_CONNECTION_FLAG. */
const WRITE_BLOCKED = 1; // the peer is not taking our bytes
const BATCHING = 2; // pipelined responses collect in #outText
const DIRECT = 4; // responses are written straight to the TCP handle where they can be (./direct-write.ts)
const DIRECT_PENDING = 8; // a direct write is still queued in libuv: the peer is not taking our bytes
export const FIRST_CONNECTION_FLAG = 16;

/** Bodies up to this size are copied next to their head and written once; larger ones go by writev. */
const SMALL_BODY_BYTES = 16_384;
/** A batch of pipelined responses is written once it reaches this many characters. */
const BATCH_FLUSH_CHARS = 65_536;

interface DrainWaiter {
  resolve(): void;
  reject(error: Error): void;
}

export abstract class Outbound extends Deadlines implements DirectWriteOwner {
  readonly socket: Socket;
  /** Small boolean states packed in one integer (an idle connection should be small): output bits here, Connection's above. */
  protected flags = 0;
  #outText = '';
  #drainWaiters: DrainWaiter[] | null = null;

  /** `plainTcp`: not TLS (a TLS socket's handle encrypts; only a TCP handle is written directly). */
  constructor(socket: Socket, plainTcp: boolean) {
    super();
    this.socket = socket;
    if (plainTcp && directWritesAvailable) this.flags = DIRECT;
  }

  protected abstract get sendTimeoutMs(): number;

  /** All queued bytes left (after the peer stopped taking them): the connection's 'drain'. */
  protected abstract drained(): void;

  /** Latin-1 text to the socket now: straight to its handle when it can, else through its Writable. */
  #send(text: string): void {
    const result = (this.flags & (DIRECT | DIRECT_PENDING)) === DIRECT ? writeTextDirect(this, text) : null;
    if (result === null) this.socket.write(text, 'latin1');
    else if (result === 'async') this.flags |= DIRECT_PENDING;
  }

  /** A Buffer to the socket now, as #send. */
  #sendBuffer(bytes: Buffer): void {
    const result = (this.flags & (DIRECT | DIRECT_PENDING)) === DIRECT ? writeBufferDirect(this, bytes) : null;
    if (result === null) this.socket.write(bytes);
    else if (result === 'async') this.flags |= DIRECT_PENDING;
  }

  /**
   * The async direct write left (or failed: the socket is being destroyed, its 'close' follows).
   * At most one is pending (#send writes through the Writable meanwhile, queued behind it in
   * libuv): what is still queued now is the Writable's, which tells of its own drain if it holds
   * more than its high-water mark; below it, the connection is drained as far as the Writable's
   * rule goes. After end() nothing is drained (as the Writable emits no 'drain' once ending): the
   * close's send deadline runs until 'finish'.
   */
  directWriteDone(status: number): void {
    this.flags &= ~DIRECT_PENDING;
    if (status < 0 || this.socket.writableEnded || this.#writableBlocked()) return;
    this.drained();
  }

  /** The Writable holds more than its high-water mark: its 'drain' will come. (Its length first: after a direct write it is 0, and needDrain is the dearer getter.) */
  #writableBlocked(): boolean {
    return this.socket.writableLength > 0 && this.socket.writableNeedDrain;
  }

  /** Nothing queued anywhere: neither in the Writable nor in a direct write libuv still holds. */
  protected get outboundEmpty(): boolean {
    return this.socket.writableLength === 0 && (this.flags & DIRECT_PENDING) === 0;
  }

  /** Bytes queued for the peer (the Writable's, or the handle's when a direct write is pending). */
  protected get writeBacklogBytes(): number {
    const writable = this.socket.writableLength;
    return (this.flags & DIRECT_PENDING) === 0 ? writable : Math.max(writable, handleBacklogBytes(this.socket));
  }

  /** The peer is not taking our bytes (as of the last response queued): read no further requests. */
  protected get writeBlocked(): boolean {
    return (this.flags & WRITE_BLOCKED) !== 0;
  }

  /** Responses queued until endBatch() leave in one write. */
  protected beginBatch(): void {
    this.flags |= BATCHING;
  }

  protected endBatch(): void {
    this.flags &= ~BATCHING;
    this.flushText();
    this.noteWriteBuffer();
  }

  /** Latin-1 text (a head, an error response) for the socket: batched or written at once. */
  protected writeText(text: string): void {
    if ((this.flags & BATCHING) === 0) {
      this.#send(text);
      return;
    }
    this.#outText += text;
    if (this.#outText.length >= BATCH_FLUSH_CHARS) this.flushText();
  }

  protected flushText(): void {
    if (this.#outText === '') return;
    const text = this.#outText;
    this.#outText = '';
    this.#send(text);
  }

  /**
   * A head and its whole body (null: none). `morePipelined`: further requests are already
   * buffered, so a small body may join the batch as text. Returns the body bytes queued.
   */
  protected writeWhole(headText: string, payload: Uint8Array | string | null, shape: ResponseBodyShape, morePipelined: boolean): number {
    const socket = this.socket;
    if (payload === null || payload.length === 0) {
      this.writeText(headText);
      return 0;
    }
    if (typeof payload === 'string') {
      // An ASCII body (as many bytes as characters) encodes the same in latin1: one write for both.
      if (shape.kind === 'sized' && shape.length === payload.length) {
        this.writeText(joinHeadAndBody(headText, payload));
      } else {
        this.flushText();
        socket.cork();
        socket.write(headText, 'latin1');
        socket.write(payload, 'utf8');
        socket.uncork();
      }
      return shape.kind === 'sized' ? shape.length : 0;
    }
    if (payload.length <= SMALL_BODY_BYTES) {
      // A small body (a cached static file, say) leaves with its head in one write: as one buffer,
      // or as latin1 text (one byte per character, lossless) joining a batch of pipelined responses.
      if ((this.flags & BATCHING) !== 0 && (this.#outText !== '' || morePipelined)) {
        this.writeText(headText + latin1(Buffer.from(payload.buffer, payload.byteOffset, payload.length), 0, payload.length));
      } else {
        this.flushText();
        const out = Buffer.allocUnsafe(headText.length + payload.length);
        writeLatin1(out, headText, 0);
        out.set(payload, headText.length);
        this.#sendBuffer(out);
      }
      return payload.length;
    }
    this.flushText();
    socket.cork();
    socket.write(headText, 'latin1');
    socket.write(payload);
    socket.uncork();
    return payload.length;
  }

  /** A head, then a streamed body with backpressure; resolves with the body bytes written. */
  protected writeStreamed(headText: string, stream: StreamBody, framing: ResponseFraming, declaredLength: number | null, trailers: TrailersFn | null): Promise<number> {
    this.flushText();
    this.socket.write(headText, 'latin1');
    return writeStreamBody(this.socket, stream, framing, declaredLength, trailers, () => this.#waitDrain());
  }

  /** `100 Continue` (RFC 9110 §10.1.1), ahead of anything batched after it. */
  protected writeContinue(): void {
    this.flushText();
    this.socket.write(CONTINUE_HEAD, 'latin1');
  }

  /**
   * After queueing a response: while the peer is not taking our bytes, the send deadline runs. A
   * write larger than the socket's high-water mark that the kernel took whole leaves nothing queued
   * (writableLength 0) but needDrain set until the next tick: that is not blocked.
   */
  protected noteWriteBuffer(): void {
    if ((this.flags & BATCHING) !== 0 && this.#outText !== '') return;
    if ((this.flags & DIRECT_PENDING) !== 0 || this.#writableBlocked()) {
      this.flags |= WRITE_BLOCKED;
      this.setDeadline('send', this.sendTimeoutMs);
    } else {
      this.flags &= ~WRITE_BLOCKED;
    }
  }

  /**
   * The socket drained (its Writable's 'drain', or the direct write's end): the send deadline
   * stops and streamed bodies go on. While a direct write is still pending the connection stays
   * blocked (its end calls drained() again), but a streamed body may go on writing: its bytes queue
   * behind it.
   */
  protected writable(): void {
    if ((this.flags & DIRECT_PENDING) === 0) {
      this.flags &= ~WRITE_BLOCKED;
      this.clearDeadline('send');
    }
    const waiters = this.#drainWaiters;
    if (waiters !== null) {
      this.#drainWaiters = null;
      for (const waiter of waiters) waiter.resolve();
    }
  }

  /** The socket closed: streamed bodies waiting for it fail. */
  protected writesFailed(): void {
    const waiters = this.#drainWaiters;
    if (waiters === null) return;
    this.#drainWaiters = null;
    const gone = new Error('connection closed');
    for (const waiter of waiters) waiter.reject(gone);
  }

  #waitDrain(): Promise<void> {
    if (this.socket.destroyed) return Promise.reject(new Error('connection closed'));
    this.setDeadline('send', this.sendTimeoutMs);
    return new Promise((resolve, reject) => (this.#drainWaiters ??= []).push({ resolve, reject }));
  }
}
