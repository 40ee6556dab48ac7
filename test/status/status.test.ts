/**
 * The status listener: its guards (Host allow-list, bearer token, read-only, loopback unless a
 * token), its three documents — /metrics checked by promtool, /status.json by its documented shape —
 * against traffic the test makes, and its life with the server it watches.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { describe, test } from 'node:test';
import { serveStatic } from '../../src/handlers/static.js';
import { DEMO_SITE } from '../../src/cli/demo.js';
import { createServer, serveStatus, StatusListener, type HoldfastServer, type StatusView } from '../../src/index.js';
import { exchange, RawConnection, type ParsedResponse } from '../helpers/raw-client.js';
import { GET, sleep, startServer, type TestServer } from '../helpers/server.js';

const TOKEN = 'a-status-token-for-tests';

/** `method path` on the status port with these header lines (Host included only if given). */
async function ask(port: number, method: string, path: string, headers: Record<string, string>): Promise<ParsedResponse> {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  const [response] = await exchange(port, `${method} ${path} HTTP/1.1\r\n${lines}\r\n`, { method });
  return response;
}

const host = (port: number): Record<string, string> => ({ host: `127.0.0.1:${port}` });

async function withStatus(token: string, run: (t: TestServer, statusPort: number) => Promise<void>): Promise<void> {
  const t = await startServer({ keepAliveTimeoutMs: 5000 });
  const listener = serveStatus(t.server, { address: '127.0.0.1:0', token });
  await listener.listen();
  try {
    await run(t, listener.address?.port as number);
  } finally {
    await t.stop();
  }
}

async function json(port: number, path = '/status.json'): Promise<StatusView> {
  const response = await ask(port, 'GET', path, host(port));
  assert.equal(response.status, 200);
  assert.equal(response.header('content-type'), 'application/json');
  return JSON.parse(response.body.toString()) as StatusView;
}

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('status security', () => {
  test('the public port does not serve the status paths', async () => {
    const server = createServer({ log: 'off', status: `127.0.0.1:${await freePort()}` }, serveStatic(DEMO_SITE));
    const { port } = await server.listen(0, '127.0.0.1');
    try {
      for (const path of ['/status.json', '/metrics']) {
        const [response] = await exchange(port, GET(path));
        assert.equal(response.status, 404, path);
      }
      const [page] = await exchange(port, GET('/'));
      assert.ok(!page.body.toString().includes('live status'), 'the public / is the site, not the dashboard');
    } finally {
      await server.close();
    }
  });

  test('Host allow-list without a token: loopback names with the status port only, 421 otherwise (DNS rebinding)', async () => {
    await withStatus('', async (_t, port) => {
      for (const good of [`127.0.0.1:${port}`, `localhost:${port}`, `LocalHost:${port}`, `[::1]:${port}`, `127.0.0.2:${port}`]) {
        assert.equal((await ask(port, 'GET', '/status.json', { host: good })).status, 200, good);
      }
      for (const bad of [`evil.example:${port}`, `attacker.test`, `127.0.0.1:${port + 1}`, `127.0.0.1`, `localhost.evil.example:${port}`, '']) {
        const response = await ask(port, 'GET', '/status.json', { host: bad });
        assert.equal(response.status, 421, bad);
        assert.match(response.body.toString(), /DNS rebinding/);
        assert.equal(response.header('cache-control'), 'no-store');
      }
      const [noHost] = await exchange(port, 'GET /metrics HTTP/1.0\r\n\r\n');
      assert.equal(noHost.status, 421, 'an HTTP/1.0 request without Host');
    });
  });

  test('with a token: 401 without it or with a wrong one (WWW-Authenticate: Bearer); the header or ?token= opens it; any Host', async () => {
    await withStatus(TOKEN, async (_t, port) => {
      const wrong: Array<Record<string, string>> = [{}, { authorization: `Bearer ${TOKEN}x` }, { authorization: `Basic ${TOKEN}` }, { authorization: `Bearer ${TOKEN.slice(0, -1)}` }, { authorization: 'Bearer' }];
      for (const headers of wrong) {
        const response = await ask(port, 'GET', '/metrics', { ...host(port), ...headers });
        assert.equal(response.status, 401, JSON.stringify(headers));
        assert.equal(response.header('www-authenticate'), 'Bearer realm="holdfast status"');
        assert.ok(!response.body.toString().includes(TOKEN));
      }
      assert.equal((await ask(port, 'GET', '/metrics', { ...host(port), authorization: `Bearer ${TOKEN}` })).status, 200);
      assert.equal((await ask(port, 'GET', '/metrics', { ...host(port), authorization: `bearer ${TOKEN}` })).status, 200, 'the scheme is case-insensitive');
      assert.equal((await ask(port, 'GET', `/?token=${TOKEN}`, host(port))).status, 200);
      assert.equal((await ask(port, 'GET', '/?token=wrong-token-wrong-token', host(port))).status, 401);
      assert.equal((await ask(port, 'GET', '/status.json', { host: 'status.example:443', authorization: `Bearer ${TOKEN}` })).status, 200);
      assert.equal((await ask(port, 'POST', '/status.json', { ...host(port), 'content-length': '0' })).status, 401, 'no token, no answer beyond 401');
    });
  });

  test('read-only: POST, PUT, DELETE → 405 with Allow: GET, HEAD; HEAD has the headers and no body; other paths 404', async () => {
    await withStatus('', async (_t, port) => {
      for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
        const response = await ask(port, method, '/status.json', { ...host(port), 'content-length': '0' });
        assert.equal(response.status, 405, method);
        assert.equal(response.header('allow'), 'GET, HEAD');
      }
      const head = await ask(port, 'HEAD', '/metrics', host(port));
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
      assert.equal(head.header('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
      assert.equal((await ask(port, 'GET', '/status', host(port))).status, 404);
      assert.equal((await ask(port, 'GET', '/../metrics', host(port))).status, 404);
    });
  });

  test('every response: no-store, nosniff, no-referrer and a strict CSP; the page allows only its own script and style by hash', async () => {
    await withStatus('', async (_t, port) => {
      for (const path of ['/', '/status.json', '/metrics', '/nope']) {
        const response = await ask(port, 'GET', path, host(port));
        assert.equal(response.header('cache-control'), 'no-store', path);
        assert.equal(response.header('x-content-type-options'), 'nosniff', path);
        assert.equal(response.header('referrer-policy'), 'no-referrer', path);
        const csp = response.header('content-security-policy') ?? '';
        assert.match(csp, /^default-src 'none'/, path);
        assert.match(csp, /frame-ancestors 'none'/, path);
        assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/, path);
      }
      const page = await ask(port, 'GET', '/', host(port));
      assert.equal(page.header('content-type'), 'text/html; charset=utf-8');
      assert.match(page.header('content-security-policy') ?? '', /script-src 'sha256-[A-Za-z0-9+/]+=*'; style-src 'sha256-[A-Za-z0-9+/]+=*'; connect-src 'self'/);
      const html = page.body.toString();
      assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+stylesheet|(src|href)=["']?(https?:)?\/\/|@import|url\(/, 'no external assets');
    });
  });

  test('a non-loopback address without a token is refused: by the options, and by the listener before it binds', () => {
    assert.throws(() => createServer({ status: '0.0.0.0:9999' }, () => ({ status: 200 })), /not a loopback address; serving the status there needs statusToken/);
    for (const address of ['0.0.0.0:0', '[::]:0', '192.0.2.1:0']) {
      assert.throws(() => new StatusListener({ address, token: '', source: () => Promise.reject(new Error('unused')) }), /will not bind .* not a loopback address, without a token/, address);
    }
    assert.throws(() => new StatusListener({ address: 'nonsense', token: '', source: () => Promise.reject(new Error('unused')) }), /HOST:PORT/);
  });
});

describe('status documents', () => {
  test('/metrics after N requests over M connections: counters and histograms match, and promtool accepts it', async () => {
    await withStatus('', async (t, port) => {
      const perConnection = [3, 1, 2];
      for (const count of perConnection) {
        const c = await RawConnection.connect(t.port);
        for (let i = 1; i <= count; i++) {
          c.write(GET('/', i === count ? 'Connection: close\r\n' : ''));
          await c.readResponse();
        }
        await c.waitForClose();
        c.destroy();
      }
      const [head] = await exchange(t.port, 'HEAD / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n', { method: 'HEAD' });
      assert.equal(head.status, 200);
      await t.closed(4);
      const response = await ask(port, 'GET', '/metrics', host(port));
      assert.equal(response.header('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
      const text = response.body.toString();
      const value = (series: string): number => {
        const line = text.split('\n').find((l) => l.startsWith(`${series} `));
        assert.ok(line !== undefined, `${series} is missing:\n${text}`);
        return Number(line.slice(series.length + 1));
      };
      assert.equal(value('holdfast_requests_total{method="GET",code="200"}'), 6);
      assert.equal(value('holdfast_requests_total{method="HEAD",code="200"}'), 1);
      assert.equal(value('holdfast_connections_accepted_total'), 4);
      assert.equal(value('holdfast_connections_closed_total{reason="client-close"}'), 4);
      assert.equal(value('holdfast_connections_ended_total{by="fin"}'), 4);
      assert.equal(value('holdfast_request_duration_seconds_count'), 7);
      assert.equal(value('holdfast_request_duration_seconds_bucket{le="+Inf"}'), 7);
      assert.equal(value('holdfast_requests_per_connection_count'), 4);
      assert.equal(value('holdfast_requests_per_connection_sum'), 7);
      assert.equal(value('holdfast_requests_per_connection_bucket{le="1"}'), 2);
      assert.equal(value('holdfast_requests_per_connection_bucket{le="2"}'), 3);
      assert.equal(value('holdfast_requests_per_connection_bucket{le="3"}'), 4);
      assert.equal(value('holdfast_idle_gap_seconds_count'), 7 - 4);
      assert.equal(value('holdfast_connection_duration_seconds_count'), 4);
      assert.equal(value('holdfast_build_info{version="0.1.0",node="' + process.version + '"}'), 1);
      assert.equal(value('holdfast_connections{state="idle"}'), 0);
      assert.doesNotMatch(text, /remote|connection_id|127\.0\.0\.1/, 'no per-connection labels');

      const promtool = (metrics: string): void => {
        const check = spawnSync('promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8', timeout: 10_000 });
        assert.equal(check.error, undefined, 'promtool is missing: apt-get install -y prometheus (.ci/run does)');
        assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
        assert.equal(`${check.stdout}${check.stderr}`.trim(), '', 'promtool has no complaint');
      };
      promtool(text);
      // The second scrape carries what the first started: the event-loop delay gauge.
      await sleep(50);
      const again = (await ask(port, 'GET', '/metrics', host(port))).body.toString();
      assert.match(again, /^holdfast_event_loop_delay_p99_seconds\{worker="0"\} \d/m);
      promtool(again);
    });
  });

  test('/status.json: the documented shape, counts from the traffic, a held-open connection with its deadline', async () => {
    await withStatus('', async (t, port) => {
      const held = await RawConnection.connect(t.port);
      try {
        for (let i = 0; i < 3; i++) {
          held.write(GET('/held'));
          await held.readResponse();
        }
        const [gone] = await exchange(t.port, GET('/', 'Connection: close\r\n'));
        assert.equal(gone.status, 200);
        await t.closed(1);
        const view = await json(port);
        assert.deepEqual(Object.keys(view).sort(), [
          'closeReasons', 'closes', 'connections', 'countingForS', 'format', 'histograms', 'holdfast', 'keepAlive', 'processes', 'rates', 'requestTime', 'requests', 'reuse', 'settings', 'takenAt', 'totals',
        ]);
        assert.equal(view.format, 1);
        assert.deepEqual(view.totals, { accepted: 2, refused: 0, closed: 1, requests: 4 });
        assert.equal(view.connections.open, 1);
        assert.equal(view.connections.byActivity.idle, 1);
        const [row] = view.connections.rows;
        assert.equal(row.requestsServed, 3);
        assert.equal(row.requestsLeft, 97);
        assert.equal(row.activity, 'idle');
        assert.ok(row.idleDeadline !== null && row.idleDeadline.advertisedInMs !== null && row.idleDeadline.advertisedInMs > 4000 && row.idleDeadline.enforcedInMs > 5000);
        assert.deepEqual(view.closeReasons, [{ reason: 'client-close', lastMinute: 1, total: 1 }]);
        assert.deepEqual(view.requests, [{ method: 'GET', code: 200, count: 4 }]);
        assert.equal(view.histograms.requestDurationS.count, 4);
        assert.equal(view.histograms.requestDurationS.bounds.length, 14, "OpenTelemetry's buckets");
        assert.equal(view.histograms.requestsPerConnection.sum, 1);
        assert.equal(view.reuse.perClosedConnection, 1);
        assert.equal(view.reuse.perAcceptedConnection, 2);
        assert.equal(view.requestTime.count, 4);
        assert.ok(view.requestTime.p50Ms !== null && view.requestTime.p99Ms !== null && view.requestTime.p50Ms <= view.requestTime.p99Ms);
        assert.deepEqual(view.settings, { keepAliveTimeoutMs: 5000, keepAliveTimeoutBufferMs: 1000, maxRequestsPerConnection: 100, maxConnections: 0, lingerMs: 200, advertisedTimeoutS: 5, enforcedTimeoutMs: 6000 });
        assert.equal(view.processes.length, 1);
        assert.equal(view.processes[0].pid, process.pid);
        assert.ok(view.processes[0].rssBytes > 0);
      } finally {
        held.destroy();
      }
    });
  });

  test('/status.json: open descriptors counted, and the event-loop delay a blocked loop added (less the monitor\'s own period)', async () => {
    await withStatus('', async (t, port) => {
      const before = (await json(port)).processes[0];
      assert.ok(before.openFds !== null && before.openFds > 0, String(before.openFds));
      const extra = await Promise.all([1, 2, 3].map(() => RawConnection.connect(t.port)));
      try {
        await new Promise((resolve) => setTimeout(resolve, 30)); // the monitor's first tick after a sample starts its count
        const start = Date.now();
        while (Date.now() - start < 60);
        await new Promise((resolve) => setTimeout(resolve, 50));
        const after = (await json(port)).processes[0];
        assert.ok(after.openFds !== null && after.openFds >= before.openFds + 3, `${before.openFds} → ${after.openFds}`);
        const delay = after.eventLoopDelayMs;
        assert.ok(delay !== null && delay.max >= 45 && delay.p50 <= delay.p99 && delay.p99 <= delay.max, JSON.stringify(delay));
      } finally {
        for (const c of extra) c.destroy();
      }
    });
  });

  test('/status.json: rows sorted and limited by the query, over every connection; rates once two samples are a second apart', async () => {
    await withStatus('', async (t, port) => {
      const connections = await Promise.all([1, 2, 3, 4].map(() => RawConnection.connect(t.port)));
      try {
        for (const [i, c] of connections.entries()) {
          for (let k = 0; k <= i; k++) {
            c.write(GET('/'));
            await c.readResponse();
          }
        }
        const byRequests = await json(port, '/status.json?sort=requests&order=desc&limit=2');
        assert.equal(byRequests.connections.open, 4);
        assert.deepEqual(byRequests.connections.rows.map((r) => r.requestsServed), [4, 3]);
        assert.deepEqual(byRequests.connections.sort, { key: 'requests', descending: true });
        const byId = await json(port, '/status.json?sort=bogus&limit=abc');
        assert.deepEqual(byId.connections.rows.map((r) => r.id), [1, 2, 3, 4]);
        assert.equal(byId.rates, null, 'no earlier sample yet');
        await new Promise((resolve) => setTimeout(resolve, 1000));
        connections[0].write(GET('/'));
        await connections[0].readResponse();
        connections.push(await RawConnection.connect(t.port));
        connections[4].write(GET('/'));
        await connections[4].readResponse();
        const later = await json(port);
        assert.ok(later.rates !== null && later.rates.windowS >= 0.9, JSON.stringify(later.rates));
        assert.ok(later.rates.requestsPerS > 0 && later.rates.requestsPerS <= 2.4, JSON.stringify(later.rates));
        assert.ok(later.rates.acceptedPerS > 0 && later.rates.acceptedPerS <= 1.2, JSON.stringify(later.rates));
      } finally {
        for (const c of connections) c.destroy();
      }
    });
  });
});

describe('status listener lifecycle', () => {
  test('the status option: listen() starts the listener, close() stops it after the drain', async () => {
    const statusPort = await freePort();
    const server: HoldfastServer = createServer({ log: 'off', status: `127.0.0.1:${statusPort}` }, () => ({ status: 200, body: 'ok' }));
    await server.listen(0, '127.0.0.1');
    const view = await json(statusPort);
    assert.equal(view.totals.accepted, 0, "the status listener's own connections are not counted");
    await server.close();
    await assert.rejects(RawConnection.connect(statusPort), /ECONNREFUSED/);
  });

  test('a status port in use fails listen(), and the public port is not left bound', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as net.AddressInfo).port;
    const publicPort = await freePort();
    const server = createServer({ log: 'off', status: `127.0.0.1:${taken}` }, () => ({ status: 200 }));
    try {
      await assert.rejects(server.listen(publicPort, '127.0.0.1'), /EADDRINUSE/);
      assert.equal(server.listening, false);
    } finally {
      await server.close();
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
