/**
 * Per-connection deadlines on one shared timer. A connection (a subclass) holds an absolute time per
 * kind, or none; its earliest time is its wake-up, kept in one process-wide min-heap with a single
 * unref'd node timer for the root. So an idle connection costs a few integer fields — no Timeout
 * object, no closure — and moving a deadline later costs nothing: an early wake-up re-files the
 * connection for the rest (O(log n)). Times are whole milliseconds of the monotonic clock
 * (performance.now, rounded up), so wall-clock steps do not move them and the fields stay small
 * integers. Timeouts are deadlines, not inactivity timers: a peer trickling bytes does not push a
 * headers or request deadline back (slowloris).
 */

import { performance } from 'node:perf_hooks';

export type DeadlineKind = 'idle' | 'headers' | 'request' | 'rate' | 'handler' | 'send' | 'linger';

/** The longest delay node's setTimeout honours. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** "No deadline": real times are ≥ 1. */
const OFF = 0;

/** Monotonic ms, rounded up and at least 1, `ms` after `nowMs`. */
function timeIn(ms: number, nowMs: number): number {
  return Math.max(1, Math.ceil(nowMs + ms));
}

export abstract class Deadlines {
  #idle = OFF;
  #headers = OFF;
  #request = OFF;
  #rate = OFF;
  #handler = OFF;
  #send = OFF;
  #linger = OFF;
  /** The time this owner is filed under in the heap, or OFF when it is not filed. */
  #wakeAt = OFF;
  #heapIndex = -1;

  /** Called when a deadline passes (it is cleared first). Must not throw. */
  protected abstract deadlineExpired(kind: DeadlineKind): void;

  /** `kind` expires `ms` from now (replacing its previous time); `nowMs` saves a clock read when known. */
  protected setDeadline(kind: DeadlineKind, ms: number, nowMs = performance.now()): void {
    const at = timeIn(ms, nowMs);
    this.#store(kind, at);
    if (this.#wakeAt === OFF || at < this.#wakeAt) Deadlines.#file(this, at);
  }

  protected clearDeadline(kind: DeadlineKind): void {
    this.#store(kind, OFF);
  }

  protected hasDeadline(kind: DeadlineKind): boolean {
    return this.#load(kind) !== OFF;
  }

  /** When `kind` falls (monotonic whole ms), or 0 when it is not set. */
  protected deadlineAt(kind: DeadlineKind): number {
    return this.#load(kind);
  }

  protected clearDeadlines(): void {
    this.#idle = this.#headers = this.#request = this.#rate = this.#handler = this.#send = this.#linger = OFF;
    if (this.#heapIndex !== -1) Deadlines.#unfile(this);
  }

  #store(kind: DeadlineKind, at: number): void {
    switch (kind) {
      case 'idle':
        this.#idle = at;
        return;
      case 'headers':
        this.#headers = at;
        return;
      case 'request':
        this.#request = at;
        return;
      case 'rate':
        this.#rate = at;
        return;
      case 'handler':
        this.#handler = at;
        return;
      case 'send':
        this.#send = at;
        return;
      case 'linger':
        this.#linger = at;
        return;
    }
  }

  #load(kind: DeadlineKind): number {
    switch (kind) {
      case 'idle':
        return this.#idle;
      case 'headers':
        return this.#headers;
      case 'request':
        return this.#request;
      case 'rate':
        return this.#rate;
      case 'handler':
        return this.#handler;
      case 'send':
        return this.#send;
      case 'linger':
        return this.#linger;
    }
  }

  /** The earliest deadline (and its kind), or OFF. */
  #earliest(): [DeadlineKind | null, number] {
    let kind: DeadlineKind | null = null;
    let at = OFF;
    const consider = (k: DeadlineKind, t: number): void => {
      if (t !== OFF && (at === OFF || t < at)) {
        kind = k;
        at = t;
      }
    };
    consider('idle', this.#idle);
    consider('headers', this.#headers);
    consider('request', this.#request);
    consider('rate', this.#rate);
    consider('handler', this.#handler);
    consider('send', this.#send);
    consider('linger', this.#linger);
    return [kind, at];
  }

  /** The heap woke this owner (it is no longer filed): fire its earliest deadline if due. */
  #fireDue(now: number): void {
    const [kind, at] = this.#earliest();
    if (kind !== null && at <= now) {
      this.#store(kind, OFF);
      this.deadlineExpired(kind);
    }
  }

  /**
   * File this owner for its earliest remaining deadline. After an expiry the callback may have filed
   * it for a later deadline of its own while an earlier one remains (rate re-arms a second ahead).
   */
  #refile(): void {
    const [, next] = this.#earliest();
    if (next !== OFF && (this.#heapIndex === -1 || next < this.#wakeAt)) Deadlines.#file(this, next);
  }

  // ── the shared heap (ordered by #wakeAt) ──────────────────────────────────

  static #heap: Deadlines[] = [];
  static #timer: NodeJS.Timeout | null = null;
  static #timerAt = OFF;

  /** Owners filed in the shared heap (for tests and diagnostics). */
  static get pendingOwners(): number {
    return Deadlines.#heap.length;
  }

  static #file(owner: Deadlines, at: number): void {
    const heap = Deadlines.#heap;
    if (owner.#heapIndex === -1) {
      owner.#heapIndex = heap.length;
      heap.push(owner);
      owner.#wakeAt = at;
      Deadlines.#siftUp(owner.#heapIndex);
    } else {
      const earlier = at < owner.#wakeAt;
      owner.#wakeAt = at;
      if (earlier) Deadlines.#siftUp(owner.#heapIndex);
      else Deadlines.#siftDown(owner.#heapIndex);
    }
    Deadlines.#arm();
  }

  static #unfile(owner: Deadlines): void {
    const heap = Deadlines.#heap;
    const index = owner.#heapIndex;
    owner.#heapIndex = -1;
    owner.#wakeAt = OFF;
    const last = heap.pop() as Deadlines;
    if (index < heap.length) {
      heap[index] = last;
      last.#heapIndex = index;
      Deadlines.#siftDown(index);
      Deadlines.#siftUp(last.#heapIndex);
    }
    if (heap.length === 0) Deadlines.#disarm();
  }

  static #siftUp(index: number): void {
    const heap = Deadlines.#heap;
    const item = heap[index];
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex];
      if (parent.#wakeAt <= item.#wakeAt) break;
      heap[index] = parent;
      parent.#heapIndex = index;
      index = parentIndex;
    }
    heap[index] = item;
    item.#heapIndex = index;
  }

  static #siftDown(index: number): void {
    const heap = Deadlines.#heap;
    const length = heap.length;
    const item = heap[index];
    for (;;) {
      let child = 2 * index + 1;
      if (child >= length) break;
      if (child + 1 < length && heap[child + 1].#wakeAt < heap[child].#wakeAt) child++;
      if (heap[child].#wakeAt >= item.#wakeAt) break;
      heap[index] = heap[child];
      heap[index].#heapIndex = index;
      index = child;
    }
    heap[index] = item;
    item.#heapIndex = index;
  }

  /** The node timer runs for the heap's root: re-armed only when the root became earlier. */
  static #arm(): void {
    const root = Deadlines.#heap[0];
    if (root === undefined) return;
    if (Deadlines.#timer !== null && Deadlines.#timerAt <= root.#wakeAt) return;
    Deadlines.#disarm();
    Deadlines.#timerAt = root.#wakeAt;
    // node's timers take at most 2^31 − 1 ms (longer fires at once): a farther deadline wakes early and re-arms.
    const timer = setTimeout(Deadlines.#onTimer, Math.min(MAX_TIMER_MS, Math.max(1, root.#wakeAt - performance.now())));
    timer.unref();
    Deadlines.#timer = timer;
  }

  static #disarm(): void {
    if (Deadlines.#timer !== null) clearTimeout(Deadlines.#timer);
    Deadlines.#timer = null;
    Deadlines.#timerAt = OFF;
  }

  static #onTimer = (): void => {
    Deadlines.#timer = null;
    Deadlines.#timerAt = OFF;
    const now = performance.now();
    const heap = Deadlines.#heap;
    // Owners filed during this pass with a time already due wait for the next timer turn.
    let budget = heap.length;
    try {
      while (heap.length > 0 && heap[0].#wakeAt <= now && budget-- > 0) {
        const owner = heap[0];
        Deadlines.#unfile(owner);
        try {
          owner.#fireDue(now);
        } finally {
          owner.#refile(); // even if the callback threw: the owner keeps its remaining deadlines
        }
      }
    } finally {
      Deadlines.#arm();
    }
  };
}
