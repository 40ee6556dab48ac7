/**
 * The banner line of `holdfast --proxy`: the upstreams and how they are balanced, and the upstream
 * settings that decide whether keep-alive to the app is safe — the pool's idle timeout must stay
 * under the app's (an app that advertises `Keep-Alive: timeout=` lowers it by itself), plus the
 * timeouts that turn into 504s and the body limit that turns into 413s.
 */

import type { ResolvedProxyOptions } from '../proxy/options.js';
import type { ResolvedOptions } from '../server/options.js';
import { formatBytes, formatDuration } from '../server/units.js';

export function describeProxy(p: Readonly<ResolvedProxyOptions>, server: ResolvedOptions): string {
  const cap = p.maxConnectionsPerUpstream === 0 ? 'no connection cap' : `at most ${p.maxConnectionsPerUpstream} connections (queue ${p.maxQueuedPerUpstream})`;
  const body = server.maxBodyBytes === 0 ? 'unlimited' : `up to ${formatBytes(server.maxBodyBytes)} (--max-body)`;
  return (
    `proxy: ${p.upstreams.length} upstream(s), ${p.balance}; keep-alive pool: ${p.maxIdlePerUpstream} idle per upstream, ${cap}, ` +
    `idle ${formatDuration(p.idleTimeoutMs)} or the app's Keep-Alive timeout less ${formatDuration(p.keepAliveHintMarginMs)} — the app's own idle timeout must be longer; ` +
    `connect timeout ${formatDuration(p.connectTimeoutMs)}, read timeout ${formatDuration(p.readTimeoutMs)} (504 after); request bodies ${body}`
  );
}
