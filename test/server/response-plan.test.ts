/**
 * The response plan as tables, with no socket: each row is the facts that differ from a plain
 * HTTP/1.1 GET answered with a 5-byte body on a fresh connection, and what the plan must be.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KeepAliveDecision } from '../../src/http1/keep-alive.js';
import {
  decideAfterResponse,
  decideLingering,
  newResponsePlan,
  planResponse,
  type AfterResponse,
  type AfterResponseFacts,
  type LingerFacts,
  type ResponseFacts,
} from '../../src/server/response-plan.js';

const tokens = (...names: string[]): ReadonlySet<string> => new Set(names);

const BASE: Readonly<ResponseFacts> = Object.freeze<ResponseFacts>({
  serverVersion: '1.1',
  keepAliveTimeoutMs: 5_500,
  maxRequestsPerConnection: 100,
  maxDrainBytes: 1_000,
  method: 'GET',
  requestVersion: '1.1',
  requestConnection: tokens(),
  requestFraming: { kind: 'none' },
  reading: 'done',
  bodyBytesRead: 0,
  continueWithheld: false,
  status: 200,
  shape: { kind: 'sized', length: 5 },
  declaredLength: null,
  connectionClose: false,
  peerEnded: false,
  requestsServed: 1,
  lifetimeExceeded: false,
  shuttingDown: false,
  date: 'Sat, 05 Dec 2026 17:00:00 GMT',
});

interface PlanRow {
  name: string;
  facts: Partial<ResponseFacts>;
  framing: string;
  contentLength: number | null;
  /** The Connection field, and the Keep-Alive field or the close reason. */
  persistence: ['keep-alive', string] | ['close', string];
}

const PLAN_ROWS: PlanRow[] = [
  { name: 'a sized body keeps the connection, max counts down', facts: {}, framing: 'length', contentLength: 5, persistence: ['keep-alive', 'timeout=5, max=99'] },
  { name: 'unlimited requests: no max', facts: { maxRequestsPerConnection: 0 }, framing: 'length', contentLength: 5, persistence: ['keep-alive', 'timeout=5'] },
  { name: 'the last allowed request', facts: { requestsServed: 100 }, framing: 'length', contentLength: 5, persistence: ['close', 'max-requests'] },
  { name: 'an empty body is Content-Length: 0', facts: { shape: { kind: 'empty' } }, framing: 'length', contentLength: 0, persistence: ['keep-alive', 'timeout=5, max=99'] },
  { name: 'HEAD states the size it would send', facts: { method: 'HEAD' }, framing: 'none', contentLength: 5, persistence: ['keep-alive', 'timeout=5, max=99'] },
  { name: '304 repeats the declared length', facts: { status: 304, shape: { kind: 'empty' }, declaredLength: 42 }, framing: 'none', contentLength: 42, persistence: ['keep-alive', 'timeout=5, max=99'] },
  { name: '204 never has Content-Length', facts: { status: 204, shape: { kind: 'empty' }, declaredLength: 3 }, framing: 'none', contentLength: null, persistence: ['keep-alive', 'timeout=5, max=99'] },
  { name: 'a stream to HTTP/1.1 is chunked', facts: { shape: { kind: 'stream' } }, framing: 'chunked', contentLength: null, persistence: ['keep-alive', 'timeout=5, max=99'] },
  {
    name: 'a stream to HTTP/1.0 keep-alive is close-delimited',
    facts: { shape: { kind: 'stream' }, requestVersion: '1.0', requestConnection: tokens('keep-alive') },
    framing: 'close-delimited',
    contentLength: null,
    persistence: ['close', 'unframed-body'],
  },
  { name: 'a server configured for HTTP/1.0 never keeps', facts: { serverVersion: '1.0' }, framing: 'length', contentLength: 5, persistence: ['close', 'http10-default'] },
  { name: 'HTTP/1.0 without keep-alive', facts: { requestVersion: '1.0' }, framing: 'length', contentLength: 5, persistence: ['close', 'http10-default'] },
  { name: 'HTTP/1.0 asking for keep-alive', facts: { requestVersion: '1.0', requestConnection: tokens('keep-alive') }, framing: 'length', contentLength: 5, persistence: ['keep-alive', 'timeout=5, max=99'] },
  { name: 'the client says close', facts: { requestConnection: tokens('close') }, framing: 'length', contentLength: 5, persistence: ['close', 'client-close'] },
  { name: 'the handler says close', facts: { connectionClose: true }, framing: 'length', contentLength: 5, persistence: ['close', 'handler-close'] },
  { name: 'the peer half-closed', facts: { peerEnded: true }, framing: 'length', contentLength: 5, persistence: ['close', 'peer-eof'] },
  { name: 'shutting down', facts: { shuttingDown: true }, framing: 'length', contentLength: 5, persistence: ['close', 'shutdown'] },
  { name: 'too old', facts: { lifetimeExceeded: true }, framing: 'length', contentLength: 5, persistence: ['close', 'max-lifetime'] },
  {
    name: 'an unread body within the drain budget keeps',
    facts: { requestFraming: { kind: 'length', length: 1_200 }, reading: 'body', bodyBytesRead: 200 },
    framing: 'length',
    contentLength: 5,
    persistence: ['keep-alive', 'timeout=5, max=99'],
  },
  {
    name: 'an unread body over the drain budget closes',
    facts: { requestFraming: { kind: 'length', length: 1_201 }, reading: 'body', bodyBytesRead: 200 },
    framing: 'length',
    contentLength: 5,
    persistence: ['close', 'unread-body'],
  },
  {
    name: 'a chunked body is drained (its size is unknown)',
    facts: { requestFraming: { kind: 'chunked' }, reading: 'body' },
    framing: 'length',
    contentLength: 5,
    persistence: ['keep-alive', 'timeout=5, max=99'],
  },
  {
    name: '100-continue never sent: the body may never come',
    facts: { requestFraming: { kind: 'length', length: 10 }, reading: 'body', continueWithheld: true },
    framing: 'length',
    contentLength: 5,
    persistence: ['close', 'unread-body'],
  },
  {
    name: 'a body that broke HTTP cannot be drained',
    facts: { requestFraming: { kind: 'chunked' }, reading: 'failed' },
    framing: 'length',
    contentLength: 5,
    persistence: ['close', 'unread-body'],
  },
];

describe('planResponse', () => {
  for (const row of PLAN_ROWS) {
    test(row.name, () => {
      const plan = planResponse({ ...BASE, ...row.facts });
      assert.equal(plan.framing, row.framing);
      assert.equal(plan.head.contentLength, row.contentLength);
      assert.equal(plan.head.chunked, row.framing === 'chunked');
      assert.equal(plan.head.connection, row.persistence[0]);
      if (row.persistence[0] === 'keep-alive') {
        assert.equal(plan.decision.keepAlive, true);
        assert.equal(plan.head.keepAlive, row.persistence[1]);
      } else {
        assert.deepEqual(plan.decision, { keepAlive: false, reason: row.persistence[1] });
        assert.equal(plan.head.keepAlive, null);
      }
      assert.equal(plan.head.status, row.facts.status ?? 200);
      assert.equal(plan.head.version, row.facts.serverVersion ?? '1.1');
      assert.equal(plan.head.date, BASE.date);
    });
  }

  test('fills the plan it is given, and the next plan overwrites every field', () => {
    const reused = newResponsePlan();
    assert.equal(planResponse({ ...BASE, shape: { kind: 'stream' }, requestConnection: tokens('close') }, reused), reused);
    planResponse(BASE, reused);
    assert.deepEqual(reused, planResponse(BASE));
  });
});

const KEEP: KeepAliveDecision = { keepAlive: true, remaining: 9 };
const AFTER_BASE: Readonly<AfterResponseFacts> = Object.freeze<AfterResponseFacts>({
  decision: KEEP,
  requestVersion: '1.1',
  requestConnection: tokens(),
  reading: 'done',
  inputPending: false,
  maxDrainBytes: 1_000,
});

const AFTER_ROWS: Array<{ name: string; facts: Partial<AfterResponseFacts>; after: AfterResponse }> = [
  { name: 'kept, body read: the next request', facts: {}, after: { kind: 'next-request' } },
  { name: 'kept, body unread: drain within the budget', facts: { reading: 'body' }, after: { kind: 'drain', maxBytes: 1_000 } },
  { name: 'kept, but the request deadline passed while responding', facts: { reading: 'overdue' }, after: { kind: 'close', reason: 'request-timeout', linger: true } },
  {
    name: 'the client said close and sent nothing more: close at once',
    facts: { decision: { keepAlive: false, reason: 'client-close' }, requestConnection: tokens('close') },
    after: { kind: 'close', reason: 'client-close', linger: false },
  },
  {
    name: 'HTTP/1.0 without keep-alive is the client ending it too',
    facts: { decision: { keepAlive: false, reason: 'http10-default' }, requestVersion: '1.0' },
    after: { kind: 'close', reason: 'http10-default', linger: false },
  },
  {
    name: 'the client said close but more bytes are buffered: linger',
    facts: { decision: { keepAlive: false, reason: 'client-close' }, requestConnection: tokens('close'), inputPending: true },
    after: { kind: 'close', reason: 'client-close', linger: true },
  },
  {
    name: 'the client said close with its body unread: linger',
    facts: { decision: { keepAlive: false, reason: 'unread-body' }, requestConnection: tokens('close'), reading: 'body' },
    after: { kind: 'close', reason: 'unread-body', linger: true },
  },
  {
    name: 'a close the server decided lingers (the client may be sending)',
    facts: { decision: { keepAlive: false, reason: 'max-requests' } },
    after: { kind: 'close', reason: 'max-requests', linger: true },
  },
  {
    name: 'shutdown while the client also said close: at once, reason shutdown',
    facts: { decision: { keepAlive: false, reason: 'shutdown' }, requestConnection: tokens('close') },
    after: { kind: 'close', reason: 'shutdown', linger: false },
  },
];

describe('decideAfterResponse', () => {
  for (const row of AFTER_ROWS) {
    test(row.name, () => assert.deepEqual(decideAfterResponse({ ...AFTER_BASE, ...row.facts }), row.after));
  }
});

const LINGER_BASE: Readonly<LingerFacts> = Object.freeze<LingerFacts>({ peerEnded: false, quietClose: false, evicted: false, bytesReadWhileClosing: 0, lingerMs: 5_000 });

const LINGER_ROWS: Array<{ name: string; facts: Partial<LingerFacts>; lingers: boolean }> = [
  { name: 'a close the server decided lingers', facts: {}, lingers: true },
  { name: 'the peer already sent FIN', facts: { peerEnded: true }, lingers: false },
  { name: 'lingering is off', facts: { lingerMs: 0 }, lingers: false },
  { name: 'a quiet close with nothing read since', facts: { quietClose: true }, lingers: false },
  { name: 'a quiet close, but the client kept sending while the response went out', facts: { quietClose: true, bytesReadWhileClosing: 10 }, lingers: true },
  { name: 'an evicted idle connection goes at once whatever it sends', facts: { quietClose: true, evicted: true, bytesReadWhileClosing: 10 }, lingers: false },
];

describe('decideLingering', () => {
  for (const row of LINGER_ROWS) {
    test(row.name, () => assert.equal(decideLingering({ ...LINGER_BASE, ...row.facts }), row.lingers));
  }
});
