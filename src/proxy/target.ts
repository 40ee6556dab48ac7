/**
 * Where an upstream is: `http://host[:port]` (TCP, port 80 by default; IPv6 in brackets) or
 * `unix:/absolute/path.sock`. Only the origin: no path, query, userinfo or fragment (the request's
 * own target is sent as received). `https:` is refused: upstreams speak HTTP/1.1 in clear.
 */

import type { NetConnectOpts } from 'node:net';

export type UpstreamTarget =
  | { kind: 'tcp'; host: string; port: number; /** `host:port` as written in Host and logs. */ authority: string; name: string }
  | { kind: 'unix'; path: string; authority: string; name: string };

/** The target, or what is wrong with the text. */
export function parseUpstream(text: string): UpstreamTarget | string {
  if (typeof text !== 'string') return 'must be a string such as http://127.0.0.1:3000';
  if (text.startsWith('unix:')) {
    const path = text.slice(5);
    if (!path.startsWith('/')) return 'a unix socket upstream is unix:/absolute/path';
    return { kind: 'unix', path, authority: 'localhost', name: text };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'not a URL such as http://127.0.0.1:3000';
  }
  if (url.protocol !== 'http:') return `only http: upstreams are supported (HTTP/1.1 over TCP); got ${url.protocol}`;
  if (url.username !== '' || url.password !== '') return 'userinfo is not allowed';
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') return 'give the origin only (no path, query or fragment)';
  const port = url.port === '' ? 80 : Number(url.port);
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { kind: 'tcp', host, port, authority: url.host, name: `${url.hostname}:${port}` };
}

export function connectOptions(target: UpstreamTarget): NetConnectOpts {
  return target.kind === 'tcp' ? { host: target.host, port: target.port, noDelay: true } : { path: target.path };
}
