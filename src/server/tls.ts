/**
 * HTTPS: TLS terminated by node:tls (OpenSSL) on each accepted TCP socket, which then runs the same
 * Connection loop as plain TCP — keep-alive, deadlines, close reasons, lingering close, shutdown.
 * holdfast writes no cryptography: it builds OpenSSL secure contexts from PEM and wraps sockets.
 *
 * Contract:
 * - `TlsTerminator` holds the certificates: a default one (`cert`/`key`, else the first of `certs`)
 *   and, for SNI (RFC 6066 §3), `certs` by host name (exact, or `*.example.com` for one label) or an
 *   `sni` callback; a name matching none gets the default. `reload()` swaps them all at once: new
 *   handshakes use the new certificates, established connections keep theirs; a certificate that
 *   does not load throws and leaves the old ones in place.
 * - `wrap(raw)` returns the server-side TLSSocket over an accepted socket. ALPN (RFC 7301) offers
 *   `http/1.1` only: a client that offers only `h2` fails the handshake with OpenSSL's
 *   no_application_protocol alert (§3.2). Session tickets (RFC 8446 §4.6.1, RFC 5077) are on, so a
 *   reconnecting client resumes without a full handshake; `ticketKeys` shared between processes
 *   (the CLI's --workers) let a ticket issued by one resume on another. Client-initiated
 *   renegotiation (TLS 1.2; TLS 1.3 has none) is refused (SSL_OP_NO_RENEGOTIATION).
 * - `tlsFailure(error)` tells a TLS failure (a handshake or record error OpenSSL reported) from a
 *   socket error, with OpenSSL's reason, for the `tls-error` close reason and its log line.
 */

import { constants as cryptoConstants } from 'node:crypto';
import type net from 'node:net';
import tls from 'node:tls';

/** PEM text: one block, a chain, or several. */
export type Pem = string | Buffer | ReadonlyArray<string | Buffer>;

export interface TlsCredentials {
  /** The certificate chain, leaf first. */
  cert: Pem;
  key: Pem;
  /** Extra CA certificates completing the chain sent to clients. */
  ca?: Pem;
  /** Decrypts an encrypted private key. */
  passphrase?: string;
}

export interface SniCertificate extends TlsCredentials {
  /** The host name it serves: `example.com`, or `*.example.com` for one more label. */
  servername: string;
}

/** Chooses credentials for a host name the client sent (SNI); null/undefined: the default certificate. */
export type SniCallback = (servername: string) => TlsCredentials | tls.SecureContext | null | undefined | Promise<TlsCredentials | tls.SecureContext | null | undefined>;

export interface TlsOptions {
  /** The default certificate (PEM), for clients that send no host name or one matching no entry of `certs`. */
  cert?: Pem;
  key?: Pem;
  ca?: Pem;
  passphrase?: string;
  /** Certificates by host name (SNI); without `cert`/`key`, the first is the default. */
  certs?: readonly SniCertificate[];
  /** Chooses a certificate per host name, after `certs`; may be async. */
  sni?: SniCallback;
  /** 48 bytes encrypting session tickets; give every process serving one site the same keys. Default: random per process. */
  ticketKeys?: Buffer;
}

/** ALPN: HTTP/1.1 only (holdfast speaks no h2), in its wire form (RFC 7301 §3.1), made once. */
const ALPN_PROTOCOLS = Buffer.from('\x08http/1.1', 'latin1');

/**
 * The session id context tickets and sessions are bound to (OpenSSL resumes only within one): one
 * fixed value, so every worker process accepts the others' tickets. node's tls.Server hashes argv.
 */
const SESSION_ID_CONTEXT = 'holdfast';

/** Refuse TLS 1.2 renegotiation outright (OpenSSL's no_renegotiation alert), as nginx does. */
const SECURE_OPTIONS = cryptoConstants.SSL_OP_NO_RENEGOTIATION ?? 0;

const RAW = Symbol('holdfast.raw-socket');
type Wrapped = tls.TLSSocket & { [RAW]?: net.Socket; _releaseControl?: () => boolean };

/** What the options say is wrong with them (shape only; loading the PEM is the terminator's), or null. */
export function checkTlsOptions(value: unknown): string | null {
  if (value === null || typeof value !== 'object') return 'must be an object { cert, key } or { certs: [...] }';
  const o = value as Record<string, unknown>;
  const known = new Set(['cert', 'key', 'ca', 'passphrase', 'certs', 'sni', 'ticketKeys']);
  for (const name of Object.keys(o)) if (!known.has(name) && o[name] !== undefined) return `has an unknown field "${name}" (known: ${[...known].join(', ')})`;
  const hasDefault = o.cert !== undefined || o.key !== undefined;
  if (hasDefault && (!isPem(o.cert) || !isPem(o.key))) return 'needs both cert and key, each PEM text (string or Buffer)';
  if (o.ca !== undefined && !isPem(o.ca)) return 'ca must be PEM text (string or Buffer), or a list of them';
  if (o.passphrase !== undefined && typeof o.passphrase !== 'string') return 'passphrase must be a string';
  if (o.certs !== undefined) {
    if (!Array.isArray(o.certs)) return 'certs must be a list of { servername, cert, key }';
    for (const [i, entry] of (o.certs as unknown[]).entries()) {
      const e = entry as Record<string, unknown> | null;
      if (e === null || typeof e !== 'object' || typeof e.servername !== 'string' || e.servername === '' || !isPem(e.cert) || !isPem(e.key)) {
        return `certs[${i}] must be { servername, cert, key } with a host name and PEM text`;
      }
    }
  }
  if (!hasDefault && (o.certs === undefined || (o.certs as unknown[]).length === 0)) return 'needs a default certificate: cert and key, or at least one entry in certs';
  if (o.sni !== undefined && typeof o.sni !== 'function') return 'sni must be a function (servername) => credentials';
  if (o.ticketKeys !== undefined && (!Buffer.isBuffer(o.ticketKeys) || o.ticketKeys.length !== 48)) return 'ticketKeys must be a Buffer of 48 bytes';
  return null;
}

function isPem(value: unknown): boolean {
  if (typeof value === 'string' || Buffer.isBuffer(value)) return value.length > 0;
  return Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string' || Buffer.isBuffer(v));
}

/** The loaded certificates, swapped whole on reload. */
interface Contexts {
  readonly fallback: tls.SecureContext;
  /** Exact host names (lower case), then `*.suffix` wildcards by suffix (`.example.com`). */
  readonly exact: ReadonlyMap<string, tls.SecureContext>;
  readonly wildcard: ReadonlyMap<string, tls.SecureContext>;
  readonly sni: SniCallback | null;
}

export class TlsTerminator {
  #contexts: Contexts;
  readonly #ticketKeys: Buffer | undefined;
  readonly #sniCallback = (servername: string, done: (error: Error | null, context?: tls.SecureContext) => void): void => {
    this.#select(servername).then(
      (context) => done(null, context),
      // A failing callback fails this handshake only: a tls-error naming it.
      (error: unknown) => done(Object.assign(new Error(`the sni callback failed for ${servername}: ${error instanceof Error ? error.message : String(error)}`), { code: 'ERR_TLS_SNI_CALLBACK' })),
    );
  };

  /** Loads every certificate now: throws (with OpenSSL's reason) when one does not load. */
  constructor(options: TlsOptions) {
    this.#ticketKeys = options.ticketKeys;
    this.#contexts = this.#load(options);
  }

  /** New certificates for new handshakes; throws and keeps the current ones when they do not load. */
  reload(options: TlsOptions): void {
    const problem = checkTlsOptions(options);
    if (problem !== null) throw new TypeError(`holdfast: option tls ${problem}`);
    this.#contexts = this.#load(options);
  }

  /** The server side of TLS over an accepted TCP socket; the handshake starts on the next tick. */
  wrap(raw: net.Socket): tls.TLSSocket {
    const contexts = this.#contexts;
    const hasSni = contexts.exact.size > 0 || contexts.wildcard.size > 0 || contexts.sni !== null;
    const socket = new tls.TLSSocket(raw, {
      isServer: true,
      secureContext: contexts.fallback,
      ALPNProtocols: ALPN_PROTOCOLS,
      SNICallback: hasSni ? this.#sniCallback : undefined,
    }) as Wrapped;
    socket[RAW] = raw;
    return socket;
  }

  #load(options: TlsOptions): Contexts {
    const exact = new Map<string, tls.SecureContext>();
    const wildcard = new Map<string, tls.SecureContext>();
    for (const entry of options.certs ?? []) {
      const name = entry.servername.toLowerCase();
      const context = this.#context(entry, `certs (${entry.servername})`);
      if (name.startsWith('*.')) wildcard.set(name.slice(1), context);
      else exact.set(name, context);
    }
    const fallback =
      options.cert !== undefined && options.key !== undefined
        ? this.#context({ cert: options.cert, key: options.key, ca: options.ca, passphrase: options.passphrase }, 'cert/key')
        : (this.#context(options.certs![0], `certs (${options.certs![0].servername})`));
    return { fallback, exact, wildcard, sni: options.sni ?? null };
  }

  #context(credentials: TlsCredentials, what: string): tls.SecureContext {
    try {
      return tls.createSecureContext({
        cert: credentials.cert as tls.SecureContextOptions['cert'],
        key: credentials.key as tls.SecureContextOptions['key'],
        ca: credentials.ca as tls.SecureContextOptions['ca'],
        passphrase: credentials.passphrase,
        // The server's cipher order, as node's tls.Server and nginx (ssl_prefer_server_ciphers) do.
        honorCipherOrder: true,
        secureOptions: SECURE_OPTIONS,
        sessionIdContext: SESSION_ID_CONTEXT,
        ticketKeys: this.#ticketKeys,
      });
    } catch (error) {
      throw new TypeError(`holdfast: option tls: the ${what} certificate does not load: ${describeTlsError(error)}`);
    }
  }

  async #select(servername: string): Promise<tls.SecureContext> {
    const contexts = this.#contexts;
    const name = servername.toLowerCase();
    const exact = contexts.exact.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf('.');
    const wild = dot > 0 ? contexts.wildcard.get(name.slice(dot)) : undefined;
    if (wild !== undefined) return wild;
    if (contexts.sni !== null) {
      const chosen = await contexts.sni(servername);
      if (chosen !== null && chosen !== undefined) return isSecureContext(chosen) ? chosen : this.#context(chosen, `sni (${servername})`);
    }
    return contexts.fallback;
  }
}

function isSecureContext(value: TlsCredentials | tls.SecureContext): value is tls.SecureContext {
  return (value as tls.SecureContext).context !== undefined && (value as TlsCredentials).cert === undefined;
}

/** After the handshake, node's TLSSocket reports its errors as 'error' events only once released (what tls.Server does). */
export function releaseTlsSocket(socket: net.Socket): void {
  (socket as Wrapped)._releaseControl?.();
}

/** The TCP socket under a TLS socket, or null for a plain one. */
export function rawSocketOf(socket: net.Socket): net.Socket | null {
  return (socket as Wrapped)[RAW] ?? null;
}

export function isTlsSocket(socket: net.Socket): socket is tls.TLSSocket {
  return (socket as tls.TLSSocket).encrypted === true;
}

/** What `connections()` shows of a TLS connection: null fields while the handshake runs. */
export interface TlsInfo {
  /** `TLSv1.3`, `TLSv1.2`… */
  protocol: string | null;
  /** OpenSSL's name of the cipher suite, e.g. `TLS_AES_256_GCM_SHA384`. */
  cipher: string | null;
  /** The host name the client sent (SNI), if any. */
  servername: string | null;
  /** The session was resumed (ticket) rather than fully negotiated. */
  resumed: boolean;
}

export function tlsInfoOf(socket: tls.TLSSocket, established: boolean): TlsInfo {
  if (!established) return { protocol: null, cipher: null, servername: null, resumed: false };
  const cipher = socket.getCipher() as tls.CipherNameAndProtocol | null | undefined;
  const servername = (socket as tls.TLSSocket & { servername?: string | false | null }).servername;
  return {
    protocol: socket.getProtocol() ?? null,
    cipher: cipher?.name ?? null,
    servername: typeof servername === 'string' ? servername : null,
    resumed: socket.isSessionReused(),
  };
}

/** A failure of TLS itself (OpenSSL or node's TLS layer), as opposed to a socket error. */
export interface TlsFailure {
  /** node's code: `ERR_SSL_WRONG_VERSION_NUMBER`, `ERR_SSL_HTTP_REQUEST`… */
  code: string;
  /** OpenSSL's reason (`wrong version number`, `http request`…) or node's message. */
  reason: string;
}

export function tlsFailure(error: NodeJS.ErrnoException & { reason?: unknown; library?: unknown }): TlsFailure | null {
  const code = error.code ?? '';
  if (typeof error.library !== 'string' && !code.startsWith('ERR_SSL_') && !code.startsWith('ERR_TLS_')) return null;
  return { code, reason: typeof error.reason === 'string' && error.reason !== '' ? error.reason : error.message };
}

function describeTlsError(error: unknown): string {
  if (error instanceof Error) {
    const reason = (error as Error & { reason?: unknown }).reason;
    return typeof reason === 'string' && reason !== '' ? reason : error.message;
  }
  return String(error);
}
