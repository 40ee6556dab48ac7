/**
 * `proxy(options)`: a Handler that relays each request to one of its upstreams over a keep-alive
 * pool and streams the answer back (nginx's proxy_pass with upstream keepalive; Go's
 * httputil.ReverseProxy). It composes with serveStatic and other handlers like any Handler.
 *
 * Per request: pick an upstream (./balancer.ts), take a connection (./pool.ts), write the request
 * with clean headers (./hygiene.ts), read the head, stream the body (./relay.ts).
 *
 * What is sent again, and when:
 * - a connect failure (refused, reset, timed out) moves on to the next upstream: nothing was sent;
 * - a request that fails before any response byte arrived — on a reused connection (an upstream
 *   closing it as we wrote: the keep-alive race) or on a new one (an upstream dying) — is sent once
 *   more, on a new connection (to the next upstream when the new one failed), only when it is
 *   idempotent (GET, HEAD, OPTIONS, PUT, DELETE, TRACE, or it carries Idempotency-Key) and its body
 *   can be replayed (none, or one of at most retryBodyBytes, read before sending); never after a
 *   timeout (the upstream may be working on it), never once a response byte arrived.
 * Failures are named: 502 for a refused or reset connection or a broken response, 504 for a
 * connect, header or read timeout, 503 when the connection queue is full or timed out; each with
 * an `upstream-error` event naming the upstream and the phase. A failure after the head aborts the
 * client connection. A client that goes away before the head came (at the moment `req.signal`
 * aborts: its connection closed, or its FIN after the whole request, as nginx and Go's
 * ReverseProxy take it) ends the attempt at once: its upstream connection closes as `client-gone`
 * (never pooled), nothing is retried, and the answer is nginx's 499 (for the log: the client is gone).
 * A client whose streamed body fails (it broke framing, or its body source threw) is answered with
 * that body's own error (a 400 or 413 the server already sent; a 500 for anything else); the
 * upstream connection closes, and it counts as no upstream's failure: it marks none down.
 *
 * The upstream gets the request-target in origin-form: an absolute-form one's path and query, its
 * authority standing for Host (RFC 9112 §3.2.2); one naming no valid host is answered 400.
 * X-Forwarded-Proto is `https` on a TLS connection. Trailers are relayed both ways where the
 * message they end is chunked on both hops (a chunked body to an HTTP/1.1 client; a chunked
 * request body), cleaned as headers are (./hygiene.ts); otherwise dropped (RFC 9110 §6.5.1).
 *
 * `Upgrade` requests (WebSocket) are tunnelled on a connection of their own: the upstream's 101 is
 * relayed (the server writes it with the upstream's Upgrade), then bytes flow both ways until either
 * side closes, or no byte moved either way for readTimeoutMs (nginx's proxy_read_timeout on an
 * upgraded connection: both sides closed, an `upstream-error` with phase `tunnel` and code
 * `idle-timeout`); the client connection closes as `upgraded`, the upstream one as `tunnelled`.
 *
 * Request bodies count against the server's maxBodyBytes (1 MiB by default, as nginx's
 * client_max_body_size): raise it on the server for uploads. They are streamed, so memory stays
 * bounded whatever the limit.
 */

import { EventEmitter } from 'node:events';
import net from 'node:net';
import { parseContentLengths } from '../http1/framing.js';
import { ResponseParser, type ResponseHead } from '../http1/response-parser.js';
import { HttpError, type Handler, type HttpRequest, type HttpResponse } from '../handlers/types.js';
import { watchClientGone } from '../server/request.js';
import { Balancer, Upstream } from './balancer.js';
import { attachProxyLogger, type ProxyEvents, type UpstreamPhase } from './events.js';
import { absoluteTarget, clientResponseHeaders, isRetryable, relayedTrailers, upstreamLastChunk, upstreamRequestHead, type AbsoluteTarget, type RequestBodyFraming } from './hygiene.js';
import { resolveProxyOptions, type ProxyOptions, type ResolvedProxyOptions } from './options.js';
import { PoolError, UpstreamPool, type PoolStats } from './pool.js';
import { Attempt, RelayBody, UpstreamFailure, tunnel, type OutgoingBody } from './relay.js';
import { connectOptions } from './target.js';

export interface ProxyHandler extends Handler {
  /** upstream-open, upstream-close, upstream-error, upstream-health. */
  readonly events: EventEmitter<ProxyEvents>;
  readonly options: Readonly<ResolvedProxyOptions>;
  /** Per upstream: idle, active, waiting, opened, reused, retried, failed, outstanding. */
  stats(): PoolStats[];
  /** Stops health checks and closes idle connections; resolves once every upstream connection is closed and its log lines are written. */
  close(): Promise<void>;
}

/** How long close() waits for a blocked log sink, as the server's close (server.ts). */
const LOG_FLUSH_TIMEOUT_MS = 2_000;

const NO_BODY: OutgoingBody = Object.freeze({ kind: 'none' });
const NONE: RequestBodyFraming = Object.freeze({ kind: 'none' });
const CHUNKED: RequestBodyFraming = Object.freeze({ kind: 'chunked' });

/**
 * How the client's request body is framed (the server has validated it: RFC 9112 §6.3), and whether
 * it asks for a protocol upgrade (RFC 9110 §7.8: Upgrade, named in Connection, HTTP/1.1 only); one
 * pass over its fields (lower-cased names: no per-call case folding).
 */
function requestFacts(req: HttpRequest): { framing: RequestBodyFraming; upgrade: boolean } {
  const headers = req.headers;
  let chunked = false;
  let lengths: string[] | null = null;
  let upgrade = false;
  let connection: string | undefined;
  for (let i = 0; i < headers.size; i++) {
    const name = headers.nameAt(i);
    if (name === 'transfer-encoding') chunked = true;
    else if (name === 'content-length') (lengths ??= []).push(headers.valueAt(i));
    else if (name === 'upgrade') upgrade = true;
    else if (name === 'connection') connection = connection === undefined ? headers.valueAt(i) : `${connection}, ${headers.valueAt(i)}`;
  }
  let framing = NONE;
  if (chunked) framing = CHUNKED;
  else if (lengths !== null) {
    const parsed = parseContentLengths(lengths);
    if (typeof parsed !== 'string' && parsed.length > 0) framing = { kind: 'length', length: parsed.length };
  }
  upgrade &&= req.version === '1.1' && connection !== undefined && /(?:^|,)\s*upgrade\s*(?:,|$)/i.test(connection);
  return { framing, upgrade };
}

const STATUS_TEXT: Record<number, string> = { 502: '502 Bad Gateway', 503: '503 Service Unavailable', 504: '504 Gateway Timeout' };

/**
 * What a handler whose client went away answers: nginx's 499 "client closed request", for the log
 * (a client that only half-closed may still read it; Go's ReverseProxy answers 502 there).
 */
const CLIENT_GONE = new HttpError(499, 'client closed request');

/** An absolute-form request-target whose authority is no host (RFC 9110 §4.2.1: rejected as invalid). */
const NO_HOST = new HttpError(400, 'the request-target names no valid host', Object.freeze({ connection: 'close' }));

/** The request's absolute-form target (null for the other forms); throws NO_HOST. */
function absoluteTargetOf(req: HttpRequest): AbsoluteTarget | null {
  const absolute = absoluteTarget(req.target);
  if (absolute === 'invalid') throw NO_HOST;
  return absolute;
}

/**
 * attempt.run(), with the attempt told at once when the client goes away (watchClientGone: no
 * AbortSignal listener per request; `req.signal` for a request this server did not build). The
 * watch outlives the head harmlessly: clientGone() then does nothing, the body's return() acts.
 */
function runWatched(req: HttpRequest, attempt: Attempt, fresh: boolean): Promise<ResponseHead> {
  const running = attempt.run(fresh);
  const watch = watchClientGone(req, attempt);
  if (watch === 'gone') attempt.clientGone();
  else if (watch === 'unsupported') {
    const signal = req.signal;
    if (signal.aborted) attempt.clientGone();
    else signal.addEventListener('abort', () => attempt.clientGone(), { once: true });
  }
  return running;
}

/** The pieces of a body that came whole, as a stream (so trailers can follow it). */
async function* wholeBody(pieces: Buffer[]): AsyncGenerator<Uint8Array> {
  yield* pieces;
}

function statusFor(phase: UpstreamPhase, code: string): number {
  if (phase === 'queue') return 503;
  return code === 'timeout' ? 504 : 502;
}

export function proxy(options: ProxyOptions): ProxyHandler {
  const resolved = resolveProxyOptions(options);
  const events = new EventEmitter<ProxyEvents>();
  const logger = attachProxyLogger(events, resolved.log, resolved.logSink);
  const upstreams = resolved.upstreams.map((target) => new Upstream(new UpstreamPool(target, resolved, events)));
  const balancer = new Balancer(upstreams, resolved.balance, resolved.maxFails, resolved.failTimeoutMs, events);
  const timeouts = { readTimeoutMs: resolved.readTimeoutMs, sendTimeoutMs: resolved.sendTimeoutMs };
  let closed = false;

  /** Counts and reports a failed attempt; the status the client gets (meaningless when retried or mid-body). */
  const fail = (upstream: Upstream | null, phase: UpstreamPhase, code: string, req: HttpRequest, retried: boolean): number => {
    const status = statusFor(phase, code);
    if (upstream !== null && !retried) upstream.pool.stats.failed++;
    const answered = retried || phase === 'body' ? null : status;
    events.emit('upstream-error', { upstream: upstream?.name ?? 'none', phase, code, method: req.method, target: req.target, status: answered, retried });
    return status;
  };

  const headFor = (req: HttpRequest, absolute: AbsoluteTarget | null, upstream: Upstream, body: RequestBodyFraming, tunnelled: boolean): string => {
    const peer = req.connection.remoteAddress;
    return upstreamRequestHead(req.method, absolute === null ? req.target : absolute.originForm, {
      headers: req.headers,
      targetAuthority: absolute === null ? null : absolute.authority,
      peerAddress: peer,
      trustedPeer: resolved.trustedProxies.has(peer),
      proto: req.connection.tls ? 'https' : 'http',
      upstreamAuthority: upstream.pool.target.authority,
      preserveHost: resolved.preserveHost,
      body,
      tunnel: tunnelled,
    });
  };

  async function relay(req: HttpRequest): Promise<HttpResponse> {
    if (closed) throw new HttpError(503, STATUS_TEXT[503]);
    const absolute = absoluteTargetOf(req);
    const { framing, upgrade } = requestFacts(req);
    if (upgrade && framing.kind === 'none') return openTunnel(req, absolute);
    let body: OutgoingBody = NO_BODY;
    if (framing.kind === 'length' && framing.length <= resolved.retryBodyBytes) body = { kind: 'buffered', bytes: await req.body.bytes() };
    else if (framing.kind !== 'none') {
      const source = req.body;
      body = { kind: 'stream', source, chunked: framing.kind === 'chunked', endChunk: () => upstreamLastChunk(source.trailers, req.headers), pulled: false };
    }
    const sentFraming: RequestBodyFraming = body.kind === 'buffered' ? { kind: 'length', length: body.bytes.length } : framing;
    const retryable = isRetryable(req.method, req.headers);

    let tried: Set<Upstream> | null = null;
    let upstream = balancer.pick(null);
    let resent = false;
    let fresh = false;
    for (;;) {
      if (upstream === null) throw new HttpError(502, STATUS_TEXT[502]);
      const pool = upstream.pool;
      const attempt = new Attempt(pool, req.method, headFor(req, absolute, upstream, sentFraming, false), body, timeouts);
      let head;
      try {
        head = await runWatched(req, attempt, fresh);
        if (head.status === 101) throw attempt.abort('headers', 'unexpected-101');
      } catch (error) {
        if (error instanceof PoolError) {
          if (error.phase === 'connect') {
            balancer.failed(upstream, `connect ${error.code}`);
            (tried ??= new Set()).add(upstream);
            const next = balancer.pick(tried);
            const status = fail(upstream, 'connect', error.code, req, next !== null);
            if (next === null) throw new HttpError(status, STATUS_TEXT[status]);
            upstream = next;
            fresh = false;
            continue;
          }
          throw new HttpError(fail(upstream, 'queue', error.code, req, false), STATUS_TEXT[503]);
        }
        if (!(error instanceof UpstreamFailure)) {
          attempt.abort('send', 'internal');
          throw error;
        }
        if (error.code === 'client-gone') throw CLIENT_GONE;
        if (!attempt.ended) attempt.abort(error.phase, error.code);
        if (error.code === 'client-body') throw attempt.clientBodyError;
        // A response the proxy cannot relay (an unknown transfer coding) is that URL's, not a sign the upstream is down (nginx counts only errors and timeouts toward max_fails).
        if (error.code === 'timeout') balancer.failed(upstream, `${error.phase} timeout`);
        else if (!attempt.reused && error.code !== 'unknown-transfer-encoding') balancer.failed(upstream, `${error.phase} ${error.code}`);
        const replayable = body.kind !== 'stream' || !body.pulled;
        if (!resent && retryable && replayable && error.beforeResponse && error.code !== 'timeout') {
          resent = true;
          pool.stats.retried++;
          fail(upstream, error.phase, error.code, req, true);
          if (!attempt.reused) {
            (tried ??= new Set()).add(upstream);
            upstream = balancer.pick(tried) ?? upstream;
          }
          fresh = true;
          continue;
        }
        const status = fail(upstream, error.phase, error.code, req, false);
        throw new HttpError(status, STATUS_TEXT[status]);
      }
      balancer.succeeded(upstream);
      return respond(req, upstream, attempt, head);
    }
  }

  function respond(req: HttpRequest, upstream: Upstream, attempt: Attempt, head: ResponseHead): HttpResponse {
    // Trailers can follow only a chunked body, and only an HTTP/1.1 client gets one.
    const trailers = head.framing.kind === 'chunked' && req.version === '1.1';
    const headers = clientResponseHeaders(head.headers, head.framing, false, head.connection, trailers);
    if (attempt.complete && (attempt.trailers === null || !trailers)) {
      const pieces = attempt.pieces;
      return { status: head.status, headers, body: pieces.length === 0 ? null : pieces.length === 1 ? pieces[0] : Buffer.concat(pieces) };
    }
    const body = attempt.complete ? wholeBody(attempt.pieces) : new RelayBody(attempt, (failure) => fail(upstream, failure.phase, failure.code, req, false));
    if (!trailers) return { status: head.status, headers, body };
    return { status: head.status, headers, body, trailers: () => (attempt.trailers === null ? null : relayedTrailers(attempt.trailers, head.connection)) };
  }

  async function openTunnel(req: HttpRequest, absolute: AbsoluteTarget | null): Promise<HttpResponse> {
    const upstream = balancer.pick(null);
    if (upstream === null) throw new HttpError(502, STATUS_TEXT[502]);
    const attempt = new Attempt(upstream.pool, req.method, headFor(req, absolute, upstream, NONE, true), NO_BODY, timeouts);
    let head;
    try {
      head = await runWatched(req, attempt, true);
    } catch (error) {
      if (error instanceof PoolError) {
        if (error.phase === 'connect') balancer.failed(upstream, `connect ${error.code}`);
        const status = fail(upstream, error.phase, error.code, req, false);
        throw new HttpError(status, STATUS_TEXT[status]);
      }
      if (!(error instanceof UpstreamFailure)) throw error;
      if (error.code === 'client-gone') throw CLIENT_GONE;
      if (!attempt.ended) attempt.abort(error.phase, error.code);
      const status = fail(upstream, error.phase, error.code, req, false);
      throw new HttpError(status, STATUS_TEXT[status]);
    }
    if (head.status !== 101) return respond(req, upstream, attempt, head);
    const upstreamHead = attempt.connection.parser.takeBuffered();
    const headers = clientResponseHeaders(head.headers, head.framing, true, head.connection);
    if (headers.upgrade === undefined) headers.upgrade = req.headers.get('upgrade') ?? '';
    const socket = attempt.handOff();
    return {
      status: 101,
      headers,
      upgrade: (client, clientHead) =>
        tunnel(client, clientHead, socket, upstreamHead, resolved.readTimeoutMs, () =>
          events.emit('upstream-error', { upstream: upstream.name, phase: 'tunnel', code: 'idle-timeout', method: req.method, target: req.target, status: null, retried: false }),
        ),
    };
  }

  let healthTimer: NodeJS.Timeout | null = null;
  if (resolved.healthCheckPath !== null) {
    const path = resolved.healthCheckPath;
    const run = (): void => {
      for (const upstream of upstreams) {
        void checkHealth(upstream, path, Math.min(resolved.connectTimeoutMs, resolved.healthCheckIntervalMs)).then(({ healthy, why }) => {
          if (!closed) balancer.checked(upstream, healthy, why);
        });
      }
    };
    healthTimer = setInterval(run, resolved.healthCheckIntervalMs);
    healthTimer.unref();
    run();
  }

  const handler = relay as ProxyHandler;
  Object.defineProperties(handler, {
    events: { value: events },
    options: { value: resolved },
  });
  handler.stats = () => upstreams.map((u) => u.pool.snapshot());
  handler.close = async () => {
    closed = true;
    if (healthTimer !== null) clearInterval(healthTimer);
    for (const upstream of upstreams) upstream.pool.close();
    while (upstreams.some((u) => u.pool.openConnections > 0)) await new Promise((resolve) => events.once('upstream-close', resolve));
    await logger.close(LOG_FLUSH_TIMEOUT_MS);
  };
  return handler;
}

/** One active health check: `GET path` on a connection of its own; 2xx or 3xx within `timeoutMs` is healthy. */
function checkHealth(upstream: Upstream, path: string, timeoutMs: number): Promise<{ healthy: boolean; why: string }> {
  const target = upstream.pool.target;
  return new Promise((resolve) => {
    const socket = net.connect(connectOptions(target));
    const parser = new ResponseParser();
    parser.expectResponseTo('GET');
    let settled = false;
    const settle = (healthy: boolean, why: string): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve({ healthy, why });
    };
    socket.setTimeout(timeoutMs, () => settle(false, `health check ${path}: no answer within ${timeoutMs} ms`));
    socket.on('error', (error: NodeJS.ErrnoException) => settle(false, `health check ${path}: ${error.code ?? error.message}`));
    socket.on('close', () => settle(false, `health check ${path}: connection closed`));
    socket.on('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: ${target.authority}\r\nUser-Agent: holdfast-health-check\r\nConnection: close\r\n\r\n`, 'latin1'));
    socket.on('data', (chunk: Buffer) => {
      parser.feed(chunk);
      const event = parser.next();
      if (event.kind === 'head' && !event.head.interim) {
        const status = event.head.status;
        settle(status >= 200 && status < 400, `health check ${path}: ${status}`);
      } else if (event.kind === 'error') {
        settle(false, `health check ${path}: ${event.error.code}`);
      }
    });
  });
}
