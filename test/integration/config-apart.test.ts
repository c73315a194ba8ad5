import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfigApart } from '../../src/cli/config-apart.js';
import { loadConfig } from '../../src/cli/load-config.js';
import { formatIssueWithCode } from '../../src/config/issues.js';
import { tempDir } from '../helpers/net.js';

// The daemon's config loaded in a real child process (src/cli/config-worker.ts, run from
// the sources through tsx): what it hands back is what the loader in this process finds.

const TSX = ['--import', 'tsx'];
let dir: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  dir = await tempDir('edgeflux-config-apart-');
});
afterAll(async () => {
  await dir.cleanup();
});
afterEach(() => {
  vi.useRealTimers();
});

const valid = `
broker: { host: 127.0.0.1, port: 0 }
rules:
  - topic: "s/{device}/{measurement}"
    format: json
outputs:
  - { id: local, type: influxdb_v1, url: "http://127.0.0.1:8086", database: "\${DB}", password_file: ./influx.pass }
spool: { dir: ./spool, sync: always }
`;

function deeplyFrozen(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return true;
  return Object.isFrozen(v) && Object.values(v).every(deeplyFrozen);
}

describe('loadConfigApart', () => {
  it('hands back the config the loader builds here, deeply frozen, with ${ENV} from the given environment', async () => {
    const file = join(dir.path, 'valid.yaml');
    await writeFile(file, valid);
    await writeFile(join(dir.path, 'influx.pass'), 's3cret\n', { mode: 0o600 });
    await chmod(join(dir.path, 'influx.pass'), 0o600);
    const env = { ...process.env, DB: 'from_env' };
    const here = await loadConfig(file, env);
    const apart = await loadConfigApart(file, { env, execArgv: TSX });
    expect(here.ok).toBe(true);
    expect(apart.load).toEqual(here);
    if (!apart.load.ok) throw new Error('unreachable');
    expect(apart.load.config.outputs[0]).toMatchObject({ database: 'from_env', password: 's3cret' });
    expect(deeplyFrozen(apart.load.config)).toBe(true);
    expect(apart.permissions).toEqual([]);
  });

  it('hands back every issue with its place and code, as the loader here finds them', async () => {
    const file = join(dir.path, 'bad.yaml');
    await writeFile(file, 'broker:\n  prot: 1883\nrules:\n  - topic: "a/{x"\n    format: json\noutputs: []\n');
    const here = await loadConfig(file);
    const apart = await loadConfigApart(file, { execArgv: TSX });
    expect(apart.load).toEqual(here);
    if (apart.load.ok) throw new Error('the bad config was accepted');
    expect(apart.load.errors.map(formatIssueWithCode)).toEqual([
      `${file}:2:3 broker.prot: unknown key "prot" (did you mean "port"?) [EFX_CONFIG_UNKNOWN_KEY]`,
      expect.stringMatching(/bad\.yaml:4:5 rules\[0\]\.topic: invalid topic template.* \[EFX_CONFIG_INVALID\]$/),
      `${file}:6:1 outputs: at least one output is required [EFX_CONFIG_INVALID]`,
    ]);
  });

  it('says which secret files every user may read', async () => {
    const file = join(dir.path, 'readable.yaml');
    await writeFile(file, valid);
    await writeFile(join(dir.path, 'influx.pass'), 's3cret\n');
    await chmod(join(dir.path, 'influx.pass'), 0o644);
    const apart = await loadConfigApart(file, { env: { ...process.env, DB: 'db' }, execArgv: TSX });
    expect(apart.permissions.map((w) => w.path)).toEqual([join(dir.path, 'influx.pass')]);
  });

  it('rejects, naming the cause, when the child ends without an answer', async () => {
    const file = join(dir.path, 'valid.yaml');
    await expect(loadConfigApart(file, { execArgv: ['--import', 'data:text/javascript,process.exit(7)'] })).rejects.toThrow(
      'config loader (a child process) ended without an answer (exit code 7)',
    );
  });

  it('kills a child that does not answer within the timeout and rejects', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const file = join(dir.path, 'valid.yaml');
    // The child's --import never settles: it never reaches the loader.
    const hung = loadConfigApart(file, { timeoutMs: 5000, execArgv: ['--import', 'data:text/javascript,setInterval(()=>{},1e3);await new Promise(()=>{})'] });
    const settled = vi.fn();
    hung.then(settled, settled);
    await vi.advanceTimersByTimeAsync(4999);
    expect(settled).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    await expect(hung).rejects.toThrow('config loader (a child process) gave no answer within 5 s');
  });
});
