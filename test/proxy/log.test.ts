/**
 * The proxy's log through the server's sinks: a file path shared with the server's log (one
 * buffered writer, written by close()), the pretty error line with the client's target escaped,
 * and the logSink option's validation.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { proxy } from '../../src/proxy/proxy.js';
import { RawConnection } from '../helpers/raw-client.js';
import { GET } from '../helpers/server.js';
import { freePort } from '../stress/helpers.js';
import { startNodeUpstream, startProxy } from './helpers.js';

describe('proxy log sinks', () => {
  test('logSink as a file path: the proxy and the server share it; the lines are there once both are closed', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'holdfast-proxy-log-'));
    const file = path.join(dir, 'access.log');
    const app = await startNodeUpstream((req, res) => res.end('up'));
    const t = await startProxy({ upstreams: [app.url], log: 'pretty', logSink: file }, { log: 'pretty', logSink: file });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET('/shared'));
      assert.equal((await c.readResponse()).status, 200);
    } finally {
      c.destroy();
      await t.stop();
      await app.stop();
    }
    const log = readFileSync(file, 'utf8');
    rmSync(dir, { recursive: true, force: true });
    const host = new URL(app.url).host.replace(/[.]/g, '\\.');
    assert.match(log, /Z conn#\d+ req#1 GET \/shared 200 2B /);
    assert.match(log, new RegExp(`Z upstream ${host} conn#\\d+ open\\n`));
    assert.match(log, new RegExp(`Z upstream ${host} conn#\\d+ close reason=proxy-closed requests=1 lifetime=\\d+\\.\\d{3}s\\n`));
    assert.deepEqual(t.proxyLogs, [], 'the function sink of the helper was replaced');
  });

  test("a refused upstream's pretty error line: phase, code, method, target, what the client got", async () => {
    const port = await freePort();
    const lines: string[] = [];
    const t = await startProxy({ upstreams: [`http://127.0.0.1:${port}`], log: 'pretty', logSink: (line) => lines.push(line) });
    const c = await RawConnection.connect(t.port);
    try {
      c.write(GET('/down?x=1'));
      assert.equal((await c.readResponse()).status, 502);
    } finally {
      c.destroy();
      await t.stop();
    }
    assert.equal(lines.length, 1, lines.join(''));
    assert.match(lines[0] as string, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z upstream 127\\.0\\.0\\.1:${port} error phase=connect code=ECONNREFUSED GET /down\\?x=1 → 502\\n$`));
  });

  test('every event as one line: pretty escapes what could break a line, json is the event object with time and event first', async () => {
    const events = [
      ['upstream-open', { upstream: 'u:1', connectionId: 7 }],
      ['upstream-close', { upstream: 'u:1', connectionId: 7, reason: 'error', requests: 3, lifetimeMs: 1234.5 }],
      ['upstream-error', { upstream: 'u:1', phase: 'body', code: 'ECONNRESET', method: 'GET', target: '/a b\n"c"é', status: null, retried: false }],
      ['upstream-error', { upstream: 'u:1', phase: 'connect', code: 'ECONNREFUSED', method: 'PUT', target: '/x', status: 502, retried: true }],
      ['upstream-health', { upstream: 'u:1', healthy: false, why: 'status 500\nnext' }],
    ] as const;
    const emitAll = (format: 'pretty' | 'json'): string[] => {
      const lines: string[] = [];
      const handler = proxy({ upstreams: ['http://127.0.0.1:1'], log: format, logSink: (line) => lines.push(line) });
      for (const [name, e] of events) handler.events.emit(name, e as never);
      void handler.close();
      return lines;
    };
    const pretty = emitAll('pretty').map((line) => line.replace(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /, '<time> '));
    assert.deepEqual(pretty, [
      '<time> upstream u:1 conn#7 open\n',
      '<time> upstream u:1 conn#7 close reason=error requests=3 lifetime=1.235s\n',
      '<time> upstream u:1 error phase=body code=ECONNRESET GET /a\\x20b\\x0A"c"\\xE9 response aborted\n',
      '<time> upstream u:1 error phase=connect code=ECONNREFUSED PUT /x retried\n',
      '<time> upstream u:1 down: status 500 next\n',
    ]);
    const json = emitAll('json');
    assert.equal(json.length, events.length);
    json.forEach((line, i) => {
      assert.ok(line.endsWith('}\n') && !line.slice(0, -1).includes('\n'), line);
      const { time, ...rest } = JSON.parse(line) as Record<string, unknown>;
      assert.match(String(time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      const [name, e] = events[i] as (typeof events)[number];
      assert.deepEqual(rest, { event: name, ...e });
    });
  });

  test('logSink: a function, a file path or null; anything else is an option error', () => {
    assert.throws(() => proxy({ upstreams: ['http://127.0.0.1:1'], logSink: 42 as never }), /proxy option logSink must be a function or a file path/);
    assert.throws(() => proxy({ upstreams: ['http://127.0.0.1:1'], logSink: '' }), /proxy option logSink must be a function or a file path/);
    assert.equal(proxy({ upstreams: ['http://127.0.0.1:1'], log: 'off' }).options.logSink, null);
  });
});
