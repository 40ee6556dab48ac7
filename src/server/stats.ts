/**
 * What a server counts while its live status is on (src/status reads and renders it; the server
 * only increments). One object per server, made by `HoldfastServer.enableStats()`; until then the
 * connection loop's hook is null and each call site is one null check. Counters are fields and
 * fixed arrays allocated up front, so an event on the hot path (a request) is a few additions, a
 * bucket search and no allocation. Everything derived — rates, percentiles, sums, the page — is
 * built by src/status when someone asks.
 *
 * Time is the monotonic clock in ms (performance.now); histograms of durations are in seconds,
 * Prometheus's base unit.
 */

import { performance } from 'node:perf_hooks';
import type { ConnectionCloseEvent } from './events.js';
import type { ResolvedOptions } from './options.js';

/** Counts per bucket (not cumulative) under fixed upper bounds (`le`), plus an implicit +Inf bucket. */
export class Histogram {
  /** A typed array: the bucket search reads it on every request, and it has one element kind. */
  readonly bounds: Float64Array;
  /** `bounds.length + 1` buckets; the last is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    this.bounds = Float64Array.from(bounds);
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let low = 0;
    let high = bounds.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (bounds[mid] < value) low = mid + 1;
      else high = mid;
    }
    this.counts[low]++;
    this.sum += value;
    this.count++;
  }
}

/**
 * OpenTelemetry's bucket boundaries for `http.server.request.duration` (semantic conventions for
 * HTTP metrics), in seconds: what /metrics exposes.
 */
export const OTEL_DURATION_BOUNDS_S: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/**
 * The request-duration histogram's own bounds: the OpenTelemetry ones (so their cumulative counts
 * are exact) and a geometric series 10 µs × 2^(k/4) up to 100 s, fine enough for p50 and p99 of
 * sub-millisecond requests (each bucket is ~19 % wide).
 */
export const REQUEST_DURATION_BOUNDS_S: readonly number[] = (() => {
  const bounds = new Set(OTEL_DURATION_BOUNDS_S);
  for (let k = 0; 1e-5 * 2 ** (k / 4) <= 100; k++) bounds.add(Number((1e-5 * 2 ** (k / 4)).toPrecision(3)));
  return [...bounds].sort((a, b) => a - b);
})();

export const REQUESTS_PER_CONNECTION_BOUNDS: readonly number[] = [1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 10_000];

export const CONNECTION_DURATION_BOUNDS_S: readonly number[] = [0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/** Dense around the usual keep-alive timeouts (node 5 s, 15/30/60 s presets, nginx 75 s). */
export const IDLE_GAP_BOUNDS_S: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4, 5, 7.5, 10, 15, 20, 25, 30, 45, 60, 75, 90, 120, 180, 300,
];

/** Request methods as OpenTelemetry normalises `http.request.method`: the RFC 9110 ones and PATCH, the rest `_OTHER`. */
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', '_OTHER'] as const;

/** The method's index in METHODS (a switch: the parser's method strings are interned, so GET is one comparison). */
function methodIndex(method: string): number {
  switch (method) {
    case 'GET':
      return 0;
    case 'HEAD':
      return 1;
    case 'POST':
      return 2;
    case 'PUT':
      return 3;
    case 'DELETE':
      return 4;
    case 'CONNECT':
      return 5;
    case 'OPTIONS':
      return 6;
    case 'TRACE':
      return 7;
    case 'PATCH':
      return 8;
    default:
      return 9;
  }
}
export const FIRST_STATUS = 100;
export const STATUS_SLOTS = 500;

/** Close reasons are kept per second for this long (the "last minute" on the dashboard). */
export const CLOSE_WINDOW_S = 60;

/** A new connection from an address whose idle connection the server closed this recently counts as a reconnect. */
export const RECONNECT_WINDOW_MS = 2_000;
/** Addresses remembered for reconnect detection (the oldest are forgotten first). */
const RECENT_IDLE_CLOSES = 4_096;

export interface ReasonCount {
  total: number;
  /** Per second in a ring of CLOSE_WINDOW_S slots, valid where `ServerStats.closeSlotSecond` says so. */
  readonly perSecond: Float64Array;
}

export class ServerStats {
  /** Monotonic ms when counting began. */
  readonly startedAtMs = performance.now();
  readonly startedAtEpochMs = Date.now();
  readonly #advertisedMs: number;
  readonly #enforcedMs: number;

  accepted = 0;
  /** Connections refused at maxConnections or near the open-file limit. */
  refused = 0;
  closed = 0;
  readonly closeReasons = new Map<string, ReasonCount>();
  /** The second each slot of the close ring holds. */
  readonly closeSlotSecond = new Float64Array(CLOSE_WINDOW_S).fill(-1);

  /** [method index × STATUS_SLOTS + status − 100] → requests answered. */
  readonly requests = new Float64Array(METHODS.length * STATUS_SLOTS);
  readonly requestDuration = new Histogram(REQUEST_DURATION_BOUNDS_S);
  /** Observed when a connection closes. */
  readonly requestsPerConnection = new Histogram(REQUESTS_PER_CONNECTION_BOUNDS);
  readonly connectionDuration = new Histogram(CONNECTION_DURATION_BOUNDS_S);
  /** From a connection going idle after a response to the next request's first byte (0 for a request already buffered). */
  readonly idleGap = new Histogram(IDLE_GAP_BOUNDS_S);

  // Keep-alive health.
  /** Requests that arrived after the advertised timeout but before the enforced one: the buffer kept them. */
  savedByIdleBuffer = 0;
  /** Requests whose bytes were read after the idle deadline had fired (the loop was late): the pending-bytes check kept them. */
  savedByPendingCheck = 0;
  /** New connections from an address within RECONNECT_WINDOW_MS of the server closing its idle connection. */
  reconnectsAfterIdleClose = 0;
  /** Connections the server reset (RST) instead of closing with FIN. */
  resetsSent = 0;
  /** Closes that read and discarded after the FIN. */
  lingeringCloses = 0;
  /** Bytes read and discarded while closing. */
  closingBytesDiscarded = 0;
  /** Connections whose client sent another request after its last allowed one (maxRequestsPerConnection). */
  refusedAtMax = 0;

  /** Remote address → monotonic ms of its last idle-timeout close. */
  readonly #recentIdleCloses = new Map<string, number>();
  #lastIdleCloseMs = -Infinity;

  constructor(options: ResolvedOptions) {
    this.#advertisedMs = options.keepAliveTimeoutMs;
    this.#enforcedMs = options.keepAliveTimeoutMs + options.keepAliveTimeoutBufferMs;
  }

  /** Whether an idle connection closed within RECONNECT_WINDOW_MS: a new connection's address is then wanted. */
  awaitsReconnects(): boolean {
    return this.#lastIdleCloseMs !== -Infinity && performance.now() - this.#lastIdleCloseMs <= RECONNECT_WINDOW_MS;
  }

  /** `remoteAddress`: '' when not read (no idle close was recent enough to match). */
  connectionOpened(remoteAddress: string): void {
    this.accepted++;
    if (remoteAddress === '') return;
    const closedAt = this.#recentIdleCloses.get(remoteAddress);
    if (closedAt === undefined) return;
    this.#recentIdleCloses.delete(remoteAddress);
    if (performance.now() - closedAt <= RECONNECT_WINDOW_MS) this.reconnectsAfterIdleClose++;
  }

  connectionRefused(): void {
    this.refused++;
  }

  connectionClosed(event: ConnectionCloseEvent): void {
    this.closed++;
    const nowMs = performance.now();
    const second = Math.floor(nowMs / 1000);
    const slot = second % CLOSE_WINDOW_S;
    if (this.closeSlotSecond[slot] !== second) {
      this.closeSlotSecond[slot] = second;
      for (const count of this.closeReasons.values()) count.perSecond[slot] = 0;
    }
    let count = this.closeReasons.get(event.reason);
    if (count === undefined) {
      count = { total: 0, perSecond: new Float64Array(CLOSE_WINDOW_S) };
      this.closeReasons.set(event.reason, count);
    }
    count.total++;
    count.perSecond[slot]++;
    this.requestsPerConnection.observe(event.requestsServed);
    this.connectionDuration.observe(event.lifetimeMs / 1000);
    if (event.reason === 'idle-timeout' && event.remoteAddress !== '') {
      const recent = this.#recentIdleCloses;
      recent.delete(event.remoteAddress);
      if (recent.size >= RECENT_IDLE_CLOSES) recent.delete(recent.keys().next().value as string);
      recent.set(event.remoteAddress, nowMs);
      this.#lastIdleCloseMs = nowMs;
    }
  }

  /** A request's first byte found its connection idle for `gapMs` after a response. */
  idleEnded(gapMs: number): void {
    this.idleGap.observe(gapMs / 1000);
    if (gapMs > this.#advertisedMs && gapMs <= this.#enforcedMs) this.savedByIdleBuffer++;
  }

  /** The idle deadline had fired, and the pending-bytes check found a request after all. */
  pendingCheckSaved(): void {
    this.savedByPendingCheck++;
  }

  resetSent(): void {
    this.resetsSent++;
  }

  lingerStarted(): void {
    this.lingeringCloses++;
  }

  /** A closing connection is gone: `discardedBytes` read after the close began; `refusedAtMax`: its client sent past its last allowed request. */
  closingEnded(discardedBytes: number, refusedAtMax: boolean): void {
    this.closingBytesDiscarded += discardedBytes;
    if (refusedAtMax) this.refusedAtMax++;
  }

  /** A request answered; `idleGapMs` ≥ 0: the idle time before it (idleEnded), -1: none to count. */
  requestDone(method: string, status: number, durationMs: number, idleGapMs: number): void {
    const slot = status - FIRST_STATUS;
    if (slot >= 0 && slot < STATUS_SLOTS) this.requests[methodIndex(method) * STATUS_SLOTS + slot]++;
    this.requestDuration.observe(durationMs / 1000);
    if (idleGapMs >= 0) this.idleEnded(idleGapMs);
  }
}
