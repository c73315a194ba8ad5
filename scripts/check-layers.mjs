#!/usr/bin/env node
// check-layers.mjs [SRC_DIR]: fails (exit 1) when a module imports a higher layer, a sibling
// folder of its own layer, or when modules import each other in a circle (type-only imports
// count: they couple the files just the same). Run by `npm run lint`; the layers are
// explained in docs/architecture.md, which must say the same as LAYERS below.
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/**
 * Lowest first. A module may import any module of a LOWER layer and any module of its own
 * folder (src/<folder>/…); never a higher layer, nor another folder of its own layer.
 * A top-level file (src/x.ts) counts as the folder "x". `base` is one group: its members
 * import each other freely (no cycles).
 */
export const LAYERS = [
  ['base', ['types', 'clock', 'util']],
  ['config', ['config']],
  ['observe', ['observe']],
  ['domain', ['pipeline', 'journal', 'devices']],
  ['flow', ['ingest', 'sink', 'sources']],
  ['daemon', ['daemon']],
  ['cli', ['cli']],
];

const rank = new Map();
const group = new Map();
LAYERS.forEach(([name, folders], i) => folders.forEach((f) => (rank.set(f, i), group.set(f, name))));

function walk(dir, out = []) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (/\.(ts|mts)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Relative imports of a file (static, `import type`, re-exports, dynamic `import()`), as resolved .ts paths. */
function importsOf(file) {
  const info = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
  return info.importedFiles
    .map((f) => f.fileName)
    .filter((s) => s.startsWith('.'))
    .map((s) => path.resolve(path.dirname(file), s.replace(/\.js$/, '.ts').replace(/\.mjs$/, '.mts')));
}

export function check(root) {
  root = path.resolve(root);
  const folderOf = (f) =>
    path
      .relative(root, f)
      .split(path.sep)[0]
      .replace(/\.m?ts$/, '');
  const files = walk(root);
  const graph = new Map(files.map((f) => [f, importsOf(f).filter((t) => t.startsWith(root + path.sep))]));
  const problems = [];
  const rel = (f) => path.relative(process.cwd(), f);
  for (const f of files) {
    const a = folderOf(f);
    if (!rank.has(a)) {
      problems.push(`${rel(f)}: src/${a} has no layer (add it to LAYERS in scripts/check-layers.mjs and to docs/architecture.md)`);
      continue;
    }
    for (const t of graph.get(f)) {
      const b = folderOf(t);
      if (a === b || !rank.has(b)) continue;
      const sameGroup = group.get(a) === group.get(b);
      if (rank.get(b) > rank.get(a))
        problems.push(`${rel(f)} imports ${rel(t)}: ${a} (${group.get(a)}) may not import the higher layer ${b} (${group.get(b)})`);
      else if (sameGroup && group.get(a) !== 'base')
        problems.push(`${rel(f)} imports ${rel(t)}: ${a} and ${b} are one layer (${group.get(a)}); pass an interface down instead`);
    }
  }
  for (const c of cycles(graph)) problems.push(`import cycle among ${c.length} files (each reaches the others): ${c.map(rel).join(', ')}`);
  return problems;
}

/** Strongly connected components of more than one file, or a file importing itself (Tarjan). */
function cycles(g) {
  let i = 0;
  const stack = [],
    on = new Set(),
    idx = new Map(),
    low = new Map(),
    out = [];
  const visit = (v) => {
    idx.set(v, i);
    low.set(v, i);
    i++;
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!g.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const c = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1 || g.get(v).includes(v)) out.push(c.reverse());
    }
  };
  for (const v of g.keys()) if (!idx.has(v)) visit(v);
  return out;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('check-layers.mjs')) {
  const problems = check(process.argv[2] ?? 'src');
  for (const p of problems) console.error(p);
  if (problems.length > 0) {
    console.error(`check-layers: ${problems.length} problem(s); the layers are in docs/architecture.md`);
    process.exit(1);
  }
  console.log('check-layers: no upward import, no import cycle');
}
