/**
 * The HTTPS bench scenarios' pure parts: `openssl s_time` output read into connections and
 * unresumed ones (an unresumed connection is an error of the https-new scenario), and nginx's
 * configuration gaining its HTTPS server (session cache, tickets) only when given a certificate.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseSTime, sTimeArgs } from '../../bench/lib/load.js';
import { nginxConfig } from '../../bench/lib/servers.js';

/** What `openssl s_time -reuse` (OpenSSL 3.0) prints: the first connection, then a mark per reused one. */
function sTimeOutput(marks: string, connections: number): string {
  return [
    'Collecting connection statistics for 3 seconds',
    '',
    '',
    'Now timing with session id reuse.',
    'starting',
    marks,
    '',
    `${connections} connections in 1.17s; 2001.71 connections/user sec, bytes read 355984`,
    `${connections} connections in 4 real seconds, 152 bytes read per connection`,
    '',
  ].join('\n');
}

describe('parseSTime', () => {
  test('counts the connections and the full handshakes (*) among the resumed ones (r)', () => {
    assert.deepEqual(parseSTime(sTimeOutput('rrrrr', 5)), { connections: 5, notResumed: 0 });
    assert.deepEqual(parseSTime(sTimeOutput('r*rr*', 5)), { connections: 5, notResumed: 2 });
    assert.deepEqual(parseSTime(sTimeOutput('', 0)), { connections: 0, notResumed: 0 });
  });

  test('rejects output without the connection total', () => {
    assert.throws(() => parseSTime('starting\nrrr\n'), /unparsable s_time output/);
  });

  test('asks for a resumed session per connection, for the given time, on 127.0.0.1', () => {
    assert.deepEqual(sTimeArgs({ port: 8443, durationS: 3, clients: 4 }), ['s_time', '-connect', '127.0.0.1:8443', '-www', '/', '-reuse', '-time', '3']);
  });
});

describe('nginxConfig over HTTPS', () => {
  test('a certificate adds an ssl server with a shared session cache and tickets; none adds nothing', () => {
    const tls = nginxConfig(8080, '/tmp/n', '/tmp/www', null, { certFile: '/tmp/c.pem', keyFile: '/tmp/k.pem', port: 8443 });
    assert.match(tls, /listen 127\.0\.0\.1:8443 ssl;/);
    assert.match(tls, /ssl_certificate \/tmp\/c\.pem;/);
    assert.match(tls, /ssl_certificate_key \/tmp\/k\.pem;/);
    assert.match(tls, /ssl_session_cache shared:SSL:10m;/);
    assert.match(tls, /ssl_session_tickets on;/);
    assert.match(tls, /listen 127\.0\.0\.1:8080;/);
    assert.equal((tls.match(/\{/g) ?? []).length, (tls.match(/\}/g) ?? []).length, 'balanced braces');
    const plain = nginxConfig(8080, '/tmp/n', '/tmp/www');
    assert.doesNotMatch(plain, /ssl/);
    assert.equal((plain.match(/\{/g) ?? []).length, (plain.match(/\}/g) ?? []).length, 'balanced braces');
  });
});
