/**
 * The load scenarios. Each has a `check(port)` that proves the server answers this scenario's
 * requests correctly (body, size, connection persistence or close) and rejects otherwise, and a
 * `load(port, seconds)` that runs the load generator against it. The idle-cost scenario lives in
 * idle.ts. The `-logged` scenarios repeat keep-alive and pipelined hello against the logged
 * servers (an access log written to a file), next to unlogged holdfast and node:http for the ratios.
 * The `app-` scenarios load a Hono app and a plain fetch function (bench/servers/apps.ts) on
 * holdfast's fetchHandler and on @hono/node-server, with holdfast's native handler for reference.
 * `churn` requests more distinct 1 MiB files than holdfast's file cache holds, in turn (wrk only:
 * a Lua script picks the paths), next to holdfast with the cache off, as `static-1m` also runs.
 * `compressed` asks for a 64 KiB JavaScript file with `Accept-Encoding: br, gzip`, against nginx
 * (gzip level 6) and `serve`; each answer is decompressed and compared with the file.
 * The `https-` scenarios run against the servers' HTTPS ports (`tls: true`; one self-signed P-256
 * certificate made per run; node:http's process serves node:https there): keep-alive hello by wrk,
 * and a new TLS connection per request with its session resumed by `openssl s_time -reuse`.
 */

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import type tls from 'node:tls';
import { connect, connectTls, getRequest, withTimeout, type RawConnection, type RawResponse } from './http-client.js';
import { APP_SERVERS, TLS_SERVERS, type ServerName, type TlsFiles } from './servers.js';
import {
  abArgs,
  abMissing,
  HTTP_LOAD_TOOL,
  httpLoadCommand,
  httpLoadMissing,
  OPENSSL,
  opensslMissing,
  runAb,
  runHttpLoad,
  runSTime,
  runWrk,
  shellJoin,
  sTimeArgs,
  wrkArgs,
  wrkMissing,
  type LoadResult,
} from './load.js';

export const HELLO = 'Hello, World!';
export const PIPELINE_DEPTH = 16;
/** The churn scenario's distinct 1 MiB files: half again as many as holdfast's 64 MiB file cache holds. */
export const CHURN_FILES = 96;
/** The compressed scenario's file: 64 KiB of real JavaScript (TypeScript's compiler, a dev dependency). */
export const COMPRESSED_FILE = 'app.js';
const COMPRESSED_BYTES = 65_536;

export interface Fixtures {
  workDir: string;
  wwwDir: string;
  files: Map<string, Buffer>;
  pipelineScript: string;
  churnScript: string;
  /** A self-signed P-256 certificate for 127.0.0.1 (null without openssl): every server's HTTPS uses it. */
  tls: TlsFiles | null;
}

export interface Scenario {
  name: string;
  title: string;
  /** The servers it runs against; default BASE_SERVERS. */
  servers?: readonly ServerName[];
  /** Runs against the servers' HTTPS port: `port` below is then their tlsPort. */
  tls?: boolean;
  /**
   * Pairs of its servers also measured side by side (run.ts's runPaired): [reference, server],
   * both loaded at once on the one server core, for a ratio the machine's drift between rounds
   * cannot move.
   */
  pairs?: ReadonlyArray<readonly [ServerName, ServerName]>;
  /** The load command, for the report. */
  command(durationS: number): string;
  unavailable(): string | null;
  check(port: number, fx: Fixtures): Promise<void>;
  load(port: number, durationS: number, fx: Fixtures): Promise<LoadResult>;
}

export async function makeFixtures(workDir: string): Promise<Fixtures> {
  const wwwDir = path.join(workDir, 'www');
  await fs.mkdir(wwwDir, { recursive: true });
  const files = new Map<string, Buffer>();
  for (const [name, size] of [['1k.bin', 1024], ['1m.bin', 1_048_576]] as const) {
    const bytes = Buffer.alloc(size);
    for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 8)) & 0xff;
    await fs.writeFile(path.join(wwwDir, name), bytes);
    files.set(name, bytes);
  }
  for (let n = 0; n < CHURN_FILES; n++) {
    const name = churnName(n);
    const bytes = churnBytes(n);
    await fs.writeFile(path.join(wwwDir, name), bytes);
    if (n % 32 === 0 || n === CHURN_FILES - 1) files.set(name, bytes);
  }
  const javascript = (await fs.readFile(createRequire(import.meta.url).resolve('typescript/lib/typescript.js'))).subarray(1_000_000, 1_000_000 + COMPRESSED_BYTES);
  await fs.writeFile(path.join(wwwDir, COMPRESSED_FILE), javascript);
  files.set(COMPRESSED_FILE, javascript);
  const churnScript = path.join(workDir, 'churn.lua');
  await fs.writeFile(
    churnScript,
    `counter = 0

request = function()
  counter = counter % ${CHURN_FILES}
  local path = string.format("/churn-%03d.bin", counter)
  counter = counter + 1
  return wrk.format(nil, path)
end
`,
  );
  const pipelineScript = path.join(workDir, 'pipeline.lua');
  await fs.writeFile(
    pipelineScript,
    `init = function(args)
  local batch = {}
  for i = 1, ${PIPELINE_DEPTH} do
    batch[i] = wrk.format(nil, "/")
  end
  pipelined = table.concat(batch)
end

request = function()
  return pipelined
end
`,
  );
  return { workDir, wwwDir, files, pipelineScript, churnScript, tls: opensslMissing() === null ? makeCertificate(workDir) : null };
}

function makeCertificate(workDir: string): TlsFiles {
  const certFile = path.join(workDir, 'bench-cert.pem');
  const keyFile = path.join(workDir, 'bench-key.pem');
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2'];
  execFileSync(OPENSSL, [...args, '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { certFile, keyFile };
}

function churnName(n: number): string {
  return `churn-${String(n).padStart(3, '0')}.bin`;
}

/** 1 MiB that differs from every other churn file's. */
function churnBytes(n: number): Buffer {
  const bytes = Buffer.alloc(1_048_576);
  for (let i = 0; i < bytes.length; i += 4) bytes.writeUInt32LE((Math.imul(i, 2_654_435_761) ^ Math.imul(n + 1, 40_503)) >>> 0, i);
  return bytes;
}

function fail(what: string, response: RawResponse, detail: string): never {
  throw new Error(`${what}: ${detail} (status ${response.status}, ${response.body.length} body bytes)`);
}

export function expectHello(response: RawResponse, what = 'GET /'): void {
  if (response.status !== 200) fail(what, response, 'expected 200');
  if (response.body.toString('latin1') !== HELLO) fail(what, response, `expected body ${JSON.stringify(HELLO)}, got ${JSON.stringify(response.body.toString('latin1').slice(0, 60))}`);
}

async function onConnection(port: number, steps: (conn: RawConnection) => Promise<void>, open: (port: number) => Promise<RawConnection> = connect): Promise<void> {
  const conn = await open(port);
  try {
    await withTimeout(steps(conn), 10_000, 'answer check');
  } finally {
    conn.close();
  }
}

async function exchange(conn: RawConnection, request: string, count = 1): Promise<RawResponse[]> {
  conn.send(request);
  return conn.read(count);
}

async function stillOpen(conn: RawConnection, what: string): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 20));
  if (!conn.open) throw new Error(`${what}: the server closed a keep-alive connection`);
}

function url(port: number | 'PORT', target = '/', scheme: 'http' | 'https' = 'http'): string {
  return `${scheme}://127.0.0.1:${port}${target}`;
}

/** Where the file cache matters: holdfast with and without it. */
const CACHE_SERVERS: readonly ServerName[] = ['holdfast', 'holdfast-uncached', 'node:http', 'nginx'];

/** Fetches each file twice on one connection (a large file is cached on its second request) and compares the bytes. */
function checkFiles(port: number, fx: Fixtures, names: readonly string[]): Promise<void> {
  return onConnection(port, async (conn) => {
    for (const file of names) {
      const expected = fx.files.get(file) as Buffer;
      for (let i = 0; i < 2; i++) {
        const [response] = await exchange(conn, getRequest(`/${file}`));
        if (response.status !== 200) fail(`GET /${file}`, response, 'expected 200');
        if (response.body.length !== expected.length) fail(`GET /${file}`, response, `expected ${expected.length} bytes`);
        if (!response.body.equals(expected)) fail(`GET /${file}`, response, 'content differs from the file');
      }
    }
    await stillOpen(conn, `GET /${names.join(', /')}`);
  });
}

function staticScenario(name: string, file: string, connections: number, servers?: readonly ServerName[]): Scenario {
  return {
    name,
    title: `static ${file} (${HTTP_LOAD_TOOL} -c${connections})`,
    servers,
    command: (durationS) => httpLoadCommand({ url: url('PORT', `/${file}`), connections, durationS }),
    unavailable: httpLoadMissing,
    check: (port, fx) => checkFiles(port, fx, [file]),
    load: (port, durationS) => runHttpLoad({ url: url(port, `/${file}`), connections, durationS }),
  };
}

/** The compressed scenario's request: the file with Accept-Encoding: br, gzip. */
const COMPRESSED_HEADERS = ['Accept-Encoding: br, gzip'];

const COMPRESSED_SCENARIO: Scenario = {
  name: 'compressed',
  title: `compressed: ${COMPRESSED_FILE} (64 KiB JavaScript), Accept-Encoding: br, gzip (${HTTP_LOAD_TOOL} -c50)`,
  servers: ['holdfast', 'nginx', 'serve'],
  command: (durationS) => httpLoadCommand({ url: url('PORT', `/${COMPRESSED_FILE}`), connections: 50, durationS, headers: COMPRESSED_HEADERS }),
  unavailable: httpLoadMissing,
  check: (port, fx) =>
    onConnection(port, async (conn) => {
      const expected = fx.files.get(COMPRESSED_FILE) as Buffer;
      const what = `GET /${COMPRESSED_FILE} (Accept-Encoding: br, gzip)`;
      for (let i = 0; i < 2; i++) {
        const [response] = await exchange(conn, getRequest(`/${COMPRESSED_FILE}`, `${COMPRESSED_HEADERS[0]}\r\n`));
        if (response.status !== 200) fail(what, response, 'expected 200');
        const coding = response.headers.get('content-encoding');
        if (coding !== 'br' && coding !== 'gzip') fail(what, response, `expected a compressed body, got Content-Encoding ${String(coding)}`);
        const body = coding === 'br' ? brotliDecompressSync(response.body) : gunzipSync(response.body);
        if (!body.equals(expected)) fail(what, response, 'decompressed content differs from the file');
      }
      await stillOpen(conn, what);
    }),
  load: (port, durationS) => runHttpLoad({ url: url(port, `/${COMPRESSED_FILE}`), connections: 50, durationS, headers: COMPRESSED_HEADERS }),
};

const CHURN_SCENARIO: Scenario = {
  name: 'churn',
  title: `static churn: ${CHURN_FILES} distinct 1 MiB files in turn (${HTTP_LOAD_TOOL} -c10)`,
  servers: CACHE_SERVERS,
  command: (durationS) => httpLoadCommand({ url: url('PORT', '/'), connections: 10, durationS, script: 'churn.lua' }),
  unavailable: wrkMissing,
  check: (port, fx) => checkFiles(port, fx, [...fx.files.keys()].filter((name) => name.startsWith('churn-'))),
  load: (port, durationS, fx) => runWrk({ url: url(port, '/'), connections: 10, durationS, script: fx.churnScript }),
};

const HELLO_SCENARIO: Scenario = {
  name: 'hello',
  title: `hello, keep-alive (${HTTP_LOAD_TOOL} -c50)`,
  command: (durationS) => httpLoadCommand({ url: url('PORT'), connections: 50, durationS }),
  unavailable: httpLoadMissing,
  check: (port) =>
    onConnection(port, async (conn) => {
      for (let i = 0; i < 3; i++) expectHello((await exchange(conn, getRequest('/')))[0]);
      await stillOpen(conn, 'GET /');
    }),
  load: (port, durationS) => runHttpLoad({ url: url(port), connections: 50, durationS }),
};

const PIPELINED_SCENARIO: Scenario = {
  name: 'pipelined',
  title: `hello, pipelined ×${PIPELINE_DEPTH} (${HTTP_LOAD_TOOL} -c50)`,
  command: (durationS) => httpLoadCommand({ url: url('PORT'), connections: 50, durationS, script: 'pipeline.lua', pipeline: PIPELINE_DEPTH }),
  unavailable: httpLoadMissing,
  check: (port) =>
    onConnection(port, async (conn) => {
      const responses = await exchange(conn, getRequest('/').repeat(PIPELINE_DEPTH), PIPELINE_DEPTH);
      responses.forEach((response, i) => expectHello(response, `pipelined GET / #${i + 1}`));
      await stillOpen(conn, 'pipelined GET /');
    }),
  load: (port, durationS, fx) => runHttpLoad({ url: url(port), connections: 50, durationS, script: fx.pipelineScript, pipeline: PIPELINE_DEPTH }),
};

/** The JSON every app server answers `GET /users/42` with (bench/servers/apps.ts; holdfast.ts by a native handler). */
const USER_42 = '{"id":"42","name":"user 42"}';

function expectUser(response: RawResponse): void {
  if (response.status !== 200) fail('GET /users/42', response, 'expected 200');
  if (!/^application\/json/.test(response.headers.get('content-type') ?? '')) fail('GET /users/42', response, 'expected Content-Type application/json');
  if (response.body.toString('utf8') !== USER_42) fail('GET /users/42', response, `expected ${USER_42}, got ${JSON.stringify(response.body.toString('utf8').slice(0, 60))}`);
}

/** Keep-alive load on one route of the fetch apps, on holdfast (native, fetchHandler) and @hono/node-server. */
function appScenario(name: string, title: string, target: string, expect: (response: RawResponse) => void): Scenario {
  return {
    name,
    title: `${title}, keep-alive (${HTTP_LOAD_TOOL} -c50)`,
    servers: APP_SERVERS,
    command: (durationS) => httpLoadCommand({ url: url('PORT', target), connections: 50, durationS }),
    unavailable: httpLoadMissing,
    check: (port) =>
      onConnection(port, async (conn) => {
        for (let i = 0; i < 3; i++) expect((await exchange(conn, getRequest(target)))[0]);
        await stillOpen(conn, `GET ${target}`);
      }),
    load: (port, durationS) => runHttpLoad({ url: url(port, target), connections: 50, durationS }),
  };
}

/** HTTPS load needs wrk (autocannon cannot skip verifying the self-signed certificate) and the certificate. */
function httpsLoadMissing(): string | null {
  return wrkMissing() ?? opensslMissing();
}

/** s_time processes side by side in the new-connection scenario: one alone cannot keep a server busy. */
const S_TIME_CLIENTS = 4;

const HTTPS_HELLO_SCENARIO: Scenario = {
  name: 'https-hello',
  title: 'HTTPS hello, keep-alive (wrk -c50; node:http = node:https)',
  servers: TLS_SERVERS,
  tls: true,
  command: (durationS) => shellJoin(['wrk', ...wrkArgs({ url: url('PORT', '/', 'https'), connections: 50, durationS })]),
  unavailable: httpsLoadMissing,
  check: (port) =>
    onConnection(
      port,
      async (conn) => {
        for (let i = 0; i < 3; i++) expectHello((await exchange(conn, getRequest('/')))[0], 'HTTPS GET /');
        await stillOpen(conn, 'HTTPS GET /');
      },
      (p) => connectTls(p),
    ),
  load: (port, durationS) => runWrk({ url: url(port, '/', 'https'), connections: 50, durationS }),
};

/** Two connections, the second offering the first one's session: each answered and closed, the second resumed. */
async function checkResumption(port: number): Promise<void> {
  let session: Buffer | undefined;
  for (let i = 0; i < 2; i++) {
    const conn = await connectTls(port, session);
    try {
      const [response] = await withTimeout(exchange(conn, getRequest('/', 'Connection: close\r\n')), 10_000, 'answer check');
      expectHello(response, 'HTTPS GET / with Connection: close');
      const socket = conn.socket as tls.TLSSocket;
      if (i === 1 && !socket.isSessionReused()) throw new Error("a second connection offering the first one's session was not resumed");
      session = socket.getSession();
      await withTimeout(conn.ended, 2000, 'server closing after Connection: close');
    } finally {
      conn.close();
    }
  }
}

const HTTPS_NEW_SCENARIO: Scenario = {
  name: 'https-new',
  title: `HTTPS hello, new connection per request, session resumed (openssl s_time -reuse ×${S_TIME_CLIENTS}; node:http = node:https)`,
  servers: TLS_SERVERS,
  tls: true,
  command: (durationS) => `${shellJoin(['openssl', ...sTimeArgs({ port: 0, durationS, clients: S_TIME_CLIENTS })]).replace('127.0.0.1:0', '127.0.0.1:PORT')} (×${S_TIME_CLIENTS} at once)`,
  unavailable: opensslMissing,
  check: checkResumption,
  load: (port, durationS) => runSTime({ port, durationS, clients: S_TIME_CLIENTS }),
};

/** The idle-cost scenarios (idle.ts): plain, and over HTTPS. */
export const IDLE_SCENARIOS = [
  { name: 'idle', tls: false },
  { name: 'idle-tls', tls: true },
] as const;

/** `--only tls` runs these. */
export const TLS_SCENARIOS: readonly string[] = [HTTPS_HELLO_SCENARIO.name, HTTPS_NEW_SCENARIO.name, 'idle-tls'];

/** `--only apps` runs these. */
export const APP_SCENARIOS: readonly string[] = ['app-hello', 'app-json'];

/** Logged servers with the unlogged references their ratios need (holdfast for the cost of logging, node:http for the speed target). */
const LOGGED_SERVERS: readonly ServerName[] = ['holdfast', 'holdfast+log', 'holdfast+json-log', 'node:http', 'nginx+log', 'nginx+json-log'];

/** Issue 18's ratios: each logged holdfast beside unlogged holdfast, and beside node:http (the keep-alive speed target). */
const LOGGED_PAIRS: ReadonlyArray<readonly [ServerName, ServerName]> = [
  ['holdfast', 'holdfast+log'],
  ['holdfast', 'holdfast+json-log'],
  ['node:http', 'holdfast+log'],
  ['node:http', 'holdfast+json-log'],
];

/**
 * For scale beside issue 18's ≥ 2× node:http: what unlogged holdfast, nginx with its log, and
 * node:net floor (a server that parses nothing and logs nothing) reach beside node:http, side by side.
 */
const LOGGED_SCALE_PAIRS: ReadonlyArray<readonly [ServerName, ServerName]> = [
  ['node:http', 'holdfast'],
  ['node:http', 'nginx+log'],
  ['node:http', 'node:net floor'],
];

function logged(scenario: Scenario, scale = false): Scenario {
  const servers = scale ? [...LOGGED_SERVERS, 'node:net floor' as const] : LOGGED_SERVERS;
  const pairs = scale ? [...LOGGED_PAIRS, ...LOGGED_SCALE_PAIRS] : LOGGED_PAIRS;
  return { ...scenario, name: `${scenario.name}-logged`, title: `${scenario.title}, access log to a file`, servers, pairs };
}

/** Keep-alive hello with the live status on and off: its cost on the hot path (issue 16: within 2 %). */
export const STATUS_SCENARIO = 'hello-status';

/** `--only logged` runs these. */
export const LOGGED_SCENARIOS: readonly string[] = ['hello-logged', 'pipelined-logged'];

export const SCENARIOS: readonly Scenario[] = [
  HELLO_SCENARIO,
  PIPELINED_SCENARIO,
  {
    name: 'close',
    title: `hello, new connection per request (${HTTP_LOAD_TOOL} -c50)`,
    command: (durationS) => httpLoadCommand({ url: url('PORT'), connections: 50, durationS, headers: ['Connection: close'] }),
    unavailable: httpLoadMissing,
    check: (port) =>
      onConnection(port, async (conn) => {
        expectHello((await exchange(conn, getRequest('/', 'Connection: close\r\n')))[0], 'GET / with Connection: close');
        await withTimeout(conn.ended, 2000, 'server closing after Connection: close');
      }),
    load: (port, durationS) => runHttpLoad({ url: url(port), connections: 50, durationS, headers: ['Connection: close'] }),
  },
  {
    name: 'http10',
    title: 'hello, HTTP/1.0 keep-alive (ab -k -c50)',
    command: (durationS) => shellJoin(['ab', ...abArgs({ url: url('PORT'), concurrency: 50, durationS })]),
    unavailable: abMissing,
    check: (port) =>
      onConnection(port, async (conn) => {
        for (let i = 0; i < 3; i++) {
          const [response] = await exchange(conn, getRequest('/', 'Connection: keep-alive\r\n', '1.0'));
          expectHello(response, 'HTTP/1.0 GET /');
          if (!/keep-alive/i.test(response.headers.get('connection') ?? '')) fail('HTTP/1.0 GET /', response, 'no Connection: keep-alive in the response');
        }
        await stillOpen(conn, 'HTTP/1.0 GET /');
      }),
    load: (port, durationS) => runAb({ url: url(port), concurrency: 50, durationS }),
  },
  staticScenario('static-1k', '1k.bin', 50),
  staticScenario('static-1m', '1m.bin', 10, [...CACHE_SERVERS, 'node:net floor']),
  CHURN_SCENARIO,
  COMPRESSED_SCENARIO,
  logged(HELLO_SCENARIO, true),
  logged(PIPELINED_SCENARIO),
  { ...HELLO_SCENARIO, name: STATUS_SCENARIO, title: `${HELLO_SCENARIO.title}, live status on (nobody watching) vs off`, servers: ['holdfast', 'holdfast+status'], pairs: [['holdfast', 'holdfast+status']] },
  appScenario('app-hello', 'app: hello text', '/', (response) => expectHello(response)),
  appScenario('app-json', 'app: JSON, path param', '/users/42', expectUser),
  HTTPS_HELLO_SCENARIO,
  HTTPS_NEW_SCENARIO,
];
