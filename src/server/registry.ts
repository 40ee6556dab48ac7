/**
 * Live connections: lifecycle states (Go's ConnState plus `closing` for lingering close, and
 * `upgraded` for a connection that left HTTP but is still counted, Go's hijacked), a
 * snapshot for operators, and whenEmpty() resolved by the last removal — no polling.
 */

import type { TlsInfo } from './tls.js';

export type Lifecycle = 'new' | 'active' | 'idle' | 'closing' | 'upgraded' | 'closed';

export interface ConnectionInfo {
  id: number;
  remoteAddress: string;
  remotePort: number;
  state: Lifecycle;
  requestsServed: number;
  openedAt: number;
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
