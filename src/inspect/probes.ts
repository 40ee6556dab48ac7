/**
 * The probes of `holdfast inspect`, each a short conversation with the target over its own raw
 * connections. Every probe bounds its connections, its requests and its waits, and reports what
 * it saw; interpretation is left to ./advice.ts.
 *
 * - baseline: GET over HTTP/1.1, then a second GET on the same connection (keep-alive, RFC 9112 §9.3).
 * - HTTP/1.0: a request without, then with `Connection: keep-alive`, each followed by a second one.
 * - Connection: close (RFC 9112 §9.6): the response should say close, and the server close.
 * - idle timeout: `concurrency` connections after one request each, watched until the server
 *   closes them (FIN or RST) or --max-wait passes; the median of the idle times is reported.
 * - max requests: sequential requests on one connection until the server closes it, or the bound.
 * - pipelining (RFC 9112 §9.3.2): GET, HEAD, GET in one write. A HEAD response has no content, so
 *   answers out of order show up as broken framing.
 * - headers timeout: an unfinished request head, watched until the server closes the connection.
 */

import { performance } from 'node:perf_hooks';
import { parseKeepAliveParameters, type ResponseHead } from '../http1/response-parser.js';
import { ConnectError, type CloseKind, type ProbeConnection, type ReadResult, type ReceivedResponse } from './probe-connection.js';
import type {
  ConnectionCloseFindings,
  HeadersTimeoutFindings,
  Http10Findings,
  Http11Findings,
  IdleTimeoutFindings,
  MaxRequestsFindings,
  PipeliningFindings,
  TlsFindings,
} from './report.js';
import type { Target } from './target.js';

export type ProgressEvent =
  | { kind: 'step'; step: string }
  | { kind: 'idle'; open: number; closed: number; samplesMs: number[] }
  | { kind: 'max-requests'; answered: number }
  | { kind: 'headers'; waiting: boolean; ms: number | null };

export interface ProbeContext {
  readonly target: Target;
  readonly responseTimeoutMs: number;
  /** How long a server that said (or was asked to) close gets to actually close. */
  readonly closeWindowMs: number;
  readonly maxWaitMs: number;
  /** Opens a connection (TLS for https://, offering `session`); the orchestrator destroys every one at the end. */
  open(session?: Buffer): Promise<ProbeConnection>;
  progress(event: ProgressEvent): void;
  note(text: string): void;
}

export class InspectError extends Error {
  readonly kind: 'unreachable' | 'not-http';

  constructor(kind: 'unreachable' | 'not-http', message: string) {
    super(message);
    this.name = 'InspectError';
    this.kind = kind;
  }
}

type HttpVersionText = '1.0' | '1.1';

export function buildRequest(target: Target, method: string, version: HttpVersionText, connection: string | null = null): string {
  const connectionLine = connection === null ? '' : `Connection: ${connection}\r\n`;
  return `${method} ${target.requestTarget} HTTP/${version}\r\nHost: ${target.hostHeader}\r\nUser-Agent: holdfast-inspect\r\nAccept: */*\r\n${connectionLine}\r\n`;
}

function saysClose(head: ResponseHead): boolean {
  return head.connection.has('close');
}

function keepAliveOf(head: ResponseHead): { timeoutSeconds: number | null; max: number | null } {
  const value = head.headers.get('keep-alive');
  return value === undefined ? { timeoutSeconds: null, max: null } : parseKeepAliveParameters(value);
}

function describeFailure(result: ReadResult): string {
  switch (result.kind) {
    case 'response':
      return 'a response';
    case 'closed':
      return `the connection was closed by ${result.close.kind.toUpperCase()}${result.midResponse ? ' in the middle of a response' : ''}`;
    case 'not-http':
      return `the bytes were not HTTP/1.x (${result.error.message})`;
    case 'timeout':
      return 'no response in time';
    case 'aborted':
      return 'the connection was lost';
  }
}

/** Sends and reads one request; null (with a note) when the answer is not a response. */
async function exchange(ctx: ProbeContext, conn: ProbeConnection, method: string, request: string, what: string): Promise<ReceivedResponse | null> {
  conn.send(method, request);
  const result = await conn.read(ctx.responseTimeoutMs);
  if (result.kind === 'response') return result.response;
  if (result.kind !== 'closed') ctx.note(`${what}: ${describeFailure(result)}`);
  return null;
}

async function openOrNote(ctx: ProbeContext, what: string, session?: Buffer): Promise<ProbeConnection | null> {
  try {
    return await ctx.open(session);
  } catch (error) {
    ctx.note(`${what}: ${error instanceof Error ? error.message : String(error)}`);
    return null;
  }
}

/** A hint from the first bytes: a TLS record (RFC 8446 §5.1: alert 21 or handshake 22, version 3.x) or an HTTP/2 frame header (RFC 9113 §4.1: SETTINGS 4 or GOAWAY 7). */
function looksLike(bytes: Buffer): string {
  if (bytes.length >= 2 && (bytes[0] === 0x15 || bytes[0] === 0x16) && bytes[1] === 0x03) {
    return ' — this looks like TLS: try https://';
  }
  if (bytes.length >= 9 && bytes[0] === 0 && (bytes[3] === 0x04 || bytes[3] === 0x07)) return ' — this looks like HTTP/2 (h2c)';
  return '';
}

export interface BaselineFindings {
  http11: Http11Findings;
  first: ReceivedResponse;
}

/** The first connection of a run: failing to open it means the target cannot be inspected. */
async function openFirst(ctx: ProbeContext): Promise<ProbeConnection> {
  try {
    return await ctx.open();
  } catch (error) {
    if (error instanceof ConnectError) throw new InspectError('unreachable', error.message);
    throw error;
  }
}

/**
 * https:// only, before anything else: a full handshake (timed), one request so that TLS 1.3
 * tickets arrive, then a second connection offering that session — resumed or not, and how fast.
 */
export async function probeTls(ctx: ProbeContext): Promise<TlsFindings> {
  const first = await openFirst(ctx);
  first.send('GET', buildRequest(ctx.target, 'GET', '1.1'));
  await first.read(ctx.responseTimeoutMs);
  const state = first.tlsState!;
  first.destroy();
  const findings: TlsFindings = { protocol: state.protocol, cipher: state.cipher, alpn: state.alpn, handshakeMs: first.handshakeMs ?? 0, resumed: false, resumedHandshakeMs: null };
  const second = await openOrNote(ctx, 'TLS session resumption', state.session);
  if (second !== null) {
    findings.resumed = second.tlsState?.resumed === true;
    findings.resumedHandshakeMs = findings.resumed ? second.handshakeMs : null;
    second.destroy();
  }
  return findings;
}

/** The first contact: also decides whether the target can be inspected at all. */
export async function probeBaseline(ctx: ProbeContext): Promise<BaselineFindings> {
  const where = `${ctx.target.host}:${ctx.target.port}`;
  const conn = await openFirst(ctx);
  conn.send('GET', buildRequest(ctx.target, 'GET', '1.1'));
  const first = await conn.read(ctx.responseTimeoutMs);
  switch (first.kind) {
    case 'response':
      break;
    case 'not-http':
      throw new InspectError('not-http', `${where} does not speak HTTP/1.x: ${first.error.message}; it sent "${first.preview}"${looksLike(first.firstBytes)}`);
    case 'timeout':
      throw new InspectError('not-http', `${where} accepted the connection but sent no HTTP response within ${ctx.responseTimeoutMs} ms: is it an HTTP/1.x server?`);
    case 'closed':
      throw new InspectError('not-http', `${where} closed the connection (${first.close.kind.toUpperCase()}) without an HTTP response${first.midResponse ? ' (in the middle of one)' : ''}`);
    case 'aborted':
      throw new InspectError('unreachable', `the connection to ${where} was lost before a response`);
  }
  const head = first.response.head;
  let keepAlive = false;
  if (!saysClose(head)) {
    conn.send('GET', buildRequest(ctx.target, 'GET', '1.1'));
    const second = await conn.read(ctx.responseTimeoutMs);
    keepAlive = second.kind === 'response';
  }
  conn.destroy();
  return {
    first: first.response,
    http11: {
      keepAlive,
      connectionHeader: head.headers.get('connection') ?? null,
      keepAliveHeader: head.headers.get('keep-alive') ?? null,
      status: head.status,
      responseVersion: head.version,
    },
  };
}

export async function probeHttp10(ctx: ProbeContext): Promise<Http10Findings> {
  ctx.progress({ kind: 'step', step: 'HTTP/1.0' });
  const findings: Http10Findings = { closesByDefault: false, keepAliveHonoured: false, connectionHeader: null, keepAliveConnectionHeader: null };
  const plain = await openOrNote(ctx, 'HTTP/1.0 probe');
  if (plain !== null) {
    const response = await exchange(ctx, plain, 'GET', buildRequest(ctx.target, 'GET', '1.0'), 'HTTP/1.0 request');
    if (response !== null) {
      findings.connectionHeader = response.head.headers.get('connection') ?? null;
      const second = await exchange(ctx, plain, 'GET', buildRequest(ctx.target, 'GET', '1.0'), 'second HTTP/1.0 request');
      findings.closesByDefault = second === null && (await plain.waitForClose(ctx.closeWindowMs)) !== null;
    }
    plain.destroy();
  }
  const kept = await openOrNote(ctx, 'HTTP/1.0 keep-alive probe');
  if (kept !== null) {
    const response = await exchange(ctx, kept, 'GET', buildRequest(ctx.target, 'GET', '1.0', 'keep-alive'), 'HTTP/1.0 keep-alive request');
    if (response !== null) {
      findings.keepAliveConnectionHeader = response.head.headers.get('connection') ?? null;
      const second = await exchange(ctx, kept, 'GET', buildRequest(ctx.target, 'GET', '1.0', 'keep-alive'), 'second HTTP/1.0 keep-alive request');
      findings.keepAliveHonoured = second !== null;
    }
    kept.destroy();
  }
  return findings;
}

export async function probeConnectionClose(ctx: ProbeContext): Promise<ConnectionCloseFindings> {
  ctx.progress({ kind: 'step', step: 'Connection: close' });
  const findings: ConnectionCloseFindings = { headerSent: false, closed: false, closeKind: null };
  const conn = await openOrNote(ctx, 'Connection: close probe');
  if (conn === null) return findings;
  const response = await exchange(ctx, conn, 'GET', buildRequest(ctx.target, 'GET', '1.1', 'close'), 'request with Connection: close');
  if (response !== null) findings.headerSent = saysClose(response.head);
  const close = await conn.waitForClose(ctx.closeWindowMs);
  findings.closed = close !== null;
  findings.closeKind = close?.kind ?? null;
  conn.destroy();
  return findings;
}

export async function probePipelining(ctx: ProbeContext): Promise<PipeliningFindings> {
  ctx.progress({ kind: 'step', step: 'pipelining' });
  const methods = ['GET', 'HEAD', 'GET'];
  const findings: PipeliningFindings = { answeredInOrder: false, sent: methods.length, answered: 0 };
  const conn = await openOrNote(ctx, 'pipelining probe');
  if (conn === null) return findings;
  conn.sendPipelined(methods.map((method) => ({ method, request: buildRequest(ctx.target, method, '1.1') })));
  let inOrder = true;
  for (let i = 0; i < methods.length; i++) {
    const result = await conn.read(ctx.responseTimeoutMs);
    if (result.kind !== 'response') {
      inOrder = false;
      if (result.kind === 'not-http') ctx.note(`pipelining: response ${i + 1} of ${methods.length} was misframed (${result.error.message}): answered out of order or corrupted`);
      break;
    }
    findings.answered++;
  }
  findings.answeredInOrder = inOrder;
  conn.destroy();
  return findings;
}

/** A response after the announced last one that refuses the request (node answers 503). */
function isRefusal(status: number, firstStatus: number): boolean {
  return status >= 500 || (status >= 400 && firstStatus < 400);
}

export async function probeMaxRequests(ctx: ProbeContext, probeLimit: number): Promise<MaxRequestsFindings> {
  ctx.progress({ kind: 'step', step: 'max requests' });
  const findings: MaxRequestsFindings = {
    advertised: null,
    countsDown: null,
    enforced: null,
    closesAfterLast: null,
    announced: null,
    statusAfterLast: null,
    requestsSent: 0,
    probeLimit,
  };
  const conn = await openOrNote(ctx, 'max-requests probe');
  if (conn === null) return findings;
  const request = buildRequest(ctx.target, 'GET', '1.1');
  const deadlineMs = performance.now() + ctx.maxWaitMs;
  const maxValues: number[] = [];
  let firstStatus = 0;
  let answered = 0;
  /** Responses answered when the server first said Connection: close and then kept the connection open. */
  let announcedAt: number | null = null;
  try {
    while (findings.requestsSent < probeLimit) {
      if (performance.now() > deadlineMs) {
        ctx.note(`max-requests probe stopped after --max-wait, at ${answered} answered requests`);
        break;
      }
      conn.send('GET', request);
      findings.requestsSent++;
      const result = await conn.read(ctx.responseTimeoutMs);
      if (result.kind !== 'response') {
        if (result.kind === 'closed') {
          findings.enforced = announcedAt ?? answered;
          findings.announced = announcedAt !== null || findings.announced === true;
          findings.closesAfterLast ??= true;
        } else {
          ctx.note(`max-requests probe stopped at request ${findings.requestsSent}: ${describeFailure(result)}`);
        }
        break;
      }
      const head = result.response.head;
      if (announcedAt !== null) {
        findings.statusAfterLast ??= head.status;
        if (isRefusal(head.status, firstStatus)) {
          findings.enforced = announcedAt;
          findings.announced = true;
          break;
        }
        announcedAt = null;
      }
      if (answered === 0) firstStatus = head.status;
      answered++;
      if (answered % 50 === 0) ctx.progress({ kind: 'max-requests', answered });
      const { max } = keepAliveOf(head);
      if (max !== null && maxValues.length < 2) maxValues.push(max);
      if (saysClose(head) && findings.closesAfterLast === null) {
        const close = await conn.waitForClose(ctx.closeWindowMs);
        if (close !== null) {
          findings.enforced = answered;
          findings.announced = true;
          findings.closesAfterLast = true;
          break;
        }
        findings.closesAfterLast = false;
        announcedAt = answered;
      }
    }
  } finally {
    conn.destroy();
  }
  ctx.progress({ kind: 'max-requests', answered });
  findings.advertised = maxValues[0] ?? null;
  findings.countsDown = maxValues.length < 2 ? null : maxValues[1] < maxValues[0];
  return findings;
}

export async function probeIdleTimeout(ctx: ProbeContext, concurrency: number): Promise<IdleTimeoutFindings> {
  const samples: Array<{ ms: number; kind: CloseKind }> = [];
  const statusesBeforeClose: number[] = [];
  let advertisedSeconds: number | null = null;
  let open = 0;
  let closed = 0;
  const report = (): void => ctx.progress({ kind: 'idle', open, closed, samplesMs: samples.map((s) => s.ms) });
  const watch = async (index: number): Promise<void> => {
    const conn = await openOrNote(ctx, `idle connection ${index + 1}`);
    if (conn === null) return;
    try {
      const response = await exchange(ctx, conn, 'GET', buildRequest(ctx.target, 'GET', '1.1'), `idle connection ${index + 1}`);
      if (response === null || saysClose(response.head)) return;
      advertisedSeconds ??= keepAliveOf(response.head).timeoutSeconds;
      open++;
      report();
      const close = await conn.waitForClose(ctx.maxWaitMs);
      open--;
      if (close === null) return;
      closed++;
      samples.push({ ms: close.atMs - response.endAtMs, kind: close.kind });
      while (conn.unreadResponses > 0) {
        const extra = await conn.read(0);
        if (extra.kind === 'response') statusesBeforeClose.push(extra.response.head.status);
      }
      report();
    } finally {
      conn.destroy();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => watch(i)));
  const advertisedMs = advertisedSeconds === null ? null : advertisedSeconds * 1000;
  if (samples.length === 0) {
    return { advertisedMs, measuredMs: null, closeKind: null, marginMs: null, samplesMs: [], connections: concurrency, statusesBeforeClose };
  }
  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const measuredMs = Math.round(sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2);
  const fins = samples.filter((s) => s.kind === 'fin').length;
  return {
    advertisedMs,
    measuredMs,
    closeKind: fins > samples.length - fins ? 'fin' : 'rst',
    marginMs: advertisedMs === null ? null : measuredMs - advertisedMs,
    samplesMs: samples.map((s) => Math.round(s.ms)),
    connections: concurrency,
    statusesBeforeClose,
  };
}

export async function probeHeadersTimeout(ctx: ProbeContext): Promise<{ headersTimeoutMs: number | null; headersTimeout: HeadersTimeoutFindings }> {
  const findings: HeadersTimeoutFindings = { closeKind: null, status: null };
  const conn = await openOrNote(ctx, 'headers-timeout probe');
  if (conn === null) return { headersTimeoutMs: null, headersTimeout: findings };
  try {
    ctx.progress({ kind: 'headers', waiting: true, ms: null });
    const unfinished = buildRequest(ctx.target, 'GET', '1.1');
    conn.writeRaw(unfinished.slice(0, unfinished.length - 2));
    const startedAtMs = performance.now();
    const close = await conn.waitForClose(ctx.maxWaitMs);
    if (close === null) {
      ctx.progress({ kind: 'headers', waiting: false, ms: null });
      return { headersTimeoutMs: null, headersTimeout: findings };
    }
    findings.closeKind = close.kind;
    if (conn.unreadResponses > 0) {
      const response = await conn.read(0);
      if (response.kind === 'response') findings.status = response.response.head.status;
    }
    const headersTimeoutMs = Math.round(close.atMs - startedAtMs);
    ctx.progress({ kind: 'headers', waiting: false, ms: headersTimeoutMs });
    return { headersTimeoutMs, headersTimeout: findings };
  } finally {
    conn.destroy();
  }
}
