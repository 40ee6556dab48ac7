/**
 * The command-line kit shared by `holdfast` and `holdfast inspect`: one walk over argv, one way to
 * read a value (durations, sizes and counts through src/server/units.ts), one error style — a
 * UsageError whose one-line message names the flag and what it accepts, which the caller prints
 * before exiting with code 2 — and one layout for `--help`.
 */

import { formatNumber, parseNumber, type NumberSpec } from '../server/units.js';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type ArgvItem = { kind: 'positional'; text: string } | { kind: 'flag'; flag: string; value: string | undefined };

/**
 * argv in order: positionals, switches (the flags in `switches`, which take no value) and flags
 * with a value, given as `--flag value` or `--flag=value`. A separate value never starts with
 * `--`, so `--port --cors` is a missing value, not a port named "--cors".
 */
export function* readArgv(argv: readonly string[], switches: ReadonlySet<string>): Generator<ArgvItem> {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('-')) {
      yield { kind: 'positional', text: arg };
      continue;
    }
    const eq = switches.has(arg) ? -1 : arg.indexOf('=');
    if (eq !== -1) {
      const flag = arg.slice(0, eq);
      if (switches.has(flag)) throw new UsageError(`${flag} takes no value; got "${arg.slice(eq + 1)}"`);
      yield { kind: 'flag', flag, value: arg.slice(eq + 1) };
      continue;
    }
    const next = switches.has(arg) ? undefined : argv[i + 1];
    const value = next === undefined || next.startsWith('--') ? undefined : next;
    if (value !== undefined) i++;
    yield { kind: 'flag', flag: arg, value };
  }
}

/** The value of a flag that needs one; `accepts` says what it takes when there is none. */
export function requireValue(flag: string, value: string | undefined, accepts: string): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} needs a value: ${accepts}`);
  return value;
}

/** What a numeric flag takes, for messages: "a whole number of requests (0 = unlimited)". */
export function describeAccepted(spec: NumberSpec): string {
  const what =
    spec.kind === 'duration'
      ? 'a duration such as 500ms, 30s, 2m or 1h, or a number of seconds'
      : spec.kind === 'bytes'
        ? 'a size such as 512, 64k, 1m or 1g, or a number of bytes'
        : `a whole number${spec.unit === undefined ? '' : ` of ${spec.unit}`}`;
  const range = spec.max === undefined ? '' : ` from ${formatNumber(spec.kind, spec.min)} to ${formatNumber(spec.kind, spec.max)}`;
  return `${what}${range}${spec.zero === undefined ? '' : ` (0 = ${spec.zero})`}`;
}

/** A duration, size or count within the spec's range; `instead` is appended to a below-minimum error. */
export function parseNumberFlag(flag: string, spec: NumberSpec, text: string, instead = ''): number {
  const value = parseNumber(spec.kind, text);
  if (value === 'malformed') throw new UsageError(`${flag} takes ${describeAccepted(spec)}; got "${text}"`);
  if (value === 'too-large') throw new UsageError(`${flag}: "${text}" is too large`);
  if (value < spec.min) {
    const floor = spec.kind === 'duration' && spec.min === 1 ? 'longer than 0' : `at least ${formatNumber(spec.kind, spec.min)}`;
    throw new UsageError(`${flag} must be ${floor}${instead}; got "${text}"`);
  }
  if (spec.max !== undefined && value > spec.max) throw new UsageError(`${flag} must be at most ${formatNumber(spec.kind, spec.max)}; got "${text}"`);
  return value;
}

export function parseChoiceFlag<T extends string>(flag: string, values: readonly T[], text: string): T {
  if (!(values as readonly string[]).includes(text)) throw new UsageError(`${flag} takes one of ${values.join(', ')}; got "${text}"`);
  return text as T;
}

const HELP_COLUMN = 28;
const HELP_WIDTH = 100;

/**
 * One `--help` entry: `usage` (the flag and its placeholder), then `help` in a column, wrapped at
 * word boundaries; `note` (such as the default) is kept whole on one line.
 */
export function helpEntry(usage: string, help: string, note = ''): string {
  const lines: string[] = [];
  let line = `  ${usage} `.padEnd(HELP_COLUMN);
  let fresh = true;
  for (const chunk of [...help.split(' '), ...(note === '' ? [] : [note])]) {
    if (!fresh && line.length + 1 + chunk.length > HELP_WIDTH) {
      lines.push(line);
      line = ' '.repeat(HELP_COLUMN);
      fresh = true;
    }
    line += fresh ? chunk : ` ${chunk}`;
    fresh = false;
  }
  lines.push(line);
  return lines.join('\n');
}
