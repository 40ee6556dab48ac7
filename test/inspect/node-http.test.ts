import assert from 'node:assert/strict';
import { test } from 'node:test';
import { recommendIdleTimeoutMs } from '../../src/inspect/advice.js';
import { assertNear, inspectPort, startNodeHttp } from './servers.js';

test('inspect against node:http (keepAliveTimeout 300, maxRequestsPerSocket 3): what node really does', async () => {
  const server = await startNodeHttp({ keepAliveTimeout: 300, headersTimeout: 500, requestTimeout: 1000, connectionsCheckingInterval: 50 }, 3);
  try {
    const report = await inspectPort(server.port, 3000);
    // node advertises whole seconds rounded down and the configured total, and enforces keepAliveTimeout + 1 s.
    assert.deepEqual(report.http11, { keepAlive: true, connectionHeader: 'keep-alive', keepAliveHeader: 'timeout=0, max=3', status: 200, responseVersion: '1.1' });
    assertNear(report.idleTimeout.measuredMs, 1300, 'idle timeout');
    assert.equal(report.idleTimeout.advertisedMs, 0);
    assert.equal(report.idleTimeout.closeKind, 'fin');
    // node says Connection: close on the 3rd response but keeps the socket open; a 4th request gets 503.
    assert.deepEqual(
      { ...report.maxRequests },
      { advertised: 3, countsDown: false, enforced: 3, closesAfterLast: false, announced: true, statusAfterLast: 503, requestsSent: 4, probeLimit: 1000 },
    );
    assert.ok(report.advice.some((a) => a.includes('max=3 does not count down') && a.includes('matches the 3 enforced')), report.advice.join('\n'));
    assert.ok(report.advice.some((a) => a.includes('does not close the connection and answers a further request with 503')));
    assert.equal(report.http10.closesByDefault, true);
    // res.end(body) to an HTTP/1.0 request is close-delimited in node: Connection: close even when asked to keep alive.
    assert.equal(report.http10.keepAliveHonoured, false);
    assert.equal(report.http10.keepAliveConnectionHeader, 'close');
    assert.equal(report.connectionCloseHonoured, true);
    assert.deepEqual(report.pipelining, { answeredInOrder: true, sent: 3, answered: 3 });
    assertNear(report.headersTimeoutMs, 500, 'headers timeout');
    assert.equal(report.headersTimeout.status, 408);
    assert.equal(report.recommendedIdleTimeoutMs, recommendIdleTimeoutMs(report.idleTimeout.measuredMs ?? NaN));
  } finally {
    await server.stop();
  }
});
