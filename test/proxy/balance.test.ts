/**
 * Several upstreams: round-robin and least-outstanding, a connect failure moving on to the next
 * upstream, passive health (max fails → skipped for failTimeoutMs), the active health check, and
 * one upstream killed under load without a failed idempotent request.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { UpstreamHealthEvent } from '../../src/proxy/events.js';
import { sleep } from '../helpers/server.js';
import { freePort } from '../stress/helpers.js';
import { startNodeUpstream, startProxy, until } from './helpers.js';

/** Requests to /held wait until release() (so "busy" does not depend on how fast the machine is). */
let held: Array<() => void> = [];
const release = (): void => {
  for (const answer of held) answer();
  held = [];
};

const named = (name: string) => startNodeUpstream((req, res) => {
  if (req.url === '/slow') setTimeout(() => res.end(name), 150);
  else if (req.url === '/held') held.push(() => res.end(name));
  else if (req.url === '/health') res.writeHead(name === 'sick' ? 500 : 200).end(name);
  else res.end(name);
});

describe('proxy balancing and health', () => {
  test('round-robin alternates; least-outstanding avoids the upstream that is busy', async () => {
    const a = await named('a');
    const b = await named('b');
    const rr = await startProxy({ upstreams: [a.url, b.url] });
    const lo = await startProxy({ upstreams: [a.url, b.url], balance: 'least-outstanding' });
    try {
      const order: string[] = [];
      for (let i = 0; i < 4; i++) order.push(await (await fetch(`http://127.0.0.1:${rr.port}/`)).text());
      assert.deepEqual(order, ['a', 'b', 'a', 'b']);
      const slow = fetch(`http://127.0.0.1:${lo.port}/held`).then((r) => r.text());
      await until(() => held.length === 1, 'the held request to reach its upstream');
      const quick: string[] = [];
      for (let i = 0; i < 3; i++) quick.push(await (await fetch(`http://127.0.0.1:${lo.port}/`)).text());
      release();
      const busy = await slow;
      assert.deepEqual(quick, [busy === 'a' ? 'b' : 'a', busy === 'a' ? 'b' : 'a', busy === 'a' ? 'b' : 'a'], 'every quick request avoided the busy upstream');
    } finally {
      release();
      await rr.stop();
      await lo.stop();
      await a.stop();
      await b.stop();
    }
  });

  test('a refused upstream: the request moves on to the next (any method), and the refused one is skipped for failTimeoutMs', async () => {
    const down = await freePort();
    const b = await named('b');
    const t = await startProxy({ upstreams: [`http://127.0.0.1:${down}`, b.url], failTimeoutMs: 300 });
    const health: UpstreamHealthEvent[] = [];
    t.proxy.events.on('upstream-health', (e) => health.push(e));
    try {
      const post = await fetch(`http://127.0.0.1:${t.port}/`, { method: 'POST', body: 'x' });
      assert.deepEqual([post.status, await post.text()], [200, 'b'], 'nothing was sent to the refused upstream: a POST moves on too');
      for (let i = 0; i < 4; i++) assert.equal(await (await fetch(`http://127.0.0.1:${t.port}/`)).text(), 'b');
      assert.equal(t.upstreamErrors.length, 1, 'the down upstream was skipped after its failure');
      assert.deepEqual([t.upstreamErrors[0].phase, t.upstreamErrors[0].retried], ['connect', true]);
      assert.deepEqual(
        health.map((e) => [e.upstream, e.healthy]),
        [[`127.0.0.1:${down}`, false]],
      );
      await sleep(350);
      await (await fetch(`http://127.0.0.1:${t.port}/`)).text();
      await (await fetch(`http://127.0.0.1:${t.port}/`)).text();
      assert.equal(t.upstreamErrors.length, 2, 'after failTimeoutMs it is tried again');
    } finally {
      await t.stop();
      await b.stop();
    }
  });

  test('the active health check skips an upstream whose check path fails', async () => {
    const sick = await named('sick');
    const well = await named('well');
    const t = await startProxy({ upstreams: [sick.url, well.url], healthCheckPath: '/health', healthCheckIntervalMs: 50 });
    try {
      await until(() => t.proxyLogs.some((l) => l.includes('"upstream-health"')), 'a health verdict');
      const answers = new Set<string>();
      for (let i = 0; i < 4; i++) answers.add(await (await fetch(`http://127.0.0.1:${t.port}/`)).text());
      assert.deepEqual([...answers], ['well']);
      const line = JSON.parse(t.proxyLogs.find((l) => l.includes('"upstream-health"')) as string) as Record<string, unknown>;
      assert.deepEqual([line.upstream, line.healthy, line.why], [`127.0.0.1:${sick.port}`, false, 'health check /health: 500']);
    } finally {
      await t.stop();
      await sick.stop();
      await well.stop();
    }
  });

  test('one of three upstreams killed under load: no idempotent request fails', async () => {
    const upstreams = await Promise.all(['a', 'b', 'c'].map(named));
    const t = await startProxy({ upstreams: upstreams.map((u) => u.url) });
    try {
      let running = true;
      const failures: string[] = [];
      let done = 0;
      const worker = async (): Promise<void> => {
        while (running) {
          try {
            const response = await fetch(`http://127.0.0.1:${t.port}/`);
            const text = await response.text();
            if (response.status !== 200) failures.push(`${response.status} ${text}`);
            done++;
          } catch (error) {
            failures.push(String(error));
          }
        }
      };
      const workers = Array.from({ length: 8 }, worker);
      await sleep(150);
      await upstreams[1].stop();
      await sleep(300);
      running = false;
      await Promise.all(workers);
      assert.ok(done > 100, `only ${done} requests`);
      assert.deepEqual(failures, []);
      assert.ok(t.upstreamErrors.length > 0, 'the killed upstream failed some requests');
      assert.ok(t.upstreamErrors.every((e) => e.retried), 'every failure was retried elsewhere');
    } finally {
      await t.stop();
      for (const u of [upstreams[0], upstreams[2]]) await u.stop();
    }
  });
});
