import assert from 'node:assert/strict';
import { test } from 'node:test';
import { markdown, summarizePaired, type PairedRun, type Report } from '../../bench/lib/report.js';

const run = (round: number, referenceRps: number, referenceCpuUs: number, serverRps: number, serverCpuUs: number): PairedRun => ({
  round,
  reference: { requestsPerSec: referenceRps, serverCpuUsPerRequest: referenceCpuUs },
  server: { requestsPerSec: serverRps, serverCpuUsPerRequest: serverCpuUs },
});

test('side by side: the medians of the per-round ratios, failed rounds left out', () => {
  const runs = [run(1, 1000, 1.0, 860, 1.2), run(2, 2000, 2.0, 1800, 2.2), { round: 3, error: 'server exited' }, run(4, 1000, 1.0, 700, 1.5)];
  const summary = summarizePaired('holdfast', 'holdfast+log', runs);
  assert.equal(summary.medianRpsRatio, 0.86);
  assert.ok(Math.abs((summary.medianCpuRatio as number) - 1.2) < 1e-9);
  assert.deepEqual(summarizePaired('holdfast', 'holdfast+log', [{ round: 1, error: 'x' }]).medianRpsRatio, null);
});

test('the access-log section lists each pair and judges issue 18 targets by the side-by-side ratios', () => {
  const pairs = [
    summarizePaired('holdfast', 'holdfast+log', [run(1, 1000, 1, 900, 1.1)]),
    summarizePaired('node:http', 'holdfast+log', [run(1, 1000, 10, 1700, 5.6)]),
    summarizePaired('node:http', 'nginx+log', [run(1, 1000, 10, 2500, 4)]),
    summarizePaired('node:http', 'node:net floor', [run(1, 1000, 10, 2400, 4.1)]),
  ];
  const report: Report = {
    startedAt: '2026-12-05T00:00:00.000Z',
    totalSeconds: 1,
    machine: { cpu: 'test', cores: 2, kernel: 'k', node: 'v20', wrk: null, nginx: null, ab: null },
    settings: { rounds: 1, durationS: 1, warmupS: 0, idleConnections: 0, serverCore: 0, loadCore: 1, httpLoadTool: 'wrk' },
    servers: {},
    scenarios: [{ name: 'hello-logged', title: 'hello, logged', command: 'wrk', logged: true, app: false, servers: {}, paired: pairs }],
    idle: null,
  } as unknown as Report;
  const text = markdown(report);
  assert.match(text, /\| hello, logged \| holdfast\+log \| holdfast \| 0\.90× \| 1\.10× \| 0\.90× \/ 1\.10× \|/);
  assert.match(text, /hello-logged, holdfast\+log beside unlogged holdfast, side by side: 0\.90× its req\/s \(≥ 0\.85×: holds\)/);
  assert.match(text, /hello-logged, holdfast\+log beside node:http, side by side: 1\.70× its req\/s \(≥ 2×: MISSED\)/);
  // The references for scale are listed, not judged against a target.
  assert.match(text, /hello-logged, for scale, beside node:http side by side: nginx\+log 2\.50×, node:net floor 2\.40× its req\/s/);
  assert.doesNotMatch(text, /nginx\+log beside node:http/);
});
