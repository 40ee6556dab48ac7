/**
 * The clock readings a response needs, without a clock read per response: the Date header text
 * (RFC 9110 §6.6.1, IMF-fixdate to the second) and a coarse monotonic time, both taken when first
 * asked for and forgotten by one unref'd timer at the next wall-clock second (node's http caches
 * its Date the same way). While traffic flows that is one Date.now() and one performance.now() per
 * second; the coarse time is behind the real one by at most about a second (more if the event loop
 * is blocked, as the timer fires late), so callers use it only to rule things out.
 */

import { performance } from 'node:perf_hooks';
import { httpDate } from '../http1/serializer.js';

let dateText = '';
let coarseMs = 0;

function forget(): void {
  dateText = '';
}

function read(): void {
  const wallMs = Date.now();
  dateText = httpDate(wallMs);
  coarseMs = performance.now();
  setTimeout(forget, 1000 - (wallMs % 1000)).unref();
}

/** The Date header value for a response sent now. */
export function responseDate(): string {
  if (dateText === '') read();
  return dateText;
}

/**
 * How far behind coarseMonotonicMs() may be with the event loop running (the timer's second plus
 * room for a busy turn): a caller that rules a deadline out needs it this far ahead.
 */
export const COARSE_CLOCK_SLACK_MS = 1500;

/** performance.now() as of at most about a second ago (never ahead of it). */
export function coarseMonotonicMs(): number {
  if (dateText === '') read();
  return coarseMs;
}

/** "000" … "999": three-digit fractions without a padStart per call. */
const THREE_DIGITS: readonly string[] = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

/** `n` (an integer from 0 to 999) as three digits. */
export function threeDigits(n: number): string {
  return THREE_DIGITS[n];
}

let stampSecond = -1;
let stampPrefix = '';

/**
 * Now as ISO 8601 UTC with milliseconds (`2025-01-02T03:04:05.678Z`), for log lines: one
 * Date.now() per call (no Date object), the date and time of day formatted once per second.
 * Milliseconds, not whole seconds as nginx's $time_iso8601: lines of one busy second stay orderable
 * against other logs, and the reading costs tens of nanoseconds.
 */
export function logTimestamp(): string {
  const nowMs = Date.now();
  const second = Math.floor(nowMs / 1000);
  if (second !== stampSecond) {
    stampSecond = second;
    stampPrefix = new Date(second * 1000).toISOString().slice(0, 20);
  }
  return stampPrefix + THREE_DIGITS[nowMs - second * 1000] + 'Z';
}
