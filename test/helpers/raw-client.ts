// Test-only raw HTTP/1.1 client utilities.
//
// These talk to a server over plain node:net sockets so integration tests can
// send arbitrary bytes and inspect exactly what comes back, including how the
// body was framed and how the connection ended. The response reader is
// deliberately strict: anything a conforming server must not send (a bare LF,
// a stray CRLF between messages, a malformed chunk, conflicting
// Content-Length values) rejects with a descriptive Error instead of being
// papered over.

import net from 'node:net';
import tls from 'node:tls';

export interface ParsedResponse {
  /** "1.1" or "1.0" (whatever digits the status line carried). */
  version: string;
  status: number;
  reason: string;
  /** Header fields in received order; names lower-cased, values trimmed. */
  headers: Array<[string, string]>;
  /** First value of the named header (case-insensitive), or undefined. */
  header(name: string): string | undefined;
  /** The message body, with chunked framing removed. */
  body: Buffer;
  framing: 'none' | 'length' | 'chunked' | 'close-delimited';
  /** Trailer fields of a chunked body; names lower-cased. Empty otherwise. */
  trailers: Array<[string, string]>;
  /** The exact bytes of this response as received (status line to end of body). */
  raw: Buffer;
}

export interface ReadOptions {
  /** The request method this response answers; 'HEAD' means no body, 2xx to 'CONNECT' means no body. */
  method?: string;
  /** Give up after this many milliseconds (default 2000). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 2000;
const CRLF = Buffer.from('\r\n', 'latin1');
const HEADER_END = Buffer.from('\r\n\r\n', 'latin1');

const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
const STATUS_LINE_RE = /^HTTP\/(\d\.\d) (\d{3}) ([\t\x20-\x7e\x80-\xff]*)$/;
const FIELD_LINE_RE = new RegExp(`^(${TOKEN}):[ \\t]*([\\t\\x20-\\x7e\\x80-\\xff]*?)[ \\t]*$`);
const QUOTED_STRING = '"(?:[\\t \\x21\\x23-\\x5b\\x5d-\\x7e\\x80-\\xff]|\\\\[\\t \\x21-\\x7e\\x80-\\xff])*"';
const CHUNK_EXT = `(?:[ \\t]*;[ \\t]*${TOKEN}(?:[ \\t]*=[ \\t]*(?:${TOKEN}|${QUOTED_STRING}))?)*`;
const CHUNK_SIZE_LINE_RE = new RegExp(`^([0-9A-Fa-f]+)(${CHUNK_EXT})$`);
/** Longest chunk-size line we wait for before declaring the framing broken. */
const MAX_CHUNK_LINE = 8192;

type ParseResult =
  | { complete: false }
  | { complete: true; response: ParsedResponse; consumed: number };

class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

function preview(buf: Buffer, max = 200): string {
  const text = buf.subarray(0, max).toString('latin1');
  return JSON.stringify(text) + (buf.length > max ? `… (+${buf.length - max} bytes)` : '');
}

function parseFieldLine(line: string, what: string): [string, string] {
  const m = FIELD_LINE_RE.exec(line);
  if (m === null) {
    throw new ProtocolError(`malformed ${what} line: ${JSON.stringify(line)}`);
  }
  return [m[1].toLowerCase(), m[2]];
}

function makeResponse(
  fields: Omit<ParsedResponse, 'header'>,
): ParsedResponse {
  const headers = fields.headers;
  return {
    ...fields,
    header(name: string): string | undefined {
      const lower = name.toLowerCase();
      for (const [n, v] of headers) {
        if (n === lower) return v;
      }
      return undefined;
    },
  };
}

/** Determine the body length from Content-Length field(s); rejects invalid or conflicting values. */
function contentLength(headers: Array<[string, string]>): number | null {
  let value: string | null = null;
  for (const [name, v] of headers) {
    if (name !== 'content-length') continue;
    for (const part of v.split(',')) {
      const item = part.trim();
      if (!/^\d+$/.test(item)) {
        throw new ProtocolError(`invalid Content-Length: ${JSON.stringify(v)}`);
      }
      const normalized = item.replace(/^0+(?=\d)/, '');
      if (value !== null && value !== normalized) {
        throw new ProtocolError(`conflicting Content-Length values: ${value} vs ${normalized}`);
      }
      value = normalized;
    }
  }
  if (value === null) return null;
  const n = Number(value);
  if (!Number.isSafeInteger(n)) {
    throw new ProtocolError(`Content-Length too large: ${value}`);
  }
  return n;
}

/**
 * Parse a chunked body starting at `pos` in `data`.
 * Returns null if more bytes are needed.
 */
function parseChunked(
  data: Buffer,
  pos: number,
): { body: Buffer; trailers: Array<[string, string]>; end: number } | null {
  const parts: Buffer[] = [];
  for (;;) {
    const lineEnd = data.indexOf(CRLF, pos);
    if (lineEnd === -1) {
      if (data.length - pos > MAX_CHUNK_LINE) {
        throw new ProtocolError(`chunk-size line too long at ${preview(data.subarray(pos))}`);
      }
      return null;
    }
    const line = data.subarray(pos, lineEnd).toString('latin1');
    const m = CHUNK_SIZE_LINE_RE.exec(line);
    if (m === null) {
      throw new ProtocolError(`malformed chunk-size line: ${JSON.stringify(line)}`);
    }
    const hex = m[1].replace(/^0+(?=[0-9A-Fa-f])/, '');
    if (hex.length > 12) {
      throw new ProtocolError(`chunk size too large: ${m[1]}`);
    }
    const size = parseInt(hex, 16);
    pos = lineEnd + 2;
    if (size === 0) break;
    if (data.length < pos + size + 2) return null;
    parts.push(data.subarray(pos, pos + size));
    pos += size;
    if (data[pos] !== 0x0d || data[pos + 1] !== 0x0a) {
      throw new ProtocolError(
        `chunk data of ${size} bytes not followed by CRLF; got ${preview(data.subarray(pos), 40)}`,
      );
    }
    pos += 2;
  }
  // Trailer section: field lines up to an empty line.
  const trailers: Array<[string, string]> = [];
  for (;;) {
    const lineEnd = data.indexOf(CRLF, pos);
    if (lineEnd === -1) return null;
    if (lineEnd === pos) {
      pos += 2;
      break;
    }
    trailers.push(parseFieldLine(data.subarray(pos, lineEnd).toString('latin1'), 'trailer'));
    pos = lineEnd + 2;
  }
  return { body: Buffer.concat(parts), trailers, end: pos };
}

/**
 * Try to parse one response from the start of `data`.
 * `peerEnded` says whether the peer has cleanly finished sending, which is what
 * completes a close-delimited body.
 */
function parseResponse(data: Buffer, method: string | undefined, peerEnded: boolean): ParseResult {
  const headEnd = data.indexOf(HEADER_END);
  if (headEnd === -1) {
    // Catch garbage early rather than waiting for a timeout.
    const firstLineEnd = data.indexOf(CRLF);
    if (firstLineEnd !== -1) checkStatusLine(data.subarray(0, firstLineEnd).toString('latin1'));
    for (let lf = data.indexOf(0x0a); lf !== -1; lf = data.indexOf(0x0a, lf + 1)) {
      if (lf === 0 || data[lf - 1] !== 0x0d) {
        throw new ProtocolError(`bare LF in response head: ${preview(data)}`);
      }
    }
    const start = data.subarray(0, 5).toString('latin1');
    if (!'HTTP/'.startsWith(start)) {
      throw new ProtocolError(`response does not start with "HTTP/": ${preview(data)}`);
    }
    return { complete: false };
  }
  const head = data.subarray(0, headEnd).toString('latin1');
  const lines = head.split('\r\n');
  const { version, status, reason } = checkStatusLine(lines[0]);
  const headers: Array<[string, string]> = [];
  for (let i = 1; i < lines.length; i++) {
    headers.push(parseFieldLine(lines[i], 'header'));
  }
  const bodyStart = headEnd + 4;

  const upperMethod = method?.toUpperCase();
  const noBody =
    upperMethod === 'HEAD' ||
    (status >= 100 && status < 200) ||
    status === 204 ||
    status === 304 ||
    (upperMethod === 'CONNECT' && status >= 200 && status < 300);

  let framing: ParsedResponse['framing'];
  let body: Buffer;
  let trailers: Array<[string, string]> = [];
  let end: number;

  const teValues = headers.filter(([n]) => n === 'transfer-encoding').map(([, v]) => v);
  if (noBody) {
    framing = 'none';
    body = Buffer.alloc(0);
    end = bodyStart;
  } else if (teValues.length > 0) {
    const codings = teValues
      .join(',')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s.length > 0);
    if (codings[codings.length - 1] === 'chunked') {
      framing = 'chunked';
      const parsed = parseChunked(data, bodyStart);
      if (parsed === null) return { complete: false };
      body = parsed.body;
      trailers = parsed.trailers;
      end = parsed.end;
    } else {
      // RFC 9112 §6.3 rule 4: a response whose final coding is not chunked is close-delimited.
      framing = 'close-delimited';
      if (!peerEnded) return { complete: false };
      body = data.subarray(bodyStart);
      end = data.length;
    }
  } else {
    const length = contentLength(headers);
    if (length !== null) {
      framing = 'length';
      if (data.length < bodyStart + length) return { complete: false };
      body = data.subarray(bodyStart, bodyStart + length);
      end = bodyStart + length;
    } else {
      framing = 'close-delimited';
      if (!peerEnded) return { complete: false };
      body = data.subarray(bodyStart);
      end = data.length;
    }
  }

  const response = makeResponse({
    version,
    status,
    reason,
    headers,
    body: Buffer.from(body),
    framing,
    trailers,
    raw: Buffer.from(data.subarray(0, end)),
  });
  return { complete: true, response, consumed: end };
}

function checkStatusLine(line: string): { version: string; status: number; reason: string } {
  const m = STATUS_LINE_RE.exec(line);
  if (m === null) {
    throw new ProtocolError(`malformed status line: ${JSON.stringify(line)}`);
  }
  return { version: m[1], status: Number(m[2]), reason: m[3] };
}

interface PendingRead {
  method: string | undefined;
  resolve(res: ParsedResponse): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

interface CloseWaiter {
  resolve(how: 'fin' | 'rst'): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** A socket wrapper that accumulates all received bytes and records how the connection ended. */
export class RawConnection {
  readonly socket: net.Socket;

  /** Backing store; bytes [0, length) are valid, [offset, length) are unread. */
  private buf: Buffer = Buffer.alloc(0);
  private length = 0;
  private offset = 0;

  private _closedBy: 'fin' | 'rst' | null = null;
  private _error: Error | null = null;
  private peerEnded = false;
  private closed = false;

  private readers: PendingRead[] = [];
  private closeWaiters: CloseWaiter[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.append(chunk);
      this.pump();
    });
    socket.on('end', () => {
      this.peerEnded = true;
      if (this._closedBy === null) this._closedBy = 'fin';
      this.settleCloseWaiters();
      this.pump();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') {
        if (this._closedBy === null) this._closedBy = 'rst';
      } else if (this._error === null) {
        this._error = err;
      }
      this.settleCloseWaiters();
      this.pump();
    });
    socket.on('close', () => this.onClosed());
  }

  /** Connect to host:port (host defaults to 127.0.0.1). */
  static connect(port: number, host = '127.0.0.1'): Promise<RawConnection> {
    return RawConnection.opened(net.connect({ port, host }), 'connect', `connection to ${host}:${port} closed before it was established`);
  }

  /** The same over TLS: resolves once the handshake is done (`options` as tls.connect's: ca, servername…). */
  static connectTls(port: number, options: tls.ConnectionOptions = {}): Promise<RawConnection> {
    return RawConnection.opened(tls.connect({ port, host: '127.0.0.1', ...options }), 'secureConnect', `TLS connection to port ${port} closed before its handshake completed`);
  }

  private static opened(socket: net.Socket, event: 'connect' | 'secureConnect', closedEarly: string): Promise<RawConnection> {
    return new Promise<RawConnection>((resolve, reject) => {
      const conn = new RawConnection(socket);
      const onConnect = (): void => {
        socket.off('close', onClose);
        resolve(conn);
      };
      const onClose = (): void => {
        socket.off(event, onConnect);
        reject(conn._error ?? new Error(closedEarly));
      };
      socket.once(event, onConnect);
      socket.once('close', onClose);
    });
  }

  /** How the peer closed the connection; null while it is open (or if it closed some other way). */
  get closedBy(): 'fin' | 'rst' | null {
    return this._closedBy;
  }

  /** A socket error other than ECONNRESET/EPIPE, if one occurred. */
  get error(): Error | null {
    return this._error;
  }

  /** Bytes received but not yet consumed by readResponse. */
  get unreadBytes(): number {
    return this.length - this.offset;
  }

  /** Every byte received on this connection so far (a copy). */
  get received(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }

  /** The received bytes not yet consumed by readResponse (a copy). */
  get unread(): Buffer {
    return Buffer.from(this.buf.subarray(this.offset, this.length));
  }

  /** Send bytes. Strings are encoded as UTF-8; pass a Buffer for exact bytes. */
  write(data: string | Uint8Array): void {
    this.socket.write(data);
  }

  /**
   * Read the next complete response from the received bytes, waiting for more
   * data as needed. Concurrent calls are answered in order.
   */
  readResponse(opts: ReadOptions = {}): Promise<ParsedResponse> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise<ParsedResponse>((resolve, reject) => {
      const reader: PendingRead = {
        method: opts.method,
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.readers.indexOf(reader);
          if (i !== -1) this.readers.splice(i, 1);
          reject(
            new Error(
              `readResponse timed out after ${timeoutMs}ms; ${this.unreadBytes} unread bytes: ` +
                preview(this.buf.subarray(this.offset, this.length)),
            ),
          );
        }, timeoutMs),
      };
      this.readers.push(reader);
      this.pump();
    });
  }

  /**
   * Resolve when the peer has closed: 'fin' for a clean end, 'rst' for
   * ECONNRESET/EPIPE. Rejects on timeout, or if the socket closed some other way.
   */
  waitForClose(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<'fin' | 'rst'> {
    if (this._closedBy !== null) return Promise.resolve(this._closedBy);
    if (this.closed) return Promise.reject(this.closedOtherwiseError());
    return new Promise<'fin' | 'rst'>((resolve, reject) => {
      const waiter: CloseWaiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.closeWaiters.indexOf(waiter);
          if (i !== -1) this.closeWaiters.splice(i, 1);
          reject(new Error(`waitForClose timed out after ${timeoutMs}ms; connection still open`));
        }, timeoutMs),
      };
      this.closeWaiters.push(waiter);
    });
  }

  /** Half-close our side (send FIN). */
  end(): void {
    this.socket.end();
  }

  /** Destroy the socket. Pending reads and close waits are rejected. Idempotent. */
  destroy(): void {
    if (!this.socket.destroyed) this.socket.destroy();
    this.onClosed();
  }

  private append(chunk: Buffer): void {
    const needed = this.length + chunk.length;
    if (needed > this.buf.length) {
      const grown = Buffer.alloc(Math.max(needed, this.buf.length * 2, 16 * 1024));
      this.buf.copy(grown, 0, 0, this.length);
      this.buf = grown;
    }
    chunk.copy(this.buf, this.length);
    this.length = needed;
  }

  /** Answer as many pending reads as the buffered bytes (and connection state) allow. */
  private pump(): void {
    while (this.readers.length > 0) {
      const reader = this.readers[0];
      const data = this.buf.subarray(this.offset, this.length);
      let result: ParseResult;
      try {
        result = data.length === 0 ? { complete: false } : parseResponse(data, reader.method, this.peerEnded);
      } catch (err) {
        this.readers.shift();
        clearTimeout(reader.timer);
        reader.reject(err instanceof Error ? err : new Error(String(err)));
        continue;
      }
      if (result.complete) {
        this.readers.shift();
        clearTimeout(reader.timer);
        this.offset += result.consumed;
        reader.resolve(result.response);
        continue;
      }
      // Incomplete: wait for more, unless no more can come.
      if (!this.peerEnded && !this.closed && this._closedBy === null) return;
      this.readers.shift();
      clearTimeout(reader.timer);
      reader.reject(this.endedEarlyError(data));
    }
  }

  private endedEarlyError(data: Buffer): Error {
    const how =
      this._closedBy === 'rst'
        ? 'was reset'
        : this._closedBy === 'fin'
          ? 'was closed by the peer (FIN)'
          : 'was closed';
    const cause = this._error !== null ? ` [${this._error.message}]` : '';
    const what = data.length === 0 ? 'before any response bytes arrived' : `mid-response; got ${preview(data)}`;
    return new Error(`connection ${how}${cause} ${what}`);
  }

  private closedOtherwiseError(): Error {
    const cause = this._error !== null ? `: ${this._error.message}` : ' (destroyed locally)';
    return new Error(`socket closed without FIN or RST from the peer${cause}`);
  }

  private settleCloseWaiters(): void {
    if (this._closedBy === null && !this.closed) return;
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const w of waiters) {
      clearTimeout(w.timer);
      if (this._closedBy !== null) w.resolve(this._closedBy);
      else w.reject(this.closedOtherwiseError());
    }
  }

  private onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.pump();
    this.settleCloseWaiters();
  }
}

/** Connect, write `raw`, read `count` responses (default 1), then destroy. */
export async function exchange(
  port: number,
  raw: string | Uint8Array,
  opts: { count?: number; method?: string; timeoutMs?: number } = {},
): Promise<ParsedResponse[]> {
  const count = opts.count ?? 1;
  const conn = await RawConnection.connect(port);
  try {
    conn.write(raw);
    const responses: ParsedResponse[] = [];
    for (let i = 0; i < count; i++) {
      responses.push(await conn.readResponse({ method: opts.method, timeoutMs: opts.timeoutMs }));
    }
    return responses;
  } finally {
    conn.destroy();
  }
}
