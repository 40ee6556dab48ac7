import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sharedReadAvailable } from '../../src/server/shared-read.js';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('socket read modes', () => {
  test('on this node, accepted sockets read into the shared buffer (what the rest of the suite exercises)', () => {
    assert.equal(sharedReadAvailable, true, `node ${process.version}: the onread slots were not found; only 'data' events are used`);
  });

  test("with HOLDFAST_READ_EVENTS=1 ('data' events, the fallback) the keep-alive, pipelining, body and upgrade suites pass too", () => {
    const files = ['keep-alive.test.js', 'pipelining.test.js', 'body.test.js', 'protection.test.js', 'upgrade.test.js'].map((f) => path.join(here, f));
    // NODE_TEST_CONTEXT would make the child report to this runner instead of running on its own.
    const env: NodeJS.ProcessEnv = { ...process.env, HOLDFAST_READ_EVENTS: '1' };
    delete env.NODE_TEST_CONTEXT;
    const run = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...files], { env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 0, `fallback run failed:\n${run.stdout.slice(-3000)}\n${run.stderr.slice(-2000)}`);
    const passed = Number(/ℹ pass (\d+)/.exec(run.stdout)?.[1] ?? 0);
    assert.ok(passed >= 30, `expected the suites to run in the child, saw ${passed} passing tests`);
    assert.match(run.stdout, /ℹ fail 0/);
  });
});
