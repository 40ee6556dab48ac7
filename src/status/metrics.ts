/**
 * `/metrics`: a sample in the Prometheus text exposition format 0.0.4 (`# HELP`, `# TYPE`, one line
 * per series; histograms as cumulative `_bucket{le}` lines, `_sum` and `_count`). Names follow
 * Prometheus's conventions (base units, `_total` on counters) and pass `promtool check metrics`;
 * labels never name a connection, so the series stay few. With `--workers` the figures are the sum
 * over the workers, but for the per-process gauges, labelled by worker.
 */

import { OTEL_DURATION_BOUNDS_S } from '../server/stats.js';
import type { HistogramSample, StatusSample } from './sample.js';
import { ACTIVITIES } from './sample.js';
import { coarsen } from './view.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** A label value escaped as the format requires: backslash, double quote, newline. */
function labelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(pairs: Record<string, string | number>): string {
  const entries = Object.entries(pairs);
  return entries.length === 0 ? '' : `{${entries.map(([name, value]) => `${name}="${labelValue(String(value))}"`).join(',')}}`;
}

/** Prometheus's float text: integers as they are, others in JavaScript's shortest round-trip form. */
function number(value: number): string {
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return Number.isNaN(value) ? 'NaN' : String(value);
}

class Exposition {
  readonly #lines: string[] = [];

  family(name: string, type: 'counter' | 'gauge' | 'histogram', help: string): this {
    this.#lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    return this;
  }

  series(name: string, value: number, pairs: Record<string, string | number> = {}): this {
    this.#lines.push(`${name}${labels(pairs)} ${number(value)}`);
    return this;
  }

  histogram(name: string, help: string, h: HistogramSample): this {
    this.family(name, 'histogram', help);
    let cumulative = 0;
    h.bounds.forEach((bound, i) => {
      cumulative += h.counts[i];
      this.series(`${name}_bucket`, cumulative, { le: number(bound) });
    });
    return this.series(`${name}_bucket`, h.count, { le: '+Inf' }).series(`${name}_sum`, h.sum).series(`${name}_count`, h.count);
  }

  text(): string {
    return `${this.#lines.join('\n')}\n`;
  }
}

export function renderMetrics(sample: StatusSample): string {
  const c = sample.counters;
  const m = new Exposition();
  m.family('holdfast_build_info', 'gauge', "holdfast's version and the node.js version running it; always 1.").series('holdfast_build_info', 1, { version: sample.version, node: process.version });
  m.family('holdfast_connections', 'gauge', 'Open connections by what they are doing: handshake (TLS), new, reading, handling, writing, idle, closing, lingering, upgraded.');
  for (const activity of ACTIVITIES) m.series('holdfast_connections', sample.connections.byActivity[activity] ?? 0, { state: activity });
  m.family('holdfast_connections_accepted_total', 'counter', 'Connections accepted.').series('holdfast_connections_accepted_total', c.accepted);
  m.family('holdfast_connections_refused_total', 'counter', 'Connections refused at maxConnections or near the open-file limit.').series('holdfast_connections_refused_total', c.refused);
  m.family('holdfast_connections_closed_total', 'counter', 'Connections closed, by close reason.');
  for (const [reason, count] of Object.entries(sample.closeReasons).sort()) m.series('holdfast_connections_closed_total', count.total, { reason });
  const rstReceived = sample.closeReasons['peer-reset']?.total ?? 0;
  m.family('holdfast_connections_ended_total', 'counter', 'Connections closed, by how they ended: fin, rst_sent (the server reset it), rst_received (the peer did).')
    .series('holdfast_connections_ended_total', Math.max(0, c.closed - c.resetsSent - rstReceived), { by: 'fin' })
    .series('holdfast_connections_ended_total', c.resetsSent, { by: 'rst_sent' })
    .series('holdfast_connections_ended_total', rstReceived, { by: 'rst_received' });
  m.family('holdfast_requests_total', 'counter', 'Requests answered, by method (OpenTelemetry normalised: other methods are _OTHER) and status code.');
  for (const [method, code, count] of [...sample.requests].sort((a, b) => a[0].localeCompare(b[0]) || a[1] - b[1])) m.series('holdfast_requests_total', count, { method, code });
  m.histogram('holdfast_request_duration_seconds', 'From the event-loop turn that read a request head to its response queued, in OpenTelemetry http.server.request.duration buckets.', coarsen(sample.histograms.requestDuration, OTEL_DURATION_BOUNDS_S));
  m.histogram('holdfast_requests_per_connection', 'Requests served by each closed connection.', sample.histograms.requestsPerConnection);
  m.histogram('holdfast_connection_duration_seconds', 'Lifetime of each closed connection.', sample.histograms.connectionDuration);
  m.histogram('holdfast_idle_gap_seconds', 'Time a kept-alive connection was idle before its next request (0 for a pipelined request).', sample.histograms.idleGap);
  m.family('holdfast_keepalive_saved_by_buffer_total', 'counter', 'Requests that arrived after the advertised keep-alive timeout but before the enforced one.')
    .series('holdfast_keepalive_saved_by_buffer_total', c.savedByIdleBuffer);
  m.family('holdfast_keepalive_saved_by_pending_check_total', 'counter', 'Requests read after the idle deadline fired, kept by the check for pending bytes.')
    .series('holdfast_keepalive_saved_by_pending_check_total', c.savedByPendingCheck);
  m.family('holdfast_keepalive_reconnects_after_idle_close_total', 'counter', 'New connections from an address within 2 s of the server closing its idle connection.')
    .series('holdfast_keepalive_reconnects_after_idle_close_total', c.reconnectsAfterIdleClose);
  m.family('holdfast_keepalive_refused_at_max_total', 'counter', 'Connections whose client sent more after its last allowed request (maxRequestsPerConnection).')
    .series('holdfast_keepalive_refused_at_max_total', c.refusedAtMax);
  m.family('holdfast_lingering_closes_total', 'counter', 'Closes that read and discarded after the FIN (lingering close).').series('holdfast_lingering_closes_total', c.lingeringCloses);
  m.family('holdfast_closing_discarded_bytes_total', 'counter', 'Bytes read and discarded from connections while they closed.').series('holdfast_closing_discarded_bytes_total', c.closingBytesDiscarded);
  m.family('holdfast_process_resident_memory_bytes', 'gauge', 'Resident set size of each process.');
  for (const p of sample.processes) m.series('holdfast_process_resident_memory_bytes', p.rssBytes, { worker: p.worker ?? 0 });
  m.family('holdfast_process_open_fds', 'gauge', 'Open file descriptors of each process (Linux).');
  for (const p of sample.processes) if (p.openFds !== null) m.series('holdfast_process_open_fds', p.openFds, { worker: p.worker ?? 0 });
  m.family('holdfast_event_loop_delay_p99_seconds', 'gauge', 'The 99th percentile of event-loop delay since the previous scrape (absent on the first).');
  for (const p of sample.processes) if (p.eventLoopDelayMs !== null) m.series('holdfast_event_loop_delay_p99_seconds', p.eventLoopDelayMs.p99 / 1000, { worker: p.worker ?? 0 });
  return m.text();
}
