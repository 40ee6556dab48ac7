/**
 * One loop per socket for its whole life (Go's conn.serve):
 *   wait for a request (idle deadline) → read the head (headers deadline) → run the handler and
 *   write the response (backpressure, send deadline) → decide keep-alive → drain an unread body or
 *   close.
 *
 * This file is the protocol flow only: phases, deadlines, the pump, body reads, close and linger.
 * What to answer with and what follows a response are pure decisions (./response-plan.ts); how
 * bytes reach the socket is the write side (./outbound.ts, this class's base).
 *
 * Requests on a connection are answered strictly in order, one handler at a time; pipelined bytes
 * wait in the parser. The idle deadline is keepAliveTimeoutMs + keepAliveTimeoutBufferMs (node's
 * buffer against the close-while-the-client-sends race), and before closing on idle the loop lets
 * pending socket reads run and checks that no request byte has arrived. A close is lingering (FIN,
 * then read-and-discard for lingerMs or maxLingerBytes) so a late client write never turns into an
 * RST that wipes out the last response — unless nothing more can come (decideLingering).
 * Every closed connection reports exactly one CloseReason. A bug of ours aborts this socket only.
 *
 * A TLS socket (./tls.ts) runs the same loop after a `handshake` phase, whose deadline uses the
 * headers slot (a handshake and a head never overlap) and whose time counts toward the first
 * request's headers deadline. Its closes always send close_notify before the FIN (RFC 8446 §6.1;
 * nginx's SSL_shutdown before lingering), so a quiet close is end() rather than close(2); aborts
 * reset the TCP socket beneath.
 */

import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import { ProtocolError } from '../http1/errors.js';
import type { BodyFraming, ResponseBodyShape } from '../http1/framing.js';
import type { HeaderMap } from '../http1/header-map.js';
import { advertisedTimeoutSeconds, type KeepAliveDecision } from '../http1/keep-alive.js';
import type { ParserLimits, RequestHead, RequestParser } from '../http1/parser.js';
import { serializeResponseHead, type ResponseHeadInit } from '../http1/serializer.js';
import { HttpError, type Handler, type HttpResponse } from '../handlers/types.js';
import { FileBody } from '../handlers/file-body.js';
import type { CloseReason } from './close-reason.js';
import { COARSE_CLOCK_SLACK_MS, coarseMonotonicMs, responseDate } from './clock.js';
import type { DeadlineKind } from './deadlines.js';
import type { ConnectionCloseEvent, ServerEvents } from './events.js';
import type { ResolvedOptions } from './options.js';
import { FIRST_CONNECTION_FLAG, Outbound } from './outbound.js';
import type { ParserPool } from './parser-pool.js';
import type { ConnectionInfo, ConnectionPhase, Lifecycle, Tracked } from './registry.js';
import type { RequestLog } from './logger.js';
import type { ServerStats } from './stats.js';
import { buildRequest } from './request.js';
import {
  decideAfterResponse,
  decideLingering,
  newResponsePlan,
  planResponse,
  type AfterResponseFacts,
  type LingerFacts,
  type ReadingState,
  type ResponseFacts,
  type WritingState,
} from './response-plan.js';
import { READ_BUFFER_BYTES, forwardSharedReads, readIntoSharedBuffer } from './shared-read.js';
import { isTlsSocket, rawSocketOf, releaseTlsSocket, tlsFailure, tlsInfoOf } from './tls.js';
import { discardBody, inPieces, plainResponse, prepareResponse, type Handoff, type PreparedResponse } from './write-response.js';

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
  /** The live status's counters, or null while it is off (the server sets it once). */
  stats: ServerStats | null;
  /** The built-in logger's request lines, handed each request directly (no event object); null while it is off. */
  requestLog: RequestLog | null;
}

interface Pull {
  resolve(result: IteratorResult<Uint8Array>): void;
  reject(error: unknown): void;
}

/** Told once when the client goes away or the server gives up on the request (`req.signal`'s moment). */
export interface ClientGoneWatcher {
  clientGone(): void;
}

/** Told once when the response can no longer be delivered: the connection closed, was reset or is closing. */
export interface AbandonWatcher {
  responseAbandoned(): void;
}

/** One request and its response; while it runs it is also the connection's phase. */
export class Exchange {
  readonly kind = 'exchange';
  readonly head: RequestHead;
  readonly index: number;
  /**
   * performance.now() at the head for request events, the log and the status (a head parsed right
   * after the previous response ended, from bytes already buffered, takes the reading that request
   * returned from #requestDone, without a clock read of its own); 0 when none wants it.
   */
  readonly startedAt: number;
  /** Someone listened for request events when it began: its event is emitted. */
  readonly emits: boolean;
  reading: ReadingState;
  writing: WritingState = 'handler';
  bodyBytesRead = 0;
  /** Body bytes read in the current second (minBodyBytesPerSecond). */
  rateWindowBytes = 0;
  drainedBytes = 0;
  /** While draining: past this many discarded bytes, close. */
  drainBudgetBytes = 0;
  continueSent = false;
  pull: Pull | null = null;
  /** Built when the handler asks for `req.signal`. */
  aborter: AbortController | null = null;
  /** `aborted`: the client went away (or the server gave up) first; `responded`: the response was queued whole first. */
  signalState: 'open' | 'aborted' | 'responded' = 'open';
  /** Told when the signal would abort, without an AbortSignal (watchClientGone). */
  goneWatcher: ClientGoneWatcher | null = null;
  /** Told when the exchange is abandoned (watchAbandoned): unlike the signal, not on a FIN alone. */
  abandonWatcher: AbandonWatcher | null = null;
  /** The request body's trailer section, once the body was read to its end. */
  trailers: HeaderMap | null = null;
  status = 0;
  bytesOut = 0;
  /** Set when it is answered, for its report (Connection's #report): the connection stays open after it. */
  keepAliveAfter = false;
  /** Set when it is answered with the status on: the idle gap before it (see #idleGapBefore). */
  idleGapBeforeMs = -1;

  /** `timedAt`: the performance.now() reading it starts at when it is timed (events, log, status), else 0. */
  constructor(head: RequestHead, index: number, emits: boolean, timedAt: number) {
    this.head = head;
    this.index = index;
    this.emits = emits;
    this.startedAt = timedAt;
    this.reading = head.framing.kind === 'none' ? 'done' : 'body';
  }

  /** The response head is queued: no other response can be sent for this request. */
  get responseStarted(): boolean {
    return this.writing === 'streaming' || this.writing === 'done';
  }
}

type Phase =
  | { kind: 'handshake' }
  | { kind: 'waiting' }
  | { kind: 'reading-head' }
  | Exchange
  | { kind: 'closing' }
  | { kind: 'upgraded' }
  | { kind: 'closed' };

const HANDSHAKE: Phase = Object.freeze({ kind: 'handshake' });
const WAITING: Phase = Object.freeze({ kind: 'waiting' });
const READING_HEAD: Phase = Object.freeze({ kind: 'reading-head' });
const CLOSING: Phase = Object.freeze({ kind: 'closing' });
const CLOSED: Phase = Object.freeze({ kind: 'closed' });
const UPGRADED: Phase = Object.freeze({ kind: 'upgraded' });
const OWNER = Symbol('holdfast.connection');
type OwnedSocket = Socket & { [OWNER]: Connection };

/** Connection flags, above Outbound's in the shared `flags` integer. */
const PEER_ENDED = FIRST_CONNECTION_FLAG; // the peer sent FIN
const READ_PAUSED = FIRST_CONNECTION_FLAG << 1; // reading is stopped
const PUMPING = FIRST_CONNECTION_FLAG << 2; // #pump is on the stack
const QUIET_CLOSE = FIRST_CONNECTION_FLAG << 3; // closing without lingering was planned: evicted idle, or the client ended the connection
const READ_FULL = FIRST_CONNECTION_FLAG << 4; // the last read filled the read buffer: more bytes may be waiting in the kernel
const ENCRYPTED = FIRST_CONNECTION_FLAG << 5; // a TLS socket
const IDLE_GAP_PENDING = FIRST_CONNECTION_FLAG << 6; // (status on) the request ended an idle wait: its gap runs to its head's clock read
const IDLE_GAP_TAKEN = FIRST_CONNECTION_FLAG << 7; // (status on) the request's head came in pieces: its gap was taken at the first
const IDLE_AT_DRAIN = FIRST_CONNECTION_FLAG << 8; // waiting, with the last response still queued: the idle wait starts when the peer has taken it

/** TLS decrypts at most one record's plaintext per read (RFC 8446 §5.1: 2^14 bytes). */
const TLS_RECORD_BYTES = 16_384;

/** minBodyBytesPerSecond is checked over windows of this length. */
const RATE_WINDOW_MS = 1_000;
/** How soon a handler past the request deadline, waiting for body bytes that our write backpressure kept unread, is looked at again. */
const OVERDUE_RECHECK_MS = 1_000;

const DONE: IteratorResult<Uint8Array> = Object.freeze({ done: true, value: undefined });
const NO_TOKENS: ReadonlySet<string> = new Set<string>();
const NO_BODY: BodyFraming = Object.freeze({ kind: 'none' });
const EMPTY: ResponseBodyShape = Object.freeze({ kind: 'empty' });

// Reused fact and plan objects: each decision runs to completion before it can run again, and one
// response then allocates none of them.
const RESPONSE_FACTS: ResponseFacts = {
  serverVersion: '1.1',
  keepAliveTimeoutMs: 0,
  maxRequestsPerConnection: 0,
  maxDrainBytes: 0,
  method: 'GET',
  requestVersion: '1.1',
  requestConnection: NO_TOKENS,
  requestFraming: NO_BODY,
  reading: 'done',
  bodyBytesRead: 0,
  continueWithheld: false,
  status: 200,
  shape: EMPTY,
  declaredLength: null,
  connectionClose: false,
  peerEnded: false,
  requestsServed: 0,
  lifetimeExceeded: false,
  shuttingDown: false,
  date: '',
};
const PLAN = newResponsePlan();
const AFTER_FACTS: AfterResponseFacts = {
  decision: PLAN.decision,
  requestVersion: '1.1',
  requestConnection: NO_TOKENS,
  reading: 'done',
  inputPending: false,
  maxDrainBytes: 0,
};
const UPGRADE_HEAD: ResponseHeadInit = {
  version: '1.1',
  status: 101,
  headers: undefined,
  contentLength: null,
  chunked: false,
  connection: 'upgrade',
  keepAlive: null,
  date: '',
};
const LINGER_FACTS: LingerFacts = { peerEnded: false, quietClose: false, evicted: false, bytesReadWhileClosing: 0, lingerMs: 0 };

export class Connection extends Outbound implements Tracked {
  readonly id: number;
  readonly #ctx: ConnectionContext;
  /** The idle sentinel (shared, never fed) while between requests with nothing buffered. */
  #parser: RequestParser;
  /** Monotonic whole ms when accepted (an integer field: no boxed double per connection). */
  readonly #openedAt = Math.floor(performance.now());
  #phase: Phase = WAITING;
  #requestsServed = 0;
  #closeReason: CloseReason | null = null;
  /** Bumped whenever the idle wait starts or ends, so a stale idle check does nothing. */
  #idleGeneration = 0;
  /** When the connection last became idle (monotonic ms). */
  #idleSinceMs = this.#openedAt;
  /**
   * What #requestDone returned for the previous request, while the pump that follows it runs (0
   * otherwise): a request parsed from bytes already buffered starts then (see Exchange.startedAt).
   */
  #cycleEndMs = 0;
  /**
   * Timed requests the running pump answered while more input waited (pipelining), reported
   * together at one clock reading once it has answered all it can (#reportAnswered); null until
   * first needed.
   */
  #answered: Array<Exchange | undefined> | null = null;
  #answeredCount = 0;
  /** Bytes read since the close began (lingering is bounded by maxLingerBytes). */
  #bytesReadWhileClosing = 0;
  /** The peer's address, once read (#readPeer), and port. */
  #peerAddress: string | null = null;
  #peerPort = 0;

  constructor(id: number, socket: Socket, ctx: ConnectionContext) {
    super(socket, !isTlsSocket(socket));
    this.id = id;
    this.#ctx = ctx;
    this.#parser = ctx.parsers.idle;
    // node caches the peer address on the socket once read; it cannot be read after the close.
    if (ctx.wantsConnectionEvents()) this.#readPeer();
    // Shared listeners (no closures per connection): an idle connection should cost little memory.
    (socket as OwnedSocket)[OWNER] = this;
    if (!readIntoSharedBuffer(socket, Connection.#socketRead)) socket.on('data', Connection.#socketData);
    socket.on('end', Connection.#socketEnd);
    socket.on('error', Connection.#socketError);
    socket.on('close', Connection.#socketClose);
    socket.on('drain', Connection.#socketDrain);
    if (isTlsSocket(socket)) {
      this.#set(ENCRYPTED, true);
      this.#phase = HANDSHAKE;
      socket.once('secure', Connection.#socketSecure);
      const options = ctx.options;
      this.setDeadline('headers', Math.min(options.handshakeTimeoutMs, options.headersTimeoutMs));
      return;
    }
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
  static #socketSecure = function (this: OwnedSocket): void {
    this[OWNER].#onSecure();
  };
  static #idleCheckOf = (connection: Connection, generation: number): void => connection.#idleCheck(generation);

  protected get sendTimeoutMs(): number {
    return this.#ctx.options.sendTimeoutMs;
  }

  get #remoteAddress(): string {
    return this.peerAddress;
  }

  /**
   * The peer's address and port, read from the socket once: node caches them too, but cannot read
   * them after the close, and each read of its getters walks the socket's properties again.
   */
  #readPeer(): void {
    if (this.#peerAddress !== null) return;
    const socket = this.socket;
    const address = socket.remoteAddress;
    if (address === undefined) return;
    this.#peerAddress = address;
    this.#peerPort = socket.remotePort ?? 0;
  }

  get peerAddress(): string {
    this.#readPeer();
    return this.#peerAddress ?? '';
  }

  get peerPort(): number {
    this.#readPeer();
    return this.#peerPort;
  }

  get encrypted(): boolean {
    return this.#has(ENCRYPTED);
  }

  #has(flag: number): boolean {
    return (this.flags & flag) !== 0;
  }

  #set(flag: number, on: boolean): void {
    this.flags = on ? this.flags | flag : this.flags & ~flag;
  }

  get maxBodyBytes(): number {
    return this.#ctx.options.maxBodyBytes;
  }

  get lifecycle(): Lifecycle {
    switch (this.#phase.kind) {
      case 'handshake':
        return 'new';
      case 'waiting':
        return this.#requestsServed === 0 ? 'new' : 'idle';
      case 'reading-head':
      case 'exchange':
        return 'active';
      case 'closing':
        return 'closing';
      case 'upgraded':
        return 'upgraded';
      case 'closed':
        return 'closed';
    }
  }

  /** What the phase means to an operator: which side the connection waits on. */
  get #activity(): ConnectionPhase {
    const phase = this.#phase;
    switch (phase.kind) {
      case 'handshake':
        return 'handshake';
      case 'waiting':
        if (this.writeBlocked) return 'writing';
        return this.#requestsServed === 0 ? 'new' : 'idle';
      case 'reading-head':
        return 'reading';
      case 'exchange':
        if (phase.writing === 'streaming' || this.writeBlocked) return 'writing';
        if (phase.pull !== null || phase.reading === 'draining') return 'reading';
        return 'handling';
      case 'closing':
        return this.deadlineAt('linger') !== 0 ? 'lingering' : 'closing';
      case 'upgraded':
        return 'upgraded';
      case 'closed':
        return 'closed';
    }
  }

  /** Monotonic ms when the current activity began, where the loop's state tells (0 otherwise). */
  #activitySince(activity: ConnectionPhase): number {
    const phase = this.#phase;
    if (phase.kind === 'exchange') return phase.startedAt;
    const options = this.#ctx.options;
    switch (activity) {
      case 'handshake':
      case 'new':
        return this.#openedAt;
      case 'idle':
        return this.#idleSinceMs;
      case 'reading':
        return since(this.deadlineAt('headers'), options.headersTimeoutMs);
      case 'lingering':
        return since(this.deadlineAt('linger'), options.lingerMs);
      case 'closing':
        return since(this.deadlineAt('send'), options.sendTimeoutMs);
      default:
        return 0;
    }
  }

  /** A snapshot for operators (server.connections(), the live status); built only when asked for. */
  info(): ConnectionInfo {
    const nowMs = performance.now();
    const options = this.#ctx.options;
    const activity = this.#activity;
    const sinceMs = this.#activitySince(activity);
    const phase = this.#phase;
    const max = options.maxRequestsPerConnection;
    const idleAt = this.deadlineAt('idle');
    const socket = this.socket;
    const info: ConnectionInfo = {
      id: this.id,
      remoteAddress: this.#remoteAddress,
      remotePort: this.peerPort,
      state: this.lifecycle,
      requestsServed: this.#requestsServed,
      openedAt: Math.round(performance.timeOrigin + this.#openedAt),
      activity,
      activityMs: sinceMs === 0 ? null : Math.max(0, Math.round(nowMs - sinceMs)),
      ageMs: Math.round(nowMs - this.#openedAt),
      requestsLeft: max === 0 ? null : Math.max(0, max - this.#requestsServed),
      idleDeadline:
        phase.kind !== 'waiting' || idleAt === 0
          ? null
          : {
              advertisedInMs: this.#requestsServed === 0 ? null : Math.round(this.#idleSinceMs + advertisedTimeoutSeconds(options.keepAliveTimeoutMs) * 1000 - nowMs),
              enforcedInMs: Math.round(idleAt - nowMs),
            },
      request:
        phase.kind === 'exchange'
          ? { index: phase.index, method: phase.head.method, target: phase.head.target, elapsedMs: phase.startedAt === 0 ? null : Math.round(nowMs - phase.startedAt) }
          : null,
      bytesIn: socket.bytesRead,
      bytesOut: socket.bytesWritten,
      writeBacklogBytes: this.writeBacklogBytes,
    };
    if (isTlsSocket(this.socket)) info.tls = tlsInfoOf(this.socket, this.#phase.kind !== 'handshake');
    return info;
  }

  /**
   * Graceful shutdown: a connection idle for shutdownMinIdleMs closes now, one idle for less closes
   * when it reaches it (a client about to send is answered, with `Connection: close`); in-flight
   * responses carry `Connection: close`.
   */
  shutdown(): void {
    if (this.isIdle) this.#closeWhenIdleEnough();
  }

  /** True when the connection is between requests with nothing buffered: the first to go under pressure. */
  get isIdle(): boolean {
    return this.#phase.kind === 'waiting' && this.#parser.bufferedBytes === 0;
  }

  /** Closing with nothing left to send (lingering, or already destroyed): can go at once without cutting a response short. */
  get isLingering(): boolean {
    return this.#phase.kind === 'closing' && (this.socket.destroyed || this.socket.writableFinished);
  }

  /** Closes an idle connection to make room (maxConnections reached): FIN, then gone, no lingering. */
  evict(): void {
    if (!this.isIdle) return;
    this.#set(QUIET_CLOSE, true);
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
    this.#set(READ_FULL, length >= (this.#has(ENCRYPTED) ? TLS_RECORD_BYTES : READ_BUFFER_BYTES));
    try {
      if (this.#phase.kind === 'handshake') this.#onSecure();
      const phase = this.#phase;
      if (phase.kind === 'closing') {
        this.#bytesReadWhileClosing += length;
        if (this.#bytesReadWhileClosing > this.#ctx.options.maxLingerBytes) this.socket.destroy();
        return;
      }
      if (phase.kind === 'closed') return;
      if (this.#parser === this.#ctx.parsers.idle) this.#parser = this.#ctx.parsers.take();
      const parser = this.#parser;
      if (borrowed && parser.feedBorrowed(chunk, length)) lent = parser;
      else parser.feed(borrowed ? copyOf(chunk, length) : chunk);
      if (phase.kind === 'exchange') {
        phase.rateWindowBytes += length;
        this.#continueExchange(phase);
      } else {
        if (phase.kind === 'waiting') this.#beginRequest(false);
        // Responses to every request in this chunk that can be answered now leave in one write.
        this.beginBatch();
        try {
          this.#pump();
        } finally {
          this.endBatch();
        }
        // A head still incomplete: its deadlines count from this chunk (a complete one needs none).
        if (this.#phase.kind === 'reading-head' && !this.hasDeadline('headers')) this.#armRequestDeadlines();
        if (this.#has(IDLE_GAP_PENDING) && this.#phase.kind === 'reading-head') this.#idleGapAtFirstPiece();
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
      this.#set(PEER_ENDED, true);
      const phase = this.#phase;
      if (phase.kind === 'closing') {
        if (this.socket.writableFinished) this.socket.destroy();
        return;
      }
      if (phase.kind === 'closed') return;
      if (phase.kind === 'handshake') {
        this.#tlsFailed({ code: 'ERR_SSL_UNEXPECTED_EOF', reason: 'the peer closed the connection during the handshake' });
        return;
      }
      if (this.#parser === this.#ctx.parsers.idle) this.#parser = this.#ctx.parsers.take();
      this.#parser.feedEof();
      if (phase.kind === 'exchange') {
        this.#continueExchange(phase);
        // The whole request was read and nothing follows it: the client is gone (as Go's request context).
        if (this.#phase === phase && this.#parser.bufferedBytes === 0 && this.#parser.bodyFullyReceived) abortSignal(phase);
      } else {
        this.#pump();
      }
    } catch (error) {
      this.#internalError(error);
    }
  }

  #onError(error: NodeJS.ErrnoException): void {
    const failure = this.#has(ENCRYPTED) ? tlsFailure(error) : null;
    if (failure !== null) {
      this.#tlsFailed(failure);
      return;
    }
    const code = error.code;
    this.#closeReason ??= code === 'ECONNRESET' || code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' ? 'peer-reset' : 'write-error';
    // node destroys a TCP socket before its 'error'; a TLS socket's record errors leave it open.
    this.socket.destroy();
  }

  /** The handshake completed: the connection waits for its first request, as a new TCP one does. */
  #onSecure(): void {
    if (this.#phase.kind !== 'handshake') return;
    releaseTlsSocket(this.socket);
    this.#phase = WAITING;
    this.clearDeadline('headers');
    this.#armIdle();
    if (this.#ctx.isShuttingDown()) this.#closeWhenIdleEnough();
  }

  /** TLS failed (OpenSSL's reason is logged): nothing more can be said on this connection. */
  #tlsFailed(failure: { code: string; reason: string }): void {
    if (this.#closeReason === null) {
      this.#closeReason = 'tls-error';
      this.#emit('tls-error', {
        connectionId: this.id,
        remoteAddress: this.#remoteAddress,
        phase: this.#phase.kind === 'handshake' ? 'handshake' : 'established',
        code: failure.code,
        reason: failure.reason,
      });
    }
    this.socket.destroy();
  }

  /** While closing: whether to read and discard after our FIN (decideLingering). */
  #lingers(): boolean {
    const facts = LINGER_FACTS;
    facts.peerEnded = this.#has(PEER_ENDED);
    facts.quietClose = this.#has(QUIET_CLOSE);
    facts.evicted = this.#closeReason === 'connection-limit';
    facts.bytesReadWhileClosing = this.#bytesReadWhileClosing;
    facts.lingerMs = this.#ctx.options.lingerMs;
    return decideLingering(facts);
  }

  #onFinish(): void {
    if (this.#phase.kind !== 'closing') return;
    if (!this.#lingers()) {
      this.socket.destroy();
      return;
    }
    this.clearDeadline('send');
    this.setDeadline('linger', this.#ctx.options.lingerMs);
    this.#ctx.stats?.lingerStarted();
  }

  protected override drained(): void {
    this.#onDrain();
  }

  #onDrain(): void {
    try {
      this.writable();
      if (this.#has(IDLE_AT_DRAIN)) {
        this.#set(IDLE_AT_DRAIN, false);
        if (this.#phase.kind === 'waiting') this.#armIdle();
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
    this.writesFailed();
    if (phase.kind === 'exchange') this.#abandon(phase, 'connection closed');
    const reason = this.#closeReason ?? 'peer-reset';
    this.#closeReason = reason;
    if (this.#ctx.stats !== null && phase.kind === 'closing') {
      const discarded = this.#bytesReadWhileClosing;
      this.#ctx.stats.closingEnded(discarded, reason === 'max-requests' && (discarded > 0 || this.#parser.bufferedBytes > 0));
    }
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
    if (phase.kind === 'upgraded') return; // its new owner keeps its own time
    if (phase.kind === 'handshake') {
      if (kind === 'headers') this.destroyNow('handshake-timeout');
      return;
    }
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
        } else if (phase.kind === 'exchange') {
          const ex = phase;
          if (ex.reading === 'draining') this.#close('request-timeout');
          else if (ex.reading === 'overdue') this.#overdueWait(ex);
          else if (ex.reading !== 'body') return;
          else if (ex.responseStarted) {
            // A response that does not wait for the body may finish (then the connection closes);
            // one waiting for bytes the client has not sent by now cannot: reset (#overdueWait).
            ex.reading = 'overdue';
            this.#overdueWait(ex);
          } else if (!this.#parser.bodyFullyReceived) {
            this.#abandon(ex, 'incomplete-message');
            this.#writeErrorAndClose(408, 'request-timeout');
          }
        }
        return;
      case 'rate':
        if (phase.kind === 'exchange' && isBodyPending(phase.reading) && !this.#parser.bodyFullyReceived) {
          const ex = phase;
          if (ex.rateWindowBytes >= this.#ctx.options.minBodyBytesPerSecond) {
            ex.rateWindowBytes = 0;
            this.setDeadline('rate', RATE_WINDOW_MS);
          } else if (ex.reading === 'draining' || ex.responseStarted) {
            this.#close('slow-body');
          } else {
            this.#abandon(ex, 'incomplete-message');
            this.#writeErrorAndClose(408, 'slow-body');
          }
        }
        return;
      case 'handler':
        if (phase.kind === 'exchange' && phase.writing === 'handler') {
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
      if (generation !== this.#idleGeneration) {
        this.#ctx.stats?.pendingCheckSaved();
        return;
      }
      if (!this.isIdle) return;
      const shuttingDown = this.#ctx.isShuttingDown();
      // The status matches a reconnect to this idle close by the peer's address: read it while the socket is open.
      if (!shuttingDown && this.#ctx.stats !== null) this.#readPeer();
      this.#close(shuttingDown ? 'shutdown' : 'idle-timeout');
    } catch (error) {
      this.#internalError(error);
    }
  }

  // ── the loop ───────────────────────────────────────────────────────────────

  /** The first byte of a request arrived: the idle wait ends; the head's deadlines start now or after parsing. */
  #beginRequest(armDeadlines: boolean): void {
    // From #onData (not armDeadlines) the connection was idle; from #pump the bytes were already buffered.
    if (!armDeadlines && this.#ctx.stats !== null && this.#requestsServed > 0) this.flags |= IDLE_GAP_PENDING;
    this.#phase = READING_HEAD;
    this.#idleGeneration++;
    this.clearDeadline('idle');
    if (!this.writeBlocked) this.clearDeadline('send');
    if (armDeadlines) this.#armRequestDeadlines();
  }

  #armRequestDeadlines(): void {
    // The first request on a TLS connection: the handshake's time (it ended when the idle wait began) counts toward its head.
    const handshakeMs = this.#has(ENCRYPTED) && this.#requestsServed === 0 ? this.#idleSinceMs - this.#openedAt : 0;
    this.setDeadline('headers', Math.max(1, this.#ctx.options.headersTimeoutMs - handshakeMs));
    this.setDeadline('request', this.#ctx.options.requestTimeoutMs);
  }

  /** Parses and starts requests while the connection is between exchanges. Never recursive. */
  #pump(): void {
    if (this.#has(PUMPING)) return;
    this.#set(PUMPING, true);
    try {
      for (;;) {
        const phase = this.#phase;
        if (phase.kind !== 'waiting' && phase.kind !== 'reading-head') return;
        if (this.writeBlocked || this.#parser === this.#ctx.parsers.idle) return;
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
      this.#set(PUMPING, false);
      this.#cycleEndMs = 0;
      this.#reportAnswered();
    }
  }

  #startExchange(head: RequestHead): void {
    const ctx = this.#ctx;
    const emits = ctx.wantsRequestEvents();
    let timedAt = 0;
    // One clock read per request at most, and none for a pipelined one; a per-turn reading would
    // cost an immediate per event-loop turn, more than the read when a turn serves few requests.
    if (emits || ctx.requestLog !== null || ctx.stats !== null) {
      timedAt = this.#cycleEndMs === 0 ? performance.now() : this.#cycleEndMs;
      this.#cycleEndMs = 0;
    }
    const ex = new Exchange(head, ++this.#requestsServed, emits, timedAt);
    this.#phase = ex;
    this.#idleGeneration++;
    this.clearDeadline('idle');
    this.clearDeadline('headers');
    if (ex.reading === 'done') {
      this.#parser.next(); // the `end` of a bodiless message
      this.clearDeadline('request');
    } else {
      if (!this.hasDeadline('request')) this.setDeadline('request', this.#ctx.options.requestTimeoutMs);
      if (this.#ctx.options.minBodyBytesPerSecond > 0 && !this.#parser.bodyFullyReceived) this.setDeadline('rate', RATE_WINDOW_MS);
    }
    if (this.#ctx.options.handlerTimeoutMs > 0) this.setDeadline('handler', this.#ctx.options.handlerTimeoutMs);
    let result: HttpResponse | Promise<HttpResponse>;
    try {
      result = this.#ctx.handler(buildRequest(this, ex));
      if (result !== null && typeof (result as Promise<HttpResponse>).then === 'function') {
        // node caches the peer address once read: read it while the socket is surely open, so a
        // handler that asks after an await (the client may have reset by then) still gets it. A
        // synchronous handler asks while the socket is open; it does not pay for a getpeername(2).
        this.#readPeer();
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
    if (ex.reading === 'draining') {
      this.#drainBody(ex);
    } else if (ex.pull !== null) {
      const pull = ex.pull;
      ex.pull = null;
      this.#serveBodyPull(ex, pull);
    }
  }

  #handlerAnswered(ex: Exchange, response: HttpResponse): void {
    if (ex.writing !== 'handler') {
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
    this.#respond(ex, prepared);
  }

  #handlerFailed(ex: Exchange, error: unknown): void {
    if (ex.writing !== 'handler') return;
    if (error instanceof HttpError) {
      let prepared: PreparedResponse | null = null;
      try {
        prepared = prepareResponse(plainResponse(error.status, error.message, error.headers));
      } catch (invalid) {
        this.#emit('handler-error', { connectionId: this.id, requestIndex: ex.index, error: invalid });
      }
      this.#respond(ex, prepared ?? prepareResponse(plainResponse(500)));
      return;
    }
    this.#emit('handler-error', { connectionId: this.id, requestIndex: ex.index, error });
    this.#respond(ex, prepareResponse(plainResponse(500)));
  }

  /** plan → head → write → after the response. */
  #respond(ex: Exchange, prepared: PreparedResponse): void {
    if (this.#phase !== ex || ex.writing !== 'handler') {
      discardBody(prepared.stream);
      return;
    }
    this.clearDeadline('handler');
    if (prepared.handoff !== null) {
      this.#handOff(ex, prepared, prepared.handoff);
      return;
    }
    const plan = planResponse(this.#responseFacts(ex, prepared), PLAN);
    const framing = plan.framing;
    const payload = prepared.payload;
    const pieces = payload !== null && framing !== 'none' ? inPieces(payload, prepared.shape) : null;
    const stream = pieces ?? prepared.stream;
    let headText: string;
    try {
      // A file is opened before its head goes out: one that cannot be sent is still a clean 500.
      if (framing !== 'none' && stream instanceof FileBody) stream.open();
      headText = serializeResponseHead(plan.head, prepared.block);
    } catch (error) {
      discardBody(stream);
      this.#emit('handler-error', { connectionId: this.id, requestIndex: ex.index, error });
      this.#respond(ex, prepareResponse(plainResponse(500)));
      return;
    }
    ex.status = prepared.status;
    const decision = plan.decision;
    if (framing === 'none' || stream === null) {
      discardBody(stream);
      ex.writing = 'done';
      ex.bytesOut = this.writeWhole(headText, framing === 'none' ? null : payload, prepared.shape, this.#parser.bufferedBytes > 0);
      this.noteWriteBuffer();
      this.#responseDone(ex, decision);
      return;
    }
    ex.writing = 'streaming';
    // A streamed body's producer runs later, as an awaiting handler does: keep the peer address.
    if (!(stream instanceof FileBody)) this.#readPeer();
    // A whole body in pieces is as long as its head says (a handler's own Content-Length is not the head's).
    this.writeStreamed(headText, stream, framing, pieces === null ? prepared.declaredLength : null, prepared.trailers).then(
      (written) =>
        this.#guarded(() => {
          ex.bytesOut = written;
          if (ex.writing === 'streaming') ex.writing = 'done';
          this.noteWriteBuffer();
          this.#responseDone(ex, decision);
        }),
      (error: unknown) =>
        this.#guarded(() => {
          if (this.#phase.kind === 'closed' || this.#phase.kind === 'closing') return;
          // A stream that stopped because the client went away (req.signal) is not the handler's fault.
          if (ex.signalState === 'aborted') {
            this.#abort('peer-eof');
            return;
          }
          this.#emit('handler-error', { connectionId: this.id, requestIndex: ex.index, error });
          this.#abort('handler-error');
        }),
    );
  }

  /**
   * The connection leaves HTTP (RFC 9110 §7.8): the 101 head (for `upgrade`), then the socket and
   * the bytes read past the head go to `handoff.fn`. It stays in the registry as `upgraded`, with
   * no deadlines, until its new owner closes it (close reason `upgraded`) or shutdown's grace ends.
   */
  #handOff(ex: Exchange, prepared: PreparedResponse, handoff: Handoff): void {
    const head = ex.head;
    if (handoff.kind === 'upgrade') {
      const asked = head.version === '1.1' && head.connection.has('upgrade') && head.headers.has('upgrade');
      if (!asked || ex.reading !== 'done') {
        const why = asked ? 'a 101 before the request body was read' : 'a 101 to a request that did not ask for an upgrade';
        this.#emit('handler-error', { connectionId: this.id, requestIndex: ex.index, error: new Error(`holdfast: ${why}`) });
        this.#respond(ex, prepareResponse(plainResponse(500)));
        return;
      }
      const init = UPGRADE_HEAD;
      init.date = responseDate();
      this.writeText(serializeResponseHead(init, prepared.block));
    }
    this.flushText();
    ex.status = 101;
    ex.writing = 'done';
    this.#requestDone(ex, false);
    this.#reportAnswered(); // before the new owner runs, as an asynchronous handler's 101 is
    this.#readPeer();
    this.#phase = UPGRADED;
    this.#closeReason = 'upgraded';
    this.#idleGeneration++;
    this.clearDeadlines();
    const rest = this.#parser.takeBuffered();
    // The parser may still be lent the read buffer by #onData up the stack: it is dropped, not pooled.
    this.#parser = this.#ctx.parsers.idle;
    const socket = this.socket;
    socket.removeListener('data', Connection.#socketData);
    socket.removeListener('end', Connection.#socketEnd);
    socket.removeListener('drain', Connection.#socketDrain);
    forwardSharedReads(socket);
    if (this.#has(READ_PAUSED)) {
      this.#set(READ_PAUSED, false);
      socket.resume();
    }
    try {
      handoff.fn(socket, rest);
    } catch (error) {
      this.#emit('handler-error', { connectionId: this.id, requestIndex: ex.index, error });
      socket.destroy();
    }
  }

  /** The facts planResponse reads, in the reused object. */
  #responseFacts(ex: Exchange, prepared: PreparedResponse): ResponseFacts {
    const options = this.#ctx.options;
    const head = ex.head;
    const facts = RESPONSE_FACTS;
    facts.serverVersion = options.httpVersion;
    facts.keepAliveTimeoutMs = options.keepAliveTimeoutMs;
    facts.maxRequestsPerConnection = options.maxRequestsPerConnection;
    facts.maxDrainBytes = options.maxDrainBytes;
    facts.method = head.method;
    facts.requestVersion = head.version;
    facts.requestConnection = head.connection;
    facts.requestFraming = head.framing;
    facts.reading = ex.reading;
    facts.bodyBytesRead = ex.bodyBytesRead;
    facts.continueWithheld = head.expectContinue && !ex.continueSent;
    facts.status = prepared.status;
    facts.shape = prepared.shape;
    facts.declaredLength = prepared.declaredLength;
    facts.connectionClose = prepared.connectionClose;
    // A FIN ends the connection only once nothing more was sent before it (pipelined requests are answered).
    facts.peerEnded = this.#has(PEER_ENDED) && this.#parser.bufferedBytes === 0 && this.#parser.bodyFullyReceived;
    facts.requestsServed = this.#requestsServed;
    const maxLifetimeMs = options.maxConnectionLifetimeMs;
    // The coarse clock (at most about a second behind) rules out most responses; a candidate is
    // confirmed on the real one.
    facts.lifetimeExceeded =
      maxLifetimeMs > 0 && coarseMonotonicMs() - this.#openedAt >= maxLifetimeMs - COARSE_CLOCK_SLACK_MS && performance.now() - this.#openedAt >= maxLifetimeMs;
    facts.shuttingDown = this.#ctx.isShuttingDown();
    facts.date = responseDate();
    return facts;
  }

  /** The response is queued on the socket: log it, then what decideAfterResponse says. */
  #responseDone(ex: Exchange, decision: KeepAliveDecision): void {
    if (this.#phase !== ex) return;
    if (ex.signalState === 'open') ex.signalState = 'responded';
    const nowMs = this.#requestDone(ex, decision.keepAlive);
    const facts = AFTER_FACTS;
    facts.decision = decision;
    facts.requestVersion = ex.head.version;
    facts.requestConnection = ex.head.connection;
    facts.reading = ex.reading;
    facts.inputPending = this.#parser.bufferedBytes > 0 || this.#has(READ_FULL);
    facts.maxDrainBytes = this.#ctx.options.maxDrainBytes;
    const after = decideAfterResponse(facts);
    facts.requestConnection = NO_TOKENS;
    switch (after.kind) {
      case 'close':
        if (!after.linger) this.#set(QUIET_CLOSE, true);
        this.#close(after.reason);
        return;
      case 'drain': {
        // The handler is done with this request: a read it left pending ends here.
        const pull = ex.pull;
        ex.pull = null;
        pull?.resolve(DONE);
        ex.reading = 'draining';
        ex.drainBudgetBytes = after.maxBytes;
        this.#drainBody(ex);
        return;
      }
      case 'next-request':
        this.#nextCycle(nowMs);
    }
  }

  /** A head that ended an idle wait is incomplete: its gap ends at this, its first piece. */
  #idleGapAtFirstPiece(): void {
    this.flags = (this.flags & ~IDLE_GAP_PENDING) | IDLE_GAP_TAKEN;
    this.#ctx.stats?.idleEnded(performance.now() - this.#idleSinceMs);
  }

  /**
   * The idle gap before `ex` still to be counted: to its head (whose clock read the request's
   * duration uses too) when it ended an idle wait, 0 when it was already buffered (pipelined), -1
   * for none (the first request, or a gap taken at the head's first piece).
   */
  #idleGapBefore(ex: Exchange): number {
    const flags = this.flags;
    this.flags = flags & ~(IDLE_GAP_PENDING | IDLE_GAP_TAKEN);
    if ((flags & IDLE_GAP_PENDING) !== 0) return Math.max(0, ex.startedAt - this.#idleSinceMs);
    return ex.index === 1 || (flags & IDLE_GAP_TAKEN) !== 0 ? -1 : 0;
  }

  /**
   * The request is answered; a timed one (events, the log, the status) is reported with its end
   * reading (#report), at once when nothing more is buffered, returning the reading for the idle
   * wait that follows. When the pump has more input (pipelining) it waits for the pump to answer all
   * it can (#reportAnswered): one reading then ends every request the pump answered — their heads
   * arrived together and their responses leave together in the pump's one write (beginBatch), so
   * that is how long each took — instead of one per request, as nginx reads its clock once per
   * event-loop iteration. Returns the reading a pipelined head that follows starts at: the end
   * reading, or this one's start while it waits; 0 when the request is not timed.
   */
  #requestDone(ex: Exchange, keepAlive: boolean): number {
    if (ex.startedAt === 0) return 0;
    ex.keepAliveAfter = keepAlive;
    if (this.#ctx.stats !== null) ex.idleGapBeforeMs = this.#idleGapBefore(ex);
    if (this.#has(PUMPING) && this.#parser.bufferedBytes > 0) {
      (this.#answered ??= [])[this.#answeredCount++] = ex;
      return ex.startedAt;
    }
    if (this.#answeredCount > 0) {
      // The last of a pump's answers: every one is reported at this reading.
      (this.#answered as Array<Exchange | undefined>)[this.#answeredCount++] = ex;
      return this.#reportAnswered();
    }
    const nowMs = performance.now();
    this.#report(ex, nowMs);
    return nowMs;
  }

  /** Reports the requests the pump answered, ending at one clock read taken now; returns it, or 0 when none waits. */
  #reportAnswered(): number {
    const count = this.#answeredCount;
    if (count === 0) return 0;
    const answered = this.#answered as Array<Exchange | undefined>;
    // A listener may close the connection while it is told: what it causes finds the list empty
    // (and an answer it causes goes to a list of its own).
    this.#answeredCount = 0;
    this.#answered = null;
    const nowMs = performance.now();
    let thrown: { error: unknown } | null = null;
    for (let i = 0; i < count; i++) {
      const ex = answered[i] as Exchange;
      answered[i] = undefined; // an idle connection keeps no request
      try {
        this.#report(ex, nowMs);
      } catch (error) {
        // A 'request' listener threw: the other requests are still reported, then it goes on up.
        thrown ??= { error };
      }
    }
    this.#answered ??= answered;
    if (thrown !== null) throw thrown.error;
    return nowMs;
  }

  /** Counts the request when the status is on, logs it, and emits its event for whoever listens. */
  #report(ex: Exchange, nowMs: number): void {
    const durationMs = nowMs - ex.startedAt;
    const keepAlive = ex.keepAliveAfter;
    const stats = this.#ctx.stats;
    if (stats !== null) stats.requestDone(ex.head.method, ex.status, durationMs, ex.idleGapBeforeMs);
    const log = this.#ctx.requestLog;
    if (log !== null) log(this.id, ex.index, ex.head.method, ex.head.target, ex.status, ex.bytesOut, durationMs, keepAlive, nowMs);
    if (ex.emits) {
      this.#ctx.emit('request', {
        connectionId: this.id,
        requestIndex: ex.index,
        method: ex.head.method,
        target: ex.head.target,
        status: ex.status,
        bytes: ex.bytesOut,
        durationMs,
        keepAlive,
      });
    }
  }

  /** An event other than a request's: the requests answered before it are reported first, so lines and events keep their order. */
  #emit<E extends keyof ServerEvents>(event: E, ...args: ServerEvents[E]): void {
    if (this.#answeredCount > 0) this.#reportAnswered();
    this.#ctx.emit(event, ...args);
  }

  /** `nowMs`: a clock read just taken (or the start of a request waiting for its report), or 0. */
  #nextCycle(nowMs = 0): void {
    const parser = this.#parser;
    // Input ran dry: the requests the pump answered are reported now, while this exchange is still
    // the phase (as a request answered alone is), and their reading starts the idle wait.
    if (this.#answeredCount > 0 && parser.bufferedBytes === 0) nowMs = this.#reportAnswered();
    this.#cycleEndMs = nowMs;
    parser.nextCycle();
    this.#phase = WAITING;
    if (parser.bufferedBytes === 0) {
      if (parser.isPristine) {
        this.#parser = this.#ctx.parsers.idle;
        this.#ctx.parsers.release(parser);
      }
      this.#armIdle(nowMs);
      if (this.#ctx.isShuttingDown()) this.#closeWhenIdleEnough();
    }
    this.#updateReading();
    this.#pump();
  }

  /** The keep-alive idle deadline (a new connection waits for its first request the same way); `readMs`: a clock read just taken, or 0. */
  #armIdle(readMs = 0): void {
    this.#idleGeneration++;
    const nowMs = readMs === 0 ? performance.now() : readMs;
    this.#idleSinceMs = Math.floor(nowMs);
    if (this.writeBlocked) {
      // The response is not out yet (the send deadline runs meanwhile): the keep-alive timeout
      // counts from its end, as advertised, so a slow reader is not closed on as idle.
      this.clearDeadline('idle');
      this.#set(IDLE_AT_DRAIN, true);
      return;
    }
    this.setDeadline('idle', this.#ctx.options.keepAliveTimeoutMs + this.#ctx.options.keepAliveTimeoutBufferMs, nowMs);
  }

  #drainBody(ex: Exchange): void {
    for (;;) {
      const event = this.#parser.next();
      switch (event.kind) {
        case 'data':
          ex.drainedBytes += event.bytes.length;
          if (ex.drainedBytes > ex.drainBudgetBytes) {
            this.#close('unread-body');
            return;
          }
          break;
        case 'end':
          ex.reading = 'done';
          this.clearDeadline('request');
          this.clearDeadline('rate');
          this.#nextCycle();
          return;
        case 'need-data':
          this.#updateReading();
          return;
        case 'error':
          ex.reading = 'failed';
          if (event.error.code === 'incomplete-message' && this.#has(PEER_ENDED)) {
            this.#close('peer-eof');
            return;
          }
          // Past maxBodyBytes while discarding (a chunked body, whose size shows only as it comes):
          // too much to drain, as past the drain budget. No 413 was sent: none is reported.
          if (event.error.code === 'body-too-large') {
            this.#close('unread-body');
            return;
          }
          this.#emit('protocol-error', { connectionId: this.id, code: event.error.code, status: event.error.status });
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
    const reading = ex.reading;
    if (reading === 'done') return Promise.resolve(DONE);
    if (reading === 'failed') return Promise.reject(new ProtocolError('incomplete-message'));
    if (this.#phase !== ex || ex.writing === 'abandoned' || reading === 'draining') {
      return Promise.reject(new Error('the request body can no longer be read'));
    }
    if (ex.pull !== null) return Promise.reject(new Error('the request body is already being read'));
    if (ex.head.expectContinue && !ex.continueSent && ex.writing === 'handler' && this.#ctx.options.httpVersion === '1.1') {
      ex.continueSent = true;
      this.writeContinue();
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
        ex.reading = 'done';
        ex.trailers = event.trailers;
        this.clearDeadline('request');
        this.clearDeadline('rate');
        pull.resolve(DONE);
        return;
      case 'need-data':
        ex.pull = pull;
        // Past the request deadline: the client gets OVERDUE_RECHECK_MS more for bytes it may have
        // sent already (reading may just be resuming after a drain), then #overdueWait decides.
        if (ex.reading === 'overdue' && !this.hasDeadline('request')) this.setDeadline('request', OVERDUE_RECHECK_MS);
        this.#updateReading();
        return;
      case 'error':
        ex.reading = 'failed';
        pull.reject(event.error);
        this.#protocolError(event.error, ex);
        return;
      default:
        pull.reject(new Error(`parser produced ${event.kind} inside a body`));
    }
  }

  /**
   * At the request deadline (or a recheck after it), the response started: a handler waiting for
   * body bytes the client has not sent fails its read and the connection is reset (the response
   * cannot end honestly), as Go's ReadTimeout fails a late read; a body trickled into a response
   * would otherwise hold the connection for ever. While our own writes hold reading back, the
   * client's bytes may be waiting unread: it is looked at again OVERDUE_RECHECK_MS later (a client
   * not reading at all meets the send deadline); a handler not waiting now is looked at when it next
   * waits (#serveBodyPull).
   */
  #overdueWait(ex: Exchange): void {
    if (ex.pull === null) return;
    if (this.writeBlocked) {
      this.setDeadline('request', OVERDUE_RECHECK_MS);
      return;
    }
    this.#abandon(ex, 'the request body did not arrive within the request timeout');
    this.#abort('request-timeout');
  }

  /**
   * The handler's answer will be ignored; a pending body read fails with `why` (an Error is built
   * only when someone is waiting: capturing a stack on every close is measurable).
   */
  #abandon(ex: Exchange, why: 'incomplete-message' | string | ProtocolError): void {
    ex.writing = 'abandoned';
    this.clearDeadline('handler');
    abortSignal(ex);
    const watcher = ex.abandonWatcher;
    if (watcher !== null) {
      ex.abandonWatcher = null;
      watcher.responseAbandoned();
    }
    const pull = ex.pull;
    if (pull === null) return;
    ex.pull = null;
    pull.reject(why instanceof ProtocolError ? why : why === 'incomplete-message' ? new ProtocolError('incomplete-message') : new Error(why));
  }

  // ── errors, timeouts, closing ──────────────────────────────────────────────

  #protocolError(error: ProtocolError, ex: Exchange | null): void {
    if (ex !== null) {
      const started = ex.responseStarted;
      if (error.code === 'incomplete-message' && this.#has(PEER_ENDED) && started) {
        this.#close('peer-eof');
        return;
      }
      this.#abandon(ex, error);
      if (started) {
        this.#emit('protocol-error', { connectionId: this.id, code: error.code, status: error.status });
        this.#abort('protocol-error');
        return;
      }
    }
    this.#emit('protocol-error', { connectionId: this.id, code: error.code, status: error.status });
    this.#writeErrorAndClose(error.status, 'protocol-error');
  }

  /**
   * A response of our own (4xx/5xx) with `Connection: close`, then a lingering close. To a HEAD
   * request (as far as its request line was read) it carries no body.
   */
  #writeErrorAndClose(status: number, reason: CloseReason): void {
    const phase = this.#phase;
    if (phase.kind === 'closing' || phase.kind === 'closed') return;
    const headOnly = phase.kind === 'exchange' ? phase.head.method === 'HEAD' : this.#parser.isHeadRequest;
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
    this.writeText(headOnly ? head : head + body);
    if (phase.kind === 'exchange' && !phase.responseStarted) {
      // The request's answer is this error (its handler abandoned): reported (log line, status, event) as any other.
      phase.status = status;
      phase.bytesOut = headOnly ? 0 : body.length;
      this.#requestDone(phase, false);
    }
    this.#close(reason);
  }

  /** Lingering close: FIN after the queued response, then read and discard for a bounded time. */
  #close(reason: CloseReason): void {
    const phase = this.#phase;
    if (phase.kind === 'closing' || phase.kind === 'closed') return;
    this.#closeReason ??= reason;
    this.#phase = CLOSING;
    this.#bytesReadWhileClosing = 0;
    this.clearDeadlines();
    if (phase.kind === 'exchange') this.#abandon(phase, 'connection closing');
    if (this.#has(READ_PAUSED)) {
      this.#set(READ_PAUSED, false);
      this.socket.resume();
    }
    this.flushText();
    // Nothing left to send and no reason to linger: close(2) sends the FIN after the response the
    // kernel already holds, as shutdown(2) would, without node's shutdown round (as nginx does).
    // TLS owes the peer a close_notify first (end() sends it), unless the handshake never finished.
    if (phase.kind === 'handshake' || (this.outboundEmpty && !this.#has(ENCRYPTED) && !this.#lingers())) {
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
    // A TLS socket is reset through the TCP socket beneath it (node resets TCP handles only).
    if (this.socket.writableEnded) {
      this.socket.destroy();
    } else {
      (rawSocketOf(this.socket) ?? this.socket).resetAndDestroy();
      this.#ctx.stats?.resetSent();
    }
  }

  #internalError(error: unknown): void {
    this.#emit('internal-error', { connectionId: this.id, error });
    this.#closeReason ??= 'internal-error';
    if (this.#phase.kind !== 'closed') this.socket.destroy();
  }

  /** Stop reading while too much is buffered unparsed or responses are not being read. */
  #updateReading(): void {
    const phase = this.#phase.kind;
    if (phase === 'closing' || phase === 'closed' || phase === 'upgraded') return;
    // Read ahead at most one read buffer, or two full heads when heads may be larger.
    const highWater = 2 * this.#ctx.limits.maxHeaderBytes;
    const pause = this.writeBlocked || this.#parser.bufferedBytes >= (highWater > READ_BUFFER_BYTES ? highWater : READ_BUFFER_BYTES);
    const paused = this.#has(READ_PAUSED);
    if (pause && !paused) {
      this.#set(READ_PAUSED, true);
      this.socket.pause();
    } else if (!pause && paused) {
      this.#set(READ_PAUSED, false);
      this.socket.resume();
    }
  }
}

/** When a deadline `durationMs` long that falls at `deadlineAt` was set (0 when there is none). */
function since(deadlineAt: number, durationMs: number): number {
  return deadlineAt === 0 ? 0 : deadlineAt - durationMs;
}

/** The client went away or the server gave up before the response was done: `req.signal` aborts. */
function abortSignal(ex: Exchange): void {
  if (ex.signalState !== 'open') return;
  ex.signalState = 'aborted';
  ex.aborter?.abort();
  const watcher = ex.goneWatcher;
  if (watcher === null) return;
  ex.goneWatcher = null;
  watcher.clientGone();
}

/** The request body is not all read yet (the handler may read it, or it is being discarded). */
function isBodyPending(reading: ReadingState): boolean {
  return reading === 'body' || reading === 'overdue' || reading === 'draining';
}

/** `bytes[0, length)` in a buffer of its own (small copies land in node's buffer pool). */
function copyOf(bytes: Buffer, length: number): Buffer {
  const copy = Buffer.allocUnsafe(length);
  bytes.copy(copy, 0, 0, length);
  return copy;
}
