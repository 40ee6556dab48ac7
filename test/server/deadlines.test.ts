import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import { Deadlines, type DeadlineKind } from '../../src/server/deadlines.js';

/** A deadline owner that records what fired and when. */
class Owner extends Deadlines {
  readonly fired: Array<{ kind: DeadlineKind; atMs: number }> = [];
  onExpired: ((kind: DeadlineKind) => void) | null = null;

  set(kind: DeadlineKind, ms: number): void {
    this.setDeadline(kind, ms);
  }
  clear(kind: DeadlineKind): void {
    this.clearDeadline(kind);
  }
  has(kind: DeadlineKind): boolean {
    return this.hasDeadline(kind);
  }
  clearAll(): void {
    this.clearDeadlines();
  }
  protected override deadlineExpired(kind: DeadlineKind): void {
    this.fired.push({ kind, atMs: performance.now() });
    this.onExpired?.(kind);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const KINDS: DeadlineKind[] = ['idle', 'headers', 'request', 'rate', 'handler', 'send', 'linger'];

describe('Deadlines: one shared heap for every owner', () => {
  test('300 owners with random deadlines: each fires once, never early, and the heap empties', async () => {
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const startedAt = performance.now();
    const owners = Array.from({ length: 300 }, () => {
      const owner = new Owner();
      const kind = KINDS[Math.floor(random() * KINDS.length)];
      const ms = 5 + Math.floor(random() * 80);
      owner.set(kind, ms);
      return { owner, kind, ms };
    });
    assert.equal(Deadlines.pendingOwners, 300);
    await sleep(200);
    for (const { owner, kind, ms } of owners) {
      assert.equal(owner.fired.length, 1);
      assert.equal(owner.fired[0].kind, kind);
      assert.ok(owner.fired[0].atMs - startedAt >= ms - 1, `${kind} after ${ms} ms fired at ${owner.fired[0].atMs - startedAt}`);
      assert.equal(owner.has(kind), false);
    }
    assert.equal(Deadlines.pendingOwners, 0);
  });

  test('the earliest of an owner’s deadlines fires first, then the next', async () => {
    const owner = new Owner();
    owner.set('request', 60);
    owner.set('headers', 20);
    owner.set('idle', 40);
    await sleep(120);
    assert.deepEqual(
      owner.fired.map((f) => f.kind),
      ['headers', 'idle', 'request'],
    );
    assert.equal(Deadlines.pendingOwners, 0);
  });

  test('a cleared deadline does not fire; clearing all leaves the heap', async () => {
    const a = new Owner();
    const b = new Owner();
    a.set('idle', 10);
    a.set('send', 15);
    a.clear('idle');
    b.set('linger', 10);
    b.clearAll();
    assert.equal(Deadlines.pendingOwners, 1);
    await sleep(50);
    assert.deepEqual(a.fired.map((f) => f.kind), ['send']);
    assert.deepEqual(b.fired, []);
    assert.equal(Deadlines.pendingOwners, 0);
  });

  test('moving a deadline later delays it; moving it earlier brings it forward', async () => {
    const later = new Owner();
    const earlier = new Owner();
    const startedAt = performance.now();
    later.set('idle', 10);
    earlier.set('idle', 200);
    later.set('idle', 60);
    earlier.set('idle', 20);
    await sleep(40);
    assert.equal(later.fired.length, 0);
    assert.equal(earlier.fired.length, 1);
    await sleep(60);
    assert.equal(later.fired.length, 1);
    assert.ok(later.fired[0].atMs - startedAt >= 59);
    assert.equal(Deadlines.pendingOwners, 0);
  });

  test('an owner may set a new deadline from its expiry callback', async () => {
    const owner = new Owner();
    owner.onExpired = (kind) => {
      if (kind === 'idle') owner.set('linger', 10);
    };
    owner.set('idle', 5);
    await sleep(60);
    assert.deepEqual(owner.fired.map((f) => f.kind), ['idle', 'linger']);
    assert.equal(Deadlines.pendingOwners, 0);
  });

  test('a deadline re-armed later from its callback does not hold back an earlier one', async () => {
    const owner = new Owner();
    const startedAt = performance.now();
    owner.onExpired = (kind) => {
      if (kind === 'rate') owner.set('rate', 300);
    };
    owner.set('rate', 10);
    owner.set('handler', 40);
    await sleep(120);
    const handler = owner.fired.find((f) => f.kind === 'handler');
    assert.ok(handler !== undefined, 'handler fired');
    assert.ok(handler.atMs - startedAt < 100, `handler fired after ${handler.atMs - startedAt} ms`);
    owner.clearAll();
    assert.equal(Deadlines.pendingOwners, 0);
  });

  test('a deadline beyond node’s longest timer (2^31 − 1 ms) is kept without a timer overflow', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning.name);
    };
    process.on('warning', onWarning);
    const owner = new Owner();
    try {
      owner.set('idle', 30 * 24 * 3600 * 1000); // 30 days
      await sleep(30);
      assert.deepEqual(warnings, []);
      assert.equal(owner.fired.length, 0);
      assert.equal(owner.has('idle'), true);
    } finally {
      owner.clearAll();
      process.off('warning', onWarning);
    }
    assert.equal(Deadlines.pendingOwners, 0);
  });
});
