/**
 * App modules: `holdfast ./app.mjs` serves a module instead of a directory. The module (a `.js`,
 * `.mjs` or `.cjs` file, loaded with a dynamic import of its file URL) is told apart by its
 * default export:
 * - `defineHandler(handler)`: a holdfast Handler, served as it is;
 * - any other function: a fetch function, `(request, info) => Response`;
 * - an object with a `fetch` method (a Hono app, `export default { fetch }`): a fetch app.
 * Fetch functions and apps are served through fetchHandler. Whatever goes wrong while loading is
 * one AppModuleError line.
 */

import { statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { isDefinedHandler } from '../handlers/define-handler.js';
import { fetchHandler, type FetchApp, type FetchFunction } from '../handlers/fetch.js';
import type { Handler } from '../handlers/types.js';

export const MODULE_EXTENSIONS: readonly string[] = ['.js', '.mjs', '.cjs'];

export class AppModuleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AppModuleError';
  }
}

/** What the command's positional argument names. */
export type Served = { kind: 'directory' } | { kind: 'module' } | { kind: 'neither'; message: string };

export function classifyServed(target: string): Served {
  let stats;
  try {
    stats = statSync(target);
  } catch {
    return { kind: 'neither', message: `${target} is not a directory or an app module (no such file)` };
  }
  if (stats.isDirectory()) return { kind: 'directory' };
  if (stats.isFile() && MODULE_EXTENSIONS.includes(path.extname(target))) return { kind: 'module' };
  return { kind: 'neither', message: `${target} is not a directory or an app module (${MODULE_EXTENSIONS.join(', ')})` };
}

/** The first line of an error's message, with its class name (`SyntaxError: Unexpected token …`). */
function oneLine(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.split('\n', 1)[0];
}

/** The Handler serving the module's default export. */
export async function loadAppModule(file: string): Promise<Handler> {
  let loaded: { default?: unknown };
  try {
    loaded = (await import(pathToFileURL(path.resolve(file)).href)) as { default?: unknown };
  } catch (error) {
    throw new AppModuleError(`cannot load ${file}: ${oneLine(error)}`);
  }
  const app = loaded.default;
  if (isDefinedHandler(app)) return app;
  if (typeof app === 'function') return fetchHandler(app as FetchFunction);
  if (app !== null && typeof app === 'object' && typeof (app as FetchApp).fetch === 'function') return fetchHandler(app as FetchApp);
  throw new AppModuleError(
    `${file}: the default export must be a fetch function, an object with a fetch method (a Hono app), or defineHandler(handler); got ${app === null ? 'null' : typeof app}`,
  );
}
