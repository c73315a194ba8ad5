// `npm run build`: the daemon and its command line as one bundle in dist/cli/ (esbuild).
//
// An idle daemon holds every module it loaded: its source text, its compiled code and a
// module record each. Bundled (edgeflux and the pure-JS libraries, ~450 modules, into a
// few files) with whitespace and syntax minified (names kept, so stack traces stay
// readable), an idle daemon's RSS is ~5 MB lower than the same code as one file per module
// (docs/raspberry-pi.md, "What it costs the Pi"). What is loaded only on use (mqtt.js,
// serialport, prom-client, the config loader in its child process) stays a separate chunk,
// loaded as before. A few packages stay in node_modules (EXTERNAL below). The type check is `npm run typecheck`; this only transpiles.
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

/**
 * Packages that stay in node_modules: native addons; pino with its worker-thread transports;
 * prom-client, imported with `import()` at the first scrape (a CommonJS package's named
 * exports come through node's own import, not through a bundle's); mqtt.js, loaded only
 * for `mqtt:` sources.
 */
export const EXTERNAL = ['classic-level', 'serialport', '@serialport/*', 'pino', 'pino-pretty', 'thread-stream', 'prom-client', 'mqtt'];

/**
 * Bundles `<src>/cli/main.ts` (the `edgeflux` command) and `<src>/cli/config-worker.ts`
 * (forked by config-apart.ts) into `<outdir>` (their shared code in chunk-*.js beside them).
 */
export async function bundle({ src, outdir, clean = true }) {
  if (clean) await rm(outdir, { recursive: true, force: true });
  return esbuild.build({
    entryPoints: [join(src, 'cli/main.ts'), join(src, 'cli/config-worker.ts')],
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'eof',
    external: EXTERNAL,
    // The CommonJS libraries inside call require() for node's built-ins.
    banner: { js: "import { createRequire as __edgefluxRequire } from 'node:module'; const require = __edgefluxRequire(import.meta.url);" },
    logLevel: 'warning',
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  await rm(join(root, 'dist'), { recursive: true, force: true });
  await bundle({ src: join(root, 'src'), outdir: join(root, 'dist/cli') });
}
