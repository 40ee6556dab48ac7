/**
 * `npm run bench` — holdfast against node:http and nginx on this machine.
 *
 * Usage: node dist/bench/run.js [--rounds N] [--duration S] [--warmup S] [--only a,b]
 *                               [--idle-connections N] [--out FILE]
 *
 * `--only logged` stands for the access-log scenarios (hello-logged, pipelined-logged), `--only apps`
 * for the fetch-app scenarios (app-hello, app-json), `--only tls` for the HTTPS ones (https-hello,
 * https-new, idle-tls; the servers then also serve HTTPS with a certificate made for the run).
 * Starts the servers the chosen scenarios need once (pinned to core 0), then for each scenario runs its servers interleaved
 * for N rounds with the load generator pinned to core 1, checking each server's answers before each
 * run. Prints a markdown table of medians and ratios, writes the full results as JSON
 * (bench/results/latest.json by default) and the total time. Servers are stopped at the end, on
 * error and on SIGINT/SIGTERM.
 */

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureIdle } from './lib/idle.js';
import { HTTP_LOAD_TOOL, LOAD_CORE, opensslMissing, WRK } from './lib/load.js';
import { cpuSeconds, isInterrupted, onInterrupt, stopAll } from './lib/processes.js';
import {
  describeMachine,
  machineLine,
  markdown,
  summarizeIdle,
  summarizeLoad,
  summarizePaired,
  type IdleRun,
  type LoadRun,
  type LoadScenarioReport,
  type PairedRun,
  type PairedSummary,
  type Report,
} from './lib/report.js';
import { PROXY_SCENARIOS, startProxies } from './lib/proxies.js';
import { APP_SCENARIOS, IDLE_SCENARIOS, LOGGED_SCENARIOS, makeFixtures, SCENARIOS, TLS_SCENARIOS, type Fixtures, type Scenario } from './lib/scenarios.js';
import { BASE_SERVERS, logBytes, resetLog, SERVER_CORE, SERVERS, type RunningServer, type ServerName } from './lib/servers.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCENARIO_NAMES = [...SCENARIOS.map((s) => s.name), ...IDLE_SCENARIOS.map((s) => s.name), ...PROXY_SCENARIOS.map((s) => s.name)];
/** Names `--only` accepts for several scenarios at once. */
const SCENARIO_GROUPS: Readonly<Record<string, readonly string[]>> = { logged: LOGGED_SCENARIOS, apps: APP_SCENARIOS, proxy: PROXY_SCENARIOS.map((s) => s.name), tls: TLS_SCENARIOS };

interface Args {
  rounds: number;
  durationS: number;
  warmupS: number;
  only: string[];
  idleConnections: number;
  out: string;
}

const USAGE = `usage: npm run bench -- [options]
  --rounds N             rounds per scenario, servers interleaved (default 3)
  --duration S           seconds per load run (default 5)
  --warmup S             seconds of discarded load per server before each scenario (default 1; 0 = none)
  --only a,b             scenarios to run: ${SCENARIO_NAMES.join(', ')} (default all);
${Object.entries(SCENARIO_GROUPS)
  .map(([group, names]) => `                         ${group} = ${names.join(', ')}`)
  .join('\n')}
  --idle-connections N   connections held idle in the idle scenarios (default 10000)
  --out FILE             JSON results (default bench/results/latest.json)`;

function usageError(message: string): never {
  process.stderr.write(`bench: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const args: Args = { rounds: 3, durationS: 5, warmupS: 1, only: SCENARIO_NAMES, idleConnections: 10_000, out: path.join(repoRoot, 'bench', 'results', 'latest.json') };
  const number = (flag: string, value: string | undefined, integer: boolean, min: number): number => {
    const n = Number(value);
    if (value === undefined || value.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
      usageError(`${flag} needs ${integer ? 'an integer' : 'a number'} ≥ ${min}, got ${value === undefined ? 'nothing' : JSON.stringify(value)}`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    switch (flag) {
      case '--rounds':
        args.rounds = number(flag, value, true, 1);
        i++;
        break;
      case '--duration':
        args.durationS = number(flag, value, true, 1);
        i++;
        break;
      case '--warmup':
        args.warmupS = number(flag, value, true, 0);
        i++;
        break;
      case '--idle-connections':
        args.idleConnections = number(flag, value, true, 1);
        i++;
        break;
      case '--only': {
        if (value === undefined) usageError('--only needs a list of scenarios');
        const only = value
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
          .flatMap((s) => SCENARIO_GROUPS[s] ?? [s]);
        const unknown = only.filter((s) => !SCENARIO_NAMES.includes(s));
        if (unknown.length > 0 || only.length === 0) usageError(`unknown scenario(s) ${unknown.join(', ') || '(none given)'}`);
        args.only = only;
        i++;
        break;
      }
      case '--out':
        if (value === undefined) usageError('--out needs a file');
        args.out = path.resolve(value);
        i++;
        break;
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
      default:
        usageError(`unknown option ${JSON.stringify(flag)}`);
    }
  }
  return args;
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** One load scenario against each server, interleaved for `args.rounds` rounds; its summary lands in `report`. */
async function runScenario(scenario: Scenario, servers: RunningServer[], args: Args, fx: Fixtures, report: Report): Promise<void> {
  const entry: LoadScenarioReport = {
    name: scenario.name,
    title: scenario.title,
    command: `taskset -c ${LOAD_CORE} ${scenario.command(args.durationS)}`,
    logged: LOGGED_SCENARIOS.includes(scenario.name),
    app: APP_SCENARIOS.includes(scenario.name),
    servers: {},
  };
  report.scenarios.push(entry);
  const missing = scenario.unavailable();
  if (missing !== null) {
    log(`\n${scenario.name}: skipped — ${missing}`);
    entry.skipped = missing;
    return;
  }
  log(`\n${scenario.name}: ${entry.command}`);
  const portOf = (server: RunningServer): number => {
    if (scenario.tls !== true) return server.port;
    if (server.tlsPort === null) throw new Error('started without HTTPS');
    return server.tlsPort;
  };
  if (args.warmupS > 0) {
    for (const server of servers) {
      try {
        await scenario.check(portOf(server), fx);
        await scenario.load(portOf(server), args.warmupS, fx);
      } catch (error) {
        log(`  warm-up ${server.name}: ${message(error)}`);
      }
    }
  }
  const runs: Partial<Record<ServerName, LoadRun[]>> = {};
  for (let round = 1; round <= args.rounds; round++) {
    for (const server of servers) {
      if (isInterrupted()) throw new Error('interrupted');
      const list = (runs[server.name] ??= []);
      try {
        if (!server.alive()) throw new Error(`server exited: ${server.stderr().trim()}`);
        const port = portOf(server);
        await scenario.check(port, fx).catch((error: unknown) => {
          throw new Error(`answer check failed: ${message(error)}`);
        });
        await resetLog(server);
        const cpuBefore = cpuSeconds(server.pid);
        const result = await scenario.load(port, args.durationS, fx);
        const cpuAfter = cpuSeconds(server.pid);
        const serverCpuUsPerRequest = cpuUsPerRequest(cpuBefore, cpuAfter, result.requests);
        const logged = await logBytes(server);
        if (logged === 0 && result.requests > 0) throw new Error('the access log stayed empty');
        const logBytesPerRequest = logged === null || result.requests === 0 ? null : logged / result.requests;
        list.push({ round, result, serverCpuUsPerRequest, logBytesPerRequest });
        const errors = Object.entries(result.errors).map(([kind, n]) => `${kind} ${n}`).join(', ');
        const logText = logBytesPerRequest === null ? '' : `  log ${Math.round(logBytesPerRequest)} B/req`;
        log(`  round ${round} ${server.name.padEnd(17)} ${Math.round(result.requestsPerSec).toString().padStart(8)} req/s  p99 ${result.p99Ms === null ? 'n/a' : `${result.p99Ms.toFixed(2)} ms`}  CPU ${serverCpuUsPerRequest == null ? 'n/a' : `${serverCpuUsPerRequest.toFixed(1)} µs/req`}${logText}${errors ? `  (${errors})` : ''}`);
      } catch (error) {
        list.push({ round, error: message(error) });
        log(`  round ${round} ${server.name.padEnd(17)} FAILED: ${message(error)}`);
      }
    }
  }
  entry.servers = summarizeLoad(runs);
  if (scenario.pairs !== undefined) entry.paired = await runPairs(scenario, servers, args, fx, portOf);
}

/**
 * The scenario's pairs side by side: per round and pair, both servers' loads at once (each its own
 * load generator on the load core; the servers share the server core), with each server's CPU.
 */
async function runPairs(scenario: Scenario, servers: RunningServer[], args: Args, fx: Fixtures, portOf: (server: RunningServer) => number): Promise<PairedSummary[]> {
  const byName = new Map(servers.map((server) => [server.name, server]));
  const pairs = (scenario.pairs ?? []).filter(([reference, server]) => byName.has(reference) && byName.has(server));
  const runs = pairs.map((): PairedRun[] => []);
  for (let round = 1; round <= args.rounds; round++) {
    for (const [i, [referenceName, serverName]] of pairs.entries()) {
      if (isInterrupted()) throw new Error('interrupted');
      const reference = byName.get(referenceName) as RunningServer;
      const server = byName.get(serverName) as RunningServer;
      try {
        for (const s of [reference, server]) {
          if (!s.alive()) throw new Error(`${s.name} exited: ${s.stderr().trim()}`);
          await scenario.check(portOf(s), fx);
          await resetLog(s);
        }
        const cpuBefore = [cpuSeconds(reference.pid), cpuSeconds(server.pid)];
        const [a, b] = await Promise.all([scenario.load(portOf(reference), args.durationS, fx), scenario.load(portOf(server), args.durationS, fx)]);
        const cpuAfter = [cpuSeconds(reference.pid), cpuSeconds(server.pid)];
        const run: PairedRun = {
          round,
          reference: { requestsPerSec: a.requestsPerSec, serverCpuUsPerRequest: cpuUsPerRequest(cpuBefore[0], cpuAfter[0], a.requests) },
          server: { requestsPerSec: b.requestsPerSec, serverCpuUsPerRequest: cpuUsPerRequest(cpuBefore[1], cpuAfter[1], b.requests) },
        };
        runs[i].push(run);
        log(`  side by side ${round} ${serverName} beside ${referenceName}: ${(b.requestsPerSec / a.requestsPerSec).toFixed(3)}× req/s (${Math.round(b.requestsPerSec)} / ${Math.round(a.requestsPerSec)})`);
      } catch (error) {
        runs[i].push({ round, error: message(error) });
        log(`  side by side ${round} ${serverName} beside ${referenceName} FAILED: ${message(error)}`);
      }
    }
  }
  return pairs.map(([reference, server], i) => summarizePaired(reference, server, runs[i]));
}

/** A server's CPU time over a run (two cpuSeconds readings) per request it served, in µs; null when unknown. */
function cpuUsPerRequest(beforeS: number | null, afterS: number | null, requests: number): number | null {
  return beforeS === null || afterS === null || requests === 0 ? null : ((afterS - beforeS) * 1e6) / requests;
}

function formatDuration(seconds: number): string {
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds - m * 60);
  return m > 0 ? `${m} min ${s} s` : `${s} s`;
}

function message(error: unknown): string {
  return (error as Error).message.split('\n')[0];
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const machine = describeMachine();
  log(`holdfast bench: ${machineLine(machine)}`);
  log(`${args.rounds} rounds × ${args.durationS} s, warm-up ${args.warmupS} s; scenarios: ${args.only.join(', ')}`);
  if (HTTP_LOAD_TOOL === 'autocannon') log(`${WRK} not found: the wrk scenarios run with autocannon (npm dev dependency) instead; install wrk for the figures the README quotes`);

  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'holdfast-bench-'));
  const cleanup = (): Promise<void> => fs.rm(workDir, { recursive: true, force: true });
  onInterrupt(cleanup);

  const report: Report = {
    startedAt: new Date(started).toISOString(),
    totalSeconds: 0,
    machine,
    settings: { rounds: args.rounds, durationS: args.durationS, warmupS: args.warmupS, idleConnections: args.idleConnections, serverCore: SERVER_CORE, loadCore: LOAD_CORE, httpLoadTool: HTTP_LOAD_TOOL },
    servers: {},
    scenarios: [],
    idle: null,
    idleTls: null,
  };

  try {
    const fx: Fixtures = await makeFixtures(workDir);
    const idleScenarios = IDLE_SCENARIOS.filter((idle) => args.only.includes(idle.name));
    const wanted = new Set<ServerName>(idleScenarios.length > 0 ? BASE_SERVERS : []);
    for (const scenario of SCENARIOS) if (args.only.includes(scenario.name)) for (const name of scenario.servers ?? BASE_SERVERS) wanted.add(name);
    // HTTPS listeners only when an HTTPS scenario runs: the other scenarios' servers stay as they were.
    const wantsTls = args.only.some((name) => TLS_SCENARIOS.includes(name));
    const serverTls = wantsTls ? fx.tls : null;
    const servers: RunningServer[] = [];
    for (const spec of SERVERS) {
      if (!wanted.has(spec.name)) continue;
      const missing = spec.unavailable();
      if (missing !== null) {
        log(`${spec.name}: skipped — ${missing}`);
        report.servers[spec.name] = { error: `not run: ${missing}` };
        continue;
      }
      try {
        const server = await spec.start(workDir, fx.wwwDir, serverTls);
        servers.push(server);
        report.servers[spec.name] = { pid: server.pid };
        log(`${spec.name}: pid ${server.pid}, port ${server.port}${server.tlsPort === null ? '' : `, HTTPS port ${server.tlsPort}`}`);
      } catch (error) {
        log(`${spec.name}: failed to start — ${message(error)}`);
        report.servers[spec.name] = { error: `failed to start: ${message(error)}` };
      }
    }
    if (wanted.size > 0 && servers.length === 0) throw new Error('no server could be started');

    for (const scenario of SCENARIOS) {
      if (args.only.includes(scenario.name) && !isInterrupted()) {
        await runScenario(scenario, servers.filter((server) => (scenario.servers ?? BASE_SERVERS).includes(server.name)), args, fx, report);
      }
    }

    let serversRunning = true;
    for (const idle of idleScenarios) {
      if (isInterrupted()) break;
      if (idle.tls && fx.tls === null) {
        log(`\n${idle.name}: skipped — ${opensslMissing()}`);
        continue;
      }
      // A fresh process of each server per round: the figure is what holding the connections costs,
      // not what is left of the load scenarios before (a heap already grown, freed pages to reuse).
      log(`\n${idle.name}: ${args.idleConnections} keep-alive ${idle.tls ? 'HTTPS ' : ''}connections per server, each round on a freshly started server`);
      const runs: Partial<Record<ServerName, IdleRun[]>> = {};
      if (serversRunning) for (const server of servers) await server.stop();
      serversRunning = false;
      for (let round = 1; round <= args.rounds; round++) {
        for (const spec of SERVERS.filter((candidate) => BASE_SERVERS.includes(candidate.name) && servers.some((running) => running.name === candidate.name))) {
          if (isInterrupted()) throw new Error('interrupted');
          const list = (runs[spec.name] ??= []);
          let server: RunningServer | null = null;
          try {
            server = await spec.start(workDir, fx.wwwDir, idle.tls ? fx.tls : null);
            await SCENARIOS[0].check(server.port, fx).catch((error: unknown) => {
              throw new Error(`answer check failed: ${message(error)}`);
            });
            const result = await measureIdle(server, args.idleConnections, idle.tls);
            list.push({ round, result });
            const heap = result.heapPerConnBytes === null ? 'n/a' : `${Math.round(result.heapPerConnBytes)} B/conn`;
            log(
              `  round ${round} ${server.name.padEnd(9)} opened ${result.opened} in ${result.openMs} ms, RSS ${Math.round(result.rssPerConnBytes)} B/conn, heap ${heap}, served again ${result.servedAgain}/${result.opened}${result.firstError ? `  (${result.firstError})` : ''}`,
            );
          } catch (error) {
            list.push({ round, error: message(error) });
            log(`  round ${round} ${spec.name.padEnd(9)} FAILED: ${message(error)}`);
          } finally {
            await server?.stop();
          }
        }
      }
      const summary = { name: idle.name, connections: args.idleConnections, servers: summarizeIdle(runs) };
      if (idle.tls) report.idleTls = summary;
      else report.idle = summary;
    }
    const proxyScenarios = PROXY_SCENARIOS.filter((scenario) => args.only.includes(scenario.name));
    if (proxyScenarios.length > 0 && !isInterrupted()) {
      log('\nproxy scenarios: one app process behind each proxy');
      const { app, proxies } = await startProxies(workDir, log);
      try {
        for (const scenario of proxyScenarios) if (!isInterrupted()) await runScenario(scenario, proxies, args, fx, report);
      } finally {
        for (const proxy of proxies) await proxy.stop();
        await app.stop();
      }
    }
  } finally {
    await stopAll();
    await cleanup();
  }

  report.totalSeconds = Math.round((Date.now() - started) / 100) / 10;
  await fs.mkdir(path.dirname(args.out), { recursive: true });
  await fs.writeFile(args.out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`\n${markdown(report)}\n\nresults: ${path.relative(process.cwd(), args.out) || args.out}\ntotal time: ${formatDuration(report.totalSeconds)}\n`);
}

main().catch(async (error: unknown) => {
  if (isInterrupted()) return;
  process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
  await stopAll();
  process.exit(1);
});
