import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

// The daemon process (`edgeflux run`) holds every module it ever imports for its whole life.
// The config loader's libraries (yaml, zod: ~9 MB of an idle daemon's RSS) run in a child
// process instead (src/cli/config-apart.ts); the daemon loads them only when the config
// uses device profiles, whose loader needs them at run time.

const SRC = resolve(import.meta.dirname, '../../src');

/** Value imports of a file (static, re-exports, dynamic `import()`); `import type` is erased, so skipped. */
function imports(file: string): { spec: string; dynamic: boolean }[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const out: { spec: string; dynamic: boolean }[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      const c = n.importClause;
      const typeOnly =
        c !== undefined &&
        (c.isTypeOnly ||
          (c.name === undefined && c.namedBindings !== undefined && ts.isNamedImports(c.namedBindings) && c.namedBindings.elements.every((e) => e.isTypeOnly)));
      if (!typeOnly) out.push({ spec: n.moduleSpecifier.text, dynamic: false });
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      const typeOnly =
        n.isTypeOnly || (n.exportClause !== undefined && ts.isNamedExports(n.exportClause) && n.exportClause.elements.every((e) => e.isTypeOnly));
      if (!typeOnly) out.push({ spec: n.moduleSpecifier.text, dynamic: false });
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) {
      out.push({ spec: n.arguments[0].text, dynamic: true });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** Packages reachable from `entry`, each with the chain of files that imports it; `skip(file, spec)` leaves an import out. */
function packagesFrom(entry: string, skip: (file: string, spec: string, dynamic: boolean) => boolean): Map<string, string[]> {
  const from = new Map<string, string | undefined>([[entry, undefined]]);
  const packages = new Map<string, string[]>();
  const chain = (f: string | undefined): string[] => (f === undefined ? [] : [relative(SRC, f), ...chain(from.get(f))]);
  const queue = [entry];
  for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
    for (const { spec, dynamic } of imports(f)) {
      if (skip(f, spec, dynamic)) continue;
      if (spec.startsWith('.')) {
        const target = resolve(dirname(f), spec.replace(/\.js$/, '.ts'));
        if (!from.has(target)) {
          from.set(target, f);
          queue.push(target);
        }
      } else if (!spec.startsWith('node:')) {
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        if (!packages.has(name)) packages.set(name, chain(f));
      }
    }
  }
  return packages;
}

const RUN = join(SRC, 'cli/run.ts');
const DEVICE_MESSAGES = join(SRC, 'devices/device-messages.ts');
const METRICS = join(SRC, 'observe/metrics.ts');

describe("the daemon process's imports", () => {
  it('reach neither yaml nor zod, but through the device profile loader', () => {
    const reached = packagesFrom(RUN, (file, spec) => file === DEVICE_MESSAGES && (spec === './profiles/load.js' || spec === './device-config.js'));
    expect(reached.get('yaml'), `yaml is imported by ${reached.get('yaml')?.join(' ← ')}`).toBeUndefined();
    expect(reached.get('zod'), `zod is imported by ${reached.get('zod')?.join(' ← ')}`).toBeUndefined();
    // What the daemon does load, so that the walk above is known to see the graph.
    expect([...reached.keys()]).toEqual(expect.arrayContaining(['pino', 'rxjs', 'aedes', '@influxdata/influxdb-client']));
  });

  it('reach yaml and zod through the device profile loader, when a config uses profiles', () => {
    const reached = packagesFrom(RUN, () => false);
    expect(reached.get('zod')).toContain('devices/device-messages.ts');
    expect(reached.get('yaml')).toContain('devices/device-messages.ts');
  });

  it('reach prom-client only through a dynamic import: it loads at the first scrape of /metrics (observe/metrics.ts)', () => {
    // Every import but metrics.ts' dynamic ones (of prom-client and of the gauges built on it).
    const atStart = packagesFrom(RUN, (file, _spec, dynamic) => dynamic && file === METRICS);
    expect(atStart.get('prom-client'), `prom-client is imported by ${atStart.get('prom-client')?.join(' ← ')}`).toBeUndefined();
    expect([...atStart.keys()]).toEqual(expect.arrayContaining(['pino', 'rxjs', 'aedes', '@influxdata/influxdb-client']));
    expect(packagesFrom(RUN, () => false).get('prom-client')).toContain('observe/metrics.ts');
  });
});
