/**
 * bench/tricks.ts measures the daemon without each hot-path trick by applying
 * bench/tricks/<trick>.patch to a copy of src/ (bench/lib/variants.ts). A patch that no
 * longer applies must stop the bench naming the trick, never yield a "variant" that is the
 * unchanged code (which would measure nothing and call the trick useless).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { prepareVariant, StalePatchError } from '../../bench/lib/variants.js';

const ORIGINAL = 'export function f(v: number): string {\n  return fast(v);\n}\n';
const PATCH = `diff --git a/src/f.ts b/src/f.ts
--- a/src/f.ts
+++ b/src/f.ts
@@ -1,3 +1,3 @@
 export function f(v: number): string {
-  return fast(v);
+  return String(v);
 }
`;

let root: string;

/** A repository-like root (a git work tree, as the real one is) with src/f.ts and the trick's patch. */
function makeRoot(src: string): string {
  root = mkdtempSync(join(tmpdir(), 'edgeflux-variants-'));
  mkdirSync(join(root, 'src'));
  mkdirSync(join(root, 'bench', 'tricks'), { recursive: true });
  writeFileSync(join(root, 'src', 'f.ts'), src);
  writeFileSync(join(root, 'bench', 'tricks', 'plain.patch'), PATCH);
  expect(spawnSync('git', ['init', '-q', root]).status).toBe(0);
  return root;
}

afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('prepareVariant', () => {
  it('applies the patch to a copy of src/ under the repository, leaving src/ alone', async () => {
    makeRoot(ORIGINAL);
    // Inside the work tree, as bench/.work/variants is: git apply must not skip the paths.
    const dir = await prepareVariant(root, 'plain', join(root, 'bench', '.work', 'variants'));
    expect(readFileSync(join(dir, 'src', 'f.ts'), 'utf8')).toContain('return String(v);');
    expect(readFileSync(join(root, 'src', 'f.ts'), 'utf8')).toBe(ORIGINAL);
  });

  it('stops with the trick named when the code moved', async () => {
    makeRoot(ORIGINAL.replace('fast(v)', 'fast(v, 3)'));
    const p = prepareVariant(root, 'plain', join(root, 'bench', '.work', 'variants'));
    await expect(p).rejects.toThrow(StalePatchError);
    await expect(prepareVariant(root, 'plain', join(root, 'bench', '.work', 'variants'))).rejects.toThrow(
      /trick "plain": bench\/tricks\/plain\.patch no longer applies/,
    );
  });

  it('stops when the trick has no patch', async () => {
    makeRoot(ORIGINAL);
    await expect(prepareVariant(root, 'other', join(root, 'bench', '.work', 'variants'))).rejects.toThrow(/trick "other": no patch/);
  });

  it('stops when the patch reaches beyond src/', async () => {
    makeRoot(ORIGINAL);
    writeFileSync(join(root, 'bench', 'tricks', 'plain.patch'), PATCH + PATCH.replaceAll('src/f.ts', 'bench/tricks/plain.patch'));
    await expect(prepareVariant(root, 'plain', join(root, 'bench', '.work', 'variants'))).rejects.toThrow(/outside src\/ \(bench\/tricks\/plain\.patch\)/);
  });
});

describe("the repository's trick patches", () => {
  it('each still applies to src/ as it is (a refactor that moves a trick must redo its patch, or the harness stops)', () => {
    const repo = join(import.meta.dirname, '..', '..');
    const dir = join(repo, 'bench', 'tricks');
    const patches = readdirSync(dir).filter((f) => f.endsWith('.patch'));
    expect(patches.length).toBeGreaterThan(0);
    for (const p of patches) {
      const r = spawnSync('git', ['apply', '--check', join(dir, p)], { cwd: repo, encoding: 'utf8', timeout: 30_000 });
      expect(`${p}: ${r.status === 0 ? 'applies' : r.stderr}`).toBe(`${p}: applies`);
    }
  });
});
