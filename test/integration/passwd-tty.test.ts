import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/daemon-process.js';
import { tempDir, waitFor } from '../helpers/net.js';

// `edgeflux passwd` on a real terminal (a pty from util-linux's `script`): it asks twice and
// the password typed never appears on the screen.

let dir: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  dir = await tempDir();
});
afterAll(async () => {
  await dir?.cleanup();
});

describe('edgeflux passwd on a terminal', () => {
  it('asks twice without echoing the password, then writes the scrypt entry', async () => {
    const file = join(dir.path, 'passwords');
    const command = [process.execPath, ...CLI, 'passwd', 'alice', '--file', file].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    child.stdout.on('data', (b: Buffer) => (screen += b.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    try {
      await waitFor(() => screen.includes('password for alice:'), 30_000, 'the first prompt');
      child.stdin.write('correct horse\r');
      await waitFor(() => screen.includes('again:'), 10_000, 'the second prompt');
      child.stdin.write('correct horse\r');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
    expect(screen).toContain('added alice');
    expect(screen).not.toContain('correct horse');
    expect(await readFile(file, 'utf8')).toMatch(/^alice:scrypt\$/m);
  });
});
