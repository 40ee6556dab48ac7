import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { RawConnection } from '../helpers/raw-client.js';
import { runCli, startCli } from '../helpers/cli.js';

describe('holdfast CLI (spawned)', () => {
  test('serves the demo page and its resources over one connection; SIGTERM drains and exits 0', async () => {
    const cli = await startCli(['--demo', '--port', '0', '--log', 'json']);
    const c = await RawConnection.connect(cli.port);
    try {
      assert.match(cli.output(), /advertised timeout=30s, enforced 31000 ms/);
      assert.match(cli.output(), /max requests 100/);
      assert.match(cli.output(), /^files: memory cache 64m \(files up to 8m\), compression br\/gzip, Cache-Control no-cache$/m);
      const paths = ['/', '/style.css', '/script.js', '/logo.png', '/data.json'];
      const types: string[] = [];
      for (const path of paths) {
        c.write(`GET ${path} HTTP/1.1\r\nHost: demo\r\n\r\n`);
        const res = await c.readResponse();
        assert.equal(res.status, 200, path);
        types.push(res.header('content-type') ?? '');
      }
      assert.deepEqual(types, [
        'text/html; charset=utf-8',
        'text/css; charset=utf-8',
        'text/javascript; charset=utf-8',
        'image/png',
        'application/json; charset=utf-8',
      ]);
      c.write('GET /__holdfast/requests HTTP/1.1\r\nHost: demo\r\n\r\n');
      const report = JSON.parse((await c.readResponse()).body.toString());
      assert.deepEqual(
        report.requests.map((r: { connectionId: number; requestIndex: number }) => [r.connectionId, r.requestIndex]),
        [[1, 1], [1, 2], [1, 3], [1, 4], [1, 5]],
      );
      const { code, stdout } = await cli.stop('SIGTERM');
      assert.equal(code, 0);
      assert.match(stdout, /shutdown: 1 connection\(s\) drained cleanly, 0 forced/);
      const lines = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      const close = lines.find((l) => l.event === 'connection-close');
      assert.equal(close.reason, 'shutdown');
      assert.equal(close.requestsServed, 6);
      assert.equal(lines.filter((l) => l.event === 'request').length, 6);
    } finally {
      c.destroy();
      await cli.stop('SIGKILL');
    }
  });

  test('--help, --version, and bad flags exit 2 with a one-line error naming the flag', async () => {
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: holdfast \[dir\]/);
    const version = await runCli(['--version']);
    assert.match(version.stdout, /^holdfast \d+\.\d+\.\d+/);
    const bad = await runCli(['--preset', 'turbo']);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
    assert.match(bad.stderr, /--preset takes one of production, high-traffic, low-traffic/);
    const missing = await runCli(['/definitely/not/here']);
    assert.equal(missing.code, 2);
    const cache = await runCli(['--file-cache', 'huge']);
    assert.equal(cache.code, 2);
    assert.match(cache.stderr, /^holdfast: --file-cache takes a size .*; got "huge"\n$/);
  });

  test('the static conveniences: --clean-urls, --header (repeated), --cache-control, a custom 404.html, --no-compress', async () => {
    const site = mkdtempSync(path.join(os.tmpdir(), 'holdfast-cli-site-'));
    writeFileSync(path.join(site, 'about.html'), '<p>ABOUT</p>\n');
    writeFileSync(path.join(site, '404.html'), '<p>CUSTOM NOT FOUND</p>\n');
    writeFileSync(path.join(site, 'app.js'), 'console.log("compress me");\n'.repeat(200));
    const args = [site, '--port', '0', '--log', 'off', '--clean-urls', '--header', 'X-Frame-Options: DENY', '--header', 'Link: </a.css>; rel=preload', '--header', 'link: </b.js>; rel=preload'];
    const cli = await startCli([...args, '--cache-control', '1h', '--no-compress']);
    const c = await RawConnection.connect(cli.port);
    try {
      assert.match(cli.output(), /^files: memory cache 64m \(files up to 8m\), compression off, Cache-Control max-age=3600, clean URLs$/m);
      const answers = [];
      for (const [target, extra] of [['/about', ''], ['/missing', ''], ['/app.js', 'Accept-Encoding: br, gzip\r\n']]) {
        c.write(`GET ${target} HTTP/1.1\r\nHost: t\r\n${extra}\r\n`);
        answers.push(await c.readResponse());
      }
      const [about, missing, plain] = answers;
      assert.deepEqual([about.status, about.body.toString()], [200, '<p>ABOUT</p>\n']);
      assert.equal(about.header('link'), '</a.css>; rel=preload, </b.js>; rel=preload');
      assert.equal(about.header('cache-control'), 'max-age=3600');
      assert.deepEqual([missing.status, missing.body.toString(), missing.header('content-type')], [404, '<p>CUSTOM NOT FOUND</p>\n', 'text/html; charset=utf-8']);
      for (const r of answers) assert.equal(r.header('x-frame-options'), 'DENY');
      assert.deepEqual([plain.header('content-encoding'), plain.header('vary')], [undefined, undefined]);
    } finally {
      c.destroy();
      await cli.stop('SIGKILL');
    }
    const compressing = await startCli([...args]);
    const d = await RawConnection.connect(compressing.port);
    try {
      d.write('GET /app.js HTTP/1.1\r\nHost: t\r\nAccept-Encoding: br, gzip\r\n\r\n');
      const compressed = await d.readResponse();
      assert.equal(compressed.header('content-encoding'), 'br');
      assert.equal(compressed.header('vary'), 'Accept-Encoding');
      assert.equal(compressed.header('cache-control'), 'no-cache');
    } finally {
      d.destroy();
      await compressing.stop('SIGKILL');
      rmSync(site, { recursive: true, force: true });
    }
    const bad = await runCli([site, '--header', 'Content-Length: 1']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^holdfast: --header: Content-Length is set by the server itself; got "Content-Length: 1"\n$/);
  });

  test('--workers 2 shares the port; SIGTERM drains every worker and exits 0', async () => {
    const cli = await startCli(['--demo', '--port', '0', '--workers', '2', '--log', 'off'], 10_000);
    try {
      assert.match(cli.output(), /with 2 workers/);
      const c = await RawConnection.connect(cli.port);
      c.write('GET /data.json HTTP/1.1\r\nHost: demo\r\n\r\n');
      assert.equal((await c.readResponse()).status, 200);
      c.destroy();
      const { code, stdout } = await cli.stop('SIGTERM');
      assert.equal(code, 0);
      assert.match(stdout, /drained cleanly, 0 forced \(2 workers\)/);
    } finally {
      await cli.stop('SIGKILL');
    }
  });
});
