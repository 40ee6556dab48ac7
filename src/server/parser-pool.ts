/**
 * Parsers for one server's connections. A connection between requests with nothing buffered
 * holds the shared `idle` sentinel (never fed) instead of its own parser, so 10,000 idle
 * keep-alive connections hold no parser state; a pristine parser goes back to the pool.
 */

import { RequestParser, type ParserLimits } from '../http1/parser.js';

export class ParserPool {
  readonly idle: RequestParser;
  readonly #limits: ParserLimits;
  readonly #free: RequestParser[] = [];
  readonly #maxFree: number;

  constructor(limits: ParserLimits, maxFree = 1024) {
    this.#limits = limits;
    this.#maxFree = maxFree;
    this.idle = new RequestParser(limits);
  }

  take(): RequestParser {
    return this.#free.pop() ?? new RequestParser(this.#limits);
  }

  /** `parser` must be pristine (no bytes, no message begun, no EOF). */
  release(parser: RequestParser): void {
    if (this.#free.length < this.#maxFree) this.#free.push(parser);
  }
}
