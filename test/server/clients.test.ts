import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startServer } from '../helpers/server.js';

const run = promisify(execFile);

describe('real clients', () => {
  test('curl fetches several URLs over one connection (it says it re-used it)', async () => {
    const t = await startServer({});
    try {
      const base = `http://127.0.0.1:${t.port}`;
      const { stdout, stderr } = await run('curl', ['-sv', '--max-time', '5', `${base}/a`, `${base}/b`, `${base}/c`]);
      assert.equal(stdout, 'hello /ahello /bhello /c');
      assert.match(stderr, /Re-using existing connection/);
      assert.equal((stderr.match(/Connected to/g) ?? []).length, 1);
      assert.match(stderr, /< Keep-Alive: timeout=30, max=97/);
      await t.closed(1);
      assert.deepEqual(t.requests.map((r) => [r.connectionId, r.requestIndex]), [[1, 1], [1, 2], [1, 3]]);
    } finally {
      await t.stop();
    }
  });

  test('curl --http1.0 gets Connection: close', async () => {
    const t = await startServer({});
    try {
      const { stderr } = await run('curl', ['-sv', '--http1.0', '--max-time', '5', `http://127.0.0.1:${t.port}/`]);
      assert.match(stderr, /< Connection: close/);
    } finally {
      await t.stop();
    }
  });

  test("node's http.Agent({ keepAlive: true }) makes sequential requests over one socket", async () => {
    const t = await startServer({ keepAliveTimeoutMs: 5000 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const ports = new Set<number>();
      for (let i = 0; i < 5; i++) {
        const body = await new Promise<string>((resolve, reject) => {
          const req = http.get({ host: '127.0.0.1', port: t.port, path: `/n${i}`, agent }, (res) => {
            ports.add(res.socket.localPort ?? -1);
            let data = '';
            res.setEncoding('utf8');
            res.on('data', (d) => (data += d));
            res.on('end', () => resolve(data));
          });
          req.on('error', reject);
        });
        assert.equal(body, `hello /n${i}`);
      }
      assert.equal(ports.size, 1, 'one socket for all requests');
      assert.equal(t.requests.length, 5);
      assert.ok(t.requests.every((r) => r.connectionId === t.requests[0].connectionId));
    } finally {
      agent.destroy();
      await t.stop();
    }
  });
});
