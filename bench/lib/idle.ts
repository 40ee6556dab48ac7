/**
 * Idle cost: `measureIdle(server, count)` reads the server's RSS (/proc/<pid>/status VmRSS) and JS
 * heap (`GET /__mem`, node servers only) as a baseline, has the idle client (pinned to core 1) open
 * `count` keep-alive connections, measures again, then has every connection served once more.
 * Resolves with bytes per idle connection and the counts; rejects when the client fails. With
 * `tls` the connections are HTTPS ones to the server's tlsPort (the memory is still read over plain HTTP).
 */

import { promises as fs } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { fetchOnce, withTimeout } from './http-client.js';
import { LOAD_CORE } from './load.js';
import { spawnPinned, stop, tail, waitExit } from './processes.js';
import type { RunningServer } from './servers.js';

const idleClient = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'idle-client.js');

export interface Memory {
  rssBytes: number;
  heapUsedBytes: number | null;
  usage: Record<string, number> | null;
}

export interface IdleResult {
  connections: number;
  opened: number;
  openFailed: number;
  servedAgain: number;
  servedAgainFailed: number;
  closedWhileIdle: number;
  openMs: number;
  rssPerConnBytes: number;
  heapPerConnBytes: number | null;
  before: Memory;
  after: Memory;
  firstError: string | null;
}

export async function vmRss(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (m === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

export async function memory(server: RunningServer): Promise<Memory> {
  let usage: Record<string, number> | null = null;
  if (server.hasHeap) {
    const response = await fetchOnce(server.port, '/__mem');
    if (response.status !== 200) throw new Error(`GET /__mem: status ${response.status}`);
    usage = JSON.parse(response.body.toString('utf8')) as Record<string, number>;
    await sleep(200);
  }
  return { rssBytes: await vmRss(server.pid), heapUsedBytes: usage?.heapUsed ?? null, usage };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface ClientEvent {
  event: string;
  ok: number;
  failed: number;
  ms: number;
  closedWhileIdle?: number;
  error: string | null;
}

export async function measureIdle(server: RunningServer, count: number, tls = false): Promise<IdleResult> {
  if (tls && server.tlsPort === null) throw new Error(`${server.name} serves no HTTPS`);
  const before = await memory(server);
  const target = tls ? [String(server.tlsPort), String(count), 'tls'] : [String(server.port), String(count)];
  const client = spawnPinned(LOAD_CORE, process.execPath, [idleClient, ...target], { stdio: ['pipe', 'pipe', 'pipe'] });
  const stderr = tail(client.stderr);
  const events = readline.createInterface({ input: client.stdout! })[Symbol.asyncIterator]();
  const next = async (expected: string): Promise<ClientEvent> => {
    const line = await withTimeout(events.next(), 180_000, `idle client "${expected}" report`);
    if (line.done === true) throw new Error(`idle client exited without a "${expected}" report: ${stderr().trim() || 'no error output'}`);
    const event = JSON.parse(line.value) as ClientEvent;
    if (event.event !== expected) throw new Error(`idle client: expected "${expected}", got ${line.value}`);
    return event;
  };
  try {
    const opened = await next('opened');
    await sleep(1000);
    const after = await memory(server);
    client.stdin!.write('again\n');
    const served = await next('served');
    await waitExit(client, 10_000);
    await sleep(1000);
    return {
      connections: count,
      opened: opened.ok,
      openFailed: opened.failed,
      servedAgain: served.ok,
      servedAgainFailed: served.failed,
      closedWhileIdle: served.closedWhileIdle ?? 0,
      openMs: opened.ms,
      rssPerConnBytes: opened.ok > 0 ? (after.rssBytes - before.rssBytes) / opened.ok : NaN,
      heapPerConnBytes: before.heapUsedBytes !== null && after.heapUsedBytes !== null && opened.ok > 0 ? (after.heapUsedBytes - before.heapUsedBytes) / opened.ok : null,
      before,
      after,
      firstError: opened.error ?? served.error,
    };
  } finally {
    await stop(client);
  }
}
