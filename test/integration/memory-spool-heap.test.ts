import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { heapNeeded, oldSpaceMiBFor } from '../../src/journal/memory-budget.js';
import { CLI } from '../helpers/daemon-process.js';
import { tempDir, waitFor } from '../helpers/net.js';

// A memory-mode spool lives in node's heap: a daemon whose heap limit cannot hold a full one
// refuses to start (node would abort once the spool filled, losing all it held), naming
// spool.max_bytes and the fix; one that fits starts. `edgeflux check` under the same heap
// limit reports the same error beforehand.

const MiB = 1024 * 1024;
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

function config(maxBytes: string): string {
  return [
    'broker: { host: 127.0.0.1, port: 0 }',
    'rules:',
    '  - { topic: "s/{device}/{measurement}", format: json }',
    'outputs:',
    '  - { id: local, type: influxdb_v1, url: "http://127.0.0.1:9", database: x }',
    'service: { http: { enabled: false } }',
    'spool:',
    '  mode: memory',
    `  max_bytes: ${maxBytes}`,
    '',
  ].join('\n');
}

/** `node --max-old-space-size=MIB … edgeflux run --config FILE` (or `check`): the real CLI under that heap limit. */
function run(oldSpaceMiB: number, file: string, command: 'run' | 'check' = 'run'): { child: ChildProcess; exited: Promise<number | null>; out: () => string } {
  const child = spawn(process.execPath, [`--max-old-space-size=${oldSpaceMiB}`, ...CLI, command, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return { child, exited, out: () => out };
}

describe('memory spool against the heap limit', () => {
  it('a spool the heap cannot hold: not started, exit 2, the place, the code and the fix', async () => {
    const dir = await tempDir();
    try {
      const file = join(dir.path, 'edgeflux.yaml');
      await writeFile(file, config('256MiB'));
      const d = run(192, file);
      expect(await d.exited).toBe(2);
      const out = d.out();
      const need = Math.ceil(heapNeeded({ mode: 'memory', max_bytes: 256 * MiB }) / MiB);
      expect(out).toMatch(
        new RegExp(
          `edgeflux\\.yaml:9:\\d+ spool\\.max_bytes: memory mode holding 256 MiB needs about ${need} MiB of V8 heap, but node's heap limit is \\d+ MiB`,
        ),
      );
      expect(out).toContain(`lower spool.max_bytes, or run node with --max-old-space-size=${oldSpaceMiBFor(256 * MiB)} or more [EFX_SPOOL_HEAP_TOO_SMALL]`);
      expect(out).not.toContain('edgeflux started');
    } finally {
      await dir.cleanup();
    }
  }, 60_000);

  it('edgeflux check under the same heap limit: the same error, code and fix, exit 2; a spool that fits is ok', async () => {
    const dir = await tempDir();
    try {
      const file = join(dir.path, 'edgeflux.yaml');
      await writeFile(file, config('256MiB'));
      const [daemon, check] = [run(192, file), run(192, file, 'check')];
      expect(await check.exited).toBe(2);
      expect(await daemon.exited).toBe(2);
      const line = (out: string) => out.split('\n').find((l) => l.includes('[EFX_SPOOL_HEAP_TOO_SMALL]'));
      const said = line(check.out());
      expect(said).toMatch(
        /edgeflux\.yaml:9:\d+ spool\.max_bytes: memory mode holding 256 MiB needs about \d+ MiB of V8 heap, but node's heap limit is \d+ MiB/,
      );
      // The daemon's line carries the same text (inside its log record).
      expect(line(daemon.out())).toContain(said!.slice(said!.indexOf('spool.max_bytes:')));
      expect(check.out()).toContain('1 error in');

      await writeFile(file, config('32MiB'));
      const fits = run(256, file, 'check');
      expect(await fits.exited).toBe(0);
      expect(fits.out()).toContain('edgeflux.yaml: ok');
    } finally {
      await dir.cleanup();
    }
  }, 60_000);

  it('a spool that fits: started, and stopped cleanly by SIGTERM', async () => {
    const dir = await tempDir();
    try {
      const file = join(dir.path, 'edgeflux.yaml');
      await writeFile(file, config('32MiB'));
      const d = run(256, file);
      await waitFor(() => d.out().includes('edgeflux started') || d.child.exitCode !== null, 30_000, 'edgeflux started');
      expect(d.out()).toContain('edgeflux started');
      d.child.kill('SIGTERM');
      expect(await d.exited).toBe(0);
      expect(d.out()).not.toContain('EFX_SPOOL_HEAP_TOO_SMALL');
    } finally {
      await dir.cleanup();
    }
  }, 60_000);
});
