/**
 * `holdfast inspect <url> [--json] [--max-wait 120s] [--concurrency N] [--progress]`: measures a
 * server's real keep-alive behaviour (see src/inspect/) and prints a report — text by default, one
 * JSON object with --json. Progress goes to stderr while it waits, when stderr is a TTY or with
 * --progress. Exit codes: 0 the probe completed; 1 the server cannot be reached or does not speak
 * HTTP/1.x; 2 usage (bad arguments, https://).
 */

import { inspect, InspectError, INSPECT_DEFAULTS, type ProgressEvent } from '../inspect/inspect.js';
import { formatMs, formatReport } from '../inspect/report.js';
import { parseTarget } from '../inspect/target.js';

export const INSPECT_USAGE = `Usage: holdfast inspect <http://host:port/path> [options]

Probes any HTTP/1.x server and reports its real keep-alive behaviour: keep-alive for HTTP/1.1 and
HTTP/1.0, Connection: close, the enforced idle timeout (FIN or RST) against the advertised one,
max requests per connection, pipelining, the headers timeout, and the idle timeout clients and
load balancers in front of it should use.

Options:
  --json               print one JSON object (times in ms) instead of the text report
  --max-wait <dur>     longest wait for the server to close a connection (default 120s);
                       a duration: 500ms, 30s, 2m, or plain seconds
  --concurrency <n>    idle connections held to measure the idle timeout (default 3, 1–16)
  --progress           show progress on stderr even when it is not a terminal
  -h, --help           this text

Exit codes: 0 probe completed, 1 server unreachable or not HTTP/1.x, 2 usage error.
`;

const MAX_CONCURRENCY = 16;

export interface InspectIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stderrIsTty: boolean;
}

const processIo = (): InspectIo => ({
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  stderrIsTty: process.stderr.isTTY === true,
});

interface InspectArgs {
  url: string;
  json: boolean;
  progress: boolean;
  maxWaitMs: number;
  concurrency: number;
}

type ParsedArgs = { kind: 'run'; args: InspectArgs } | { kind: 'help' } | { kind: 'error'; message: string };

/** `500ms`, `30s`, `2m`, or a plain number of seconds → milliseconds; null when malformed. */
export function parseDurationMs(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (match === null) return null;
  const value = Number(match[1]);
  const unit = match[2] ?? 's';
  const ms = Math.round(unit === 'ms' ? value : unit === 's' ? value * 1000 : value * 60_000);
  return ms > 0 ? ms : null;
}

export function parseInspectArgs(argv: readonly string[]): ParsedArgs {
  let url: string | null = null;
  let json = false;
  let progress = false;
  let maxWaitMs: number = INSPECT_DEFAULTS.maxWaitMs;
  let concurrency: number = INSPECT_DEFAULTS.concurrency;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const equals = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = equals === -1 ? arg : arg.slice(0, equals);
    const value = (): string | null => (equals !== -1 ? arg.slice(equals + 1) : (argv[++i] ?? null));
    switch (name) {
      case '-h':
      case '--help':
        return { kind: 'help' };
      case '--json':
        json = true;
        break;
      case '--progress':
        progress = true;
        break;
      case '--max-wait': {
        const text = value();
        const ms = text === null ? null : parseDurationMs(text);
        if (ms === null) return { kind: 'error', message: `--max-wait needs a duration such as 500ms, 30s or 2m; got ${text ?? 'nothing'}` };
        maxWaitMs = ms;
        break;
      }
      case '--concurrency': {
        const text = value();
        const n = text !== null && /^\d+$/.test(text) ? Number(text) : NaN;
        if (!(n >= 1 && n <= MAX_CONCURRENCY)) return { kind: 'error', message: `--concurrency needs a whole number from 1 to ${MAX_CONCURRENCY}; got ${text ?? 'nothing'}` };
        concurrency = n;
        break;
      }
      default:
        if (arg.startsWith('-')) return { kind: 'error', message: `unknown option ${arg}` };
        if (url !== null) return { kind: 'error', message: `one URL only; got ${url} and ${arg}` };
        url = arg;
    }
  }
  if (url === null) return { kind: 'error', message: 'which server? give a URL such as http://127.0.0.1:8080/' };
  return { kind: 'run', args: { url, json, progress, maxWaitMs, concurrency } };
}

/** The progress line: what is being probed and what the idle and headers watches have seen. */
class ProgressDisplay {
  readonly #io: InspectIo;
  readonly #tty: boolean;
  readonly #maxWaitMs: number;
  readonly #startedAtMs = Date.now();
  #step = 'connecting';
  #idle = '';
  #headers = '';
  #maxRequests = '';
  #timer: NodeJS.Timeout | null = null;
  #lastLine = '';

  constructor(io: InspectIo, maxWaitMs: number) {
    this.#io = io;
    this.#tty = io.stderrIsTty;
    this.#maxWaitMs = maxWaitMs;
    if (this.#tty) {
      this.#timer = setInterval(() => this.#render(), 250);
      this.#timer.unref();
    }
  }

  readonly update = (event: ProgressEvent): void => {
    switch (event.kind) {
      case 'step':
        this.#step = event.step;
        break;
      case 'idle':
        this.#idle = `idle: ${event.open} open, ${event.closed} closed${event.samplesMs.length > 0 ? ` (${event.samplesMs.map((ms) => formatMs(ms)).join(', ')})` : ''}`;
        break;
      case 'headers':
        this.#headers = event.waiting ? 'headers timeout: waiting' : `headers timeout: ${event.ms === null ? 'not reached' : formatMs(event.ms)}`;
        break;
      case 'max-requests':
        this.#maxRequests = `max requests: ${event.answered} answered`;
        break;
    }
    this.#render();
  };

  #render(): void {
    const elapsed = formatMs(Date.now() - this.#startedAtMs);
    const parts = [this.#step, this.#idle, this.#maxRequests, this.#headers].filter((p) => p !== '');
    const state = parts.join(' · ');
    if (this.#tty) {
      this.#io.stderr(`\r\x1b[2K[${elapsed}, max-wait ${formatMs(this.#maxWaitMs)}] ${state}`);
    } else if (state !== this.#lastLine) {
      this.#lastLine = state;
      this.#io.stderr(`[${elapsed}] ${state}\n`);
    }
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    if (this.#tty) this.#io.stderr('\r\x1b[2K');
  }
}

export async function runInspect(argv: string[], io: InspectIo = processIo()): Promise<number> {
  const parsed = parseInspectArgs(argv);
  if (parsed.kind === 'help') {
    io.stdout(INSPECT_USAGE);
    return 0;
  }
  if (parsed.kind === 'error') {
    io.stderr(`holdfast inspect: ${parsed.message}\nRun \`holdfast inspect --help\` for usage.\n`);
    return 2;
  }
  const args = parsed.args;
  const target = parseTarget(args.url);
  if (target.kind === 'invalid') {
    io.stderr(`holdfast inspect: ${target.message}\n`);
    return 2;
  }
  const display = args.progress || io.stderrIsTty ? new ProgressDisplay(io, args.maxWaitMs) : null;
  try {
    const report = await inspect({ target: target.target, maxWaitMs: args.maxWaitMs, concurrency: args.concurrency, onProgress: display?.update });
    display?.stop();
    io.stdout(args.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return 0;
  } catch (error) {
    display?.stop();
    if (error instanceof InspectError) {
      io.stderr(`holdfast inspect: ${error.message}\n`);
      return 1;
    }
    io.stderr(`holdfast inspect: unexpected failure: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  }
}
