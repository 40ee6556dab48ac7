/**
 * Load generators, pinned to core 1: `runWrk` (wrk -t1 --latency, optional Lua script and extra
 * headers) and `runAb` (ApacheBench -k, HTTP/1.0 keep-alive). Both resolve with requests/s, p99
 * latency in ms and the errors the tool counted; a tool that fails or prints no rate rejects.
 * wrk's p99 is dropped for pipelined requests: its coordinated-omission correction assumes one
 * request per round trip and then skews or zeroes the percentiles (wg/wrk#236).
 * `runHttpLoad` is what the wrk scenarios call: wrk when it is installed, else autocannon (the npm
 * dev dependency, run by node on the same core; slower than wrk, so its figures compare servers
 * only within one run). `runSTime` is the HTTPS new-connection load: `openssl s_time -reuse`
 * processes side by side, every connection resuming the first one's session. The output parsers
 * are exported for direct use.
 */

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { runPinned } from './processes.js';

export const LOAD_CORE = 1;
export const WRK = '/usr/bin/wrk';
export const AB = '/usr/bin/ab';

/** autocannon's command-line entry point, or null when the dev dependency is not installed. */
export const AUTOCANNON: string | null = (() => {
  try {
    return createRequire(import.meta.url).resolve('autocannon/autocannon.js');
  } catch {
    return null;
  }
})();

/** The HTTP/1.1 load generator this machine has: wrk, else autocannon. */
export const HTTP_LOAD_TOOL: 'wrk' | 'autocannon' = existsSync(WRK) || AUTOCANNON === null ? 'wrk' : 'autocannon';

export interface LoadResult {
  requestsPerSec: number;
  /** null when the tool's percentiles can't be trusted for this load (wrk with pipelining). */
  p99Ms: number | null;
  requests: number;
  /** Counted problems by kind (socket errors, non-2xx, failed); all zero on a clean run. */
  errors: Record<string, number>;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function parseDuration(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text);
  if (m === null) throw new Error(`unparsable latency ${JSON.stringify(text)}`);
  return Number(m[1]) * UNIT_MS[m[2]];
}

export function parseWrk(output: string): LoadResult {
  const rate = /^Requests\/sec:\s+([\d.]+)/m.exec(output);
  const p99 = /^\s*99(?:\.0+)?%\s+(\S+)/m.exec(output);
  const total = /^\s*(\d+) requests in /m.exec(output);
  if (rate === null || p99 === null || total === null) throw new Error(`unparsable wrk output:\n${output}`);
  const errors: Record<string, number> = {};
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  if (socket !== null) {
    ['connect', 'read', 'write', 'timeout'].forEach((kind, i) => {
      const n = Number(socket[i + 1]);
      if (n > 0) errors[kind] = n;
    });
  }
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  if (non2xx !== null) errors['non-2xx'] = Number(non2xx[1]);
  return { requestsPerSec: Number(rate[1]), p99Ms: parseDuration(p99[1]), requests: Number(total[1]), errors };
}

export function parseAb(output: string): LoadResult {
  const rate = /^Requests per second:\s+([\d.]+)/m.exec(output);
  const p99 = /^\s*99%\s+(\d+)/m.exec(output);
  const total = /^Complete requests:\s+(\d+)/m.exec(output);
  if (rate === null || p99 === null || total === null) throw new Error(`unparsable ab output:\n${output}`);
  const errors: Record<string, number> = {};
  const failed = /^Failed requests:\s+(\d+)/m.exec(output);
  if (failed !== null && Number(failed[1]) > 0) errors.failed = Number(failed[1]);
  const non2xx = /^Non-2xx responses:\s+(\d+)/m.exec(output);
  if (non2xx !== null) errors['non-2xx'] = Number(non2xx[1]);
  const keptAlive = /^Keep-Alive requests:\s+(\d+)/m.exec(output);
  const notKeptAlive = Number(total[1]) - (keptAlive === null ? 0 : Number(keptAlive[1]));
  if (notKeptAlive > 50) errors['not-kept-alive'] = notKeptAlive;
  return { requestsPerSec: Number(rate[1]), p99Ms: Number(p99[1]), requests: Number(total[1]), errors };
}

/** Joins argv for display, single-quoting arguments a shell would split. */
export function shellJoin(argv: string[]): string {
  return argv.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export function wrkMissing(): string | null {
  return existsSync(WRK) ? null : `${WRK} not found (apt-get install wrk)`;
}

/** Why neither wrk nor autocannon can run, or null. */
export function httpLoadMissing(): string | null {
  return existsSync(WRK) || AUTOCANNON !== null ? null : `${WRK} not found (apt-get install wrk) and autocannon not installed (npm install)`;
}

export function abMissing(): string | null {
  return existsSync(AB) ? null : `${AB} not found (apt-get install apache2-utils)`;
}

export interface WrkOptions {
  url: string;
  connections: number;
  durationS: number;
  script?: string;
  headers?: string[];
  /** Requests per write from the script; above 1 the p99 is reported as null. */
  pipeline?: number;
}

export function wrkArgs(o: WrkOptions): string[] {
  const args = ['-t1', `-c${o.connections}`, `-d${o.durationS}s`, '--latency'];
  for (const header of o.headers ?? []) args.push('-H', header);
  if (o.script !== undefined) args.push('-s', o.script);
  args.push(o.url);
  return args;
}

export async function runWrk(o: WrkOptions): Promise<LoadResult> {
  const run = await runPinned(LOAD_CORE, WRK, wrkArgs(o), (o.durationS + 30) * 1000);
  if (run.timedOut || run.code !== 0) throw new Error(`wrk failed (${run.timedOut ? 'timed out' : `exit ${run.code ?? run.signal}`}): ${run.stderr.trim() || run.stdout.trim()}`);
  const result = parseWrk(run.stdout);
  return (o.pipeline ?? 1) > 1 ? { ...result, p99Ms: null } : result;
}

export function autocannonArgs(o: WrkOptions): string[] {
  const args = ['-j', '-c', String(o.connections), '-d', String(o.durationS)];
  if ((o.pipeline ?? 1) > 1) args.push('-p', String(o.pipeline));
  for (const header of o.headers ?? []) {
    const colon = header.indexOf(':');
    args.push('-H', `${header.slice(0, colon).trim()}=${header.slice(colon + 1).trim()}`);
  }
  args.push(o.url);
  return args;
}

/** autocannon's --json report → LoadResult (rate over the measured duration; p99 in ms). */
export function parseAutocannon(output: string): LoadResult {
  let report: { duration?: number; requests?: { total?: number }; latency?: { p99?: number }; errors?: number; timeouts?: number; non2xx?: number; resets?: number; mismatches?: number };
  try {
    report = JSON.parse(output.slice(output.indexOf('{'))) as typeof report;
  } catch {
    throw new Error(`unparsable autocannon output:\n${output}`);
  }
  const total = report.requests?.total;
  const duration = report.duration;
  if (typeof total !== 'number' || typeof duration !== 'number' || duration <= 0) throw new Error(`unparsable autocannon output:\n${output}`);
  const errors: Record<string, number> = {};
  for (const kind of ['errors', 'timeouts', 'non2xx', 'resets', 'mismatches'] as const) {
    const n = report[kind];
    if (typeof n === 'number' && n > 0) errors[kind === 'non2xx' ? 'non-2xx' : kind] = n;
  }
  return { requestsPerSec: total / duration, p99Ms: report.latency?.p99 ?? null, requests: total, errors };
}

export async function runAutocannon(o: WrkOptions): Promise<LoadResult> {
  if (AUTOCANNON === null) throw new Error('autocannon is not installed (npm install)');
  const run = await runPinned(LOAD_CORE, process.execPath, [AUTOCANNON, ...autocannonArgs(o)], (o.durationS + 30) * 1000);
  if (run.timedOut || run.code !== 0) throw new Error(`autocannon failed (${run.timedOut ? 'timed out' : `exit ${run.code ?? run.signal}`}): ${run.stderr.trim().slice(-2000)}`);
  return parseAutocannon(run.stdout);
}

/** The wrk scenarios' load: wrk, or autocannon where wrk is missing. */
export function runHttpLoad(o: WrkOptions): Promise<LoadResult> {
  return HTTP_LOAD_TOOL === 'wrk' ? runWrk(o) : runAutocannon(o);
}

/** The command runHttpLoad runs, for the report (`script` is the Lua file's name for wrk). */
export function httpLoadCommand(o: WrkOptions): string {
  return HTTP_LOAD_TOOL === 'wrk' ? shellJoin(['wrk', ...wrkArgs(o)]) : shellJoin(['autocannon', ...autocannonArgs(o)]);
}

export interface AbOptions {
  url: string;
  concurrency: number;
  durationS: number;
}

export function abArgs(o: AbOptions): string[] {
  return ['-k', '-q', '-c', String(o.concurrency), '-t', String(o.durationS), '-n', '10000000', o.url];
}

export async function runAb(o: AbOptions): Promise<LoadResult> {
  const run = await runPinned(LOAD_CORE, AB, abArgs(o), (o.durationS + 30) * 1000);
  if (run.timedOut || run.code !== 0) throw new Error(`ab failed (${run.timedOut ? 'timed out' : `exit ${run.code ?? run.signal}`}): ${run.stderr.trim() || run.stdout.trim()}`);
  return parseAb(run.stdout);
}

export const OPENSSL = '/usr/bin/openssl';

export function opensslMissing(): string | null {
  return existsSync(OPENSSL) ? null : `${OPENSSL} not found (apt-get install openssl)`;
}

export interface STimeOptions {
  port: number;
  durationS: number;
  /** s_time processes run side by side (each makes one connection at a time). */
  clients: number;
}

/**
 * `openssl s_time -reuse`: a new TLS connection per request (`GET /` as HTTP/1.0, read to the
 * server's close), each offering the session of the first; it prints `r` per resumed connection
 * and `*` per full handshake. wrk cannot resume sessions, so this is the new-connection load.
 */
export function sTimeArgs(o: STimeOptions): string[] {
  return ['s_time', '-connect', `127.0.0.1:${o.port}`, '-www', '/', '-reuse', '-time', String(o.durationS)];
}

/** One s_time run's output → the connections it made and how many of them were not resumed. */
export function parseSTime(output: string): { connections: number; notResumed: number } {
  const total = /^(\d+) connections in [\d.]+s;/m.exec(output);
  if (total === null) throw new Error(`unparsable s_time output:\n${output.slice(-2000)}`);
  const marks = /^starting\n([r*]*)/m.exec(output)?.[1] ?? '';
  let notResumed = 0;
  for (const mark of marks) if (mark === '*') notResumed++;
  return { connections: Number(total[1]), notResumed };
}

/** `clients` s_time processes at once; the rate is their connections over the wall time; unresumed connections are errors. */
export async function runSTime(o: STimeOptions): Promise<LoadResult> {
  const started = Date.now();
  const runs = await Promise.all(Array.from({ length: o.clients }, () => runPinned(LOAD_CORE, OPENSSL, sTimeArgs(o), (o.durationS + 30) * 1000)));
  const seconds = (Date.now() - started) / 1000;
  let connections = 0;
  let notResumed = 0;
  for (const run of runs) {
    if (run.timedOut || run.code !== 0) throw new Error(`openssl s_time failed (${run.timedOut ? 'timed out' : `exit ${run.code ?? run.signal}`}): ${(run.stderr.trim() || run.stdout.trim()).slice(-500)}`);
    const parsed = parseSTime(run.stdout);
    connections += parsed.connections;
    notResumed += parsed.notResumed;
  }
  return { requestsPerSec: connections / seconds, p99Ms: null, requests: connections, errors: notResumed > 0 ? { 'not-resumed': notResumed } : {} };
}
