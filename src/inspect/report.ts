/**
 * The inspect report: what was measured (times in milliseconds, counts as numbers), and its text
 * form. `--json` prints the InspectReport object as is; scripts rely on the fields marked
 * "contract" — they keep their names and meaning. A value that was not measured is null, and an
 * entry of `advice` says why; it is never a guess.
 */

import type { HttpVersion } from '../http1/framing.js';
import type { CloseKind } from './probe-connection.js';

export interface Http11Findings {
  /** contract: a second request on the same connection was answered. */
  keepAlive: boolean;
  /** contract: the first response's Connection field, as sent. */
  connectionHeader: string | null;
  /** contract: the first response's Keep-Alive field, as sent. */
  keepAliveHeader: string | null;
  status: number;
  responseVersion: HttpVersion;
}

/** https:// only: the first (full) handshake, and a second connection offering the first one's session. */
export interface TlsFindings {
  protocol: string | null;
  cipher: string;
  /** The ALPN protocol the server chose from `http/1.1` (null: none). */
  alpn: string | null;
  /** TCP connected → handshake finished, full handshake. */
  handshakeMs: number;
  /** contract: the second connection resumed the first one's session (tickets or session ids). */
  resumed: boolean;
  resumedHandshakeMs: number | null;
}

export interface Http10Findings {
  /** contract: after an HTTP/1.0 request without Connection: keep-alive, a second request got no answer and the connection closed. */
  closesByDefault: boolean;
  /** contract: with Connection: keep-alive, a second HTTP/1.0 request on the connection was answered. */
  keepAliveHonoured: boolean;
  connectionHeader: string | null;
  keepAliveConnectionHeader: string | null;
}

export interface ConnectionCloseFindings {
  /** The response to `Connection: close` carried `Connection: close`. */
  headerSent: boolean;
  /** The server closed the connection within the close window. */
  closed: boolean;
  closeKind: CloseKind | null;
}

export interface IdleTimeoutFindings {
  /** contract: Keep-Alive `timeout=` × 1000. */
  advertisedMs: number | null;
  /** contract: median time from the end of a response to the server's close of the idle connection. */
  measuredMs: number | null;
  /** contract */
  closeKind: CloseKind | null;
  /** contract: measuredMs − advertisedMs. */
  marginMs: number | null;
  samplesMs: number[];
  /** Idle connections held. */
  connections: number;
  /** Statuses of responses the server sent on an idle connection before closing it (a 408, say). */
  statusesBeforeClose: number[];
}

export interface MaxRequestsFindings {
  /** contract: Keep-Alive `max=` on the first response. */
  advertised: number | null;
  /** contract: `max=` decreased from the first response to the second. */
  countsDown: boolean | null;
  /** contract: requests answered on one connection before the server closed it; null when it never closed within the probe's bound. */
  enforced: number | null;
  /** contract: the server closed the connection after the response that said `Connection: close` (or after the last answered one). */
  closesAfterLast: boolean | null;
  /** The last answered response said `Connection: close`. */
  announced: boolean | null;
  /** Status of the answer to a request sent after the announced last one, when the server kept the connection open (node: 503). */
  statusAfterLast: number | null;
  requestsSent: number;
  /** Most requests the probe sends on one connection. */
  probeLimit: number;
}

export interface PipeliningFindings {
  /** contract */
  answeredInOrder: boolean;
  sent: number;
  answered: number;
}

export interface HeadersTimeoutFindings {
  closeKind: CloseKind | null;
  /** Status of a response sent before the close (a 408), if any. */
  status: number | null;
}

export interface Findings {
  target: string;
  /** null for http:// targets. */
  tls: TlsFindings | null;
  http11: Http11Findings;
  http10: Http10Findings;
  connectionCloseHonoured: boolean;
  connectionClose: ConnectionCloseFindings;
  idleTimeout: IdleTimeoutFindings;
  maxRequests: MaxRequestsFindings;
  pipelining: PipeliningFindings;
  /** contract: from the first byte of an unfinished request head to the server's close. */
  headersTimeoutMs: number | null;
  headersTimeout: HeadersTimeoutFindings;
  /** Observations that qualify a finding (a probe that could not run, an odd answer). */
  notes: string[];
}

export interface InspectReport extends Findings {
  /** The idle timeout a client pool or load balancer in front of this server should use. */
  recommendedIdleTimeoutMs: number | null;
  verdict: string;
  /** contract */
  advice: string[];
  maxWaitMs: number;
  durationMs: number;
}

/** `734 ms`, `5.0 s`, `120 s`. */
export function formatMs(ms: number): string {
  const rounded = Math.round(ms);
  if (Math.abs(rounded) < 1000) return `${rounded} ms`;
  if (Math.abs(ms) < 100_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 1000)} s`;
}

const yesNo = (value: boolean): string => (value ? 'yes' : 'no');
const quoted = (value: string | null): string => (value === null ? '(absent)' : value);

export function formatReport(report: InspectReport): string {
  const lines: string[] = [];
  const row = (label: string, text: string): void => {
    lines.push(`${label.padEnd(18)}${text}`);
  };
  const more = (text: string): void => {
    lines.push(`${''.padEnd(18)}${text}`);
  };
  lines.push(`holdfast inspect ${report.target}  (${formatMs(report.durationMs)})`, '');
  const tls = report.tls;
  if (tls !== null) {
    row('TLS', `${tls.protocol ?? '?'}, ${tls.cipher}, ALPN ${tls.alpn ?? 'none'}; full handshake ${formatMs(tls.handshakeMs)}`);
    more(`session resumption: ${yesNo(tls.resumed)}${tls.resumedHandshakeMs === null ? '' : `  (resumed handshake ${formatMs(tls.resumedHandshakeMs)})`}`);
  }

  const h11 = report.http11;
  row('HTTP/1.1', `keeps the connection alive: ${yesNo(h11.keepAlive)}  (status ${h11.status}, answered as HTTP/${h11.responseVersion})`);
  more(`Connection: ${quoted(h11.connectionHeader)}   Keep-Alive: ${quoted(h11.keepAliveHeader)}`);

  const h10 = report.http10;
  row('HTTP/1.0', `closes by default: ${yesNo(h10.closesByDefault)}   kept alive with Connection: keep-alive: ${yesNo(h10.keepAliveHonoured)}`);

  const cc = report.connectionClose;
  const ccHow = cc.closed ? `closed by ${cc.closeKind?.toUpperCase()}` : 'not closed';
  row('Connection: close', `honoured: ${yesNo(report.connectionCloseHonoured)}  (response says close: ${yesNo(cc.headerSent)}; ${ccHow})`);

  const idle = report.idleTimeout;
  if (idle.measuredMs === null) {
    row('Idle timeout', `not measured${idle.advertisedMs === null ? '' : `  (advertised ${formatMs(idle.advertisedMs)})`}`);
  } else {
    const samples = idle.samplesMs.map((ms) => Math.round(ms)).join(', ');
    row('Idle timeout', `closes idle connections after ${formatMs(idle.measuredMs)} by ${idle.closeKind?.toUpperCase()}  (median of ${idle.samplesMs.length}: ${samples} ms)`);
    if (idle.advertisedMs === null) more('advertised: nothing (no Keep-Alive: timeout=)');
    else more(`advertised ${formatMs(idle.advertisedMs)} → margin ${idle.marginMs !== null && idle.marginMs >= 0 ? '+' : ''}${formatMs(idle.marginMs ?? 0)}`);
    if (idle.statusesBeforeClose.length > 0) more(`sent ${idle.statusesBeforeClose.join(', ')} before closing`);
  }

  const max = report.maxRequests;
  const advertised = max.advertised === null ? 'no max=' : `max=${max.advertised} on the first response${max.countsDown === null ? '' : max.countsDown ? ', counting down' : ', not counting down'}`;
  row('Max requests', `advertised: ${advertised}`);
  if (max.enforced === null) more(`enforced: no limit found within ${max.requestsSent} requests`);
  else if (max.closesAfterLast === false) {
    const after = max.statusAfterLast === null ? '' : `, answered the next request with ${max.statusAfterLast}`;
    more(`enforced: ${max.enforced} request${max.enforced === 1 ? '' : 's'}; said Connection: close on the last but kept the connection open${after}`);
  } else more(`enforced: closed after ${max.enforced} request${max.enforced === 1 ? '' : 's'}${max.announced ? ', the last saying Connection: close' : ', without Connection: close on the last'}`);

  const pipe = report.pipelining;
  row('Pipelining', `${pipe.answered} of ${pipe.sent} pipelined requests answered${pipe.answeredInOrder ? ', in order' : ''}`);

  const ht = report.headersTimeout;
  if (report.headersTimeoutMs === null) row('Headers timeout', `not reached within ${formatMs(report.maxWaitMs)}`);
  else row('Headers timeout', `an unfinished request head is dropped after ${formatMs(report.headersTimeoutMs)}${ht.status === null ? '' : ` (${ht.status} sent)`}, by ${ht.closeKind?.toUpperCase()}`);

  lines.push('', `Verdict: ${report.verdict}`);
  if (report.advice.length > 0) {
    lines.push('', 'Advice:');
    for (const item of report.advice) lines.push(`  - ${item}`);
  }
  return `${lines.join('\n')}\n`;
}
