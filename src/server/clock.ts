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
/** Date.now() − performance.now() at the last read: a monotonic reading plus this is wall-clock time. */
let wallOffsetMs = 0;

function forget(): void {
  dateText = '';
}

/** A bracket wider than this (a preemption or a collection between the reads) is read again. */
const MAX_BRACKET_MS = 0.5;

function read(): void {
  // The wall clock read between two monotonic readings, so the offset is not skewed by whatever
  // ran between the reads (a busy machine preempted it by milliseconds); retried a few times.
  let before = performance.now();
  let wallMs = Date.now();
  let after = performance.now();
  for (let tries = 0; after - before > MAX_BRACKET_MS && tries < 3; tries++) {
    before = performance.now();
    wallMs = Date.now();
    after = performance.now();
  }
  coarseMs = before;
  wallOffsetMs = wallMs - (before + after) / 2;
  dateText = httpDate(wallMs);
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

/**
 * The wall-clock time (Unix ms) of the monotonic reading `monotonicMs` (performance.now()): the
 * offset between the two clocks is taken once a second with the Date header, so a log line's time
 * costs no clock read of its own. Within a second the times are as monotonic as performance.now();
 * a step of the wall clock (NTP, an operator) shows up at the next second; the offset is rounded to
 * Date.now()'s millisecond, so a time may be up to a millisecond off Date.now().
 */
export function wallMsAt(monotonicMs: number): number {
  if (dateText === '') read();
  return monotonicMs + wallOffsetMs;
}

/** performance.now() as of at most about a second ago (never ahead of it). */
export function coarseMonotonicMs(): number {
  if (dateText === '') read();
  return coarseMs;
}

let isoSecond = -1;
let isoSecondText = '';

/**
 * The wall-clock second `second` (Unix time in seconds) as ISO 8601 UTC up to the seconds' dot,
 * `2025-01-02T03:04:05.`, formatted once per second: log lines add the milliseconds and `Z`.
 */
export function isoSecondPrefix(second: number): string {
  if (second !== isoSecond) {
    isoSecond = second;
    isoSecondText = new Date(second * 1000).toISOString().slice(0, 20);
  }
  return isoSecondText;
}
