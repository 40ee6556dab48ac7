/**
 * The one server `holdfast inspect` may contact, from its URL. Plain `http://` only; the request
 * target is the URL's path and query in origin-form, the Host field its authority (RFC 9112 §3.2).
 */

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
}

export type TargetResult = { kind: 'ok'; target: Target } | { kind: 'invalid'; message: string };

export function parseTarget(text: string): TargetResult {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { kind: 'invalid', message: `not a URL: ${text} (expected http://host:port/path)` };
  }
  if (url.protocol === 'https:') {
    return { kind: 'invalid', message: 'https:// is not supported yet: inspect speaks plain HTTP/1.x over TCP; point it at an http:// address (for example the backend behind the TLS terminator)' };
  }
  if (url.protocol !== 'http:') return { kind: 'invalid', message: `unsupported scheme ${url.protocol} (only http:// is supported)` };
  if (url.hostname === '') return { kind: 'invalid', message: `no host in ${text}` };
  if (url.username !== '' || url.password !== '') return { kind: 'invalid', message: 'credentials in the URL are not supported' };
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === '' ? 80 : Number(url.port);
  return {
    kind: 'ok',
    target: { url: url.href, host, port, requestTarget: `${url.pathname}${url.search}`, hostHeader: url.host },
  };
}
