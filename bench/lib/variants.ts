/**
 * A variant of the daemon for bench/tricks.ts: a copy of `<root>/src` in `<variants>/<name>/`
 * with `<root>/bench/tricks/<name>.patch` applied. git apply runs outside any repository
 * (GIT_CEILING_DIRECTORIES), so a path it cannot find is an error instead of a file silently
 * left out (inside a repository, git apply skips paths outside the current directory), and
 * every file the patch names must then differ from the original: a patch that no longer
 * applies, because the code moved, stops the bench with the trick's name.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

export class StalePatchError extends Error {}

function gitApply(args: readonly string[], cwd: string, ceiling: string): { ok: boolean; out: string } {
  const r = spawnSync('git', ['apply', ...args], { cwd, env: { ...process.env, GIT_CEILING_DIRECTORIES: ceiling }, encoding: 'utf8', timeout: 60_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() || String(r.error ?? `exit ${r.status}`) };
}

/** Prepares `<variants>/<name>` (replacing it) and returns its path; throws StalePatchError when the patch does not apply. */
export async function prepareVariant(root: string, name: string, variants: string): Promise<string> {
  const rel = `bench/tricks/${name}.patch`;
  const patch = join(root, rel);
  if (!existsSync(patch)) throw new StalePatchError(`trick "${name}": no patch at ${rel}`);
  const dir = join(variants, name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await cp(join(root, 'src'), join(dir, 'src'), { recursive: true });
  const files = [...(await readFile(patch, 'utf8')).matchAll(/^\+\+\+ (\S+)$/gm)].map((m) => (m[1] as string).replace(/^b\//, ''));
  if (files.length === 0) throw new StalePatchError(`trick "${name}": ${rel} names no file`);
  const outside = files.filter((f) => !f.startsWith('src/'));
  if (outside.length > 0) throw new StalePatchError(`trick "${name}": ${rel} changes files outside src/ (${outside.join(', ')}): a variant is src/ only`);
  const check = gitApply(['--check', patch], dir, variants);
  if (!check.ok)
    throw new StalePatchError(`trick "${name}": ${rel} no longer applies to src/ (the code moved; redo the patch against the current code):\n${check.out}`);
  const applied = gitApply([patch], dir, variants);
  if (!applied.ok) throw new StalePatchError(`trick "${name}": git apply ${rel} failed: ${applied.out}`);
  for (const f of files) {
    const [a, b] = await Promise.all([readFile(join(root, f), 'utf8'), readFile(join(dir, f), 'utf8')]);
    if (a === b) throw new StalePatchError(`trick "${name}": ${f} is unchanged after ${rel}`);
  }
  return dir;
}
