/**
 * TLS under pressure.
 *
 *   slow handshakes  1,000 TCP connections to the TLS port each send the first 40 bytes of a real
 *                    ClientHello and then trickle one more byte every 500 ms (slowloris at the TLS
 *                    layer), while a normal HTTPS client makes 50 keep-alive requests and 20 new
 *                    TLS connections. Asserted: every normal request is answered 200; each slow
 *                    connection is closed with `handshake-timeout` once handshakeTimeoutMs (3 s)
 *                    has passed since it was accepted — trickling does not push the deadline back —
 *                    and none lives past 12 s; the connection count returns to zero.
 *   SIGHUP reload    the CLI serving HTTPS, 16 clients sending requests for 4 s (half on keep-alive
 *                    connections, half on a new TLS connection per request) while the certificate
 *                    files are swapped and SIGHUP sent five times. Asserted: zero failed requests;
 *                    new handshakes saw both certificates; every reload was announced.
 */

import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
import { startCli } from '../helpers/cli.js';
import { RawConnection } from '../helpers/raw-client.js';
import { GET } from '../helpers/server.js';
import { makeCerts, serialOf, type TestCerts } from '../tls/certs.js';
import { captureClientHello, startTlsServer, trusting } from '../tls/helpers.js';
import { sleep } from './helpers.js';

let certs: TestCerts;
before(() => {
  certs = makeCerts();
});
after(() => certs.remove());

test('1,000 slow handshakes are cut at the handshake deadline while a normal HTTPS client is served', async () => {
  const hello = await captureClientHello();
  const t = await startTlsServer(certs, { handshakeTimeoutMs: 3000, log: 'off' });
  const slow: Array<{ socket: net.Socket; openedAt: number; closedAt: number }> = [];
  const trickle = setInterval(() => {
    for (const s of slow) {
      const sent = (s.socket as net.Socket & { sent?: number }).sent ?? 40;
      if (!s.socket.destroyed && sent < hello.length) {
        s.socket.write(hello.subarray(sent, sent + 1));
        (s.socket as net.Socket & { sent?: number }).sent = sent + 1;
      }
    }
  }, 500);
  try {
    for (let i = 0; i < 1000; i++) {
      const socket = net.connect(t.port, '127.0.0.1');
      const entry = { socket, openedAt: performance.now(), closedAt: 0 };
      socket.on('error', () => undefined);
      socket.on('close', () => (entry.closedAt = performance.now()));
      socket.write(hello.subarray(0, 40));
      slow.push(entry);
      if (i % 100 === 99) await sleep(10);
    }
    for (const deadline = performance.now() + 5000; t.server.connectionCount < 1000 && performance.now() < deadline; ) await sleep(20);
    assert.equal(t.server.connectionCount, 1000, 'every slow connection is accepted and handshaking');

    const keepAlive = await RawConnection.connectTls(t.port, trusting(certs));
    for (let i = 0; i < 50; i++) {
      keepAlive.write(GET(`/k${i}`));
      const response = await keepAlive.readResponse({ timeoutMs: 5000 });
      assert.equal(response.status, 200);
    }
    keepAlive.destroy();
    for (let i = 0; i < 20; i++) {
      const conn = await RawConnection.connectTls(t.port, trusting(certs));
      conn.write(GET(`/n${i}`, 'Connection: close\r\n'));
      assert.equal((await conn.readResponse({ timeoutMs: 5000 })).status, 200);
      conn.destroy();
    }

    for (const deadline = performance.now() + 12_000; slow.some((s) => s.closedAt === 0) && performance.now() < deadline; ) await sleep(100);
    const open = slow.filter((s) => s.closedAt === 0).length;
    assert.equal(open, 0, `${open} slow handshakes still open after 12 s`);
    const lifetimes = slow.map((s) => s.closedAt - s.openedAt).sort((a, b) => a - b);
    assert.ok(lifetimes[0] >= 2900, `the first slow connection closed after ${Math.round(lifetimes[0])} ms, before the 3 s deadline`);
    await t.closed(1000 + 21, 15_000);
    const reasons = new Map<string, number>();
    for (const c of t.closes) reasons.set(c.reason, (reasons.get(c.reason) ?? 0) + 1);
    assert.equal(reasons.get('handshake-timeout'), 1000, JSON.stringify([...reasons]));
    assert.equal(t.requests.length, 70);
    assert.ok(t.requests.every((r) => r.status === 200));
  } finally {
    clearInterval(trickle);
    for (const s of slow) s.socket.destroy();
    await t.stop();
  }
});

test('SIGHUP reload under load: zero failed requests, new handshakes see the new certificate', async () => {
  const certFile = path.join(certs.dir, 'live.pem');
  const keyFile = path.join(certs.dir, 'live.key');
  const install = (pair: TestCerts['localhost']): void => {
    copyFileSync(pair.certFile, certFile);
    copyFileSync(pair.keyFile, keyFile);
  };
  install(certs.localhost);
  const cli = await startCli(['--demo', '--tls-cert', certFile, '--tls-key', keyFile, '--tls-port', '0', '--log', 'off', '--max-requests', '0']);
  const serials = new Set<string>();
  const failures: string[] = [];
  let answered = 0;
  const until = performance.now() + 4000;
  const keepAliveClient = async (): Promise<void> => {
    let conn: RawConnection | null = null;
    while (performance.now() < until) {
      try {
        conn ??= await RawConnection.connectTls(cli.port, trusting(certs));
        conn.write(GET('/data.json'));
        const response = await conn.readResponse({ timeoutMs: 5000 });
        if (response.status !== 200) failures.push(`status ${response.status}`);
        else answered++;
      } catch (error) {
        failures.push(`keep-alive: ${(error as Error).message}`);
        conn?.destroy();
        conn = null;
      }
    }
    conn?.destroy();
  };
  const newConnectionClient = async (): Promise<void> => {
    while (performance.now() < until) {
      let conn: RawConnection | null = null;
      try {
        conn = await RawConnection.connectTls(cli.port, trusting(certs));
        serials.add((conn.socket as tls.TLSSocket).getPeerCertificate().serialNumber.toUpperCase());
        conn.write(GET('/style.css', 'Connection: close\r\n'));
        const response = await conn.readResponse({ timeoutMs: 5000 });
        if (response.status !== 200) failures.push(`status ${response.status}`);
        else answered++;
      } catch (error) {
        failures.push(`new connection: ${(error as Error).message}`);
      } finally {
        conn?.destroy();
      }
    }
  };
  const reloads = (async () => {
    for (let i = 0; i < 5; i++) {
      await sleep(600);
      install(i % 2 === 0 ? certs.renewed : certs.localhost);
      cli.child.kill('SIGHUP');
    }
  })();
  try {
    await Promise.all([...Array.from({ length: 8 }, keepAliveClient), ...Array.from({ length: 8 }, newConnectionClient), reloads]);
    assert.deepEqual(failures, []);
    assert.ok(answered > 100, `only ${answered} requests answered`);
    assert.deepEqual([...serials].sort(), [serialOf(certs.localhost.cert), serialOf(certs.renewed.cert)].sort());
    assert.equal((cli.output().match(/SIGHUP: reloaded/g) ?? []).length, 5, cli.output());
  } finally {
    const { code } = await cli.stop('SIGTERM');
    assert.equal(code, 0);
  }
});
