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
 * One socket timer serves every phase (node's inactivity timeout on the socket): the connect
 * timeout while connecting, the read/send timeout while busy, the idle deadline while pooled.
 */

import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { ResponseParser, type ResponseParserLimits } from '../http1/response-parser.js';
import type { UpstreamCloseReason } from './events.js';

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
  #timeoutMs = 0;
  /** The busy phase's inactivity timeout, suspended while reading is paused for a slow client. */
  #busyTimeoutMs = 0;

  constructor(id: number, socket: Socket, owner: ConnectionOwner, limits: ResponseParserLimits, idleLimitMs: number, requestLimit: number) {
    this.id = id;
    this.socket = socket;
    this.parser = new ResponseParser(limits);
    this.#owner = owner;
    this.idleLimitMs = idleLimitMs;
    this.requestLimit = requestLimit;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#onEnd());
    socket.on('error', (error: NodeJS.ErrnoException) => this.#onError(error));
    socket.on('close', () => this.#onClose());
    socket.on('timeout', () => this.#onTimeout());
  }

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

  /** The inactivity timeout for the current phase (0 = none). */
  setTimeout(ms: number): void {
    if (ms === this.#timeoutMs) return;
    this.#timeoutMs = ms;
    this.socket.setTimeout(ms);
  }

  /** An exchange takes the connection (after the pool's check). */
  attach(user: ConnectionUser, timeoutMs: number): void {
    this.state = 'busy';
    this.#user = user;
    this.socket.ref();
    this.setBusyTimeout(timeoutMs);
  }

  /** The inactivity timeout while busy: the send timeout while a body streams up, then the read timeout. */
  setBusyTimeout(ms: number): void {
    this.#busyTimeoutMs = ms;
    if (!this.#paused) this.setTimeout(ms);
  }

  detach(): void {
    this.#user = null;
  }

  /** Back in the pool: watched, unref'd (an idle pool never keeps the process alive, as node's Agent). */
  park(nowMs: number): void {
    this.#user = null;
    this.state = 'idle';
    this.idleSince = nowMs;
    this.socket.unref();
    this.resume();
    this.setTimeout(this.idleLimitMs);
  }

  /** Reading pauses while the exchange has not taken what is buffered. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.socket.resume();
    if (this.state === 'busy') this.setTimeout(this.#busyTimeoutMs);
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
    this.resume();
    this.setTimeout(0);
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('end');
    this.socket.removeAllListeners('timeout');
    return this.socket;
  }

  close(reason: UpstreamCloseReason): void {
    if (this.state === 'closed') return;
    this.#closeReason ??= reason;
    this.socket.destroy();
  }

  #onData(chunk: Buffer): void {
    const state = this.state;
    if (state === 'idle' || state === 'checking') {
      this.close('evicted-while-idle');
      return;
    }
    if (state !== 'busy') return;
    this.parser.feed(chunk);
    if (this.parser.bufferedBytes >= READ_HIGH_WATER_BYTES && !this.#paused) {
      // The client is not taking the body: no upstream timeout while we are the ones not reading.
      this.#paused = true;
      this.socket.pause();
      this.setTimeout(0);
    }
    this.#user?.readable();
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
