/**
 * The live status on its own listener — never on the public port. `serveStatus(server)` turns on the
 * server's counters and serves its dashboard, `/status.json` and `/metrics` on `options.status`
 * (HOST:PORT), started by `server.listen()` and stopped once `server.close()` has drained (so a
 * drain can be watched). The listener is itself a holdfast server, with logging off. It refuses a
 * non-loopback address without a token, before binding and again once bound (a name such as
 * `localhost` is checked by the address it resolved to).
 */

import { createServer, type HoldfastServer, type ServerCompanion } from '../server/server.js';
import { ADDRESS_SYNTAX, isLoopbackHost, parseAddress } from '../server/units.js';
import { statusHandler, type SampleSource } from './handler.js';
import { takeSample } from './sample.js';

export { statusHandler, type SampleSource } from './handler.js';
export type { StatusSample, RowQuery, ConnectionRow, ProcessSample, HistogramSample } from './sample.js';
export type { StatusView } from './view.js';

export interface StatusListenerOptions {
  /** HOST:PORT. */
  address: string;
  /** A bearer token; '' = none (then the address must be loopback). */
  token: string;
  source: SampleSource;
}

export class StatusListener implements ServerCompanion {
  readonly #host: string;
  readonly #port: number;
  readonly #token: string;
  readonly #server: HoldfastServer;
  #bound: { host: string; port: number } | null = null;

  constructor(options: StatusListenerOptions) {
    const address = parseAddress(options.address);
    if (address === 'malformed') throw new TypeError(`holdfast: the status address must be ${ADDRESS_SYNTAX}; got ${options.address}`);
    this.#host = address.host;
    this.#port = address.port;
    this.#token = options.token;
    this.#refuseExposed(this.#host);
    const access = { token: options.token, port: () => this.#bound?.port ?? this.#port };
    // Node's 5 s keep-alive (a poll a second reuses one connection); idle pollers close at once on shutdown.
    this.#server = createServer(
      { log: 'off', keepAliveTimeoutMs: 5_000, maxRequestsPerConnection: 0, shutdownMinIdleMs: 0, lingerMs: 200, maxConnections: 64 },
      statusHandler(options.source, access),
    );
  }

  #refuseExposed(host: string): void {
    if (this.#token === '' && !isLoopbackHost(host)) {
      throw new Error(`holdfast: the status listener will not bind ${host}, which is not a loopback address, without a token (statusToken)`);
    }
  }

  async listen(): Promise<void> {
    const bound = await this.#server.listen(this.#port, this.#host);
    try {
      this.#refuseExposed(bound.host);
    } catch (error) {
      await this.#server.close({ graceMs: 0 });
      throw error;
    }
    this.#bound = bound;
  }

  /** Where it listens, once listen() has resolved. */
  get address(): { host: string; port: number } | null {
    return this.#bound;
  }

  async close(): Promise<void> {
    await this.#server.close({ graceMs: 1_000 });
  }
}

/**
 * Serves `server`'s live status on `address` (default `server.options.status`), started and stopped
 * with it. Its counters count from now on.
 */
export function serveStatus(server: HoldfastServer, options: { address?: string; token?: string } = {}): StatusListener {
  const address = options.address ?? server.options.status;
  if (address === '') throw new TypeError('holdfast: serveStatus needs an address: set the status option or pass { address }');
  const stats = server.enableStats();
  const listener = new StatusListener({
    address,
    token: options.token ?? server.options.statusToken,
    source: (query) => Promise.resolve(takeSample(server, stats, query)),
  });
  server.attach(listener);
  return listener;
}
