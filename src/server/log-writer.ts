/**
 * Buffered log output, nginx's `access_log … buffer=64k flush=…` for node: lines collect in memory
 * and leave in writes of LOG_BUFFER_CHARS, at most LOG_FLUSH_INTERVAL_MS after they were logged,
 * when a server closes, and at exit.
 *
 * Targets: standard output, or a file path opened O_WRONLY | O_APPEND | O_CREAT (mode 0644, as
 * nginx opens its logs) and O_NONBLOCK (so a FIFO never blocks), reopened by reopenLogFiles() —
 * which SIGUSR1 triggers while a log file is open, as `kill -USR1` does for nginx under logrotate.
 * How bytes leave:
 * - to a regular file (a path, or stdout redirected to one): fs.write on libuv's thread pool, one
 *   write in flight, so a slow disk never blocks the event loop;
 * - to stdout as a pipe, socket or terminal: process.stdout.write — node writes pipes without
 *   blocking (libuv waits for room) and in order with the process's other stdout output;
 * - to a path that is not a regular file (a FIFO, a device): fs.write, retried every
 *   EAGAIN_RETRY_MS while the descriptor answers EAGAIN.
 * Into anything but a regular file a chunk goes in pieces of at most PIPE_BUF bytes that end at a
 * line end: pipe writes that small are atomic, so the lines of several processes sharing one pipe
 * (`--workers`) never tear each other, and a piece is never half written.
 *
 * Bounded: while the sink is slow or blocked, lines wait up to MAX_LOG_BACKLOG_CHARS (the chunk
 * being written included); beyond that they are dropped and counted, and once a write completes
 * the count is logged where the gap is, as a line of its own ("N log lines dropped"). A write
 * error other than EAGAIN (EPIPE, ENOSPC…) drops that chunk's lines the same way and is reported
 * once on stderr.
 *
 * Exit: open writers flush synchronously on process 'exit' (process.exit, an uncaught exception)
 * and on SIGINT, SIGTERM and SIGHUP when no other listener handles the signal — the signal is then
 * raised again, so the process still dies of it. A blocked sink gets EXIT_FLUSH_TIMEOUT_MS. A chunk
 * the thread pool is writing at that instant still lands (libuv finishes its work before the
 * process ends) but may land after the lines written synchronously. A hard kill (SIGKILL, the OOM
 * killer) loses what is buffered: at most the last interval's lines.
 */

import { closeSync, constants, fstatSync, openSync, write, writeSync } from 'node:fs';
import path from 'node:path';

export const LOG_BUFFER_CHARS = 65_536; // nginx: access_log … buffer=64k
export const LOG_FLUSH_INTERVAL_MS = 1_000; // nginx: flush=5s in its documentation's example; 1 s keeps `tail -f` live
export const MAX_LOG_BACKLOG_CHARS = 1_048_576; // 16 buffers (about 10,000 lines); nginx has no cap: it blocks on the write
const PIPE_BUF = 4_096; // Linux's PIPE_BUF: a pipe write up to this size is atomic (POSIX guarantees 512)
const EAGAIN_RETRY_MS = 50; // node gives JavaScript no writability watch on a bare descriptor: 20 polls a second while blocked
const EXIT_FLUSH_TIMEOUT_MS = 1_000;
const FILE_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK;
const FILE_MODE = 0o644; // nginx: NGX_FILE_DEFAULT_ACCESS
const EXIT_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Where the bytes go: a descriptor written with fs.write, or process.stdout. */
type Sink = { kind: 'fd'; fd: number; regular: boolean } | { kind: 'stdout' };

/** Formats the line that reports `count` dropped lines, in the log's own format. */
export type DroppedNotice = (count: number) => string;

interface FlushWaiter {
  untilChars: number;
  resolve: () => void;
  timer: NodeJS.Timeout | null;
}

const defaultNotice: DroppedNotice = (count) => `${count} log lines dropped: the log sink fell behind\n`;

export class LogWriter {
  /** The file's absolute path; null for standard output. */
  readonly path: string | null;
  #sink: Sink;
  #notice: DroppedNotice = defaultNotice;
  /** Lines accepted and not yet encoded. */
  #pending = '';
  /** The encoded chunk being written, from #chunkOffset on. */
  #chunk: Buffer | null = null;
  #chunkChars = 0;
  #chunkOffset = 0;
  #writing = false;
  #retry: NodeJS.Timeout | null = null;
  #timer: NodeJS.Timeout | null = null;
  #flushWanted = false;
  /** After reopen(): how many pending chars still belong to the old file (-1: no reopen due). */
  #cutChars = -1;
  #dropped = 0;
  #acceptedChars = 0;
  #settledChars = 0;
  #waiters: FlushWaiter[] = [];
  #users = 0;
  #closed = false;
  #failure: string | null = null;

  constructor(filePath: string | null) {
    this.path = filePath;
    if (filePath === null) {
      this.#sink = isRegularFile(1) ? { kind: 'fd', fd: 1, regular: true } : { kind: 'stdout' };
      if (this.#sink.kind === 'stdout') watchStdoutErrors();
    } else {
      const fd = openSync(filePath, FILE_FLAGS, FILE_MODE);
      this.#sink = { kind: 'fd', fd, regular: isRegularFile(fd) };
    }
  }

  /** Lines accepted and not yet written (or dropped), in UTF-16 code units. */
  get bufferedChars(): number {
    return this.#pending.length + this.#chunkChars;
  }

  /**
   * Takes one complete line (ending in "\n"), or drops and counts it when MAX_LOG_BACKLOG_CHARS
   * are already waiting. Never blocks and never throws.
   */
  write(line: string): void {
    if (this.#pending.length + this.#chunkChars + line.length > MAX_LOG_BACKLOG_CHARS) {
      this.#dropped++;
      return;
    }
    this.#pending += line;
    this.#acceptedChars += line.length;
    if (this.#pending.length >= LOG_BUFFER_CHARS) this.#pump();
    else if (this.#timer === null) this.#timer = setTimeout(this.#onTimer, LOG_FLUSH_INTERVAL_MS).unref();
  }

  /**
   * Resolves once every line accepted before the call is written (or dropped by a failing sink),
   * or after `timeoutMs` while the sink is blocked.
   */
  flush(timeoutMs: number): Promise<void> {
    const untilChars = this.#acceptedChars;
    if (this.#settledChars >= untilChars) return Promise.resolve();
    this.#flushWanted = true;
    this.#pump();
    return new Promise((resolve) => {
      const waiter: FlushWaiter = { untilChars, resolve, timer: null };
      waiter.timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        resolve();
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Opens the path again (after logrotate moved the file); lines accepted so far go to the old file. */
  reopen(): void {
    if (this.path === null || this.#closed) return;
    this.#cutChars = this.#pending.length;
    this.#pump();
  }

  readonly #onTimer = (): void => {
    this.#timer = null;
    this.#flushWanted = true;
    this.#pump();
  };

  readonly #onRetry = (): void => {
    this.#retry = null;
    this.#pump();
  };

  #pump(): void {
    if (this.#writing || this.#retry !== null) return;
    if (this.#chunk === null && !this.#takeChunk()) return;
    const sink = this.#sink;
    const chunk = this.#chunk as Buffer;
    this.#writing = true;
    if (sink.kind === 'stdout') {
      for (let start = this.#chunkOffset; start < chunk.length; ) {
        const end = pieceEnd(chunk, start);
        process.stdout.write(chunk.subarray(start, end), end === chunk.length ? this.#onStdoutWritten : undefined);
        start = end;
      }
    } else {
      const end = sink.regular ? chunk.length : pieceEnd(chunk, this.#chunkOffset);
      write(sink.fd, chunk, this.#chunkOffset, end - this.#chunkOffset, null, this.#onFdWritten);
    }
  }

  /** Moves pending lines into #chunk when they are due; false when nothing is. */
  #takeChunk(): boolean {
    if (this.#closed) return false;
    if (this.#cutChars === 0) this.#swapFile();
    let text: string;
    if (this.#cutChars > 0) {
      text = this.#pending.slice(0, this.#cutChars);
      this.#pending = this.#pending.slice(this.#cutChars);
      this.#cutChars = 0;
    } else if (this.#pending.length >= LOG_BUFFER_CHARS || (this.#flushWanted && this.#pending.length > 0)) {
      text = this.#pending;
      this.#pending = '';
      this.#flushWanted = false;
    } else {
      return false;
    }
    this.#chunk = Buffer.from(text, 'utf8');
    this.#chunkChars = text.length;
    this.#chunkOffset = 0;
    return true;
  }

  readonly #onFdWritten = (error: NodeJS.ErrnoException | null, written: number): void => {
    this.#writing = false;
    if (this.#closed) {
      this.#closeFile();
      return;
    }
    if (error !== null) this.#failed(error);
    else this.#advance(written);
    this.#pump();
  };

  readonly #onStdoutWritten = (error?: Error | null): void => {
    this.#writing = false;
    if (error != null) this.#failed(error as NodeJS.ErrnoException);
    else this.#advance((this.#chunk as Buffer).length - this.#chunkOffset);
    this.#pump();
  };

  #advance(written: number): void {
    this.#chunkOffset += written;
    if (this.#chunkOffset < (this.#chunk as Buffer).length) return;
    this.#settleChunk();
    this.#failure = null;
    if (this.#dropped > 0) {
      const notice = this.#notice(this.#dropped);
      this.#dropped = 0;
      this.#pending += notice;
      this.#acceptedChars += notice.length;
      this.#flushWanted = true;
    }
  }

  #failed(error: NodeJS.ErrnoException): void {
    if (error.code === 'EAGAIN' || error.code === 'EWOULDBLOCK') {
      this.#retry = setTimeout(this.#onRetry, EAGAIN_RETRY_MS).unref();
      return;
    }
    this.#dropped += countLines(this.#chunk as Buffer, this.#chunkOffset);
    this.#settleChunk();
    const code = error.code ?? error.message;
    if (this.#failure !== code) {
      this.#failure = code;
      process.stderr.write(`holdfast: cannot write the log to ${this.path ?? 'stdout'}: ${error.message}; dropping lines until it recovers\n`);
    }
  }

  #settleChunk(): void {
    this.#settledChars += this.#chunkChars;
    this.#chunk = null;
    this.#chunkChars = 0;
    this.#chunkOffset = 0;
    if (this.#waiters.length === 0) return;
    const settled = this.#settledChars;
    this.#waiters = this.#waiters.filter((waiter) => {
      if (waiter.untilChars > settled) return true;
      if (waiter.timer !== null) clearTimeout(waiter.timer);
      waiter.resolve();
      return false;
    });
  }

  #swapFile(): void {
    this.#cutChars = -1;
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
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#retry !== null) clearTimeout(this.#retry);
    this.#timer = null;
    this.#retry = null;
    // A write still in flight holds the descriptor (closing it under the thread pool could send the
    // bytes to whatever file reuses the number): its callback closes it.
    if (!this.#writing) this.#closeFile();
    live.delete(this);
    updateHooks();
  }

  #closeFile(): void {
    if (this.path !== null && this.#sink.kind === 'fd') closeQuietly(this.#sink.fd);
  }

  /** What the exit hooks do: everything not yet handed to a write goes out now, synchronously. */
  flushSync(deadlineMs: number): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#retry !== null) clearTimeout(this.#retry);
    this.#timer = null;
    this.#retry = null;
    if (this.#dropped > 0) {
      this.#pending += this.#notice(this.#dropped);
      this.#dropped = 0;
    }
    const sink = this.#sink;
    const parts: Buffer[] = [];
    if (this.#chunk !== null && !this.#writing) parts.push(this.#chunk.subarray(this.#chunkOffset));
    if (this.#pending.length > 0) parts.push(Buffer.from(this.#pending, 'utf8'));
    this.#pending = '';
    if (!this.#writing) this.#chunk = null;
    for (const bytes of parts) {
      if (sink.kind === 'stdout') {
        for (let start = 0; start < bytes.length; ) {
          const end = pieceEnd(bytes, start);
          process.stdout.write(bytes.subarray(start, end));
          start = end;
        }
      } else if (sink.kind === 'fd' && !writeAllSync(sink.fd, bytes, sink.regular, deadlineMs)) {
        return;
      }
    }
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
