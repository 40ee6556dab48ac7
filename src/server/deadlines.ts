/**
 * Per-connection deadlines on one timer. Each kind is an absolute time (or off); the timer is set
 * for the earliest, and moving a deadline later costs no timer call: an early wake-up re-arms for
 * the rest. Times come from the monotonic clock (performance.now), so wall-clock steps do not move
 * them. Timeouts are deadlines, not inactivity timers: a peer trickling bytes does not push a
 * headers or request deadline back (slowloris).
 */

import { performance } from 'node:perf_hooks';

export type DeadlineKind = 'idle' | 'headers' | 'request' | 'rate' | 'handler' | 'send' | 'linger';

const KINDS: readonly DeadlineKind[] = ['idle', 'headers', 'request', 'rate', 'handler', 'send', 'linger'];

export interface DeadlineOwner {
  deadlineExpired(kind: DeadlineKind): void;
}

export class Deadlines {
  readonly #at: Record<DeadlineKind, number> = { idle: Infinity, headers: Infinity, request: Infinity, rate: Infinity, handler: Infinity, send: Infinity, linger: Infinity };
  readonly #owner: DeadlineOwner;
  #timer: NodeJS.Timeout | null = null;
  #timerAt = Infinity;

  constructor(owner: DeadlineOwner) {
    this.#owner = owner;
  }

  /** Expires `ms` from now. */
  set(kind: DeadlineKind, ms: number): void {
    const at = performance.now() + ms;
    this.#at[kind] = at;
    if (at < this.#timerAt) this.#schedule(at);
  }

  clear(kind: DeadlineKind): void {
    this.#at[kind] = Infinity;
  }

  isSet(kind: DeadlineKind): boolean {
    return this.#at[kind] !== Infinity;
  }

  clearAll(): void {
    for (const kind of KINDS) this.#at[kind] = Infinity;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerAt = Infinity;
  }

  #schedule(at: number): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(this.#wake, Math.max(0, Math.ceil(at - performance.now())));
  }

  readonly #wake = (): void => {
    this.#timer = null;
    this.#timerAt = Infinity;
    const now = performance.now();
    let due: DeadlineKind | null = null;
    for (const kind of KINDS) {
      const at = this.#at[kind];
      if (at <= now && (due === null || at < this.#at[due])) due = kind;
    }
    if (due !== null) {
      this.#at[due] = Infinity;
      this.#owner.deadlineExpired(due);
    }
    // The callback may have set or cleared deadlines; schedule whatever remains.
    let next = Infinity;
    for (const kind of KINDS) if (this.#at[kind] < next) next = this.#at[kind];
    if (next !== Infinity && this.#timer === null) this.#schedule(next);
  };
}
