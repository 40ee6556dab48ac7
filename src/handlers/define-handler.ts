/**
 * defineHandler(handler): marks a holdfast Handler as such, for the default export of an app
 * module (`holdfast ./app.mjs`). There a bare function is taken to be a fetch function
 * (`(Request) => Response`), the convention of Bun, Deno and Cloudflare Workers; a holdfast
 * Handler says what it is with this mark. The mark is a registered symbol, so a module marked with
 * any copy of holdfast is recognised.
 */

import type { Handler } from './types.js';

const HANDLER_MARK = Symbol.for('holdfast.handler');

/** Returns `handler` itself, marked as a holdfast Handler. */
export function defineHandler(handler: Handler): Handler {
  if (typeof handler !== 'function') throw new TypeError('defineHandler needs a handler function');
  Object.defineProperty(handler, HANDLER_MARK, { value: true });
  return handler;
}

export function isDefinedHandler(value: unknown): value is Handler {
  return typeof value === 'function' && (value as unknown as Record<symbol, unknown>)[HANDLER_MARK] === true;
}
