/**
 * The spool directory must be writable: checked before the journal opens (a probe file
 * written, fsynced and removed), so that a read-only, missing or foreign directory stops
 * the start with an error naming the path and the fix instead of a LevelDB message (or a
 * hang). `spoolDirError` words the same errors when they happen at run time.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Errors that will not pass by themselves: the daemon exits on them (systemd sees it). */
export const FATAL_SPOOL_CODES: ReadonlySet<string> = new Set(['EROFS', 'EACCES', 'EPERM', 'ENOENT', 'ENOTDIR']);

/** An Error whose message names `dir`, what is wrong, and the fix. */
export function spoolDirError(dir: string, err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  const code = e?.code ?? 'EUNKNOWN';
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  const fix: Record<string, string> = {
    EROFS: `${dir} is on a read-only filesystem: remount it read-write (mount -o remount,rw), or set spool.dir to a writable directory`,
    EACCES: `no permission to write in ${dir}${uid !== undefined ? ` (running as uid ${uid})` : ''}: give the directory to the service user (chown), or set spool.dir to a writable directory (systemd: StateDirectory=edgeflux)`,
    ENOENT: `${dir} does not exist (or was removed while running): create it (systemd: StateDirectory=edgeflux), or set spool.dir to an existing directory`,
    ENOTDIR: `${dir} is not a directory: set spool.dir to a directory`,
    ENOSPC: `no space left on the disk holding ${dir}: free space on it`,
  };
  fix.EPERM = fix.EACCES!;
  const out = new Error(`spool: ${fix[code] ?? `cannot write to ${dir}: ${e?.message ?? String(err)}`} (${code})`) as NodeJS.ErrnoException;
  out.code = code;
  return out;
}

/** Creates `dir` if missing and proves it writable; throws `spoolDirError` otherwise. */
export function checkSpoolDir(dir: string): void {
  const probe = path.join(dir, `.write-test-${process.pid}`);
  try {
    fs.mkdirSync(dir, { recursive: true });
    const fd = fs.openSync(probe, 'w');
    try {
      fs.writeSync(fd, 'edgeflux');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.unlinkSync(probe);
  } catch (err) {
    throw spoolDirError(dir, err);
  }
}
