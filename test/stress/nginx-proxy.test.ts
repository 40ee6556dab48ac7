/**
 * A real nginx (Debian's /usr/sbin/nginx) in front of holdfast, with upstream keep-alive.
 *
 * holdfast runs in this process with keepAliveTimeoutMs 1000: it advertises `timeout=1` and closes
 * an idle connection after 2 s (T + B). nginx, from a config generated into a temp dir
 * (`daemon off; master_process off; worker_processes 1;`, every path inside the temp dir), proxies
 * to it over `upstream { server 127.0.0.1:PORT; keepalive 16; }` with `proxy_http_version 1.1;
 * proxy_set_header Connection "";`.
 *
 * Two phases through nginx, each read at its end: the status of every response, nginx's access log
 * (`$upstream_status` shows a retry as "502, 200"), nginx's error log, holdfast's close reasons.
 *   bursts after gaps  8 burst workers send a burst each round (GETs, and a POST as the first request
 *                      of every other worker's burst: nginx retries a GET that failed on a cached
 *                      upstream connection, never a POST), then all wait the same gap, alternately
 *                      0.9–1.1 s and 1.9–2.1 s (around the advertised and the enforced timeout), so
 *                      every upstream connection idles across it; 2 steady workers send every
 *                      10–50 ms all along.
 *   paused proxy       16 upstream connections go idle together; nginx is paused (SIGSTOP) from
 *                      1970 to 2030 ms later, across holdfast's 2 s deadline, as a busy or
 *                      descheduled proxy is; 16 requests (half POSTs) are sent to it at 1985 ms.
 *
 * Two nginx configurations:
 *   correct     upstream keepalive_timeout 900ms: nginx's idle timeout < holdfast's advertised 1 s
 *               < enforced 2 s, so nginx always closes an idle upstream connection first. Asserted,
 *               both phases: only 200s, no failed request, no retry, no "upstream prematurely
 *               closed" / "recv() failed" / "reset by peer" (nor any [error]) line, and holdfast
 *               never closed an idle connection itself.
 *   too long    upstream keepalive_timeout 60s (nginx's default): holdfast closes idle upstream
 *               connections at 2 s while nginx still holds them. Reported, not asserted: 502s
 *               (POSTs), retried GETs, error-log lines. Ordinary traffic rarely hits the sub-
 *               millisecond window; a proxy paused across the deadline always does.
 */

import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { Client } from 'undici';
import { createServer, type HoldfastServer } from '../../src/index.js';
import { describeError, formatTable, requireNginx, sleep, sleepUntil } from './helpers.js';
import { startNginx, type Nginx } from './nginx.js';

const KEEP_ALIVE_TIMEOUT_MS = 1000;
const BURST_WORKERS = 8;
const STEADY_WORKERS = 2;
const BURST_LENGTH = 12;
const ROUNDS = 14;
/** Paused-proxy probe: connections, rounds. */
const PROBES = 16;
const PROBE_ROUNDS = 4;
/** nginx is paused across holdfast's 2 s deadline; the probes are sent during the pause. */
const PAUSE_FROM_MS = 1970;
const PAUSE_SEND_MS = 1985;
const PAUSE_UNTIL_MS = 2030;
/** nginx error-log lines that mean an upstream connection died under a request. */
const RACE_LINES = /upstream prematurely closed|recv\(\) failed|reset by peer|upstream timed out|no live upstreams|connect\(\) failed|writev?\(\) failed|broken pipe/i;

interface Tally {
  requests: number;
  /** Requests that met an upstream connection idle across a gap. */
  exposed: number;
  statuses: Map<number, number>;
  errors: string[];
}

function newTally(): Tally {
  return { requests: 0, exposed: 0, statuses: new Map(), errors: [] };
}

/** One request through nginx on the worker's own keep-alive connection; any failure is tallied. */
async function send(client: Client, tally: Tally, method: 'GET' | 'POST', exposed: boolean, target = `/${method.toLowerCase()}`): Promise<void> {
  tally.requests++;
  if (exposed) tally.exposed++;
  try {
    const { statusCode, body } = await client.request({
      path: target,
      method,
      body: method === 'POST' ? 'x'.repeat(100) : undefined,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    const text = await body.text();
    tally.statuses.set(statusCode, (tally.statuses.get(statusCode) ?? 0) + 1);
    if (statusCode === 200 && text !== (method === 'POST' ? 'got 100' : 'ok')) tally.errors.push(`${method}: unexpected body ${JSON.stringify(text.slice(0, 80))}`);
  } catch (error) {
    tally.errors.push(`${method}: ${describeError(error)}`);
  }
}

/**
 * The idle gap after burst `round`: alternately around the advertised (900–1100 ms) and the enforced
 * (1900–2100 ms) timeout, evenly spread across each range so every run covers both sides of both.
 */
function gapMs(round: number): number {
  const gaps = ROUNDS - 1;
  const inRange = Math.floor(round / 2);
  const count = round % 2 === 0 ? Math.ceil(gaps / 2) : Math.floor(gaps / 2);
  return (round % 2 === 0 ? 900 : 1900) + (200 * (inRange + 0.5)) / count;
}

/**
 * Bursts after gaps of ~0.9–1.1 s and ~1.9–2.1 s on the burst workers, steady traffic on the others.
 * Returns once every worker is done.
 */
async function mixedTraffic(clients: Client[], tally: Tally): Promise<void> {
  let running = true;
  const steady = clients.slice(BURST_WORKERS).map(async (client, w) => {
    for (let i = 0; running; i++) {
      await send(client, tally, (i + w) % 4 === 0 ? 'POST' : 'GET', false);
      await sleep(10 + Math.random() * 40);
    }
  });
  for (let round = 0; round < ROUNDS; round++) {
    await Promise.all(
      clients.slice(0, BURST_WORKERS).map(async (client, w) => {
        for (let i = 0; i < BURST_LENGTH; i++) {
          // The first request after the gap is the one that meets an upstream connection idle for it.
          const method = i === 0 ? ((w + round) % 2 === 0 ? 'POST' : 'GET') : i % 4 === 0 ? 'POST' : 'GET';
          await send(client, tally, method, i === 0 && round > 0);
        }
      }),
    );
    if (round < ROUNDS - 1) await sleep(gapMs(round));
  }
  running = false;
  await Promise.all(steady);
}

/**
 * The race, made to happen: PROBES requests hold PROBES upstream connections and are all answered at
 * t0, so those connections go idle together. nginx is paused (SIGSTOP) from t0 + PAUSE_FROM_MS to
 * t0 + PAUSE_UNTIL_MS, as a busy or descheduled proxy is for a moment; at t0 + PAUSE_SEND_MS the
 * clients send PROBES requests (half POSTs), which nginx reads when it resumes — after holdfast's
 * 2 s deadline, unless nginx has closed its idle upstream connections itself by then. (Without the
 * pause the window is a fraction of a millisecond; runs of a sweep across the deadline hit it only
 * while other processes loaded the machine.)
 */
async function pausedProxyProbe(clients: Client[], tally: Tally, nginx: Nginx): Promise<void> {
  for (let round = 0; round < PROBE_ROUNDS; round++) {
    const t0 = performance.now() + 50;
    await Promise.all(clients.map((client) => send(client, tally, 'GET', false, `/hold?until=${t0.toFixed(3)}`)));
    await sleepUntil(t0 + PAUSE_FROM_MS);
    nginx.pause();
    let sent: Promise<unknown> = Promise.resolve();
    try {
      await sleepUntil(t0 + PAUSE_SEND_MS);
      sent = Promise.all(clients.map((client, i) => (i % 2 === 0 ? send(client, tally, 'POST', true, '/probe-post') : send(client, tally, 'GET', true, '/probe-get'))));
      await sleepUntil(t0 + PAUSE_UNTIL_MS);
    } finally {
      nginx.resume();
    }
    await sent;
  }
}

interface PhaseResult {
  tally: Tally;
  durationMs: number;
  closeReasons: Map<string, number>;
  raceLines: string[];
  severeLines: string[];
  retried: { GET: number; POST: number };
}

interface VariantResult {
  name: string;
  upstreamKeepaliveTimeout: string;
  traffic: PhaseResult;
  probe: PhaseResult;
}

async function runVariant(name: string, upstreamKeepaliveTimeout: string): Promise<VariantResult> {
  let closeReasons = new Map<string, number>();
  const server: HoldfastServer = createServer({ keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS, log: 'off' }, async (req) => {
    const hold = /^\/hold\?until=([\d.]+)$/.exec(req.target);
    if (hold !== null) {
      await sleepUntil(Number(hold[1]));
      return { status: 200, body: 'ok' };
    }
    if (req.method === 'POST') return { status: 200, body: `got ${(await req.body.text()).length}` };
    return { status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' };
  });
  server.on('connection-close', (e) => closeReasons.set(e.reason, (closeReasons.get(e.reason) ?? 0) + 1));
  const { port } = await server.listen(0, '127.0.0.1');
  let nginx: Nginx | null = null;
  const clients: Client[] = [];
  try {
    nginx = await startNginx(port, { keepalive: 16, keepaliveTimeout: upstreamKeepaliveTimeout });
    const origin = `http://127.0.0.1:${nginx.port}`;
    let errorLogSeen = 0;
    let accessLogSeen = 0;
    const phase = async (run: (clients: Client[], tally: Tally, nginx: Nginx) => Promise<void>, workers: number): Promise<PhaseResult> => {
      closeReasons = new Map();
      const tally = newTally();
      const started = performance.now();
      const phaseClients = Array.from({ length: workers }, () => new Client(origin, { keepAliveTimeout: 30_000 }));
      clients.push(...phaseClients);
      await run(phaseClients, tally, nginx!);
      const durationMs = performance.now() - started;
      const reasons = closeReasons;
      await Promise.all(phaseClients.map((c) => c.close()));
      await sleep(100);
      const errorLog = nginx!.errorLog();
      const lines = errorLog.slice(errorLogSeen).split('\n');
      errorLogSeen = errorLog.length;
      const accessLog = nginx!.accessLog();
      const retried = { GET: 0, POST: 0 };
      for (const line of accessLog.slice(accessLogSeen).split('\n')) {
        const match = /^(GET|POST) (\d{3}) "([^"]*)"/.exec(line);
        if (match !== null && match[3].includes(',')) retried[match[1] as 'GET' | 'POST']++;
      }
      accessLogSeen = accessLog.length;
      return {
        tally,
        durationMs,
        closeReasons: reasons,
        raceLines: lines.filter((l) => RACE_LINES.test(l)),
        severeLines: lines.filter((l) => /\[(error|crit|alert|emerg)\]/.test(l)),
        retried,
      };
    };
    const traffic = await phase(mixedTraffic, BURST_WORKERS + STEADY_WORKERS);
    const probe = await phase(pausedProxyProbe, PROBES);
    return { name, upstreamKeepaliveTimeout, traffic, probe };
  } finally {
    await Promise.all(clients.map((c) => c.destroy()));
    await nginx?.stop();
    await server.close({ graceMs: 1000 });
    assert.equal(server.connectionCount, 0, 'holdfast connections left after close');
  }
}

const countStatuses = (tally: Tally, pick: (status: number) => boolean): number => [...tally.statuses].filter(([s]) => pick(s)).reduce((sum, [, n]) => sum + n, 0);

function report(results: VariantResult[]): void {
  const rows = results.flatMap((r) =>
    (['traffic', 'probe'] as const).map((which) => {
      const p = r[which];
      return [
        `${r.name} (keepalive_timeout ${r.upstreamKeepaliveTimeout})`,
        which === 'traffic' ? 'bursts after gaps' : 'nginx paused across 2 s',
        p.tally.requests,
        p.tally.exposed,
        countStatuses(p.tally, (s) => s === 502 || s === 504),
        countStatuses(p.tally, (s) => s < 200 || s > 299),
        p.tally.errors.length,
        `${p.retried.GET}/${p.retried.POST}`,
        p.raceLines.length,
        p.closeReasons.get('idle-timeout') ?? 0,
        p.closeReasons.get('peer-eof') ?? 0,
        `${(p.durationMs / 1000).toFixed(1)} s`,
      ];
    }),
  );
  console.log(`\nnginx ${requireNginx().replace(/^nginx version: /, '')} → holdfast (keepAliveTimeoutMs ${KEEP_ALIVE_TIMEOUT_MS}: advertises timeout=1, enforces 2 s)`);
  console.log(
    formatTable(
      ['nginx upstream', 'phase', 'requests', 'after idle', '502/504', 'non-2xx', 'client errors', 'retried GET/POST', 'error-log race lines', 'holdfast idle closes', 'nginx closed first', 'took'],
      rows,
    ),
  );
  for (const r of results) {
    for (const which of ['traffic', 'probe'] as const) {
      const p = r[which];
      const reasons = [...p.closeReasons].map(([reason, n]) => `${reason} ${n}`).join(', ');
      console.log(`${r.name} / ${which}: holdfast close reasons: ${reasons || 'none'}; statuses: ${[...p.tally.statuses].map(([s, n]) => `${s}×${n}`).join(', ')}`);
      for (const line of p.raceLines.slice(0, 3)) console.log(`  nginx: ${line.replace(/^\S+ \S+ /, '').slice(0, 200)}`);
      for (const error of p.tally.errors.slice(0, 3)) console.log(`  client: ${error}`);
    }
  }
  console.log('');
}

test('nginx with upstream keepalive in front of holdfast: zero 502s when nginx idles out first; the reverse measured', { timeout: 150_000 }, async () => {
  requireNginx();
  const correct = await runVariant('correct', '900ms');
  const tooLong = await runVariant('too long', '60s');
  report([correct, tooLong]);

  const requests = correct.traffic.tally.requests + correct.probe.tally.requests;
  assert.ok(requests >= 2000, `only ${requests} requests were sent`);
  for (const which of ['traffic', 'probe'] as const) {
    const p = correct[which];
    assert.deepEqual([...p.tally.statuses.keys()], [200], `${which}: statuses other than 200: ${[...p.tally.statuses].join(' ')}`);
    assert.deepEqual(p.tally.errors, [], `${which}: requests failed between the client and nginx`);
    assert.deepEqual(p.raceLines, [], `${which}: nginx logged upstream connection failures`);
    assert.deepEqual(p.severeLines, [], `${which}: nginx logged errors`);
    assert.deepEqual(p.retried, { GET: 0, POST: 0 }, `${which}: nginx had to retry requests upstream`);
    assert.equal(p.closeReasons.get('idle-timeout') ?? 0, 0, `${which}: holdfast closed an idle upstream connection: nginx should always idle out first`);
    assert.ok((p.closeReasons.get('peer-eof') ?? 0) > 0, `${which}: nginx never closed an idle upstream connection: the gaps did not exercise its keepalive_timeout`);
  }
  // The misconfiguration really put holdfast's idle deadline under nginx's feet.
  const idleCloses = (tooLong.traffic.closeReasons.get('idle-timeout') ?? 0) + (tooLong.probe.closeReasons.get('idle-timeout') ?? 0);
  assert.ok(idleCloses > 0, 'with keepalive_timeout 60s holdfast never closed an idle upstream connection');
});
