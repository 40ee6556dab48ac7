/**
 * createServer(options, handler): accepts TCP connections (node:net) and gives each to one
 * Connection loop — through TLS first when `options.tls` is set (./tls.ts; reloadTls() swaps the
 * certificates for new handshakes). listen() resolves with the bound address; close() is graceful — stop
 * accepting, close idle connections now, let in-flight responses finish with `Connection: close`,
 * destroy whatever remains at the grace deadline — and resolves when every connection is gone and
 * the server's log lines are written (LOG_FLUSH_TIMEOUT_MS at most, for a blocked log sink).
 */

import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { ParserLimits } from '../http1/parser.js';
import type { Handler } from '../handlers/types.js';
import { Connection, type ConnectionContext } from './connection.js';
import { ParserPool } from './parser-pool.js';
import type { ConnectionCloseEvent, ServerEvents } from './events.js';
import { attachLogger, type AttachedLogger } from './logger.js';
import { descriptorConnectionLimit, OptionError, resolveOptions, type ResolvedOptions, type ServerOptions } from './options.js';
import { Registry, type ConnectionInfo } from './registry.js';
import { ServerStats } from './stats.js';
import { TlsTerminator, type TlsOptions } from './tls.js';

export interface CloseOptions {
  /** How long in-flight requests may take before their connections are destroyed. Default 10 s. */
  graceMs?: number;
}

export interface CloseReport {
  /** Connections that closed on their own during the drain. */
  drained: number;
  /** Connections destroyed at the grace deadline. */
  forced: number;
  /**
   * Of all those, connections that had left HTTP (upgraded, taken over) when the close began: their
   * new owners may close them during the grace period; the rest are destroyed at its end.
   */
  upgraded: number;
}

/**
 * A service that lives with the server (the status listener, src/status): listen() starts it
 * before the server's own listener, close() stops it once the server has drained.
 */
export interface ServerCompanion {
  listen(): Promise<void>;
  close(): Promise<void>;
}

const DEFAULT_GRACE_MS = 10_000;
/** At most one refused-connections line a second, each with the count since the last (nginx logs each one, "worker_connections are not enough"; one line a second bounds a flood). */
const REFUSED_LOG_INTERVAL_MS = 1_000;
/** How long close() waits for buffered log lines to reach a slow or blocked sink (nginx has no bound: it blocks on the write). */
const LOG_FLUSH_TIMEOUT_MS = 2_000;

export class HoldfastServer extends EventEmitter<ServerEvents> {
  readonly options: ResolvedOptions;
  readonly #handler: Handler;
  readonly #registry = new Registry<Connection>();
  readonly #net: net.Server;
  readonly #context: ConnectionContext;
  readonly #logger: AttachedLogger;
  readonly #tls: TlsTerminator | null;
  #nextId = 1;
  #refused = 0;
  readonly #descriptorLimit = descriptorConnectionLimit();
  #refusedLoggedAt = 0;
  /** Why the last refused connection was refused, for the line that reports the pending count. */
  #refusedWhy = '';
  /** Reports the refusals counted since the last line, once a second has passed since it. */
  #refusedTimer: NodeJS.Timeout | null = null;
  #shuttingDown = false;
  #closing: Promise<CloseReport> | null = null;
  readonly #companions: ServerCompanion[] = [];
  /**
   * Whether anyone listens for 'request', kept current by the listener events below: asked once per
   * request, and node's listenerCount is a keyed load that turns megamorphic as soon as a process
   * holds several emitters (a second server, the status listener).
   */
  #requestListeners = false;
  readonly #onNewListener = (event: string | symbol): void => {
    if (event === 'request') this.#requestListeners = true;
  };
  readonly #onRemoveListener = (event: string | symbol): void => {
    if (event === 'request') this.#requestListeners = this.listenerCount('request') > 0;
  };

  constructor(options: ServerOptions, handler: Handler) {
    super();
    if (typeof handler !== 'function') throw new TypeError('holdfast: createServer needs a handler function');
    this.options = resolveOptions(options);
    this.#handler = handler;
    try {
      this.#tls = this.options.tls === null ? null : new TlsTerminator(this.options.tls);
    } catch (error) {
      throw new OptionError((error as Error).message.replace(/^holdfast: /, ''));
    }
    const limits: ParserLimits = {
      maxRequestLineBytes: this.options.maxRequestLineBytes,
      maxHeaderBytes: this.options.maxHeaderBytes,
      maxHeaderCount: this.options.maxHeaderCount,
      maxBodyBytes: this.options.maxBodyBytes,
    };
    this.#context = {
      options: this.options,
      limits,
      parsers: new ParserPool(limits),
      handler: this.#handler,
      isShuttingDown: () => this.#shuttingDown,
      emit: (event, ...args) => {
        (this.emit as (event: string, ...args: unknown[]) => boolean)(event, ...args);
      },
      wantsRequestEvents: () => this.#requestListeners,
      wantsConnectionEvents: () => this.listenerCount('connection-open') > 0 || this.listenerCount('connection-close') > 0,
      onClosed: (connection: Connection, event: ConnectionCloseEvent) => {
        this.#registry.remove(connection);
        this.#context.stats?.connectionClosed(event);
        this.emit('connection-close', event);
      },
      stats: null,
      requestLog: null,
    };
    this.#trackRequestListeners();
    this.#logger = attachLogger(this, this.options.log, this.options.logSink, true);
    this.#context.requestLog = this.#logger.request;
    this.#net = net.createServer({ allowHalfOpen: true, noDelay: true }, this.#accept);
    // Accept failures (EMFILE, ENFILE…) must not stop the server: log them; libuv keeps accepting.
    this.#net.on('error', (error: NodeJS.ErrnoException) => this.emit('accept-error', { code: error.code ?? 'unknown', message: error.message }));
  }

  #trackRequestListeners(): void {
    this.#requestListeners = this.listenerCount('request') > 0;
    const plain = this as unknown as EventEmitter;
    if (!plain.listeners('newListener').includes(this.#onNewListener)) plain.on('newListener', this.#onNewListener);
    if (!plain.listeners('removeListener').includes(this.#onRemoveListener)) plain.on('removeListener', this.#onRemoveListener);
  }

  /** As EventEmitter's, keeping the 'request' listener tracking in place. */
  override removeAllListeners(...args: Parameters<EventEmitter<ServerEvents>['removeAllListeners']>): this {
    super.removeAllListeners(...args);
    this.#trackRequestListeners();
    return this;
  }

  readonly #accept = (socket: net.Socket): void => {
    if (this.#shuttingDown) {
      socket.destroy();
      return;
    }
    const max = this.options.maxConnections;
    if (max > 0 && this.#registry.size >= max && !this.#makeRoom()) {
      this.#refuse(socket, `maxConnections (${max}) reached`);
      return;
    }
    // Near the open-file limit existing clients keep their connections: refuse (and log) instead of
    // letting libuv drop connections silently on EMFILE.
    if (this.#descriptorLimit > 0 && this.#registry.size >= this.#descriptorLimit) {
      this.#refuse(socket, `open-file limit nearly reached (${this.#descriptorLimit} connections)`);
      return;
    }
    const connection = new Connection(this.#nextId++, this.#tls === null ? socket : this.#tls.wrap(socket), this.#context);
    this.#registry.add(connection);
    // The peer address only when a reconnect is possible: once read, node keeps it on the socket,
    // and sockets of two shapes turn a property load in node's write path megamorphic.
    const stats = this.#context.stats;
    if (stats !== null) stats.connectionOpened(stats.awaitsReconnects() ? (socket.remoteAddress ?? '') : '');
    if (this.listenerCount('connection-open') > 0) {
      this.emit('connection-open', { connectionId: connection.id, remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0 });
    }
  };

  /**
   * Refusals are logged at most once per REFUSED_LOG_INTERVAL_MS, each line with the count since the
   * last one: the first at once, those that follow within the interval by a one-shot timer at its end.
   */
  #refuse(socket: net.Socket, why: string): void {
    this.#refused++;
    this.#refusedWhy = why;
    this.#context.stats?.connectionRefused();
    if (this.#refusedTimer === null) {
      const waitMs = this.#refusedLoggedAt + REFUSED_LOG_INTERVAL_MS - Date.now();
      if (waitMs <= 0) this.#logRefused();
      else {
        this.#refusedTimer = setTimeout(this.#logRefused, waitMs);
        this.#refusedTimer.unref();
      }
    }
    socket.on('error', () => undefined);
    socket.destroy();
  }

  readonly #logRefused = (): void => {
    if (this.#refusedTimer !== null) clearTimeout(this.#refusedTimer);
    this.#refusedTimer = null;
    if (this.#refused === 0) return;
    this.emit('accept-error', { code: 'connection-limit', message: `${this.#refusedWhy}; ${this.#refused} connection(s) refused` });
    this.#refusedLoggedAt = Date.now();
    this.#refused = 0;
  };

  /**
   * At the cap: a connection already closing with nothing left to send (lingering) goes first,
   * then the oldest idle keep-alive connection (as nginx reuses connections); one still sending its
   * last response is not cut short. False when every connection is busy.
   */
  #makeRoom(): boolean {
    let idle: Connection | null = null;
    for (const connection of this.#registry.values()) {
      if (connection.isLingering) {
        connection.destroyNow('connection-limit');
        return true;
      }
      if (idle === null && connection.isIdle) idle = connection;
    }
    if (idle === null) return false;
    idle.evict();
    return true;
  }

  /** Binds the public listener, after the companions (the status listener) have started. */
  async listen(port = 0, host = '127.0.0.1'): Promise<{ port: number; host: string }> {
    const started: ServerCompanion[] = [];
    try {
      for (const companion of this.#companions) {
        await companion.listen();
        started.push(companion);
      }
      return await new Promise((resolve, reject) => {
        const onError = (error: Error): void => reject(error);
        this.#net.once('error', onError);
        this.#net.listen(port, host, () => {
          this.#net.off('error', onError);
          const address = this.#net.address() as net.AddressInfo;
          resolve({ port: address.port, host: address.address });
        });
      });
    } catch (error) {
      await Promise.all(started.map((companion) => companion.close()));
      throw error;
    }
  }

  /** Starts `companion` with listen() and stops it when close() has drained the connections. */
  attach(companion: ServerCompanion): void {
    this.#companions.push(companion);
  }

  /** Turns on the counters the live status reads (idempotent); they count from now on. */
  enableStats(): ServerStats {
    return (this.#context.stats ??= new ServerStats(this.options));
  }

  /** The live status's counters, or null while it is off. */
  get stats(): ServerStats | null {
    return this.#context.stats;
  }

  /** Whether this server terminates TLS (HTTPS). */
  get secure(): boolean {
    return this.#tls !== null;
  }

  /**
   * New certificates for new handshakes (a renewed certificate, SIGHUP in the CLI); established
   * connections keep theirs. Throws (OptionError, with OpenSSL's reason) and keeps the current ones
   * when the new ones do not load, or when the server was not created with `tls`.
   */
  reloadTls(tls: TlsOptions): void {
    if (this.#tls === null) throw new OptionError('reloadTls: this server was created without the tls option');
    try {
      this.#tls.reload(tls);
    } catch (error) {
      throw new OptionError((error as Error).message.replace(/^holdfast: /, ''));
    }
  }

  /** Live connections right now. */
  connections(): ConnectionInfo[] {
    return this.#registry.snapshot();
  }

  get connectionCount(): number {
    return this.#registry.size;
  }

  get listening(): boolean {
    return this.#net.listening;
  }

  close(options: CloseOptions = {}): Promise<CloseReport> {
    if (this.#closing !== null) return this.#closing;
    const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
    if (!Number.isInteger(graceMs) || graceMs < 0) throw new TypeError('holdfast: close({ graceMs }) must be a non-negative integer');
    this.#shuttingDown = true;
    this.#closing = (async () => {
      const listenerClosed = new Promise<void>((resolve) => {
        if (this.#net.listening) this.#net.close(() => resolve());
        else resolve();
      });
      const total = this.#registry.size;
      let upgraded = 0;
      for (const connection of this.#registry.values()) {
        if (connection.lifecycle === 'upgraded') upgraded++;
        connection.shutdown();
      }
      let forced = 0;
      const grace = setTimeout(() => {
        forced = this.#registry.size;
        for (const connection of this.#registry.values()) connection.destroyNow('shutdown');
      }, graceMs);
      await this.#registry.whenEmpty();
      clearTimeout(grace);
      await listenerClosed;
      this.#logRefused();
      await Promise.all(this.#companions.map((companion) => companion.close()));
      await this.#logger.close(LOG_FLUSH_TIMEOUT_MS);
      return { drained: total - forced, forced, upgraded };
    })();
    return this.#closing;
  }
}

export function createServer(handler: Handler): HoldfastServer;
export function createServer(options: ServerOptions, handler: Handler): HoldfastServer;
export function createServer(a: ServerOptions | Handler, b?: Handler): HoldfastServer {
  if (typeof a === 'function') return new HoldfastServer({}, a);
  return new HoldfastServer(a, b as Handler);
}
