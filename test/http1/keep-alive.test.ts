import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decideKeepAlive,
  keepAliveFieldValue,
  type PersistenceCloseReason as CloseReason,
  type KeepAliveDecision,
  type KeepAliveFacts,
} from '../../src/http1/keep-alive.js';

/** An HTTP/1.1 exchange that keeps the connection: every rule's trigger is off. */
const BASE: KeepAliveFacts = Object.freeze({
  serverVersion: '1.1',
  requestVersion: '1.1',
  requestConnection: new Set<string>(),
  responseConnectionClose: false,
  responseFraming: 'length',
  requestBodyDrainable: true,
  peerEnded: false,
  requestsServed: 1,
  maxRequestsPerConnection: 0,
  lifetimeExceeded: false,
  shuttingDown: false,
});

const tokens = (...list: string[]): ReadonlySet<string> => new Set(list);
const keep = (remaining: number | null): KeepAliveDecision => ({ keepAlive: true, remaining });
const close = (reason: CloseReason): KeepAliveDecision => ({ keepAlive: false, reason });

interface Row {
  name: string;
  facts: Partial<KeepAliveFacts>;
  expected: KeepAliveDecision;
}

const ROWS: Row[] = [
  // Each rule on its own.
  { name: 'baseline HTTP/1.1 persists, unlimited', facts: {}, expected: keep(null) },
  { name: 'rule 1: shutting down', facts: { shuttingDown: true }, expected: close('shutdown') },
  { name: 'rule 2: server configured for HTTP/1.0', facts: { serverVersion: '1.0' }, expected: close('http10-default') },
  { name: 'rule 3: client sent close', facts: { requestConnection: tokens('close') }, expected: close('client-close') },
  { name: 'rule 4: handler sent close', facts: { responseConnectionClose: true }, expected: close('handler-close') },
  { name: 'rule 5: peer half-closed', facts: { peerEnded: true }, expected: close('peer-eof') },
  { name: 'rule 6: HTTP/1.0 request without keep-alive', facts: { requestVersion: '1.0' }, expected: close('http10-default') },
  { name: 'rule 7: close-delimited response', facts: { responseFraming: 'close-delimited' }, expected: close('unframed-body') },
  { name: 'rule 8: undrainable request body', facts: { requestBodyDrainable: false }, expected: close('unread-body') },
  {
    name: 'rule 9: last request allowed',
    facts: { requestsServed: 5, maxRequestsPerConnection: 5 },
    expected: close('max-requests'),
  },
  { name: 'rule 10: lifetime exceeded', facts: { lifetimeExceeded: true }, expected: close('max-lifetime') },

  // Precedence: each rule beats the one after it.
  {
    name: 'shutdown beats an HTTP/1.0 server',
    facts: { shuttingDown: true, serverVersion: '1.0' },
    expected: close('shutdown'),
  },
  {
    name: 'HTTP/1.0 server beats client close',
    facts: { serverVersion: '1.0', requestConnection: tokens('close') },
    expected: close('http10-default'),
  },
  {
    name: 'client close beats handler close',
    facts: { requestConnection: tokens('close'), responseConnectionClose: true },
    expected: close('client-close'),
  },
  {
    name: 'handler close beats peer EOF',
    facts: { responseConnectionClose: true, peerEnded: true },
    expected: close('handler-close'),
  },
  {
    name: 'peer EOF beats the HTTP/1.0 default',
    facts: { peerEnded: true, requestVersion: '1.0' },
    expected: close('peer-eof'),
  },
  {
    name: 'HTTP/1.0 default beats a close-delimited body',
    facts: { requestVersion: '1.0', responseFraming: 'close-delimited' },
    expected: close('http10-default'),
  },
  {
    name: 'close-delimited body beats an unread body',
    facts: { responseFraming: 'close-delimited', requestBodyDrainable: false },
    expected: close('unframed-body'),
  },
  {
    name: 'unread body beats max requests',
    facts: { requestBodyDrainable: false, requestsServed: 3, maxRequestsPerConnection: 3 },
    expected: close('unread-body'),
  },
  {
    name: 'max requests beats max lifetime',
    facts: { requestsServed: 3, maxRequestsPerConnection: 3, lifetimeExceeded: true },
    expected: close('max-requests'),
  },
  {
    name: 'every trigger at once names shutdown',
    facts: {
      shuttingDown: true,
      serverVersion: '1.0',
      requestVersion: '1.0',
      requestConnection: tokens('close'),
      responseConnectionClose: true,
      peerEnded: true,
      responseFraming: 'close-delimited',
      requestBodyDrainable: false,
      requestsServed: 9,
      maxRequestsPerConnection: 1,
      lifetimeExceeded: true,
    },
    expected: close('shutdown'),
  },

  // Counting down the requests a connection may carry.
  { name: 'max 100, served 1 → 99 remain', facts: { maxRequestsPerConnection: 100, requestsServed: 1 }, expected: keep(99) },
  { name: 'max 100, served 99 → 1 remains', facts: { maxRequestsPerConnection: 100, requestsServed: 99 }, expected: keep(1) },
  {
    name: 'max 100, served 100 → max-requests',
    facts: { maxRequestsPerConnection: 100, requestsServed: 100 },
    expected: close('max-requests'),
  },
  {
    name: 'served beyond max still closes',
    facts: { maxRequestsPerConnection: 100, requestsServed: 101 },
    expected: close('max-requests'),
  },
  {
    name: 'max 1 closes on the first request',
    facts: { maxRequestsPerConnection: 1, requestsServed: 1 },
    expected: close('max-requests'),
  },
  { name: 'max 2, served 1 → 1 remains', facts: { maxRequestsPerConnection: 2, requestsServed: 1 }, expected: keep(1) },
  {
    name: 'max 0 is unlimited: remaining null however many were served',
    facts: { maxRequestsPerConnection: 0, requestsServed: 1_000_000 },
    expected: keep(null),
  },

  // HTTP/1.0 clients (RFC 9112 §9.3, and the keep-alive extension it keeps).
  {
    name: 'HTTP/1.0 + keep-alive + Content-Length persists',
    facts: { requestVersion: '1.0', requestConnection: tokens('keep-alive'), responseFraming: 'length' },
    expected: keep(null),
  },
  {
    name: 'HTTP/1.0 + keep-alive + no body persists',
    facts: { requestVersion: '1.0', requestConnection: tokens('keep-alive'), responseFraming: 'none' },
    expected: keep(null),
  },
  {
    name: 'HTTP/1.0 + keep-alive + length framing counts down',
    facts: {
      requestVersion: '1.0',
      requestConnection: tokens('keep-alive'),
      maxRequestsPerConnection: 10,
      requestsServed: 4,
    },
    expected: keep(6),
  },
  {
    name: 'HTTP/1.0 + keep-alive + close-delimited body closes',
    facts: { requestVersion: '1.0', requestConnection: tokens('keep-alive'), responseFraming: 'close-delimited' },
    expected: close('unframed-body'),
  },
  {
    name: 'HTTP/1.0 + an unrelated token is still the default close',
    facts: { requestVersion: '1.0', requestConnection: tokens('upgrade') },
    expected: close('http10-default'),
  },
  {
    name: 'server HTTP/1.0 never keeps alive, even for HTTP/1.0 + keep-alive',
    facts: { serverVersion: '1.0', requestVersion: '1.0', requestConnection: tokens('keep-alive') },
    expected: close('http10-default'),
  },
  {
    name: 'server HTTP/1.0 never keeps alive an HTTP/1.1 client either',
    facts: { serverVersion: '1.0', requestVersion: '1.1', maxRequestsPerConnection: 100 },
    expected: close('http10-default'),
  },

  // The close token wherever it sits in the set.
  {
    name: 'close first among several tokens',
    facts: { requestConnection: tokens('close', 'keep-alive', 'upgrade') },
    expected: close('client-close'),
  },
  {
    name: 'close last among several tokens',
    facts: { requestConnection: tokens('te', 'upgrade', 'close') },
    expected: close('client-close'),
  },
  {
    name: 'close with keep-alive on HTTP/1.0',
    facts: { requestVersion: '1.0', requestConnection: tokens('keep-alive', 'close') },
    expected: close('client-close'),
  },
  {
    name: 'keep-alive token on HTTP/1.1 changes nothing',
    facts: { requestConnection: tokens('keep-alive') },
    expected: keep(null),
  },
  {
    name: 'a token that merely contains close is not close',
    facts: { requestConnection: tokens('closed', 'x-close') },
    expected: keep(null),
  },

  // Framings that persist.
  { name: 'chunked response persists', facts: { responseFraming: 'chunked' }, expected: keep(null) },
  { name: 'bodyless response persists', facts: { responseFraming: 'none' }, expected: keep(null) },
];

describe('decideKeepAlive truth table', () => {
  for (const row of ROWS) {
    test(row.name, () => {
      assert.deepEqual(decideKeepAlive({ ...BASE, ...row.facts }), row.expected);
    });
  }
});

describe('decideKeepAlive precedence over every combination of triggers', () => {
  // The module's rules in their documented order; the first that applies names the reason.
  const RULES: Array<[keyof typeof TRIGGERS, CloseReason]> = [
    ['shuttingDown', 'shutdown'],
    ['serverVersion10', 'http10-default'],
    ['clientClose', 'client-close'],
    ['handlerClose', 'handler-close'],
    ['peerEnded', 'peer-eof'],
    ['requestVersion10', 'http10-default'],
    ['closeDelimited', 'unframed-body'],
    ['undrainable', 'unread-body'],
    ['lastRequest', 'max-requests'],
    ['lifetimeExceeded', 'max-lifetime'],
  ];
  const TRIGGERS = {
    shuttingDown: { shuttingDown: true },
    serverVersion10: { serverVersion: '1.0' },
    clientClose: { requestConnection: tokens('close') },
    handlerClose: { responseConnectionClose: true },
    peerEnded: { peerEnded: true },
    requestVersion10: { requestVersion: '1.0' },
    closeDelimited: { responseFraming: 'close-delimited' },
    undrainable: { requestBodyDrainable: false },
    lastRequest: { requestsServed: 7, maxRequestsPerConnection: 7 },
    lifetimeExceeded: { lifetimeExceeded: true },
  } satisfies Record<string, Partial<KeepAliveFacts>>;

  test(`all ${2 ** 10} combinations name the first applicable rule`, () => {
    for (let mask = 0; mask < 1 << RULES.length; mask++) {
      let facts: KeepAliveFacts = { ...BASE, maxRequestsPerConnection: 10, requestsServed: 3 };
      let firstReason: CloseReason | null = null;
      RULES.forEach(([trigger, reason], bit) => {
        if ((mask & (1 << bit)) === 0) return;
        facts = { ...facts, ...TRIGGERS[trigger] };
        firstReason ??= reason;
      });
      const expected = firstReason === null ? keep(7) : close(firstReason);
      assert.deepEqual(decideKeepAlive(facts), expected, `triggers ${mask.toString(2).padStart(RULES.length, '0')}`);
    }
  });
});

describe('decideKeepAlive purity', () => {
  test('the same facts give equal decisions and the facts are not mutated', () => {
    const connection = tokens('keep-alive');
    const facts: KeepAliveFacts = { ...BASE, requestVersion: '1.0', requestConnection: connection, maxRequestsPerConnection: 3 };
    const snapshot = { ...facts, requestConnection: [...connection] };
    const first = decideKeepAlive(facts);
    const second = decideKeepAlive(facts);
    assert.deepEqual(first, keep(2));
    assert.deepEqual(second, first);
    assert.deepEqual({ ...facts, requestConnection: [...facts.requestConnection] }, snapshot);
  });
});

describe('keepAliveFieldValue', () => {
  const CASES: Array<[number, number | null, string]> = [
    [30_000, null, 'timeout=30'],
    [30_000, 99, 'timeout=30, max=99'],
    [5_000, 1, 'timeout=5, max=1'],
    [1_999, null, 'timeout=1'],
    [1_000, null, 'timeout=1'],
    [999, null, 'timeout=0'],
    [500, 0, 'timeout=0, max=0'],
    [0, null, 'timeout=0'],
    [65_999, 1000, 'timeout=65, max=1000'],
  ];
  for (const [timeoutMs, remaining, expected] of CASES) {
    test(`${timeoutMs} ms, remaining ${remaining} → ${expected}`, () => {
      assert.equal(keepAliveFieldValue(timeoutMs, remaining), expected);
    });
  }

  test('max is omitted exactly when remaining is null', () => {
    assert.doesNotMatch(keepAliveFieldValue(30_000, null), /max/);
    assert.match(keepAliveFieldValue(30_000, 0), /, max=0$/);
  });

  test('pairs with decideKeepAlive: the advertised max is the remaining count', () => {
    const decision = decideKeepAlive({ ...BASE, maxRequestsPerConnection: 100, requestsServed: 1 });
    assert.equal(decision.keepAlive, true);
    if (decision.keepAlive) assert.equal(keepAliveFieldValue(30_000, decision.remaining), 'timeout=30, max=99');
  });
});
