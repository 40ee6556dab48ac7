/**
 * A sample: one process's counters, connections and process figures, copied out of a server when
 * someone asks (takeSample) as plain data — JSON-safe, so a worker can send it to the primary — and
 * samples of several processes summed into one (mergeSamples) for `--workers`. The views
 * (status.json, /metrics, the page) are rendered from a sample; nothing here runs unless asked.
 */

import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';
import type { HoldfastServer } from '../server/server.js';
import type { ConnectionInfo, ConnectionPhase } from '../server/registry.js';
import { holdfastVersion } from '../server/version.js';
import { CLOSE_WINDOW_S, FIRST_STATUS, METHODS, STATUS_SLOTS, type Histogram, type ServerStats } from '../server/stats.js';

export interface HistogramSample {
  /** Upper bounds (`le`); the counts have one more entry, the +Inf bucket. */
  bounds: number[];
  /** Per bucket, not cumulative. */
  counts: number[];
  sum: number;
  count: number;
}

export interface ProcessSample {
  pid: number;
  /** The worker's number under `--workers`, else null. */
  worker: number | null;
  rssBytes: number;
  heapUsedBytes: number;
  /** Open file descriptors (Linux), else null. */
  openFds: number | null;
  /** Event-loop delay since the previous sample (null on the first: it is measured only while someone asks). */
  eventLoopDelayMs: { p50: number; p99: number; max: number } | null;
}

export type ConnectionRow = ConnectionInfo & { worker: number | null };

export const ACTIVITIES: readonly ConnectionPhase[] = ['handshake', 'new', 'reading', 'handling', 'writing', 'idle', 'closing', 'lingering', 'upgraded'];

export const SORT_KEYS = ['id', 'age', 'activity', 'requests', 'left', 'deadline', 'elapsed', 'in', 'out', 'backlog'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

/** Which connections the sample lists: all are counted, at most `limit` are listed, ordered by `sort`. */
export interface RowQuery {
  sort: SortKey;
  descending: boolean;
  limit: number;
}

export const DEFAULT_ROW_QUERY: RowQuery = { sort: 'id', descending: false, limit: 100 };
/** The most rows a status request may ask for. */
export const MAX_ROWS = 1000;

export interface StatusSample {
  /** Wall-clock ms. */
  takenAt: number;
  /** Wall-clock ms when counting began (the earliest process). */
  countingSince: number;
  version: string;
  settings: {
    keepAliveTimeoutMs: number;
    keepAliveTimeoutBufferMs: number;
    maxRequestsPerConnection: number;
    maxConnections: number;
    lingerMs: number;
  };
  processes: ProcessSample[];
  connections: { open: number; byActivity: Record<string, number>; rows: ConnectionRow[] };
  counters: {
    accepted: number;
    refused: number;
    closed: number;
    savedByIdleBuffer: number;
    savedByPendingCheck: number;
    reconnectsAfterIdleClose: number;
    resetsSent: number;
    lingeringCloses: number;
    closingBytesDiscarded: number;
    refusedAtMax: number;
  };
  closeReasons: Record<string, { total: number; lastMinute: number }>;
  /** [method, status, count], non-zero entries only. */
  requests: Array<[string, number, number]>;
  histograms: {
    /** In seconds, in the server's fine buckets (the views pick OpenTelemetry's from them). */
    requestDuration: HistogramSample;
    requestsPerConnection: HistogramSample;
    connectionDuration: HistogramSample;
    idleGap: HistogramSample;
  };
}

function histogramSample(h: Histogram): HistogramSample {
  return { bounds: [...h.bounds], counts: [...h.counts], sum: h.sum, count: h.count };
}

function compareRows(key: SortKey): (a: ConnectionRow, b: ConnectionRow) => number {
  const value = (row: ConnectionRow): number => {
    switch (key) {
      case 'id':
        return row.id + (row.worker ?? 0) / 1e4;
      case 'age':
        return row.ageMs;
      case 'activity':
        return ACTIVITIES.indexOf(row.activity);
      case 'requests':
        return row.requestsServed;
      case 'left':
        return row.requestsLeft ?? Number.MAX_SAFE_INTEGER;
      case 'deadline':
        return row.idleDeadline?.enforcedInMs ?? Number.MAX_SAFE_INTEGER;
      case 'elapsed':
        return row.request?.elapsedMs ?? row.activityMs ?? 0;
      case 'in':
        return row.bytesIn;
      case 'out':
        return row.bytesOut;
      case 'backlog':
        return row.writeBacklogBytes;
    }
  };
  return (a, b) => value(a) - value(b) || a.id - b.id;
}

/** The rows `query` asks for, from all of them. */
export function pickRows(rows: ConnectionRow[], query: RowQuery): ConnectionRow[] {
  const compare = compareRows(query.sort);
  rows.sort(query.descending ? (a, b) => compare(b, a) : compare);
  return rows.length > query.limit ? rows.slice(0, query.limit) : rows;
}

/** The event-loop delay monitor runs only while someone asks: it stops after this long without a sample. */
const MONITOR_IDLE_MS = 60_000;
let monitor: IntervalHistogram | null = null;
let monitorStop: NodeJS.Timeout | null = null;

/** The monitor's timer period: a sample is the time between two of its ticks, so an idle loop reads this much. */
const MONITOR_RESOLUTION_MS = 10;

/** A sample (ns between ticks) less the period itself: the delay the loop added, in ms. */
export function delayMs(sampleNs: number): number {
  return Math.max(0, sampleNs / 1e6 - MONITOR_RESOLUTION_MS);
}

function eventLoopDelay(): ProcessSample['eventLoopDelayMs'] {
  if (monitorStop !== null) clearTimeout(monitorStop);
  monitorStop = setTimeout(() => {
    monitor?.disable();
    monitor = null;
    monitorStop = null;
  }, MONITOR_IDLE_MS).unref();
  if (monitor === null) {
    monitor = monitorEventLoopDelay({ resolution: MONITOR_RESOLUTION_MS });
    monitor.enable();
    return null;
  }
  const m = monitor;
  if (m.count === 0) return null;
  const result = { p50: delayMs(m.percentile(50)), p99: delayMs(m.percentile(99)), max: delayMs(m.max) };
  m.reset();
  return result;
}

function openFds(): number | null {
  try {
    return readdirSync('/proc/self/fd').length - 1; // less the descriptor reading the directory
  } catch {
    return null;
  }
}

export function processSample(worker: number | null): ProcessSample {
  const memory = process.memoryUsage();
  return { pid: process.pid, worker, rssBytes: memory.rss, heapUsedBytes: memory.heapUsed, openFds: openFds(), eventLoopDelayMs: eventLoopDelay() };
}

/** The closes of the last CLOSE_WINDOW_S seconds, from the per-second ring. */
function lastMinute(stats: ServerStats, perSecond: Float64Array, nowSecond: number): number {
  let sum = 0;
  for (let slot = 0; slot < CLOSE_WINDOW_S; slot++) {
    if (stats.closeSlotSecond[slot] > nowSecond - CLOSE_WINDOW_S) sum += perSecond[slot];
  }
  return sum;
}

/** A sample of `server` (its stats must be enabled), listing the connections `query` asks for. */
export function takeSample(server: HoldfastServer, stats: ServerStats, query: RowQuery, worker: number | null = null): StatusSample {
  const byActivity: Record<string, number> = Object.fromEntries(ACTIVITIES.map((activity) => [activity, 0]));
  const rows: ConnectionRow[] = [];
  for (const info of server.connections()) {
    byActivity[info.activity] = (byActivity[info.activity] ?? 0) + 1;
    rows.push({ ...info, worker });
  }
  const nowSecond = Math.floor(performance.now() / 1000);
  const closeReasons: StatusSample['closeReasons'] = {};
  for (const [reason, count] of stats.closeReasons) closeReasons[reason] = { total: count.total, lastMinute: lastMinute(stats, count.perSecond, nowSecond) };
  const requests: StatusSample['requests'] = [];
  stats.requests.forEach((count, i) => {
    if (count > 0) requests.push([METHODS[Math.floor(i / STATUS_SLOTS)], FIRST_STATUS + (i % STATUS_SLOTS), count]);
  });
  const o = server.options;
  return {
    takenAt: Date.now(),
    countingSince: stats.startedAtEpochMs,
    version: holdfastVersion(),
    settings: {
      keepAliveTimeoutMs: o.keepAliveTimeoutMs,
      keepAliveTimeoutBufferMs: o.keepAliveTimeoutBufferMs,
      maxRequestsPerConnection: o.maxRequestsPerConnection,
      maxConnections: o.maxConnections,
      lingerMs: o.lingerMs,
    },
    processes: [processSample(worker)],
    connections: { open: rows.length, byActivity, rows: pickRows(rows, query) },
    counters: {
      accepted: stats.accepted,
      refused: stats.refused,
      closed: stats.closed,
      savedByIdleBuffer: stats.savedByIdleBuffer,
      savedByPendingCheck: stats.savedByPendingCheck,
      reconnectsAfterIdleClose: stats.reconnectsAfterIdleClose,
      resetsSent: stats.resetsSent,
      lingeringCloses: stats.lingeringCloses,
      closingBytesDiscarded: stats.closingBytesDiscarded,
      refusedAtMax: stats.refusedAtMax,
    },
    closeReasons,
    requests,
    histograms: {
      requestDuration: histogramSample(stats.requestDuration),
      requestsPerConnection: histogramSample(stats.requestsPerConnection),
      connectionDuration: histogramSample(stats.connectionDuration),
      idleGap: histogramSample(stats.idleGap),
    },
  };
}

function addHistogram(into: HistogramSample, from: HistogramSample): void {
  into.counts = into.counts.map((count, i) => count + (from.counts[i] ?? 0));
  into.sum += from.sum;
  into.count += from.count;
}

/** Several processes' samples as one: counts summed, connections listed together by `query`. */
export function mergeSamples(samples: StatusSample[], query: RowQuery): StatusSample {
  if (samples.length === 0) throw new Error('no sample to merge');
  const merged: StatusSample = structuredClone(samples[0]);
  for (const sample of samples.slice(1)) {
    merged.takenAt = Math.max(merged.takenAt, sample.takenAt);
    merged.countingSince = Math.min(merged.countingSince, sample.countingSince);
    merged.processes.push(...sample.processes);
    merged.connections.open += sample.connections.open;
    for (const [activity, count] of Object.entries(sample.connections.byActivity)) merged.connections.byActivity[activity] = (merged.connections.byActivity[activity] ?? 0) + count;
    merged.connections.rows.push(...sample.connections.rows);
    for (const key of Object.keys(merged.counters) as Array<keyof StatusSample['counters']>) merged.counters[key] += sample.counters[key];
    for (const [reason, count] of Object.entries(sample.closeReasons)) {
      const into = (merged.closeReasons[reason] ??= { total: 0, lastMinute: 0 });
      into.total += count.total;
      into.lastMinute += count.lastMinute;
    }
    for (const [method, status, count] of sample.requests) {
      const into = merged.requests.find(([m, s]) => m === method && s === status);
      if (into === undefined) merged.requests.push([method, status, count]);
      else into[2] += count;
    }
    for (const key of Object.keys(merged.histograms) as Array<keyof StatusSample['histograms']>) addHistogram(merged.histograms[key], sample.histograms[key]);
  }
  merged.connections.rows = pickRows(merged.connections.rows, query);
  return merged;
}
