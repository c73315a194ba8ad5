import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkSpoolDir, SPOOL_DIR_CODES, spoolDirError } from '../../src/journal/spool-dir.js';
import { CodedError, errorMessage } from '../../src/util/errors.js';
import { tempDir } from '../helpers/net.js';

// The spool directory's errors carry a code of the troubleshooting table (EFX_SPOOL_DIR_*),
// name the path and the fix, and keep the system's error as their cause. (A read-only
// filesystem at start and a directory removed while running: test/integration/spool-disk-full.test.ts.)

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.map((c) => c()));
  cleanups = [];
});

async function dir(): Promise<string> {
  const d = await tempDir('edgeflux-spool-dir-');
  cleanups.push(d.cleanup);
  return d.path;
}

function thrown(f: () => void): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
}

describe('spool directory check', () => {
  it('a writable directory (made when missing) passes and keeps no probe file', async () => {
    const spool = join(await dir(), 'a', 'spool');
    checkSpoolDir(spool);
    expect(existsSync(spool)).toBe(true);
    expect(readdirSync(spool)).toEqual([]);
  });

  it('a path through a file: EFX_SPOOL_DIR_NOT_A_DIRECTORY, naming the path, the errno and the fix', async () => {
    const file = join(await dir(), 'file');
    writeFileSync(file, 'x');
    const spool = join(file, 'spool');
    const err = thrown(() => checkSpoolDir(spool));
    expect(err).toBeInstanceOf(CodedError);
    const e = err as CodedError;
    expect(e.code).toBe('EFX_SPOOL_DIR_NOT_A_DIRECTORY');
    expect(e.message).toBe(`spool: ${spool} is not a directory: set spool.dir to a directory (ENOTDIR)`);
    expect((e.cause as NodeJS.ErrnoException).code).toBe('ENOTDIR');
  });

  it('each errno has its code and the message of the table; any other errno is EFX_SPOOL_DIR_UNWRITABLE', () => {
    const sys = (code: string) => Object.assign(new Error(`${code}: something, open '/s/x'`), { code });
    for (const [errno, code] of Object.entries(SPOOL_DIR_CODES)) {
      const e = spoolDirError('/srv/spool', sys(errno));
      expect(e.code).toBe(code);
      expect(e.message).toBe(`${errorMessage(code, { dir: '/srv/spool', uid: process.getuid!() })} (${errno})`);
      expect(e.message).not.toMatch(/\{\w+\}/);
    }
    expect(spoolDirError('/s', sys('EROFS')).message).toBe(
      'spool: /s is on a read-only filesystem: remount it read-write (mount -o remount,rw), or set spool.dir to a writable directory (EROFS)',
    );
    expect(spoolDirError('/s', sys('EACCES')).message).toMatch(/^spool: no permission to write in \/s \(running as uid \d+\): give the directory/);
    const other = spoolDirError('/s', sys('EIO'));
    expect(other.code).toBe('EFX_SPOOL_DIR_UNWRITABLE');
    expect(other.message).toBe("spool: cannot write to /s: EIO: something, open '/s/x' (EIO)");
  });
});
