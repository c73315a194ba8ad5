import { readFileSync } from 'node:fs';

/** edgeflux's version from its package.json (src/util or dist/util: two levels up), or 'unknown'. */
export function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
