/**
 * `holdfast --tls-cert FILE --tls-key FILE`: HTTPS on --tls-port, the --redirect-http listener's
 * 308s, SIGHUP reloading the files (a bad file keeps the current certificate, with a log line),
 * the flag rules, and --workers sharing session-ticket keys.
 */

import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { runCli, startCli } from '../helpers/cli.js';
import { RawConnection } from '../helpers/raw-client.js';
import { GET, sleep } from '../helpers/server.js';
import { makeCerts, serialOf, type TestCerts } from './certs.js';
import { trusting } from './helpers.js';

let certs: TestCerts;
before(() => {
  certs = makeCerts();
});
after(() => certs.remove());

/** The serial of the certificate a new handshake gets, and whether its session was resumed. */
async function handshake(port: number, session?: Buffer): Promise<{ serial: string; resumed: boolean; session: Buffer | undefined }> {
  const conn = await RawConnection.connectTls(port, { ...trusting(certs), session, maxVersion: 'TLSv1.2' });
  const socket = conn.socket as tls.TLSSocket;
  try {
    conn.write(GET('/'));
    assert.equal((await conn.readResponse()).status, 200);
    return { serial: (socket.getPeerCertificate().serialNumber as string | undefined)?.toUpperCase() ?? '(resumed: not sent)', resumed: socket.isSessionReused(), session: socket.getSession() };
  } finally {
    conn.destroy();
  }
}

async function waitFor(output: () => string, pattern: RegExp, timeoutMs = 5000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !pattern.test(output()); ) {
    if (Date.now() > deadline) throw new Error(`no ${pattern} in:\n${output()}`);
    await sleep(20);
  }
}

describe('holdfast with --tls-cert', () => {
  test('HTTPS on --tls-port, the redirect listener answers 308 to https://; SIGHUP reloads, a bad file keeps the old certificate', async () => {
    const certFile = path.join(certs.dir, 'live.pem');
    const keyFile = path.join(certs.dir, 'live.key');
    copyFileSync(certs.localhost.certFile, certFile);
    copyFileSync(certs.localhost.keyFile, keyFile);
    const cli = await startCli(['--demo', '--tls-cert', certFile, '--tls-key', keyFile, '--tls-port', '0', '--redirect-http', '0', '--log', 'off']);
    try {
      assert.match(cli.output(), /on https:\/\/127\.0\.0\.1:\d+\//);
      const redirectPort = Number(/redirecting http:\/\/127\.0\.0\.1:(\d+)\/ to https:\/\/ \(308\)/.exec(cli.output())?.[1]);
      assert.ok(redirectPort > 0, cli.output());
      const plain = await RawConnection.connect(redirectPort);
      plain.write('GET /style.css?v=2 HTTP/1.1\r\nHost: localhost:' + redirectPort + '\r\n\r\n');
      const moved = await plain.readResponse();
      assert.equal(moved.status, 308);
      assert.equal(moved.header('location'), `https://localhost:${cli.port}/style.css?v=2`);
      plain.destroy();

      const open = await RawConnection.connectTls(cli.port, trusting(certs));
      open.write(GET('/data.json'));
      assert.equal((await open.readResponse()).status, 200);
      assert.equal((await handshake(cli.port)).serial, serialOf(certs.localhost.cert));

      copyFileSync(certs.renewed.certFile, certFile);
      copyFileSync(certs.renewed.keyFile, keyFile);
      cli.child.kill('SIGHUP');
      await waitFor(cli.output, /SIGHUP: reloaded/);
      assert.equal((await handshake(cli.port)).serial, serialOf(certs.renewed.cert));
      open.write(GET('/data.json'));
      assert.equal((await open.readResponse()).status, 200, 'the open connection survives the reload');

      writeFileSync(keyFile, 'not a key');
      cli.child.kill('SIGHUP');
      await waitFor(cli.output, /SIGHUP: keeping the current certificate: .*does not load/);
      assert.equal((await handshake(cli.port)).serial, serialOf(certs.renewed.cert));
      open.destroy();
    } finally {
      const { code, stdout } = await cli.stop('SIGTERM');
      assert.equal(code, 0, stdout);
      assert.match(stdout, /shutdown: \d+ connection\(s\) drained cleanly, 0 forced/);
    }
  });

  test('flag rules: both files or neither, TLS flags need them, --port is not for HTTPS, unreadable files exit 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--tls-cert', certs.localhost.certFile], /--tls-cert and --tls-key go together/],
      [['--tls-port', '8443'], /--tls-port needs --tls-cert and --tls-key/],
      [['--redirect-http', '8080'], /--redirect-http needs --tls-cert and --tls-key/],
      [['--tls-cert', certs.localhost.certFile, '--tls-key', certs.localhost.keyFile, '--port', '8080'], /HTTPS listens on --tls-port/],
      [['--tls-cert', '/nonexistent.pem', '--tls-key', certs.localhost.keyFile, '--tls-port', '0'], /--tls-cert \/nonexistent\.pem: ENOENT/],
      [['--tls-cert', certs.localhost.certFile, '--tls-key', certs.other.keyFile, '--tls-port', '0'], /option tls: .*key values mismatch/],
      [['--handshake-timeout', '0'], /--handshake-timeout/],
    ];
    for (const [args, pattern] of cases) {
      const { code, stderr } = await runCli(['--demo', ...args]);
      assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
      assert.match(stderr, pattern, args.join(' '));
    }
    const help = await runCli(['--help']);
    for (const flag of ['--tls-cert FILE', '--tls-key FILE', '--tls-port N', '--redirect-http PORT', '--handshake-timeout D']) assert.ok(help.stdout.includes(flag), flag);
  });

  test('--workers 2: both serve HTTPS, a ticket from one worker resumes on the other, SIGHUP reaches every worker', async () => {
    const cli = await startCli(['--demo', '--workers', '2', '--tls-cert', certs.localhost.certFile, '--tls-key', certs.localhost.keyFile, '--tls-port', '0', '--log', 'off'], 15_000);
    try {
      assert.match(cli.output(), /with 2 workers/);
      const first = await handshake(cli.port);
      assert.equal(first.resumed, false);
      // node:cluster hands connections to workers in turn: these land on both.
      for (let i = 0; i < 4; i++) assert.equal((await handshake(cli.port, first.session)).resumed, true, `connection ${i + 2}`);
      cli.child.kill('SIGHUP');
      await waitFor(cli.output, /worker \d+: SIGHUP: reloaded[\s\S]*worker \d+: SIGHUP: reloaded/);
    } finally {
      const { code, stdout } = await cli.stop('SIGTERM');
      assert.equal(code, 0, stdout);
    }
  });
});
