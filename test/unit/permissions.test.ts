import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { worldReadableSecrets } from '../../src/config/permissions.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeflux-perm-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

async function file(name: string, text: string, mode: number): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, text);
  await chmod(p, mode);
  return p;
}

describe('world-readable secrets', () => {
  it('warns for a world-readable secret file and for a world-readable config with an inline secret', async () => {
    await file('token', 'secret-token\n', 0o644);
    await file('creds-token', 'secret\n', 0o600);
    const cfg = await file(
      'a.yaml',
      'outputs:\n  - { id: a, token_file: ./token }\n  - { id: b, token_file: "${CREDS}/creds-token" }\nmqtt:\n  - { id: m, password: hunter2-inline }\n',
      0o644,
    );
    const w = await worldReadableSecrets(cfg, { CREDS: dir });
    expect(w.map((x) => x.path)).toEqual([cfg, join(dir, 'token')]);
    expect(w[0]!.message).toMatch(/holds a password or token inline and is readable by every user .*mode 644/);
    expect(w.map((x) => x.message).join('\n')).not.toContain('hunter2-inline');
  });

  it('says nothing when secrets come from the environment or private files', async () => {
    await file('priv', 'x\n', 0o640);
    const cfg = await file('b.yaml', 'outputs:\n  - { id: a, token: "${INFLUX_TOKEN}", token_file: ./priv }\n', 0o644);
    expect(await worldReadableSecrets(cfg)).toEqual([]);
  });
});
