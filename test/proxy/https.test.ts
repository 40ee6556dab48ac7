/**
 * The proxy behind holdfast's HTTPS listener: X-Forwarded-Proto says `https` on a TLS connection,
 * `http` on a plain one; a client's own X-Forwarded-Proto/-Host are believed only from a trusted
 * proxy. Certificates made per run with openssl (test/tls/certs.ts).
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RawConnection } from '../helpers/raw-client.js';
import { makeCerts, type TestCerts } from '../tls/certs.js';
import { trusting } from '../tls/helpers.js';
import { echoRequest, startNodeUpstream, startProxy } from './helpers.js';

let certs: TestCerts;
before(() => {
  certs = makeCerts();
});
after(() => certs.remove());

interface Echo {
  headers: Record<string, string>;
}

const FORGED = 'GET / HTTP/1.1\r\nHost: front.test\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: evil.test\r\nX-Forwarded-For: 10.9.9.9\r\n\r\n';

describe('proxy over HTTPS', () => {
  test('X-Forwarded-Proto is https on a TLS connection; an untrusted client’s X-Forwarded-* are replaced', async () => {
    const upstream = await startNodeUpstream(echoRequest);
    const t = await startProxy({ upstreams: [upstream.url] }, { tls: { cert: certs.localhost.cert, key: certs.localhost.key } });
    const c = await RawConnection.connectTls(t.port, trusting(certs));
    try {
      c.write(FORGED);
      const first = JSON.parse((await c.readResponse()).body.toString()) as Echo;
      assert.deepEqual([first.headers['x-forwarded-proto'], first.headers['x-forwarded-host'], first.headers['x-forwarded-for']], ['https', 'front.test', '127.0.0.1']);
      c.write('GET /next HTTP/1.1\r\nHost: front.test\r\n\r\n');
      const second = JSON.parse((await c.readResponse()).body.toString()) as Echo;
      assert.equal(second.headers['x-forwarded-proto'], 'https', 'the reused head keeps the scheme');
    } finally {
      c.destroy();
      await t.stop();
      await upstream.stop();
    }
  });

  test('a trusted proxy’s X-Forwarded-Proto is kept even over TLS; the same request on a plain listener says http', async () => {
    const upstream = await startNodeUpstream(echoRequest);
    const trusted = await startProxy({ upstreams: [upstream.url], trustedProxies: ['127.0.0.1'] }, { tls: { cert: certs.localhost.cert, key: certs.localhost.key } });
    const plain = await startProxy({ upstreams: [upstream.url] });
    const overTls = await RawConnection.connectTls(trusted.port, trusting(certs));
    const overTcp = await RawConnection.connect(plain.port);
    try {
      overTls.write(FORGED);
      const kept = JSON.parse((await overTls.readResponse()).body.toString()) as Echo;
      assert.deepEqual([kept.headers['x-forwarded-proto'], kept.headers['x-forwarded-host'], kept.headers['x-forwarded-for']], ['http', 'evil.test', '10.9.9.9, 127.0.0.1']);
      overTcp.write('GET / HTTP/1.1\r\nHost: front.test\r\nX-Forwarded-Proto: https\r\n\r\n');
      const replaced = JSON.parse((await overTcp.readResponse()).body.toString()) as Echo;
      assert.equal(replaced.headers['x-forwarded-proto'], 'http');
    } finally {
      overTls.destroy();
      overTcp.destroy();
      await trusted.stop();
      await plain.stop();
      await upstream.stop();
    }
  });
});
