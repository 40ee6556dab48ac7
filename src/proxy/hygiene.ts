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
 * Upstream request: always in origin-form — an absolute-form request-target's path and query, its
 * authority standing for the Host field (RFC 9112 §3.2.2, as nginx sends it) — with the client's
 * Host kept (or the upstream's authority); `TE: trailers` kept when
 * the client sent it (§10.1.4); `Expect` dropped (100-continue is answered by holdfast itself,
 * hop-local); framing fields set from the body being sent; X-Forwarded-For appended to (trusted
 * peer) or replaced, X-Forwarded-Proto/-Host kept only from a trusted peer, else set;
 * `Via: 1.1 holdfast` appended (§7.6.3).
 *
 * Client response: the upstream's fields less the connection-specific ones and its framing
 * (Content-Length passes through where the body's length is that length, or for HEAD/304), plus
 * Via; `Trailer` (§6.6.2) only when the trailers themselves are relayed (a chunked body to an
 * HTTP/1.1 client). Connection and Keep-Alive toward the client are decided by holdfast's
 * keep-alive function alone: an upstream's `Connection: close` never reaches the client.
 *
 * Transfer codings from the upstream (RFC 9112 §6.1, §7): the proxy decodes chunked and re-frames
 * the body for the client, but Transfer-Encoding is hop-by-hop, so any other coding would reach the
 * client as bytes it cannot know are coded. A response whose Transfer-Encoding is anything but
 * `chunked` alone is not relayed (relayableTransferCoding); nginx answers 502 "upstream sent
 * unknown Transfer-Encoding" for the same.
 *
 * Trailer sections, both ways (§6.5, §7.6.1): the same cleaning as the header section — less the
 * hop-by-hop fields and those the message's Connection named (the fields a trailer may never carry
 * are dropped by the serializer's lastChunkWithTrailers).
 */

import { HeaderMap, splitList } from '../http1/header-map.js';
import { authorityEnd, isValidHost } from '../http1/parser.js';
import type { ReceivedFraming } from '../http1/response-parser.js';
import { flatten, lastChunkWithTrailers, serializeRequestHead, type ResponseHeaders } from '../http1/serializer.js';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'transfer-encoding', 'upgrade', 'proxy-authenticate', 'proxy-authorization']);
/** Rebuilt by the proxy on the way up. */
const REQUEST_REBUILT = new Set(['content-length', 'expect', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'via', 'host']);
export const VIA = '1.1 holdfast';

/** The field's values joined with ", " (RFC 9110 §5.3), or undefined: `name` lower-case, as HeaderMap keeps names (no case folding per call). */
export function fieldValue(headers: HeaderMap, name: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < headers.size; i++) if (headers.nameAt(i) === name) value = value === undefined ? headers.valueAt(i) : `${value}, ${headers.valueAt(i)}`;
  return value;
}

/** The lower-cased names listed in every Connection field line (RFC 9110 §7.6.1). */
export function connectionOptions(headers: HeaderMap): Set<string> | null {
  let named: Set<string> | null = null;
  for (let i = 0; i < headers.size; i++) {
    if (headers.nameAt(i) !== 'connection') continue;
    for (const token of splitList(headers.valueAt(i))) if (token !== '') (named ??= new Set()).add(token);
  }
  return named;
}

/**
 * The response's Transfer-Encoding is absent or exactly `chunked` (one coding in all its lines,
 * RFC 9110 §5.6.1: empty elements ignored): what the proxy can relay faithfully.
 */
export function relayableTransferCoding(headers: HeaderMap): boolean {
  let codings = 0;
  for (let i = 0; i < headers.size; i++) {
    if (headers.nameAt(i) !== 'transfer-encoding') continue;
    for (const coding of splitList(headers.valueAt(i))) {
      if (coding === '') continue;
      if (coding !== 'chunked' || ++codings > 1) return false;
    }
  }
  return true;
}

/** An absolute-form request-target as it goes upstream: its origin-form and the authority it names. */
export interface AbsoluteTarget {
  /** Path and query; "/" for an empty path (RFC 9112 §3.2.1). */
  originForm: string;
  authority: string;
}

const ABSOLUTE_FORM = /^https?:\/\//i;

/**
 * An absolute-form request-target (RFC 9112 §3.2.2) split into the origin-form sent upstream and
 * its authority, which a server uses instead of the Host field; null for any other form; 'invalid'
 * when its authority is no host (empty, or not Host's syntax: RFC 9110 §4.2.1, §7.2).
 */
export function absoluteTarget(target: string): AbsoluteTarget | null | 'invalid' {
  const first = target.charCodeAt(0);
  if (first === 0x2f || first === 0x2a || !ABSOLUTE_FORM.test(target)) return null;
  const authorityStart = target.indexOf('//') + 2;
  const end = authorityEnd(target, authorityStart);
  const authority = target.slice(authorityStart, end);
  if (end === authorityStart || authority.charCodeAt(0) === 0x3a || !isValidHost(authority)) return 'invalid';
  return { originForm: target.charCodeAt(end) === 0x2f ? target.slice(end) : `/${target.slice(end)}`, authority };
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
  /** The authority of an absolute-form request-target: it stands for the client's Host (RFC 9112 §3.2.2). */
  targetAuthority: string | null;
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
  if (facts.targetAuthority !== null) host = facts.targetAuthority;
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

/** The last upstream request head built, and what it was built from. */
interface BuiltHead {
  method: string;
  target: string;
  /** The client's fields, names and values interleaved. */
  fields: string[];
  facts: UpstreamRequestFacts;
  bodyLength: number;
  head: string;
  flat: boolean;
}
let lastHead: BuiltHead | null = null;

function isLastHead(last: BuiltHead, method: string, target: string, facts: UpstreamRequestFacts): boolean {
  const was = last.facts;
  const body = facts.body;
  if (method !== last.method || target !== last.target || body.kind !== was.body.kind || (body.kind === 'length' && body.length !== last.bodyLength)) return false;
  if (facts.peerAddress !== was.peerAddress || facts.trustedPeer !== was.trustedPeer || facts.proto !== was.proto || facts.tunnel !== was.tunnel) return false;
  if (facts.upstreamAuthority !== was.upstreamAuthority || facts.preserveHost !== was.preserveHost || facts.targetAuthority !== was.targetAuthority) return false;
  const headers = facts.headers;
  const fields = last.fields;
  if (headers.size * 2 !== fields.length) return false;
  for (let i = 0; i < headers.size; i++) if (headers.nameAt(i) !== fields[2 * i] || headers.valueAt(i) !== fields[2 * i + 1]) return false;
  return true;
}

/**
 * The upstream request head (RFC 9112 §3, §5) for the client's request: upstreamRequestFields,
 * serialized. The same request from the same peer recurs (a client polling, a load test): the
 * last head built is reused, flattened once (a string built by `+` is a tree walked on every write).
 */
export function upstreamRequestHead(method: string, target: string, facts: UpstreamRequestFacts): string {
  const last = lastHead;
  if (last !== null && isLastHead(last, method, target, facts)) {
    if (!last.flat) {
      last.head = flatten(last.head);
      last.flat = true;
    }
    return last.head;
  }
  const head = serializeRequestHead(method, target, upstreamRequestFields(facts));
  const headers = facts.headers;
  const fields: string[] = [];
  for (let i = 0; i < headers.size; i++) fields.push(headers.nameAt(i), headers.valueAt(i));
  lastHead = { method, target, fields, facts: { ...facts, headers: EMPTY_MAP }, bodyLength: facts.body.kind === 'length' ? facts.body.length : 0, head, flat: false };
  return head;
}

const EMPTY_MAP = new HeaderMap();

/**
 * The client response's fields from the upstream's. `framing` is how the upstream delimited its
 * body; `tunnel` keeps Upgrade (a 101 being relayed); `named`: the tokens of its Connection fields,
 * when the caller has them (the response parser's); `trailers`: its trailers will be relayed (keep
 * `Trailer`).
 */
export function clientResponseHeaders(
  headers: HeaderMap,
  framing: ReceivedFraming,
  tunnel: boolean,
  named: ReadonlySet<string> | null = connectionOptions(headers),
  trailers = false,
): ResponseHeaders {
  const out: Record<string, string | string[]> = {};
  // Content-Length describes the body only when the upstream framed it by length (or for HEAD/304).
  const keepLength = framing.kind === 'length' || framing.kind === 'none';
  let via: string | undefined;
  for (let i = 0; i < headers.size; i++) {
    const name = headers.nameAt(i);
    const value = headers.valueAt(i);
    if (HOP_BY_HOP.has(name) || (named !== null && named.size > 0 && named.has(name))) {
      if (tunnel && name === 'upgrade') out.upgrade = value;
      continue;
    }
    if (name === 'content-length') {
      if (keepLength) out[name] = value;
      continue;
    }
    if (name === 'trailer' && !trailers) continue;
    if (name === 'via') {
      via = via === undefined ? value : `${via}, ${value}`;
      continue;
    }
    appendField(out, name, value);
  }
  out.via = via === undefined ? VIA : `${via}, ${VIA}`;
  return out;
}

/**
 * Adds a field line to a headers record: a repeated name becomes a list (RFC 9110 §5.3). The record
 * is a plain object (fast properties for the serializer's for…in): `constructor` and `__proto__`,
 * the lower-case names Object.prototype also has, are read and defined as own properties only.
 */
function appendField(out: Record<string, string | string[]>, name: string, value: string): void {
  const existing = (name === 'constructor' || name === '__proto__') && !Object.hasOwn(out, name) ? undefined : out[name];
  if (existing !== undefined && typeof existing !== 'string') existing.push(value);
  else if (name === '__proto__') Object.defineProperty(out, name, { value: existing === undefined ? value : [existing, value], writable: true, enumerable: true, configurable: true });
  else out[name] = existing === undefined ? value : [existing, value];
}

/**
 * A trailer section as it crosses the proxy: less the hop-by-hop fields and those `named` in its
 * message's Connection (RFC 9110 §6.5, §7.6.1); null when nothing is left.
 */
export function relayedTrailers(trailers: HeaderMap, named: ReadonlySet<string> | null): ResponseHeaders | null {
  let out: Record<string, string | string[]> | null = null;
  for (let i = 0; i < trailers.size; i++) {
    const name = trailers.nameAt(i);
    if (HOP_BY_HOP.has(name) || (named !== null && named.has(name))) continue;
    const value = trailers.valueAt(i);
    out ??= {};
    appendField(out, name, value);
  }
  return out;
}

/** The last chunk of a chunked request body going upstream, with the client's trailers cleaned (RFC 9112 §7.1.2). */
export function upstreamLastChunk(trailers: HeaderMap | null, requestHeaders: HeaderMap): string {
  const relayed = trailers === null ? null : relayedTrailers(trailers, connectionOptions(requestHeaders));
  return lastChunkWithTrailers(relayed ?? {});
}

/** Methods that may be sent twice with the effect of once (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** Whether a request may be retried after it failed before any response byte arrived. */
export function isRetryable(method: string, headers: HeaderMap): boolean {
  return IDEMPOTENT.has(method) || headers.has('idempotency-key');
}
