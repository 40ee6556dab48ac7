/**
 * redirectToHttps(httpsPort, fallbackHost): a handler answering every request with 308 Permanent
 * Redirect (RFC 9110 §15.4.9: the method and body are kept, unlike 301) to the same path and query
 * on https://, at the request's host name (its Host field without the port, RFC 9110 §7.2) and
 * `httpsPort` (omitted when 443). A request without a host name (HTTP/1.0) goes to `fallbackHost`.
 * What the plain-HTTP listener of `holdfast --redirect-http` serves, as nginx's
 * `return 308 https://$host$request_uri`.
 */

import type { Handler } from './types.js';

/** `host[:port]` → `host` (an IPv6 literal keeps its brackets). */
function hostName(authority: string): string {
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    return end === -1 ? '' : authority.slice(0, end + 1);
  }
  const colon = authority.indexOf(':');
  return colon === -1 ? authority : authority.slice(0, colon);
}

/** The origin-form path and query of any request-target (RFC 9112 §3.2). */
function pathOf(target: string): string {
  if (target.startsWith('/')) return target;
  if (target === '*') return '/';
  try {
    const url = new URL(target);
    return `${url.pathname}${url.search}`;
  } catch {
    return '/';
  }
}

export function redirectToHttps(httpsPort: number, fallbackHost: string): Handler {
  const portPart = httpsPort === 443 ? '' : `:${httpsPort}`;
  const fallback = fallbackHost.includes(':') && !fallbackHost.startsWith('[') ? `[${fallbackHost}]` : fallbackHost;
  return (req) => {
    const host = hostName(req.headers.get('host') ?? '') || fallback;
    const location = `https://${host}${portPart}${pathOf(req.target)}`;
    return { status: 308, headers: { location, 'content-type': 'text/plain; charset=utf-8' }, body: `Moved to ${location}\n` };
  };
}
