import { describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfigToRun } from '../../src/cli/load-config.js';
import { formatIssueWithCode } from '../../src/config/load.js';
import { HEAP_BESIDES_SPOOL, HEAP_PER_SPOOL_BYTE, heapNeeded, oldSpaceMiBFor } from '../../src/journal/memory-budget.js';
import { tempDir } from '../helpers/net.js';

const MiB = 1024 * 1024;
const base =
  'broker: { port: 0 }\nrules:\n  - { topic: "s/{device}/{measurement}", format: json }\noutputs:\n  - { id: local, type: influxdb_v1, url: "http://127.0.0.1:9", database: x }\n';

async function load(spool: string, heapLimit: number) {
  const dir = await tempDir();
  try {
    const file = join(dir.path, 'c.yaml');
    await writeFile(file, `${base}spool:\n${spool}`);
    return await loadConfigToRun(file, {}, heapLimit);
  } finally {
    await dir.cleanup();
  }
}

describe('memory spool budget', () => {
  it('a full memory spool needs its quota times the measured heap per byte, plus the daemon’s own heap', () => {
    expect(heapNeeded({ mode: 'memory', max_bytes: 64 * MiB })).toBe(64 * MiB * HEAP_PER_SPOOL_BYTE + HEAP_BESIDES_SPOOL);
    expect(heapNeeded({ mode: 'durable', max_bytes: 1024 * MiB })).toBe(HEAP_BESIDES_SPOOL);
    expect(oldSpaceMiBFor(64 * MiB)).toBe(Math.ceil(heapNeeded({ mode: 'memory', max_bytes: 64 * MiB }) / MiB));
  });

  it('run refuses a memory spool the heap limit cannot hold, at spool.max_bytes, with the code', async () => {
    const need = heapNeeded({ mode: 'memory', max_bytes: 100 * MiB });
    const res = await load('  mode: memory\n  max_bytes: 100MiB\n', need - 1);
    expect(res.ok).toBe(false);
    if (res.ok) return;
    expect(res.errors).toHaveLength(1);
    expect(formatIssueWithCode(res.errors[0]!)).toMatch(
      /c\.yaml:8:3 spool\.max_bytes: memory mode holding 100 MiB needs about \d+ MiB .* \[EFX_SPOOL_HEAP_TOO_SMALL\]$/,
    );
    expect((await load('  mode: memory\n  max_bytes: 100MiB\n', need)).ok).toBe(true);
  });

  it('the default memory quota is checked too; a durable spool is not (its backlog waits on disk)', async () => {
    const res = await load('  mode: memory\n', 64 * MiB);
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.errors[0]!.key).toBe('spool.max_bytes');
    expect((await load('  mode: durable\n  dir: ./spool\n  max_bytes: 4GiB\n', 64 * MiB)).ok).toBe(true);
  });
});
