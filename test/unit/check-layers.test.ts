/**
 * The layer check that `npm run lint` runs (scripts/check-layers.mjs), run as a real
 * process on small trees: it passes the real src/, and fails, naming the files, on an
 * upward import, a sideways import within a layer, a cycle (also of type-only imports)
 * and a folder without a layer.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/net.js';

const SCRIPT = join(import.meta.dirname, '../../scripts/check-layers.mjs');
const run = promisify(execFile);

async function check(dir: string): Promise<{ code: number; out: string }> {
  try {
    const r = await run(process.execPath, [SCRIPT, dir], { timeout: 30_000 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.map((c) => c()));
  cleanups = [];
});

/** A src/ tree from `{ 'sink/a.ts': "import ...", ... }`. */
async function tree(files: Record<string, string>): Promise<string> {
  const d = await tempDir('edgeflux-layers-');
  cleanups.push(d.cleanup);
  const src = join(d.path, 'src');
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(src, name)), { recursive: true });
    await writeFile(join(src, name), text);
  }
  return src;
}

describe('check-layers', () => {
  it('passes the real src/', async () => {
    const r = await check(join(import.meta.dirname, '../../src'));
    expect(r.out).toContain('no upward import, no import cycle');
    expect(r.code).toBe(0);
  });

  it('passes downward imports and imports within a folder', async () => {
    const src = await tree({
      'cli/main.ts': "import { d } from '../daemon.js';\nexport const m = d;\n",
      'daemon.ts': "import { s } from './sink/s.js';\nimport type { J } from './journal/j.js';\nexport const d = s; export type D = J;\n",
      'sink/s.ts': "import { t } from './t.js';\nimport { p } from '../pipeline/p.js';\nexport const s = t + p;\n",
      'sink/t.ts': 'export const t = 1;\n',
      'pipeline/p.ts': "import { c } from '../config/c.js';\nimport { o } from '../observe/o.js';\nexport const p = c + o;\n",
      'journal/j.ts': 'export interface J { n: number }\n',
      'observe/o.ts': "import { u } from '../util/u.js';\nexport const o = u;\n",
      'config/c.ts': "import { u } from '../util/u.js';\nexport const c = u;\n",
      'util/u.ts': "import type { T } from '../types.js';\nexport const u: T = 1;\n",
      'types.ts': 'export type T = number;\n',
    });
    expect(await check(src)).toMatchObject({ code: 0 });
  });

  it('fails on an upward import, also a type-only or dynamic one, naming both files', async () => {
    const src = await tree({
      'observe/o.ts': "import type { S } from '../sink/s.js';\nexport type O = S;\n",
      'config/c.ts': "export const load = () => import('../devices/d.js');\n",
      'devices/d.ts': 'export const d = 1;\n',
      'sink/s.ts': 'export type S = number;\n',
    });
    const r = await check(src);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/src\/observe\/o\.ts imports .*src\/sink\/s\.ts: observe \(observe\) may not import the higher layer sink \(flow\)/);
    expect(r.out).toMatch(/src\/config\/c\.ts imports .*src\/devices\/d\.ts: config \(config\) may not import the higher layer devices \(domain\)/);
  });

  it('fails on a sideways import between two folders of one layer', async () => {
    const src = await tree({
      'sources/a.ts': "import { b } from '../sink/b.js';\nexport const a = b;\n",
      'sink/b.ts': 'export const b = 1;\n',
    });
    const r = await check(src);
    expect(r.code).toBe(1);
    expect(r.out).toContain('sources and sink are one layer (flow)');
  });

  it('fails on an import cycle within a folder, also when one side imports only types', async () => {
    const src = await tree({
      'config/load.ts': "import { schema } from './schema.js';\nexport const load = () => schema;\nexport interface Issue { m: string }\n",
      'config/schema.ts': "import type { Issue } from './load.js';\nexport const schema = (i: Issue) => i;\n",
    });
    const r = await check(src);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/import cycle among 2 files \(each reaches the others\): .*config\/(load|schema)\.ts, .*config\/(load|schema)\.ts/);
  });

  it('fails on a folder that has no layer', async () => {
    const src = await tree({ 'extras/x.ts': 'export const x = 1;\n' });
    const r = await check(src);
    expect(r.code).toBe(1);
    expect(r.out).toContain('src/extras has no layer');
  });

  it("docs/architecture.md's layer table says what LAYERS says: the same layers in order, their folders, what each may import", async () => {
    const layers = await scriptLayers();
    const rows = layerTable(await readFile(join(import.meta.dirname, '../../docs/architecture.md'), 'utf8'));
    // The doc lists the highest layer first; LAYERS the lowest.
    expect(rows.map((r) => r.layer)).toEqual(layers.map(([name]) => name).reverse());
    layers.forEach(([name, folders], i) => {
      const row = rows.find((r) => r.layer === name)!;
      expect(row.folders, `folders of ${name}`).toEqual([...folders].sort());
      // What check-layers lets it import besides its own folder: every lower layer, and
      // only in the base group, the other folders of its own layer.
      const lower = layers.slice(0, i).map(([n]) => n);
      expect(row.mayImport, `what ${name} may import`).toEqual((name === 'base' ? [...lower, 'each other'] : lower).sort());
    });
  });

  it("README's layer line lists LAYERS' folders from the top down", async () => {
    const readme = await readFile(join(import.meta.dirname, '../../README.md'), 'utf8');
    const line = /Layers: imports go downward only, `([^`]+)`/.exec(readme)?.[1];
    expect(line, 'README: "Layers: imports go downward only, `cli → …`"').toBeDefined();
    const steps = line!.split('→').map((step) =>
      step
        .replace(/[{}\s]/g, '')
        .split(',')
        .sort(),
    );
    const layers = await scriptLayers();
    expect(steps).toEqual(layers.map(([, folders]) => [...folders].sort()).reverse());
  });
});

/** LAYERS of scripts/check-layers.mjs (lowest first): [layer, folders][]. */
async function scriptLayers(): Promise<[string, string[]][]> {
  const mod = (await import(pathToFileURL(SCRIPT).href)) as { LAYERS: [string, string[]][] };
  expect(mod.LAYERS.length).toBeGreaterThan(5);
  return mod.LAYERS;
}

/**
 * The rows of the `| layer | folders | may import |` table: folders from `src/x/` and
 * `src/x.ts`; "may import" as layer names, "everything below" and "X and everything below"
 * expanded against the table's own order (highest first), "each other" kept as is.
 */
function layerTable(doc: string): { layer: string; folders: string[]; mayImport: string[] }[] {
  const head = doc.indexOf('| layer | folders | may import |');
  expect(head, 'docs/architecture.md: the table "| layer | folders | may import |"').toBeGreaterThan(-1);
  const lines = doc.slice(head).split('\n').slice(2);
  const cells = lines
    .slice(
      0,
      lines.findIndex((l) => !l.startsWith('|')),
    )
    .map((l) =>
      l
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
  const order = cells.map(([layer]) => layer!);
  const below = (layer: string): string[] => order.slice(order.indexOf(layer) + 1);
  return cells.map(([layer, folders, may]) => {
    const mayImport = (may ?? '').split(/,\s*/).flatMap((part) => {
      if (part === 'everything below') return below(layer!);
      const and = /^(\w+) and everything below$/.exec(part);
      if (and) return [and[1]!, ...below(and[1]!)];
      return [part];
    });
    const names = [...(folders ?? '').matchAll(/`src\/(\w+)(?:\/|\.ts)`/g)].map((m) => m[1]!);
    return { layer: layer!, folders: [...new Set(names)].sort(), mayImport: [...new Set(mayImport)].sort() };
  });
}
