/**
 * The event-loop turn, as serveStatic's freshness and its file cache count time: a number that
 * changes once per turn, in the check phase that follows the poll in which requests are read (one
 * setImmediate per turn, only in turns that ask), and the monotonic time sampled once per turn.
 * Requests read in one poll arrived together: they share a turn, so they share one `stat` of a
 * cached file and one move in the cache's recency order.
 */

import { performance } from 'node:perf_hooks';

let turnNumber = 0;
let turnEnding = false;
/** The turn whose time turnStartMs holds (-1: none sampled yet). */
let sampledTurn = -1;
let turnStartMs = 0;

function endTurn(): void {
  turnNumber++;
  turnEnding = false;
}

export function thisTurn(): number {
  if (!turnEnding) {
    turnEnding = true;
    setImmediate(endTurn);
  }
  return turnNumber;
}

/** performance.now() as first read in this turn. */
export function turnNowMs(): number {
  const turn = thisTurn();
  if (sampledTurn !== turn) {
    sampledTurn = turn;
    turnStartMs = performance.now();
  }
  return turnStartMs;
}
