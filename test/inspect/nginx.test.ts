import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertNear, inspectPort, startNginx } from './servers.js';

test('inspect against a real nginx (keepalive_timeout 1s, keepalive_requests 5)', async () => {
  const server = await startNginx('keepalive_timeout 1s; keepalive_requests 5; client_header_timeout 1s;');
  try {
    const report = await inspectPort(server.port, 3000);
    assert.deepEqual(report.http11, { keepAlive: true, connectionHeader: 'keep-alive', keepAliveHeader: null, status: 200, responseVersion: '1.1' });
    assertNear(report.idleTimeout.measuredMs, 1000, 'idle timeout');
    assert.deepEqual({ advertisedMs: report.idleTimeout.advertisedMs, marginMs: report.idleTimeout.marginMs, closeKind: report.idleTimeout.closeKind }, { advertisedMs: null, marginMs: null, closeKind: 'fin' });
    assert.ok(report.advice.some((a) => a.includes('does not advertise its idle timeout')));
    assert.deepEqual(
      { ...report.maxRequests },
      { advertised: null, countsDown: null, enforced: 5, closesAfterLast: true, announced: true, statusAfterLast: null, requestsSent: 5, probeLimit: 1000 },
    );
    assert.deepEqual({ closesByDefault: report.http10.closesByDefault, keepAliveHonoured: report.http10.keepAliveHonoured }, { closesByDefault: true, keepAliveHonoured: true });
    assert.equal(report.connectionCloseHonoured, true);
    assert.deepEqual(report.pipelining, { answeredInOrder: true, sent: 3, answered: 3 });
    assertNear(report.headersTimeoutMs, 1000, 'headers timeout');
    assert.equal(report.headersTimeout.status, null);
  } finally {
    await server.stop();
  }
});
