/**
 * Buffered log output, nginx's `access_log … buffer=… flush=…` for node: lines are formatted
 * straight into 256 KiB buffers (LineBytes, reused once written) and leave in writes of
 * LOG_BUFFER_BYTES, at most LOG_FLUSH_INTERVAL_MS after they were logged, when a server closes,
 * and at exit.
 *
 * Targets: standard output, or a file path opened O_WRONLY | O_APPEND | O_CREAT (mode 0644, as
 * nginx opens its logs) and O_NONBLOCK (so a FIFO never blocks), reopened by reopenLogFiles() —
 * which SIGUSR1 triggers while a log file is open, as `kill -USR1` does for nginx under logrotate.
 * How bytes leave:
 * - to a regular file (a path, or stdout redirected to one): fs.writev on libuv's thread pool of
 *   every chunk queued, one write in flight, so a slow disk never blocks the event loop and a
 *   backlog leaves in one system call;
 * - to stdout as a pipe, socket or terminal: process.stdout.write — node writes pipes without
 *   blocking (libuv waits for room) and in order with the process's other stdout output;
 * - to a path that is not a regular file (a FIFO, a device): fs.write, retried every
 *   EAGAIN_RETRY_MS while the descriptor answers EAGAIN.
 * Into anything but a regular file a chunk goes in pieces of at most PIPE_BUF bytes that end at a
 * line end: pipe writes that small are atomic, so the lines of several processes sharing one pipe
 * (`--workers`) never tear each other, and a piece is never half written.
 *
 * Bounded: while the sink is slow or blocked, lines wait up to MAX_LOG_BACKLOG_BYTES (a pipe, a
 * FIFO, a terminal) or MAX_FILE_BACKLOG_BYTES (a regular file), the chunk being written included; beyond that they are dropped and counted, and once a write completes
 * the count is logged where the gap is, as a line of its own ("N log lines dropped"). A write
 * error other than EAGAIN (EPIPE, ENOSPC…) drops that chunk's lines the same way and is reported
 * once on stderr.
 *
 * Held back: a producer may keep lines as facts and format them later (a logger's request lines,
 * logger.ts); it registers with defer(), says held() when it keeps one, and is told to write them
 * before any other line, flush(), a reopen, the flush interval's write and the exit's flush, so the
 * log keeps the order things happened in.
 *
 * Exit: open writers flush synchronously on process 'exit' (process.exit, an uncaught exception)
 * and on SIGINT, SIGTERM and SIGHUP when no other listener handles the signal — the signal is then
 * raised again, so the process still dies of it. A blocked sink gets EXIT_FLUSH_TIMEOUT_MS. Chunks
 * the thread pool is writing at that instant still land (libuv finishes its work before the
 * process ends) but may land after the lines written synchronously. A hard kill (SIGKILL, the OOM
 * killer) loses what is buffered: at most the last interval's lines.
 */

import { closeSync, constants, fstatSync, openSync, write, writeSync, writev } from 'node:fs';
import path from 'node:path';
import { LineBytes } from './line-bytes.js';

/**
 * nginx's documentation shows `buffer=64k`; a quarter of the writes costs less per line (each write
 * is a thread-pool round trip and a journalled inode update on ext4): side by side, pipelined ×16
 * with the JSON log (~35 MB/s of lines) 0.92–1.0×, median 0.96×, the CPU per request of 64 KiB.
 */
export const LOG_BUFFER_BYTES = 262_144;
export const LOG_FLUSH_INTERVAL_MS = 1_000; // nginx: flush=5s in its documentation's example; 1 s keeps `tail -f` live
export const MAX_LOG_BACKLOG_BYTES = 1_048_576; // into a pipe: 4 buffers (about 10,000 lines); nginx has no cap: it blocks on the write
/**
 * Into a regular file: a disk that is slow, not stopped, catches up within a moment, and a burst of
 * pipelined requests (hundreds of thousands of lines a second) outruns one thread-pool write by more
 * than 1 MiB when the machine is busy; 8 MiB (about 50,000–130,000 lines) rides that out and is still
 * a bound. nginx has none.
 */
export const MAX_FILE_BACKLOG_BYTES = 8 * 1_048_576;
/** Room past LOG_BUFFER_BYTES in each buffer, so a line that starts just below the mark still fits. */
const BUFFER_SLACK_BYTES = 16_384;
const SPARE_BUFFERS = 4;
const MAX_CHUNKS_PER_WRITE = 64; // well under IOV_MAX (1024); the backlog cap holds at most 32
const PIPE_BUF = 4_096; // Linux's PIPE_BUF: a pipe write up to this size is atomic (POSIX guarantees 512)
const EAGAIN_RETRY_MS = 50; // node gives JavaScript no writability watch on a bare descriptor: 20 polls a second while blocked
const EXIT_FLUSH_TIMEOUT_MS = 1_000;
const NOTICE_MAX_BYTES = 128;
const FILE_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK;
const FILE_MODE = 0o644; // nginx: NGX_FILE_DEFAULT_ACCESS
const EXIT_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Where the bytes go: a descriptor written with fs.write, or process.stdout. */
type Sink = { kind: 'fd'; fd: number; regular: boolean } | { kind: 'stdout' };

/** How many bytes of lines may wait for the sink: more for a regular file than for a pipe. */
function backlogCap(sink: Sink): number {
  return sink.kind === 'fd' && sink.regular ? MAX_FILE_BACKLOG_BYTES : MAX_LOG_BACKLOG_BYTES;
}

/** In the queue of sealed chunks: reopen the file here (what came before belongs to the old one). */
const REOPEN = Symbol('reopen');

/** Writes the line that reports `count` dropped lines, in the log's own format (at most NOTICE_MAX_BYTES). */
export type DroppedNotice = (out: LineBytes, count: number) => void;

/** Where a formatter puts a line: begin() hands out room for `maxBytes` (null: the line is dropped), end() takes the line. */
export interface LineSink {
  begin(maxBytes: number): LineBytes | null;
  end(): void;
}

interface FlushWaiter {
  untilBytes: number;
  resolve: () => void;
  timer: NodeJS.Timeout;
}

const defaultNotice: DroppedNotice = (out, count) => {
  out.int(count);
  out.ascii(' log lines dropped: the log sink fell behind\n');
};

export class LogWriter implements LineSink {
  /** The file's absolute path; null for standard output. */
  readonly path: string | null;
  #sink: Sink;
  #notice: DroppedNotice = defaultNotice;
  readonly #out = new LineBytes(Buffer.alloc(0));
  /** The buffer lines are being formatted into, and how much of it holds lines. */
  #buf: Buffer | null = null;
  #len = 0;
  /** Sealed chunks, oldest first; the first #inFlight are being written, the first from #offset on. */
  #queue: Array<Buffer | typeof REOPEN> = [];
  #offset = 0;
  #queuedBytes = 0;
  #spare: Buffer[] = [];
  /** The backlog cap of the sink while open (backlogCap); 0 once closed, so every line is refused. */
  #capacity: number;
  #inFlight = 0;
  #retry: NodeJS.Timeout | null = null;
  #timer: NodeJS.Timeout | null = null;
  /**
   * The current buffer is due (flush interval, flush(), a dropped-lines notice): sealed as soon
   * as no other chunk waits, so a blocked sink never piles up small chunks in full-size buffers.
   */
  #sealWanted = false;
  #dropped = 0;
  #acceptedBytes = 0;
  #settledBytes = 0;
  #waiters: FlushWaiter[] = [];
  #users = 0;
  #failure: string | null = null;
  /**
   * Producers that hold lines back (a logger's request lines, kept as facts until it has a batch
   * of them): each writes what it holds when told, which is before any other line, a flush, a
   * reopen, the flush interval's write and the exit's, so the log keeps the order things happened in.
   */
  #deferred: Array<() => void> = [];
  /** A producer holds lines back (told by held(); false again once they are all written). */
  #anyHeld = false;
  #writingDeferred = false;

  constructor(filePath: string | null) {
    this.path = filePath;
    if (filePath === null) {
      this.#sink = isRegularFile(1) ? { kind: 'fd', fd: 1, regular: true } : { kind: 'stdout' };
      if (this.#sink.kind === 'stdout') watchStdoutErrors();
    } else {
      const fd = openSync(filePath, FILE_FLAGS, FILE_MODE);
      this.#sink = { kind: 'fd', fd, regular: isRegularFile(fd) };
    }
    this.#capacity = backlogCap(this.#sink);
  }

  /** Lines accepted and not yet written (or dropped), in bytes. */
  get bufferedBytes(): number {
    return this.#queuedBytes + this.#len;
  }

  /**
   * Room for one line of at most `maxBytes` at `pos` of the returned LineBytes, or null when
   * MAX_LOG_BACKLOG_BYTES are already waiting (the line is dropped and counted). Never blocks.
   * Lines held back by producers are written first.
   */
  begin(maxBytes: number): LineBytes | null {
    if (this.#anyHeld && !this.#writingDeferred) this.writeDeferred();
    return this.#reserve(maxBytes);
  }

  #reserve(maxBytes: number): LineBytes | null {
    if (this.#queuedBytes + this.#len + maxBytes > this.#capacity) {
      this.#dropped++;
      return null;
    }
    let buf = this.#buf;
    if (buf === null || buf.length - this.#len < maxBytes) {
      if (this.#len > 0) this.#seal();
      buf = this.#buf = this.#freshBuffer(maxBytes);
    }
    const out = this.#out;
    out.buf = buf;
    out.pos = this.#len;
    return out;
  }

  /** The line written since begin() is complete. */
  end(): void {
    const end = this.#out.pos;
    this.#acceptedBytes += end - this.#len;
    this.#len = end;
    if (end >= LOG_BUFFER_BYTES) {
      this.#seal();
      this.#pump();
    } else if (this.#timer === null) {
      this.#armTimer();
    }
  }

  /** From now on `write` is told to write the lines it holds back (see #deferred), until undefer(). */
  defer(write: () => void): void {
    this.#deferred.push(write);
  }

  /** `write` holds nothing back any more: what it held is written now. */
  undefer(write: () => void): void {
    this.writeDeferred();
    this.#deferred = this.#deferred.filter((other) => other !== write);
  }

  /** A producer holds a line back: it is told to write it before the next line; the flush interval runs. */
  held(): void {
    this.#anyHeld = true;
    this.#armTimer();
  }

  #armTimer(): void {
    this.#timer ??= setTimeout(this.#onTimer, LOG_FLUSH_INTERVAL_MS).unref();
  }

  /** Every producer writes the lines it holds back, now (through begin() and end(), as any line). */
  writeDeferred(): void {
    if (this.#writingDeferred) return;
    this.#writingDeferred = true;
    this.#anyHeld = false;
    try {
      const deferred = this.#deferred;
      for (let i = 0; i < deferred.length; i++) deferred[i]();
    } finally {
      this.#writingDeferred = false;
    }
  }

  /** Text of one or more complete lines (the CLI's own messages), in order with the log's. */
  write(text: string): void {
    const out = this.begin(3 * text.length);
    if (out === null) return;
    out.text(text);
    this.end();
  }

  /**
   * Resolves once every line accepted before the call is written (or dropped by a failing sink),
   * or after `timeoutMs` while the sink is blocked.
   */
  flush(timeoutMs: number): Promise<void> {
    this.writeDeferred();
    const untilBytes = this.#acceptedBytes;
    if (this.#settledBytes >= untilBytes) return Promise.resolve();
    this.#sealWanted = true;
    this.#pump();
    return new Promise((resolve) => {
      const waiter: FlushWaiter = {
        untilBytes,
        resolve,
        timer: setTimeout(() => {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
          resolve();
        }, timeoutMs),
      };
      this.#waiters.push(waiter);
    });
  }

  /** Opens the path again (after logrotate moved the file); lines accepted so far go to the old file. */
  reopen(): void {
    if (this.path === null || this.#capacity === 0) return;
    this.writeDeferred();
    if (this.#len > 0) this.#seal();
    this.#queue.push(REOPEN);
    this.#pump();
  }

  #freshBuffer(maxBytes: number): Buffer {
    if (maxBytes > BUFFER_SLACK_BYTES) return Buffer.allocUnsafeSlow(LOG_BUFFER_BYTES + maxBytes);
    return this.#spare.pop() ?? Buffer.allocUnsafeSlow(LOG_BUFFER_BYTES + BUFFER_SLACK_BYTES);
  }

  /** The lines in the current buffer become a chunk to write. */
  #seal(): void {
    this.#queue.push((this.#buf as Buffer).subarray(0, this.#len));
    this.#queuedBytes += this.#len;
    this.#buf = null;
    this.#len = 0;
  }

  readonly #onTimer = (): void => {
    this.#timer = null;
    this.writeDeferred();
    this.#sealWanted = true;
    this.#pump();
  };

  readonly #onRetry = (): void => {
    this.#retry = null;
    this.#pump();
  };

  #pump(): void {
    while (this.#inFlight === 0 && this.#retry === null) {
      const chunk = this.#queue[0];
      if (chunk === REOPEN) {
        this.#queue.shift();
        this.#swapFile();
        continue;
      }
      if (chunk === undefined) {
        const due = this.#sealWanted && this.#len > 0;
        this.#sealWanted = false;
        if (!due) return;
        this.#seal();
        continue;
      }
      if (this.#capacity === 0) return;
      const sink = this.#sink;
      if (sink.kind === 'fd' && !sink.regular) {
        this.#inFlight = 1;
        write(sink.fd, chunk, this.#offset, pieceEnd(chunk, this.#offset) - this.#offset, null, this.#onFdWritten);
        return;
      }
      // Everything queued up to a reopen leaves in one go: the backlog a slow write let build up
      // costs one system call, not one per buffer.
      const chunks: Buffer[] = [];
      for (let i = 0; i < this.#queue.length && chunks.length < MAX_CHUNKS_PER_WRITE; i++) {
        const next = this.#queue[i];
        if (next === REOPEN) break;
        chunks.push(i === 0 ? next.subarray(this.#offset) : next);
      }
      this.#inFlight = chunks.length;
      if (sink.kind === 'fd') {
        writev(sink.fd, chunks, null, this.#onFdWritten);
        return;
      }
      const last = chunks[chunks.length - 1];
      for (const bytes of chunks) {
        for (let start = 0; start < bytes.length; ) {
          const end = pieceEnd(bytes, start);
          process.stdout.write(bytes.subarray(start, end), bytes === last && end === bytes.length ? this.#onStdoutWritten : undefined);
          start = end;
        }
      }
    }
  }

  readonly #onFdWritten = (error: NodeJS.ErrnoException | null, written: number): void => {
    const chunks = this.#inFlight;
    this.#inFlight = 0;
    if (this.#capacity === 0) {
      this.#closeFile();
      return;
    }
    if (error !== null) this.#failed(error, chunks);
    else this.#advance(written);
    this.#pump();
  };

  readonly #onStdoutWritten = (error?: Error | null): void => {
    const chunks = this.#inFlight;
    this.#inFlight = 0;
    if (error != null) {
      this.#failed(error as NodeJS.ErrnoException, chunks);
    } else {
      for (let i = 0; i < chunks; i++) this.#settleChunk();
      this.#recovered();
    }
    this.#pump();
  };

  /** `written` bytes from the head of the queue are out: whole chunks settle, a partial one keeps its offset. */
  #advance(written: number): void {
    let left = written;
    for (;;) {
      const chunk = this.#queue[0] as Buffer;
      const rest = chunk.length - this.#offset;
      if (left < rest) {
        this.#offset += left;
        return;
      }
      left -= rest;
      this.#settleChunk();
      if (left === 0) break;
    }
    this.#recovered();
  }

  /** A write went through: a failure is over, and lines dropped meanwhile are reported where they went missing. */
  #recovered(): void {
    this.#failure = null;
    if (this.#dropped === 0) return;
    const count = this.#dropped;
    // Where the gap is: before lines still held back, which came later.
    const out = this.#reserve(NOTICE_MAX_BYTES);
    if (out === null) return;
    this.#dropped = 0;
    this.#notice(out, count);
    this.end();
    this.#sealWanted = true;
  }

  /** The `chunks` chunks written from the head failed: EAGAIN waits for a retry, anything else loses their lines. */
  #failed(error: NodeJS.ErrnoException, chunks: number): void {
    if (error.code === 'EAGAIN' || error.code === 'EWOULDBLOCK') {
      this.#retry = setTimeout(this.#onRetry, EAGAIN_RETRY_MS).unref();
      return;
    }
    for (let i = 0; i < chunks; i++) {
      this.#dropped += countLines(this.#queue[0] as Buffer, this.#offset);
      this.#settleChunk();
    }
    const code = error.code ?? error.message;
    if (this.#failure !== code) {
      this.#failure = code;
      process.stderr.write(`holdfast: cannot write the log to ${this.path ?? 'stdout'}: ${error.message}; dropping lines until it recovers\n`);
    }
  }

  /** The first chunk is written (or lost): its buffer goes back to the spares, flush() waiters may resolve. */
  #settleChunk(): void {
    const chunk = this.#queue.shift() as Buffer;
    this.#offset = 0;
    this.#queuedBytes -= chunk.length;
    this.#settledBytes += chunk.length;
    if (chunk.buffer.byteLength === LOG_BUFFER_BYTES + BUFFER_SLACK_BYTES && this.#spare.length < SPARE_BUFFERS) this.#spare.push(Buffer.from(chunk.buffer));
    if (this.#waiters.length === 0) return;
    const settled = this.#settledBytes;
    this.#waiters = this.#waiters.filter((waiter) => {
      if (waiter.untilBytes > settled) return true;
      clearTimeout(waiter.timer);
      waiter.resolve();
      return false;
    });
  }

  #swapFile(): void {
    const old = this.#sink;
    if (this.path === null || old.kind !== 'fd') return;
    let fd: number;
    try {
      fd = openSync(this.path, FILE_FLAGS, FILE_MODE);
    } catch (error) {
      process.stderr.write(`holdfast: cannot reopen the log file ${this.path}: ${(error as Error).message}; still writing to the old one\n`);
      return;
    }
    this.#sink = { kind: 'fd', fd, regular: isRegularFile(fd) };
    if (this.#capacity !== 0) this.#capacity = backlogCap(this.#sink);
    closeQuietly(old.fd);
  }

  /** Counts one more user (a server's logger); its notice formats the dropped-lines line from now on. */
  retain(notice: DroppedNotice | null): void {
    this.#users++;
    if (notice !== null) this.#notice = notice;
  }

  /**
   * One user is done: resolves once the lines are flushed (at most `timeoutMs`). The last user's
   * release closes the file and stops the exit hooks for this writer.
   */
  async release(timeoutMs: number): Promise<void> {
    if (--this.#users > 0) return this.flush(timeoutMs);
    const key = this.path ?? '';
    if (shared.get(key) === this) shared.delete(key);
    await this.flush(timeoutMs);
    this.#capacity = 0;
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#retry !== null) clearTimeout(this.#retry);
    this.#timer = null;
    this.#retry = null;
    // A write still in flight holds the descriptor (closing it under the thread pool could send the
    // bytes to whatever file reuses the number): its callback closes it.
    if (this.#inFlight === 0) this.#closeFile();
    live.delete(this);
    updateHooks();
  }

  #closeFile(): void {
    if (this.path !== null && this.#sink.kind === 'fd') closeQuietly(this.#sink.fd);
  }

  /** What the exit hooks do: everything not yet handed to a write goes out now, synchronously. */
  flushSync(deadlineMs: number): void {
    this.writeDeferred();
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#retry !== null) clearTimeout(this.#retry);
    this.#timer = null;
    this.#retry = null;
    if (this.#dropped > 0) {
      const count = this.#dropped;
      const out = this.#reserve(NOTICE_MAX_BYTES);
      if (out !== null) {
        this.#notice(out, count);
        this.end();
      }
    }
    if (this.#len > 0) this.#seal();
    const sink = this.#sink;
    const first = this.#inFlight;
    for (let i = first; i < this.#queue.length; i++) {
      const chunk = this.#queue[i];
      if (chunk === REOPEN) continue;
      const bytes = i === 0 ? chunk.subarray(this.#offset) : chunk;
      if (sink.kind === 'stdout') {
        for (let start = 0; start < bytes.length; ) {
          const end = pieceEnd(bytes, start);
          process.stdout.write(bytes.subarray(start, end));
          start = end;
        }
      } else if (!writeAllSync(sink.fd, bytes, sink.regular, deadlineMs)) {
        break;
      }
    }
    this.#queue.length = first;
  }
}

/** Writes `bytes` before `deadlineMs`, sleeping a millisecond at a time while the sink says EAGAIN. */
function writeAllSync(fd: number, bytes: Buffer, regular: boolean, deadlineMs: number): boolean {
  let offset = 0;
  while (offset < bytes.length) {
    const end = regular ? bytes.length : pieceEnd(bytes, offset);
    try {
      offset += writeSync(fd, bytes, offset, end - offset);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'EAGAIN' && code !== 'EWOULDBLOCK') || Date.now() >= deadlineMs) return false;
      Atomics.wait(sleepCell, 0, 0, 1);
    }
  }
  return true;
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** The end of the next piece from `start`: at most PIPE_BUF bytes ending at a line end (a longer line goes whole). */
function pieceEnd(bytes: Buffer, start: number): number {
  if (bytes.length - start <= PIPE_BUF) return bytes.length;
  const newline = bytes.lastIndexOf(0x0a, start + PIPE_BUF - 1);
  if (newline >= start) return newline + 1;
  const next = bytes.indexOf(0x0a, start + PIPE_BUF);
  return next === -1 ? bytes.length : next + 1;
}

/** Lines that start or end in bytes[from…]: the lines a failed write loses. */
function countLines(bytes: Buffer, from: number): number {
  let count = 0;
  for (let i = bytes.indexOf(0x0a, from); i !== -1; i = bytes.indexOf(0x0a, i + 1)) count++;
  return count;
}

function isRegularFile(fd: number): boolean {
  try {
    return fstatSync(fd).isFile();
  } catch {
    return false;
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed: nothing left to release
  }
}

let stdoutWatched = false;

/**
 * EPIPE on stdout (the reader went away) would otherwise be an unhandled 'error' that ends the
 * process: a server keeps serving without its log, as nginx does; the failed write's callback
 * counts the lines.
 */
function watchStdoutErrors(): void {
  if (stdoutWatched) return;
  stdoutWatched = true;
  process.stdout.on('error', () => undefined);
}

/** Writers in use, by absolute path ('' for stdout): servers logging to one target share its writer. */
const shared = new Map<string, LogWriter>();
/** Writers not yet closed: what the exit hooks flush. */
const live = new Set<LogWriter>();

/**
 * The shared writer for `filePath` (null: standard output), counting one more user. Opening a file
 * throws what open(2) says (ENOENT for a missing directory, EACCES, ENXIO for a FIFO nobody reads).
 */
export function openLogWriter(filePath: string | null, notice: DroppedNotice | null = null): LogWriter {
  const key = filePath === null ? '' : path.resolve(filePath);
  let writer = shared.get(key);
  if (writer === undefined) {
    writer = new LogWriter(key === '' ? null : key);
    shared.set(key, writer);
    live.add(writer);
    updateHooks();
  }
  writer.retain(notice);
  return writer;
}

/** Reopens every log file, as SIGUSR1 does while one is open (logrotate's postrotate step). */
export function reopenLogFiles(): void {
  for (const writer of live) writer.reopen();
}

function flushAllSync(): void {
  const deadlineMs = Date.now() + EXIT_FLUSH_TIMEOUT_MS;
  for (const writer of live) writer.flushSync(deadlineMs);
}

const onExit = (): void => flushAllSync();

/** Dies of the signal as before, after flushing — unless another listener has taken the signal over. */
const onExitSignal = (signal: NodeJS.Signals): void => {
  if (process.listenerCount(signal) > 1) return;
  flushAllSync();
  for (const name of EXIT_SIGNALS) process.off(name, onExitSignal);
  process.kill(process.pid, signal);
};

let exitHooked = false;
let reopenHooked = false;

/** The exit hooks while any writer is live; SIGUSR1 → reopen while any log file is (replacing node's default of starting the inspector). */
function updateHooks(): void {
  const wantExit = live.size > 0;
  if (wantExit !== exitHooked) {
    exitHooked = wantExit;
    if (wantExit) {
      process.on('exit', onExit);
      for (const name of EXIT_SIGNALS) process.on(name, onExitSignal);
    } else {
      process.off('exit', onExit);
      for (const name of EXIT_SIGNALS) process.off(name, onExitSignal);
    }
  }
  let wantReopen = false;
  for (const writer of live) if (writer.path !== null) wantReopen = true;
  if (wantReopen !== reopenHooked) {
    reopenHooked = wantReopen;
    if (wantReopen) process.on('SIGUSR1', reopenLogFiles);
    else process.off('SIGUSR1', reopenLogFiles);
  }
}
