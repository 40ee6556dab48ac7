/**
 * Choosing an upstream for a request, and whether each is healthy.
 *
 * - round-robin: each in turn (nginx's default); least-outstanding: the fewest requests in flight,
 *   ties in turn (nginx's least_conn counts connections; requests in flight is what a keep-alive
 *   pool makes comparable).
 * - Passive health, as nginx's max_fails/fail_timeout: maxFails consecutive connect failures or
 *   timeouts mark an upstream down for failTimeoutMs; any success clears the count. With one
 *   upstream nothing is ever marked down (nginx ignores max_fails for a single server): refusing
 *   every request would not help it.
 * - Active health (healthCheckPath): an upstream whose check fails is skipped until one passes.
 * - An upstream already tried for this request is skipped; when none is left, null.
 */

import type { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { ProxyEvents } from './events.js';
import type { BalanceStrategy } from './options.js';
import type { UpstreamPool } from './pool.js';

export class Upstream {
  readonly pool: UpstreamPool;
  /** Consecutive connect failures or timeouts. */
  fails = 0;
  /** performance.now() until which it is skipped (passive health). */
  downUntil = 0;
  /** The active health check failed last time. */
  checkFailed = false;

  constructor(pool: UpstreamPool) {
    this.pool = pool;
  }

  get name(): string {
    return this.pool.target.name;
  }

  isAvailable(nowMs: number): boolean {
    return !this.checkFailed && nowMs >= this.downUntil;
  }
}

export class Balancer {
  readonly upstreams: readonly Upstream[];
  readonly #strategy: BalanceStrategy;
  readonly #maxFails: number;
  readonly #failTimeoutMs: number;
  readonly #events: EventEmitter<ProxyEvents>;
  #next = 0;

  constructor(upstreams: readonly Upstream[], strategy: BalanceStrategy, maxFails: number, failTimeoutMs: number, events: EventEmitter<ProxyEvents>) {
    this.upstreams = upstreams;
    this.#strategy = strategy;
    this.#maxFails = maxFails;
    this.#failTimeoutMs = failTimeoutMs;
    this.#events = events;
  }

  /** The upstream for the next attempt, skipping `tried` and the unavailable; null when none is left. */
  pick(tried: ReadonlySet<Upstream> | null): Upstream | null {
    const list = this.upstreams;
    if (list.length === 1) return tried !== null && tried.has(list[0]) ? null : list[0];
    const nowMs = performance.now();
    const start = this.#next;
    let best: Upstream | null = null;
    let bestAt = 0;
    for (let k = 0; k < list.length; k++) {
      const at = (start + k) % list.length;
      const candidate = list[at];
      if ((tried !== null && tried.has(candidate)) || !candidate.isAvailable(nowMs)) continue;
      if (this.#strategy === 'round-robin') {
        best = candidate;
        bestAt = at;
        break;
      }
      if (best === null || candidate.pool.stats.outstanding < best.pool.stats.outstanding) {
        best = candidate;
        bestAt = at;
      }
    }
    if (best !== null) this.#next = (bestAt + 1) % list.length;
    return best;
  }

  /** A connect failure or a timeout: maxFails in a row mark it down for failTimeoutMs. */
  failed(upstream: Upstream, why: string): void {
    if (this.upstreams.length === 1) return;
    upstream.fails++;
    if (upstream.fails < this.#maxFails) return;
    upstream.fails = 0;
    const wasUp = performance.now() >= upstream.downUntil;
    upstream.downUntil = performance.now() + this.#failTimeoutMs;
    if (wasUp) this.#events.emit('upstream-health', { upstream: upstream.name, healthy: false, why: `${why}; skipped for ${this.#failTimeoutMs} ms` });
  }

  succeeded(upstream: Upstream): void {
    upstream.fails = 0;
  }

  /** The active health check's verdict. */
  checked(upstream: Upstream, healthy: boolean, why: string): void {
    if (upstream.checkFailed === !healthy) return;
    upstream.checkFailed = !healthy;
    this.#events.emit('upstream-health', { upstream: upstream.name, healthy, why });
  }
}
