/**
 * The keep-alive pool of one upstream: LIFO reuse of idle connections (the most recently used is
 * the least likely to be near its idle deadline, and the rest age out), at most maxIdlePerUpstream
 * idle (beyond, the least recently used closes), an optional cap on connections with a bounded
 * FIFO wait queue (full or timed out → 503).
 *
 * A connection leaves the pool only if it is still good by the clock, not by timers that a busy
 * event loop may not have run: idle for less than its idle limit (idleTimeoutMs, or the upstream's
 * advertised `Keep-Alive: timeout=` less keepAliveHintMarginMs, at most half of it), younger than
 * maxConnectionLifetimeMs, under its request limit. Then it waits one event-loop turn, still
 * watched, so that a FIN or RST already on its way is read before a request is written on it
 * (undici's fix for the same race); one that closed meanwhile is dropped and the next is tried.
 */

import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { EventEmitter } from 'node:events';
import { parseKeepAliveParameters, type ResponseHead, type ResponseParserLimits } from '../http1/response-parser.js';
import type { ProxyEvents, UpstreamCloseReason } from './events.js';
import type { ResolvedProxyOptions } from './options.js';
import { connectOptions, type UpstreamTarget } from './target.js';
import { UpstreamConnection, type ConnectionOwner } from './upstream-connection.js';

export interface PoolStats {
  upstream: string;
  idle: number;
  /** Connecting, being checked, or carrying a request. */
  active: number;
  /** Requests waiting for a connection (maxConnectionsPerUpstream reached). */
  waiting: number;
  opened: number;
  reused: number;
  /** Requests sent again after a failure before any response byte. */
  retried: number;
  /** Requests that failed on this upstream (502/503/504 or an aborted response). */
  failed: number;
  /** Requests in flight (least-outstanding balancing counts these). */
  outstanding: number;
}

/** Why a connection could not be had. */
export class PoolError extends Error {
  readonly code: string;
  readonly phase: 'queue' | 'connect';

  constructor(phase: 'queue' | 'connect', code: string, message: string) {
    super(message);
    this.name = 'PoolError';
    this.phase = phase;
    this.code = code;
  }
}

interface Waiter {
  wake(): void;
  fail(error: PoolError): void;
}

let nextConnectionId = 1;

const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class UpstreamPool implements ConnectionOwner {
  readonly target: UpstreamTarget;
  readonly #options: ResolvedProxyOptions;
  readonly #events: EventEmitter<ProxyEvents>;
  readonly #limits: ResponseParserLimits;
  /** Idle connections, most recently used last. */
  readonly #idle: UpstreamConnection[] = [];
  readonly #waiters: Waiter[] = [];
  /** Connections not closed: connecting, idle, checking or busy. */
  #open = 0;
  #closed = false;
  readonly stats: PoolStats;

  constructor(target: UpstreamTarget, options: ResolvedProxyOptions, events: EventEmitter<ProxyEvents>) {
    this.target = target;
    this.#options = options;
    this.#events = events;
    this.#limits = { maxHeaderBytes: options.maxResponseHeaderBytes, maxHeaderCount: 1_000, maxChunkLineBytes: 4_096 };
    this.stats = { upstream: target.name, idle: 0, active: 0, waiting: 0, opened: 0, reused: 0, retried: 0, failed: 0, outstanding: 0 };
  }

  snapshot(): PoolStats {
    return { ...this.stats, idle: this.#idle.length, active: this.#open - this.#idle.length, waiting: this.#waiters.length };
  }

  /**
   * A connection for one request: a checked idle one (reused: true) unless `fresh`, else a new one,
   * waiting in the queue at the cap. Rejects with a PoolError.
   */
  async acquire(fresh: boolean): Promise<{ connection: UpstreamConnection; reused: boolean }> {
    for (;;) {
      if (this.#closed) throw new PoolError('queue', 'proxy-closed', 'the proxy is closed');
      if (!fresh) {
        const idle = this.#takeIdle(performance.now());
        if (idle !== null) {
          idle.state = 'checking';
          await yieldTurn();
          // A close seen during the turn has destroyed the socket; its 'close' event comes later.
          if (idle.state === 'checking' && !idle.isClosed) {
            this.stats.reused++;
            return { connection: idle, reused: true };
          }
          continue;
        }
      }
      const max = this.#options.maxConnectionsPerUpstream;
      if (max === 0 || this.#open < max) return { connection: await this.#connect(), reused: false };
      await this.#wait();
    }
  }

  /** The most recently used idle connection still good by the clock; the others met are closed. */
  #takeIdle(nowMs: number): UpstreamConnection | null {
    const lifetimeMs = this.#options.maxConnectionLifetimeMs;
    for (;;) {
      const connection = this.#idle.pop();
      if (connection === undefined) return null;
      if (connection.isClosed) continue;
      if (nowMs - connection.idleSince >= connection.idleLimitMs) connection.close('idle-timeout');
      else if (lifetimeMs > 0 && nowMs - connection.openedAt >= lifetimeMs) connection.close('lifetime');
      else return connection;
    }
  }

  #wait(): Promise<void> {
    if (this.#waiters.length >= this.#options.maxQueuedPerUpstream) {
      return Promise.reject(new PoolError('queue', 'queue-full', `${this.#waiters.length} requests already wait for a connection`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const at = this.#waiters.indexOf(waiter);
        if (at !== -1) this.#waiters.splice(at, 1);
        reject(new PoolError('queue', 'queue-timeout', `no connection within ${this.#options.queueTimeoutMs} ms`));
      }, this.#options.queueTimeoutMs);
      const waiter: Waiter = {
        wake: () => {
          clearTimeout(timer);
          resolve();
        },
        fail: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /** A connection was parked or closed: the first waiter tries again. */
  #wakeOne(): void {
    this.#waiters.shift()?.wake();
  }

  #connect(): Promise<UpstreamConnection> {
    const options = this.#options;
    const socket = net.connect(connectOptions(this.target));
    const connection = new UpstreamConnection(nextConnectionId++, socket, this, this.#limits, options.idleTimeoutMs, options.maxRequestsPerConnection === 0 ? Infinity : options.maxRequestsPerConnection);
    this.#open++;
    connection.setTimeout(options.connectTimeoutMs);
    return new Promise((resolve, reject) => {
      const onConnect = (): void => {
        socket.off('close', onClose);
        this.stats.opened++;
        connection.connected = true;
        this.#events.emit('upstream-open', { upstream: this.target.name, connectionId: connection.id });
        connection.state = 'checking';
        resolve(connection);
      };
      const onClose = (): void => {
        socket.off('connect', onConnect);
        const code = connection.errorCode ?? 'closed';
        reject(new PoolError('connect', code, code === 'timeout' ? `connect timed out after ${options.connectTimeoutMs} ms` : `connect failed: ${code}`));
      };
      socket.once('connect', onConnect);
      socket.once('close', onClose);
    });
  }

  /** What the upstream said about keeping the connection (RFC 9112 §9.3; Keep-Alive, RFC 2068 §19.7.1.1). */
  noteResponse(connection: UpstreamConnection, head: ResponseHead): void {
    const keepAlive = head.headers.get('keep-alive');
    if (keepAlive === undefined) return;
    const hint = parseKeepAliveParameters(keepAlive);
    if (hint.timeoutSeconds !== null) {
      const hintMs = hint.timeoutSeconds * 1000;
      const limitMs = hintMs - Math.min(this.#options.keepAliveHintMarginMs, hintMs / 2);
      connection.idleLimitMs = Math.min(this.#options.idleTimeoutMs, Math.floor(limitMs));
    }
    if (hint.max !== null) connection.requestLimit = Math.min(connection.requestLimit, connection.requests + hint.max);
  }

  /** The exchange is over: back to the pool when `reusable`, else closed with `reason`. */
  release(connection: UpstreamConnection, reusable: boolean, reason: UpstreamCloseReason): void {
    connection.detach();
    if (connection.isClosed) return;
    const nowMs = performance.now();
    const lifetimeMs = this.#options.maxConnectionLifetimeMs;
    if (!reusable) connection.close(reason);
    else if (this.#closed) connection.close('proxy-closed');
    else if (connection.requests >= connection.requestLimit) connection.close('max-requests');
    else if (lifetimeMs > 0 && nowMs - connection.openedAt >= lifetimeMs) connection.close('lifetime');
    else if (connection.idleLimitMs <= 0) connection.close('idle-timeout');
    else if (this.#options.maxIdlePerUpstream === 0) connection.close('idle-cap');
    else {
      connection.park(nowMs);
      this.#idle.push(connection);
      if (this.#idle.length > this.#options.maxIdlePerUpstream) this.#idle.shift()?.close('idle-cap');
      this.#wakeOne();
    }
  }

  idleTimedOut(connection: UpstreamConnection): void {
    connection.close('idle-timeout');
  }

  closed(connection: UpstreamConnection, reason: UpstreamCloseReason): void {
    this.#open--;
    const at = this.#idle.lastIndexOf(connection);
    if (at !== -1) this.#idle.splice(at, 1);
    if (connection.connected) {
      this.#events.emit('upstream-close', {
        upstream: this.target.name,
        connectionId: connection.id,
        reason,
        requests: connection.requests,
        lifetimeMs: Math.round(performance.now() - connection.openedAt),
      });
    }
    this.#wakeOne();
  }

  /** Closes the idle connections and refuses new requests; busy ones close when their exchange ends. */
  close(): void {
    this.#closed = true;
    for (const connection of this.#idle.splice(0)) connection.close('proxy-closed');
    for (const waiter of this.#waiters.splice(0)) waiter.fail(new PoolError('queue', 'proxy-closed', 'the proxy is closed'));
  }

  get openConnections(): number {
    return this.#open;
  }
}
