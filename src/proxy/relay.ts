/**
 * One attempt at one request on one upstream connection: lease a connection, write the request
 * (head and body, with backpressure), read the response head (1xx interim responses are hop-local
 * and skipped), then relay the body to the client as it arrives. It is driven by the connection's
 * reads (no promise per step): run() settles once, when the head is read or the attempt failed.
 *
 * - A response whose whole body came with its head (the common small response, read at once) is
 *   `complete`: its body is in `pieces` and the connection is back in the pool before run() settles.
 *
 * - A failure before any response byte arrived is an UpstreamFailure with `beforeResponse` set:
 *   the caller decides whether the request may be sent again. After the head, a failure throws
 *   out of the body iterator, and the server aborts the client connection (no final chunk: the
 *   truncation is visible).
 * - The connection goes back to the pool only after a response read to its end, a request sent
 *   whole, no `Connection: close` (HTTP/1.1) or an explicit keep-alive (HTTP/1.0), a body not
 *   delimited by the close, and nothing after it; otherwise it closes with its reason.
 * - The body iterator's return() (the client went away, or the server will not send the body) and
 *   an abandoned head close the connection as `client-gone`: it is never pooled. A client that goes
 *   away while the head is awaited (clientGone(), at the moment `req.signal` aborts) ends the
 *   attempt at once: out of the pool's queue, or its connection closed (`client-gone`).
 * - A response with a transfer coding other than chunked alone fails as `unknown-transfer-encoding`
 *   (phase headers; hygiene.ts relayableTransferCoding): the coding cannot be relayed.
 * - Trailers: a chunked response's trailer section is kept (`trailers`) for the caller to relay; a
 *   chunked request body ends with the last chunk its `endChunk()` gives (the client's trailers).
 * - A streamed request body that throws fails the attempt as `client-body`, with what it threw
 *   kept (`clientBodyError`): the client's failure, not the upstream's.
 * - Memory per exchange is bounded: reading from the upstream pauses past READ_HIGH_WATER_BYTES
 *   unconsumed, and the server asks for the next piece only once the client took the last.
 */

import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { chunkHeader, chunkTrailer } from '../http1/chunked.js';
import type { HeaderMap } from '../http1/header-map.js';
import type { ResponseHead } from '../http1/response-parser.js';
import { relayableTransferCoding } from './hygiene.js';
import type { ClientGoneWatcher } from '../server/connection.js';
import type { UpstreamPhase } from './events.js';
import type { LeaseUser, PoolError, UpstreamPool } from './pool.js';
import type { ConnectionUser, UpstreamConnection } from './upstream-connection.js';

/** A request body as it goes upstream. */
export type OutgoingBody =
  | { kind: 'none' }
  /** Read whole before sending: it can be sent again. */
  | { kind: 'buffered'; bytes: Uint8Array }
  /**
   * Streamed as it arrives; `chunked`: re-framed in chunks and ended by `endChunk()` (the last
   * chunk with the client's trailer section), else sent as is under Content-Length.
   */
  | { kind: 'stream'; source: AsyncIterable<Uint8Array>; chunked: boolean; endChunk: () => string; pulled: boolean };

export class UpstreamFailure extends Error {
  readonly phase: UpstreamPhase;
  readonly code: string;
  /** Nothing of a response had arrived. */
  readonly beforeResponse: boolean;

  constructor(phase: UpstreamPhase, code: string, beforeResponse: boolean) {
    super(`upstream ${phase} failed: ${code}`);
    this.name = 'UpstreamFailure';
    this.phase = phase;
    this.code = code;
    this.beforeResponse = beforeResponse;
  }
}

const DONE: IteratorResult<Uint8Array> = Object.freeze({ done: true, value: undefined });

export interface AttemptTimeouts {
  readTimeoutMs: number;
  sendTimeoutMs: number;
}

export class Attempt implements ConnectionUser, LeaseUser, ClientGoneWatcher {
  readonly pool: UpstreamPool;
  readonly #method: string;
  readonly #headText: string;
  readonly #body: OutgoingBody;
  readonly #timeouts: AttemptTimeouts;
  #connection: UpstreamConnection | null = null;
  reused = false;
  #bytesReadBefore = 0;
  /** run()'s promise, until it settles. */
  #resolve: ((head: ResponseHead) => void) | null = null;
  #reject: ((error: UpstreamFailure | PoolError) => void) | null = null;
  /** The final response head, once read. */
  #head: ResponseHead | null = null;
  /** Body pieces that came with the head (copies: they outlive the read). */
  readonly pieces: Buffer[] = [];
  /** The whole body came with the head: `pieces` is all of it, and the connection is released. */
  complete = false;
  /** The response's trailer section, once its chunked body was read to its end (null when none). */
  trailers: HeaderMap | null = null;
  #wake: (() => void) | null = null;
  #failure: string | null = null;
  /** The whole request is queued on the socket. */
  #requestSent = false;
  /** The response head came while the body was still going up: stop sending, do not pool. */
  #stopSending = false;
  #ended = false;
  /** What the client's body threw, when the attempt failed as `client-body`. */
  clientBodyError: unknown = null;

  constructor(pool: UpstreamPool, method: string, headText: string, body: OutgoingBody, timeouts: AttemptTimeouts) {
    this.pool = pool;
    this.#method = method;
    this.#headText = headText;
    this.#body = body;
    this.#timeouts = timeouts;
  }

  /**
   * Leases a connection (a new one when `fresh`), writes the request and reads the final response
   * head, with whatever of the body came with it. Rejects with a PoolError (no connection) or an
   * UpstreamFailure.
   */
  run(fresh: boolean): Promise<ResponseHead> {
    const response = new Promise<ResponseHead>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.pool.lease(this, fresh);
    return response;
  }

  get connection(): UpstreamConnection {
    const connection = this.#connection;
    if (connection === null) throw new Error('the attempt has no connection yet');
    return connection;
  }

  leased(connection: UpstreamConnection, reused: boolean): void {
    if (this.#ended) {
      // The client went away while this connection was being opened: nothing was sent on it.
      this.pool.release(connection, false, 'client-gone');
      return;
    }
    this.#connection = connection;
    this.reused = reused;
    this.#bytesReadBefore = connection.bytesReceived;
    this.pool.stats.outstanding++;
    connection.attach(this, this.#timeouts.readTimeoutMs);
    connection.requests++;
    this.#send(connection);
  }

  leaseFailed(error: PoolError): void {
    const reject = this.#reject;
    this.#resolve = this.#reject = null;
    reject?.(error);
  }

  readable(): void {
    if (this.#resolve !== null) {
      this.#readHead();
      return;
    }
    const wake = this.#wake;
    if (wake === null) return;
    this.#wake = null;
    wake();
  }

  /** The client went away (or the server gave up) before the head came: the attempt ends now. */
  clientGone(): void {
    if (this.#resolve === null) return;
    this.pool.cancel(this);
    this.#settle(null, this.abort(this.#requestSent ? 'headers' : 'send', 'client-gone'));
  }

  failed(code: string): void {
    this.#failure ??= code;
    this.readable();
  }

  #next(): Promise<void> {
    return new Promise((resolve) => (this.#wake = resolve));
  }

  /** Any byte of a response arrived on this attempt. */
  get #sawResponse(): boolean {
    return this.#connection !== null && this.#connection.bytesReceived > this.#bytesReadBefore;
  }

  #failureOf(phase: UpstreamPhase, code: string): UpstreamFailure {
    return new UpstreamFailure(phase, code, !this.#sawResponse);
  }

  /**
   * Writes the request. A buffered body leaves with the head in one write; a stream is pumped in
   * the background, and a failure there surfaces through the response read.
   */
  #send(connection: UpstreamConnection): void {
    connection.parser.expectResponseTo(this.#method);
    const socket = connection.socket;
    const headText = this.#headText;
    const body = this.#body;
    switch (body.kind) {
      case 'none':
        socket.write(headText, 'latin1');
        this.#requestSent = true;
        return;
      case 'buffered': {
        const out = Buffer.allocUnsafe(headText.length + body.bytes.length);
        out.write(headText, 0, 'latin1');
        out.set(body.bytes, headText.length);
        socket.write(out);
        this.#requestSent = true;
        return;
      }
      case 'stream':
        socket.write(headText, 'latin1');
        connection.setBusyTimeout(this.#timeouts.sendTimeoutMs);
        this.#pump(socket, body).then(
          () => connection.setBusyTimeout(this.#timeouts.readTimeoutMs),
          (error: unknown) => {
            // The client's body failed (it went away, or broke framing): the request cannot be completed.
            this.clientBodyError = error;
            this.#stopSending = true;
            this.failed('client-body');
          },
        );
    }
  }

  async #pump(socket: Socket, body: Extract<OutgoingBody, { kind: 'stream' }>): Promise<void> {
    // From the first read on, the body is this attempt's: a chunk arriving after the attempt failed
    // goes to that read, so a retry would send the body without it (nginx, too, passes an unbuffered
    // body to the next server only while its sending has not started).
    body.pulled = true;
    for await (const chunk of body.source) {
      if (this.#stopSending || socket.destroyed) return;
      if (chunk.length === 0) continue;
      let more: boolean;
      if (body.chunked) {
        socket.cork();
        socket.write(chunkHeader(chunk.length));
        socket.write(chunk);
        more = socket.write(chunkTrailer());
        socket.uncork();
      } else {
        more = socket.write(chunk);
      }
      this.connection.noteProgress();
      if (!more) await this.#drained(socket);
    }
    if (this.#stopSending || socket.destroyed) return;
    if (body.chunked) socket.write(body.endChunk(), 'latin1');
    this.#requestSent = true;
  }

  #drained(socket: Socket): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    });
  }

  #settle(head: ResponseHead | null, failure: UpstreamFailure | null): void {
    const resolve = this.#resolve;
    const reject = this.#reject;
    this.#resolve = this.#reject = null;
    if (failure !== null) reject?.(failure);
    else resolve?.(head as ResponseHead);
  }

  /** Reads the final response head (1xx interim responses are skipped) and the body bytes that came with it. */
  #readHead(): void {
    const connection = this.connection;
    const parser = connection.parser;
    for (;;) {
      const event = parser.next();
      switch (event.kind) {
        case 'head': {
          const head = event.head;
          if (head.interim) {
            parser.next();
            parser.nextCycle();
            continue;
          }
          if (!this.#requestSent) this.#stopSending = true;
          if ((head.framing.kind === 'chunked' || head.framing.kind === 'close-delimited') && !relayableTransferCoding(head.headers)) {
            this.#settle(null, this.#failureOf('headers', 'unknown-transfer-encoding'));
            return;
          }
          this.#head = head;
          this.pool.noteResponse(connection, head);
          if (head.framing.kind !== 'switched') this.#takeBuffered(head);
          this.#settle(head, null);
          return;
        }
        case 'need-data':
          if (this.#failure !== null) this.#settle(null, this.#failureOf(this.#requestSent ? 'headers' : 'send', this.#failure));
          else connection.resume();
          return;
        case 'eof':
          this.#settle(null, this.#failureOf(this.#requestSent ? 'headers' : 'send', this.#failure ?? 'upstream-closed'));
          return;
        case 'error':
          this.#settle(null, this.#failureOf('headers', event.error.code));
          return;
        default:
          this.#settle(null, this.#failureOf('headers', `unexpected-${event.kind}`));
          return;
      }
    }
  }

  /** The body events already buffered: all of the body (`complete`, the connection released) or the pieces so far. */
  #takeBuffered(head: ResponseHead): void {
    const parser = this.connection.parser;
    for (;;) {
      const event = parser.next();
      if (event.kind === 'data') {
        this.pieces.push(event.bytes);
        continue;
      }
      if (event.kind === 'end') {
        this.trailers = event.trailers;
        this.complete = true;
        this.finish(head);
      }
      return;
    }
  }

  /** The next body piece, null at its end; throws an UpstreamFailure (phase body). */
  async nextPiece(): Promise<Buffer | null> {
    const connection = this.connection;
    const parser = connection.parser;
    for (;;) {
      const event = parser.next();
      switch (event.kind) {
        case 'data':
          if (connection.paused && parser.bufferedBytes === 0) connection.resume();
          return event.bytes;
        case 'end':
          this.trailers = event.trailers;
          this.finish(this.#head as ResponseHead);
          return null;
        case 'need-data':
          if (this.#failure !== null) throw this.abort('body', this.#failure);
          connection.resume();
          await this.#next();
          continue;
        case 'error':
          throw this.abort('body', event.error.code);
        default:
          throw this.abort('body', `unexpected-${event.kind}`);
      }
    }
  }

  /** The response was read to its end: pool the connection if everything about it allows. */
  finish(head: ResponseHead): void {
    if (this.#ended) return;
    const connection = this.connection;
    const parser = connection.parser;
    const persistent = head.version === '1.1' ? !head.connection.has('close') : head.connection.has('keep-alive');
    let reusable = false;
    if (!persistent || head.framing.kind === 'close-delimited') this.#release(false, 'upstream-close');
    else if (!this.#requestSent || this.#stopSending || this.#failure !== null) this.#release(false, 'unfinished');
    else if (parser.bufferedBytes > 0) this.#release(false, 'evicted-while-idle');
    else reusable = true;
    if (reusable) {
      parser.nextCycle();
      this.#release(true, 'unfinished');
    }
  }

  /** Ends the attempt with the connection closed: an UpstreamFailure to throw. */
  abort(phase: UpstreamPhase, code: string): UpstreamFailure {
    const failure = this.#failureOf(phase, code);
    this.#release(false, code === 'client-gone' ? 'client-gone' : 'error');
    return failure;
  }

  /** The client will not take the rest (it went away, or the server discards the body). */
  abandon(): void {
    this.#release(false, 'client-gone');
  }

  #release(reusable: boolean, reason: Parameters<UpstreamPool['release']>[2]): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#stopSending = true;
    const connection = this.#connection;
    if (connection === null) return;
    this.pool.release(connection, reusable, reason);
    this.pool.stats.outstanding--;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** The socket leaves for a tunnel (after a 101); the attempt is over. */
  handOff(): Socket {
    this.#ended = true;
    const socket = this.connection.handOff();
    this.pool.stats.outstanding--;
    return socket;
  }
}

/**
 * The response body as the server pulls it: the pieces already taken, then the rest from the
 * upstream. return() before the end closes the upstream connection (`client-gone`).
 */
export class RelayBody implements AsyncIterableIterator<Uint8Array> {
  readonly #attempt: Attempt;
  readonly #pieces: Buffer[];
  readonly #onFailure: (failure: UpstreamFailure) => void;
  #done = false;

  constructor(attempt: Attempt, onFailure: (failure: UpstreamFailure) => void) {
    this.#attempt = attempt;
    this.#pieces = attempt.pieces;
    this.#onFailure = onFailure;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<Uint8Array>> {
    if (this.#done) return DONE;
    const queued = this.#pieces.shift();
    if (queued !== undefined) return { done: false, value: queued };
    let piece: Buffer | null;
    try {
      piece = await this.#attempt.nextPiece();
    } catch (error) {
      this.#done = true;
      if (error instanceof UpstreamFailure) this.#onFailure(error);
      throw error;
    }
    if (piece === null) {
      this.#done = true;
      return DONE;
    }
    return { done: false, value: piece };
  }

  async return(): Promise<IteratorResult<Uint8Array>> {
    if (!this.#done) {
      this.#done = true;
      this.#attempt.abandon();
    }
    return DONE;
  }
}

/**
 * Bytes both ways between the client and the upstream after a 101, each direction with
 * backpressure (pipe); an end on one side ends the other once its bytes are out; an error or a
 * close on either side closes both. No byte in either direction for `idleLimitMs` closes both
 * (`onIdle` is told first), a half-closed tunnel still flushing included: nginx closes an upgraded connection idle for proxy_read_timeout.
 * Activity costs one clock read per chunk; one timer per tunnel, re-armed only when it fires, for
 * the time left since the last chunk.
 */
export function tunnel(client: Socket, clientHead: Buffer, upstream: Socket, upstreamHead: Buffer, idleLimitMs: number, onIdle: () => void): void {
  let lastActivityMs = performance.now();
  const moved = (): void => {
    lastActivityMs = performance.now();
  };
  const check = (): void => {
    const leftMs = lastActivityMs + idleLimitMs - performance.now();
    if (leftMs > 0) {
      idleTimer = setTimeout(check, leftMs);
      idleTimer.unref();
      return;
    }
    idleTimer = null;
    onIdle();
    closeBoth();
  };
  let idleTimer: NodeJS.Timeout | null = setTimeout(check, idleLimitMs);
  idleTimer.unref();
  const closeBoth = (): void => {
    client.destroy();
    upstream.destroy();
  };
  const closed = (): void => {
    if (!client.destroyed || !upstream.destroyed || idleTimer === null) return;
    clearTimeout(idleTimer);
    idleTimer = null;
  };
  client.on('error', closeBoth);
  upstream.on('error', closeBoth);
  client.on('close', () => {
    upstream.destroySoon();
    closed();
  });
  upstream.on('close', () => {
    client.destroySoon();
    closed();
  });
  client.on('data', moved);
  upstream.on('data', moved);
  if (upstreamHead.length > 0) client.write(upstreamHead);
  if (clientHead.length > 0) upstream.write(clientHead);
  client.pipe(upstream);
  upstream.pipe(client);
}
