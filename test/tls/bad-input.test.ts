/**
 * What the TLS port does with input that is not a TLS client finishing its handshake: plain HTTP,
 * a truncated ClientHello, random bytes, a stalled handshake, a client dropping right after the
 * handshake, a TLS 1.2 renegotiation. Each closes with its own reason and a log line naming
 * OpenSSL's reason; none throws, and the connection count returns to zero after each.
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { RawConnection } from '../helpers/raw-client.js';
import { GET, sleep } from '../helpers/server.js';
import { makeCerts, type TestCerts } from './certs.js';
import { captureClientHello, startTlsServer, trusting } from './helpers.js';

let certs: TestCerts;
let clientHello: Buffer;
before(async () => {
  certs = makeCerts();
  clientHello = await captureClientHello();
});
after(() => certs.remove());

describe('bad input on the TLS port', () => {
  test('plain HTTP: closed at once, tls-error "http request", nothing sent back, logged', async () => {
    const t = await startTlsServer(certs);
    const conn = await RawConnection.connect(t.port);
    conn.write(GET('/'));
    await conn.waitForClose();
    assert.equal(conn.received.length, 0, 'no plaintext answer leaks out');
    const [closed] = await t.closed(1);
    assert.equal(closed.reason, 'tls-error');
    assert.deepEqual(t.tlsErrors.map((e) => [e.phase, e.code, e.reason]), [['handshake', 'ERR_SSL_HTTP_REQUEST', 'http request']]);
    assert.ok(t.logs.some((l) => l.includes('"event":"tls-error"') && l.includes('http request')));
    assert.equal(t.server.connectionCount, 0);
    await t.stop();
  });

  test('random bytes: tls-error with OpenSSL’s reason', async () => {
    const t = await startTlsServer(certs);
    for (const garbage of [randomBytes(512), Buffer.from('\x16\x03\x01\x00\x05hello', 'latin1'), Buffer.alloc(64, 0xff)]) {
      const conn = await RawConnection.connect(t.port);
      conn.write(garbage);
      await conn.waitForClose();
      conn.destroy();
    }
    const closes = await t.closed(3);
    assert.deepEqual(closes.map((c) => c.reason), ['tls-error', 'tls-error', 'tls-error']);
    assert.equal(t.tlsErrors.length, 3);
    for (const e of t.tlsErrors) assert.ok(e.reason.length > 0 && e.code.startsWith('ERR_SSL_'), JSON.stringify(e));
    assert.equal(t.server.connectionCount, 0);
    await t.stop();
  });

  test('a truncated ClientHello that stalls: handshake-timeout; one followed by FIN: tls-error (closed during the handshake)', async () => {
    const t = await startTlsServer(certs, { handshakeTimeoutMs: 300 });
    const stalled = await RawConnection.connect(t.port);
    stalled.write(clientHello.subarray(0, 40));
    const ended = await RawConnection.connect(t.port);
    ended.write(clientHello.subarray(0, 40));
    ended.end();
    const startedAt = Date.now();
    await stalled.waitForClose(3000);
    const waitedMs = Date.now() - startedAt;
    assert.ok(waitedMs >= 250, `closed after ${waitedMs} ms, before the 300 ms handshake timeout`);
    const closes = await t.closed(2);
    assert.deepEqual(closes.map((c) => c.reason).sort(), ['handshake-timeout', 'tls-error']);
    assert.ok(t.tlsErrors.some((e) => e.reason === 'the peer closed the connection during the handshake'));
    assert.ok(t.logs.some((l) => l.includes('"reason":"handshake-timeout"')));
    stalled.destroy();
    ended.destroy();
    assert.equal(t.server.connectionCount, 0);
    await t.stop();
  });

  test('a TCP connection that never says anything: handshake-timeout; the handshake budget is capped by headersTimeoutMs', async () => {
    const t = await startTlsServer(certs, { handshakeTimeoutMs: 10_000, headersTimeoutMs: 250 });
    const silent = await RawConnection.connect(t.port);
    const startedAt = Date.now();
    await silent.waitForClose(3000);
    const waitedMs = Date.now() - startedAt;
    assert.ok(waitedMs >= 200 && waitedMs < 2500, `closed after ${waitedMs} ms (headers timeout 250 ms)`);
    assert.equal((await t.closed(1))[0].reason, 'handshake-timeout');
    assert.equal(t.tlsErrors.length, 0);
    silent.destroy();
    await t.stop();
  });

  test('a client that drops right after the handshake, by FIN or by reset: peer-eof / peer-reset, nothing logged as TLS', async () => {
    const t = await startTlsServer(certs);
    const byFin = await RawConnection.connectTls(t.port, trusting(certs));
    byFin.write(GET('/'));
    await byFin.readResponse();
    byFin.end();
    const tcp = net.connect(t.port, '127.0.0.1');
    await once(tcp, 'connect');
    const byReset = await RawConnection.connectTls(t.port, { ...trusting(certs), socket: tcp });
    byReset.write(GET('/'));
    await byReset.readResponse();
    tcp.resetAndDestroy();
    const closes = await t.closed(2);
    assert.deepEqual(closes.map((c) => c.reason).sort(), ['peer-eof', 'peer-reset']);
    assert.equal(t.tlsErrors.length, 0);
    byFin.destroy();
    byReset.destroy();
    assert.equal(t.server.connectionCount, 0);
    await t.stop();
  });

  test('TLS 1.2 renegotiation is refused (no_renegotiation): no second handshake, the client gives up, tls-error', async () => {
    const t = await startTlsServer(certs);
    const conn = await RawConnection.connectTls(t.port, { ...trusting(certs), maxVersion: 'TLSv1.2' });
    const socket = conn.socket as tls.TLSSocket;
    let secureAgain = false;
    socket.on('secure', () => (secureAgain = true));
    const result = await new Promise<Error | null>((resolve) => {
      socket.once('error', resolve);
      const started = socket.renegotiate({}, (error) => resolve(error ?? null));
      if (!started) resolve(new Error('renegotiate() refused locally'));
    });
    assert.ok(result instanceof Error, 'renegotiation did not succeed');
    assert.match(result.message, /renegotiation|handshake failure/i);
    assert.equal(secureAgain, false);
    conn.destroy();
    const [closed] = await t.closed(1);
    assert.equal(closed.reason, 'tls-error');
    assert.equal(t.server.connectionCount, 0);
    await t.stop();
  });

  test('openssl s_client asking to renegotiate ("R") is refused; the connection count returns to zero', async () => {
    const t = await startTlsServer(certs);
    const client = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${t.port}`, '-tls1_2', '-CAfile', certs.caFile, '-servername', 'localhost'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    client.stdout.on('data', (b: Buffer) => (output += b.toString()));
    client.stderr.on('data', (b: Buffer) => (output += b.toString()));
    for (let i = 0; i < 100 && !/Verify return code: 0/.test(output); i++) await sleep(20);
    client.stdin.write('R\n');
    const exited = new Promise((resolve) => client.on('exit', resolve));
    await Promise.race([exited, sleep(3000)]);
    client.kill();
    assert.match(output, /RENEGOTIATING/);
    assert.match(output, /no renegotiation/);
    await t.closed(1);
    assert.equal(t.server.connectionCount, 0);
    await t.stop();
  });
});
