/**
 * From findings to a verdict and advice: a pure function, so every rule is testable without a
 * server.
 *
 * The recommended idle timeout for a client pool or a load balancer in front of the server is the
 * measured (enforced) idle timeout minus a margin of max(1 s, 20 %), and never more than half of
 * it: an idle connection must be retired by the client before the server's close can cross a new
 * request on the wire (the race node's 1 s keepAliveTimeout buffer guards against from the server
 * side). It is based on what the server does, not on what it advertises.
 *
 * Advertised vs enforced idle timeout, with a tolerance of max(100 ms, 5 %) of the advertised value:
 * - enforced earlier than advertised → clients that trust the header send on closed connections;
 * - enforced within the tolerance → no margin: clients that trust the header race the close;
 * - enforced later → a margin protects clients that trust the header.
 */

import { formatMs, type Findings } from './report.js';

export interface AdviceSettings {
  maxWaitMs: number;
}

export interface Advice {
  recommendedIdleTimeoutMs: number | null;
  verdict: string;
  advice: string[];
}

const MIN_MARGIN_MS = 1_000;
const MARGIN_FRACTION = 0.2;
const TOLERANCE_MS = 100;
const TOLERANCE_FRACTION = 0.05;

/** Idle timeout for clients and load balancers in front of a server that closes idle connections after `enforcedMs`. */
export function recommendIdleTimeoutMs(enforcedMs: number): number {
  const margin = Math.max(MIN_MARGIN_MS, enforcedMs * MARGIN_FRACTION);
  const recommended = Math.max(enforcedMs - margin, enforcedMs / 2);
  return recommended >= 1000 ? Math.floor(recommended / 100) * 100 : Math.floor(recommended / 10) * 10;
}

export function decideAdvice(findings: Findings, settings: AdviceSettings): Advice {
  const advice: string[] = [];
  const verdict: string[] = [];
  const { http11, http10, idleTimeout: idle, maxRequests: max, pipelining } = findings;
  const maxWait = formatMs(settings.maxWaitMs);

  if (http11.status >= 400) {
    advice.push(`the target answered ${http11.status}: servers often close or keep connections differently for errors; inspect a URL that answers 200 for figures that match real traffic`);
  }

  if (!http11.keepAlive) {
    verdict.push('no keep-alive: every HTTP/1.1 request pays for a new connection');
    advice.push('the server does not keep HTTP/1.1 connections alive, so a client pool cannot reuse connections; check its keep-alive settings');
  } else {
    verdict.push('keeps HTTP/1.1 connections alive');
  }

  let recommended: number | null = null;
  if (idle.measuredMs === null) {
    if (!http11.keepAlive) advice.push('idle timeout not measured: the server does not keep connections alive');
    else advice.push(`idle timeout not measured: no idle connection was closed within --max-wait ${maxWait}; raise --max-wait to measure it`);
    if (idle.advertisedMs !== null && http11.keepAlive) {
      advice.push(`the server advertises timeout=${idle.advertisedMs / 1000} (${formatMs(idle.advertisedMs)}); until the real timeout is measured, do not keep idle connections longer than that`);
    }
  } else {
    const measured = idle.measuredMs;
    recommended = recommendIdleTimeoutMs(measured);
    verdict.push(`closes idle connections after ${formatMs(measured)}`);
    advice.push(
      `use an idle timeout of at most ${formatMs(recommended)} in client pools (e.g. undici keepAliveTimeout, http.Agent freeSocketTimeout) and in a load balancer or proxy in front of this server: shorter than the server's real ${formatMs(measured)}, so the client always closes first`,
    );
    const advertised = idle.advertisedMs;
    if (advertised === null) {
      advice.push('the server does not advertise its idle timeout (no Keep-Alive: timeout=): clients cannot learn it and must be configured by hand');
    } else {
      const tolerance = Math.max(TOLERANCE_MS, advertised * TOLERANCE_FRACTION);
      const margin = measured - advertised;
      const said = `timeout=${advertised / 1000}`;
      if (advertised === 0) {
        advice.push(`advertises ${said} (below one second, rounded down) yet keeps idle connections for ${formatMs(measured)}: clients that trust the header will not reuse connections`);
      } else if (margin < -tolerance) {
        verdict.push(`closes ${formatMs(-margin)} before its advertised ${said}`);
        advice.push(`warning: advertises ${said} but closes idle connections at ${formatMs(measured)}, ${formatMs(-margin)} early: clients that trust the header will send requests on connections the server has already closed (ECONNRESET, "socket hang up")`);
      } else if (margin <= tolerance) {
        verdict.push(`no margin behind its advertised ${said}`);
        advice.push(`warning: advertises ${said} but closes at ${formatMs(measured)} with no margin: clients that trust the header will race the server's close; enforce a little more than is advertised (as node's 1 s buffer does) or advertise less`);
      } else {
        advice.push(`advertises ${said} and enforces ${formatMs(measured)}: a ${formatMs(margin)} margin protects clients that trust the header`);
      }
    }
    if (idle.closeKind === 'rst') {
      advice.push('closes idle connections with RST, not FIN: clients see ECONNRESET instead of a clean end, and a response in flight can be destroyed');
    }
    if (idle.statusesBeforeClose.length > 0) {
      advice.push(`sends an unrequested ${idle.statusesBeforeClose[0]} response on an idle connection before closing it: clients may mistake it for the answer to their next request`);
    }
  }

  if (max.enforced === null) {
    if (max.requestsSent >= max.probeLimit) {
      advice.push(`no per-connection request limit found within ${max.probeLimit} requests (probe bound): max requests not measured`);
    } else {
      advice.push('max requests not measured: the probe connection did not complete (see the notes)');
    }
  } else if (!http11.keepAlive) {
    verdict.push('one request per connection');
  } else {
    verdict.push(`at most ${max.enforced} requests per connection`);
    if (max.announced === false) {
      advice.push(`warning: closes after ${max.enforced} requests without saying Connection: close on the last response: a client's next request races the close — retry idempotent requests or retire connections after ${max.enforced - 1} requests`);
    } else if (max.closesAfterLast === false) {
      const after = max.statusAfterLast === null ? '' : ` and answers a further request with ${max.statusAfterLast}`;
      advice.push(`says Connection: close after ${max.enforced} requests but does not close the connection${after}: clients that honour the header are fine, a client that ignores it gets errors, and the server holds the socket until its idle timeout`);
    } else {
      advice.push(`closes after ${max.enforced} requests and says Connection: close on the last response: clients can retire the connection cleanly`);
    }
    if (max.advertised === null && max.announced === true) {
      advice.push('the server does not advertise max= in Keep-Alive: clients learn of the limit only from Connection: close on the last response');
    }
    if (max.advertised !== null && max.countsDown !== null) {
      const expected = max.countsDown ? max.advertised + 1 : max.advertised;
      const meaning = max.countsDown ? `max=${max.advertised} counts down (requests left after this one)` : `max=${max.advertised} does not count down (it states the total per connection)`;
      if (expected === max.enforced) advice.push(`${meaning}, which matches the ${max.enforced} enforced`);
      else advice.push(`warning: ${meaning}, but the server closed after ${max.enforced}: clients that plan by max= will be surprised`);
    }
  }

  if (!http10.closesByDefault) {
    advice.push('keeps HTTP/1.0 connections open without Connection: keep-alive: an HTTP/1.0 client waits for a close that does not come (RFC 9112 §9.3)');
  }
  if (http11.keepAlive && !http10.keepAliveHonoured) {
    advice.push('does not keep HTTP/1.0 connections alive even when asked with Connection: keep-alive (HTTP/1.0 clients reconnect for every request)');
  }
  if (!findings.connectionCloseHonoured) {
    const cc = findings.connectionClose;
    const what = !cc.headerSent && !cc.closed ? 'neither says Connection: close nor closes' : !cc.headerSent ? 'closes but does not say Connection: close' : 'says Connection: close but does not close';
    advice.push(`warning: a request with Connection: close is not fully honoured — the server ${what} (RFC 9112 §9.6)`);
  }
  if (!pipelining.answeredInOrder && http11.keepAlive) {
    advice.push(`only ${pipelining.answered} of ${pipelining.sent} pipelined requests were answered in order: do not pipeline requests to this server`);
  }

  if (findings.headersTimeoutMs === null) {
    advice.push(`headers timeout not measured: a connection with an unfinished request head was still open after --max-wait ${maxWait}; a server should drop it sooner (slowloris)`);
  } else {
    verdict.push(`drops unfinished request heads after ${formatMs(findings.headersTimeoutMs)}`);
  }

  for (const note of findings.notes) advice.push(`note: ${note}`);

  const summary = recommended === null ? 'no idle timeout to recommend' : `use an idle timeout ≤ ${formatMs(recommended)} in clients and load balancers`;
  return { recommendedIdleTimeoutMs: recommended, verdict: `${verdict.join('; ')}. ${summary[0].toUpperCase()}${summary.slice(1)}.`, advice };
}
