/**
 * The spool directory must be writable: checked before the journal opens (a probe file
 * written, fsynced and removed), so that a read-only, missing or foreign directory stops
 * the start with an error naming the path and the fix instead of a LevelDB message (or a
 * hang). `spoolDirError` words the same errors when they happen at run time. Each carries
 * its code (util/errors.ts: EFX_SPOOL_DIR_*), the system's errno in parentheses and the
 * system error as its cause.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CodedError, errorMessage, type ErrorCode } from '../util/errors.js';

/** Errors that will not pass by themselves: the daemon exits on them (systemd sees it). */
export const FATAL_SPOOL_CODES: ReadonlySet<string> = new Set(['EROFS', 'EACCES', 'EPERM', 'ENOENT', 'ENOTDIR']);

/** The code of a spool directory error, by errno; any other errno is EFX_SPOOL_DIR_UNWRITABLE. */
export const SPOOL_DIR_CODES: Readonly<Record<string, ErrorCode>> = {
  EROFS: 'EFX_SPOOL_DIR_READ_ONLY',
  EACCES: 'EFX_SPOOL_DIR_NO_PERMISSION',
  EPERM: 'EFX_SPOOL_DIR_NO_PERMISSION',
  ENOENT: 'EFX_SPOOL_DIR_MISSING',
  ENOTDIR: 'EFX_SPOOL_DIR_NOT_A_DIRECTORY',
  ENOSPC: 'EFX_SPOOL_DIR_NO_SPACE',
};

/** A CodedError whose message names `dir`, what is wrong, and the fix; `err` (the system error) is its cause. */
export function spoolDirError(dir: string, err: unknown): CodedError {
  const errno = (err as NodeJS.ErrnoException | undefined)?.code ?? 'EUNKNOWN';
  const code = SPOOL_DIR_CODES[errno] ?? 'EFX_SPOOL_DIR_UNWRITABLE';
  const uid = typeof process.getuid === 'function' ? process.getuid() : '?';
  const detail = err instanceof Error ? err.message : String(err);
  return new CodedError(code, `${errorMessage(code, { dir, uid, detail })} (${errno})`, { cause: err });
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
