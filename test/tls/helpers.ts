/**
 * HTTPS test servers: startServer() (test/helpers/server.ts) with the test certificates, and a
 * recording TCP relay that shows the TLS records a server sends (to see its close_notify).
 */

import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import type { Handler, ServerOptions } from '../../src/index.js';
import type { TlsErrorEvent } from '../../src/server/events.js';
import { startServer, type TestServer } from '../helpers/server.js';
import type { TestCerts } from './certs.js';

export interface TlsTestServer extends TestServer {
  tlsErrors: TlsErrorEvent[];
}

export async function startTlsServer(certs: TestCerts, options: ServerOptions = {}, handler?: Handler): Promise<TlsTestServer> {
  const started = await startServer({ tls: { cert: certs.localhost.cert, key: certs.localhost.key }, ...options }, handler);
  const tlsErrors: TlsErrorEvent[] = [];
  started.server.on('tls-error', (e) => tlsErrors.push(e));
  return { ...started, tlsErrors };
}

/** tls.connect options trusting the test CA for `localhost`. */
export const trusting = (certs: TestCerts, servername = 'localhost'): { ca: string; servername: string } => ({ ca: certs.ca, servername });

/** TLS record content types (RFC 8446 §5.1). */
export const ALERT = 21;

/**
 * A TCP relay between a client and `port` that records the bytes the server sends, split into TLS
 * records (type, length), and whether the server's FIN came through.
 */
export class RecordingRelay {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #fromServer = Buffer.alloc(0);
  serverEnded = false;
  port = 0;

  private constructor(targetPort: number) {
    this.#server = net.createServer({ allowHalfOpen: true }, (client) => {
      const upstream = net.connect({ port: targetPort, host: '127.0.0.1', allowHalfOpen: true });
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.on('data', (chunk) => upstream.write(chunk));
      client.on('end', () => upstream.end());
      upstream.on('data', (chunk: Buffer) => {
        this.#fromServer = Buffer.concat([this.#fromServer, chunk]);
        client.write(chunk);
      });
      upstream.on('end', () => {
        this.serverEnded = true;
        client.end();
      });
      upstream.on('close', () => client.destroy());
      client.on('close', () => upstream.destroy());
    });
  }

  static async start(targetPort: number): Promise<RecordingRelay> {
    const relay = new RecordingRelay(targetPort);
    relay.#server.listen(0, '127.0.0.1');
    await once(relay.#server, 'listening');
    relay.port = (relay.#server.address() as net.AddressInfo).port;
    return relay;
  }

  /** The server's records so far: [content type, length]. */
  records(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let at = 0;
    const bytes = this.#fromServer;
    while (at + 5 <= bytes.length) {
      const length = bytes.readUInt16BE(at + 3);
      out.push([bytes[at], length]);
      at += 5 + length;
    }
    return out;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** The first flight of a real TLS client (its ClientHello), captured from node's tls.connect. */
export async function captureClientHello(): Promise<Buffer> {
  const sink = net.createServer();
  sink.listen(0, '127.0.0.1');
  await once(sink, 'listening');
  const accepted = once(sink, 'connection') as Promise<[net.Socket]>;
  const client = tls.connect({ port: (sink.address() as net.AddressInfo).port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false });
  client.on('error', () => undefined);
  const [socket] = await accepted;
  const [hello] = (await once(socket, 'data')) as [Buffer];
  client.destroy();
  socket.destroy();
  await new Promise<void>((resolve) => sink.close(() => resolve()));
  return hello;
}
