/**
 * `holdfast inspect <url> [--json] [--max-wait 120s] [--concurrency N] [--progress] [--insecure]`: measures a
 * server's real keep-alive behaviour (see src/inspect/) and prints a report — text by default, one
 * JSON object with --json. Progress goes to stderr while it waits, when stderr is a TTY or with
 * --progress. Over https:// it also times the TLS handshake and tries session resumption
 * (--insecure accepts a certificate that does not verify). Exit codes: 0 the probe completed; 1 the
 * server cannot be reached (or its certificate does not verify) or does not speak HTTP/1.x; 2 usage.
 */

import { inspect, InspectError, INSPECT_DEFAULTS, type ProgressEvent } from '../inspect/inspect.js';
import { formatMs, formatReport } from '../inspect/report.js';
import { parseTarget } from '../inspect/target.js';
import { DURATION_SYNTAX, formatDuration, type NumberSpec } from '../server/units.js';
import { describeAccepted, helpEntry, parseNumberFlag, readArgv, requireValue, UsageError } from './flags.js';

const MAX_WAIT: NumberSpec = { kind: 'duration', min: 1 };
const CONCURRENCY: NumberSpec = { kind: 'count', unit: 'connections', min: 1, max: 16 };

export const INSPECT_USAGE = [
  'Usage: holdfast inspect <http[s]://host:port/path> [options]',
  '',
  'Probes any HTTP/1.x server and reports its real keep-alive behaviour: keep-alive for HTTP/1.1 and',
  'HTTP/1.0, Connection: close, the enforced idle timeout (FIN or RST) against the advertised one,',
  'max requests per connection, pipelining, the headers timeout, and the idle timeout clients and',
  'load balancers in front of it should use. Over https:// also the TLS version, cipher, handshake time',
  'and whether session resumption works.',
  '',
  'Options:',
  helpEntry('--json', 'print one JSON object (times in ms) instead of the text report'),
  helpEntry('--max-wait D', 'longest wait for the server to close a connection', `(default ${formatDuration(INSPECT_DEFAULTS.maxWaitMs)})`),
  helpEntry('--concurrency N', `idle connections held to measure the idle timeout, ${CONCURRENCY.min} to ${CONCURRENCY.max}`, `(default ${INSPECT_DEFAULTS.concurrency})`),
  helpEntry('--progress', 'show progress on stderr even when it is not a terminal'),
  helpEntry('--insecure', 'https://: accept a certificate that does not verify (self-signed)'),
  helpEntry('-h, --help', 'this text'),
  '',
  `Durations: ${DURATION_SYNTAX}.`,
  'Exit codes: 0 probe completed, 1 server unreachable or not HTTP/1.x, 2 usage error.',
  '',
].join('\n');

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
  insecure: boolean;
}

const SWITCHES = new Set(['-h', '--help', '--json', '--progress', '--insecure']);

/** The arguments, `{ kind: 'help' }`, or a UsageError naming the flag and what it accepts. */
export function parseInspectArgs(argv: readonly string[]): { kind: 'run'; args: InspectArgs } | { kind: 'help' } {
  let url: string | null = null;
  let json = false;
  let progress = false;
  let insecure = false;
  let maxWaitMs: number = INSPECT_DEFAULTS.maxWaitMs;
  let concurrency: number = INSPECT_DEFAULTS.concurrency;
  for (const item of readArgv(argv, SWITCHES)) {
    if (item.kind === 'positional') {
      if (url !== null) throw new UsageError(`one URL only; got ${url} and ${item.text}`);
      url = item.text;
      continue;
    }
    const { flag, value } = item;
    switch (flag) {
      case '-h':
      case '--help':
        return { kind: 'help' };
      case '--json':
        json = true;
        break;
      case '--progress':
        progress = true;
        break;
      case '--insecure':
        insecure = true;
        break;
      case '--max-wait':
        maxWaitMs = parseNumberFlag(flag, MAX_WAIT, requireValue(flag, value, describeAccepted(MAX_WAIT)));
        break;
      case '--concurrency':
        concurrency = parseNumberFlag(flag, CONCURRENCY, requireValue(flag, value, describeAccepted(CONCURRENCY)));
        break;
      default:
        throw new UsageError(`unknown option ${flag}`);
    }
  }
  if (url === null) throw new UsageError('which server? give a URL such as http://127.0.0.1:8080/');
  return { kind: 'run', args: { url, json, progress, maxWaitMs, concurrency, insecure } };
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
  let parsed;
  try {
    parsed = parseInspectArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`holdfast inspect: ${error.message}\nRun \`holdfast inspect --help\` for usage.\n`);
    return 2;
  }
  if (parsed.kind === 'help') {
    io.stdout(INSPECT_USAGE);
    return 0;
  }
  const args = parsed.args;
  const target = parseTarget(args.url);
  if (target.kind === 'invalid') {
    io.stderr(`holdfast inspect: ${target.message}\n`);
    return 2;
  }
  const display = args.progress || io.stderrIsTty ? new ProgressDisplay(io, args.maxWaitMs) : null;
  try {
    const report = await inspect({ target: target.target, maxWaitMs: args.maxWaitMs, concurrency: args.concurrency, onProgress: display?.update, insecure: args.insecure });
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
