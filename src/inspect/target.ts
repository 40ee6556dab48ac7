/**
 * The one server `holdfast inspect` may contact, from its URL: `http://`, or `https://` (HTTP/1.1
 * over TLS, default port 443, the host name sent as SNI unless it is an IP address). The request
 * target is the URL's path and query in origin-form, the Host field its authority (RFC 9112 §3.2).
 */

import net from 'node:net';

export interface Target {
  /** The URL as given, normalised by WHATWG URL parsing. */
  url: string;
  /** Host name or IP literal without brackets, for node:net. */
  host: string;
  port: number;
  /** origin-form request-target: path and query. */
  requestTarget: string;
  /** Value of the Host field: host[:port] as in the URL. */
  hostHeader: string;
  /** https://: TLS, with this SNI name (null for an IP address). */
  tls: { servername: string | null } | null;
}

export type TargetResult = { kind: 'ok'; target: Target } | { kind: 'invalid'; message: string };

export function parseTarget(text: string): TargetResult {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { kind: 'invalid', message: `not a URL: ${text} (expected http://host:port/path)` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { kind: 'invalid', message: `unsupported scheme ${url.protocol} (http:// or https://)` };
  if (url.hostname === '') return { kind: 'invalid', message: `no host in ${text}` };
  if (url.username !== '' || url.password !== '') return { kind: 'invalid', message: 'credentials in the URL are not supported' };
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const secure = url.protocol === 'https:';
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
  const tls = secure ? { servername: net.isIP(host) === 0 ? host : null } : null;
  return {
    kind: 'ok',
    target: { url: url.href, host, port, requestTarget: `${url.pathname}${url.search}`, hostHeader: url.host, tls },
  };
}
