/**
 * One loop per socket for its whole life — the seed's handleConnection:
 *   wait for a request (idle deadline) → read the head (headers deadline) → run the handler and
 *   write the response (backpressure, send deadline) → decide keep-alive (one pure function) →
 *   drain an unread body or close.
 *
 * Requests on a connection are answered strictly in order, one handler at a time; pipelined bytes
 * wait in the parser. The idle deadline is keepAliveTimeoutMs + keepAliveTimeoutBufferMs (node's
 * buffer), and before closing on idle the loop lets pending socket reads run and checks that no
 * request byte has arrived. A close is lingering (FIN, then read-and-discard for lingerMs or
 * maxLingerBytes) so a late client write never turns into an RST that wipes out the last response —
 * unless the client itself ended the connection with every byte read and sends nothing while the
 * response goes out (nginx's heuristic).
 * Every closed connection reports exactly one CloseReason. A bug of ours aborts this socket only.
 */

import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { ProtocolError } from '../http1/errors.js';
import { decideResponseFraming, type HttpVersion, type ResponseFraming } from '../http1/framing.js';
import { decideKeepAlive, keepAliveFieldValue, type CloseReason, type KeepAliveDecision, type KeepAliveFacts } from '../http1/keep-alive.js';
import { latin1, writeLatin1 } from '../http1/latin1.js';
import { RequestParser, type ParserLimits, type RequestHead } from '../http1/parser.js';
import { CONTINUE_HEAD, joinHeadAndBody, serializeResponseHead, type ResponseHeadInit } from '../http1/serializer.js';
import { HttpError, type ConnectionRef, type Handler, type HttpRequest, type HttpResponse, type RequestBody } from '../handlers/types.js';
import type { HeaderMap } from '../http1/header-map.js';
import { COARSE_CLOCK_SLACK_MS, coarseMonotonicMs, responseDate } from './clock.js';
import { Deadlines, type DeadlineKind } from './deadlines.js';
import { readIntoSharedBuffer } from './shared-read.js';
import type { ConnectionCloseEvent, ServerEvents } from './events.js';
import type { ResolvedOptions } from './options.js';
import type { ConnectionInfo, Lifecycle, Tracked } from './registry.js';
import { FileBody } from '../handlers/file-body.js';
import { discardBody, plainResponse, prepareResponse, writeStreamBody, type PreparedResponse } from './write-response.js';

export interface ConnectionContext {
  readonly options: ResolvedOptions;
  readonly limits: ParserLimits;
  readonly handler: Handler;
  isShuttingDown(): boolean;
  emit<K extends keyof ServerEvents>(event: K, ...args: ServerEvents[K]): void;
  /** Whether anyone listens for `request` events (timing is skipped otherwise). */
  wantsRequestEvents(): boolean;
  /** Whether connection open/close events are observed: the peer address is then read at accept. */
  wantsConnectionEvents(): boolean;
  /** Parsers for connections that are between requests with nothing buffered (they hold none). */
  readonly parsers: ParserPool;
  onClosed(connection: Connection, event: ConnectionCloseEvent): void;
}

type BodyState = 'complete' | 'pending' | 'failed';

interface Pull {
  resolve(result: IteratorResult<Uint8Array>): void;
  reject(error: unknown): void;
}

/** One request and its response; while it runs it is also the connection's phase. */
export class Exchange {
  readonly kind = 'exchange';
  readonly head: RequestHead;
  readonly index: number;
  /** performance.now() at the head, or 0 when nobody listens for request events. */
  readonly startedAt: number;
  bodyState: BodyState;
  bodyBytesRead = 0;
  drainedBytes = 0;
  continueSent = false;
  /** Response head bytes were queued: no other response can be sent for this request. */
  responseStarted = false;
  /** The handler's answer was taken (or will be discarded). */
  settled = false;
  /** The server answered on its own (error, timeout) or the connection is gone: the handler is ignored. */
  abandoned = false;
  /** The unread rest of the body is being discarded after the response. */
  draining = false;
  /** The request deadline passed while the response was being written. */
  requestTimedOut = false;
  pull: Pull | null = null;
  status = 0;
  bytesOut = 0;

  constructor(head: RequestHead, index: number, timed: boolean) {
    this.head = head;
    this.index = index;
    this.startedAt = timed ? performance.now() : 0;
    this.bodyState = head.framing.kind === 'none' ? 'complete' : 'pending';
  }
}

type Phase =
  | { kind: 'waiting' }
  | { kind: 'reading-head' }
  | Exchange
  | { kind: 'closing' }
  | { kind: 'closed' };

const WAITING: Phase = Object.freeze({ kind: 'waiting' });
const READING_HEAD: Phase = Object.freeze({ kind: 'reading-head' });
const CLOSING: Phase = Object.freeze({ kind: 'closing' });
const CLOSED: Phase = Object.freeze({ kind: 'closed' });
const OWNER = Symbol('holdfast.connection');
type OwnedSocket = Socket & { [OWNER]: Connection };

const NO_TOKENS: ReadonlySet<string> = new Set<string>();
const FACTS: KeepAliveFacts = {
  serverVersion: '1.1',
  requestVersion: '1.1',
  requestConnection: NO_TOKENS,
  responseConnectionClose: false,
  responseFraming: 'length',
  requestBodyDrainable: true,
  peerEnded: false,
  requestsServed: 0,
  maxRequestsPerConnection: 0,
  lifetimeExceeded: false,
  shuttingDown: false,
};
const HEAD_INIT: ResponseHeadInit = {
  version: '1.1',
  status: 200,
  headers: undefined,
  contentLength: null,
  chunked: false,
  connection: null,
  keepAlive: null,
  date: '',
};

/** Connection flags. */
const PEER_ENDED = 1; // the peer sent FIN
const READ_PAUSED = 2; // reading is stopped
const WRITE_BLOCKED = 4; // the peer is not taking our bytes
const PUMPING = 8; // #pump is on the stack
const BATCHING = 16; // pipelined responses collect in #outText
const NO_LINGER = 32; // no lingering read: evicted idle, or the client ended the connection with everything read
const READ_FULL = 64; // the last read filled the read buffer: more bytes may be waiting in the kernel
/** node's read size (and the shared read buffer's): a read this long may not have drained the socket. */
const READ_BUFFER_BYTES = 65_536;

/** Bodies up to this size are copied next to their head and written once; larger ones go by writev. */
const SMALL_BODY_BYTES = 16_384;
/** A batch of pipelined responses is written once it reaches this many characters. */
const BATCH_FLUSH_CHARS = 65_536;
const DONE: IteratorResult<Uint8Array> = Object.freeze({ done: true, value: undefined });

export class Connection extends Deadlines implements Tracked {
  readonly id: number;
  readonly socket: Socket;
  readonly #ctx: ConnectionContext;
  /** The idle sentinel (shared, never fed) while between requests with nothing buffered. */
  #parser: RequestParser;
  /** Monotonic whole ms when accepted (an integer field: no boxed double per connection). */
  readonly #openedAt = Math.floor(performance.now());
  #phase: Phase = WAITING;
  #requestsServed = 0;
  #closeReason: CloseReason | null = null;
  #outText = '';
  /** Bumped whenever the idle wait starts or ends, so a stale idle check does nothing. */
  #idleGeneration = 0;
  /** When the connection last became idle (monotonic ms). */
  #idleSinceMs = this.#openedAt;
  /** Bytes counted in the current window: request body bytes per rate second, or bytes read while lingering. */
  #windowBytes = 0;
  /** The boolean states below, packed into one small integer (an idle connection should be small). */
  #flags = 0;
  #drainWaiters: Array<{ resolve(): void; reject(error: Error): void }> | null = null;

  constructor(id: number, socket: Socket, ctx: ConnectionContext) {
    super();
    this.id = id;
    this.socket = socket;
    this.#ctx = ctx;
    this.#parser = ctx.parsers.idle;
    // node caches the peer address on the socket once read; it cannot be read after the close.
    if (ctx.wantsConnectionEvents()) void socket.remoteAddress;
    // Shared listeners (no closures per connection): an idle connection should cost little memory.
    (socket as OwnedSocket)[OWNER] = this;
    if (!readIntoSharedBuffer(socket, Connection.#socketRead)) socket.on('data', Connection.#socketData);
    socket.on('end', Connection.#socketEnd);
    socket.on('error', Connection.#socketError);
    socket.on('close', Connection.#socketClose);
    socket.on('drain', Connection.#socketDrain);
    this.#armIdle();
  }

  static #socketData = function (this: OwnedSocket, chunk: Buffer): void {
    this[OWNER].#onData(chunk);
  };
  /** A read into the shared buffer: parsed in place, and what is left unparsed is copied. */
  static #socketRead = function (this: Socket, nread: number, bytes: Buffer): void {
    (this as OwnedSocket)[OWNER].#onData(bytes, nread, true);
  };
  static #socketEnd = function (this: OwnedSocket): void {
    this[OWNER].#onEnd();
  };
  static #socketError = function (this: OwnedSocket, error: NodeJS.ErrnoException): void {
    this[OWNER].#onError(error);
  };
  static #socketClose = function (this: OwnedSocket): void {
    this[OWNER].#onClose();
  };
  static #socketDrain = function (this: OwnedSocket): void {
    this[OWNER].#onDrain();
  };
  static #socketFinish = function (this: OwnedSocket): void {
    this[OWNER].#onFinish();
  };
  static #idleCheckOf = (connection: Connection, generation: number): void => connection.#idleCheck(generation);

  get #remoteAddress(): string {
    return this.socket.remoteAddress ?? '';
  }

  get #peerEnded(): boolean {
    return (this.#flags & PEER_ENDED) !== 0;
  }
  set #peerEnded(on: boolean) {
    this.#flags = on ? this.#flags | PEER_ENDED : this.#flags & ~PEER_ENDED;
  }
  get #readPaused(): boolean {
    return (this.#flags & READ_PAUSED) !== 0;
  }
  set #readPaused(on: boolean) {
    this.#flags = on ? this.#flags | READ_PAUSED : this.#flags & ~READ_PAUSED;
  }
  get #writeBlocked(): boolean {
    return (this.#flags & WRITE_BLOCKED) !== 0;
  }
  set #writeBlocked(on: boolean) {
    this.#flags = on ? this.#flags | WRITE_BLOCKED : this.#flags & ~WRITE_BLOCKED;
  }
  get #pumping(): boolean {
    return (this.#flags & PUMPING) !== 0;
  }
  set #pumping(on: boolean) {
    this.#flags = on ? this.#flags | PUMPING : this.#flags & ~PUMPING;
  }
  get #batching(): boolean {
    return (this.#flags & BATCHING) !== 0;
  }
  set #batching(on: boolean) {
    this.#flags = on ? this.#flags | BATCHING : this.#flags & ~BATCHING;
  }
  get #noLinger(): boolean {
    return (this.#flags & NO_LINGER) !== 0;
  }
  set #noLinger(on: boolean) {
    this.#flags = on ? this.#flags | NO_LINGER : this.#flags & ~NO_LINGER;
  }

  get maxBodyBytes(): number {
    return this.#ctx.options.maxBodyBytes;
  }

  get lifecycle(): Lifecycle {
    switch (this.#phase.kind) {
      case 'waiting':
        return this.#requestsServed === 0 ? 'new' : 'idle';
      case 'reading-head':
      case 'exchange':
        return 'active';
      case 'closing':
        return 'closing';
      case 'closed':
        return 'closed';
    }
  }

  info(): ConnectionInfo {
    return {
      id: this.id,
      remoteAddress: this.#remoteAddress,
      remotePort: this.socket.remotePort ?? 0,
      state: this.lifecycle,
      requestsServed: this.#requestsServed,
      openedAt: Math.round(performance.timeOrigin + this.#openedAt),
    };
  }

  /**
   * Graceful shutdown: a connection idle for shutdownMinIdleMs closes now, one idle for less closes
   * when it reaches it (a client about to send is answered, with `Connection: close`); in-flight
   * responses carry `Connection: close`.
   */
  shutdown(): void {
    if (this.#phase.kind === 'waiting' && this.#parser.bufferedBytes === 0) this.#closeWhenIdleEnough();
  }

  /** True when the connection is between requests with nothing buffered: the first to go under pressure. */
  get isIdle(): boolean {
    return this.#phase.kind === 'waiting' && this.#parser.bufferedBytes === 0;
  }

  get isClosing(): boolean {
    return this.#phase.kind === 'closing';
  }

  /** Closes an idle connection to make room (maxConnections reached): FIN, then gone, no lingering. */
  evict(): void {
    if (!this.isIdle) return;
    this.#noLinger = true;
    this.#close('connection-limit');
  }

  /** Destroys the socket now, keeping the close reason already chosen (or the one given). */
  destroyNow(reason: CloseReason): void {
    if (this.#phase.kind === 'closed') return;
    this.#closeReason ??= reason;
    this.socket.destroy();
  }

  #closeWhenIdleEnough(): void {
    const idleForMs = performance.now() - this.#idleSinceMs;
    const waitMs = this.#ctx.options.shutdownMinIdleMs - idleForMs;
    if (waitMs <= 0) this.#close('shutdown');
    else this.setDeadline('idle', waitMs);
  }


  // ── socket events (each guarded: a bug of ours aborts this socket, never the process) ──

  /**
   * Bytes from the socket: `chunk[0, length)`. A `borrowed` chunk is the shared read buffer, valid
   * only during this call: the parser reads it in place (when it holds nothing else) and keeps a
   * copy of whatever it did not consume.
   */
  #onData(chunk: Buffer, length = chunk.length, borrowed = false): void {
    let lent: RequestParser | null = null;
    this.#flags = length >= READ_BUFFER_BYTES ? this.#flags | READ_FULL : this.#flags & ~READ_FULL;
    try {
      const phase = this.#phase;
      if (phase.kind === 'closing') {
        this.#windowBytes += length;
        if (this.#windowBytes > this.#ctx.options.maxLingerBytes) this.socket.destroy();
        return;
      }
      if (phase.kind === 'closed') return;
      if (this.#parser === this.#ctx.parsers.idle) this.#parser = this.#ctx.parsers.take();
      const parser = this.#parser;
      if (borrowed && parser.feedBorrowed(chunk, length)) lent = parser;
      else parser.feed(borrowed ? copyOf(chunk, length) : chunk);
      if (phase.kind === 'exchange') {
        this.#windowBytes += length;
        this.#continueExchange(phase);
      } else {
        if (phase.kind === 'waiting') this.#beginRequest(false);
        // Responses to every request in this chunk that can be answered now leave in one write.
        this.#batching = true;
        try {
          this.#pump();
        } finally {
          this.#batching = false;
          this.#flushText();
          this.#noteWriteBuffer();
        }
        // A head still incomplete: its deadlines count from this chunk (a complete one needs none).
        if (this.#phase.kind === 'reading-head' && !this.hasDeadline('headers')) this.#armRequestDeadlines();
      }
      lent?.release();
      lent = null;
      this.#updateReading();
    } catch (error) {
      lent?.release();
      this.#internalError(error);
    }
  }

  #onEnd(): void {
    try {
      this.#peerEnded = true;
      const phase = this.#phase;
      if (phase.kind === 'closing') {
        if (this.socket.writableFinished) this.socket.destroy();
        return;
      }
      if (phase.kind === 'closed') return;
      if (this.#parser === this.#ctx.parsers.idle) this.#parser = this.#ctx.parsers.take();
      this.#parser.feedEof();
      if (phase.kind === 'exchange') this.#continueExchange(phase);
      else this.#pump();
    } catch (error) {
      this.#internalError(error);
    }
  }


  #onError(error: NodeJS.ErrnoException): void {
    const code = error.code;
    this.#closeReason ??= code === 'ECONNRESET' || code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' ? 'peer-reset' : 'write-error';
  }


  /**
   * While closing: no lingering read is needed (the peer sent FIN, or said it was done and has sent
   * nothing since, or lingering is off). A client that said it was done but sent more while the
   * response went out is still sending: closing at once could answer its next bytes with an RST that
   * wipes out the response it has not read yet. An idle connection evicted to make room goes at once.
   */
  #closesAtOnce(): boolean {
    const quiet = this.#windowBytes === 0 || this.#closeReason === 'connection-limit';
    return this.#peerEnded || (this.#noLinger && quiet) || this.#ctx.options.lingerMs === 0;
  }

  #onFinish(): void {
    if (this.#phase.kind !== 'closing') return;
    if (this.#closesAtOnce()) {
      this.socket.destroy();
      return;
    }
    this.clearDeadline('send');
    this.setDeadline('linger', this.#ctx.options.lingerMs);
  }


  #onDrain(): void {
    try {
      this.#writeBlocked = false;
      this.clearDeadline('send');
      const waiters = this.#drainWaiters;
      if (waiters !== null) {
        this.#drainWaiters = null;
        for (const waiter of waiters) waiter.resolve();
      }
      if (this.#phase.kind === 'waiting' || this.#phase.kind === 'reading-head') this.#pump();
      this.#updateReading();
    } catch (error) {
      this.#internalError(error);
    }
  }


  #onClose(): void {
    const phase = this.#phase;
    this.#phase = CLOSED;
    this.clearDeadlines();
    const waiters = this.#drainWaiters;
    if (waiters !== null) {
      this.#drainWaiters = null;
      const gone = new Error('connection closed');
      for (const waiter of waiters) waiter.reject(gone);
    }
    if (phase.kind === 'exchange') this.#abandon(phase, 'connection closed');
    const reason = this.#closeReason ?? 'peer-reset';
    this.#closeReason = reason;
    this.#ctx.onClosed(this, {
      connectionId: this.id,
      remoteAddress: this.#remoteAddress,
      reason,
      requestsServed: this.#requestsServed,
      bytesIn: this.socket.bytesRead,
      bytesOut: this.socket.bytesWritten,
      lifetimeMs: Math.floor(performance.now()) - this.#openedAt,
    });
  }


  protected override deadlineExpired(kind: DeadlineKind): void {
    try {
      this.#deadlineExpired(kind);
    } catch (error) {
      this.#internalError(error);
    }
  }

  #deadlineExpired(kind: DeadlineKind): void {
    const phase = this.#phase;
    switch (kind) {
      case 'idle':
        if (phase.kind === 'waiting') {
          // Let the poll phase deliver bytes that arrived while the event loop was busy; the
          // generation tells whether a request came and went meanwhile.
          setImmediate(Connection.#idleCheckOf, this, this.#idleGeneration);
        }
        return;
      case 'headers':
        if (phase.kind === 'reading-head') this.#writeErrorAndClose(408, 'headers-timeout');
        return;
      case 'request':
        if (phase.kind === 'reading-head') {
          this.#writeErrorAndClose(408, 'request-timeout');
        } else if (phase.kind === 'exchange' && phase.bodyState === 'pending') {
          const ex = phase;
          if (ex.draining) this.#close('request-timeout');
          else if (ex.responseStarted) ex.requestTimedOut = true;
          else if (!this.#parser.bodyFullyReceived) {
            this.#abandon(ex, 'incomplete-message');
            this.#writeErrorAndClose(408, 'request-timeout');
          }
        }
        return;
      case 'rate':
        if (phase.kind === 'exchange' && phase.bodyState === 'pending' && !this.#parser.bodyFullyReceived) {
          const ex = phase;
          if (this.#windowBytes >= this.#ctx.options.minBodyBytesPerSecond) {
            this.#windowBytes = 0;
            this.setDeadline('rate', 1000);
          } else if (ex.draining || ex.responseStarted) {
            this.#close('slow-body');
          } else {
            this.#abandon(ex, 'incomplete-message');
            this.#writeErrorAndClose(408, 'slow-body');
          }
        }
        return;
      case 'handler':
        if (phase.kind === 'exchange' && !phase.responseStarted && !phase.abandoned) {
          this.#abandon(phase, 'handler timed out');
          this.#writeErrorAndClose(503, 'handler-timeout');
        }
        return;
      case 'send':
        this.#abort('send-timeout');
        return;
      case 'linger':
        this.socket.destroy();
        return;
    }
  }

  #idleCheck(generation: number): void {
    try {
      if (generation !== this.#idleGeneration) return;
      if (this.#phase.kind === 'waiting' && this.#parser.bufferedBytes === 0) this.#close(this.#ctx.isShuttingDown() ? 'shutdown' : 'idle-timeout');
    } catch (error) {
      this.#internalError(error);
    }
  }


  // ── the loop ───────────────────────────────────────────────────────────────

  /** The first byte of a request arrived: the idle wait ends; the head's deadlines start now or after parsing. */
  #beginRequest(armDeadlines: boolean): void {
    this.#phase = READING_HEAD;
    this.#idleGeneration++;
    this.clearDeadline('idle');
    if (!this.#writeBlocked) this.clearDeadline('send');
    if (armDeadlines) this.#armRequestDeadlines();
  }

  #armRequestDeadlines(): void {
    this.setDeadline('headers', this.#ctx.options.headersTimeoutMs);
    this.setDeadline('request', this.#ctx.options.requestTimeoutMs);
  }

  /** Parses and starts requests while the connection is between exchanges. Never recursive. */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      for (;;) {
        const phase = this.#phase;
        if (phase.kind !== 'waiting' && phase.kind !== 'reading-head') return;
        if (this.#writeBlocked || this.#parser === this.#ctx.parsers.idle) return;
        const event = this.#parser.next();
        switch (event.kind) {
          case 'head':
            this.#startExchange(event.head);
            break;
          case 'need-data':
            if (phase.kind === 'waiting' && this.#parser.bufferedBytes > 0) this.#beginRequest(true);
            return;
          case 'eof':
            this.#close('peer-eof');
            return;
          case 'error':
            this.#protocolError(event.error, null);
            return;
          default:
            throw new Error(`parser produced ${event.kind} between messages`);
        }
      }
    } finally {
      this.#pumping = false;
    }
  }

  #startExchange(head: RequestHead): void {
    const ex = new Exchange(head, ++this.#requestsServed, this.#ctx.wantsRequestEvents());
    this.#phase = ex;
    this.#idleGeneration++;
    this.clearDeadline('idle');
    this.clearDeadline('headers');
    if (ex.bodyState === 'complete') {
      this.#parser.next(); // the `end` of a bodiless message
      this.clearDeadline('request');
    } else {
      if (!this.hasDeadline('request')) this.setDeadline('request', this.#ctx.options.requestTimeoutMs);
      if (this.#ctx.options.minBodyBytesPerSecond > 0 && !this.#parser.bodyFullyReceived) {
        this.#windowBytes = 0;
        this.setDeadline('rate', 1000);
      }
    }
    if (this.#ctx.options.handlerTimeoutMs > 0) this.setDeadline('handler', this.#ctx.options.handlerTimeoutMs);
    let result: HttpResponse | Promise<HttpResponse>;
    try {
      result = this.#ctx.handler(this.#buildRequest(ex));
      if (result !== null && typeof (result as Promise<HttpResponse>).then === 'function') {
        // node caches the peer address once read: read it while the socket is surely open, so a
        // handler that asks after an await (the client may have reset by then) still gets it. A
        // synchronous handler asks while the socket is open; it does not pay for a getpeername(2).
        void this.socket.remoteAddress;
        (result as Promise<HttpResponse>).then(
          (response) => this.#guarded(() => this.#handlerAnswered(ex, response)),
          (error: unknown) => this.#guarded(() => this.#handlerFailed(ex, error)),
        );
        return;
      }
    } catch (error) {
      this.#handlerFailed(ex, error);
      return;
    }
    this.#handlerAnswered(ex, result as HttpResponse);
  }

  #guarded(step: () => void): void {
    try {
      step();
    } catch (error) {
      this.#internalError(error);
    }
  }

  /** New bytes (or EOF) while an exchange is in progress. */
  #continueExchange(ex: Exchange): void {
    if (ex.draining) {
      this.#drainBody(ex);
    } else if (ex.pull !== null) {
      const pull = ex.pull;
      ex.pull = null;
      this.#serveBodyPull(ex, pull);
    }
  }

  #handlerAnswered(ex: Exchange, response: HttpResponse): void {
    if (ex.settled || ex.abandoned) {
      discardBody((response as Partial<HttpResponse> | null)?.body);
      return;
    }
    let prepared: PreparedResponse;
    try {
      prepared = prepareResponse(response);
    } catch (error) {
      discardBody((response as Partial<HttpResponse> | null)?.body);
      this.#handlerFailed(ex, error);
      return;
    }
    ex.settled = true;
    this.#respond(ex, prepared);
  }

  #handlerFailed(ex: Exchange, error: unknown): void {
    if (ex.settled || ex.abandoned) return;
    ex.settled = true;
    if (error instanceof HttpError) {
      let prepared: PreparedResponse | null = null;
      try {
        prepared = prepareResponse(plainResponse(error.status, error.message, error.headers));
      } catch (invalid) {
        this.#ctx.emit('handler-error', { connectionId: this.id, requestIndex: ex.index, error: invalid });
      }
      this.#respond(ex, prepared ?? prepareResponse(plainResponse(500)));
      return;
    }
    this.#ctx.emit('handler-error', { connectionId: this.id, requestIndex: ex.index, error });
    if (!ex.responseStarted) this.#respond(ex, prepareResponse(plainResponse(500)));
    else this.#abort('handler-error');
  }

  #respond(ex: Exchange, prepared: PreparedResponse): void {
    if (this.#phase.kind !== 'exchange' || this.#phase !== ex || ex.abandoned) {
      discardBody(prepared.stream);
      return;
    }
    this.clearDeadline('handler');
    const options = this.#ctx.options;
    const head = ex.head;
    const serverVersion = options.httpVersion;
    const peerVersion: HttpVersion = serverVersion === '1.0' || head.version === '1.0' ? '1.0' : '1.1';
    const framing = decideResponseFraming(head.method, prepared.status, prepared.shape, peerVersion);
    // The facts and the head's fields go through two reused objects: #respond runs to completion
    // before it can run again, and one response then allocates two objects fewer.
    const facts = FACTS;
    facts.serverVersion = serverVersion;
    facts.requestVersion = head.version;
    facts.requestConnection = head.connection;
    facts.responseConnectionClose = prepared.connectionClose;
    facts.responseFraming = framing;
    facts.requestBodyDrainable = this.#isBodyDrainable(ex);
    // A FIN ends the connection only once nothing more was sent before it (pipelined requests are answered).
    facts.peerEnded = this.#peerEnded && this.#parser.bufferedBytes === 0 && this.#parser.bodyFullyReceived;
    facts.requestsServed = this.#requestsServed;
    facts.maxRequestsPerConnection = options.maxRequestsPerConnection;
    const maxLifetimeMs = options.maxConnectionLifetimeMs;
    // The coarse clock (at most about a second behind) rules out most responses; a candidate is
    // confirmed on the real one.
    facts.lifetimeExceeded =
      maxLifetimeMs > 0 && coarseMonotonicMs() - this.#openedAt >= maxLifetimeMs - COARSE_CLOCK_SLACK_MS && performance.now() - this.#openedAt >= maxLifetimeMs;
    facts.shuttingDown = this.#ctx.isShuttingDown();
    const decision = decideKeepAlive(facts);
    facts.requestConnection = NO_TOKENS;

    let headText: string;
    const init = HEAD_INIT;
    try {
      // A file is opened before its head goes out: one that cannot be sent is still a clean 500.
      if (framing !== 'none' && prepared.stream instanceof FileBody) prepared.stream.open();
      init.version = serverVersion;
      init.status = prepared.status;
      init.contentLength = contentLengthField(framing, prepared, head.method);
      init.chunked = framing === 'chunked';
      init.connection = decision.keepAlive ? 'keep-alive' : 'close';
      init.keepAlive = decision.keepAlive ? keepAliveFieldValue(options.keepAliveTimeoutMs, decision.remaining) : null;
      init.date = responseDate();
      headText = serializeResponseHead(init, prepared.block);
    } catch (error) {
      discardBody(prepared.stream);
      this.#ctx.emit('handler-error', { connectionId: this.id, requestIndex: ex.index, error });
      this.#respond(ex, prepareResponse(plainResponse(500)));
      return;
    }

    ex.responseStarted = true;
    ex.status = prepared.status;
    const socket = this.socket;
    if (framing === 'none' || prepared.stream === null) {
      discardBody(prepared.stream);
      const payload = framing === 'none' ? null : prepared.payload;
      if (payload === null || payload.length === 0) {
        this.#writeText(headText);
      } else if (typeof payload === 'string') {
        // An ASCII body (as many bytes as characters) encodes the same in latin1: one write for both.
        if (prepared.shape.kind === 'sized' && prepared.shape.length === payload.length) {
          this.#writeText(joinHeadAndBody(headText, payload));
        } else {
          this.#flushText();
          socket.cork();
          socket.write(headText, 'latin1');
          socket.write(payload, 'utf8');
          socket.uncork();
        }
        ex.bytesOut = prepared.shape.kind === 'sized' ? prepared.shape.length : 0;
      } else if (payload.length <= SMALL_BODY_BYTES) {
        // A small body (a cached static file, say) leaves with its head in one write: as one buffer,
        // or as latin1 text (one byte per character, lossless) joining a batch of pipelined responses.
        if (this.#batching && (this.#outText !== '' || this.#parser.bufferedBytes > 0)) {
          this.#writeText(headText + latin1(Buffer.from(payload.buffer, payload.byteOffset, payload.length), 0, payload.length));
        } else {
          this.#flushText();
          const out = Buffer.allocUnsafe(headText.length + payload.length);
          writeLatin1(out, headText, 0);
          out.set(payload, headText.length);
          socket.write(out);
        }
        ex.bytesOut = payload.length;
      } else {
        this.#flushText();
        socket.cork();
        socket.write(headText, 'latin1');
        socket.write(payload);
        socket.uncork();
        ex.bytesOut = payload.length;
      }
      this.#noteWriteBuffer();
      this.#responseDone(ex, decision);
      return;
    }
    // A streamed body's producer runs later, as an awaiting handler does: keep the peer address.
    if (!(prepared.stream instanceof FileBody)) void socket.remoteAddress;
    this.#flushText();
    socket.write(headText, 'latin1');
    writeStreamBody(socket, prepared.stream, framing, prepared.declaredLength, () => this.#waitDrain()).then(
      (written) =>
        this.#guarded(() => {
          ex.bytesOut = written;
          this.#noteWriteBuffer();
          this.#responseDone(ex, decision);
        }),
      (error: unknown) =>
        this.#guarded(() => {
          if (this.#phase.kind === 'closed' || this.#phase.kind === 'closing') return;
          this.#ctx.emit('handler-error', { connectionId: this.id, requestIndex: ex.index, error });
          this.#abort('handler-error');
        }),
    );
  }

  #isBodyDrainable(ex: Exchange): boolean {
    if (ex.bodyState === 'complete') return true;
    if (ex.bodyState === 'failed') return false;
    // RFC 9110 §10.1.1: without 100 Continue the client may never send the body (Go closes too).
    if (ex.head.expectContinue && !ex.continueSent) return false;
    const framing = ex.head.framing;
    if (framing.kind === 'length') return framing.length - ex.bodyBytesRead <= this.#ctx.options.maxDrainBytes;
    return true;
  }

  /** The response is queued on the socket: log it, then keep the connection or close it. */
  #responseDone(ex: Exchange, decision: KeepAliveDecision): void {
    if (this.#phase.kind !== 'exchange' || this.#phase !== ex) return;
    if (ex.startedAt !== 0) this.#ctx.emit('request', {
      connectionId: this.id,
      requestIndex: ex.index,
      method: ex.head.method,
      target: ex.head.target,
      status: ex.status,
      bytes: ex.bytesOut,
      durationMs: performance.now() - ex.startedAt,
      keepAlive: decision.keepAlive,
    });
    if (!decision.keepAlive) {
      // The client said this request is its last (Connection: close, or HTTP/1.0 without
      // keep-alive) and every byte it sent is read: it will send nothing more, so no late write can
      // turn into an RST — close at once after the FIN, as nginx's lingering_close heuristic does.
      // A close the server decided (max requests, shutdown…) still lingers: the client may be sending.
      // (A read that filled the buffer may have left bytes in the kernel: those would draw the RST.)
      if (ex.bodyState === 'complete' && this.#parser.bufferedBytes === 0 && (this.#flags & READ_FULL) === 0 && clientEndsConnection(ex.head)) this.#noLinger = true;
      this.#close(decision.reason);
      return;
    }
    if (ex.bodyState === 'pending') {
      if (ex.requestTimedOut) {
        this.#close('request-timeout');
        return;
      }
      // The handler is done with this request: a read it left pending ends here.
      const pull = ex.pull;
      ex.pull = null;
      pull?.resolve(DONE);
      ex.draining = true;
      this.#drainBody(ex);
      return;
    }
    this.#nextCycle();
  }

  #nextCycle(): void {
    const parser = this.#parser;
    parser.nextCycle();
    this.#phase = WAITING;
    if (parser.bufferedBytes === 0) {
      if (parser.isPristine) {
        this.#parser = this.#ctx.parsers.idle;
        this.#ctx.parsers.release(parser);
      }
      this.#armIdle();
      if (this.#ctx.isShuttingDown()) this.#closeWhenIdleEnough();
    }
    this.#updateReading();
    this.#pump();
  }

  /** The keep-alive idle deadline (a new connection waits for its first request the same way). */
  #armIdle(): void {
    this.#idleGeneration++;
    const nowMs = performance.now();
    this.#idleSinceMs = Math.floor(nowMs);
    this.setDeadline('idle', this.#ctx.options.keepAliveTimeoutMs + this.#ctx.options.keepAliveTimeoutBufferMs, nowMs);
  }

  #drainBody(ex: Exchange): void {
    for (;;) {
      const event = this.#parser.next();
      switch (event.kind) {
        case 'data':
          ex.drainedBytes += event.bytes.length;
          if (ex.drainedBytes > this.#ctx.options.maxDrainBytes) {
            this.#close('unread-body');
            return;
          }
          break;
        case 'end':
          ex.bodyState = 'complete';
          ex.draining = false;
          this.clearDeadline('request');
          this.clearDeadline('rate');
          this.#nextCycle();
          return;
        case 'need-data':
          this.#updateReading();
          return;
        case 'error':
          ex.bodyState = 'failed';
          if (event.error.code === 'incomplete-message' && this.#peerEnded) {
            this.#close('peer-eof');
            return;
          }
          this.#ctx.emit('protocol-error', { connectionId: this.id, code: event.error.code, status: event.error.status });
          this.#close('protocol-error');
          return;
        default:
          throw new Error(`parser produced ${event.kind} inside a body`);
      }
    }
  }

  // ── request body ───────────────────────────────────────────────────────────

  /** Called by the request body's iterator. */
  pullBody(ex: Exchange): Promise<IteratorResult<Uint8Array>> {
    if (ex.bodyState === 'complete') return Promise.resolve(DONE);
    if (ex.bodyState === 'failed') return Promise.reject(new ProtocolError('incomplete-message'));
    if (this.#phase.kind !== 'exchange' || this.#phase !== ex || ex.abandoned || ex.draining) {
      return Promise.reject(new Error('the request body can no longer be read'));
    }
    if (ex.pull !== null) return Promise.reject(new Error('the request body is already being read'));
    if (ex.head.expectContinue && !ex.continueSent && !ex.responseStarted && this.#ctx.options.httpVersion === '1.1') {
      ex.continueSent = true;
      this.#flushText();
      this.socket.write(CONTINUE_HEAD, 'latin1');
    }
    return new Promise((resolve, reject) => this.#serveBodyPull(ex, { resolve, reject }));
  }

  #serveBodyPull(ex: Exchange, pull: Pull): void {
    const event = this.#parser.next();
    switch (event.kind) {
      case 'data':
        ex.bodyBytesRead += event.bytes.length;
        pull.resolve({ done: false, value: event.bytes });
        this.#updateReading();
        return;
      case 'end':
        ex.bodyState = 'complete';
        this.clearDeadline('request');
        this.clearDeadline('rate');
        pull.resolve(DONE);
        return;
      case 'need-data':
        ex.pull = pull;
        this.#updateReading();
        return;
      case 'error':
        ex.bodyState = 'failed';
        pull.reject(event.error);
        this.#protocolError(event.error, ex);
        return;
      default:
        pull.reject(new Error(`parser produced ${event.kind} inside a body`));
    }
  }

  /**
   * The handler's answer will be ignored; a pending body read fails with `why` (an Error is built
   * only when someone is waiting: capturing a stack on every close is measurable).
   */
  #abandon(ex: Exchange, why: 'incomplete-message' | string | ProtocolError): void {
    ex.abandoned = true;
    this.clearDeadline('handler');
    const pull = ex.pull;
    if (pull === null) return;
    ex.pull = null;
    pull.reject(why instanceof ProtocolError ? why : why === 'incomplete-message' ? new ProtocolError('incomplete-message') : new Error(why));
  }


  #buildRequest(ex: Exchange): HttpRequest {
    const head = ex.head;
    const target = head.target;
    let pathStart = 0;
    if (head.targetForm === 'absolute') {
      // http://authority[/path][?query]: the path starts at the first '/' or '?' after the authority.
      const authorityStart = target.indexOf('//') + 2;
      let end = authorityStart;
      while (end < target.length && target.charCodeAt(end) !== 0x2f && target.charCodeAt(end) !== 0x3f) end++;
      pathStart = end;
    }
    const q = target.indexOf('?', pathStart);
    const path = head.targetForm === 'asterisk' ? '*' : target.slice(pathStart, q === -1 ? target.length : q) || '/';
    return new ServerRequest(this, ex, path, q === -1 ? '' : target.slice(q + 1));
  }

  // ── errors, timeouts, closing ──────────────────────────────────────────────

  #protocolError(error: ProtocolError, ex: Exchange | null): void {
    if (ex !== null) {
      if (error.code === 'incomplete-message' && this.#peerEnded && ex.responseStarted) {
        this.#close('peer-eof');
        return;
      }
      this.#abandon(ex, error);
      if (ex.responseStarted) {
        this.#ctx.emit('protocol-error', { connectionId: this.id, code: error.code, status: error.status });
        this.#abort('protocol-error');
        return;
      }
    }
    this.#ctx.emit('protocol-error', { connectionId: this.id, code: error.code, status: error.status });
    this.#writeErrorAndClose(error.status, 'protocol-error');
  }

  /** A response of our own (4xx/5xx) with `Connection: close`, then a lingering close. */
  #writeErrorAndClose(status: number, reason: CloseReason): void {
    if (this.#phase.kind === 'closing' || this.#phase.kind === 'closed') return;
    const response = plainResponse(status);
    const body = response.body as string;
    const head = serializeResponseHead({
      version: this.#ctx.options.httpVersion,
      status,
      headers: response.headers,
      contentLength: body.length,
      chunked: false,
      connection: 'close',
      keepAlive: null,
      date: responseDate(),
    });
    this.#writeText(head + body);
    this.#close(reason);
  }

  /** Lingering close: FIN after the queued response, then read and discard for a bounded time. */
  #close(reason: CloseReason): void {
    const phase = this.#phase;
    if (phase.kind === 'closing' || phase.kind === 'closed') return;
    this.#closeReason ??= reason;
    this.#phase = CLOSING;
    this.#windowBytes = 0; // now counts the bytes read while lingering
    this.clearDeadlines();
    if (phase.kind === 'exchange') this.#abandon(phase, 'connection closing');
    if (this.#readPaused) {
      this.#readPaused = false;
      this.socket.resume();
    }
    this.#flushText();
    // Nothing left to send and no reason to linger: close(2) sends the FIN after the response the
    // kernel already holds, as shutdown(2) would, without node's shutdown round (as nginx does).
    if (this.socket.writableLength === 0 && this.#closesAtOnce()) {
      this.socket.destroy();
      return;
    }
    this.socket.on('finish', Connection.#socketFinish);
    this.socket.end();
    if (this.socket.writableFinished) this.#onFinish();
    else this.setDeadline('send', this.#ctx.options.sendTimeoutMs);
  }

  /** Abrupt close (RST): the response cannot be completed honestly. */
  #abort(reason: CloseReason): void {
    if (this.#phase.kind === 'closed') return;
    const phase = this.#phase;
    this.#closeReason ??= reason;
    this.#phase = CLOSING;
    this.clearDeadlines();
    if (phase.kind === 'exchange') this.#abandon(phase, 'connection aborted');
    // After end(), node cannot reset the socket (EINVAL, and no 'close' would follow): destroy instead.
    if (this.socket.writableEnded) this.socket.destroy();
    else this.socket.resetAndDestroy();
  }

  #internalError(error: unknown): void {
    this.#ctx.emit('internal-error', { connectionId: this.id, error });
    this.#closeReason ??= 'internal-error';
    if (this.#phase.kind !== 'closed') this.socket.destroy();
  }

  #waitDrain(): Promise<void> {
    if (this.socket.destroyed) return Promise.reject(new Error('connection closed'));
    this.setDeadline('send', this.#ctx.options.sendTimeoutMs);
    return new Promise((resolve, reject) => (this.#drainWaiters ??= []).push({ resolve, reject }));
  }


  /**
   * Latin-1 text for the socket. While a read's pipelined requests are answered, responses collect
   * here and leave in one write (bounded, so backpressure still sees them); otherwise at once.
   */
  #writeText(text: string): void {
    if (!this.#batching) {
      this.socket.write(text, 'latin1');
      return;
    }
    this.#outText += text;
    if (this.#outText.length >= BATCH_FLUSH_CHARS) this.#flushText();
  }

  #flushText(): void {
    if (this.#outText === '') return;
    const text = this.#outText;
    this.#outText = '';
    this.socket.write(text, 'latin1');
  }

  /** After queueing a response: while the peer is not taking our bytes, the send deadline runs. */
  #noteWriteBuffer(): void {
    if (this.#batching && this.#outText !== '') return;
    this.#writeBlocked = this.socket.writableNeedDrain;
    if (this.#writeBlocked) this.setDeadline('send', this.#ctx.options.sendTimeoutMs);
  }

  /** Stop reading while too much is buffered unparsed or responses are not being read. */
  #updateReading(): void {
    const phase = this.#phase.kind;
    if (phase === 'closing' || phase === 'closed') return;
    // Read ahead at most 64 KiB, or two full heads when heads may be larger.
    const highWater = 2 * this.#ctx.limits.maxHeaderBytes;
    const pause = this.#writeBlocked || this.#parser.bufferedBytes >= (highWater > 65_536 ? highWater : 65_536);
    if (pause && !this.#readPaused) {
      this.#readPaused = true;
      this.socket.pause();
    } else if (!pause && this.#readPaused) {
      this.#readPaused = false;
      this.socket.resume();
    }
  }
}

/** `bytes[0, length)` in a buffer of its own (small copies land in node's buffer pool). */
function copyOf(bytes: Buffer, length: number): Buffer {
  const copy = Buffer.allocUnsafe(length);
  bytes.copy(copy, 0, 0, length);
  return copy;
}

/** The request itself ends the connection (RFC 9112 §9.3, §9.6). */
function clientEndsConnection(head: RequestHead): boolean {
  return head.connection.has('close') || (head.version === '1.0' && !head.connection.has('keep-alive'));
}

/** Content-Length for the response head: the body's size, or for HEAD/304 what the handler declared. */
function contentLengthField(framing: ResponseFraming, prepared: PreparedResponse, method: string): number | null {
  if (framing === 'length') return prepared.shape.kind === 'sized' ? prepared.shape.length : 0;
  if (framing !== 'none') return null;
  const status = prepared.status;
  if (status < 200 || status === 204) return null;
  if (method === 'HEAD' && prepared.shape.kind === 'sized') return prepared.shape.length;
  return prepared.declaredLength;
}

/**
 * The request handed to handlers. `connection` and `body` are built on first use: most requests
 * never read either, and the peer address is read from the socket only when asked for.
 */
class ServerRequest implements HttpRequest {
  readonly method: string;
  readonly target: string;
  readonly path: string;
  readonly query: string;
  readonly version: HttpVersion;
  readonly headers: HeaderMap;
  readonly #connection: Connection;
  readonly #exchange: Exchange;
  #ref: ConnectionRef | null = null;
  #body: IncomingBody | null = null;

  constructor(connection: Connection, exchange: Exchange, path: string, query: string) {
    const head = exchange.head;
    this.method = head.method;
    this.target = head.target;
    this.path = path;
    this.query = query;
    this.version = head.version;
    this.headers = head.headers;
    this.#connection = connection;
    this.#exchange = exchange;
  }

  get connection(): ConnectionRef {
    if (this.#ref === null) {
      const socket = this.#connection.socket;
      this.#ref = { id: this.#connection.id, requestIndex: this.#exchange.index, remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0 };
    }
    return this.#ref;
  }

  get body(): RequestBody {
    return (this.#body ??= new IncomingBody(this.#connection, this.#exchange, this.#connection.maxBodyBytes));
  }

  toJSON(): Omit<HttpRequest, 'body'> {
    return { method: this.method, target: this.target, path: this.path, query: this.query, version: this.version, headers: this.headers, connection: this.connection };
  }
}

/** The request body handed to handlers: pulled from the connection's parser on demand. */
class IncomingBody implements RequestBody {
  readonly #connection: Connection;
  readonly #exchange: Exchange;
  readonly #maxBytes: number;

  constructor(connection: Connection, exchange: Exchange, maxBytes: number) {
    this.#connection = connection;
    this.#exchange = exchange;
    this.#maxBytes = maxBytes;
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return { next: () => this.#connection.pullBody(this.#exchange) };
  }

  async bytes(): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let total = 0;
    for await (const part of this) {
      total += part.length;
      if (this.#maxBytes > 0 && total > this.#maxBytes) throw new HttpError(413);
      parts.push(part);
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, total);
  }

  async text(): Promise<string> {
    const bytes = await this.bytes();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
  }

  async json(): Promise<unknown> {
    const text = await this.text();
    try {
      return JSON.parse(text);
    } catch {
      throw new HttpError(400, 'request body is not valid JSON');
    }
  }
}

/**
 * Parsers for one server's connections. A connection between requests with nothing buffered
 * holds the shared `idle` sentinel (never fed) instead of its own parser, so 10,000 idle
 * keep-alive connections hold no parser state; a pristine parser goes back to the pool.
 */
export class ParserPool {
  readonly idle: RequestParser;
  readonly #limits: ParserLimits;
  readonly #free: RequestParser[] = [];
  readonly #maxFree: number;

  constructor(limits: ParserLimits, maxFree = 1024) {
    this.#limits = limits;
    this.#maxFree = maxFree;
    this.idle = new RequestParser(limits);
  }

  take(): RequestParser {
    return this.#free.pop() ?? new RequestParser(this.#limits);
  }

  /** `parser` must be pristine (no bytes, no message begun, no EOF). */
  release(parser: RequestParser): void {
    if (this.#free.length < this.#maxFree) this.#free.push(parser);
  }
}
