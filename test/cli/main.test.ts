import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { RawConnection } from '../helpers/raw-client.js';
import { runCli, startCli, type RunningCli } from '../helpers/cli.js';
import type { StatusView } from '../../src/index.js';

/** The status port from the banner's "live status on http://127.0.0.1:PORT/". */
function statusPort(cli: RunningCli): number {
  const match = /live status on http:\/\/127\.0\.0\.1:(\d+)\//.exec(cli.output());
  assert.ok(match !== null, `no status line in: ${cli.output()}`);
  return Number(match[1]);
}

async function statusGet(port: number, path: string): Promise<string> {
  const c = await RawConnection.connect(port);
  try {
    c.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    const response = await c.readResponse();
    assert.equal(response.status, 200, path);
    return response.body.toString();
  } finally {
    c.destroy();
  }
}

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

  test('--status serves the live status on its own port, counting the public traffic', async () => {
    const cli = await startCli(['--demo', '--port', '0', '--status', '127.0.0.1:0', '--log', 'off']);
    try {
      const port = statusPort(cli);
      const c = await RawConnection.connect(cli.port);
      for (const path of ['/', '/style.css', '/nope']) {
        c.write(`GET ${path} HTTP/1.1\r\nHost: demo\r\n\r\n`);
        await c.readResponse();
      }
      const view = JSON.parse(await statusGet(port, '/status.json')) as StatusView;
      assert.equal(view.totals.requests, 3);
      assert.deepEqual(view.requests, [{ method: 'GET', code: 200, count: 2 }, { method: 'GET', code: 404, count: 1 }]);
      assert.equal(view.connections.rows[0].requestsServed, 3);
      assert.match(await statusGet(port, '/metrics'), /^holdfast_requests_total\{method="GET",code="404"\} 1$/m);
      c.destroy();
      const { code } = await cli.stop('SIGTERM');
      assert.equal(code, 0);
    } finally {
      await cli.stop('SIGKILL');
    }
  });

  test('--status on a non-loopback address without --status-token exits 2 with one line', async () => {
    const refused = await runCli(['--demo', '--status', '0.0.0.0:9999']);
    assert.equal(refused.code, 2);
    assert.equal(refused.stderr, 'holdfast: option status: 0.0.0.0:9999 is not a loopback address; serving the status there needs statusToken\n');
  });

  test('--workers 2 --status: the primary serves the status, summing every worker', async () => {
    const cli = await startCli(['--demo', '--port', '0', '--workers', '2', '--status', '127.0.0.1:0', '--log', 'off'], 10_000);
    const connections: RawConnection[] = [];
    try {
      const port = statusPort(cli);
      // Enough connections that both workers get some (the primary hands them out round-robin).
      for (let i = 0; i < 6; i++) {
        const c = await RawConnection.connect(cli.port);
        connections.push(c);
        for (let k = 0; k < 2; k++) {
          c.write('GET /data.json HTTP/1.1\r\nHost: demo\r\n\r\n');
          assert.equal((await c.readResponse()).status, 200);
        }
      }
      const view = JSON.parse(await statusGet(port, '/status.json?sort=requests')) as StatusView;
      assert.deepEqual(view.processes.map((p) => p.worker).sort(), [1, 2]);
      assert.equal(view.totals.requests, 12);
      assert.equal(view.totals.accepted, 6);
      assert.equal(view.connections.open, 6);
      assert.equal(view.connections.byActivity.idle, 6);
      const byWorker = new Map<number | null, number>();
      for (const row of view.connections.rows) byWorker.set(row.worker, (byWorker.get(row.worker) ?? 0) + 1);
      assert.equal(byWorker.size, 2, `connections on both workers: ${JSON.stringify([...byWorker])}`);
      const metrics = await statusGet(port, '/metrics');
      assert.match(metrics, /^holdfast_requests_total\{method="GET",code="200"\} 12$/m);
      assert.match(metrics, /^holdfast_process_resident_memory_bytes\{worker="1"\} \d+$/m);
      assert.match(metrics, /^holdfast_process_resident_memory_bytes\{worker="2"\} \d+$/m);
      for (const c of connections) c.destroy();
      const { code } = await cli.stop('SIGTERM');
      assert.equal(code, 0);
    } finally {
      for (const c of connections) c.destroy();
      await cli.stop('SIGKILL');
    }
  });
});
