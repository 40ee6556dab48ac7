/**
 * The status listener's handler: `/` (the dashboard), `/status.json` and `/metrics`, read-only,
 * behind three guards checked in this order:
 * 1. Host allow-list (without a token): only a loopback name or address with the listener's port,
 *    so a page whose name was rebound to 127.0.0.1 (DNS rebinding) cannot read it → 421
 *    Misdirected Request (RFC 9110 §15.5.20). With a token the token is the guard.
 * 2. The bearer token, when one is set (RFC 6750 §2.1 header, or `?token=` for a browser), compared
 *    in constant time → 401 with `WWW-Authenticate: Bearer`.
 * 3. GET and HEAD only → 405 with `Allow` (RFC 9110 §15.5.6).
 * Every response says `Cache-Control: no-store`, carries a strict Content-Security-Policy,
 * `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`.
 */

import { createHash, timingSafeEqual } from 'node:crypto';
import type { Handler, HttpRequest, HttpResponse } from '../handlers/types.js';
import { isLoopbackHost } from '../server/units.js';
import { METRICS_CONTENT_TYPE, renderMetrics } from './metrics.js';
import { PAGE_CSP, PAGE_HTML } from './page.js';
import { DEFAULT_ROW_QUERY, MAX_ROWS, SORT_KEYS, type RowQuery, type SortKey, type StatusSample } from './sample.js';
import { StatusHistory } from './view.js';

/** Where samples come from: this process's server, or every worker's (src/status/cluster.ts). */
export type SampleSource = (query: RowQuery) => Promise<StatusSample>;

export interface StatusAccess {
  /** The bearer token required; '' = none, and then only loopback Host values are served. */
  token: string;
  /** The listener's port (known once it is bound), for the Host allow-list. */
  port(): number;
}

const DATA_CSP = "default-src 'none'; frame-ancestors 'none'";

function respond(status: number, contentType: string, body: string, csp = DATA_CSP, extra: Record<string, string> = {}): HttpResponse {
  return {
    status,
    headers: {
      'content-type': contentType,
      'cache-control': 'no-store',
      'content-security-policy': csp,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      ...extra,
    },
    body,
  };
}

const text = (status: number, message: string, extra?: Record<string, string>): HttpResponse => respond(status, 'text/plain; charset=utf-8', `${message}\n`, DATA_CSP, extra);

/** `Host` is a loopback name or address with the listener's port (the port may be left out only for 80). */
export function isAllowedHost(host: string, port: number): boolean {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(host);
  if (match === null) return false;
  const name = match[1].startsWith('[') ? match[1].slice(1, -1) : match[1];
  const given = match[2] === undefined ? 80 : Number(match[2]);
  return given === port && isLoopbackHost(name);
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Equal tokens, in time that does not depend on where they differ (their digests are compared). */
function tokenMatches(given: string, expected: Buffer): boolean {
  return timingSafeEqual(digest(given), expected);
}

function givenToken(req: HttpRequest): string | null {
  const authorization = req.headers.get('authorization');
  if (authorization !== undefined) {
    const match = /^Bearer +(\S+) *$/i.exec(authorization);
    return match === null ? null : match[1];
  }
  return new URLSearchParams(req.query).get('token');
}

export function rowQuery(query: string): RowQuery {
  const params = new URLSearchParams(query);
  const sort = params.get('sort');
  const limit = Number(params.get('limit'));
  return {
    sort: SORT_KEYS.includes(sort as SortKey) ? (sort as SortKey) : DEFAULT_ROW_QUERY.sort,
    descending: params.get('order') === 'desc',
    limit: Number.isInteger(limit) && limit >= 1 ? Math.min(limit, MAX_ROWS) : DEFAULT_ROW_QUERY.limit,
  };
}

export function statusHandler(source: SampleSource, access: StatusAccess): Handler {
  const expected = access.token === '' ? null : digest(access.token);
  const history = new StatusHistory();
  return async (req) => {
    if (expected === null && !isAllowedHost(req.headers.get('host') ?? '', access.port())) {
      return text(421, 'holdfast status: this Host is not served here; use a loopback address or localhost with the status port (a guard against DNS rebinding)');
    }
    if (expected !== null) {
      const token = givenToken(req);
      if (token === null || !tokenMatches(token, expected)) {
        return text(401, 'holdfast status: a bearer token is required (Authorization: Bearer TOKEN)', { 'www-authenticate': 'Bearer realm="holdfast status"' });
      }
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'holdfast status is read-only: GET and HEAD only', { allow: 'GET, HEAD' });
    try {
      switch (req.path) {
        case '/':
          return respond(200, 'text/html; charset=utf-8', PAGE_HTML, PAGE_CSP);
        case '/status.json': {
          const query = rowQuery(req.query);
          return respond(200, 'application/json', `${JSON.stringify(history.view(await source(query), query))}\n`);
        }
        case '/metrics':
          return respond(200, METRICS_CONTENT_TYPE, renderMetrics(await source({ ...DEFAULT_ROW_QUERY, limit: 0 })));
        default:
          return text(404, 'holdfast status: not found; try /, /status.json or /metrics');
      }
    } catch (error) {
      // No sample to be had (under --workers: no worker answered in time).
      return text(503, `holdfast status: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
}
