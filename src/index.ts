/** holdfast: an HTTP/1.1 server on raw TCP with keep-alive and connection management done right. */

import type { Handler } from './handlers/types.js';
import type { ServerOptions } from './server/options.js';
import { createServer as createCoreServer, type HoldfastServer } from './server/server.js';
import { serveStatus } from './status/index.js';

export { HoldfastServer, type CloseOptions, type CloseReport, type ServerCompanion } from './server/server.js';
export { serveStatus, statusHandler, StatusListener, type StatusView, type StatusSample, type SampleSource } from './status/index.js';
export type { ServerStats } from './server/stats.js';

/** A server; with the `status` option set, its live status listens there too (see serveStatus). */
export function createServer(handler: Handler): HoldfastServer;
export function createServer(options: ServerOptions, handler: Handler): HoldfastServer;
export function createServer(a: ServerOptions | Handler, b?: Handler): HoldfastServer {
  const server = typeof a === 'function' ? createCoreServer(a) : createCoreServer(a, b as Handler);
  if (server.options.status !== '') serveStatus(server);
  return server;
}
export { resolveOptions, PRESETS, DEFAULTS, OptionError, type ServerOptions, type ResolvedOptions, type Preset, type LogFormat, type LogSink } from './server/options.js';
export type { ConnectionInfo, ConnectionPhase, Lifecycle } from './server/registry.js';
export type { ServerEvents, ConnectionOpenEvent, ConnectionCloseEvent, RequestEvent, ProtocolErrorEvent, HandlerErrorEvent, TlsErrorEvent } from './server/events.js';
export type { TlsOptions, TlsCredentials, SniCertificate, SniCallback, TlsInfo, Pem } from './server/tls.js';
export { HttpError, takeover, type UpgradeHandler, type Handler, type HttpRequest, type HttpResponse, type ResponseBody, type RequestBody, type ConnectionRef, type ResponseHeaders } from './handlers/types.js';
export { HeaderMap } from './http1/header-map.js';
export { ProtocolError, type ProtocolErrorCode } from './http1/errors.js';
export type { CloseReason } from './server/close-reason.js';
export { serveStatic, type StaticOptions, type StaticHandler } from './handlers/static.js';
export type { FileCacheStats } from './handlers/file-cache.js';
export { reopenLogFiles } from './server/log-writer.js';
export { proxy, type ProxyHandler } from './proxy/proxy.js';
export { PROXY_OPTIONS, type ProxyOptions, type ResolvedProxyOptions, type BalanceStrategy } from './proxy/options.js';
export type { ProxyEvents, UpstreamOpenEvent, UpstreamCloseEvent, UpstreamErrorEvent, UpstreamHealthEvent, UpstreamCloseReason, UpstreamPhase } from './proxy/events.js';
export type { PoolStats } from './proxy/pool.js';
export { tryFiles } from './handlers/try-files.js';
export { defineHandler } from './handlers/define-handler.js';
export { fetchHandler, installFetchGlobals, type FetchApp, type FetchFunction, type FetchHandlerOptions, type FetchInfo } from './handlers/fetch.js';
export { redirectToHttps } from './handlers/redirect.js';
