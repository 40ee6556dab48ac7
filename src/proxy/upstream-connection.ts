/**
 * One connection to an upstream: its socket, its response parser (src/http1/response-parser.ts),
 * and where it is in its life. Every byte and every EOF is seen here, whatever the state:
 *
 * - idle (pooled) or checking (taken from the pool, waiting one event-loop turn before its
 *   request is written): any byte evicts it (`evicted-while-idle`: a response to nothing), EOF or
 *   a reset closes it (`upstream-close`, `error`) — the pool never lends a connection whose close
 *   has already reached us (Go keeps a read loop on idle connections; nginx peeks at them);
 * - busy: bytes go to the parser and the exchange using it is told; reading pauses while the
 *   exchange has not taken what is buffered (backpressure from a slow client);
 * - closed: exactly one UpstreamCloseReason, reported once.
 *
 * Reads land in one buffer shared by every upstream socket of the process (node's `onread` option:
 * no 64 KiB allocation and no stream machinery per read). The parser reads it in place during the
 * read callback and keeps a copy of what it did not consume; the exchange copies what it keeps.
 * The buffer is larger than a client-side read so that a response of a few hundred KiB that the
 * upstream wrote at once is usually read whole, and relayed as one body.
 *
 * Timeouts: node's socket timeout only while connecting; after that the pool's watch (watch(),
 * every few milliseconds, a fraction of the shortest timeout) times a busy connection out once no
 * byte moved for its read or send timeout, and closes an idle one past its idle limit. A socket
 * timeout would be re-armed on every read and write (two timer-list moves per request).
 */

import net, { type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { ResponseParser, type ResponseParserLimits } from '../http1/response-parser.js';
import type { UpstreamCloseReason } from './events.js';
import { connectOptions, type UpstreamTarget } from './target.js';

export type UpstreamState = 'connecting' | 'idle' | 'checking' | 'busy' | 'closed';

/** The exchange using a busy connection. */
export interface ConnectionUser {
  /** Bytes or EOF were fed to the parser. */
  readable(): void;
  /** The socket failed, closed or timed out: `code` is ECONNRESET, EPIPE, timeout, closed… */
  failed(code: string): void;
}

export interface ConnectionOwner {
  closed(connection: UpstreamConnection, reason: UpstreamCloseReason): void;
  idleTimedOut(connection: UpstreamConnection): void;
}

/** Unconsumed response bytes past which reading pauses until the exchange takes them. */
export const READ_HIGH_WATER_BYTES = 65_536;
/** The shared read buffer: 256 KiB, nginx's largest default proxy buffering per request (8 × 32 KiB is proxy_buffers' upper sizing). */
export const UPSTREAM_READ_BYTES = 262_144;
const READ_BUFFER = Buffer.allocUnsafe(UPSTREAM_READ_BYTES);

const CONNECTION = Symbol('holdfast.upstreamConnection');
type OwnedSocket = Socket & { [CONNECTION]: UpstreamConnection };

/** node's onread callback: `this` is the socket. Returning false stops reading. */
function onRead(this: Socket, nread: number, bytes: Buffer): boolean {
  return (this as OwnedSocket)[CONNECTION].onRead(bytes, nread);
}

export class UpstreamConnection {
  readonly id: number;
  readonly socket: Socket;
  readonly parser: ResponseParser;
  readonly openedAt = performance.now();
  state: UpstreamState = 'connecting';
  /** The TCP connection was established (its open was reported; its close will be). */
  connected = false;
  /** Requests written on this connection. */
  requests = 0;
  /** Bytes read from the upstream so far. */
  bytesReceived = 0;
  /** When it last went idle (performance.now()). */
  idleSince = 0;
  /** How long it may stay idle: idleTimeoutMs, lowered by the upstream's Keep-Alive timeout. */
  idleLimitMs: number;
  /** Requests it may carry in all: maxRequestsPerConnection, lowered by the upstream's Keep-Alive max. */
  requestLimit: number;
  #user: ConnectionUser | null = null;
  readonly #owner: ConnectionOwner;
  #closeReason: UpstreamCloseReason | null = null;
  #errorCode: string | null = null;
  #paused = false;
  /** The socket keeps the event loop alive (node's ref()); new sockets do. */
  #refed = true;
  /** Handed to a tunnel: reads are copied into the socket's own stream. */
  #handedOff = false;
  #timeoutMs = 0;
  /** The busy phase's inactivity timeout (0 = none), suspended while reading is paused for a slow client. */
  #busyTimeoutMs = 0;
  /** Counts reads and writes while busy; the watch compares it with what it saw last. */
  #activity = 0;
  #activitySeen = -1;
  /** When the watch first saw the activity count as it is (performance.now()). */
  #quietSinceMs = 0;

  /** Starts connecting to `target`; the owner watches the socket's 'connect' and 'close'. */
  constructor(id: number, target: UpstreamTarget, owner: ConnectionOwner, limits: ResponseParserLimits, idleLimitMs: number, requestLimit: number) {
    this.id = id;
    const socket = net.connect({ ...connectOptions(target), onread: { buffer: READ_BUFFER, callback: onRead } });
    (socket as OwnedSocket)[CONNECTION] = this;
    this.socket = socket;
    this.parser = new ResponseParser(limits);
    this.#owner = owner;
    this.idleLimitMs = idleLimitMs;
    this.requestLimit = requestLimit;
    socket.on('end', UpstreamConnection.#socketEnd);
    socket.on('error', UpstreamConnection.#socketError);
    socket.on('close', UpstreamConnection.#socketClose);
    socket.on('timeout', UpstreamConnection.#socketTimeout);
  }

  static #socketEnd = function (this: OwnedSocket): void {
    this[CONNECTION].#onEnd();
  };
  static #socketError = function (this: OwnedSocket, error: NodeJS.ErrnoException): void {
    this[CONNECTION].#onError(error);
  };
  static #socketClose = function (this: OwnedSocket): void {
    this[CONNECTION].#onClose();
  };
  static #socketTimeout = function (this: OwnedSocket): void {
    this[CONNECTION].#onTimeout();
  };

  get closeReason(): UpstreamCloseReason | null {
    return this.#closeReason;
  }

  /** The socket's error code, when it failed with one. */
  get errorCode(): string | null {
    return this.#errorCode;
  }

  get isClosed(): boolean {
    return this.state === 'closed' || this.socket.destroyed;
  }

  /** The socket's own inactivity timeout (0 = none): the connect timeout. */
  setTimeout(ms: number): void {
    if (ms === this.#timeoutMs) return;
    this.#timeoutMs = ms;
    this.socket.setTimeout(ms);
  }

  /** An exchange takes the connection (after the pool's check). */
  attach(user: ConnectionUser, timeoutMs: number): void {
    this.state = 'busy';
    this.#user = user;
    if (!this.#refed) {
      this.#refed = true;
      this.socket.ref();
    }
    this.setBusyTimeout(timeoutMs);
  }

  /** The inactivity timeout while busy: the send timeout while a body streams up, then the read timeout. */
  setBusyTimeout(ms: number): void {
    this.#busyTimeoutMs = ms;
    this.#activity++;
  }

  /** Bytes went out (a request body streaming up): not inactive. */
  noteProgress(): void {
    this.#activity++;
  }

  /**
   * The pool's periodic check at `nowMs`: a busy connection whose activity count has not moved for
   * its timeout times out (never early: the quiet time counts from the first check that saw it
   * still); an idle one past its idle limit closes.
   */
  watch(nowMs: number): void {
    if (this.state === 'idle') {
      if (nowMs - this.idleSince >= this.idleLimitMs) {
        this.#owner.idleTimedOut(this);
      } else if (this.#refed) {
        this.#refed = false;
        this.socket.unref();
      }
      return;
    }
    if (this.state !== 'busy') return;
    if (this.#activity !== this.#activitySeen) {
      this.#activitySeen = this.#activity;
      this.#quietSinceMs = nowMs;
    } else if (this.#busyTimeoutMs > 0 && !this.#paused && nowMs - this.#quietSinceMs >= this.#busyTimeoutMs) {
      this.#onTimeout();
    }
  }

  detach(): void {
    this.#user = null;
  }

  /**
   * Back in the pool, watched. The watch unrefs it if it is still idle then: an idle pool keeps the
   * process alive no longer than that (node's Agent unrefs at once; a connection reused at once
   * would then pay two calls into node per request).
   */
  park(nowMs: number): void {
    this.#user = null;
    this.state = 'idle';
    this.idleSince = nowMs;
    this.resume();
  }

  /** Reading pauses while the exchange has not taken what is buffered. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#activity++;
    this.socket.resume();
  }

  get paused(): boolean {
    return this.#paused;
  }

  /**
   * The socket leaves HTTP (a tunnel after a 101): the parser and timers let go of it; its close is
   * still reported, as `tunnelled`.
   */
  handOff(): Socket {
    this.#user = null;
    this.#closeReason = 'tunnelled';
    this.#handedOff = true;
    this.#busyTimeoutMs = 0;
    this.resume();
    this.setTimeout(0);
    this.socket.removeAllListeners('end');
    this.socket.removeAllListeners('timeout');
    return this.socket;
  }

  close(reason: UpstreamCloseReason): void {
    if (this.state === 'closed') return;
    this.#closeReason ??= reason;
    this.socket.destroy();
  }

  /** `bytes[0, length)` was read; valid only during this call. Returns false to stop reading. */
  onRead(bytes: Buffer, length: number): boolean {
    this.bytesReceived += length;
    this.#activity++;
    if (this.#handedOff) return this.socket.push(Buffer.from(bytes.subarray(0, length)));
    const state = this.state;
    if (state === 'idle' || state === 'checking') {
      this.close('evicted-while-idle');
      return false;
    }
    if (state !== 'busy') return true;
    const parser = this.parser;
    const borrowed = parser.feedBorrowed(bytes, length);
    if (!borrowed) parser.feed(Buffer.from(bytes.subarray(0, length)));
    try {
      this.#user?.readable();
    } finally {
      if (borrowed) parser.release();
    }
    if (parser.bufferedBytes >= READ_HIGH_WATER_BYTES && !this.#paused && this.state === 'busy') {
      // The client is not taking the body: no upstream timeout while we are the ones not reading.
      this.#paused = true;
      this.socket.pause();
    }
    return true;
  }

  #onEnd(): void {
    const state = this.state;
    if (state === 'idle' || state === 'checking') {
      this.close('upstream-close');
      return;
    }
    this.parser.feedEof();
    this.#user?.readable();
  }

  #onError(error: NodeJS.ErrnoException): void {
    this.#errorCode ??= error.code ?? 'error';
    this.#closeReason ??= 'error';
  }

  #onTimeout(): void {
    if (this.state === 'idle') {
      this.#owner.idleTimedOut(this);
      return;
    }
    this.#errorCode ??= 'timeout';
    this.#closeReason ??= 'error';
    const user = this.#user;
    this.socket.destroy();
    user?.failed('timeout');
  }

  #onClose(): void {
    const user = this.#user;
    this.#user = null;
    this.state = 'closed';
    const reason = this.#closeReason ?? 'upstream-close';
    this.#closeReason = reason;
    this.#owner.closed(this, reason);
    user?.failed(this.#errorCode ?? 'closed');
  }
}
