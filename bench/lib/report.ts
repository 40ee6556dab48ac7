/**
 * Results and their presentation: the report's types, medians and ratios (`summarize*`), the
 * machine description, and `markdown(report)` — the tables the bench prints. Ratios are holdfast's
 * (or any server's) median over the reference server's median; absent when either is missing.
 */

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { IdleResult } from './idle.js';
import type { LoadResult } from './load.js';
import { AB, WRK } from './load.js';
import { NGINX, type ServerName } from './servers.js';

export interface Machine {
  cpu: string;
  cores: number;
  kernel: string;
  node: string;
  wrk: string | null;
  nginx: string | null;
  ab: string | null;
}

export interface LoadRun {
  round: number;
  result?: LoadResult;
  /** The server's CPU time (user + system, all threads) during the load over the requests served. */
  serverCpuUsPerRequest?: number | null;
  error?: string;
}

export interface LoadSummary {
  runs: LoadRun[];
  medianRequestsPerSec: number | null;
  medianP99Ms: number | null;
  medianServerCpuUsPerRequest: number | null;
  vsNodeHttp: number | null;
  vsNginx: number | null;
  errors: Record<string, number>;
  failedRuns: number;
}

export interface LoadScenarioReport {
  name: string;
  title: string;
  command: string;
  skipped?: string;
  servers: Partial<Record<ServerName, LoadSummary>>;
}

export interface IdleRun {
  round: number;
  result?: IdleResult;
  error?: string;
}

export interface IdleSummary {
  runs: IdleRun[];
  medianRssPerConnBytes: number | null;
  medianHeapPerConnBytes: number | null;
  rssVsNodeHttp: number | null;
  rssVsNginx: number | null;
}

export interface IdleScenarioReport {
  name: 'idle' | 'idle-tls';
  connections: number;
  servers: Partial<Record<ServerName, IdleSummary>>;
}

export interface Report {
  startedAt: string;
  totalSeconds: number;
  machine: Machine;
  settings: { rounds: number; durationS: number; warmupS: number; idleConnections: number; serverCore: number; loadCore: number; httpLoadTool: 'wrk' | 'autocannon' };
  servers: Partial<Record<ServerName, { pid?: number; error?: string }>>;
  scenarios: LoadScenarioReport[];
  idle: IdleScenarioReport | null;
  /** The same with HTTPS connections (node:http's process serves node:https). */
  idleTls?: IdleScenarioReport | null;
}

export function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return a == null || b == null || b === 0 ? null : a / b;
}

export function summarizeLoad(runs: Partial<Record<ServerName, LoadRun[]>>): Partial<Record<ServerName, LoadSummary>> {
  const out: Partial<Record<ServerName, LoadSummary>> = {};
  for (const [name, list] of Object.entries(runs) as [ServerName, LoadRun[]][]) {
    const ok = list.filter((run) => run.result !== undefined).map((run) => run.result as LoadResult);
    const errors: Record<string, number> = {};
    for (const result of ok) for (const [kind, n] of Object.entries(result.errors)) errors[kind] = (errors[kind] ?? 0) + n;
    out[name] = {
      runs: list,
      medianRequestsPerSec: median(ok.map((r) => r.requestsPerSec)),
      medianP99Ms: median(ok.map((r) => r.p99Ms).filter((p): p is number => p !== null)),
      medianServerCpuUsPerRequest: median(list.map((run) => run.serverCpuUsPerRequest).filter((us): us is number => typeof us === 'number')),
      vsNodeHttp: null,
      vsNginx: null,
      errors,
      failedRuns: list.length - ok.length,
    };
  }
  for (const summary of Object.values(out)) {
    summary.vsNodeHttp = ratio(summary.medianRequestsPerSec, out['node:http']?.medianRequestsPerSec);
    summary.vsNginx = ratio(summary.medianRequestsPerSec, out.nginx?.medianRequestsPerSec);
  }
  return out;
}

export function summarizeIdle(runs: Partial<Record<ServerName, IdleRun[]>>): Partial<Record<ServerName, IdleSummary>> {
  const out: Partial<Record<ServerName, IdleSummary>> = {};
  for (const [name, list] of Object.entries(runs) as [ServerName, IdleRun[]][]) {
    const ok = list.filter((run) => run.result !== undefined).map((run) => run.result as IdleResult);
    const heaps = ok.map((r) => r.heapPerConnBytes).filter((h): h is number => h !== null);
    out[name] = {
      runs: list,
      medianRssPerConnBytes: median(ok.map((r) => r.rssPerConnBytes)),
      medianHeapPerConnBytes: median(heaps),
      rssVsNodeHttp: null,
      rssVsNginx: null,
    };
  }
  for (const summary of Object.values(out)) {
    summary.rssVsNodeHttp = ratio(summary.medianRssPerConnBytes, out['node:http']?.medianRssPerConnBytes);
    summary.rssVsNginx = ratio(summary.medianRssPerConnBytes, out.nginx?.medianRssPerConnBytes);
  }
  return out;
}

function versionOf(command: string, args: string[], pattern: RegExp): string | null {
  const run = spawnSync(command, args, { encoding: 'utf8', timeout: 5000 });
  if (run.error !== undefined) return null;
  const m = pattern.exec(`${run.stdout ?? ''}\n${run.stderr ?? ''}`);
  return m === null ? null : m[1];
}

export function describeMachine(): Machine {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m !== null) cpu = m[1].trim();
  } catch {
    // not Linux: os.cpus() it is
  }
  return {
    cpu,
    cores: os.cpus().length,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    wrk: versionOf(WRK, ['-v'], /^wrk (\S+)/m),
    nginx: versionOf(NGINX, ['-v'], /nginx version: nginx\/(\S+)/),
    ab: versionOf(AB, ['-V'], /Version (\S+)/),
  };
}

const SERVER_ORDER: ServerName[] = ['holdfast', 'node:http', 'nginx'];

function int(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function ms(n: number): string {
  return n < 10 ? `${n.toFixed(2)} ms` : n < 100 ? `${n.toFixed(1)} ms` : `${Math.round(n)} ms`;
}

function times(n: number | null): string {
  return n === null ? '—' : `${n.toFixed(2)}×`;
}

function bytes(n: number | null): string {
  if (n === null || Number.isNaN(n)) return '—';
  return Math.abs(n) < 1024 ? `${Math.round(n)} B` : `${(n / 1024).toFixed(1)} KiB`;
}

function errorText(summary: LoadSummary): string {
  const parts = Object.entries(summary.errors).map(([kind, n]) => `${kind} ${int(n)}`);
  if (summary.failedRuns > 0) parts.push(`${summary.failedRuns} run(s) failed`);
  return parts.length === 0 ? '—' : parts.join(', ');
}

export function machineLine(m: Machine): string {
  const tools = [`node ${m.node}`, `wrk ${m.wrk ?? 'not installed'}`, `nginx ${m.nginx ?? 'not installed'}`, `ab ${m.ab ?? 'not installed'}`];
  return `${m.cpu}, ${m.cores} cores, ${m.kernel}; ${tools.join('; ')}`;
}

export function markdown(report: Report): string {
  const s = report.settings;
  const lines: string[] = [
    '## holdfast benchmark',
    '',
    `- machine: ${machineLine(report.machine)}`,
    `- method: servers on core ${s.serverCore}, load generator on core ${s.loadCore}; ${s.rounds} round${s.rounds === 1 ? '' : 's'} × ${s.durationS} s per server, interleaved, after a ${s.warmupS} s warm-up; medians of the rounds; each run preceded by an answer check`,
    ...(s.httpLoadTool === 'autocannon' ? ['- load: wrk is not installed; autocannon (node, on the load core) ran the wrk scenarios'] : []),
    `- ratios: req/s over node:http's and over nginx's (higher is faster); server CPU / req: the server process's user + system CPU time during the load (all threads, from /proc) over the requests it served, a steadier measure than req/s on a VM whose neighbours steal time`,
  ];
  for (const [name, info] of Object.entries(report.servers)) if (info?.error !== undefined) lines.push(`- ${name}: ${info.error}`);
  if (report.scenarios.length > 0) {
    lines.push('', '| scenario | server | req/s | p99 | server CPU / req | vs node:http | vs nginx | errors |', '|---|---|--:|--:|--:|--:|--:|---|');
    for (const scenario of report.scenarios) {
      if (scenario.skipped !== undefined) {
        lines.push(`| ${scenario.title} | — | skipped: ${scenario.skipped} | | | | | |`);
        continue;
      }
      for (const name of SERVER_ORDER) {
        const summary = scenario.servers[name];
        if (summary === undefined) continue;
        const rps = summary.medianRequestsPerSec;
        const p99 = summary.medianP99Ms;
        const cpu = summary.medianServerCpuUsPerRequest;
        lines.push(
          `| ${scenario.title} | ${name} | ${rps === null ? 'failed' : int(rps)} | ${p99 === null ? 'n/a' : ms(p99)} | ${cpu === null ? '—' : `${cpu.toFixed(1)} µs`} | ${times(summary.vsNodeHttp)} | ${times(summary.vsNginx)} | ${errorText(summary)} |`,
        );
      }
    }
    lines.push('', "No p99 for pipelining: wrk's coordinated-omission correction assumes one request per round trip and skews or zeroes its percentiles there (wg/wrk#236). ab reports latency in whole milliseconds.");
  }
  for (const idle of [report.idle, report.idleTls ?? null]) {
    if (idle === null) continue;
    lines.push(
      '',
      `Idle cost${idle.name === 'idle-tls' ? ' over HTTPS (node:http is node:https)' : ''}: ${int(idle.connections)} keep-alive connections, each served once, held idle, then served again, on a freshly started server each round (RSS and heap deltas over a baseline taken before connecting; heap after a full GC).`,
      '',
      '| server | RSS / idle conn | JS heap / idle conn | RSS vs node:http | RSS vs nginx | opened | served again |',
      '|---|--:|--:|--:|--:|---|---|',
    );
    for (const name of SERVER_ORDER) {
      const summary = idle.servers[name];
      if (summary === undefined) continue;
      const results = summary.runs.map((run) => run.result);
      const opened = results.map((r) => (r === undefined ? 'failed' : int(r.opened))).join(', ');
      const again = results.map((r) => (r === undefined ? 'failed' : int(r.servedAgain))).join(', ');
      const heap = name === 'nginx' ? 'n/a' : bytes(summary.medianHeapPerConnBytes);
      lines.push(`| ${name} | ${bytes(summary.medianRssPerConnBytes)} | ${heap} | ${times(summary.rssVsNodeHttp)} | ${times(summary.rssVsNginx)} | ${opened} | ${again} |`);
    }
  }
  return lines.join('\n');
}
