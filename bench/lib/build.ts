/**
 * The code the bench runs, as plain JavaScript: `src/` and `bench/` are transpiled (no
 * type check, TypeScript's own `transpileModule`) into `bench/.work/js/`, so that no child
 * pays tsx's loader and the shared `dist/` is left alone; the daemon's entry points
 * (`src/cli/main.js`, `src/cli/config-worker.js`) are then replaced by the bundle that
 * `npm run build` makes (scripts/build.mjs), so that the daemon runs as users run it.
 * `--tsx` runs the TypeScript through tsx instead.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';
import { bundle } from '../../scripts/build.mjs';

export interface Runtime {
  /** How the code is run: 'transpiled' (bench/.work/js) or 'tsx'. */
  readonly kind: 'transpiled' | 'tsx';
  /** Node arguments that run the repo file `relTs` (e.g. 'src/cli/main.ts'). */
  script(relTs: string): string[];
  /** The JS file path of repo file `relTs` (transpiled runtime), for dynamic imports. */
  module(relTs: string): string;
}

async function tsFiles(dir: string, skip: (p: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (skip(p)) continue;
    if (e.isDirectory()) out.push(...(await tsFiles(p, skip)));
    else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Transpiles src/, bench/lib/ and bench/baseline.ts into `<root>/bench/.work/js`; returns the runtime and the file count. */
export async function transpile(root: string): Promise<{ runtime: Runtime; files: number; ms: number }> {
  const t0 = Date.now();
  const outRoot = join(root, 'bench', '.work', 'js');
  const skip = (p: string): boolean => p.includes(`${join('bench', '.work')}`) || p.endsWith('node_modules');
  // src/ and what the bench runs in child processes (not the micro benchmarks beside it).
  const files = [...(await tsFiles(join(root, 'src'), skip)), ...(await tsFiles(join(root, 'bench', 'lib'), skip)), join(root, 'bench', 'baseline.ts')];
  const n = await transpileInto(root, files, outRoot);
  await bundle({ src: join(root, 'src'), outdir: join(outRoot, 'src', 'cli'), clean: false });
  return { runtime: transpiledRuntime(root), files: n, ms: Date.now() - t0 };
}

/**
 * A variant of the daemon (bench/tricks.ts): `<dir>/src` (a patched copy of src/) transpiled
 * into `<dir>/js` (it finds the repo's device profiles and status page at the package root). Only the
 * daemon runs from there; the load generator and the bench stay the repo's own.
 */
export async function transpileVariant(dir: string): Promise<Runtime> {
  const files = await tsFiles(join(dir, 'src'), (p) => p.endsWith('node_modules'));
  const outRoot = join(dir, 'js');
  await transpileInto(dir, files, outRoot);
  await bundle({ src: join(dir, 'src'), outdir: join(outRoot, 'src', 'cli'), clean: false });
  const js = (relTs: string): string => join(outRoot, relTs.replace(/\.ts$/, '.js'));
  return { kind: 'transpiled', script: (relTs) => [js(relTs)], module: js };
}

/** Transpiles `files` (under `from`) into `outRoot`, replacing what was there (the daemon finds devices/ and status-page/ at the package root: util/package-root.ts). */
async function transpileInto(from: string, files: readonly string[], outRoot: string): Promise<number> {
  await rm(outRoot, { recursive: true, force: true });
  const compilerOptions: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    verbatimModuleSyntax: true,
    isolatedModules: true,
    sourceMap: false,
  };
  for (const f of files) {
    const rel = relative(from, f);
    const out = ts.transpileModule(await readFile(f, 'utf8'), { compilerOptions, fileName: rel, reportDiagnostics: true });
    const errors = (out.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
    if (errors.length > 0) {
      throw new Error(`cannot transpile ${rel}: ${errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('; ')}`);
    }
    const target = join(outRoot, rel.replace(/\.ts$/, '.js'));
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, out.outputText);
  }
  return files.length;
}

export function transpiledRuntime(root: string): Runtime {
  const js = (relTs: string): string => join(root, 'bench', '.work', 'js', relTs.replace(/\.ts$/, '.js'));
  return { kind: 'transpiled', script: (relTs) => [js(relTs)], module: js };
}

export function tsxRuntime(root: string): Runtime {
  return { kind: 'tsx', script: (relTs) => ['--import', 'tsx', join(root, relTs)], module: (relTs) => join(root, relTs) };
}
