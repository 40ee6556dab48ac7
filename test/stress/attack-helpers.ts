/**
 * Shared machinery of the stress suite: a holdfast server in a child process (so its memory is
 * measured alone), a "normal client" that keeps requesting while an attack runs and records every
 * failure, memory sampling, and small socket utilities. Everything here is bounded in time and
 * closes what it opens.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { RawConnection } from '../helpers/raw-client.js';
import type { ChildConfig, ChildStats } from './fixtures/server-child.js';

export type { ChildConfig, ChildStats } from './fixtures/server-child.js';

export const MiB = 1024 * 1024;
export const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const CHILD_SCRIPT = fileURLToPath(new URL('./fixtures/server-child.js', import.meta.url));

export interface ChildServer {
  readonly port: number;
  readonly pid: number;
  /** JSON log lines the child forwarded (the events listed in config.logEvents). */
  readonly logLines: string[];
  /** Everything the child wrote to stderr (a crash shows here). */
  readonly stderr: () => string;
  readonly alive: () => boolean;
  stats(): Promise<ChildStats>;
  /** Runs global.gc() a few times (the child must have been started with exposeGc), then stats. */
  gc(): Promise<ChildStats>;
  /** Graceful server.close() in the child, final stats, child exit. Kills it if it does not exit. */
  stop(): Promise<ChildStats | null>;
}

export interface StartChildOptions {
  /** Start under `ulimit -n <fdLimit>` (through bash). */
  fdLimit?: number;
  exposeGc?: boolean;
}

type Reply = { id: number; stats: ChildStats };

export async function startChild(config: ChildConfig, opts: StartChildOptions = {}): Promise<ChildServer> {
  const nodeArgs = [...(opts.exposeGc ? ['--expose-gc'] : []), CHILD_SCRIPT];
  const env = { ...process.env, HOLDFAST_STRESS_CHILD: JSON.stringify(config) };
  const stdio: ['ignore', 'pipe', 'pipe', 'ipc'] = ['ignore', 'pipe', 'pipe', 'ipc'];
  const child: ChildProcess =
    opts.fdLimit === undefined
      ? spawn(process.execPath, nodeArgs, { env, stdio })
      : spawn('bash', ['-c', `ulimit -n ${opts.fdLimit} && exec "$0" "$@"`, process.execPath, ...nodeArgs], { env, stdio });

  const logLines: string[] = [];
  let stdoutRest = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => {
    const parts = (stdoutRest + text).split('\n');
    stdoutRest = parts.pop() ?? '';
    for (const line of parts) if (line !== '') logLines.push(line);
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  let exited = false;
  const exit = once(child, 'exit').then(() => {
    exited = true;
  });

  let nextId = 1;
  const pending = new Map<number, (stats: ChildStats) => void>();
  child.on('message', (message: Reply | { kind: 'ready' }) => {
    if ('id' in message) {
      pending.get(message.id)?.(message.stats);
      pending.delete(message.id);
    }
  });
  // A send on a channel the child already closed is reported by the request's timeout.
  child.on('error', () => undefined);

  let startTimer: NodeJS.Timeout | undefined;
  const ready = await Promise.race([
    once(child, 'message').then(([m]) => m as { kind: 'ready'; port: number; pid: number }),
    exit.then(() => {
      throw new Error(`server child exited before listening: ${stderr}`);
    }),
    new Promise<never>((_, reject) => {
      startTimer = setTimeout(() => reject(new Error('server child did not start within 10 s')), 10_000);
    }),
  ])
    .catch((error: unknown) => {
      child.kill('SIGKILL');
      throw error;
    })
    .finally(() => clearTimeout(startTimer));

  const request = (cmd: 'stats' | 'gc' | 'close', timeoutMs = 10_000): Promise<ChildStats> => {
    if (exited || !child.connected) return Promise.reject(new Error(`server child is gone (exit ${child.exitCode}, signal ${child.signalCode}): ${stderr}`));
    const id = nextId++;
    return new Promise<ChildStats>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`server child did not answer "${cmd}" within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, (stats) => {
        clearTimeout(timer);
        resolve(stats);
      });
      child.send({ id, cmd });
    });
  };

  return {
    port: ready.port,
    pid: ready.pid,
    logLines,
    stderr: () => stderr,
    alive: () => !exited,
    stats: () => request('stats'),
    gc: () => request('gc'),
    async stop() {
      let final: ChildStats | null = null;
      if (!exited) final = await request('close', 15_000).catch(() => null);
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(killer);
      return final;
    },
  };
}

/** Polls the child until `predicate(stats)` holds; returns those stats, or throws after timeoutMs. */
export async function waitForStats(child: ChildServer, predicate: (s: ChildStats) => boolean, timeoutMs: number, what: string, everyMs = 50): Promise<ChildStats> {
  const deadline = Date.now() + timeoutMs;
  let last: ChildStats;
  for (;;) {
    last = await child.stats();
    if (predicate(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last stats: ${JSON.stringify(summary(last))}`);
    await sleep(everyMs);
  }
}

export function summary(s: ChildStats): Record<string, unknown> {
  return {
    rss: mib(s.rss),
    heapUsed: mib(s.heapUsed),
    connectionCount: s.connectionCount,
    maxConnectionCount: s.maxConnectionCount,
    opened: s.opened,
    closed: s.closed,
    requests: s.requests,
    closeReasons: s.closeReasons,
    protocolErrors: s.protocolErrors,
    acceptErrors: s.acceptErrors,
    handlerErrors: s.handlerErrors,
    internalErrors: s.internalErrors,
  };
}

/** Samples the child's memory every `everyMs` until stopped. */
export class MemorySampler {
  readonly samples: ChildStats[] = [];
  #running = true;
  #done: Promise<void>;

  constructor(child: ChildServer, everyMs = 100) {
    this.#done = (async () => {
      while (this.#running && child.alive()) {
        try {
          this.samples.push(await child.stats());
        } catch {
          return;
        }
        await sleep(everyMs);
      }
    })();
  }

  get maxRss(): number {
    return Math.max(0, ...this.samples.map((s) => s.rss));
  }

  async stop(): Promise<ChildStats[]> {
    this.#running = false;
    await this.#done;
    return this.samples;
  }
}

export interface NormalClientReport {
  ok: number;
  fresh: number;
  failures: string[];
}

/**
 * A well-behaved client that keeps requesting `${path}/${n}` while an attack runs: one kept-alive
 * connection (reopened when the server closes it in the ordinary way), plus, every `freshEvery`
 * requests, a request on a brand-new connection (accept still works). Every request must get a
 * 200 whose body names its path, within `timeoutMs`.
 */
export function startNormalClient(port: number, opts: { pauseMs?: number; freshEvery?: number; timeoutMs?: number; path?: string; expectBody?: (path: string) => string } = {}): { stop(): Promise<NormalClientReport> } {
  const pauseMs = opts.pauseMs ?? 20;
  const freshEvery = opts.freshEvery ?? 5;
  const timeoutMs = opts.timeoutMs ?? 3000;
  const base = opts.path ?? '/normal';
  const expectBody = opts.expectBody ?? ((): string => 'ok');
  const report: NormalClientReport = { ok: 0, fresh: 0, failures: [] };
  let running = true;
  let conn: RawConnection | null = null;

  const one = async (c: RawConnection, path: string): Promise<boolean> => {
    c.write(`GET ${path} HTTP/1.1\r\nHost: normal\r\n\r\n`);
    const res = await c.readResponse({ timeoutMs });
    if (res.status !== 200) throw new Error(`${path}: status ${res.status}`);
    const body = res.body.toString();
    if (body !== expectBody(path)) throw new Error(`${path}: body ${JSON.stringify(body)}`);
    report.ok++;
    return res.header('connection') !== 'close';
  };

  const loop = (async () => {
    for (let n = 0; running; n++) {
      const path = `${base}/${n}`;
      try {
        if (freshEvery > 0 && n % freshEvery === freshEvery - 1) {
          const fresh = await RawConnection.connect(port);
          try {
            await one(fresh, path);
            report.fresh++;
          } finally {
            fresh.destroy();
          }
        } else {
          conn ??= await RawConnection.connect(port);
          if (!(await one(conn, path))) {
            conn.destroy();
            conn = null;
          }
        }
      } catch (error) {
        report.failures.push(`${path}: ${(error as Error).message}`);
        conn?.destroy();
        conn = null;
      }
      await sleep(pauseMs);
    }
  })();

  const client = {
    async stop() {
      running = false;
      active.delete(client);
      await loop;
      conn?.destroy();
      return report;
    },
  };
  active.add(client);
  return client;
}

const active = new Set<{ stop(): Promise<NormalClientReport> }>();

/** Stops every normal client still running (a failed assertion skips a test's own stop()). */
export async function stopAllNormalClients(): Promise<void> {
  await Promise.all([...active].map((client) => client.stop()));
}

/** Opens `count` RawConnections, `batch` at a time (the listen backlog stays unflooded). */
export async function connectMany(port: number, count: number, batch = 100): Promise<RawConnection[]> {
  const all: RawConnection[] = [];
  try {
    for (let i = 0; i < count; i += batch) {
      const n = Math.min(batch, count - i);
      all.push(...(await Promise.all(Array.from({ length: n }, () => RawConnection.connect(port)))));
    }
  } catch (error) {
    for (const c of all) c.destroy();
    throw error;
  }
  return all;
}

export interface CollectedBytes {
  bytes: Buffer;
  how: 'fin' | 'rst' | 'timeout';
  ms: number;
}

/** Writes `data` on a fresh socket and gathers every byte until the peer closes (or timeoutMs). */
export function sendAndCollect(port: number, data: string | Buffer, timeoutMs = 5000): Promise<CollectedBytes> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect({ port, host: '127.0.0.1' });
    const parts: Buffer[] = [];
    let how: CollectedBytes['how'] = 'fin';
    const timer = setTimeout(() => {
      how = 'timeout';
      socket.destroy();
    }, timeoutMs);
    socket.on('connect', () => socket.write(data));
    socket.on('data', (chunk: Buffer) => parts.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') how = 'rst';
      else if (parts.length === 0 && how !== 'timeout') {
        clearTimeout(timer);
        reject(error);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ bytes: Buffer.concat(parts), how, ms: Date.now() - started });
    });
  });
}

export interface WireResponse {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
  /** For chunked bodies: the last chunk (size 0) was received. */
  complete: boolean;
}

/**
 * Splits received bytes into responses (Content-Length or chunked framing, no HEAD). Stops at the
 * first incomplete response and returns it with complete: false.
 */
export function splitResponses(data: Buffer): WireResponse[] {
  const out: WireResponse[] = [];
  let pos = 0;
  while (pos < data.length) {
    const headEnd = data.indexOf('\r\n\r\n', pos, 'latin1');
    if (headEnd === -1) {
      out.push({ status: Number(data.toString('latin1', pos + 9, pos + 12)) || 0, headers: new Map(), body: Buffer.alloc(0), complete: false });
      return out;
    }
    const lines = data.toString('latin1', pos, headEnd).split('\r\n');
    const status = Number(lines[0].slice(9, 12));
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
    }
    pos = headEnd + 4;
    if (headers.get('transfer-encoding')?.toLowerCase() === 'chunked') {
      const parts: Buffer[] = [];
      let complete = false;
      for (;;) {
        const lineEnd = data.indexOf('\r\n', pos, 'latin1');
        if (lineEnd === -1) break;
        const size = parseInt(data.toString('latin1', pos, lineEnd), 16);
        if (!Number.isFinite(size)) throw new Error(`bad chunk size line ${JSON.stringify(data.toString('latin1', pos, lineEnd))}`);
        if (size === 0) {
          if (data.length >= lineEnd + 4) {
            complete = true;
            pos = lineEnd + 4;
          }
          break;
        }
        if (data.length < lineEnd + 2 + size + 2) {
          parts.push(data.subarray(lineEnd + 2, Math.min(data.length, lineEnd + 2 + size)));
          pos = data.length;
          break;
        }
        parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
        pos = lineEnd + 2 + size + 2;
      }
      out.push({ status, headers, body: Buffer.concat(parts), complete });
      if (!complete) return out;
      continue;
    }
    const length = Number(headers.get('content-length') ?? '0');
    const complete = data.length >= pos + length;
    out.push({ status, headers, body: data.subarray(pos, Math.min(data.length, pos + length)), complete });
    if (!complete) return out;
    pos += length;
  }
  return out;
}
