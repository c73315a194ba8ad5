import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** This module's own package root, found once (the status page, the profiles and the version all ask for it). */
let ownRoot: string | undefined;

/**
 * edgeflux's package root: the nearest directory above this module holding edgeflux's
 * package.json. The shipped device profiles (`devices/`), the status page and the version
 * live there. Found by walking up, not by a fixed `../..`, because the same module runs from
 * src/ (tsx, tests), from the bundle in dist/cli/ (`npm run build`) and from the bench's copies.
 * `from`: where to start looking (default: this module's directory).
 */
export function packageRoot(from?: string): string {
  if (from === undefined) return (ownRoot ??= packageRoot(dirname(fileURLToPath(import.meta.url))));
  for (let dir = from; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file) && isEdgeflux(file)) return dir;
    if (dirname(dir) === dir) throw new Error(`edgeflux: no package.json of edgeflux above ${from}`);
  }
}

function isEdgeflux(file: string): boolean {
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown }).name === 'edgeflux';
  } catch {
    return false;
  }
}
