/**
 * runSuitesInChild(files, env): runs compiled test files in a child `node --test` with extra
 * environment (a mode switch the helpers read) and asserts they all passed, at least `minPassed`
 * of them: the same suites exercise another path without being written twice.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

export function runSuitesInChild(files: string[], extraEnv: Record<string, string>, minPassed: number): void {
  // NODE_TEST_CONTEXT would make the child report to this runner instead of running on its own.
  const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv };
  delete env.NODE_TEST_CONTEXT;
  const run = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...files], { env, encoding: 'utf8', timeout: 60_000 });
  const mode = Object.entries(extraEnv).map(([name, value]) => `${name}=${value}`).join(' ');
  assert.equal(run.status, 0, `${mode} run failed:\n${run.stdout.slice(-3000)}\n${run.stderr.slice(-2000)}`);
  const passed = Number(/ℹ pass (\d+)/.exec(run.stdout)?.[1] ?? 0);
  assert.ok(passed >= minPassed, `expected the suites to run in the child, saw ${passed} passing tests`);
  assert.match(run.stdout, /ℹ fail 0/);
}
