/**
 * The live status under `--workers`: the primary serves it, and each request for a sample asks
 * every worker over the cluster's IPC channel for its own (counters, connections, process figures),
 * then merges what came back within a deadline. Workers count as a single server does; they never
 * bind the status address themselves.
 */

import cluster from 'node:cluster';
import type { HoldfastServer } from '../server/server.js';
import type { SampleSource } from './handler.js';
import { mergeSamples, takeSample, type RowQuery, type StatusSample } from './sample.js';

type SampleRequest = { kind: 'status-sample-request'; id: number; query: RowQuery };
type SampleReply = { kind: 'status-sample'; id: number; sample: StatusSample };

/** How long the primary waits for the workers' samples before answering with those it has. */
const WORKER_ANSWER_MS = 1_000;

function isMessage<K extends string>(message: unknown, kind: K): message is { kind: K } {
  return typeof message === 'object' && message !== null && (message as { kind?: unknown }).kind === kind;
}

/** In a worker: turns on `server`'s counters and answers the primary's sample requests. */
export function answerSampleRequests(server: HoldfastServer, worker: number): void {
  const stats = server.enableStats();
  process.on('message', (message: unknown) => {
    if (!isMessage(message, 'status-sample-request')) return;
    const request = message as SampleRequest;
    process.send?.({ kind: 'status-sample', id: request.id, sample: takeSample(server, stats, request.query, worker) } satisfies SampleReply);
  });
}

/** In the primary: samples from every live worker, merged. */
export function clusterSampleSource(): SampleSource {
  let nextId = 1;
  const pending = new Map<number, (sample: StatusSample) => void>();
  cluster.on('message', (_worker, message: unknown) => {
    if (!isMessage(message, 'status-sample')) return;
    const reply = message as SampleReply;
    pending.get(reply.id)?.(reply.sample);
  });
  return (query) => {
    const workers = Object.values(cluster.workers ?? {}).filter((worker) => worker !== undefined && worker.isConnected());
    if (workers.length === 0) return Promise.reject(new Error('no worker is running'));
    const id = nextId++;
    const samples: StatusSample[] = [];
    return new Promise<StatusSample>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        pending.delete(id);
        if (samples.length === 0) reject(new Error(`no worker answered within ${WORKER_ANSWER_MS} ms`));
        else resolve(mergeSamples(samples, query));
      };
      const timer = setTimeout(finish, WORKER_ANSWER_MS);
      pending.set(id, (sample) => {
        samples.push(sample);
        if (samples.length === workers.length) finish();
      });
      for (const worker of workers) worker?.send({ kind: 'status-sample-request', id, query } satisfies SampleRequest);
    });
  };
}
