/** Runs test files in a child node with HOLDFAST_READ_EVENTS=1 (sockets read by 'data' events, the fallback) and asserts they pass. */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

export function assertPassWithReadEvents(files: readonly string[], minPassed: number): void {
  const env: NodeJS.ProcessEnv = { ...process.env, HOLDFAST_READ_EVENTS: '1' };
  // NODE_TEST_CONTEXT would make the child report to this runner instead of running on its own.
  delete env.NODE_TEST_CONTEXT;
  const run = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...files], { env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, `fallback run failed:\n${run.stdout.slice(-3000)}\n${run.stderr.slice(-2000)}`);
  const passed = Number(/ℹ pass (\d+)/.exec(run.stdout)?.[1] ?? 0);
  assert.ok(passed >= minPassed, `expected the suites to run in the child, saw ${passed} passing tests`);
  assert.match(run.stdout, /ℹ fail 0/);
}
