import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/util/package-root.js';
import { tempDir } from '../helpers/net.js';

describe('packageRoot', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>> | undefined;
  afterEach(async () => tmp?.cleanup());

  it('is the repository root from src/ (where the profiles and the status page are)', () => {
    expect(packageRoot()).toBe(resolve(import.meta.dirname, '../..'));
  });

  it("walks up past other packages' package.json to edgeflux's, from any depth (the bundle lives in dist/cli/)", async () => {
    tmp = await tempDir('edgeflux-root-');
    await writeFile(join(tmp.path, 'package.json'), JSON.stringify({ name: 'edgeflux', version: '9.9.9' }));
    const deep = join(tmp.path, 'node_modules/other/dist/cli');
    await mkdir(deep, { recursive: true });
    await writeFile(join(tmp.path, 'node_modules/other/package.json'), JSON.stringify({ name: 'other' }));
    await writeFile(join(tmp.path, 'node_modules/other/dist/package.json'), '{ not json');
    expect(packageRoot(deep)).toBe(tmp.path);
  });

  it('says so when there is none', () => {
    expect(() => packageRoot('/')).toThrow(/no package.json of edgeflux above \//);
  });
});
