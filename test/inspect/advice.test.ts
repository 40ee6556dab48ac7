import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseInspectArgs } from '../../src/cli/inspect.js';
import { UsageError } from '../../src/cli/flags.js';
import { decideAdvice, recommendIdleTimeoutMs } from '../../src/inspect/advice.js';
import { formatMs, formatReport, type Findings } from '../../src/inspect/report.js';
import { parseTarget } from '../../src/inspect/target.js';

function findings(overrides: Partial<Findings> = {}): Findings {
  return {
    target: 'http://127.0.0.1:8080/',
    tls: null,
    http11: { keepAlive: true, connectionHeader: 'keep-alive', keepAliveHeader: 'timeout=5, max=99', status: 200, responseVersion: '1.1' },
    http10: { closesByDefault: true, keepAliveHonoured: true, connectionHeader: 'close', keepAliveConnectionHeader: 'keep-alive' },
    connectionCloseHonoured: true,
    connectionClose: { headerSent: true, closed: true, closeKind: 'fin' },
    idleTimeout: { advertisedMs: 5000, measuredMs: 6000, closeKind: 'fin', marginMs: 1000, samplesMs: [6000, 6001, 5999], connections: 3, statusesBeforeClose: [] },
    maxRequests: { advertised: 99, countsDown: true, enforced: 100, closesAfterLast: true, announced: true, statusAfterLast: null, requestsSent: 100, probeLimit: 1000 },
    pipelining: { answeredInOrder: true, sent: 3, answered: 3 },
    headersTimeoutMs: 60_000,
    headersTimeout: { closeKind: 'fin', status: 408 },
    notes: [],
    ...overrides,
  };
}

const SETTINGS = { maxWaitMs: 120_000 };

describe('recommendIdleTimeoutMs: enforced − max(1 s, 20 %), at least half', () => {
  const cases: Array<[number, number]> = [
    [500, 250],
    [1000, 500],
    [1300, 650],
    [2000, 1000],
    [5000, 4000],
    [6000, 4800],
    [60_000, 48_000],
    [75_000, 60_000],
  ];
  for (const [enforced, recommended] of cases) test(`${enforced} ms → ${recommended} ms`, () => assert.equal(recommendIdleTimeoutMs(enforced), recommended));
});

describe('decideAdvice', () => {
  test('a margin behind the advertised timeout: no warning, a recommendation below the enforced timeout', () => {
    const advice = decideAdvice(findings(), SETTINGS);
    assert.equal(advice.recommendedIdleTimeoutMs, 4800);
    assert.ok(advice.advice.some((a) => a.startsWith('advertises timeout=5 and enforces 6.0 s: a 1.0 s margin protects')));
    assert.ok(!advice.advice.some((a) => a.startsWith('warning')), advice.advice.join('\n'));
    assert.equal(
      advice.verdict,
      'keeps HTTP/1.1 connections alive; closes idle connections after 6.0 s; at most 100 requests per connection; drops unfinished request heads after 60.0 s. Use an idle timeout ≤ 4.8 s in clients and load balancers.',
    );
  });

  test('enforced at the advertised timeout: the race warning', () => {
    const advice = decideAdvice(findings({ idleTimeout: { ...findings().idleTimeout, measuredMs: 5020, marginMs: 20 } }), SETTINGS);
    assert.ok(advice.advice.includes(
      "warning: advertises timeout=5 but closes at 5.0 s with no margin: clients that trust the header will race the server's close; enforce a little more than is advertised (as node's 1 s buffer does) or advertise less",
    ));
  });

  test('enforced before the advertised timeout: the early-close warning', () => {
    const advice = decideAdvice(findings({ idleTimeout: { ...findings().idleTimeout, measuredMs: 4000, marginMs: -1000 } }), SETTINGS);
    assert.ok(advice.advice.some((a) => a.startsWith('warning: advertises timeout=5 but closes idle connections at 4.0 s, 1.0 s early')));
    assert.match(advice.verdict, /closes 1\.0 s before its advertised timeout=5/);
  });

  test('every null measurement comes with its reason', () => {
    const advice = decideAdvice(
      findings({
        idleTimeout: { advertisedMs: 5000, measuredMs: null, closeKind: null, marginMs: null, samplesMs: [], connections: 3, statusesBeforeClose: [] },
        maxRequests: { advertised: null, countsDown: null, enforced: null, closesAfterLast: null, announced: null, statusAfterLast: null, requestsSent: 1000, probeLimit: 1000 },
        headersTimeoutMs: null,
      }),
      { maxWaitMs: 30_000 },
    );
    assert.equal(advice.recommendedIdleTimeoutMs, null);
    assert.ok(advice.advice.includes('idle timeout not measured: no idle connection was closed within --max-wait 30.0 s; raise --max-wait to measure it'));
    assert.ok(advice.advice.some((a) => a.startsWith('the server advertises timeout=5 (5.0 s); until the real timeout is measured')));
    assert.ok(advice.advice.includes('no per-connection request limit found within 1000 requests (probe bound): max requests not measured'));
    assert.ok(advice.advice.some((a) => a.startsWith('headers timeout not measured')));
  });

  test('unannounced max, RST on idle, an unrequested 408, HTTP/1.0 and Connection: close faults, broken pipelining, notes', () => {
    const advice = decideAdvice(
      findings({
        http10: { closesByDefault: false, keepAliveHonoured: false, connectionHeader: null, keepAliveConnectionHeader: null },
        connectionCloseHonoured: false,
        connectionClose: { headerSent: true, closed: false, closeKind: null },
        idleTimeout: { ...findings().idleTimeout, closeKind: 'rst', statusesBeforeClose: [408] },
        maxRequests: { ...findings().maxRequests, announced: false },
        pipelining: { answeredInOrder: false, sent: 3, answered: 1 },
        notes: ['something odd'],
      }),
      SETTINGS,
    );
    const text = advice.advice.join('\n');
    assert.match(text, /closes idle connections with RST, not FIN/);
    assert.match(text, /sends an unrequested 408 response on an idle connection/);
    assert.match(text, /warning: closes after 100 requests without saying Connection: close/);
    assert.match(text, /keeps HTTP\/1\.0 connections open without Connection: keep-alive/);
    assert.match(text, /does not keep HTTP\/1\.0 connections alive even when asked/);
    assert.match(text, /the server says Connection: close but does not close \(RFC 9112 §9\.6\)/);
    assert.match(text, /only 1 of 3 pipelined requests were answered in order/);
    assert.match(text, /note: something odd$/);
  });

  test('an error status on the target is pointed out', () => {
    const advice = decideAdvice(findings({ http11: { ...findings().http11, status: 404 } }), SETTINGS);
    assert.match(advice.advice[0], /^the target answered 404/);
  });
});

describe('formatReport', () => {
  test('one line per finding, then the verdict and the advice', () => {
    const base = findings();
    const text = formatReport({ ...base, ...decideAdvice(base, SETTINGS), maxWaitMs: 120_000, durationMs: 6100 });
    assert.match(text, /^holdfast inspect http:\/\/127\.0\.0\.1:8080\/ {2}\(6\.1 s\)\n\n/);
    assert.match(text, /\nIdle timeout {6}closes idle connections after 6\.0 s by FIN {2}\(median of 3: 6000, 6001, 5999 ms\)\n {18}advertised 5\.0 s → margin \+1\.0 s\n/);
    assert.match(text, /\nMax requests {6}advertised: max=99 on the first response, counting down\n {18}enforced: closed after 100 requests, the last saying Connection: close\n/);
    assert.match(text, /\nVerdict: keeps HTTP\/1\.1/);
    assert.match(text, /\nAdvice:\n {2}- use an idle timeout of at most 4\.8 s/);
  });

  test('formatMs', () => {
    assert.deepEqual([formatMs(0), formatMs(999.6), formatMs(1000), formatMs(5020), formatMs(-1700), formatMs(120_000)], ['0 ms', '1.0 s', '1.0 s', '5.0 s', '-1.7 s', '120 s']);
  });
});

describe('arguments and target', () => {
  test('--max-wait: the shared duration syntax, and it must be longer than 0', () => {
    const maxWait = (text: string): number => {
      const parsed = parseInspectArgs(['http://h/', '--max-wait', text]);
      assert.ok(parsed.kind === 'run');
      return parsed.args.maxWaitMs;
    };
    assert.deepEqual(['500ms', '30s', '2m', '90', '1.5s', '1h'].map(maxWait), [500, 30_000, 120_000, 90_000, 1500, 3_600_000]);
    for (const text of ['0', '0ms', '', 'soon', '-1s']) {
      assert.throws(() => parseInspectArgs(['http://h/', `--max-wait=${text}`]), (e: unknown) => e instanceof UsageError && e.message.startsWith('--max-wait '), text);
    }
  });

  test('parseInspectArgs: defaults, both option spellings', () => {
    assert.deepEqual(parseInspectArgs(['http://h/']), { kind: 'run', args: { url: 'http://h/', json: false, progress: false, maxWaitMs: 120_000, concurrency: 3, insecure: false } });
    assert.deepEqual(parseInspectArgs(['--json', '--max-wait=5s', 'http://h/', '--concurrency', '5', '--progress']), {
      kind: 'run',
      args: { url: 'http://h/', json: true, progress: true, maxWaitMs: 5000, concurrency: 5, insecure: false },
    });
    assert.throws(() => parseInspectArgs(['--concurrency', '17', 'http://h/']), /--concurrency must be at most 16; got "17"/);
    assert.equal(parseInspectArgs(['-h']).kind, 'help');
  });

  test('parseTarget', () => {
    assert.deepEqual(parseTarget('http://Example.com/a/b?c=d#frag'), {
      kind: 'ok',
      target: { url: 'http://example.com/a/b?c=d#frag', host: 'example.com', port: 80, requestTarget: '/a/b?c=d', hostHeader: 'example.com', tls: null },
    });
    assert.deepEqual(parseTarget('http://[::1]:8080'), {
      kind: 'ok',
      target: { url: 'http://[::1]:8080/', host: '::1', port: 8080, requestTarget: '/', hostHeader: '[::1]:8080', tls: null },
    });
    assert.deepEqual(parseTarget('https://example.com/x'), {
      kind: 'ok',
      target: { url: 'https://example.com/x', host: 'example.com', port: 443, requestTarget: '/x', hostHeader: 'example.com', tls: { servername: 'example.com' } },
    });
    const byIp = parseTarget('https://127.0.0.1:8443/');
    assert.ok(byIp.kind === 'ok' && byIp.target.port === 8443 && byIp.target.tls?.servername === null, 'no SNI for an IP address');
    assert.equal(parseTarget('ftp://example.com/').kind, 'invalid');
    assert.equal(parseTarget('example.com').kind, 'invalid');
    assert.equal(parseTarget('http://user:pw@example.com/').kind, 'invalid');
  });
});
