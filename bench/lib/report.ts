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
import { APP_PEERS, NGINX, type ServerName } from './servers.js';

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
  /** A logged server's access-log bytes written during the run over the requests served (what is still buffered is not counted). */
  logBytesPerRequest?: number | null;
  error?: string;
}

export interface LoadSummary {
  runs: LoadRun[];
  medianRequestsPerSec: number | null;
  medianP99Ms: number | null;
  medianServerCpuUsPerRequest: number | null;
  medianLogBytesPerRequest: number | null;
  vsNodeHttp: number | null;
  /** Over nginx's req/s, or for a logged server over nginx's with the same kind of log. */
  vsNginx: number | null;
  /** Over unlogged holdfast's req/s: what the access log costs, or for an app server what fetchHandler and the app cost over the native handler. */
  vsHoldfast: number | null;
  /** An app server on holdfast: req/s over the same app's on @hono/node-server. */
  vsPeer: number | null;
  /** Server CPU per request, the peer's (or native holdfast's) over this server's: above 1 is cheaper. */
  cpuVsPeer: number | null;
  cpuVsHoldfast: number | null;
  errors: Record<string, number>;
  failedRuns: number;
}

export interface LoadScenarioReport {
  name: string;
  title: string;
  command: string;
  /** A `-logged` scenario: reported in the access-log table with its targets. */
  logged: boolean;
  /** An `app-` scenario: reported in the fetch-app table. */
  app: boolean;
  skipped?: string;
  servers: Partial<Record<ServerName, LoadSummary>>;
  /** The scenario's pairs measured side by side (Scenario.pairs), when it has any. */
  paired?: PairedSummary[];
}

/** One side-by-side round of a pair: both servers under load at once on the server core. */
export interface PairedRun {
  round: number;
  reference?: { requestsPerSec: number; serverCpuUsPerRequest: number | null };
  server?: { requestsPerSec: number; serverCpuUsPerRequest: number | null };
  error?: string;
}

/** A pair's rounds and their medians: the server's req/s over the reference's, its CPU per request over the reference's. */
export interface PairedSummary {
  reference: ServerName;
  server: ServerName;
  runs: PairedRun[];
  medianRpsRatio: number | null;
  medianCpuRatio: number | null;
}

export function summarizePaired(reference: ServerName, server: ServerName, runs: PairedRun[]): PairedSummary {
  const ok = runs.filter((run) => run.reference !== undefined && run.server !== undefined);
  const rps = ok.map((run) => ratio(run.server?.requestsPerSec, run.reference?.requestsPerSec)).filter((r): r is number => r !== null);
  const cpu = ok.map((run) => ratio(run.server?.serverCpuUsPerRequest, run.reference?.serverCpuUsPerRequest)).filter((r): r is number => r !== null);
  return { reference, server, runs, medianRpsRatio: median(rps), medianCpuRatio: median(cpu) };
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
  /** The same over HTTPS (node:http's process serving node:https). */
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
      medianLogBytesPerRequest: median(list.map((run) => run.logBytesPerRequest).filter((b): b is number => typeof b === 'number')),
      vsNodeHttp: null,
      vsNginx: null,
      vsHoldfast: null,
      vsPeer: null,
      cpuVsPeer: null,
      cpuVsHoldfast: null,
      errors,
      failedRuns: list.length - ok.length,
    };
  }
  for (const [name, summary] of Object.entries(out) as [ServerName, LoadSummary][]) {
    // In the proxy scenarios the Node reference is http-proxy (on node:http).
    summary.vsNodeHttp = ratio(summary.medianRequestsPerSec, (out['node:http'] ?? out['http-proxy'])?.medianRequestsPerSec);
    summary.vsNginx = ratio(summary.medianRequestsPerSec, out[NGINX_PEER[name] ?? 'nginx']?.medianRequestsPerSec);
    summary.vsHoldfast = ratio(summary.medianRequestsPerSec, out.holdfast?.medianRequestsPerSec);
    const peer = APP_PEERS[name];
    if (peer === undefined) continue;
    summary.vsPeer = ratio(summary.medianRequestsPerSec, out[peer]?.medianRequestsPerSec);
    summary.cpuVsPeer = ratio(out[peer]?.medianServerCpuUsPerRequest, summary.medianServerCpuUsPerRequest);
    summary.cpuVsHoldfast = ratio(out.holdfast?.medianServerCpuUsPerRequest, summary.medianServerCpuUsPerRequest);
  }
  return out;
}

/** The nginx a logged server is compared with: the one writing the same kind of log. */
const NGINX_PEER: Partial<Record<ServerName, ServerName>> = {
  'holdfast+log': 'nginx+log',
  'holdfast+json-log': 'nginx+json-log',
  'nginx+log': 'nginx+log',
  'nginx+json-log': 'nginx+json-log',
};

/** Issue 15's targets, holdfast over node:https: ≥ 1.3× on keep-alive, ≥ 1.0× on new (resumed) connections, idle RSS ≤ 0.6×. */
const HTTPS_TARGETS: Readonly<Record<string, number>> = { 'https-hello': 1.3, 'https-new': 1.0 };
const IDLE_TLS_RSS_TARGET = 0.6;

/** Issue 18's targets: logged holdfast ≥ 0.85× unlogged holdfast (same run), ≥ 2× node:http on keep-alive hello. */
const LOGGED_VS_UNLOGGED_TARGET = 0.85;
const LOGGED_VS_NODE_HTTP_TARGET = 2;

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

const SERVER_ORDER: ServerName[] = [
  'holdfast',
  'holdfast-uncached',
  'holdfast+log',
  'holdfast+json-log',
  'holdfast+status',
  'node:http',
  'node:net floor',
  'http-proxy',
  'nginx',
  'nginx+log',
  'nginx+json-log',
  'serve',
  'holdfast fetch',
  '@hono/node-server fetch',
  'holdfast + Hono',
  '@hono/node-server + Hono',
];

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
  const plain = report.scenarios.filter((scenario) => !scenario.logged && !scenario.app);
  if (plain.length > 0) {
    lines.push(
      '',
      ...scenarioTable(plain, ['req/s', 'p99', 'server CPU / req', 'vs node:http', 'vs nginx', 'errors'], (summary) => [
        rpsCell(summary),
        summary.medianP99Ms === null ? 'n/a' : ms(summary.medianP99Ms),
        cpuCell(summary),
        times(summary.vsNodeHttp),
        times(summary.vsNginx),
        errorText(summary),
      ]),
    );
    if (plain.some((scenario) => scenario.name.startsWith('proxy-'))) {
      lines.push('', 'Proxy scenarios: one node:http app process behind holdfast (proxy()), http-proxy (node:http, keep-alive Agent, 32 idle sockets) and nginx (one worker, upstream keepalive 32); "vs node:http" there is vs http-proxy.');
    }
    for (const scenario of plain) {
      const on = scenario.servers['holdfast+status'];
      if (on === undefined) continue;
      const cpuOff = scenario.servers.holdfast?.medianServerCpuUsPerRequest;
      const cpu = cpuOff == null || on.medianServerCpuUsPerRequest === null ? '' : `; ${(on.medianServerCpuUsPerRequest / cpuOff).toFixed(3)}× its server CPU per request`;
      lines.push('', `Live status on, nobody watching: ${times(on.vsHoldfast)} holdfast's req/s with it off${cpu} (target: within 2 %).`);
    }
    lines.push(...pairedMarkdown(plain));
    if (plain.some((scenario) => scenario.name.startsWith('https-'))) {
      lines.push(
        '',
        "HTTPS scenarios: every server serves HTTPS with one self-signed P-256 certificate made for the run (node:http's process with node:https, nginx with ssl_session_cache and tickets); \"vs node:http\" there is vs node:https. https-new: a new TLS connection per request, each resuming a session (openssl s_time -reuse); a connection that was not resumed counts as an error; no p99.",
      );
    }
    lines.push('', "No p99 for pipelining: wrk's coordinated-omission correction assumes one request per round trip and skews or zeroes its percentiles there (wg/wrk#236). ab reports latency in whole milliseconds.");
  }
  const logged = report.scenarios.filter((scenario) => scenario.logged);
  if (logged.length > 0) lines.push(...loggedMarkdown(logged));
  const apps = report.scenarios.filter((scenario) => scenario.app);
  if (apps.length > 0) {
    lines.push(
      '',
      'Fetch apps (bench/servers/apps.ts): the same Hono app and the same plain fetch function on holdfast (fetchHandler) and on @hono/node-server (its defaults); holdfast: its native handler answering the same. Ratios: holdfast over @hono/node-server with the same app, and over holdfast native; in req/s, and in CPU per request (theirs over ours: above 1 is cheaper).',
      '',
      ...scenarioTable(apps, ['req/s', 'p99', 'server CPU / req', 'vs @hono/node-server', 'CPU vs @hono/node-server', 'vs native', 'CPU vs native', 'errors'], (summary) => {
        const app = summary.vsPeer !== null || summary.cpuVsPeer !== null;
        return [
          rpsCell(summary),
          summary.medianP99Ms === null ? 'n/a' : ms(summary.medianP99Ms),
          cpuCell(summary),
          times(summary.vsPeer),
          times(summary.cpuVsPeer),
          app ? times(summary.vsHoldfast) : '—',
          times(summary.cpuVsHoldfast),
          errorText(summary),
        ];
      }),
    );
  }
  lines.push(...targetMarkdown(report.scenarios));
  for (const idle of [report.idle, report.idleTls ?? null]) {
    if (idle === null) continue;
    const https = idle.name === 'idle-tls';
    lines.push(
      '',
      `Idle cost${https ? ' over HTTPS (node:http is node:https)' : ''}: ${int(idle.connections)} keep-alive connections, each served once, held idle, then served again, on a freshly started server each round (RSS and heap deltas over a baseline taken before connecting; heap after a full GC).`,
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
  lines.push(...idleTlsTarget(report));
  return lines.join('\n');
}

/** Issue 15's idle target, when idle-tls ran (its load targets are in targetMarkdown). */
function idleTlsTarget(report: Report): string[] {
  const idle = report.idleTls?.servers.holdfast;
  if (idle === undefined) return [];
  return ['', `- idle-tls: holdfast's RSS per idle HTTPS connection ${times(idle.rssVsNodeHttp)} node:https's (≤ ${IDLE_TLS_RSS_TARGET}×: ${verdictAtMost(idle.rssVsNodeHttp, IDLE_TLS_RSS_TARGET)})`];
}

/** A markdown table of scenarios by server: a row for each server that ran, one line for a skipped scenario. Numbers are right-aligned. */
function scenarioTable(scenarios: LoadScenarioReport[], columns: string[], cells: (summary: LoadSummary) => string[]): string[] {
  const lines = [`| scenario | server | ${columns.join(' | ')} |`, `|---|---|${columns.map((column) => (column === 'errors' ? '---' : '--:')).join('|')}|`];
  for (const scenario of scenarios) {
    if (scenario.skipped !== undefined) {
      lines.push(`| ${scenario.title} | — | skipped: ${scenario.skipped} |${' |'.repeat(columns.length - 1)}`);
      continue;
    }
    for (const name of SERVER_ORDER) {
      const summary = scenario.servers[name];
      if (summary !== undefined) lines.push(`| ${scenario.title} | ${name} | ${cells(summary).join(' | ')} |`);
    }
  }
  return lines;
}

function rpsCell(summary: LoadSummary): string {
  return summary.medianRequestsPerSec === null ? 'failed' : int(summary.medianRequestsPerSec);
}

function cpuCell(summary: LoadSummary): string {
  return summary.medianServerCpuUsPerRequest === null ? '—' : `${summary.medianServerCpuUsPerRequest.toFixed(1)} µs`;
}

function verdict(value: number | null, target: number): string {
  return value === null ? 'no figure' : value >= target ? 'holds' : 'MISSED';
}

/** A ceiling's verdict: the figure at or below `limit`. */
function verdictAtMost(value: number | null | undefined, limit: number): string {
  return value == null ? 'no figure' : value <= limit ? 'holds' : 'MISSED';
}

/** Issue 21: CPU per 1 MiB request from the cache. */
const STATIC_1M_CPU_LIMIT_US = 250;
const STATIC_1M_CPU_VS_NGINX_LIMIT = 1.4;
/** Issue 14: over the Node proxy and nginx. */
const PROXY_VS_NODE_TARGET = 1.5;
const PROXY_VS_NGINX_TARGET = 0.8;
/** Issue 13: over @hono/node-server with the same app, and the fetch path within 20 % of native. */
const APP_VS_PEER_TARGET = 1.5;
const APP_VS_NATIVE_TARGET = 0.8;
/** Issue 16: the live status on, nobody watching, within 2 %. */
const STATUS_VS_OFF_TARGET = 0.98;

/** The targets of this round's issues that the scenarios which ran can show (the access-log ones are in their own table). */
function targetMarkdown(scenarios: LoadScenarioReport[]): string[] {
  const targets: string[] = [];
  const cpu = (summary: LoadSummary | undefined): number | null | undefined => summary?.medianServerCpuUsPerRequest;
  const noErrors = (summary: LoadSummary | undefined): string => (summary !== undefined && Object.keys(summary.errors).length === 0 && summary.failedRuns === 0 ? 'holds' : 'MISSED');
  for (const scenario of scenarios) {
    const s = scenario.servers;
    const holdfast = s.holdfast;
    if (scenario.skipped !== undefined) continue;
    if (scenario.name === 'static-1m') {
      const cpuVsNginx = ratio(cpu(holdfast), cpu(s.nginx));
      const floor = s['node:net floor'];
      const overFloor = floor === undefined ? '' : `; ${times(ratio(cpu(holdfast), cpu(floor)))} the CPU of node:net floor, the same bytes written from memory by a server that does nothing else`;
      targets.push(
        `- static-1m, holdfast from its cache: ${holdfast === undefined ? 'no figure' : cpuCell(holdfast)} per request (≤ ${STATIC_1M_CPU_LIMIT_US} µs: ${verdictAtMost(cpu(holdfast), STATIC_1M_CPU_LIMIT_US)}); ${times(cpuVsNginx)} nginx's CPU (≤ ${STATIC_1M_CPU_VS_NGINX_LIMIT}×: ${verdictAtMost(cpuVsNginx, STATIC_1M_CPU_VS_NGINX_LIMIT)}); ${times(holdfast?.vsNginx ?? null)} nginx's req/s (≥ 1.0×: ${verdict(holdfast?.vsNginx ?? null, 1)})${overFloor}`,
      );
    } else if (scenario.name === 'churn') {
      const cached = cpu(holdfast);
      const uncached = cpu(s['holdfast-uncached']);
      const over = ratio(cached, uncached);
      targets.push(`- churn, more distinct files than the cache holds: holdfast with its cache ${times(over)} the CPU per request of holdfast without it (≤ 1.0×, the uncached path not slower: ${verdictAtMost(over, 1)})`);
    } else if (scenario.name === 'compressed') {
      targets.push(`- compressed, holdfast: ${times(holdfast?.vsNginx ?? null)} nginx's req/s (≥ 1.0×: ${verdict(holdfast?.vsNginx ?? null, 1)})`);
    } else if (scenario.name.startsWith('proxy-')) {
      targets.push(
        `- ${scenario.name}, holdfast: ${times(holdfast?.vsNodeHttp ?? null)} http-proxy (≥ ${PROXY_VS_NODE_TARGET}×: ${verdict(holdfast?.vsNodeHttp ?? null, PROXY_VS_NODE_TARGET)}), ${times(holdfast?.vsNginx ?? null)} nginx (≥ ${PROXY_VS_NGINX_TARGET}×: ${verdict(holdfast?.vsNginx ?? null, PROXY_VS_NGINX_TARGET)}), no errors: ${['holdfast', 'http-proxy', 'nginx'].map((name) => `${name} ${noErrors(s[name as ServerName])}`).join(', ')}`,
      );
    } else if (scenario.app) {
      for (const name of ['holdfast fetch', 'holdfast + Hono'] as const) {
        const summary = s[name];
        if (summary === undefined) continue;
        targets.push(
          `- ${scenario.name}, ${name}: ${times(summary.vsPeer)} ${APP_PEERS[name]} (≥ ${APP_VS_PEER_TARGET}×: ${verdict(summary.vsPeer, APP_VS_PEER_TARGET)}); ${times(summary.vsHoldfast)} native holdfast (≥ ${APP_VS_NATIVE_TARGET}×: ${verdict(summary.vsHoldfast, APP_VS_NATIVE_TARGET)})`,
        );
      }
    } else if (HTTPS_TARGETS[scenario.name] !== undefined) {
      const target = HTTPS_TARGETS[scenario.name];
      targets.push(`- ${scenario.name}, holdfast: ${times(holdfast?.vsNodeHttp ?? null)} node:https (≥ ${target}×: ${verdict(holdfast?.vsNodeHttp ?? null, target)})`);
    } else if (s['holdfast+status'] !== undefined) {
      const on = s['holdfast+status'];
      targets.push(`- ${scenario.name}, status on: ${times(on.vsHoldfast)} holdfast's req/s with it off (≥ ${STATUS_VS_OFF_TARGET}×: ${verdict(on.vsHoldfast, STATUS_VS_OFF_TARGET)})`);
      const pair = scenario.paired?.find((p) => p.server === 'holdfast+status');
      if (pair !== undefined) targets.push(`- ${scenario.name}, status on beside it off, side by side: ${times(pair.medianRpsRatio)} the req/s (≥ ${STATUS_VS_OFF_TARGET}×: ${verdict(pair.medianRpsRatio, STATUS_VS_OFF_TARGET)}), ${times(pair.medianCpuRatio)} the CPU per request`);
    }
  }
  return targets.length === 0 ? [] : ['', "Targets of this round's issues (same run):", '', ...targets];
}

/** The access-log table: logged servers against unlogged holdfast, node:http, and nginx writing the same kind of log; then issue 18's targets. */
function loggedMarkdown(scenarios: LoadScenarioReport[]): string[] {
  const lines = [
    '',
    'Access logs: holdfast with its built-in logger writing a file (`log: pretty` or `json`, `logSink: <path>`; 256 KiB buffer, 1 s flush), nginx with `access_log <file> combined|json buffer=64k flush=1s`. Log B / req: what reached the file during the run over the requests served.',
    '',
    ...scenarioTable(scenarios, ['req/s', 'server CPU / req', 'log B / req', 'vs holdfast unlogged', 'vs node:http', 'vs nginx, same log', 'errors'], (summary) => [
      rpsCell(summary),
      cpuCell(summary),
      summary.medianLogBytesPerRequest === null ? '—' : `${Math.round(summary.medianLogBytesPerRequest)} B`,
      times(summary.vsHoldfast),
      times(summary.vsNodeHttp),
      times(summary.vsNginx),
      errorText(summary),
    ]),
  ];
  const targets: string[] = [];
  for (const scenario of scenarios) {
    for (const name of ['holdfast+log', 'holdfast+json-log'] as const) {
      const summary = scenario.servers[name];
      if (summary === undefined) continue;
      targets.push(`- ${scenario.name}, ${name}: ${times(summary.vsHoldfast)} unlogged holdfast (≥ ${LOGGED_VS_UNLOGGED_TARGET}×: ${verdict(summary.vsHoldfast, LOGGED_VS_UNLOGGED_TARGET)})`);
      if (scenario.name === 'hello-logged') {
        targets.push(`- ${scenario.name}, ${name}: ${times(summary.vsNodeHttp)} node:http (≥ ${LOGGED_VS_NODE_HTTP_TARGET}×: ${verdict(summary.vsNodeHttp, LOGGED_VS_NODE_HTTP_TARGET)})`);
      }
    }
  }
  const paired = pairedMarkdown(scenarios);
  if (paired.length > 0) {
    lines.push(...paired);
    for (const scenario of scenarios) {
      const scale: string[] = [];
      for (const pair of scenario.paired ?? []) {
        if (pair.server !== 'holdfast+log' && pair.server !== 'holdfast+json-log') {
          scale.push(`${pair.server} ${times(pair.medianRpsRatio)}`);
          continue;
        }
        const target = pair.reference === 'holdfast' ? LOGGED_VS_UNLOGGED_TARGET : scenario.name === 'hello-logged' ? LOGGED_VS_NODE_HTTP_TARGET : null;
        if (target === null) continue;
        targets.push(`- ${scenario.name}, ${pair.server} beside ${pair.reference === 'holdfast' ? 'unlogged holdfast' : pair.reference}, side by side: ${times(pair.medianRpsRatio)} its req/s (≥ ${target}×: ${verdict(pair.medianRpsRatio, target)}), ${times(pair.medianCpuRatio)} its CPU per request`);
      }
      if (scale.length > 0) {
        targets.push(`- ${scenario.name}, for scale, beside node:http side by side: ${scale.join(', ')} its req/s (node:net floor parses nothing and logs nothing: no server on node:net does less)`);
      }
    }
  }
  if (targets.length > 0) lines.push('', 'Targets (same run):', '', ...targets);
  return lines;
}

/** The side-by-side measurements: per pair, each round's ratios and their medians. */
function pairedMarkdown(scenarios: LoadScenarioReport[]): string[] {
  const rows: string[] = [];
  for (const scenario of scenarios) {
    for (const pair of scenario.paired ?? []) {
      const rounds = pair.runs.map((run) => (run.error !== undefined ? 'failed' : `${times(ratio(run.server?.requestsPerSec, run.reference?.requestsPerSec))} / ${times(ratio(run.server?.serverCpuUsPerRequest, run.reference?.serverCpuUsPerRequest))}`));
      rows.push(`| ${scenario.title} | ${pair.server} | ${pair.reference} | ${times(pair.medianRpsRatio)} | ${times(pair.medianCpuRatio)} | ${rounds.join(', ')} |`);
    }
  }
  if (rows.length === 0) return [];
  return [
    '',
    "Side by side: each pair's two servers under load at once, both on the server core (the scheduler shares it between them), each with its own load generator on the load core, for as many rounds as the scenario; what drifts between rounds on a shared VM (steal, frequency) then moves both alike. Ratios: the server's req/s over the reference's, and its CPU per request over the reference's (above 1 costs more).",
    '',
    '| scenario | server | beside | req/s ratio | CPU / req ratio | rounds (req/s / CPU) |',
    '|---|---|---|--:|--:|---|',
    ...rows,
  ];
}
