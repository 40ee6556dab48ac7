import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { recommendIdleTimeoutMs } from '../../src/inspect/advice.js';
import { assertNear, inspectPort, startScripted } from './servers.js';

describe('inspect against scripted misbehaviour', () => {
  test('closes idle connections by RST before its advertised timeout; max not announced and not counting down', async () => {
    const server = await startScripted({ keepAliveHeader: 'timeout=2, max=100', idleCloseMs: 300, idleCloseKind: 'rst', maxRequests: 4, announceLast: false, headersTimeoutMs: 300 });
    try {
      const report = await inspectPort(server.port, 2000);
      assertNear(report.idleTimeout.measuredMs, 300, 'idle timeout');
      assert.equal(report.idleTimeout.closeKind, 'rst');
      assert.equal(report.idleTimeout.advertisedMs, 2000);
      assertNear(report.idleTimeout.marginMs, -1700, 'margin');
      assert.ok(report.advice.some((a) => /^warning: advertises timeout=2 but closes idle connections at \d+ ms, 1\.\d s early: clients that trust the header will send requests on connections the server has already closed/.test(a)), report.advice.join('\n'));
      assert.ok(report.advice.some((a) => a.startsWith('closes idle connections with RST, not FIN')));
      assert.match(report.verdict, /before its advertised timeout=2/);
      assert.deepEqual(
        { ...report.maxRequests },
        { advertised: 100, countsDown: false, enforced: 4, closesAfterLast: true, announced: false, statusAfterLast: null, requestsSent: 5, probeLimit: 1000 },
      );
      assert.ok(report.advice.some((a) => a.startsWith('warning: closes after 4 requests without saying Connection: close')));
      assert.ok(report.advice.some((a) => a.startsWith('warning: max=100 does not count down') && a.includes('closed after 4')));
      assertNear(report.headersTimeoutMs, 300, 'headers timeout');
      assert.deepEqual(report.headersTimeout, { closeKind: 'rst', status: null });
      assert.equal(report.recommendedIdleTimeoutMs, recommendIdleTimeoutMs(report.idleTimeout.measuredMs ?? NaN));
    } finally {
      await server.stop();
    }
  });

  test('never closes an idle connection or an unfinished head: null with the reason, bounded by max-wait', async () => {
    const server = await startScripted({ keepAliveHeader: null, idleCloseMs: 0, idleCloseKind: 'fin', maxRequests: 2, announceLast: true, headersTimeoutMs: 0 });
    const startedAt = Date.now();
    try {
      const report = await inspectPort(server.port, 600, 2);
      assert.ok(Date.now() - startedAt < 1500, 'bounded by --max-wait');
      assert.deepEqual(
        { ...report.idleTimeout },
        { advertisedMs: null, measuredMs: null, closeKind: null, marginMs: null, samplesMs: [], connections: 2, statusesBeforeClose: [] },
      );
      assert.ok(report.advice.includes('idle timeout not measured: no idle connection was closed within --max-wait 600 ms; raise --max-wait to measure it'), report.advice.join('\n'));
      assert.equal(report.headersTimeoutMs, null);
      assert.ok(report.advice.some((a) => a.startsWith('headers timeout not measured: a connection with an unfinished request head was still open after --max-wait 600 ms')));
      assert.equal(report.maxRequests.enforced, 2);
      assert.equal(report.maxRequests.closesAfterLast, true);
      assert.equal(report.recommendedIdleTimeoutMs, null);
    } finally {
      await server.stop();
    }
  });
});
