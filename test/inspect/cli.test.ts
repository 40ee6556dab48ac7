import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, test } from 'node:test';
import { runInspect, type InspectIo } from '../../src/cli/inspect.js';
import { runCli } from '../helpers/cli.js';
import { startHoldfast } from './servers.js';
import { makeCerts } from '../tls/certs.js';

function captureIo(stderrIsTty = false): InspectIo & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    stderrIsTty,
    stdout: (text: string) => void (io.out += text),
    stderr: (text: string) => void (io.err += text),
  };
  return io;
}

async function withTcpServer(onConnection: (socket: net.Socket) => void, run: (port: number) => Promise<void>): Promise<void> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    await run((server.address() as net.AddressInfo).port);
  } finally {
    for (const socket of sockets) socket.destroy();
    server.close();
    await once(server, 'close');
  }
}

function isNullOr(value: unknown, type: string): boolean {
  return value === null || typeof value === type;
}

describe('holdfast inspect (CLI)', () => {
  test('an unreachable port: exit 1 and a clear message', async () => {
    let port = 0;
    await withTcpServer(() => undefined, async (p) => void (port = p));
    const result = await runCli(['inspect', `http://127.0.0.1:${port}/`]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, new RegExp(`cannot connect to 127\\.0\\.0\\.1:${port}: connection refused`));
  });

  test('https://: TLS version, cipher, handshake time and resumption; a self-signed certificate needs --insecure', async () => {
    const certs = makeCerts();
    const server = await startHoldfast({ tls: { cert: certs.localhost.cert, key: certs.localhost.key }, keepAliveTimeoutMs: 200, keepAliveTimeoutBufferMs: 100, headersTimeoutMs: 300 });
    try {
      const refused = await runCli(['inspect', `https://127.0.0.1:${server.port}/`, '--max-wait', '2s']);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /TLS handshake failed: .*--insecure skips the check/);
      const result = await runCli(['inspect', `https://127.0.0.1:${server.port}/`, '--json', '--insecure', '--max-wait', '2s', '--concurrency', '1']);
      assert.equal(result.code, 0, result.stderr);
      const report = JSON.parse(result.stdout);
      assert.match(report.tls.protocol, /^TLSv1\.[23]$/);
      assert.equal(report.tls.alpn, 'http/1.1');
      assert.ok(report.tls.handshakeMs > 0 && typeof report.tls.cipher === 'string');
      assert.equal(report.tls.resumed, true);
      assert.equal(report.http11.keepAlive, true);
      assert.ok(Math.abs(report.idleTimeout.measuredMs - 300) <= 150, `idle ${report.idleTimeout.measuredMs}`);
      const text = await runCli(['inspect', `https://127.0.0.1:${server.port}/`, '--insecure', '--max-wait', '2s', '--concurrency', '1']);
      assert.match(text.stdout, /TLS {15}TLSv1\.[23], .*, ALPN http\/1\.1; full handshake/);
      assert.match(text.stdout, /session resumption: yes/);
    } finally {
      await server.stop();
      certs.remove();
    }
  });

  test('--json prints one object with the contract fields (spawned CLI against holdfast)', async () => {
    const server = await startHoldfast({ keepAliveTimeoutMs: 200, keepAliveTimeoutBufferMs: 100, maxRequestsPerConnection: 2, headersTimeoutMs: 300 });
    try {
      const result = await runCli(['inspect', `http://127.0.0.1:${server.port}/`, '--json', '--max-wait', '2s', '--concurrency', '2']);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, '');
      const report = JSON.parse(result.stdout);
      assert.equal(report.target, `http://127.0.0.1:${server.port}/`);
      assert.equal(typeof report.http11.keepAlive, 'boolean');
      assert.ok(isNullOr(report.http11.connectionHeader, 'string') && isNullOr(report.http11.keepAliveHeader, 'string'));
      assert.equal(typeof report.http10.closesByDefault, 'boolean');
      assert.equal(typeof report.http10.keepAliveHonoured, 'boolean');
      assert.equal(typeof report.connectionCloseHonoured, 'boolean');
      for (const key of ['advertisedMs', 'measuredMs', 'marginMs']) assert.ok(isNullOr(report.idleTimeout[key], 'number'), key);
      assert.ok([null, 'fin', 'rst'].includes(report.idleTimeout.closeKind));
      for (const key of ['advertised', 'enforced']) assert.ok(isNullOr(report.maxRequests[key], 'number'), key);
      for (const key of ['countsDown', 'closesAfterLast']) assert.ok(isNullOr(report.maxRequests[key], 'boolean'), key);
      assert.equal(typeof report.pipelining.answeredInOrder, 'boolean');
      assert.ok(isNullOr(report.headersTimeoutMs, 'number'));
      assert.ok(Array.isArray(report.advice) && report.advice.every((a: unknown) => typeof a === 'string'));
      assert.equal(report.maxRequests.enforced, 2);
      assert.equal(report.idleTimeout.samplesMs.length, 2);
      assert.ok(Math.abs(report.idleTimeout.measuredMs - 300) <= 100, `idle ${report.idleTimeout.measuredMs}`);
    } finally {
      await server.stop();
    }
  });

  test('a server that does not speak HTTP: exit 1, naming what it sent', async () => {
    await withTcpServer(
      (socket) => socket.end(Buffer.from([0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46])),
      async (port) => {
        const io = captureIo();
        assert.equal(await runInspect([`http://127.0.0.1:${port}/`], io), 1);
        assert.match(io.err, /does not speak HTTP\/1\.x: response does not start with "HTTP\/"; it sent "\\x15\\x03\\x01/);
        assert.match(io.err, /looks like TLS/);
        assert.equal(io.out, '');
      },
    );
  });

  test('a server that never answers: exit 1 after the response timeout (bounded by --max-wait)', async () => {
    await withTcpServer(
      () => undefined,
      async (port) => {
        const io = captureIo();
        assert.equal(await runInspect([`http://127.0.0.1:${port}/`, '--max-wait', '300ms'], io), 1);
        assert.match(io.err, /accepted the connection but sent no HTTP response within 300 ms/);
      },
    );
  });

  test('a server that closes without answering: exit 1', async () => {
    await withTcpServer(
      (socket) => socket.end(),
      async (port) => {
        const io = captureIo();
        assert.equal(await runInspect([`http://127.0.0.1:${port}/`], io), 1);
        assert.match(io.err, /closed the connection \(FIN\) without an HTTP response/);
      },
    );
  });

  test('usage errors exit 2; --help exits 0', async () => {
    for (const argv of [[], ['--max-wait', 'soon', 'http://x/'], ['--concurrency', '0', 'http://x/'], ['--frobnicate', 'http://x/'], ['http://a/', 'http://b/'], ['ftp://x/']]) {
      const io = captureIo();
      assert.equal(await runInspect(argv, io), 2, argv.join(' '));
      assert.match(io.err, /^holdfast inspect: /);
    }
    const io = captureIo();
    assert.equal(await runInspect(['--help'], io), 0);
    assert.match(io.out, /^Usage: holdfast inspect/);
  });

  test('progress: rewritten in place on a TTY, lines with --progress, nothing otherwise', async () => {
    const server = await startHoldfast({ keepAliveTimeoutMs: 100, keepAliveTimeoutBufferMs: 0, maxRequestsPerConnection: 2, headersTimeoutMs: 150 });
    try {
      const url = `http://127.0.0.1:${server.port}/`;
      const quiet = captureIo();
      assert.equal(await runInspect([url, '--max-wait', '1s', '--concurrency', '1'], quiet), 0);
      assert.equal(quiet.err, '');
      assert.match(quiet.out, /^holdfast inspect http:\/\/127\.0\.0\.1:\d+\/ {2}\(/);
      assert.match(quiet.out, /\nVerdict: keeps HTTP\/1\.1 connections alive; closes idle connections after \d+ ms/);
      const loud = captureIo();
      assert.equal(await runInspect([url, '--max-wait', '1s', '--concurrency', '1', '--progress'], loud), 0);
      assert.match(loud.err, /\] first request\n/);
      assert.match(loud.err, /idle: 0 open, 1 closed \(\d+ ms\)/);
      assert.match(loud.err, /headers timeout: \d+ ms/);
      const tty = captureIo(true);
      assert.equal(await runInspect([url, '--max-wait', '1s', '--concurrency', '1'], tty), 0);
      assert.match(tty.err, /^\r\x1b\[2K\[\d+ ms, max-wait 1\.0 s\] first request/);
      assert.ok(tty.err.endsWith('\r\x1b[2K'), 'the progress line is cleared before the report');
      assert.ok(!tty.err.includes('\n'), 'one progress line, rewritten in place');
    } finally {
      await server.stop();
    }
  });
});
