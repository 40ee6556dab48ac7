import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { coarseMonotonicMs, responseDate } from '../../src/server/clock.js';
import { httpDate } from '../../src/http1/serializer.js';

describe('response clock', () => {
  test('the Date text is the current second, and moves on at the next one', async () => {
    const before = httpDate(Date.now());
    const first = responseDate();
    const after = httpDate(Date.now());
    assert.ok(first === before || first === after, `${first} is neither ${before} nor ${after}`);
    assert.equal(responseDate(), first, 'cached within the second');
    // Wait past the next wall-clock second (plus slack for the timer).
    await sleep(1000 - (Date.now() % 1000) + 30);
    const next = responseDate();
    assert.notEqual(next, first);
    assert.equal(next, httpDate(Date.now()));
  });

  test('the coarse monotonic time is never ahead of performance.now() and at most about a second behind', async () => {
    for (let i = 0; i < 3; i++) {
      const coarse = coarseMonotonicMs();
      const now = performance.now();
      assert.ok(coarse <= now, `coarse ${coarse} ahead of ${now}`);
      assert.ok(now - coarse < 1200, `coarse ${coarse} is ${now - coarse} ms behind`);
      await sleep(400);
    }
  });
});
