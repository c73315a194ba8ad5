/**
 * Reading a secret from a file (`*_file` keys, the broker's and the status page's password
 * files): bounded, with a timeout, errors naming the file and never its contents. Free of
 * the schema library, so that the daemon can read its password files without loading it.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';

export type TextResult = { readonly ok: true; readonly value: string } | { readonly ok: false; readonly error: string };

/** Largest secret or PEM file read (a CA bundle is a few hundred KiB). */
export const MAX_SECRET_FILE_BYTES = 1024 * 1024;
const READ_TIMEOUT_MS = 5000;

/**
 * How a tool that does not run the daemon treats secrets: `skip` reads none (`spool
 * status` needs none); `warn` reads them but an unreadable one is a warning, not an error
 * (`check` from an operator's shell, where `$CREDENTIALS_DIRECTORY` is not set).
 */
export interface SecretPolicy {
  readonly mode: 'skip' | 'warn';
  /** Values whose `${ENV}` reference did not resolve (already reported): not read. */
  readonly unresolved: ReadonlySet<string>;
  /** Records why the secret file named `value` was not read. */
  warn(value: string, message: string): void;
}

/** The value a secret has when it was not read under a `SecretPolicy`. */
export const UNREAD_SECRET = '<not read>';

export interface ReadSecretOptions {
  /** Directory that relative paths are resolved against (the config file's). */
  readonly baseDir: string;
  /** Absent: every secret is read and an unreadable one is an error. */
  readonly policy?: SecretPolicy;
  /** Drop trailing CR/LF (passwords, tokens written with `echo`); keep PEM as is. */
  readonly trimNewline: boolean;
  readonly timeoutMs?: number;
}

/**
 * Reads a secret from a file: a regular file, at most 1 MiB, not empty.
 * The error names the path and the reason, never any content.
 */
export async function readSecretFile(path: string, opts: ReadSecretOptions): Promise<TextResult> {
  const full = isAbsolute(path) ? path : resolve(opts.baseDir, path);
  const where = JSON.stringify(full);
  const signal = AbortSignal.timeout(opts.timeoutMs ?? READ_TIMEOUT_MS);
  let handle;
  try {
    // O_NONBLOCK: opening a FIFO must not hang; it is then refused as not a regular file.
    handle = await open(full, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    return { ok: false, error: `cannot read ${where}: ${reason(err)}` };
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) return { ok: false, error: `cannot read ${where}: not a regular file` };
    if (st.size > MAX_SECRET_FILE_BYTES) {
      return { ok: false, error: `cannot read ${where}: larger than ${MAX_SECRET_FILE_BYTES} bytes` };
    }
    let text = await handle.readFile({ encoding: 'utf8', signal });
    if (opts.trimNewline) text = text.replace(/[\r\n]+$/, '');
    if (text.trim() === '') return { ok: false, error: `${where} is empty` };
    return { ok: true, value: text };
  } catch (err) {
    return { ok: false, error: `cannot read ${where}: ${reason(err)}` };
  } finally {
    await handle.close();
  }
}

/** Reads a secret file, or not, per `opts.policy`: undefined = not read (skipped, or unreadable under `warn`). */
export async function readSecretPerPolicy(path: string, opts: ReadSecretOptions): Promise<TextResult | undefined> {
  const policy = opts.policy;
  if (policy && (policy.mode === 'skip' || policy.unresolved.has(path))) return undefined;
  const r = await readSecretFile(path, opts);
  if (r.ok || !policy) return r;
  policy.warn(path, r.error);
  return undefined;
}

function reason(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ABORT_ERR':
      return 'timed out';
    default:
      return typeof code === 'string' ? code : 'read failed';
  }
}
