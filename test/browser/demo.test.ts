/**
 * A real browser (Debian's headless Chromium driven by playwright-core) loads the demo site from a
 * running holdfast, over HTTP and over HTTPS (a certificate from test/tls/certs.ts that Chromium is
 * told to trust by its public key): the page shows which connection served each resource, that
 * matches the server's own log, and after a reload every resource arrives on a connection opened
 * before it.
 */

import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { withDemoReport, DEMO_SITE } from '../../src/cli/demo.js';
import { serveStatic } from '../../src/handlers/static.js';
import { createServer, type Handler, type HoldfastServer } from '../../src/index.js';
import type { RequestEvent } from '../../src/server/events.js';
import { makeCerts, type TestCerts } from '../tls/certs.js';

const CHROMIUM = '/usr/bin/chromium';
const RESOURCES = ['/style.css', '/script.js', '/logo.png', '/data.json'];

interface Shown {
  resource: string;
  connectionId: number;
  requestIndex: number;
  reused: boolean;
}

for (const scheme of ['http', 'https'] as const) describe(`demo site in headless Chromium over ${scheme}`, () => {
  let browser: Browser;
  let server: HoldfastServer;
  let port: number;
  let certs: TestCerts | null = null;
  const requests: RequestEvent[] = [];
  const openedAt = new Map<number, number>();

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
    let handler: Handler = () => ({ status: 503 });
    const trust: string[] = [];
    if (scheme === 'https') {
      certs = makeCerts();
      const spki = new X509Certificate(certs.localhost.cert).publicKey.export({ type: 'spki', format: 'der' });
      trust.push(`--ignore-certificate-errors-spki-list=${createHash('sha256').update(spki).digest('base64')}`);
    }
    const tls = certs === null ? undefined : { cert: certs.localhost.cert, key: certs.localhost.key };
    server = createServer({ log: 'off', lingerMs: 200, tls }, (req) => handler(req));
    handler = withDemoReport(server, serveStatic(DEMO_SITE));
    server.on('request', (e) => requests.push(e));
    server.on('connection-open', (e) => openedAt.set(e.connectionId, Date.now()));
    ({ port } = await server.listen(0, '127.0.0.1'));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', ...trust],
    });
  });

  after(async () => {
    await browser?.close();
    await server?.close({ graceMs: 1000 });
    assert.equal(server.connectionCount, 0);
    certs?.remove();
  });

  const latest = (target: string, since: number): RequestEvent | undefined =>
    requests.slice(since).reverse().find((r) => r.target === target);

  test('the page shows the connection and request index the server logged; a reload reuses open connections', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      const response = await page.goto(`${scheme}://localhost:${port}/`);
      assert.equal(response?.status(), 200);
      if (scheme === 'https') assert.equal((await response?.securityDetails())?.subjectName, 'localhost');
      await page.waitForSelector('body[data-ready="true"]', { timeout: 10_000 });
      const first = (await page.evaluate('window.holdfastDemo.shown')) as Shown[];
      assert.deepEqual(first.map((s) => s.resource), RESOURCES);
      for (const shown of first) {
        const logged = latest(shown.resource, 0);
        assert.ok(logged, `server never logged ${shown.resource}`);
        assert.equal(logged.status === 200 || logged.status === 304, true);
        assert.deepEqual([shown.connectionId, shown.requestIndex], [logged.connectionId, logged.requestIndex], shown.resource);
      }
      assert.ok(latest('/', 0), 'index.html was requested');

      const before = requests.length;
      const reloadStartedAt = Date.now();
      await page.reload();
      await page.waitForSelector('body[data-ready="true"]', { timeout: 10_000 });
      const second = (await page.evaluate('window.holdfastDemo.shown')) as Shown[];
      for (const target of ['/', ...RESOURCES]) {
        const logged = latest(target, before);
        assert.ok(logged, `after the reload the server never logged ${target}`);
        const opened = openedAt.get(logged.connectionId) as number;
        assert.ok(opened < reloadStartedAt, `${target} came on connection #${logged.connectionId}, opened during the reload`);
        // Over TLS Chromium may open a spare connection during the first load and use it only now:
        // opened before the reload (checked above), so no new handshake, but its first request.
        if (scheme === 'http') assert.ok(logged.requestIndex > 1, `${target} was request #${logged.requestIndex} on its connection`);
      }
      for (const shown of second) {
        const logged = latest(shown.resource, before) as RequestEvent;
        assert.deepEqual([shown.connectionId, shown.requestIndex], [logged.connectionId, logged.requestIndex], shown.resource);
        assert.equal(shown.reused, true, `the page says ${shown.resource} came on a new connection`);
      }
      const summary = await page.textContent('#summary');
      assert.match(summary ?? '', /4 on connections opened before this page load/);
    } finally {
      await context.close();
    }
  });
});
