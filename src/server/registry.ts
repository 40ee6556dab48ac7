/**
 * Live connections: lifecycle states (Go's ConnState plus `closing` for lingering close, and
 * `upgraded` for a connection that left HTTP but is still counted, Go's hijacked), a
 * snapshot for operators, and whenEmpty() resolved by the last removal — no polling.
 */

import type { TlsInfo } from './tls.js';

export type Lifecycle = 'new' | 'active' | 'idle' | 'closing' | 'upgraded' | 'closed';

/**
 * What a connection is doing, finer than Lifecycle: `handshake` (TLS, before its first request), `new` (no request yet), `reading` (a request's
 * head or body is awaited, or an unread body is discarded), `handling` (the handler has the
 * request), `writing` (a response is going out, or the peer is not taking it), `idle` (between
 * requests), `closing` (FIN queued behind the last response), `lingering` (FIN sent, reading and
 * discarding), `upgraded` (left HTTP), `closed`.
 */
export type ConnectionPhase = 'handshake' | 'new' | 'reading' | 'handling' | 'writing' | 'idle' | 'closing' | 'lingering' | 'upgraded' | 'closed';

export interface ConnectionInfo {
  id: number;
  remoteAddress: string;
  remotePort: number;
  state: Lifecycle;
  requestsServed: number;
  /** Wall-clock ms when accepted. */
  openedAt: number;
  activity: ConnectionPhase;
  /** How long it has been in `activity`, where known. */
  activityMs: number | null;
  ageMs: number;
  /** Requests it may still serve (maxRequestsPerConnection − served), null when unlimited. */
  requestsLeft: number | null;
  /**
   * While waiting for a request: ms until the advertised timeout (`Keep-Alive: timeout=`, whole
   * seconds; null before the first response advertised one; negative once past it) and until the
   * enforced deadline (timeout + buffer), when the server closes it.
   */
  idleDeadline: { advertisedInMs: number | null; enforcedInMs: number } | null;
  /** The request in progress. `elapsedMs` is null when the server does not time requests (no status, no request listeners). */
  request: { index: number; method: string; target: string; elapsedMs: number | null } | null;
  bytesIn: number;
  bytesOut: number;
  /** Bytes queued in the socket that the peer has not taken yet. */
  writeBacklogBytes: number;
  /** TLS connections only: the protocol version and cipher (null while the handshake runs). */
  tls?: TlsInfo;
}

export interface Tracked {
  readonly id: number;
  info(): ConnectionInfo;
}

export class Registry<T extends Tracked> {
  readonly #live = new Map<number, T>();
  #waiters: Array<() => void> = [];

  get size(): number {
    return this.#live.size;
  }

  add(item: T): void {
    this.#live.set(item.id, item);
  }

  remove(item: T): void {
    this.#live.delete(item.id);
    if (this.#live.size === 0 && this.#waiters.length > 0) {
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  values(): IterableIterator<T> {
    return this.#live.values();
  }

  snapshot(): ConnectionInfo[] {
    return [...this.#live.values()].map((item) => item.info());
  }

  whenEmpty(): Promise<void> {
    if (this.#live.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}
