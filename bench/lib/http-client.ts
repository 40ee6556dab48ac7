/**
 * A minimal HTTP/1.x client on raw `net` sockets, for the bench's answer checks and idle client.
 * `connect(port)` (over TLS `connectTls(port)`) → `RawConnection`: `send(bytes)`, `read(n)` resolves with the next n responses
 * (Content-Length, chunked or close-delimited bodies), `ended` resolves when the peer closes.
 * Anything malformed rejects; nothing is retried.
 */

import net from 'node:net';
import tls from 'node:tls';

export interface RawResponse {
  version: string;
  status: number;
  /** Lower-cased names; repeated fields joined with ", ". */
  headers: Map<string, string>;
  body: Buffer;
}

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');

type Parsed = { response: RawResponse; consumed: number } | null;

function parseHead(head: string): { version: string; status: number; headers: Map<string, string> } {
  const lines = head.split('\r\n');
  const m = /^HTTP\/(\d\.\d) (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (m === null) throw new Error(`bad status line ${JSON.stringify(lines[0])}`);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`bad header line ${JSON.stringify(line)}`);
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    const prior = headers.get(name);
    headers.set(name, prior === undefined ? value : `${prior}, ${value}`);
  }
  return { version: m[1], status: Number(m[2]), headers };
}

function decodeChunked(buf: Buffer, start: number): { body: Buffer; end: number } | null {
  const parts: Buffer[] = [];
  let pos = start;
  for (;;) {
    const lineEnd = buf.indexOf(CRLF, pos);
    if (lineEnd < 0) return null;
    const sizeText = buf.toString('latin1', pos, lineEnd).split(';')[0].trim();
    if (!/^[0-9a-fA-F]+$/.test(sizeText)) throw new Error(`bad chunk size ${JSON.stringify(sizeText)}`);
    const size = parseInt(sizeText, 16);
    pos = lineEnd + 2;
    if (size === 0) {
      const trailerEnd = buf.indexOf(CRLF, pos);
      if (trailerEnd < 0) return null;
      if (trailerEnd === pos) return { body: Buffer.concat(parts), end: pos + 2 };
      const end = buf.indexOf(HEAD_END, pos);
      return end < 0 ? null : { body: Buffer.concat(parts), end: end + 4 };
    }
    if (buf.length < pos + size + 2) return null;
    parts.push(buf.subarray(pos, pos + size));
    pos += size + 2;
  }
}

/** Parses one response from the front of `buf`; null when more bytes are needed. */
function parseResponse(buf: Buffer, eof: boolean): Parsed {
  const headEnd = buf.indexOf(HEAD_END);
  if (headEnd < 0) {
    if (eof && buf.length > 0) throw new Error('connection closed inside a response head');
    return null;
  }
  const { version, status, headers } = parseHead(buf.toString('latin1', 0, headEnd));
  const bodyStart = headEnd + 4;
  const te = headers.get('transfer-encoding');
  const cl = headers.get('content-length');
  if (te !== undefined && /chunked\s*$/i.test(te)) {
    const chunked = decodeChunked(buf, bodyStart);
    if (chunked === null) {
      if (eof) throw new Error('connection closed inside a chunked body');
      return null;
    }
    return { response: { version, status, headers, body: chunked.body }, consumed: chunked.end };
  }
  if (cl !== undefined) {
    if (!/^\d+$/.test(cl)) throw new Error(`bad content-length ${JSON.stringify(cl)}`);
    const end = bodyStart + Number(cl);
    if (buf.length < end) {
      if (eof) throw new Error('connection closed inside a body');
      return null;
    }
    return { response: { version, status, headers, body: Buffer.from(buf.subarray(bodyStart, end)) }, consumed: end };
  }
  if (status === 204 || status === 304) return { response: { version, status, headers, body: Buffer.alloc(0) }, consumed: bodyStart };
  if (!eof) return null;
  return { response: { version, status, headers, body: Buffer.from(buf.subarray(bodyStart)) }, consumed: buf.length };
}

interface Waiter {
  count: number;
  resolve: (responses: RawResponse[]) => void;
  reject: (error: Error) => void;
}

export class RawConnection {
  readonly socket: net.Socket;
  readonly ended: Promise<void>;
  #buffer: Buffer = Buffer.alloc(0);
  #responses: RawResponse[] = [];
  #waiter: Waiter | null = null;
  #eof = false;
  #error: Error | null = null;

  constructor(socket: net.Socket) {
    this.socket = socket;
    this.ended = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
      this.#drain();
    });
    socket.on('end', () => {
      this.#eof = true;
      this.#drain();
    });
    socket.on('error', (error) => this.#fail(error));
    socket.on('close', () => {
      this.#eof = true;
      this.#drain();
      this.#fail(new Error('connection closed'));
    });
  }

  get open(): boolean {
    return !this.#eof && !this.socket.destroyed;
  }

  send(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  /** The next `count` responses. */
  read(count: number): Promise<RawResponse[]> {
    if (this.#waiter !== null) return Promise.reject(new Error('read already pending'));
    return new Promise((resolve, reject) => {
      this.#waiter = { count, resolve, reject };
      this.#drain();
    });
  }

  close(): void {
    this.socket.destroy();
  }

  #drain(): void {
    try {
      for (;;) {
        const parsed = parseResponse(this.#buffer, this.#eof);
        if (parsed === null) break;
        this.#responses.push(parsed.response);
        this.#buffer = this.#buffer.subarray(parsed.consumed);
      }
    } catch (error) {
      this.#fail(error as Error);
      return;
    }
    const waiter = this.#waiter;
    if (waiter !== null && this.#responses.length >= waiter.count) {
      this.#waiter = null;
      waiter.resolve(this.#responses.splice(0, waiter.count));
    } else if (waiter !== null && this.#error !== null) {
      this.#waiter = null;
      waiter.reject(this.#error);
    }
  }

  #fail(error: Error): void {
    this.#error ??= error;
    const waiter = this.#waiter;
    if (waiter !== null) {
      this.#waiter = null;
      waiter.reject(this.#error);
    }
  }
}

export function connect(port: number, host = '127.0.0.1', timeoutMs = 5000): Promise<RawConnection> {
  return opened(net.connect({ port, host, noDelay: true }), 'connect', `connect to ${host}:${port}`, timeoutMs);
}

/**
 * The same over TLS to 127.0.0.1 (the bench's self-signed certificate is not verified), offering
 * ALPN http/1.1; `session` offers an earlier connection's session (`socket.getSession()`) for resumption.
 */
export function connectTls(port: number, session?: Buffer, timeoutMs = 5000): Promise<RawConnection> {
  const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, session, ALPNProtocols: ['http/1.1'] });
  socket.setNoDelay(true);
  return opened(socket, 'secureConnect', `TLS connect to 127.0.0.1:${port}`, timeoutMs);
}

function opened(socket: net.Socket, event: 'connect' | 'secureConnect', what: string, timeoutMs: number): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${what} timed out`));
    }, timeoutMs);
    socket.once(event, () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(new RawConnection(socket));
    });
    const onError = (error: Error): void => {
      clearTimeout(timer);
      reject(error);
    };
    socket.once('error', onError);
  });
}

/** Rejects with `what` timed out after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function getRequest(path: string, extra = '', version = '1.1'): string {
  return `GET ${path} HTTP/${version}\r\nHost: 127.0.0.1\r\n${extra}\r\n`;
}

/** One request on a fresh connection, then close. */
export async function fetchOnce(port: number, path: string, timeoutMs = 5000): Promise<RawResponse> {
  const conn = await connect(port, '127.0.0.1', timeoutMs);
  try {
    conn.send(getRequest(path, 'Connection: close\r\n'));
    const [response] = await withTimeout(conn.read(1), timeoutMs, `GET ${path}`);
    return response;
  } finally {
    conn.close();
  }
}
