/**
 * One raw TCP connection to the inspected server, read through the sans-I/O ResponseParser so that
 * every response boundary and every close is observed exactly.
 *
 * Contract:
 * - send() writes one request and queues its method for response framing (RFC 9112 §6.3);
 *   sendPipelined() writes several in one write;
 *   writeRaw() writes bytes without expecting a response (an unfinished head).
 * - read() resolves with the next complete response in order, or with why there is none: the
 *   peer closed (FIN) or reset (RST) the connection, possibly mid-response; the bytes were not
 *   HTTP/1.x; the time ran out; or destroy() was called.
 *   Responses that arrive with nobody reading (a 408 before an idle close) wait for the next read().
 *   Interim (1xx) responses are skipped.
 * - The first close signal is recorded with its kind and monotonic time: `fin` when the peer's FIN
 *   arrives ('end'), `rst` on ECONNRESET/EPIPE. Times are performance.now() milliseconds.
 * - destroy() is idempotent; every timer is cleared on settle.
 * - For an https:// target the connection is TLS (ALPN http/1.1); connect() resolves after the
 *   handshake, whose duration `handshakeMs` records (TCP connect excluded). `tls.session` offers an
 *   earlier connection's session for resumption; `tls.insecure` skips certificate verification.
 */

import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { ResponseParser, type ResponseHead, type ResponseParseError } from '../http1/response-parser.js';
import type { Target } from './target.js';

export type CloseKind = 'fin' | 'rst';

export interface CloseObservation {
  kind: CloseKind;
  atMs: number;
}

export interface ReceivedResponse {
  head: ResponseHead;
  bodyBytes: number;
  /** When the last byte of the response arrived. */
  endAtMs: number;
}

export type ReadResult =
  | { kind: 'response'; response: ReceivedResponse }
  | { kind: 'closed'; close: CloseObservation; midResponse: boolean }
  | { kind: 'not-http'; error: ResponseParseError; preview: string; firstBytes: Buffer }
  | { kind: 'timeout' }
  | { kind: 'aborted' };

export class ConnectError extends Error {
  readonly code: string;

  constructor(target: Target, code: string, detail: string) {
    super(`cannot connect to ${target.host}:${target.port}: ${detail}`);
    this.name = 'ConnectError';
    this.code = code;
  }
}

interface Reader {
  resolve(result: ReadResult): void;
  timer: NodeJS.Timeout;
}

interface CloseWaiter {
  resolve(close: CloseObservation | null): void;
  timer: NodeJS.Timeout;
}

const PREVIEW_BYTES = 48;

export interface TlsConnectOptions {
  insecure: boolean;
  session?: Buffer;
}

export class ProbeConnection {
  readonly #socket: net.Socket;
  /** TLS only: from the TCP connection to the finished handshake, ms. */
  handshakeMs: number | null = null;
  readonly #parser = new ResponseParser();
  readonly #responses: ReceivedResponse[] = [];
  readonly #readers: Reader[] = [];
  readonly #closeWaiters: CloseWaiter[] = [];
  #current: { head: ResponseHead; bodyBytes: number } | null = null;
  #close: CloseObservation | null = null;
  #failure: { error: ResponseParseError; preview: string; firstBytes: Buffer } | null = null;
  #truncated = false;
  #firstBytes: Buffer = Buffer.alloc(0);
  #destroyed = false;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', this.#onData);
    socket.on('end', () => {
      this.#recordClose('fin');
      this.#parser.feedEof();
      this.#pump();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') this.#recordClose('rst');
      this.#pump();
    });
    socket.on('close', () => {
      this.#destroyed = true;
      this.#pump();
      this.#settleCloseWaiters();
    });
  }

  static connect(target: Target, timeoutMs: number, tlsOptions: TlsConnectOptions = { insecure: false }): Promise<ProbeConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
      let connectedAt = 0;
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ConnectError(target, 'ETIMEDOUT', `no answer to the TCP handshake within ${timeoutMs} ms`));
      }, timeoutMs);
      const onError = (error: NodeJS.ErrnoException): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(new ConnectError(target, error.code ?? 'ERROR', error.code === 'ECONNREFUSED' ? 'connection refused (nothing listens there?)' : error.message));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        if (target.tls === null) {
          clearTimeout(timer);
          socket.off('error', onError);
          resolve(new ProbeConnection(socket));
          return;
        }
        connectedAt = performance.now();
        socket.off('error', onError);
        const secure = tls.connect({
          socket,
          servername: target.tls.servername ?? undefined,
          rejectUnauthorized: !tlsOptions.insecure,
          session: tlsOptions.session,
          ALPNProtocols: ['http/1.1'],
        });
        secure.once('error', (error: NodeJS.ErrnoException) => {
          clearTimeout(timer);
          secure.destroy();
          const hint = error.code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || error.code === 'SELF_SIGNED_CERT_IN_CHAIN' || error.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' ? ' (--insecure skips the check)' : '';
          reject(new ConnectError(target, error.code ?? 'TLS', `TLS handshake failed: ${error.message}${hint}`));
        });
        secure.once('secureConnect', () => {
          clearTimeout(timer);
          secure.removeAllListeners('error');
          const conn = new ProbeConnection(secure);
          conn.handshakeMs = performance.now() - connectedAt;
          resolve(conn);
        });
      });
    });
  }

  /** TLS only: the negotiated protocol, cipher, ALPN, and whether the session was resumed. */
  get tlsState(): { protocol: string | null; cipher: string; alpn: string | null; resumed: boolean; session: Buffer | undefined } | null {
    const socket = this.#socket as tls.TLSSocket;
    if (socket.encrypted !== true) return null;
    const alpn = socket.alpnProtocol;
    return { protocol: socket.getProtocol(), cipher: socket.getCipher()?.name ?? '?', alpn: typeof alpn === 'string' ? alpn : null, resumed: socket.isSessionReused(), session: socket.getSession() };
  }

  /** The first close signal from the peer, or null while none arrived. */
  get closed(): CloseObservation | null {
    return this.#close;
  }

  /** Writes one request; its response is framed as a response to `method`. */
  send(method: string, request: string): void {
    this.#parser.expectResponseTo(method);
    this.writeRaw(request);
  }

  /** Writes several requests in one write (pipelining, RFC 9112 §9.3.2); responses are matched in order. */
  sendPipelined(requests: ReadonlyArray<{ method: string; request: string }>): void {
    for (const { method } of requests) this.#parser.expectResponseTo(method);
    this.writeRaw(requests.map((r) => r.request).join(''));
  }

  writeRaw(bytes: string): void {
    if (this.#destroyed) return;
    this.#socket.write(bytes, 'latin1');
  }

  read(timeoutMs: number): Promise<ReadResult> {
    return new Promise((resolve) => {
      const reader: Reader = {
        resolve,
        timer: setTimeout(() => {
          const index = this.#readers.indexOf(reader);
          if (index !== -1) this.#readers.splice(index, 1);
          resolve({ kind: 'timeout' });
        }, timeoutMs),
      };
      this.#readers.push(reader);
      this.#pump();
    });
  }

  /** Resolves with the close observation, or null when none arrived within `timeoutMs`. */
  waitForClose(timeoutMs: number): Promise<CloseObservation | null> {
    if (this.#close !== null || this.#destroyed) return Promise.resolve(this.#close);
    return new Promise((resolve) => {
      const waiter: CloseWaiter = {
        resolve,
        timer: setTimeout(() => {
          const index = this.#closeWaiters.indexOf(waiter);
          if (index !== -1) this.#closeWaiters.splice(index, 1);
          resolve(null);
        }, timeoutMs),
      };
      this.#closeWaiters.push(waiter);
    });
  }

  /** Responses received and not yet read. */
  get unreadResponses(): number {
    return this.#responses.length;
  }

  destroy(): void {
    if (!this.#socket.destroyed) this.#socket.destroy();
    this.#destroyed = true;
    this.#pump();
    this.#settleCloseWaiters();
  }

  readonly #onData = (chunk: Buffer): void => {
    if (this.#firstBytes.length < PREVIEW_BYTES) this.#firstBytes = Buffer.concat([this.#firstBytes, chunk.subarray(0, PREVIEW_BYTES - this.#firstBytes.length)]);
    if (this.#failure !== null) return;
    this.#parser.feed(chunk);
    this.#pump();
  };

  #recordClose(kind: CloseKind): void {
    if (this.#close !== null) return;
    this.#close = { kind, atMs: performance.now() };
    this.#settleCloseWaiters();
  }

  #settleCloseWaiters(): void {
    if (this.#close === null && !this.#destroyed) return;
    for (const waiter of this.#closeWaiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.resolve(this.#close);
    }
  }

  /** Runs the parser as far as the bytes allow, then answers waiting readers. */
  #pump(): void {
    while (this.#failure === null) {
      const event = this.#parser.next();
      if (event.kind === 'need-data' || event.kind === 'eof') break;
      if (event.kind === 'head') {
        this.#current = { head: event.head, bodyBytes: 0 };
      } else if (event.kind === 'data') {
        if (this.#current !== null) this.#current.bodyBytes += event.bytes.length;
      } else if (event.kind === 'end') {
        if (this.#current !== null && !this.#current.head.interim) this.#responses.push({ ...this.#current, endAtMs: performance.now() });
        this.#current = null;
      } else if (event.kind === 'paused') {
        this.#parser.nextCycle();
      } else if (event.kind === 'switched') {
        break;
      } else if (event.error.code === 'incomplete-message') {
        this.#truncated = true;
        break;
      } else {
        this.#failure = { error: event.error, preview: previewBytes(this.#firstBytes), firstBytes: this.#firstBytes };
        this.#socket.destroy();
      }
    }
    while (this.#readers.length > 0) {
      const result = this.#nextResult();
      if (result === null) return;
      const reader = this.#readers.shift() as Reader;
      clearTimeout(reader.timer);
      reader.resolve(result);
    }
  }

  #nextResult(): ReadResult | null {
    const response = this.#responses.shift();
    if (response !== undefined) return { kind: 'response', response };
    if (this.#failure !== null) return { kind: 'not-http', ...this.#failure };
    if (this.#close !== null) return { kind: 'closed', close: this.#close, midResponse: this.#truncated || this.#current !== null || this.#parser.isMidMessage };
    if (this.#destroyed) return { kind: 'aborted' };
    return null;
  }
}

/** The first bytes received, printable: ASCII as is, everything else as \xNN. */
function previewBytes(bytes: Buffer): string {
  let text = '';
  for (const byte of bytes) {
    if (byte === 0x0d) text += '\\r';
    else if (byte === 0x0a) text += '\\n';
    else if (byte >= 0x20 && byte < 0x7f) text += String.fromCharCode(byte);
    else text += `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return text;
}
