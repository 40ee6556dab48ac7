import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { RawConnection } from '../helpers/raw-client.js';
import { runCli, startCli } from '../helpers/cli.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'holdfast-app-module-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const HONO = import.meta.resolve('hono');
const HOLDFAST = new URL('../../src/index.js', import.meta.url).href;

function module(name: string, source: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, source);
  return file;
}

async function get(port: number, target: string): Promise<{ status: number; body: string; header(name: string): string | undefined }> {
  const c = await RawConnection.connect(port);
  try {
    c.write(`GET ${target} HTTP/1.1\r\nHost: app\r\n\r\n`);
    const res = await c.readResponse();
    return { status: res.status, body: res.body.toString(), header: (name) => res.header(name) };
  } finally {
    c.destroy();
  }
}

describe('holdfast ./app.mjs (app modules)', () => {
  test('a Hono app as the default export, with the server flags applied; SIGTERM drains', async () => {
    const file = module(
      'hono-app.mjs',
      `import { Hono } from ${JSON.stringify(HONO)};
const app = new Hono();
app.get('/users/:id', (c) => c.json({ id: c.req.param('id') }));
export default app;
`,
    );
    const cli = await startCli([file, '--port', '0', '--log', 'off', '--max-requests', '5', '--keep-alive-timeout', '7s']);
    try {
      assert.match(cli.output(), /holdfast serving .*hono-app\.mjs on http:/);
      const res = await get(cli.port, '/users/9');
      assert.deepEqual([res.status, res.body, res.header('keep-alive')], [200, '{"id":"9"}', 'timeout=7, max=4']);
      assert.equal((await cli.stop('SIGTERM')).code, 0);
    } finally {
      await cli.stop('SIGKILL');
    }
  });

  test('a bare function is a fetch function (its second argument the connection info); { fetch } in a .cjs; defineHandler', async () => {
    const fetchFile = module('fetch.mjs', 'export default (request, info) => new Response(`${request.method} ${new URL(request.url).pathname} #${info.requestIndex} from ${info.remoteAddress}`);\n');
    const cjsFile = module('object.cjs', "module.exports = { fetch: (request) => new Response('cjs ' + request.url) };\n");
    const nativeFile = module('native.mjs', `import { defineHandler } from ${JSON.stringify(HOLDFAST)};\nexport default defineHandler((req) => ({ status: 200, body: 'native ' + req.path }));\n`);
    for (const [file, expected] of [
      [fetchFile, 'GET /x #1 from 127.0.0.1'],
      [cjsFile, 'cjs http://app/x'],
      [nativeFile, 'native /x'],
    ]) {
      const cli = await startCli([file, '--port', '0', '--log', 'off']);
      try {
        assert.equal((await get(cli.port, '/x')).body, expected, file);
      } finally {
        await cli.stop('SIGKILL');
      }
    }
  });

  test('a module that throws on load, does not parse, or exports nothing servable: one line, exit 2', async () => {
    const cases: Array<[string, RegExp]> = [
      [module('throws.mjs', "throw new Error('no database\\nsecond line');\n"), /^holdfast: cannot load .*throws\.mjs: Error: no database$/],
      [module('syntax.mjs', 'export default (;\n'), /^holdfast: cannot load .*syntax\.mjs: SyntaxError: /],
      [module('number.mjs', 'export default 42;\n'), /^holdfast: .*number\.mjs: the default export must be a fetch function, an object with a fetch method \(a Hono app\), or defineHandler\(handler\); got number$/],
      [module('notes.txt', 'not code\n'), /^holdfast: .*notes\.txt is not a directory or an app module \(\.js, \.mjs, \.cjs\)$/],
    ];
    for (const [file, pattern] of cases) {
      const run = await runCli([file, '--port', '0']);
      assert.equal(run.code, 2, file);
      assert.equal(run.stdout, '', file);
      const lines = run.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, run.stderr);
      assert.match(lines[0], pattern);
    }
    const spa = await runCli([module('ok.mjs', "export default () => new Response('ok');\n"), '--spa']);
    assert.equal(spa.code, 2);
    assert.match(spa.stderr, /^holdfast: --spa, --list and --cors are for directories/);
  });

  test('SIGTERM with an upgraded connection: the shutdown line counts it as upgraded', async () => {
    const file = module(
      'upgrade.mjs',
      `import { defineHandler, takeover } from ${JSON.stringify(HOLDFAST)};
export default defineHandler(() => takeover((socket) => {
  socket.write('HTTP/1.1 101 Switching Protocols\\r\\nConnection: Upgrade\\r\\nUpgrade: echo\\r\\n\\r\\n');
  socket.on('data', (bytes) => socket.write(bytes));
  process.once('SIGTERM', () => socket.end());
}));
`,
    );
    const cli = await startCli([file, '--port', '0', '--log', 'off']);
    const c = await RawConnection.connect(cli.port);
    try {
      c.write('GET /echo HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
      assert.equal((await c.readResponse()).status, 101);
      const stopped = await cli.stop('SIGTERM');
      assert.equal(stopped.code, 0);
      assert.match(cli.output(), /^shutdown: 1 connection\(s\) drained cleanly, 0 forced \(1 upgraded\)$/m);
    } finally {
      c.destroy();
      await cli.stop('SIGKILL');
    }
  });

  test('with --workers 2 a module that fails to load is still one line and exit 2', async () => {
    const run = await runCli([module('throws-workers.mjs', "throw new Error('cannot start');\n"), '--port', '0', '--workers', '2']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^holdfast: cannot load .*throws-workers\.mjs: Error: cannot start\n$/);
  });
});
