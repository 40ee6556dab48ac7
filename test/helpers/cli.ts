/** Spawns the built `holdfast` CLI and waits for its listening banner. */

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface RunningCli {
  child: ChildProcessWithoutNullStreams;
  port: number;
  output(): string;
  /** Sends a signal and resolves with the exit code and everything printed. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; stdout: string }>;
}

export function startCli(args: string[], timeoutMs = 5000): Promise<RunningCli> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  // 'close', not 'exit': the child's last stdout bytes may still be in the pipe when it has exited.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`holdfast did not start: ${stdout}${stderr}`));
    }, timeoutMs);
    child.stderr.on('data', (d: string) => (stderr += d));
    const early = (code: number | null): void => {
      clearTimeout(timer);
      reject(new Error(`holdfast exited with ${code}: ${stdout}${stderr}`));
    };
    child.on('exit', early);
    child.stdout.on('data', (d: string) => {
      stdout += d;
      const match = /on https?:\/\/[^:]+:(\d+)\//.exec(stdout);
      if (match && /keep-alive:/.test(stdout)) {
        clearTimeout(timer);
        child.off('exit', early);
        resolve({
          child,
          port: Number(match[1]),
          output: () => stdout + stderr,
          async stop(signal = 'SIGTERM') {
            if (child.exitCode === null) child.kill(signal);
            const code = await exited;
            return { code, stdout };
          },
        });
      }
    });
  });
}

export function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
