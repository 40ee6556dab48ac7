/**
 * `/status.json`: the figures an operator reads, derived from a sample when someone asks — rates and
 * the recent request-time percentiles against earlier samples kept in a short history, the request
 * duration histogram in OpenTelemetry's buckets, FIN vs RST closes. The shape is documented in the
 * README ("Live status") and held by test/status/status.test.ts; `format` changes when it breaks.
 */

import { advertisedTimeoutSeconds } from '../http1/keep-alive.js';
import { OTEL_DURATION_BOUNDS_S } from '../server/stats.js';
import type { ConnectionRow, HistogramSample, ProcessSample, RowQuery, StatusSample } from './sample.js';

export interface StatusView {
  format: 1;
  holdfast: string;
  /** When the sample was taken (ISO 8601). */
  takenAt: string;
  /** Seconds since counting began (the status was turned on). */
  countingForS: number;
  processes: ProcessSample[];
  settings: StatusSample['settings'] & { advertisedTimeoutS: number; enforcedTimeoutMs: number };
  connections: {
    open: number;
    byActivity: Record<string, number>;
    /** At most the number asked for, in the order asked for. */
    rows: ConnectionRow[];
    sort: { key: RowQuery['sort']; descending: boolean };
  };
  totals: { accepted: number; refused: number; closed: number; requests: number };
  /** Over the last few seconds of samples; null until there are two samples at least a second apart. */
  rates: { windowS: number; acceptedPerS: number; requestsPerS: number } | null;
  /** Requests per connection: over closed connections, and over every connection accepted. */
  reuse: { perClosedConnection: number | null; perAcceptedConnection: number | null };
  /** Request time percentiles over the last minute of samples (since counting began without one, or without a request in it). */
  requestTime: { windowS: number; count: number; p50Ms: number | null; p99Ms: number | null };
  closeReasons: Array<{ reason: string; lastMinute: number; total: number }>;
  /** How connections ended: with FIN, with an RST the server sent, or one the peer sent (close reason peer-reset). */
  closes: { fin: number; rstSent: number; rstReceived: number };
  keepAlive: {
    savedByIdleBuffer: number;
    savedByPendingCheck: number;
    reconnectsAfterIdleClose: number;
    lingeringCloses: number;
    closingBytesDiscarded: number;
    refusedAtMax: number;
  };
  requests: Array<{ method: string; code: number; count: number }>;
  histograms: {
    requestDurationS: HistogramSample;
    requestsPerConnection: HistogramSample;
    connectionDurationS: HistogramSample;
    idleGapS: HistogramSample;
  };
}

/** The histogram in `bounds`, each of which must be one of its own bounds (so the counts are exact). */
export function coarsen(h: HistogramSample, bounds: readonly number[]): HistogramSample {
  const counts: number[] = [];
  let from = 0;
  for (const bound of bounds) {
    const to = h.bounds.indexOf(bound);
    if (to === -1) throw new Error(`${bound} is not a bound of the histogram`);
    counts.push(h.counts.slice(from, to + 1).reduce((a, b) => a + b, 0));
    from = to + 1;
  }
  counts.push(h.counts.slice(from).reduce((a, b) => a + b, 0));
  return { bounds: [...bounds], counts, sum: h.sum, count: h.count };
}

/** The q-quantile (0..1) of per-bucket `counts`, interpolated within its bucket; null without observations. */
export function quantile(bounds: readonly number[], counts: readonly number[], q: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i] === 0 || seen + counts[i] < rank) {
      seen += counts[i];
      continue;
    }
    if (i === bounds.length) return bounds[bounds.length - 1];
    const lower = i === 0 ? 0 : bounds[i - 1];
    return lower + ((bounds[i] - lower) * (rank - seen)) / counts[i];
  }
  return bounds[bounds.length - 1];
}

interface Mark {
  at: number;
  accepted: number;
  requests: number;
  durationCounts: number[];
}

/** Rates are measured over about this long. */
const RATE_WINDOW_MS = 5_000;
/** Request-time percentiles over about this long. */
const RECENT_WINDOW_MS = 60_000;
/** A window shorter than this is too short to measure anything. */
const MIN_WINDOW_MS = 900;
/** Samples closer together than this are not all kept. */
const MARK_EVERY_MS = 500;

/** Earlier samples' totals, for rates and recent percentiles (kept by whoever serves the views). */
export class StatusHistory {
  #marks: Mark[] = [];

  /** The oldest mark within `windowMs` of `at` and at least MIN_WINDOW_MS before it. */
  #since(at: number, windowMs: number): Mark | null {
    for (const mark of this.#marks) {
      if (at - mark.at <= windowMs && at - mark.at >= MIN_WINDOW_MS) return mark;
    }
    return null;
  }

  view(sample: StatusSample, query: RowQuery): StatusView {
    const duration = sample.histograms.requestDuration;
    const at = sample.takenAt;
    const c = sample.counters;
    const rateFrom = this.#since(at, RATE_WINDOW_MS);
    // The last minute of samples; since counting began when there is none, or no request in it.
    let recentFrom = this.#since(at, RECENT_WINDOW_MS);
    if (recentFrom !== null && recentFrom.requests === duration.count) recentFrom = null;
    const from = recentFrom;
    const recentCounts = from === null ? duration.counts : duration.counts.map((count, i) => count - (from.durationCounts[i] ?? 0));
    const toMs = (seconds: number | null): number | null => (seconds === null ? null : Math.round(seconds * 1e6) / 1e3);
    const last = this.#marks.at(-1);
    if (last === undefined || at - last.at >= MARK_EVERY_MS) this.#marks.push({ at, accepted: c.accepted, requests: duration.count, durationCounts: duration.counts });
    this.#marks = this.#marks.filter((mark) => at - mark.at <= RECENT_WINDOW_MS + MARK_EVERY_MS);
    const perS = (now: number, then: number, ms: number): number => Math.round(((now - then) * 10_000) / ms) / 10;
    const rstReceived = sample.closeReasons['peer-reset']?.total ?? 0;
    const s = sample.settings;
    const countingForS = Math.round((at - sample.countingSince) / 100) / 10;
    return {
      format: 1,
      holdfast: sample.version,
      takenAt: new Date(at).toISOString(),
      countingForS,
      processes: sample.processes,
      settings: { ...s, advertisedTimeoutS: advertisedTimeoutSeconds(s.keepAliveTimeoutMs), enforcedTimeoutMs: s.keepAliveTimeoutMs + s.keepAliveTimeoutBufferMs },
      connections: { ...sample.connections, sort: { key: query.sort, descending: query.descending } },
      totals: { accepted: c.accepted, refused: c.refused, closed: c.closed, requests: duration.count },
      rates:
        rateFrom === null
          ? null
          : {
              windowS: Math.round((at - rateFrom.at) / 100) / 10,
              acceptedPerS: perS(c.accepted, rateFrom.accepted, at - rateFrom.at),
              requestsPerS: perS(duration.count, rateFrom.requests, at - rateFrom.at),
            },
      reuse: {
        perClosedConnection: sample.histograms.requestsPerConnection.count === 0 ? null : sample.histograms.requestsPerConnection.sum / sample.histograms.requestsPerConnection.count,
        perAcceptedConnection: c.accepted === 0 ? null : duration.count / c.accepted,
      },
      requestTime: {
        windowS: recentFrom === null ? countingForS : Math.round((at - recentFrom.at) / 100) / 10,
        count: recentCounts.reduce((a, b) => a + b, 0),
        p50Ms: toMs(quantile(duration.bounds, recentCounts, 0.5)),
        p99Ms: toMs(quantile(duration.bounds, recentCounts, 0.99)),
      },
      closeReasons: Object.entries(sample.closeReasons)
        .map(([reason, count]) => ({ reason, lastMinute: count.lastMinute, total: count.total }))
        .sort((a, b) => b.total - a.total || a.reason.localeCompare(b.reason)),
      closes: { fin: Math.max(0, c.closed - c.resetsSent - rstReceived), rstSent: c.resetsSent, rstReceived },
      keepAlive: {
        savedByIdleBuffer: c.savedByIdleBuffer,
        savedByPendingCheck: c.savedByPendingCheck,
        reconnectsAfterIdleClose: c.reconnectsAfterIdleClose,
        lingeringCloses: c.lingeringCloses,
        closingBytesDiscarded: c.closingBytesDiscarded,
        refusedAtMax: c.refusedAtMax,
      },
      requests: sample.requests.map(([method, code, count]) => ({ method, code, count })).sort((a, b) => b.count - a.count),
      histograms: {
        requestDurationS: coarsen(duration, OTEL_DURATION_BOUNDS_S),
        requestsPerConnection: sample.histograms.requestsPerConnection,
        connectionDurationS: sample.histograms.connectionDuration,
        idleGapS: sample.histograms.idleGap,
      },
    };
  }
}
