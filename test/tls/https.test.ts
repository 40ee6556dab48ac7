/**
 * HTTPS with real clients: keep-alive over one TLS connection (raw, curl, node's https.Agent,
 * undici), connections() with the TLS version and cipher, ALPN http/1.1 only, SNI, session
 * resumption, passphrase-protected keys, certificate reload, and what clients do with expired and
 * wrong-host certificates. Certificates come from `openssl` per run (./certs.ts).
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import https from 'node:https';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { Agent, request as undiciRequest } from 'undici';
import { DEMO_SITE } from '../../src/cli/demo.js';
import { serveStatic } from '../../src/handlers/static.js';
import { createServer, fetchHandler, OptionError } from '../../src/index.js';
import { exchange, RawConnection } from '../helpers/raw-client.js';
import { GET, sleep } from '../helpers/server.js';
import { makeCerts, PASSPHRASE, serialOf, type TestCerts } from './certs.js';
import { startTlsServer, trusting } from './helpers.js';

let certs: TestCerts;
before(() => {
  certs = makeCerts();
});
after(() => certs.remove());

function run(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 10_000, maxBuffer: 8 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

function handshake(socket: tls.TLSSocket): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
}

/** Connects, completes the handshake, and reports the certificate the server sent. */
async function servedSerial(port: number, servername: string | undefined): Promise<string> {
  const socket = tls.connect({ port, host: '127.0.0.1', servername, rejectUnauthorized: false });
  try {
    await handshake(socket);
    return socket.getPeerCertificate().serialNumber.toUpperCase();
  } finally {
    socket.destroy();
  }
}

/** One GET on a new TLS connection (offering `options.session`): whether it resumed, the ticket it got; the socket stays open. */
async function getOnce(port: number, options: tls.ConnectionOptions): Promise<{ socket: tls.TLSSocket; reused: boolean; ticket: () => Buffer | undefined }> {
  let ticket: Buffer | undefined;
  const socket = tls.connect({ port, host: '127.0.0.1', ...trusting(certs), ...options });
  socket.on('session', (s: Buffer) => (ticket = s));
  await handshake(socket);
  socket.write(GET('/'));
  await new Promise((resolve) => socket.once('data', resolve));
  return { socket, reused: socket.isSessionReused(), ticket: () => ticket };
}

describe('HTTPS keep-alive', () => {
  test('two requests on one TLS connection; connections() shows the TLS version and cipher; the close is logged', async () => {
    const t = await startTlsServer(certs);
    const conn = await RawConnection.connectTls(t.port, trusting(certs));
    try {
      assert.equal((conn.socket as tls.TLSSocket).alpnProtocol, false, 'no ALPN offered, none chosen');
      conn.write(GET('/one'));
      const first = await conn.readResponse();
      assert.equal(first.status, 200);
      assert.equal(first.body.toString(), 'hello /one');
      assert.match(first.header('keep-alive') ?? '', /timeout=30/);
      const [info] = t.server.connections();
      assert.equal(info.state, 'idle');
      assert.ok(info.tls, 'connections() carries the TLS facts');
      assert.match(info.tls.protocol ?? '', /^TLSv1\.[23]$/);
      assert.ok((info.tls.cipher ?? '').length > 0);
      assert.equal(info.tls.servername, 'localhost');
      assert.equal(info.tls.resumed, false);
      conn.write(GET('/two'));
      assert.equal((await conn.readResponse()).body.toString(), 'hello /two');
      assert.deepEqual(t.requests.map((r) => r.connectionId), [info.id, info.id]);
    } finally {
      conn.destroy();
    }
    const [closed] = await t.closed(1);
    assert.equal(closed.requestsServed, 2);
    await t.stop();
  });

  test("a plain-TCP server's connections() has no tls field", async () => {
    const { startServer } = await import('../helpers/server.js');
    const t = await startServer({});
    const conn = await RawConnection.connect(t.port);
    conn.write(GET('/'));
    await conn.readResponse();
    assert.equal(t.server.connections()[0].tls, undefined);
    assert.equal(t.server.secure, false);
    conn.destroy();
    await t.stop();
  });

  test('a fetch app over TLS sees an https URL (the default port 443 dropped) and info.tls; over TCP http', async () => {
    const app = fetchHandler((request, info) => new Response(`${request.url} ${info.tls} ${new URL(request.url).origin}`));
    const t = await startTlsServer(certs, {}, app);
    const c = await RawConnection.connectTls(t.port, trusting(certs));
    try {
      c.write('GET /a?b=1 HTTP/1.1\r\nHost: localhost:443\r\n\r\n');
      assert.equal((await c.readResponse()).body.toString(), 'https://localhost/a?b=1 true https://localhost');
      c.write(`GET /c HTTP/1.1\r\nHost: localhost:${t.port}\r\n\r\n`);
      assert.equal((await c.readResponse()).body.toString(), `https://localhost:${t.port}/c true https://localhost:${t.port}`);
    } finally {
      c.destroy();
      await t.stop();
    }
    const { startServer } = await import('../helpers/server.js');
    const plain = await startServer({}, app);
    try {
      const [response] = await exchange(plain.port, 'GET /d HTTP/1.1\r\nHost: localhost:443\r\n\r\n');
      assert.equal(response.body.toString(), 'http://localhost:443/d false http://localhost:443');
    } finally {
      await plain.stop();
    }
  });

  test('curl --cacert fetches the demo site’s five resources over one TLS connection', async () => {
    const t = await startTlsServer(certs, {}, serveStatic(DEMO_SITE));
    const resources = ['/', '/style.css', '/script.js', '/logo.png', '/data.json'];
    const urls = resources.map((r) => `https://localhost:${t.port}${r}`);
    const result = await run('curl', ['-sS', '-v', '--cacert', certs.caFile, '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', ...urls]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /SSL connection using TLSv1\.[23]/);
    assert.match(result.stderr, /ALPN.*(accepted|server accepted) http\/1\.1/i);
    assert.equal((result.stderr.match(/Re-using existing connection/g) ?? []).length, 4, result.stderr);
    assert.deepEqual(t.requests.map((r) => r.target), resources);
    assert.equal(new Set(t.requests.map((r) => r.connectionId)).size, 1);
    assert.ok(t.requests.every((r) => r.status === 200));
    await t.stop();
  });

  test("node's https.Agent({ keepAlive: true }) sends five requests over one socket", async () => {
    const t = await startTlsServer(certs);
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: certs.ca });
    try {
      for (let i = 0; i < 5; i++) {
        const body = await new Promise<string>((resolve, reject) => {
          https
            .get({ host: 'localhost', port: t.port, path: `/r${i}`, agent }, (res) => {
              let text = '';
              res.setEncoding('utf8');
              res.on('data', (c: string) => (text += c));
              res.on('end', () => resolve(text));
            })
            .on('error', reject);
        });
        assert.equal(body, `hello /r${i}`);
      }
    } finally {
      agent.destroy();
    }
    assert.equal(t.requests.length, 5);
    assert.equal(new Set(t.requests.map((r) => r.connectionId)).size, 1);
    await t.closed(1);
    await t.stop();
  });

  test('undici sends five requests over one TLS connection', async () => {
    const t = await startTlsServer(certs);
    const dispatcher = new Agent({ connections: 1, connect: { ca: certs.ca } });
    try {
      for (let i = 0; i < 5; i++) {
        const { statusCode, body } = await undiciRequest(`https://localhost:${t.port}/u${i}`, { dispatcher });
        assert.equal(statusCode, 200);
        assert.equal(await body.text(), `hello /u${i}`);
      }
    } finally {
      await dispatcher.close();
    }
    assert.equal(new Set(t.requests.map((r) => r.connectionId)).size, 1);
    await t.closed(1);
    await t.stop();
  });

  test('a 1 MiB request body and a 1 MiB response arrive intact over TLS (many records per read)', async () => {
    const payload = randomBytes(1_048_576);
    const t = await startTlsServer(certs, { maxBodyBytes: 2_000_000 }, async (req) => {
      const bytes = await req.body.bytes();
      return { status: 200, body: req.method === 'POST' ? createHash('sha256').update(bytes).digest('hex') : payload };
    });
    const conn = await RawConnection.connectTls(t.port, trusting(certs));
    try {
      conn.write(`POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: ${payload.length}\r\n\r\n`);
      conn.write(payload);
      assert.equal((await conn.readResponse({ timeoutMs: 5000 })).body.toString(), createHash('sha256').update(payload).digest('hex'));
      conn.write(GET('/down'));
      assert.ok((await conn.readResponse({ timeoutMs: 5000 })).body.equals(payload));
      conn.write(GET('/a') + GET('/b') + GET('/c'));
      for (let i = 0; i < 3; i++) assert.equal((await conn.readResponse()).status, 200);
    } finally {
      conn.destroy();
    }
    await t.stop();
  });
});

describe('TLS negotiation', () => {
  test('ALPN: http/1.1 is chosen from h2 + http/1.1; a client offering only h2 fails the handshake, logged', async () => {
    const t = await startTlsServer(certs);
    const both = await RawConnection.connectTls(t.port, { ...trusting(certs), ALPNProtocols: ['h2', 'http/1.1'] });
    assert.equal((both.socket as tls.TLSSocket).alpnProtocol, 'http/1.1');
    both.write(GET('/'));
    assert.equal((await both.readResponse()).status, 200);
    both.destroy();
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => {
      const socket = tls.connect({ port: t.port, host: '127.0.0.1', ...trusting(certs), ALPNProtocols: ['h2'] });
      socket.on('secureConnect', () => resolve(new Error('the handshake completed') as NodeJS.ErrnoException));
      socket.on('error', resolve);
    });
    assert.equal(error.code, 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL');
    const closes = await t.closed(2);
    assert.ok(closes.some((c) => c.reason === 'tls-error'));
    assert.equal(t.tlsErrors.length, 1, JSON.stringify(t.tlsErrors));
    assert.deepEqual([t.tlsErrors[0].phase, t.tlsErrors[0].reason], ['handshake', 'no application protocol']);
    assert.ok(t.logs.some((l) => l.includes('"event":"tls-error"') && l.includes('no application protocol')));
    await t.stop();
  });

  test('SNI: certs by exact and wildcard name, then the sni callback, else the default', async () => {
    const chosen: string[] = [];
    const t = await startTlsServer(certs, {
      tls: {
        cert: certs.localhost.cert,
        key: certs.localhost.key,
        certs: [{ servername: 'other.test', cert: certs.other.cert, key: certs.other.key }, { servername: '*.wild.test', cert: certs.other.cert, key: certs.other.key }],
        sni: async (name) => {
          chosen.push(name);
          if (name === 'boom.test') throw new Error('no such tenant');
          return name === 'renewed.test' ? { cert: certs.renewed.cert, key: certs.renewed.key } : null;
        },
      },
    });
    const other = serialOf(certs.other.cert);
    assert.equal(await servedSerial(t.port, 'other.test'), other);
    assert.equal(await servedSerial(t.port, 'OTHER.test'), other);
    assert.equal(await servedSerial(t.port, 'a.wild.test'), other);
    assert.equal(await servedSerial(t.port, 'renewed.test'), serialOf(certs.renewed.cert));
    assert.equal(await servedSerial(t.port, 'a.b.wild.test'), serialOf(certs.localhost.cert), 'a wildcard covers one label');
    assert.equal(await servedSerial(t.port, 'unknown.test'), serialOf(certs.localhost.cert));
    assert.equal(await servedSerial(t.port, undefined), serialOf(certs.localhost.cert));
    await assert.rejects(servedSerial(t.port, 'boom.test'));
    assert.deepEqual(chosen, ['renewed.test', 'a.b.wild.test', 'unknown.test', 'boom.test']);
    await t.closed(8);
    const failed = t.tlsErrors.filter((e) => e.code === 'ERR_TLS_SNI_CALLBACK');
    assert.deepEqual(failed.map((e) => e.reason), ['the sni callback failed for boom.test: no such tenant']);
    assert.ok(t.closes.some((c) => c.connectionId === failed[0].connectionId && c.reason === 'tls-error'));
    await t.stop();
  });

  test('with certs only, the first is the default; a client trusting the CA verifies other.test', async () => {
    const t = await startTlsServer(certs, { tls: { certs: [{ servername: 'other.test', cert: certs.other.cert, key: certs.other.key }] } });
    assert.equal(await servedSerial(t.port, undefined), serialOf(certs.other.cert));
    const conn = await RawConnection.connectTls(t.port, trusting(certs, 'other.test'));
    conn.write(GET('/'));
    assert.equal((await conn.readResponse()).status, 200);
    conn.destroy();
    await t.stop();
  });

  test('session tickets: a reconnecting client resumes without a full handshake (TLS 1.3 and 1.2)', async () => {
    const t = await startTlsServer(certs);
    for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
      let session: Buffer | undefined;
      for (let i = 0; i < 2; i++) {
        const { socket, reused, ticket } = await getOnce(t.port, { maxVersion, session });
        const info = t.server.connections().find((c) => c.tls?.protocol === maxVersion && c.requestsServed === 1);
        assert.ok(info?.tls, `${maxVersion}: the connection is listed`);
        assert.equal(reused, i === 1, `${maxVersion} connection ${i + 1}`);
        assert.equal(info.tls.resumed, i === 1, `${maxVersion} connection ${i + 1}, as the server sees it`);
        socket.destroy();
        await t.closed(t.closes.length + 1);
        session = ticket() ?? session;
        assert.ok(session, `${maxVersion}: the server issued a ticket`);
      }
    }
    await t.stop();
  });

  test('an encrypted key loads with its passphrase; a wrong passphrase or a bad certificate fails createServer with the reason', async () => {
    const t = await startTlsServer(certs, { tls: { cert: certs.localhost.cert, key: certs.encryptedKey, passphrase: PASSPHRASE } });
    const conn = await RawConnection.connectTls(t.port, trusting(certs));
    conn.write(GET('/'));
    assert.equal((await conn.readResponse()).status, 200);
    conn.destroy();
    await t.stop();
    const handler = () => ({ status: 200 });
    assert.throws(() => createServer({ tls: { cert: certs.localhost.cert, key: certs.encryptedKey, passphrase: 'wrong' } }, handler), (e: unknown) => e instanceof OptionError && /option tls: the cert\/key certificate does not load: bad decrypt/.test(e.message));
    assert.throws(() => createServer({ tls: { cert: 'not a certificate', key: certs.localhost.key } }, handler), (e: unknown) => e instanceof OptionError && /option tls: the cert\/key certificate does not load/.test(e.message));
    assert.throws(() => createServer({ tls: { cert: certs.other.cert, key: certs.localhost.key } }, handler), (e: unknown) => e instanceof OptionError && /key values mismatch/.test(e.message));
    assert.throws(() => createServer({ tls: { cert: certs.localhost.cert } as never }, handler), /option tls needs both cert and key/);
    assert.throws(() => createServer({ tls: { certs: [] } }, handler), /option tls needs a default certificate/);
    assert.throws(() => createServer({ tls: { cert: certs.localhost.cert, key: certs.localhost.key, ticketKeys: Buffer.alloc(16) } }, handler), /ticketKeys must be a Buffer of 48 bytes/);
    assert.throws(() => createServer({ tls: { cert: certs.localhost.cert, key: certs.localhost.key, crt: 'x' } as never }, handler), /unknown field "crt"/);
  });

  test('shared ticketKeys: a ticket from one server resumes on another (how --workers share sessions)', async () => {
    const ticketKeys = randomBytes(48);
    const a = await startTlsServer(certs, { tls: { cert: certs.localhost.cert, key: certs.localhost.key, ticketKeys } });
    const b = await startTlsServer(certs, { tls: { cert: certs.localhost.cert, key: certs.localhost.key, ticketKeys } });
    const c = await startTlsServer(certs);
    const connect = async (port: number, session?: Buffer): Promise<{ reused: boolean; session: Buffer | undefined }> => {
      const { socket, reused, ticket } = await getOnce(port, { session, maxVersion: 'TLSv1.2' });
      socket.destroy();
      return { reused, session: ticket() };
    };
    const first = await connect(a.port);
    assert.equal((await connect(b.port, first.session)).reused, true);
    assert.equal((await connect(c.port, first.session)).reused, false);
    await Promise.all([a.stop(), b.stop(), c.stop()]);
  });
});

describe('certificate reload', () => {
  test('reloadTls: new handshakes get the new certificate, an open connection keeps serving; a bad one throws and the old stays', async () => {
    const t = await startTlsServer(certs);
    const open = await RawConnection.connectTls(t.port, trusting(certs));
    open.write(GET('/before'));
    await open.readResponse();
    t.server.reloadTls({ cert: certs.renewed.cert, key: certs.renewed.key });
    assert.equal(await servedSerial(t.port, 'localhost'), serialOf(certs.renewed.cert));
    open.write(GET('/after'));
    assert.equal((await open.readResponse()).body.toString(), 'hello /after');
    assert.equal((open.socket as tls.TLSSocket).getPeerCertificate().serialNumber.toUpperCase(), serialOf(certs.localhost.cert));
    assert.throws(() => t.server.reloadTls({ cert: certs.localhost.cert, key: certs.renewed.key }), /key values mismatch/);
    assert.throws(() => t.server.reloadTls({ cert: '', key: '' }), /option tls needs both cert and key/);
    assert.equal(await servedSerial(t.port, 'localhost'), serialOf(certs.renewed.cert));
    open.destroy();
    await t.stop();
    const plain = createServer({ log: 'off' }, () => ({ status: 200 }));
    assert.throws(() => plain.reloadTls({ cert: certs.localhost.cert, key: certs.localhost.key }), /created without the tls option/);
  });
});

describe('certificates clients refuse', () => {
  test('an expired certificate: the client aborts (CERT_HAS_EXPIRED) and the server logs the alert it got', async () => {
    const t = await startTlsServer(certs, { tls: { cert: certs.expired.cert, key: certs.expired.key } });
    await assert.rejects(RawConnection.connectTls(t.port, trusting(certs)), (e: NodeJS.ErrnoException) => e.code === 'CERT_HAS_EXPIRED');
    const curl = await run('curl', ['-sS', '--cacert', certs.caFile, `https://localhost:${t.port}/`]);
    assert.notEqual(curl.code, 0);
    assert.match(curl.stderr, /expired/i);
    await t.closed(2);
    assert.ok(t.closes.every((c) => c.requestsServed === 0));
    assert.ok(t.tlsErrors.some((e) => /certificate expired/.test(e.reason)), JSON.stringify(t.tlsErrors));
    await t.stop();
  });

  test('a certificate for another host: node and curl refuse it; nothing is served', async () => {
    const t = await startTlsServer(certs, { tls: { cert: certs.wrongHost.cert, key: certs.wrongHost.key } });
    await assert.rejects(RawConnection.connectTls(t.port, trusting(certs)), (e: NodeJS.ErrnoException) => e.code === 'ERR_TLS_CERT_ALTNAME_INVALID');
    const curl = await run('curl', ['-sS', '--cacert', certs.caFile, `https://localhost:${t.port}/`]);
    assert.notEqual(curl.code, 0);
    assert.match(curl.stderr, /subject name|does not match|no alternative certificate subject name/i);
    await t.closed(2);
    assert.equal(t.requests.length, 0);
    await sleep(10);
    await t.stop();
  });
});
