/**
 * Header hygiene at the proxy (RFC 9110 §7.6), pure: what crosses from the client to the upstream
 * and back.
 *
 * Both directions drop the connection-specific fields first — every field named in `Connection`
 * (§7.6.1) and the hop-by-hop ones whether named or not: Connection, Keep-Alive, Proxy-Connection,
 * TE, Transfer-Encoding, Upgrade (kept when tunnelling), Proxy-Authenticate, Proxy-Authorization —
 * and only then add the proxy's own, so a client that names `X-Forwarded-For` in `Connection`
 * removes its own copy, never ours. Host is never dropped that way (it identifies the resource).
 *
 * Upstream request: the client's Host kept (or the upstream's authority); `TE: trailers` kept when
 * the client sent it (§10.1.4); `Expect` dropped (100-continue is answered by holdfast itself,
 * hop-local); framing fields set from the body being sent; X-Forwarded-For appended to (trusted
 * peer) or replaced, X-Forwarded-Proto/-Host kept only from a trusted peer, else set;
 * `Via: 1.1 holdfast` appended (§7.6.3).
 *
 * Client response: the upstream's fields less the connection-specific ones and its framing
 * (Content-Length passes through where the body's length is that length, or for HEAD/304) and
 * `Trailer` (trailers are not relayed: the body is re-framed by the server), plus Via. Connection and Keep-Alive toward the client are decided by holdfast's keep-alive function
 * alone: an upstream's `Connection: close` never reaches the client.
 */

import type { HeaderMap } from '../http1/header-map.js';
import { splitList } from '../http1/header-map.js';
import type { ReceivedFraming } from '../http1/response-parser.js';
import type { ResponseHeaders } from '../http1/serializer.js';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'transfer-encoding', 'upgrade', 'proxy-authenticate', 'proxy-authorization']);
/** Rebuilt by the proxy on the way up. */
const REQUEST_REBUILT = new Set(['content-length', 'expect', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'via', 'host']);
export const VIA = '1.1 holdfast';

/** The lower-cased names listed in every Connection field line (RFC 9110 §7.6.1). */
function connectionOptions(headers: HeaderMap): Set<string> | null {
  let named: Set<string> | null = null;
  for (let i = 0; i < headers.size; i++) {
    if (headers.nameAt(i) !== 'connection') continue;
    for (const token of splitList(headers.valueAt(i))) if (token !== '') (named ??= new Set()).add(token);
  }
  return named;
}

export type RequestBodyFraming = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' };

export interface UpstreamRequestFacts {
  headers: HeaderMap;
  /** The client's address (the socket's peer). */
  peerAddress: string;
  /** The peer is a configured trusted proxy: its X-Forwarded-* fields are believed. */
  trustedPeer: boolean;
  /** The scheme the client used to reach holdfast. */
  proto: 'http' | 'https';
  /** Host to send when the client sent none or preserveHost is off. */
  upstreamAuthority: string;
  preserveHost: boolean;
  body: RequestBodyFraming;
  /** Keep Upgrade and send `Connection: upgrade` (a tunnel is being asked for). */
  tunnel: boolean;
}

/** The upstream request's fields, names and values interleaved, for serializeRequestHead. */
export function upstreamRequestFields(facts: UpstreamRequestFacts): string[] {
  const headers = facts.headers;
  const named = connectionOptions(headers);
  const out: string[] = [];
  let host: string | undefined;
  let forwardedFor: string | undefined;
  let forwardedProto: string | undefined;
  let forwardedHost: string | undefined;
  let via: string | undefined;
  let teTrailers = false;
  let upgrade: string | undefined;
  for (let i = 0; i < headers.size; i++) {
    const name = headers.nameAt(i);
    const value = headers.valueAt(i);
    if (name === 'host') {
      host ??= value;
      continue;
    }
    if (HOP_BY_HOP.has(name) || (named !== null && named.has(name))) {
      if (name === 'te') teTrailers ||= splitList(value).some((t) => t === 'trailers' || t.startsWith('trailers;'));
      else if (name === 'upgrade') upgrade = upgrade === undefined ? value : `${upgrade}, ${value}`;
      continue;
    }
    if (REQUEST_REBUILT.has(name)) {
      if (name === 'x-forwarded-for') forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
      else if (name === 'x-forwarded-proto') forwardedProto ??= value;
      else if (name === 'x-forwarded-host') forwardedHost ??= value;
      else if (name === 'via') via = via === undefined ? value : `${via}, ${value}`;
      continue;
    }
    out.push(name, value);
  }
  out.unshift('host', facts.preserveHost && host !== undefined ? host : facts.upstreamAuthority);
  const body = facts.body;
  if (body.kind === 'length') out.push('content-length', String(body.length));
  else if (body.kind === 'chunked') out.push('transfer-encoding', 'chunked');
  const trusted = facts.trustedPeer;
  const peer = facts.peerAddress;
  out.push('x-forwarded-for', trusted && forwardedFor !== undefined ? `${forwardedFor}, ${peer}` : peer);
  out.push('x-forwarded-proto', trusted && forwardedProto !== undefined ? forwardedProto : facts.proto);
  const clientHost = trusted && forwardedHost !== undefined ? forwardedHost : host;
  if (clientHost !== undefined) out.push('x-forwarded-host', clientHost);
  out.push('via', via === undefined ? VIA : `${via}, ${VIA}`);
  if (facts.tunnel && upgrade !== undefined) {
    out.push('connection', 'upgrade', 'upgrade', upgrade);
  } else if (teTrailers) {
    out.push('connection', 'te', 'te', 'trailers');
  }
  return out;
}

/**
 * The client response's fields from the upstream's. `framing` is how the upstream delimited its
 * body; `tunnel` keeps Upgrade (a 101 being relayed).
 */
export function clientResponseHeaders(headers: HeaderMap, framing: ReceivedFraming, tunnel: boolean): ResponseHeaders {
  const named = connectionOptions(headers);
  const out: Record<string, string | string[]> = {};
  // Content-Length describes the body only when the upstream framed it by length (or for HEAD/304).
  const keepLength = framing.kind === 'length' || framing.kind === 'none';
  let via: string | undefined;
  for (let i = 0; i < headers.size; i++) {
    const name = headers.nameAt(i);
    const value = headers.valueAt(i);
    if (HOP_BY_HOP.has(name) || (named !== null && named.has(name))) {
      if (tunnel && name === 'upgrade') out.upgrade = value;
      continue;
    }
    if (name === 'content-length') {
      if (keepLength) out[name] = value;
      continue;
    }
    if (name === 'trailer') continue;
    if (name === 'via') {
      via = via === undefined ? value : `${via}, ${value}`;
      continue;
    }
    const existing = out[name];
    if (existing === undefined) out[name] = value;
    else if (typeof existing === 'string') out[name] = [existing, value];
    else existing.push(value);
  }
  out.via = via === undefined ? VIA : `${via}, ${VIA}`;
  return out;
}

/** Methods that may be sent twice with the effect of once (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** Whether a request may be retried after it failed before any response byte arrived. */
export function isRetryable(method: string, headers: HeaderMap): boolean {
  return IDEMPOTENT.has(method) || headers.has('idempotency-key');
}
