/**
 * The keep-alive pool of one upstream: LIFO reuse of idle connections (the most recently used is
 * the least likely to be near its idle deadline, and the rest age out), at most maxIdlePerUpstream
 * idle (beyond, the least recently used closes once idle for idleCapGraceMs), an optional cap on
 * connections with a bounded FIFO wait queue (full or timed out → 503).
 *
 * A connection leaves the pool only if it is still good by the clock, not by timers that a busy
 * event loop may not have run: idle for less than its idle limit (idleTimeoutMs, or the upstream's
 * advertised `Keep-Alive: timeout=` less keepAliveHintMarginMs, at most half of it), younger than
 * maxConnectionLifetimeMs, under its request limit. And it is lent only at the end of the
 * event-loop turn in which it was asked for (one setImmediate for all the requests of the turn),
 * still watched, so that a FIN or RST already on its way is read before a request is written on
 * it (undici's fix for the same race); one that closed meanwhile is dropped and the next is tried.
 */

import { performance } from 'node:perf_hooks';
import type { EventEmitter } from 'node:events';
import { parseKeepAliveParameters, type KeepAliveParameters, type ResponseHead, type ResponseParserLimits } from '../http1/response-parser.js';
import { fieldValue } from './hygiene.js';
import type { ProxyEvents, UpstreamCloseReason } from './events.js';
import type { ResolvedProxyOptions } from './options.js';
import type { UpstreamTarget } from './target.js';
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

/** What waits for a connection: an exchange with an upstream. */
export interface LeaseUser {
  /** The connection is this user's (busy once attached); `reused`: it carried requests before. */
  leased(connection: UpstreamConnection, reused: boolean): void;
  leaseFailed(error: PoolError): void;
}

interface Waiter {
  user: LeaseUser;
  /** It asked for a new connection (a request sent again). */
  fresh: boolean;
  timer: NodeJS.Timeout;
}

let nextConnectionId = 1;

/**
 * The watch runs every sixteenth of the shortest timeout in play (read, send, idle limits), within
 * 5 ms to 1 s: a timeout fires at most that much late, never early.
 */
const WATCH_FRACTION = 16;
const MIN_WATCH_INTERVAL_MS = 5;
const MAX_WATCH_INTERVAL_MS = 1_000;

/** The last Keep-Alive value read and what it says (an upstream repeats the same one). */
let lastKeepAlive = '';
let lastHint: Readonly<KeepAliveParameters> = { timeoutSeconds: null, max: null };

export class UpstreamPool implements ConnectionOwner {
  readonly target: UpstreamTarget;
  readonly #options: ResolvedProxyOptions;
  readonly #events: EventEmitter<ProxyEvents>;
  readonly #limits: ResponseParserLimits;
  /** Idle connections, most recently used last. */
  readonly #idle: UpstreamConnection[] = [];
  readonly #waiters: Waiter[] = [];
  /** Users that take a connection at the end of this event-loop turn (#endTurn). */
  #checking: LeaseUser[] = [];
  #turnEndScheduled = false;
  readonly #turnEnd = (): void => this.#endTurn();
  /** Connections not closed: connecting, idle or busy. */
  #open = 0;
  /** The connected ones, for the watch. */
  readonly #connections = new Set<UpstreamConnection>();
  #watchTimer: NodeJS.Timeout | null = null;
  readonly #watchAll = (): void => this.#watch();
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
   * A connection for `user`: an idle one (reused) unless `fresh`, else a new one, waiting in the
   * queue at the cap. An idle connection is lent only at the end of this event-loop turn (the
   * check phase), after every event already read by this turn's poll has been handled: a FIN or a
   * reset that was on its way has closed it by then. All the users of one turn share that wait.
   */
  lease(user: LeaseUser, fresh: boolean): void {
    if (this.#closed) {
      user.leaseFailed(new PoolError('queue', 'proxy-closed', 'the proxy is closed'));
      return;
    }
    if (fresh) {
      this.#leaseNew(user, true);
      return;
    }
    this.#checking.push(user);
    this.#scheduleTurnEnd();
  }

  #scheduleTurnEnd(): void {
    if (this.#turnEndScheduled) return;
    this.#turnEndScheduled = true;
    setImmediate(this.#turnEnd);
  }

  /**
   * The end of an event-loop turn (its check phase): the users of the turn take the idle
   * connections that are still good, most recently used first, or new ones; then the idle
   * connections beyond maxIdlePerUpstream that have waited idleCapGraceMs close (the rest when the
   * watch finds them past it). nginx closes them at once, and under more concurrent requests than
   * the cap, each burst of responses closes what the next burst of requests reopens.
   */
  #endTurn(): void {
    this.#turnEndScheduled = false;
    const users = this.#checking;
    this.#checking = [];
    const nowMs = performance.now();
    for (let i = 0; i < users.length; i++) {
      const user = users[i];
      if (this.#closed) {
        user.leaseFailed(new PoolError('queue', 'proxy-closed', 'the proxy is closed'));
        continue;
      }
      const idle = this.#takeIdle(nowMs);
      if (idle === null) {
        this.#leaseNew(user, false);
        continue;
      }
      this.stats.reused++;
      user.leased(idle, true);
    }
    this.#trimIdle(nowMs);
  }

  /** The idle connections beyond maxIdlePerUpstream that have waited idleCapGraceMs close, least recently used first. */
  #trimIdle(nowMs: number): void {
    const idle = this.#idle;
    const graceMs = this.#options.idleCapGraceMs;
    while (idle.length > this.#options.maxIdlePerUpstream && nowMs - idle[0].idleSince >= graceMs) idle.shift()?.close('idle-cap');
  }

  /** A new connection, or a place in the queue at the cap. */
  #leaseNew(user: LeaseUser, fresh: boolean): void {
    const max = this.#options.maxConnectionsPerUpstream;
    if (max === 0 || this.#open < max) this.#connect(user);
    else this.#wait(user, fresh);
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

  #wait(user: LeaseUser, fresh: boolean): void {
    if (this.#waiters.length >= this.#options.maxQueuedPerUpstream) {
      user.leaseFailed(new PoolError('queue', 'queue-full', `${this.#waiters.length} requests already wait for a connection`));
      return;
    }
    const waiter: Waiter = {
      user,
      fresh,
      timer: setTimeout(() => {
        const at = this.#waiters.indexOf(waiter);
        if (at !== -1) this.#waiters.splice(at, 1);
        user.leaseFailed(new PoolError('queue', 'queue-timeout', `no connection within ${this.#options.queueTimeoutMs} ms`));
      }, this.#options.queueTimeoutMs),
    };
    this.#waiters.push(waiter);
  }

  /** A connection was parked or closed: the first waiter tries again. */
  #wakeOne(): void {
    const waiter = this.#waiters.shift();
    if (waiter === undefined) return;
    clearTimeout(waiter.timer);
    this.lease(waiter.user, waiter.fresh);
  }

  #connect(user: LeaseUser): void {
    const options = this.#options;
    const connection = new UpstreamConnection(nextConnectionId++, this.target, this, this.#limits, options.idleTimeoutMs, options.maxRequestsPerConnection === 0 ? Infinity : options.maxRequestsPerConnection);
    const socket = connection.socket;
    this.#open++;
    connection.setTimeout(options.connectTimeoutMs);
    const onConnect = (): void => {
      socket.off('close', onClose);
      this.stats.opened++;
      connection.connected = true;
      connection.setTimeout(0);
      this.#connections.add(connection);
      this.#armWatch();
      this.#events.emit('upstream-open', { upstream: this.target.name, connectionId: connection.id });
      connection.state = 'checking';
      user.leased(connection, false);
    };
    const onClose = (): void => {
      socket.off('connect', onConnect);
      const code = connection.errorCode ?? 'closed';
      user.leaseFailed(new PoolError('connect', code, code === 'timeout' ? `connect timed out after ${options.connectTimeoutMs} ms` : `connect failed: ${code}`));
    };
    socket.once('connect', onConnect);
    socket.once('close', onClose);
  }

  /** What the upstream said about keeping the connection (RFC 9112 §9.3; Keep-Alive, RFC 2068 §19.7.1.1). */
  noteResponse(connection: UpstreamConnection, head: ResponseHead): void {
    const keepAlive = fieldValue(head.headers, 'keep-alive');
    if (keepAlive === undefined) return;
    if (keepAlive !== lastKeepAlive) {
      lastKeepAlive = keepAlive;
      lastHint = parseKeepAliveParameters(keepAlive);
    }
    const hint = lastHint;
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
      if (this.#idle.length > this.#options.maxIdlePerUpstream && this.#options.idleCapGraceMs === 0) this.#scheduleTurnEnd();
      this.#wakeOne();
    }
  }

  #armWatch(): void {
    if (this.#watchTimer !== null || this.#connections.size === 0) return;
    const options = this.#options;
    let shortestMs = Math.min(options.readTimeoutMs, options.sendTimeoutMs);
    if (this.#idle.length > options.maxIdlePerUpstream && options.idleCapGraceMs < shortestMs) shortestMs = options.idleCapGraceMs;
    for (const connection of this.#connections) if (connection.idleLimitMs < shortestMs) shortestMs = connection.idleLimitMs;
    this.#watchTimer = setTimeout(this.#watchAll, Math.min(MAX_WATCH_INTERVAL_MS, Math.max(MIN_WATCH_INTERVAL_MS, Math.floor(shortestMs / WATCH_FRACTION))));
    this.#watchTimer.unref();
  }

  /** Every connection checked against its timeouts (UpstreamConnection.watch), then the next check armed. */
  #watch(): void {
    this.#watchTimer = null;
    const nowMs = performance.now();
    for (const connection of this.#connections) connection.watch(nowMs);
    this.#trimIdle(nowMs);
    this.#armWatch();
  }

  idleTimedOut(connection: UpstreamConnection): void {
    connection.close('idle-timeout');
  }

  closed(connection: UpstreamConnection, reason: UpstreamCloseReason): void {
    this.#open--;
    this.#connections.delete(connection);
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

  /**
   * `user` no longer wants a connection (its client went away): out of this turn's lease and out of
   * the queue. One being connected for it is still handed to it (it closes it).
   */
  cancel(user: LeaseUser): void {
    const checking = this.#checking.indexOf(user);
    if (checking !== -1) this.#checking.splice(checking, 1);
    const waiting = this.#waiters.findIndex((waiter) => waiter.user === user);
    if (waiting === -1) return;
    clearTimeout(this.#waiters[waiting].timer);
    this.#waiters.splice(waiting, 1);
  }

  /** Closes the idle connections and refuses new requests; busy ones close when their exchange ends. */
  close(): void {
    this.#closed = true;
    for (const connection of this.#idle.splice(0)) connection.close('proxy-closed');
    if (this.#watchTimer !== null && this.#open === 0) {
      clearTimeout(this.#watchTimer);
      this.#watchTimer = null;
    }
    for (const waiter of this.#waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.user.leaseFailed(new PoolError('queue', 'proxy-closed', 'the proxy is closed'));
    }
  }

  get openConnections(): number {
    return this.#open;
  }
}
