import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sharedReadAvailable } from '../../src/server/shared-read.js';
import { runSuitesInChild } from '../helpers/child-suites.js';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('socket read and write modes', () => {
  test('on this node, accepted sockets read into the shared buffer (what the rest of the suite exercises)', () => {
    assert.equal(sharedReadAvailable, true, `node ${process.version}: the onread slots were not found; only 'data' events are used`);
  });

  test("with HOLDFAST_READ_EVENTS=1 ('data' events, the fallback) the keep-alive, pipelining, body and upgrade suites pass too", () => {
    const files = ['keep-alive.test.js', 'pipelining.test.js', 'body.test.js', 'protection.test.js', 'upgrade.test.js'].map((f) => path.join(here, f));
    runSuitesInChild(files, { HOLDFAST_READ_EVENTS: '1' }, 30);
  });

  test('with HOLDFAST_SOCKET_WRITES=1 (every write through net.Socket, the fallback) the keep-alive, pipelining, body and upgrade suites pass too', () => {
    const files = ['keep-alive.test.js', 'pipelining.test.js', 'body.test.js', 'protection.test.js', 'upgrade.test.js'].map((f) => path.join(here, f));
    runSuitesInChild(files, { HOLDFAST_SOCKET_WRITES: '1' }, 30);
  });
});
