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

/** A kind's slot in the array of deadlines (a switch on interned strings, not a keyed lookup). */
function slot(kind: DeadlineKind): number {
  switch (kind) {
    case 'idle':
      return 0;
    case 'headers':
      return 1;
    case 'request':
      return 2;
    case 'rate':
      return 3;
    case 'handler':
      return 4;
    case 'send':
      return 5;
    case 'linger':
      return 6;
  }
}

export interface DeadlineOwner {
  deadlineExpired(kind: DeadlineKind): void;
}

export class Deadlines {
  readonly #at = new Float64Array(KINDS.length).fill(Infinity);
  readonly #owner: DeadlineOwner;
  #timer: NodeJS.Timeout | null = null;
  #timerAt = Infinity;

  constructor(owner: DeadlineOwner) {
    this.#owner = owner;
  }

  /** Expires `ms` from now. */
  set(kind: DeadlineKind, ms: number): void {
    const at = performance.now() + ms;
    this.#at[slot(kind)] = at;
    if (at < this.#timerAt) this.#schedule(at);
  }

  clear(kind: DeadlineKind): void {
    this.#at[slot(kind)] = Infinity;
  }

  isSet(kind: DeadlineKind): boolean {
    return this.#at[slot(kind)] !== Infinity;
  }

  clearAll(): void {
    this.#at.fill(Infinity);
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
    const times = this.#at;
    let due = -1;
    for (let i = 0; i < times.length; i++) {
      if (times[i] <= now && (due === -1 || times[i] < times[due])) due = i;
    }
    if (due !== -1) {
      times[due] = Infinity;
      this.#owner.deadlineExpired(KINDS[due]);
    }
    // The callback may have set or cleared deadlines; schedule whatever remains.
    let next = Infinity;
    for (let i = 0; i < times.length; i++) if (times[i] < next) next = times[i];
    if (next !== Infinity && this.#timer === null) this.#schedule(next);
  };
}
