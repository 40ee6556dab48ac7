/**
 * The live status dashboard in a real browser (Debian's headless Chromium driven by playwright-core):
 * it renders without a console error (its strict CSP would report a blocked script or style), shows
 * a connection this test holds open with its requests served and its idle deadline, and updates
 * when the test sends more on it. A screenshot is saved to test-artifacts/ (gitignored).
 */

import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { serveStatus } from '../../src/index.js';
import { RawConnection } from '../helpers/raw-client.js';
import { GET, sleep, startServer, type TestServer } from '../helpers/server.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));

describe('status dashboard in headless Chromium', () => {
  let browser: Browser;
  let t: TestServer;
  let statusPort: number;

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
    t = await startServer({ keepAliveTimeoutMs: 20_000, maxRequestsPerConnection: 50 });
    const listener = serveStatus(t.server, { address: '127.0.0.1:0', token: '' });
    await listener.listen();
    statusPort = listener.address?.port as number;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });

  after(async () => {
    await browser?.close();
    await t?.stop();
  });

  test('shows a held-open connection with its requests and deadline, and follows it as it serves more', async () => {
    const held = await RawConnection.connect(t.port);
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    try {
      for (let i = 0; i < 2; i++) {
        held.write(GET(`/held/${i}`));
        await held.readResponse();
      }
      const id = t.server.connections()[0].id;
      await page.goto(`http://127.0.0.1:${statusPort}/`);
      await page.waitForSelector('body[data-ready="true"]', { timeout: 10_000 });
      const row = page.locator(`#connections tr[data-id="${id}"]`);
      assert.equal(await row.getAttribute('data-state'), 'idle');
      assert.equal(await row.locator('[data-col="requests"]').textContent(), '2');
      assert.equal(await row.locator('[data-col="left"]').textContent(), '48');
      // Advertised timeout=20 → ~19.9 s left; enforced 20 s + the 1 s buffer.
      assert.match((await row.locator('[data-col="deadline"]').textContent()) ?? '', /^(19|20)(\.\d)? s · (20|21)(\.\d)? s$/);
      assert.match((await page.textContent('#states')) ?? '', /idle 1/);

      const updates = Number(await page.getAttribute('body', 'data-updates'));
      held.write(GET('/held/2'));
      await held.readResponse();
      // Polled from here: the page's CSP forbids the eval a string predicate would need.
      const shown = async (): Promise<[string | null, number]> => [await row.locator('[data-col="requests"]').textContent(), Number(await page.getAttribute('body', 'data-updates'))];
      const until = Date.now() + 5_000;
      let now = await shown();
      while (!(now[0] === '3' && now[1] > updates) && Date.now() < until) {
        await sleep(50);
        now = await shown();
      }
      assert.deepEqual([now[0], now[1] > updates], ['3', true], 'the row shows the third request after a later update');
      assert.equal(await row.locator('[data-col="left"]').textContent(), '47');
      assert.match((await page.textContent('[data-counter="closes"]')) ?? '', /^0 \/ 0 \/ 0/);
      assert.match((await page.textContent('#cards')) ?? '', /requests \/ s/);
      assert.equal(await page.locator('#idle-gap svg rect.bar').count(), 26, 'one bar per idle-gap bucket, +Inf included');
      assert.equal(await page.locator('#idle-gap svg .marker').count(), 2, 'advertised and enforced timeout marked');

      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: `${ARTIFACTS}status-dashboard.png`, fullPage: true });
      assert.deepEqual(problems, [], 'no console errors or warnings');
    } finally {
      held.destroy();
      await context.close();
    }
  });
});
