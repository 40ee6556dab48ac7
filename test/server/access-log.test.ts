import assert from 'node:assert/strict';
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { closeSync, constants, existsSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createServer, OptionError, type HoldfastServer } from '../../src/index.js';
import type { RequestEvent, ServerEvents } from '../../src/server/events.js';
import { MAX_LOG_BACKLOG_BYTES } from '../../src/server/log-writer.js';
import { LineBytes } from '../../src/server/line-bytes.js';
import { attachLogger } from '../../src/server/logger.js';
import { startCli } from '../helpers/cli.js';
import { RawConnection } from '../helpers/raw-client.js';
import { sleep, startServer } from '../helpers/server.js';
import type { LogChildConfig, LogChildMessage } from './fixtures/log-child.js';

const LOG_CHILD = fileURLToPath(new URL('./fixtures/log-child.js', import.meta.url));
const dir = mkdtempSync(path.join(os.tmpdir(), 'holdfast-log-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let fileCount = 0;
const logPath = (): string => path.join(dir, `access-${++fileCount}.log`);

interface LogLine {
  event: string;
  connectionId: number;
  requestIndex: number;
  target: string;
  lines: number;
  reason: string;
}

/** Every line of `text` as JSON; a torn or invalid line fails the test with its number. */
function jsonLines(text: string): LogLine[] {
  assert.ok(text === '' || text.endsWith('\n'), 'the log ends with a complete line');
  return text
    .split('\n')
    .slice(0, -1)
    .map((line, i) => {
      try {
        return JSON.parse(line) as LogLine;
      } catch {
        assert.fail(`line ${i + 1} is not a JSON object: ${JSON.stringify(line.slice(0, 200))}`);
      }
    });
}

/**
 * Sends `count` pipelined GETs for `${prefix}${i}` on one keep-alive connection, `window` at a time,
 * and resolves once every response's status line has arrived.
 */
async function pipelined(port: number, prefix: string, count: number, window = 500): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const marker = 'HTTP/1.1 200 ';
  let seen = 0;
  let carry = '';
  let sent = 0;
  const sendWindow = (): void => {
    let batch = '';
    const end = Math.min(count, sent + window);
    for (; sent < end; sent++) batch += `GET ${prefix}${sent} HTTP/1.1\r\nHost: t\r\n\r\n`;
    socket.write(batch);
  };
  try {
    await new Promise<void>((resolve, reject) => {
      socket.on('error', reject);
      socket.on('close', () => reject(new Error(`connection closed after ${seen} of ${count} responses`)));
      socket.setEncoding('latin1');
      socket.on('data', (text: string) => {
        const chunk = carry + text;
        for (let i = chunk.indexOf(marker); i !== -1; i = chunk.indexOf(marker, i + marker.length)) seen++;
        carry = chunk.slice(-(marker.length - 1));
        if (seen === count) resolve();
        else if (seen === sent) sendWindow();
      });
      sendWindow();
    });
  } finally {
    socket.destroy();
  }
}

/** What `write` puts into a LineBytes, as a string. */
function bytesOf(write: (out: LineBytes) => void): string {
  const out = new LineBytes(Buffer.alloc(1024));
  write(out);
  return out.buf.toString('utf8', 0, out.pos);
}

function requestEvent(target: string): RequestEvent {
  return { connectionId: 1, requestIndex: 1, method: 'GET', target, status: 200, bytes: 5, durationMs: 1.25, keepAlive: true };
}

interface LogChild {
  child: ChildProcess;
  port: number;
  send(command: string): void;
  next(kind: LogChildMessage['kind']): Promise<LogChildMessage>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startLogChild(config: LogChildConfig, stdout: 'ignore' | 'pipe' = 'ignore'): Promise<LogChild> {
  const child = fork(LOG_CHILD, [], {
    env: { ...process.env, HOLDFAST_LOG_CHILD: JSON.stringify(config) },
    execArgv: ['--expose-gc'],
    stdio: ['ignore', stdout, 'pipe', 'ipc'],
  });
  child.stderr?.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const messages: LogChildMessage[] = [];
  const waiting: Array<() => void> = [];
  child.on('message', (message: LogChildMessage) => {
    messages.push(message);
    for (const wake of waiting.splice(0)) wake();
  });
  const next = async (kind: LogChildMessage['kind']): Promise<LogChildMessage> => {
    const deadline = Date.now() + 5000;
    for (;;) {
      const index = messages.findIndex((m) => m.kind === kind);
      if (index !== -1) return messages.splice(index, 1)[0];
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`log child: no ${kind} message`);
      await Promise.race([new Promise<void>((resolve) => waiting.push(resolve)), sleep(100)]);
    }
  };
  const ready = (await next('ready')) as { kind: 'ready'; port: number };
  return { child, port: ready.port, send: (command) => child.send(command), next, exited };
}

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('access log lines', () => {
  test('JSON lines stay valid JSON whatever the target holds: quotes, backslashes, control and non-ASCII characters', () => {
    const lines: string[] = [];
    const emitter = new EventEmitter<ServerEvents>();
    attachLogger(emitter, 'json', (line) => lines.push(line));
    const targets = ['/plain', '/a"b', '/back\\slash', '/nul\u0000tab\tnl\ncr\r', '/esc\u001b[31m', '/caf\u00e9', '/lone\ud800surrogate', '/\u2028line-separator'];
    for (const target of targets) emitter.emit('request', requestEvent(target));
    assert.equal(lines.length, targets.length);
    lines.forEach((line, i) => {
      assert.ok(line.endsWith('}\n') && line.indexOf('\n') === line.length - 1, `one line: ${JSON.stringify(line)}`);
      const parsed = JSON.parse(line);
      assert.equal(parsed.event, 'request');
      assert.equal(parsed.target, targets[i]);
      assert.match(parsed.time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      assert.equal(parsed.durationMs, 1.25);
      assert.equal(parsed.keepAlive, true);
    });
    for (const text of ['plain', 'a"b\\c\u0001', 'tab\there', '\u00e9\u20ac\ud83d\ude00', '\udc00\ud800x', '\u007f\u0080']) {
      assert.equal(bytesOf((out) => out.json(text)), JSON.stringify(text), JSON.stringify(text));
    }
  });

  test('pretty lines are one line each: control characters, space, backslash and non-ASCII as \\xHH', () => {
    const lines: string[] = [];
    const emitter = new EventEmitter<ServerEvents>();
    attachLogger(emitter, 'pretty', (line) => lines.push(line));
    emitter.emit('request', requestEvent('/a b\\c\nd\u001be\u00e9'));
    emitter.emit('request', { ...requestEvent('/x'), keepAlive: false, durationMs: 12.349 });
    assert.match(lines[0], /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z conn#1 req#1 GET \/a\\x20b\\x5Cc\\x0Ad\\x1Be\\xE9 200 5B 1\.3ms\n$/);
    assert.match(lines[1], / GET \/x 200 5B 12\.3ms close\n$/);
    assert.equal(bytesOf((out) => out.pretty('/ok?q=1')), '/ok?q=1');
    assert.equal(bytesOf((out) => out.pretty('\u0100')), '\\u0100');
  });

  test('numbers are written digit by digit: integers as String() does, fixed1 and fixed3 rounding like toFixed', () => {
    for (const value of [0, 0.04, 0.05, 0.95, 1, 1.25, 12.3456, 999.9996, 1234567.891]) {
      assert.equal(bytesOf((out) => out.fixed3(value)), (Math.round(value * 1000) / 1000).toFixed(3), `fixed3(${value})`);
      assert.equal(bytesOf((out) => out.fixed1(value)), (Math.round(value * 10) / 10).toFixed(1), `fixed1(${value})`);
    }
    for (const value of [0, 7, 10, 99, 100, 65535, 1_000_000, Number.MAX_SAFE_INTEGER, -1, 1.5]) {
      assert.equal(bytesOf((out) => out.int(value)), String(value));
    }
    assert.equal(bytesOf((out) => out.int(Number.NaN)), '0');
    assert.equal(bytesOf((out) => out.fixed3(Number.NaN)), '0.000');
  });

  test('a target with a quote and a backslash (refused since RFC 3986 forbids them: 400) still logs valid JSON lines', async () => {
    const t = await startServer({ maxRequestsPerConnection: 0 });
    try {
      const c = await RawConnection.connect(t.port);
      c.write('GET /q"uo\\te?x=%22 HTTP/1.1\r\nHost: t\r\n\r\n');
      assert.equal((await c.readResponse()).status, 400);
      c.destroy();
      await t.closed(1);
      const events = t.logs.map((line) => JSON.parse(line) as { event: string; code?: string });
      assert.equal(events.find((e) => e.event === 'protocol-error')?.code, 'forbidden-target-character');
    } finally {
      await t.stop();
    }
  });

  test('the server hands requests to its logger directly: lines without a request listener, events for listeners as before', async () => {
    const lines: string[] = [];
    const server = createServer({ log: 'json', logSink: (line) => lines.push(line), maxRequestsPerConnection: 0 }, () => ({ status: 200, body: 'hi' }));
    assert.equal(server.listenerCount('request'), 0, 'the logger is no request listener');
    const { port } = await server.listen(0, '127.0.0.1');
    const c = await RawConnection.connect(port);
    try {
      c.write('GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n');
      await c.readResponse();
      await c.readResponse();
      const events: RequestEvent[] = [];
      server.on('request', (e) => events.push(e));
      c.write('GET /c HTTP/1.1\r\nHost: t\r\n\r\n');
      await c.readResponse();
      const requests = lines.map((line) => JSON.parse(line) as RequestEvent & { event: string }).filter((e) => e.event === 'request');
      assert.deepEqual(
        requests.map((e) => [e.target, e.requestIndex, e.status, e.bytes, e.keepAlive]),
        [['/a', 1, 200, 2, true], ['/b', 2, 200, 2, true], ['/c', 3, 200, 2, true]],
      );
      assert.equal(events.length, 1);
      assert.equal(events[0].target, '/c');
      assert.equal(requests[2].durationMs, Math.round(events[0].durationMs * 1000) / 1000, 'the line and the event carry one duration');
      for (const e of requests) assert.ok(e.durationMs >= 0 && e.durationMs < 1000, `duration ${e.durationMs}`);
    } finally {
      c.destroy();
      await server.close({ graceMs: 500 });
      assert.equal(server.connectionCount, 0);
    }
  });

  test("a request line's time is the wall clock when the request ended, to the millisecond", async () => {
    const lines: string[] = [];
    const server = createServer({ log: 'pretty', logSink: (line) => lines.push(line) }, () => ({ status: 204 }));
    const { port } = await server.listen(0, '127.0.0.1');
    const c = await RawConnection.connect(port);
    try {
      for (let i = 0; i < 3; i++) {
        const beforeMs = Date.now();
        c.write('GET /t HTTP/1.1\r\nHost: t\r\n\r\n');
        await c.readResponse();
        const afterMs = Date.now();
        const line = lines.filter((l) => l.includes(' req#')).at(-1) ?? '';
        const timeMs = Date.parse(line.slice(0, 24));
        assert.ok(timeMs >= beforeMs - 1 && timeMs <= afterMs + 1, `${line.slice(0, 24)} within [${new Date(beforeMs).toISOString()}, ${new Date(afterMs).toISOString()}]`);
        await sleep(5);
      }
    } finally {
      c.destroy();
      await server.close({ graceMs: 500 });
    }
  });

  test('a line like the one before but for its connection, index, duration and time is a patched copy, lines held back keep their order: the bytes of lines formatted whole and at once', async () => {
    // A function sink formats every line whole (its buffer is reused per line) and at once; a file sink takes the copies and holds lines back.
    type Facts = [number, number, string, string, number, number, number, boolean, number];
    const sequence: Array<Facts | 'open'> = [];
    const at = 1_000.25;
    for (let i = 1; i <= 12; i++) sequence.push([7, i, 'GET', '/r', 200, 13, 0.002, true, at]); // index 9 → 10: one digit wider
    for (let i = 95; i <= 102; i++) sequence.push([7, i, 'GET', '/r', 200, 13, 0.002, true, at]); // 99 → 100
    // Keep-alive clients taking turns: other connections (8 → 10: wider), other durations, later times.
    for (let i = 0; i < 12; i++) sequence.push([3 + i, 50 + i, 'GET', '/r', 200, 13, 0.0123 * i, true, at + 0.4 * i]);
    sequence.push(
      [4, 7, 'GET', '/r', 200, 13, 9.9994, true, at + 5], // 9.999 → 10.000 (JSON), 10.0 (pretty): a wider duration
      [5, 7, 'GET', '/r', 200, 13, 9.9996, true, at + 5],
      [5, 8, 'GET', '/r', 200, 13, 0.5, true, at + 999.9], // the next second, then the one after
      [6, 8, 'GET', '/r', 200, 13, 0.5, true, at + 1_000.5],
      'open', // a line of another kind between two request lines
      [6, 9, 'GET', '/r', 200, 13, 0.5, true, at + 1_000.5],
      [6, 10, 'GET', '/r', 200, 13, 0.5, true, at + 1_000.5],
      [7, 103, 'GET', '/other', 200, 13, 0.002, true, at],
      [7, 104, 'GET', '/other', 404, 13, 0.002, true, at],
      [7, 105, 'GET', '/other', 404, 9, 0.002, true, at],
      [8, 106, 'GET', '/other', 404, 9, 0.002, true, at],
      [8, 107, 'HEAD', '/other', 404, 9, 0.002, true, at],
      [8, 108, 'HEAD', '/other', 404, 9, 0.049, true, at],
      [8, 109, 'HEAD', '/other', 404, 9, 0.051, true, at], // pretty: 0.0ms → 0.1ms; JSON: 0.049 → 0.051
      [8, 110, 'HEAD', '/other', 404, 9, 0.051, false, at],
      [8, 111, 'HEAD', '/other', 404, 9, 0.051, false, at + 1], // the next millisecond
      [8, 113, 'HEAD', '/other', 404, 9, 0.051, false, at + 1], // not the index after
      [9, 113, 'HEAD', '/other', 404, 9, 0.051, false, at + 1],
      [8, 114, 'HEAD', '/a b', 404, 9, 0.051, false, at + 1],
      [8, 115, 'HEAD', '/a b', 404, 9, 0.051, false, at + 1],
    );
    // More than two batches of held-back lines (256 each), each request at a reading of its own, a line of another kind amid them.
    for (let i = 0; i < 600; i++) {
      sequence.push([20 + (i % 7), 1 + i, 'GET', '/r', 200, 13, 0.01 * (i % 5), true, at + 2_000 + 0.7 * i]);
      if (i === 300) sequence.push('open');
    }
    for (const format of ['pretty', 'json'] as const) {
      const whole: string[] = [];
      const events = new EventEmitter<ServerEvents>();
      const byFunction = attachLogger(events, format, (line) => whole.push(line), true);
      const file = logPath();
      const byFile = attachLogger(events, format, file, true);
      for (const facts of sequence) {
        if (facts === 'open') events.emit('connection-open', { connectionId: 11, remoteAddress: '127.0.0.1', remotePort: 5000 });
        else {
          byFunction.request?.(...facts);
          byFile.request?.(...facts);
        }
      }
      await byFile.close(2000);
      await byFunction.close(2000);
      // The connection line's time is its own clock reading, which the two loggers took apart.
      const untimedOpen = (text: string): string => text.replace(/^.*open.*$/gm, (line) => line.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/, '<time>'));
      const written = readFileSync(file, 'utf8');
      assert.equal(untimedOpen(written), untimedOpen(whole.join('')), `${format}: the file holds the lines formatted whole`);
      assert.equal(whole.length, sequence.length);
      assert.match(whole[9], format === 'pretty' ? / conn#7 req#10 GET \/r 200 13B 0\.0ms\n$/ : /"requestIndex":10,/);
      const times = new Set(whole.map((line) => (format === 'pretty' ? line.slice(0, 24) : (JSON.parse(line) as { time: string }).time)));
      assert.ok(times.size >= 8, `${format}: the lines carry their own times (${times.size} distinct)`);
    }
  });

  test('requests a pump answers end at one clock reading: a slow synchronous handler still shows its time, lines keep the order of events', async () => {
    const lines: string[] = [];
    const busyMs = 40;
    const server = createServer({ log: 'json', logSink: (line) => lines.push(line), maxRequestsPerConnection: 0 }, (req) => {
      if (req.path === '/slow') {
        const until = performance.now() + busyMs;
        while (performance.now() < until);
      }
      if (req.path === '/throw') throw new Error('boom');
      return { status: 200, body: 'ok' };
    });
    const events: RequestEvent[] = [];
    server.on('request', (e) => events.push(e));
    const { port } = await server.listen(0, '127.0.0.1');
    const c = await RawConnection.connect(port);
    try {
      const requestLines = (): Array<RequestEvent & { event: string }> => lines.map((line) => JSON.parse(line) as RequestEvent & { event: string }).filter((e) => e.event === 'request');
      c.write('GET /slow HTTP/1.1\r\nHost: t\r\n\r\n');
      await c.readResponse();
      assert.ok(requestLines()[0].durationMs >= busyMs, `alone: ${requestLines()[0].durationMs} ms`);
      // Pipelined: the three heads arrive together and the three responses leave in one write.
      c.write('GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /slow HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n');
      for (let i = 0; i < 3; i++) await c.readResponse();
      const pipelinedLines = requestLines().slice(1);
      assert.deepEqual(pipelinedLines.map((e) => e.target), ['/a', '/slow', '/b']);
      for (const e of pipelinedLines) assert.ok(e.durationMs >= busyMs, `${e.target}: ${e.durationMs} ms, its response left with the slow one's`);
      assert.deepEqual(events.map((e) => Math.round(e.durationMs * 1000) / 1000), requestLines().map((e) => e.durationMs), 'events and lines carry one duration');
      // A request answered before a handler error and a protocol error in the same pump is logged before them.
      lines.length = 0;
      c.write('GET /c HTTP/1.1\r\nHost: t\r\n\r\nGET /throw HTTP/1.1\r\nHost: t\r\n\r\nGET /d HTTP/1.1\r\nHost: t\r\n\r\nBAD\r\n\r\n');
      for (let i = 0; i < 4; i++) await c.readResponse();
      await waitFor('the protocol error line', () => lines.some((line) => line.includes('"protocol-error"')));
      const order = lines.map((line) => JSON.parse(line) as { event: string; target?: string; requestIndex?: number }).filter((e) => e.event !== 'connection-close').map((e) => (e.event === 'request' ? `request ${e.target}` : e.event));
      assert.deepEqual(order, ['request /c', 'handler-error', 'request /throw', 'request /d', 'protocol-error']);
    } finally {
      c.destroy();
      await server.close({ graceMs: 500 });
      assert.equal(server.connectionCount, 0);
    }
  });

  test('reported together, requests stay reported as they were one by one: past a throwing listener, before a shutdown, before an upgrade', async () => {
    const servers: HoldfastServer[] = [];
    const connections: RawConnection[] = [];
    const serve = async (server: HoldfastServer): Promise<RawConnection> => {
      servers.push(server);
      const { port } = await server.listen(0, '127.0.0.1');
      const c = await RawConnection.connect(port);
      connections.push(c);
      return c;
    };
    try {
      // A 'request' listener that throws on the first of three pipelined requests: the other two are still logged.
      const lines: string[] = [];
      const throwing = createServer({ log: 'json', logSink: (line) => lines.push(line) }, () => ({ status: 200, body: 'ok' }));
      throwing.on('request', (e) => {
        if (e.requestIndex === 1) throw new Error('listener bug');
      });
      const c1 = await serve(throwing);
      c1.write('GET /1 HTTP/1.1\r\nHost: t\r\n\r\nGET /2 HTTP/1.1\r\nHost: t\r\n\r\nGET /3 HTTP/1.1\r\nHost: t\r\n\r\n');
      await c1.waitForClose();
      const targets = lines.map((line) => JSON.parse(line) as { event: string; target?: string }).filter((e) => e.event === 'request').map((e) => e.target);
      assert.deepEqual(targets, ['/1', '/2', '/3']);
      assert.ok(lines.some((line) => line.includes('"internal-error"')), 'the throw is still an internal error');

      // A listener that closes the server sees the connection still busy with the request: it gets
      // shutdownMinIdleMs to send another, however long it had been open.
      const closingServer = createServer({ shutdownMinIdleMs: 300 }, () => ({ status: 200, body: 'ok' }));
      let closing: ReturnType<HoldfastServer['close']> | null = null;
      closingServer.on('request', () => {
        closing ??= closingServer.close({ graceMs: 2000 });
      });
      const c2 = await serve(closingServer);
      await sleep(400);
      c2.write('GET /1 HTTP/1.1\r\nHost: t\r\n\r\n');
      assert.equal((await c2.readResponse()).status, 200);
      await sleep(50);
      c2.write('GET /2 HTTP/1.1\r\nHost: t\r\n\r\n');
      const second = await c2.readResponse();
      assert.equal(second.status, 200);
      assert.equal(second.header('connection'), 'close');
      await c2.waitForClose();
      await closing;

      // A 101's request is reported before the new owner of the socket runs, not after its synchronous work.
      const order: string[] = [];
      const upgrading = createServer({}, () => ({
        status: 101,
        headers: { upgrade: 'x' },
        upgrade(socket: net.Socket) {
          const until = performance.now() + 30;
          while (performance.now() < until);
          order.push('owner');
          socket.end();
        },
      }));
      upgrading.on('request', (e) => order.push(`request ${e.status} ${e.durationMs < 30 ? 'before' : 'after'} the owner's work`));
      const c3 = await serve(upgrading);
      c3.write('GET / HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n');
      await c3.waitForClose();
      assert.deepEqual(order, ["request 101 before the owner's work", 'owner']);
    } finally {
      for (const c of connections) c.destroy();
      for (const server of servers) {
        await server.close({ graceMs: 200 });
        assert.equal(server.connectionCount, 0);
      }
    }
  });

  test('a log file that cannot be opened is an OptionError at construction', () => {
    assert.throws(
      () => createServer({ logSink: path.join(dir, 'missing-dir', 'access.log') }, () => ({ status: 200 })),
      (error: unknown) => error instanceof OptionError && /cannot open the log file .*missing-dir/.test(error.message),
    );
    assert.throws(() => createServer({ logSink: '' }, () => ({ status: 200 })), /logSink must be a function or a file path/);
  });
});

describe('access log file', () => {
  test('100,000 pipelined requests on 4 connections → 100,000 complete request lines, in order per connection', async () => {
    const file = logPath();
    const server = createServer({ log: 'json', logSink: file, maxRequestsPerConnection: 0, lingerMs: 200 }, (req) => ({ status: 200, body: req.path }));
    const { port } = await server.listen(0, '127.0.0.1');
    const perConnection = 25_000;
    try {
      await Promise.all([0, 1, 2, 3].map((k) => pipelined(port, `/c${k}/`, perConnection)));
    } finally {
      await server.close({ graceMs: 500 });
    }
    const lines = jsonLines(readFileSync(file, 'utf8'));
    const requests = lines.filter((l) => l.event === 'request');
    assert.equal(requests.length, 4 * perConnection);
    assert.equal(lines.filter((l) => l.event === 'connection-open').length, 4);
    assert.equal(lines.filter((l) => l.event === 'connection-close').length, 4);
    const next = new Map<number, number>();
    for (const line of requests) {
      const index = next.get(line.connectionId) ?? 0;
      assert.equal(line.requestIndex, index + 1, `connection ${line.connectionId}: request ${index + 1} comes next`);
      assert.match(line.target, new RegExp(`^/c\\d/${index}$`));
      next.set(line.connectionId, index + 1);
    }
  });

  test('lines reach the file within about the flush interval, with the server still running', async () => {
    const file = logPath();
    const server = createServer({ log: 'pretty', logSink: file }, () => ({ status: 204 }));
    const { port } = await server.listen(0, '127.0.0.1');
    try {
      const c = await RawConnection.connect(port);
      c.write('GET /tail-f HTTP/1.1\r\nHost: t\r\n\r\n');
      assert.equal((await c.readResponse()).status, 204);
      await waitFor('the request line in the file', () => readFileSync(file, 'utf8').includes(' GET /tail-f 204 '), 3000);
      c.destroy();
    } finally {
      await server.close({ graceMs: 500 });
    }
  });

  test('the process dies of an unhandled SIGTERM, an uncaught exception or process.exit with every line written', async () => {
    const cases = [
      { how: 'SIGTERM', expect: { code: null, signal: 'SIGTERM' } },
      { how: 'throw', expect: { code: 1, signal: null } },
      { how: 'exit', expect: { code: 3, signal: null } },
    ] as const;
    await Promise.all(
      cases.map(async ({ how, expect }) => {
        const file = logPath();
        const child = await startLogChild({ log: 'json', logSink: file });
        await pipelined(child.port, `/${how}/`, 300);
        assert.ok(!readFileSync(file, 'utf8').includes(`/${how}/299`), `${how}: the last line is still buffered before the exit`);
        if (how === 'SIGTERM') child.child.kill('SIGTERM');
        else child.send(how);
        assert.deepEqual(await child.exited, expect, how);
        const requests = jsonLines(readFileSync(file, 'utf8')).filter((l) => l.event === 'request');
        assert.equal(requests.length, 300, how);
        assert.equal(requests[299].target, `/${how}/299`, how);
      }),
    );
  });

  test('SIGUSR1 reopens the file: after logrotate moves it, the next lines go to a new file at the path', async () => {
    const file = logPath();
    const cli = await startCli(['--demo', '--port', '0', '--log', 'json', '--log-file', file]);
    try {
      const c = await RawConnection.connect(cli.port);
      c.write('GET /before HTTP/1.1\r\nHost: demo\r\n\r\n');
      assert.equal((await c.readResponse()).status, 404);
      renameSync(file, `${file}.1`);
      cli.child.kill('SIGUSR1');
      await waitFor('the reopened file', () => existsSync(file));
      c.write('GET /after HTTP/1.1\r\nHost: demo\r\n\r\n');
      assert.equal((await c.readResponse()).status, 404);
      c.destroy();
      const { code } = await cli.stop('SIGTERM');
      assert.equal(code, 0);
      const rotated = jsonLines(readFileSync(`${file}.1`, 'utf8'));
      const fresh = jsonLines(readFileSync(file, 'utf8'));
      assert.deepEqual(rotated.filter((l) => l.event === 'request').map((l) => l.target), ['/before']);
      assert.deepEqual(fresh.filter((l) => l.event === 'request').map((l) => l.target), ['/after']);
      assert.equal(fresh.filter((l) => l.event === 'connection-close').length, 1);
    } finally {
      await cli.stop('SIGKILL');
    }
  });
});

describe('access log into a FIFO', () => {
  test('two processes logging into one FIFO read slowly: EAGAIN waits, no line is torn, drops are counted', async () => {
    const fifo = path.join(dir, 'shared.fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo (coreutils) made the FIFO');
    const readFd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const keepOpenFd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK); // no EOF before the children write
    const reader = new net.Socket({ fd: readFd, readable: true, writable: false });
    reader.pause();
    const children = await Promise.all([startLogChild({ log: 'json', logSink: fifo }), startLogChild({ log: 'json', logSink: fifo })]);
    try {
      const perConnection = 4_000;
      await Promise.all(children.flatMap((child) => [0, 1].map((k) => pipelined(child.port, `/c${k}/`, perConnection))));
      let text = '';
      reader.setEncoding('utf8');
      reader.on('data', (chunk: string) => (text += chunk));
      const ended = once(reader, 'end');
      reader.resume();
      for (const child of children) child.send('close');
      await Promise.all(children.map((child) => child.exited));
      closeSync(keepOpenFd);
      await ended;
      const lines = jsonLines(text);
      const dropped = lines.filter((l) => l.event === 'log-dropped').reduce((sum, l) => sum + l.lines, 0);
      const logged = lines.filter((l) => l.event !== 'log-dropped').length;
      assert.ok(dropped > 0, 'the FIFO filled up');
      assert.equal(logged + dropped, 2 * (2 * perConnection + 2 * 2), `${logged} logged + ${dropped} dropped`);
    } finally {
      for (const child of children) child.child.kill('SIGKILL');
      reader.destroy();
    }
  });
});

describe('access log on stdout', () => {
  test('the CLI flushes every line at SIGTERM, in order with its own lines', async () => {
    const cli = await startCli(['--demo', '--port', '0', '--log', 'pretty']);
    try {
      const c = await RawConnection.connect(cli.port);
      for (let i = 0; i < 50; i++) {
        c.write(`GET /data.json?n=${i} HTTP/1.1\r\nHost: demo\r\n\r\n`);
        assert.equal((await c.readResponse()).status, 200);
      }
      const { code, stdout } = await cli.stop('SIGTERM');
      c.destroy();
      assert.equal(code, 0);
      const lines = stdout.split('\n');
      const at = (pattern: RegExp): number => lines.findIndex((line) => pattern.test(line));
      const requests = lines.filter((line) => / GET \/data\.json\?n=\d+ 200 /.test(line));
      assert.equal(requests.length, 50);
      assert.ok(at(/^holdfast serving/) < at(/req#1 GET/), 'the banner first');
      assert.ok(at(/req#50 GET/) < at(/^SIGTERM: draining 1 connection/), 'request lines before the signal line');
      assert.ok(at(/^SIGTERM: draining/) < at(/close reason=shutdown requests=50/), 'the drain after the signal line');
      assert.ok(at(/close reason=shutdown/) < at(/^shutdown: 1 connection\(s\) drained cleanly/), 'the report last');
    } finally {
      await cli.stop('SIGKILL');
    }
  });

  test('a blocked stdout neither stalls requests nor grows the backlog past its cap; the dropped count is logged once it drains', async () => {
    const child = await startLogChild({ log: 'json' }, 'pipe');
    const stdout = child.child.stdout as NonNullable<ChildProcess['stdout']>;
    stdout.pause();
    try {
      const perConnection = 5_000;
      await Promise.all([0, 1, 2, 3].map((k) => pipelined(child.port, `/c${k}/`, perConnection)));
      const probe = await RawConnection.connect(child.port);
      probe.write('GET /still-serving HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
      assert.equal((await probe.readResponse({ timeoutMs: 1000 })).status, 200, 'served while the log is blocked');
      probe.destroy();
      child.send('stats');
      const stats = (await child.next('stats')) as Extract<LogChildMessage, { kind: 'stats' }>;
      assert.ok(stats.maxBufferedBytes > 0 && stats.maxBufferedBytes <= MAX_LOG_BACKLOG_BYTES, `backlog ${stats.maxBufferedBytes} bytes`);
      assert.ok(stats.heapUsed < 64 * 1024 * 1024, `heap ${stats.heapUsed} bytes`);

      let text = '';
      stdout.setEncoding('utf8');
      stdout.on('data', (chunk: string) => (text += chunk));
      stdout.resume();
      await waitFor('the dropped-lines line', () => text.includes('"event":"log-dropped"'), 5000);
      child.send('close');
      await child.next('closed');
      await child.exited;
      await waitFor('the end of stdout', () => stdout.readableEnded || stdout.destroyed, 2000).catch(() => undefined);

      const lines = jsonLines(text);
      const dropped = lines.filter((l) => l.event === 'log-dropped').reduce((sum, l) => sum + l.lines, 0);
      const logged = lines.filter((l) => l.event !== 'log-dropped').length;
      const events = 4 * perConnection + 1 + 2 * 5; // requests, the probe, an open and a close per connection
      assert.ok(dropped > 0, 'lines were dropped while stdout was blocked');
      assert.equal(logged + dropped, events, `${logged} logged + ${dropped} dropped`);
      const last = new Map<number, number>();
      for (const line of lines.filter((l) => l.event === 'request')) {
        assert.ok(line.requestIndex > (last.get(line.connectionId) ?? 0), 'request lines stay in order');
        last.set(line.connectionId, line.requestIndex);
      }
    } finally {
      child.child.kill('SIGKILL');
    }
  });
});
