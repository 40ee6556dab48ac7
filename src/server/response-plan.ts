/**
 * The decisions the connection loop takes around one response, as pure functions of facts (no
 * socket, no clock, no options object): tested as tables in test/server/response-plan.test.ts.
 *
 * - `planResponse`: before the head goes out — framing (RFC 9112 §6.3), the keep-alive decision
 *   (`decideKeepAlive`, RFC 9112 §9.3) and the head's framing and persistence fields.
 * - `decideAfterResponse`: once the response is queued — read the next request, discard the unread
 *   request body up to a budget (RFC 9112 §9.3: the connection can only be reused once the body
 *   is consumed), or close, lingering or not.
 * - `decideLingering`: while closing — read and discard after our FIN (lingering close, nginx and
 *   Apache) or close at once.
 */

import type { BodyFraming, HttpVersion, ResponseBodyShape, ResponseFraming } from '../http1/framing.js';
import { decideResponseFraming } from '../http1/framing.js';
import { decideKeepAlive, keepAliveFieldValue, requestEndsConnection, type KeepAliveDecision, type KeepAliveFacts } from '../http1/keep-alive.js';
import type { ResponseHeadInit } from '../http1/serializer.js';
import type { CloseReason } from './close-reason.js';

/**
 * Where reading the request body stands.
 * - `body`: not all read; the handler may pull it.
 * - `overdue`: as `body`, but the request deadline passed while the response was going out: the
 *   connection closes after it (`request-timeout`).
 * - `draining`: the response is queued; the rest is being read and discarded.
 * - `done`: no body, or all of it read.
 * - `failed`: the body broke HTTP (the parser reported an error).
 */
export type ReadingState = 'body' | 'overdue' | 'draining' | 'done' | 'failed';

/**
 * Where the response stands.
 * - `handler`: the handler has not answered.
 * - `streaming`: the head is queued and a body is being written.
 * - `done`: the whole response is queued.
 * - `abandoned`: the server answered on its own (error, timeout) or the connection is gone: the
 *   handler's answer, if it ever comes, is discarded.
 */
export type WritingState = 'handler' | 'streaming' | 'done' | 'abandoned';

export interface ResponseFacts {
  // The server's settings.
  serverVersion: HttpVersion;
  keepAliveTimeoutMs: number;
  maxRequestsPerConnection: number;
  maxDrainBytes: number;
  // The request.
  method: string;
  requestVersion: HttpVersion;
  /** Lower-cased Connection tokens of the request. */
  requestConnection: ReadonlySet<string>;
  requestFraming: BodyFraming;
  reading: ReadingState;
  bodyBytesRead: number;
  /** `Expect: 100-continue` and no 100 sent: the client may never send the body. */
  continueWithheld: boolean;
  // The handler's response.
  status: number;
  shape: ResponseBodyShape;
  /** The handler's own Content-Length (used for HEAD and 304). */
  declaredLength: number | null;
  /** The handler asked for `Connection: close`. */
  connectionClose: boolean;
  // The connection.
  /** The peer sent FIN and every byte it sent before it is read. */
  peerEnded: boolean;
  /** Requests served on this connection, this one included. */
  requestsServed: number;
  lifetimeExceeded: boolean;
  shuttingDown: boolean;
  /** The Date field's value. */
  date: string;
}

export interface ResponsePlan {
  framing: ResponseFraming;
  decision: KeepAliveDecision;
  /** The head's fields, but for the handler's header block (serialized beside it). */
  head: ResponseHeadInit;
}

export function newResponsePlan(): ResponsePlan {
  return {
    framing: 'length',
    decision: { keepAlive: true, remaining: null },
    head: { version: '1.1', status: 200, headers: undefined, contentLength: null, chunked: false, connection: null, keepAlive: null, date: '' },
  };
}

const NO_TOKENS: ReadonlySet<string> = new Set<string>();
/** Reused: planResponse runs to completion before it runs again. */
const KEEP_ALIVE_FACTS: KeepAliveFacts = {
  serverVersion: '1.1',
  requestVersion: '1.1',
  requestConnection: NO_TOKENS,
  responseConnectionClose: false,
  responseFraming: 'length',
  requestBodyDrainable: true,
  peerEnded: false,
  requestsServed: 0,
  maxRequestsPerConnection: 0,
  lifetimeExceeded: false,
  shuttingDown: false,
};

/**
 * Fills `plan` (reused by the caller: one response allocates nothing here) from `facts`.
 * The peer's version is the lower of the request's and the server's: chunked only reaches
 * HTTP/1.1 recipients (RFC 9112 §7).
 */
export function planResponse(facts: ResponseFacts, plan: ResponsePlan = newResponsePlan()): ResponsePlan {
  const peerVersion: HttpVersion = facts.serverVersion === '1.0' || facts.requestVersion === '1.0' ? '1.0' : '1.1';
  const framing = decideResponseFraming(facts.method, facts.status, facts.shape, peerVersion);
  const k = KEEP_ALIVE_FACTS;
  k.serverVersion = facts.serverVersion;
  k.requestVersion = facts.requestVersion;
  k.requestConnection = facts.requestConnection;
  k.responseConnectionClose = facts.connectionClose;
  k.responseFraming = framing;
  k.requestBodyDrainable = isBodyDrainable(facts);
  k.peerEnded = facts.peerEnded;
  k.requestsServed = facts.requestsServed;
  k.maxRequestsPerConnection = facts.maxRequestsPerConnection;
  k.lifetimeExceeded = facts.lifetimeExceeded;
  k.shuttingDown = facts.shuttingDown;
  const decision = decideKeepAlive(k);
  k.requestConnection = NO_TOKENS;

  plan.framing = framing;
  plan.decision = decision;
  const head = plan.head;
  head.version = facts.serverVersion;
  head.status = facts.status;
  head.contentLength = contentLengthField(framing, facts);
  head.chunked = framing === 'chunked';
  head.connection = decision.keepAlive ? 'keep-alive' : 'close';
  head.keepAlive = decision.keepAlive ? keepAliveFieldValue(facts.keepAliveTimeoutMs, decision.remaining) : null;
  head.date = facts.date;
  return plan;
}

/** An unread body can be discarded to keep the connection: within the drain budget, and sent at all. */
function isBodyDrainable(facts: ResponseFacts): boolean {
  const reading = facts.reading;
  if (reading === 'done') return true;
  if (reading === 'failed') return false;
  // RFC 9110 §10.1.1: without 100 Continue the client may never send the body (Go closes too).
  if (facts.continueWithheld) return false;
  const framing = facts.requestFraming;
  if (framing.kind === 'length') return framing.length - facts.bodyBytesRead <= facts.maxDrainBytes;
  return true;
}

/** Content-Length for the head: the body's size, or for HEAD/304 what the handler declared. */
function contentLengthField(framing: ResponseFraming, facts: ResponseFacts): number | null {
  const shape = facts.shape;
  if (framing === 'length') return shape.kind === 'sized' ? shape.length : 0;
  if (framing !== 'none') return null;
  const status = facts.status;
  if (status < 200 || status === 204) return null;
  if (facts.method === 'HEAD' && shape.kind === 'sized') return shape.length;
  return facts.declaredLength;
}

export type AfterResponse =
  | { kind: 'next-request' }
  /** Read and discard the rest of the body; past `maxBytes`, close (`unread-body`). */
  | { kind: 'drain'; maxBytes: number }
  /** `linger: false`: the client will send nothing more, so no late write can draw an RST. */
  | { kind: 'close'; reason: CloseReason; linger: boolean };

export interface AfterResponseFacts {
  decision: KeepAliveDecision;
  requestVersion: HttpVersion;
  requestConnection: ReadonlySet<string>;
  reading: ReadingState;
  /** Request bytes past this request are buffered, or may still wait in the kernel (a full read). */
  inputPending: boolean;
  maxDrainBytes: number;
}

const NEXT_REQUEST: AfterResponse = Object.freeze({ kind: 'next-request' });

export function decideAfterResponse(facts: AfterResponseFacts): AfterResponse {
  const decision = facts.decision;
  if (!decision.keepAlive) {
    // The client said this request is its last (Connection: close, or HTTP/1.0 without
    // keep-alive) and every byte it sent is read: it will send nothing more — close at once after
    // the FIN, as nginx's lingering_close heuristic does. A close the server decided (max requests,
    // shutdown…) lingers: the client may be sending its next request.
    const quiet = facts.reading === 'done' && !facts.inputPending && requestEndsConnection(facts.requestVersion, facts.requestConnection);
    return { kind: 'close', reason: decision.reason, linger: !quiet };
  }
  switch (facts.reading) {
    case 'overdue':
      return { kind: 'close', reason: 'request-timeout', linger: true };
    case 'body':
    case 'draining':
      return { kind: 'drain', maxBytes: facts.maxDrainBytes };
    case 'done':
    case 'failed':
      return NEXT_REQUEST;
  }
}

export interface LingerFacts {
  /** The peer sent FIN: it sends nothing more. */
  peerEnded: boolean;
  /** The close was planned without lingering (the client ended the connection, or an idle eviction). */
  quietClose: boolean;
  /** An idle connection evicted to make room (maxConnections). */
  evicted: boolean;
  /** Bytes read since the close began. */
  bytesReadWhileClosing: number;
  lingerMs: number;
}

/**
 * True: after our FIN, read and discard for lingerMs. A client that said it was done but sent more
 * while the response went out is still sending: closing at once could answer its next bytes with an
 * RST that wipes out the response it has not read yet. An evicted idle connection goes at once.
 */
export function decideLingering(facts: LingerFacts): boolean {
  if (facts.peerEnded || facts.lingerMs === 0) return false;
  if (!facts.quietClose) return true;
  return !(facts.bytesReadWhileClosing === 0 || facts.evicted);
}
