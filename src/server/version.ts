/** holdfast's version, from its package.json (read once, when first asked for). */

import { readFileSync } from 'node:fs';

let version: string | null = null;

export function holdfastVersion(): string {
  version ??= (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return version;
}
