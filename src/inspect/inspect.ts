/**
 * inspect(): measures a server's real keep-alive behaviour and returns an InspectReport.
 *
 * Only the target is contacted. For https:// a TLS probe (handshake time, resumption) runs first;
 * then the baseline probe, alone (it decides whether the
 * target speaks HTTP/1.x at all: InspectError otherwise); then the idle-timeout watch
 * (`concurrency` connections), the headers-timeout watch (one connection) and the quick probes
 * (one connection at a time) run side by side, so at most concurrency + 2 connections are open.
 * Waits for the server to close are bounded by maxWaitMs; every connection is destroyed before
 * inspect() returns.
 */

import { performance } from 'node:perf_hooks';
import { decideAdvice } from './advice.js';
import { ProbeConnection } from './probe-connection.js';
import {
  probeBaseline,
  probeConnectionClose,
  probeHeadersTimeout,
  probeHttp10,
  probeIdleTimeout,
  probeMaxRequests,
  probePipelining,
  probeTls,
  type ProbeContext,
  type ProgressEvent,
} from './probes.js';
import type { Findings, IdleTimeoutFindings, InspectReport, TlsFindings } from './report.js';
import type { Target } from './target.js';

export { InspectError, type ProgressEvent } from './probes.js';

export interface InspectOptions {
  target: Target;
  /** Bound on every wait for the server to close (idle and headers timeouts). Default 120 s. */
  maxWaitMs?: number;
  /** Idle connections held for the idle-timeout measurement. Default 3. */
  concurrency?: number;
  /** Most requests sent on the max-requests connection. Default 1000. */
  maxRequestsProbeLimit?: number;
  onProgress?: (event: ProgressEvent) => void;
  /** https://: accept a certificate that does not verify (self-signed, wrong host). */
  insecure?: boolean;
}

export const INSPECT_DEFAULTS = {
  maxWaitMs: 120_000,
  concurrency: 3,
  maxRequestsProbeLimit: 1_000,
  connectTimeoutMs: 5_000,
  responseTimeoutMs: 10_000,
  closeWindowMs: 1_000,
} as const;

export async function inspect(options: InspectOptions): Promise<InspectReport> {
  const startedAtMs = performance.now();
  const maxWaitMs = options.maxWaitMs ?? INSPECT_DEFAULTS.maxWaitMs;
  const concurrency = options.concurrency ?? INSPECT_DEFAULTS.concurrency;
  const probeLimit = options.maxRequestsProbeLimit ?? INSPECT_DEFAULTS.maxRequestsProbeLimit;
  const connections = new Set<ProbeConnection>();
  const notes: string[] = [];
  const connectTimeoutMs = Math.min(INSPECT_DEFAULTS.connectTimeoutMs, maxWaitMs);
  const ctx: ProbeContext = {
    target: options.target,
    responseTimeoutMs: Math.min(INSPECT_DEFAULTS.responseTimeoutMs, maxWaitMs),
    closeWindowMs: Math.min(INSPECT_DEFAULTS.closeWindowMs, maxWaitMs),
    maxWaitMs,
    async open(session?: Buffer) {
      const conn = await ProbeConnection.connect(options.target, connectTimeoutMs, { insecure: options.insecure === true, session });
      connections.add(conn);
      return conn;
    },
    progress: (event) => options.onProgress?.(event),
    note: (text) => notes.push(text),
  };
  try {
    let tls: TlsFindings | null = null;
    if (options.target.tls !== null) {
      ctx.progress({ kind: 'step', step: 'TLS handshake and resumption' });
      tls = await probeTls(ctx);
    }
    ctx.progress({ kind: 'step', step: 'first request' });
    const baseline = await probeBaseline(ctx);
    const idleWatch: Promise<IdleTimeoutFindings> = baseline.http11.keepAlive
      ? probeIdleTimeout(ctx, concurrency)
      : Promise.resolve({ advertisedMs: null, measuredMs: null, closeKind: null, marginMs: null, samplesMs: [], connections: 0, statusesBeforeClose: [] });
    const headersWatch = probeHeadersTimeout(ctx);
    const quickProbes = (async () => {
      const http10 = await probeHttp10(ctx);
      const connectionClose = await probeConnectionClose(ctx);
      const pipelining = await probePipelining(ctx);
      const maxRequests = await probeMaxRequests(ctx, probeLimit);
      ctx.progress({ kind: 'step', step: 'waiting for the server to close connections' });
      return { http10, connectionClose, pipelining, maxRequests };
    })();
    const [idleTimeout, headers, { http10, connectionClose, pipelining, maxRequests }] = await Promise.all([idleWatch, headersWatch, quickProbes]);
    const findings: Findings = {
      target: options.target.url,
      tls,
      http11: baseline.http11,
      http10,
      connectionCloseHonoured: connectionClose.headerSent && connectionClose.closed,
      connectionClose,
      idleTimeout,
      maxRequests,
      pipelining,
      headersTimeoutMs: headers.headersTimeoutMs,
      headersTimeout: headers.headersTimeout,
      notes,
    };
    const advice = decideAdvice(findings, { maxWaitMs });
    return { ...findings, ...advice, maxWaitMs, durationMs: Math.round(performance.now() - startedAtMs) };
  } finally {
    for (const conn of connections) conn.destroy();
  }
}
