/**
 * Child processes of the bench. `spawnPinned(core, cmd, args)` runs `taskset -c core cmd args`
 * (taskset execs, so the child's PID is the command's) and tracks it until it exits. `stop(child)`
 * sends SIGTERM to its PID, then SIGKILL after a grace period. `stopAll()` stops every tracked child;
 * `onInterrupt(cleanup)` runs it (and the given cleanup) on SIGINT/SIGTERM, and the process 'exit'
 * hook SIGKILLs anything still tracked, so no child outlives the bench. `cpuSeconds(pid)` reads a
 * process's user+system CPU time (all its threads) from /proc.
 */

import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';

const live = new Set<ChildProcess>();

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

export function spawnPinned(core: number, command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  const child = spawn('taskset', ['-c', String(core), command, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  return child;
}

export function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

export async function stop(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (exited(child) || child.pid === undefined) return;
  signal(child.pid, 'SIGTERM');
  if (await waitExit(child, graceMs)) return;
  signal(child.pid, 'SIGKILL');
  await waitExit(child, 2000);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((child) => stop(child)));
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a pinned command to completion (killed after `timeoutMs`), collecting its output. */
export async function runPinned(core: number, command: string, args: string[], timeoutMs: number): Promise<RunResult> {
  const child = spawnPinned(core, command, args);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let timedOut = false;
  if (!(await waitExit(child, timeoutMs))) {
    timedOut = true;
    await stop(child, 1000);
  }
  await closed;
  return { code: child.exitCode, signal: child.signalCode, stdout, stderr, timedOut };
}

/** Keeps the last `max` characters written to a stream, for error messages. */
export function tail(stream: NodeJS.ReadableStream | null | undefined, max = 4000): () => string {
  let text = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (s: string) => {
    text = (text + s).slice(-max);
  });
  return () => text;
}

let interrupted = false;

/** True once SIGINT or SIGTERM arrived: the bench is stopping. */
export function isInterrupted(): boolean {
  return interrupted;
}

export function onInterrupt(cleanup: () => Promise<void>): void {
  const handler = (sig: NodeJS.Signals): void => {
    if (interrupted) {
      for (const child of live) if (child.pid !== undefined) signal(child.pid, 'SIGKILL');
      process.exit(130);
    }
    interrupted = true;
    process.stderr.write(`\n${sig}: stopping servers and load generators…\n`);
    void stopAll()
      .then(cleanup)
      .finally(() => process.exit(130));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  process.on('exit', () => {
    for (const child of live) if (child.pid !== undefined) signal(child.pid, 'SIGKILL');
  });
}

let ticksPerSecond: number | null = null;

/** User + system CPU seconds used so far by `pid` and its threads (/proc/<pid>/stat), or null off Linux. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Fields after the command name (which may hold spaces) start at "state": utime and stime are
    // fields 14 and 15 of the whole line, so 12 and 13 after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticksPerSecond ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
  } catch {
    return null;
  }
}
