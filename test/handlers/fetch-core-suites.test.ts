import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runSuitesInChild } from '../helpers/child-suites.js';

const serverTests = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'server');

describe('the core suites through fetchHandler', () => {
  test('with HOLDFAST_TEST_HANDLER=fetch (every handler wrapped as a fetch app) the keep-alive, pipelining and body suites pass', () => {
    const files = ['keep-alive.test.js', 'pipelining.test.js', 'body.test.js'].map((f) => path.join(serverTests, f));
    runSuitesInChild(files, { HOLDFAST_TEST_HANDLER: 'fetch' }, 40);
  });
});
