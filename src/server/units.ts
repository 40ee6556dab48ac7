/**
 * Durations, sizes and counts as an operator writes them, parsed and printed in one place for the
 * option table (src/server/options.ts), `holdfast` and `holdfast inspect`. Pure: no I/O, no errors
 * thrown — a parser returns the value or what is wrong with the text, and the caller words the
 * message for its audience.
 *
 * - Durations: `500ms`, `30s`, `2m`, `1h`, fractions allowed (`1.5s`), rounded to whole ms; a bare
 *   number means seconds (as nginx's time syntax, which also reads a bare number as seconds).
 * - Sizes: `512`, `64k`, `1m`, `1g`, also `kb`, `mb`, `gb`, any case, in powers of 1024 (nginx's
 *   size syntax, plus the `b` spelling); a bare number means bytes.
 * - Counts: whole decimal numbers.
 * Every value is a safe integer; a larger one is `too-large`, never rounded or wrapped.
 * - Addresses: `HOST:PORT` — an IPv4 literal, a bracketed IPv6 literal or a host name, and a port
 *   from 0 to 65535 (RFC 3986 §3.2.2 authority syntax, as nginx's `listen` reads it).
 * - Bearer tokens: RFC 6750 §2.1's token68 characters, at least MIN_TOKEN_CHARS of them.
 */

import net from 'node:net';

/** How a numeric value is read and bounded: its kind, the range it accepts, what 0 means. */
export interface NumberSpec {
  readonly kind: 'duration' | 'bytes' | 'count';
  readonly min: number;
  readonly max?: number;
  /** What the number counts, for messages; a duration is in milliseconds and a size in bytes. */
  readonly unit?: string;
  /** What 0 stands for, when it is special. */
  readonly zero?: 'off' | 'unlimited';
}

export type UnitProblem = 'malformed' | 'too-large';

export const DURATION_SYNTAX = '500ms, 30s, 2m, 1h; a bare number means seconds';
export const SIZE_SYNTAX = '512, 64k, 1m, 1g (also kb, mb, gb; any case) in powers of 1024; a bare number means bytes';

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;
const MS_PER_UNIT: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE = /^(\d+)(?:([kmg])b?)?$/i;
const BYTES_PER_UNIT: Readonly<Record<string, number>> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
const COUNT = /^\d+$/;

function safeInteger(value: number): number | UnitProblem {
  const rounded = Math.round(value);
  return Number.isSafeInteger(rounded) ? rounded : 'too-large';
}

/** Milliseconds. */
export function parseDuration(text: string): number | UnitProblem {
  const match = DURATION.exec(text.trim());
  if (match === null) return 'malformed';
  return safeInteger(Number(match[1]) * MS_PER_UNIT[match[2] ?? 's']);
}

/** Bytes. */
export function parseBytes(text: string): number | UnitProblem {
  const match = SIZE.exec(text.trim());
  if (match === null) return 'malformed';
  return safeInteger(Number(match[1]) * (match[2] === undefined ? 1 : BYTES_PER_UNIT[match[2].toLowerCase()]));
}

export function parseCount(text: string): number | UnitProblem {
  const trimmed = text.trim();
  return COUNT.test(trimmed) ? safeInteger(Number(trimmed)) : 'malformed';
}

export function parseNumber(kind: NumberSpec['kind'], text: string): number | UnitProblem {
  return kind === 'duration' ? parseDuration(text) : kind === 'bytes' ? parseBytes(text) : parseCount(text);
}

/** Whole ms as parseDuration reads them back, in hours or seconds when exact: `1h`, `90s`, `1500ms`. */
export function formatDuration(ms: number): string {
  for (const unit of ['h', 's'] as const) {
    if (ms !== 0 && ms % MS_PER_UNIT[unit] === 0) return `${ms / MS_PER_UNIT[unit]}${unit}`;
  }
  return `${ms}ms`;
}

/** Bytes in the largest unit that is exact, as parseBytes reads it back: `1m`, `256k`, `8190`. */
export function formatBytes(bytes: number): string {
  for (const unit of ['g', 'm', 'k'] as const) {
    if (bytes !== 0 && bytes % BYTES_PER_UNIT[unit] === 0) return `${bytes / BYTES_PER_UNIT[unit]}${unit}`;
  }
  return String(bytes);
}

export function formatNumber(kind: NumberSpec['kind'], value: number): string {
  return kind === 'duration' ? formatDuration(value) : kind === 'bytes' ? formatBytes(value) : String(value);
}

export function isInRange(spec: NumberSpec, value: number): boolean {
  return Number.isSafeInteger(value) && value >= spec.min && (spec.max === undefined || value <= spec.max);
}

export interface HostPort {
  /** Without brackets: `127.0.0.1`, `::1`, `localhost`. */
  readonly host: string;
  readonly port: number;
}

export const ADDRESS_SYNTAX = 'HOST:PORT such as 127.0.0.1:9090, [::1]:9090 or localhost:9090';

const ADDRESS = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;
const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

/** `HOST:PORT` (an IPv6 host in brackets), or 'malformed'. */
export function parseAddress(text: string): HostPort | 'malformed' {
  const match = ADDRESS.exec(text);
  if (match === null) return 'malformed';
  const port = Number(match[3]);
  if (port > 65_535) return 'malformed';
  if (match[1] !== undefined) return net.isIPv6(match[1]) ? { host: match[1], port } : 'malformed';
  const host = match[2];
  return net.isIPv4(host) || (HOST_NAME.test(host) && !/^[\d.]+$/.test(host)) ? { host, port } : 'malformed';
}

/** `127.0.0.0/8`, `::1` (also IPv4-mapped) or `localhost`: reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  const lower = host.toLowerCase();
  if (lower === 'localhost' || lower === '::1') return true;
  const v4 = lower.startsWith('::ffff:') ? lower.slice(7) : lower;
  return net.isIPv4(v4) && v4.startsWith('127.');
}

/** A bearer token shorter than this is refused: it could be guessed. */
export const MIN_TOKEN_CHARS = 16;

const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

export const TOKEN_SYNTAX = `at least ${MIN_TOKEN_CHARS} characters of A-Z a-z 0-9 - . _ ~ + / (a bearer token, RFC 6750)`;

export function isBearerToken(text: string): boolean {
  return text.length >= MIN_TOKEN_CHARS && TOKEN68.test(text);
}
