import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { recommendIdleTimeoutMs } from '../../src/inspect/advice.js';
import { assertNear, inspectPort, startHoldfast } from './servers.js';

describe('inspect against holdfast', () => {
  test('timeout 300 ms + buffer 200 ms, max 3: enforced 500 ms, max 3 closed after the last', async () => {
    const server = await startHoldfast({ keepAliveTimeoutMs: 300, keepAliveTimeoutBufferMs: 200, maxRequestsPerConnection: 3, headersTimeoutMs: 700 });
    try {
      const report = await inspectPort(server.port, 3000);
      assert.deepEqual(report.http11, { keepAlive: true, connectionHeader: 'keep-alive', keepAliveHeader: 'timeout=0, max=2', status: 200, responseVersion: '1.1' });
      assert.equal(report.http10.closesByDefault, true);
      assert.equal(report.http10.keepAliveHonoured, true);
      assert.equal(report.connectionCloseHonoured, true);
      assert.equal(report.connectionClose.closeKind, 'fin');
      assertNear(report.idleTimeout.measuredMs, 500, 'idle timeout');
      assert.equal(report.idleTimeout.samplesMs.length, 3);
      assert.equal(report.idleTimeout.advertisedMs, 0);
      assert.equal(report.idleTimeout.closeKind, 'fin');
      assert.equal(report.idleTimeout.marginMs, report.idleTimeout.measuredMs);
      assert.deepEqual(
        { ...report.maxRequests },
        { advertised: 2, countsDown: true, enforced: 3, closesAfterLast: true, announced: true, statusAfterLast: null, requestsSent: 3, probeLimit: 1000 },
      );
      assert.deepEqual(report.pipelining, { answeredInOrder: true, sent: 3, answered: 3 });
      assertNear(report.headersTimeoutMs, 700, 'headers timeout');
      assert.deepEqual(report.headersTimeout, { closeKind: 'fin', status: 408 });
      assert.equal(report.recommendedIdleTimeoutMs, recommendIdleTimeoutMs(report.idleTimeout.measuredMs ?? NaN));
      assert.ok(report.advice.some((a) => a.includes('max=2 counts down') && a.includes('matches the 3 enforced')), report.advice.join('\n'));
      assert.deepEqual(report.notes, []);
    } finally {
      await server.stop();
    }
  });

  test('timeout 1000 ms + buffer 0, unlimited requests: closes at 1.0 s with no margin, no limit within 1000', async () => {
    const server = await startHoldfast({ keepAliveTimeoutMs: 1000, keepAliveTimeoutBufferMs: 0, maxRequestsPerConnection: 0, headersTimeoutMs: 500 });
    try {
      const report = await inspectPort(server.port, 3000);
      assert.equal(report.http11.keepAliveHeader, 'timeout=1');
      assertNear(report.idleTimeout.measuredMs, 1000, 'idle timeout');
      assert.equal(report.idleTimeout.advertisedMs, 1000);
      assert.ok(Math.abs(report.idleTimeout.marginMs ?? Infinity) <= 100, `margin ${report.idleTimeout.marginMs}`);
      assert.ok(report.advice.some((a) => /^warning: advertises timeout=1 but closes at 1\.\d s with no margin: clients that trust the header will race/.test(a)), report.advice.join('\n'));
      assert.match(report.verdict, /no margin/);
      assert.deepEqual(
        { ...report.maxRequests },
        { advertised: null, countsDown: null, enforced: null, closesAfterLast: null, announced: null, statusAfterLast: null, requestsSent: 1000, probeLimit: 1000 },
      );
      assert.ok(report.advice.some((a) => a.includes('no per-connection request limit found within 1000 requests')));
      assert.equal(report.recommendedIdleTimeoutMs, recommendIdleTimeoutMs(report.idleTimeout.measuredMs ?? NaN));
    } finally {
      await server.stop();
    }
  });

  test('timeout 1500 ms + buffer 500 ms: enforced 2 s, advertised timeout=1, a 1 s margin measured', async () => {
    const server = await startHoldfast({ keepAliveTimeoutMs: 1500, keepAliveTimeoutBufferMs: 500, maxRequestsPerConnection: 3, headersTimeoutMs: 500 });
    try {
      const report = await inspectPort(server.port, 4000);
      assert.equal(report.http11.keepAliveHeader, 'timeout=1, max=2');
      assertNear(report.idleTimeout.measuredMs, 2000, 'idle timeout');
      assert.equal(report.idleTimeout.advertisedMs, 1000);
      assert.ok(Math.abs((report.idleTimeout.marginMs ?? 0) - 1000) <= 100, `margin ${report.idleTimeout.marginMs}`);
      assert.equal(report.maxRequests.enforced, 3);
      assert.equal(report.maxRequests.closesAfterLast, true);
    } finally {
      await server.stop();
    }
  });

  test("httpVersion '1.0': no keep-alive at all, and the idle timeout is null with its reason", async () => {
    const server = await startHoldfast({ httpVersion: '1.0', headersTimeoutMs: 400 });
    try {
      const report = await inspectPort(server.port, 2000);
      assert.deepEqual(report.http11, { keepAlive: false, connectionHeader: 'close', keepAliveHeader: null, status: 200, responseVersion: '1.0' });
      assert.deepEqual({ closesByDefault: report.http10.closesByDefault, keepAliveHonoured: report.http10.keepAliveHonoured }, { closesByDefault: true, keepAliveHonoured: false });
      assert.equal(report.connectionCloseHonoured, true);
      assert.deepEqual(
        { measuredMs: report.idleTimeout.measuredMs, closeKind: report.idleTimeout.closeKind, marginMs: report.idleTimeout.marginMs },
        { measuredMs: null, closeKind: null, marginMs: null },
      );
      assert.ok(report.advice.includes('idle timeout not measured: the server does not keep connections alive'));
      assert.equal(report.maxRequests.enforced, 1);
      assert.equal(report.pipelining.answeredInOrder, false);
      assert.equal(report.pipelining.answered, 1);
      assertNear(report.headersTimeoutMs, 400, 'headers timeout');
      assert.equal(report.recommendedIdleTimeoutMs, null);
    } finally {
      await server.stop();
    }
  });
});
