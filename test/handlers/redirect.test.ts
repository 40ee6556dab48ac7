import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { redirectToHttps } from '../../src/handlers/redirect.js';
import { RawConnection } from '../helpers/raw-client.js';
import { startServer } from '../helpers/server.js';

describe('redirectToHttps', () => {
  test('308 to the same path and query on https://, at the Host name and the HTTPS port (none for 443); 1.0 without Host goes to the fallback', async () => {
    const cases: Array<[number, string, string]> = [
      [8443, 'GET /a/b?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n', 'https://example.com:8443/a/b?x=1'],
      [443, 'POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n', 'https://example.com/form'],
      [443, 'GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n', 'https://[::1]/'],
      [443, 'GET http://other.example/p?q HTTP/1.1\r\nHost: other.example\r\n\r\n', 'https://other.example/p?q'],
      [8443, 'OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n', 'https://h:8443/'],
      [8443, 'GET /old HTTP/1.0\r\n\r\n', 'https://127.0.0.1:8443/old'],
    ];
    for (const [httpsPort, request, location] of cases) {
      const t = await startServer({}, redirectToHttps(httpsPort, '127.0.0.1'));
      const conn = await RawConnection.connect(t.port);
      conn.write(request);
      const response = await conn.readResponse();
      assert.equal(response.status, 308, request);
      assert.equal(response.header('location'), location, request);
      conn.destroy();
      await t.stop();
    }
  });
});
