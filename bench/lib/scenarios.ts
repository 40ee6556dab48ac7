/**
 * The load scenarios. Each has a `check(port)` that proves the server answers this scenario's
 * requests correctly (body, size, connection persistence or close) and rejects otherwise, and a
 * `load(port, seconds)` that runs the load generator against it. The idle-cost scenario lives in
 * idle.ts.
 */

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { promises as fs } from 'node:fs';
import type tls from 'node:tls';
import { connect, connectTls, getRequest, withTimeout, type RawConnection, type RawResponse } from './http-client.js';
import { abArgs, abMissing, HTTP_LOAD_TOOL, httpLoadCommand, httpLoadMissing, opensslMissing, OPENSSL, runAb, runHttpLoad, runSTime, shellJoin, sTimeArgs, type LoadResult } from './load.js';
import type { TlsFiles } from './servers.js';

export const HELLO = 'Hello, World!';
export const PIPELINE_DEPTH = 16;

export interface Fixtures {
  workDir: string;
  wwwDir: string;
  files: Map<string, Buffer>;
  pipelineScript: string;
  /** A self-signed P-256 certificate for 127.0.0.1 (null without openssl): every server's HTTPS uses it. */
  tls: TlsFiles | null;
}

export interface Scenario {
  name: string;
  title: string;
  /** Runs against the servers' HTTPS port (`port` below is then their tlsPort). */
  tls?: boolean;
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
  return { workDir, wwwDir, files, pipelineScript, tls: opensslMissing() === null ? makeCertificate(workDir) : null };
}

function makeCertificate(workDir: string): TlsFiles {
  const certFile = path.join(workDir, 'bench-cert.pem');
  const keyFile = path.join(workDir, 'bench-key.pem');
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2'];
  execFileSync(OPENSSL, [...args, '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { certFile, keyFile };
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

function url(port: number | 'PORT', target = '/', scheme = 'http'): string {
  return `${scheme}://127.0.0.1:${port}${target}`;
}

/** HTTPS needs wrk (autocannon cannot skip verifying the self-signed certificate) and the certificate. */
function httpsLoadMissing(): string | null {
  if (HTTP_LOAD_TOOL !== 'wrk') return 'HTTPS load needs wrk';
  return opensslMissing();
}

const S_TIME_CLIENTS = 4;

function staticScenario(name: string, file: string, connections: number): Scenario {
  return {
    name,
    title: `static ${file} (${HTTP_LOAD_TOOL} -c${connections})`,
    command: (durationS) => httpLoadCommand({ url: url('PORT', `/${file}`), connections, durationS }),
    unavailable: httpLoadMissing,
    check: (port, fx) =>
      onConnection(port, async (conn) => {
        const expected = fx.files.get(file) as Buffer;
        for (let i = 0; i < 2; i++) {
          const [response] = await exchange(conn, getRequest(`/${file}`));
          if (response.status !== 200) fail(`GET /${file}`, response, 'expected 200');
          if (response.body.length !== expected.length) fail(`GET /${file}`, response, `expected ${expected.length} bytes`);
          if (!response.body.equals(expected)) fail(`GET /${file}`, response, 'content differs from the file');
        }
        await stillOpen(conn, `GET /${file}`);
      }),
    load: (port, durationS) => runHttpLoad({ url: url(port, `/${file}`), connections, durationS }),
  };
}

export const SCENARIOS: readonly Scenario[] = [
  {
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
  },
  {
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
  },
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
  staticScenario('static-1m', '1m.bin', 10),
  {
    name: 'https-hello',
    title: 'HTTPS hello, keep-alive (wrk -c50; node:http = node:https)',
    tls: true,
    command: (durationS) => httpLoadCommand({ url: url('PORT', '/', 'https'), connections: 50, durationS }),
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
    load: (port, durationS) => runHttpLoad({ url: url(port, '/', 'https'), connections: 50, durationS }),
  },
  {
    name: 'https-new',
    title: `HTTPS hello, new connection per request, sessions resumed (openssl s_time -reuse ×${S_TIME_CLIENTS}; node:http = node:https)`,
    tls: true,
    command: (durationS) => `${shellJoin(['openssl', ...sTimeArgs({ port: 0, durationS, clients: S_TIME_CLIENTS })]).replace('127.0.0.1:0', '127.0.0.1:PORT')} (×${S_TIME_CLIENTS} at once)`,
    unavailable: opensslMissing,
    check: async (port) => {
      let session: Buffer | undefined;
      for (let i = 0; i < 2; i++) {
        const conn = await connectTls(port, session);
        try {
          const [response] = await withTimeout(exchange(conn, getRequest('/', 'Connection: close\r\n')), 10_000, 'answer check');
          expectHello(response, 'HTTPS GET / with Connection: close');
          const socket = conn.socket as tls.TLSSocket;
          if (i === 1 && !socket.isSessionReused()) throw new Error('a second connection offering the first one’s session was not resumed');
          session = socket.getSession();
          await withTimeout(conn.ended, 2000, 'server closing after Connection: close');
        } finally {
          conn.close();
        }
      }
    },
    load: (port, durationS) => runSTime({ port, durationS, clients: S_TIME_CLIENTS }),
  },
];
