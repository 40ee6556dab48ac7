/** Samples merged across processes, and the arithmetic of the views: buckets coarsened, quantiles. */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { REQUEST_DURATION_BOUNDS_S, OTEL_DURATION_BOUNDS_S } from '../../src/server/stats.js';
import { mergeSamples, takeSample, DEFAULT_ROW_QUERY } from '../../src/status/sample.js';
import { coarsen, quantile } from '../../src/status/view.js';
import { RawConnection } from '../helpers/raw-client.js';
import { GET, startServer, type TestServer } from '../helpers/server.js';

async function traffic(t: TestServer, requests: number, close: boolean): Promise<void> {
  const c = await RawConnection.connect(t.port);
  for (let i = 1; i <= requests; i++) {
    c.write(GET('/', close && i === requests ? 'Connection: close\r\n' : ''));
    await c.readResponse();
  }
  if (close) await c.waitForClose();
  c.destroy();
}

describe('samples and views', () => {
  test('mergeSamples sums counters, close reasons, requests and histograms, and lists every process and connection', async () => {
    const a = await startServer({});
    const b = await startServer({});
    const statsA = a.server.enableStats();
    const statsB = b.server.enableStats();
    const held = await RawConnection.connect(b.port);
    try {
      await traffic(a, 2, true);
      await traffic(b, 3, true);
      held.write('POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n');
      await held.readResponse();
      await a.closed(1);
      await b.closed(1);
      const merged = mergeSamples([takeSample(a.server, statsA, DEFAULT_ROW_QUERY, 1), takeSample(b.server, statsB, DEFAULT_ROW_QUERY, 2)], DEFAULT_ROW_QUERY);
      assert.deepEqual(merged.processes.map((p) => p.worker), [1, 2]);
      assert.equal(merged.counters.accepted, 3);
      assert.equal(merged.counters.closed, 2);
      assert.deepEqual(merged.closeReasons, { 'client-close': { total: 2, lastMinute: 2 } });
      assert.deepEqual(merged.requests.sort(), [['GET', 200, 5], ['POST', 200, 1]]);
      assert.equal(merged.histograms.requestDuration.count, 6);
      assert.equal(merged.histograms.requestsPerConnection.count, 2);
      assert.equal(merged.histograms.requestsPerConnection.sum, 5);
      assert.equal(merged.connections.open, 1);
      assert.deepEqual(merged.connections.rows.map((r) => [r.worker, r.requestsServed]), [[2, 1]]);
    } finally {
      held.destroy();
      await a.stop();
      await b.stop();
    }
  });

  test("coarsen keeps exact counts at OpenTelemetry's bounds, which are among the fine ones", () => {
    for (const bound of OTEL_DURATION_BOUNDS_S) assert.ok(REQUEST_DURATION_BOUNDS_S.includes(bound), String(bound));
    const bounds = [1, 2, 3, 4];
    const coarse = coarsen({ bounds, counts: [1, 2, 3, 4, 5], sum: 42, count: 15 }, [2, 4]);
    assert.deepEqual(coarse, { bounds: [2, 4], counts: [3, 7, 5], sum: 42, count: 15 });
    assert.throws(() => coarsen({ bounds, counts: [0, 0, 0, 0, 0], sum: 0, count: 0 }, [2.5]), /not a bound/);
  });

  test('quantile interpolates within the bucket holding the rank; null without observations', () => {
    assert.equal(quantile([1, 2], [0, 0, 0], 0.5), null);
    assert.equal(quantile([10, 20], [10, 0, 0], 0.5), 5);
    assert.equal(quantile([10, 20], [0, 10, 0], 0.5), 15);
    assert.equal(quantile([10, 20], [5, 5, 0], 0.99), 19.8);
    assert.equal(quantile([10, 20], [0, 0, 4], 0.5), 20, 'the +Inf bucket reports the last bound');
  });
});
