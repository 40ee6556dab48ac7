/** Starts test/stress/fixtures/proxy-child.ts (holdfast + proxy() in a process of its own) and talks to it over IPC. */

import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { UpstreamErrorEvent } from '../../src/proxy/events.js';
import type { PoolStats } from '../../src/proxy/pool.js';
import type { ProxyChildConfig } from './fixtures/proxy-child.js';

const CHILD = fileURLToPath(new URL('./fixtures/proxy-child.js', import.meta.url));

export interface ProxyReport {
  errors: UpstreamErrorEvent[];
  closes: Record<string, number>;
  stats: PoolStats[];
  rss: number;
  maxRss: number;
}

export interface ProxyChild {
  port: number;
  pid: number;
  pause(): void;
  resume(): void;
  report(): Promise<ProxyReport>;
  stop(): Promise<void>;
}

export async function startProxyChild(config: ProxyChildConfig): Promise<ProxyChild> {
  const child = fork(CHILD, [], { env: { ...process.env, HOLDFAST_PROXY_CHILD: JSON.stringify(config) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = once(child, 'exit');
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const { port, pid } = await new Promise<{ port: number; pid: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the proxy child did not start within 5 s')), 5000);
    child.once('message', (message: { port: number; pid: number }) => {
      clearTimeout(timer);
      resolve(message);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the proxy child exited with ${code}`));
    });
  });
  return {
    port,
    pid,
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
    async report() {
      const reply = new Promise<ProxyReport>((resolve) => child.once('message', (message: ProxyReport) => resolve(message)));
      child.send({ cmd: 'report' });
      return reply;
    },
    async stop() {
      process.off('exit', killOnExit);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
      }
      await exited;
    },
  };
}
