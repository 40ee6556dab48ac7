/** `holdfast --proxy`: spawned, in front of a node:http app, alone and behind a static directory (try_files). */

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { startCli } from '../helpers/cli.js';
import { echoRequest, startNodeUpstream } from './helpers.js';

describe('holdfast --proxy (spawned)', () => {
  test('files from the directory first, every other request proxied; the banner states the pool and timeouts; SIGTERM exits 0', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'holdfast-proxy-cli-'));
    writeFileSync(path.join(dir, 'static.txt'), 'from disk');
    const app = await startNodeUpstream(echoRequest);
    const cli = await startCli([dir, '--proxy', app.url, '--port', '0', '--log', 'off', '--proxy-idle-timeout', '4s']);
    try {
      assert.ok(cli.output().includes(`serving ${dir}, then a proxy to ${app.url} on`), cli.output());
      assert.match(cli.output(), /proxy: 1 upstream\(s\), round-robin; keep-alive pool: 32 idle per upstream, no connection cap, idle 4s or the app's Keep-Alive timeout less 1s/);
      assert.match(cli.output(), /connect timeout 60s, read timeout 60s \(504 after\); request bodies up to 1m \(--max-body\)/);
      const base = `http://127.0.0.1:${cli.port}`;
      assert.equal(await (await fetch(`${base}/static.txt`)).text(), 'from disk');
      const proxied = (await (await fetch(`${base}/api/items?x=1`)).json()) as { url: string; headers: Record<string, string> };
      assert.deepEqual([proxied.url, proxied.headers.via], ['/api/items?x=1', '1.1 holdfast']);
      const posted = (await (await fetch(`${base}/static.txt`, { method: 'POST', body: 'abc' })).json()) as { method: string; bodyBytes: number };
      assert.deepEqual([posted.method, posted.bodyBytes], ['POST', 3], 'a POST goes to the app even where a file exists');
      const { code } = await cli.stop('SIGTERM');
      assert.equal(code, 0);
    } finally {
      await cli.stop('SIGKILL');
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--proxy alone proxies everything, balanced over repeated --proxy URLs', async () => {
    const a = await startNodeUpstream((req, res) => res.end('a'));
    const b = await startNodeUpstream((req, res) => res.end('b'));
    const cli = await startCli(['--proxy', a.url, '--proxy', b.url, '--port', '0', '--log', 'off']);
    try {
      assert.match(cli.output(), /proxy: 2 upstream\(s\), round-robin/);
      const answers: string[] = [];
      for (let i = 0; i < 4; i++) answers.push(await (await fetch(`http://127.0.0.1:${cli.port}/index.html`)).text());
      assert.deepEqual(answers.sort(), ['a', 'a', 'b', 'b']);
      assert.equal((await cli.stop('SIGTERM')).code, 0);
    } finally {
      await cli.stop('SIGKILL');
      await a.stop();
      await b.stop();
    }
  });

  test('--log-file: the proxy\'s upstream lines go to the log file with the request lines, in --log json, and none to stdout', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'holdfast-proxy-log-'));
    const file = path.join(dir, 'access.log');
    const app = await startNodeUpstream((req, res) => res.end('up'));
    const cli = await startCli(['--proxy', app.url, '--port', '0', '--log-file', file, '--log', 'json']);
    try {
      assert.equal(await (await fetch(`http://127.0.0.1:${cli.port}/via-proxy`)).text(), 'up');
      const { code, stdout } = await cli.stop('SIGTERM');
      assert.equal(code, 0);
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
      const request = lines.find((l) => l.event === 'request');
      assert.equal(request?.target, '/via-proxy');
      const open = lines.find((l) => l.event === 'upstream-open');
      assert.deepEqual(open && [open.upstream, typeof open.connectionId, typeof open.time], [new URL(app.url).host, 'number', 'string']);
      assert.match(String(open?.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      const close = lines.find((l) => l.event === 'upstream-close');
      assert.deepEqual(close && [close.upstream, close.connectionId, close.reason, close.requests], [new URL(app.url).host, open?.connectionId, 'proxy-closed', 1]);
      assert.doesNotMatch(stdout, /upstream-open|upstream-close|via-proxy|"event"/, stdout);
    } finally {
      await cli.stop('SIGKILL');
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--log off silences the proxy\'s lines too: nothing in the log file (never opened) or on stdout', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'holdfast-proxy-log-'));
    const file = path.join(dir, 'access.log');
    const app = await startNodeUpstream((req, res) => res.end('up'));
    const cli = await startCli(['--proxy', app.url, '--port', '0', '--log-file', file, '--log', 'off']);
    try {
      assert.equal(await (await fetch(`http://127.0.0.1:${cli.port}/quiet`)).text(), 'up');
      const { code, stdout } = await cli.stop('SIGTERM');
      assert.equal(code, 0);
      assert.equal(existsSync(file), false);
      assert.doesNotMatch(stdout, /Z upstream |conn#|quiet/, stdout);
    } finally {
      await cli.stop('SIGKILL');
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('without --log-file the proxy\'s pretty lines share stdout with the request lines', async () => {
    const app = await startNodeUpstream((req, res) => res.end('up'));
    const cli = await startCli(['--proxy', app.url, '--port', '0']);
    try {
      assert.equal(await (await fetch(`http://127.0.0.1:${cli.port}/on-stdout`)).text(), 'up');
      const { code, stdout } = await cli.stop('SIGTERM');
      assert.equal(code, 0);
      const host = new URL(app.url).host.replace(/[.]/g, '\\.');
      assert.match(stdout, /Z conn#1 req#1 GET \/on-stdout 200 2B /);
      assert.match(stdout, new RegExp(`Z upstream ${host} conn#\\d+ open\\n`));
      assert.match(stdout, new RegExp(`Z upstream ${host} conn#\\d+ close reason=proxy-closed requests=1 lifetime=\\d+\\.\\d{3}s\\n`));
    } finally {
      await cli.stop('SIGKILL');
      await app.stop();
    }
  });
});
