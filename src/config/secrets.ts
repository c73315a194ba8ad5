/**
 * Secrets are never required inline in the config file:
 * - `${NAME}` in any string value is replaced by the environment variable NAME
 *   (`${NAME:-default}` when unset or empty; `$${` writes a literal `${`). This also makes
 *   systemd credentials work: `password_file: ${CREDENTIALS_DIRECTORY}/mqtt-password`.
 * - `*_file` keys (password_file, token_file, tls.ca_file/cert_file/key_file) are read
 *   from disk, relative paths against the config file's directory.
 * Error messages name the variable or the file, never a secret's value.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import type { ErrorCode } from '../util/errors.js';

export type Path = readonly (string | number)[];

export interface PathIssue {
  readonly path: Path;
  readonly message: string;
  /** Absent: EFX_CONFIG_INVALID. */
  readonly code?: ErrorCode;
}

export type TextResult = { readonly ok: true; readonly value: string } | { readonly ok: false; readonly error: string };

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Largest secret or PEM file read (a CA bundle is a few hundred KiB). */
export const MAX_SECRET_FILE_BYTES = 1024 * 1024;
const READ_TIMEOUT_MS = 5000;

/** Replaces `${NAME}` / `${NAME:-default}` references in one string; `$${` escapes. */
export function expandEnv(text: string, env: NodeJS.ProcessEnv): TextResult {
  if (!text.includes('${')) return { ok: true, value: text };
  let out = '';
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      out += '${';
      i += 3;
      continue;
    }
    if (!text.startsWith('${', i)) {
      out += text[i];
      i++;
      continue;
    }
    const end = text.indexOf('}', i + 2);
    if (end < 0) return { ok: false, error: 'unterminated ${ reference (write $${ for a literal ${)' };
    const body = text.slice(i + 2, end);
    const sep = body.indexOf(':-');
    const name = sep < 0 ? body : body.slice(0, sep);
    if (!NAME.test(name)) {
      return { ok: false, error: `invalid environment variable name ${JSON.stringify(name)} in \${...} reference` };
    }
    const value = env[name];
    if (sep >= 0) {
      out += value === undefined || value === '' ? body.slice(sep + 2) : value;
    } else if (value === undefined) {
      return { ok: false, error: missingVariable(name) };
    } else {
      out += value;
    }
    i = end + 1;
  }
  return { ok: true, value: out };
}

function missingVariable(name: string): string {
  const hint = name === 'CREDENTIALS_DIRECTORY' ? ' (systemd sets it for services with LoadCredential=)' : ` (set it, or write \${${name}:-default})`;
  return `environment variable ${name} is not set${hint}`;
}

/** Keys whose value is a secret or names the file that holds one. */
const SECRET_KEYS = new Set(['password', 'token', 'ca', 'cert', 'key', 'password_file', 'token_file', 'ca_file', 'cert_file', 'key_file']);

/** Whether the value at `path` is a secret (or a secret's file). */
export function isSecretPath(path: Path): boolean {
  const last = path[path.length - 1];
  return typeof last === 'string' && SECRET_KEYS.has(last);
}

/**
 * Substitutes environment references in every string value of a parsed YAML tree
 * (keys are left alone). Returns a new tree; values that fail keep their text and get an
 * issue, or, for secret keys when `lenientSecrets` is set, a warning (`unresolved`).
 */
export function substituteEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  lenientSecrets = false,
): { value: unknown; issues: PathIssue[]; unresolved: PathIssue[] } {
  const issues: PathIssue[] = [];
  const unresolved: PathIssue[] = [];
  // A YAML alias may refer to its own node (`a: &x [*x]`): stop at a value already on the path.
  const open = new Set<object>();
  const walk = (v: unknown, path: (string | number)[]): unknown => {
    if (v !== null && typeof v === 'object') {
      if (open.has(v)) {
        issues.push({ path, message: 'a value that contains itself (a YAML alias to its own node)' });
        return null;
      }
      open.add(v);
      try {
        return walkInner(v, path);
      } finally {
        open.delete(v);
      }
    }
    return walkInner(v, path);
  };
  const walkInner = (v: unknown, path: (string | number)[]): unknown => {
    if (typeof v === 'string') {
      const r = expandEnv(v, env);
      if (r.ok) return r.value;
      (lenientSecrets && isSecretPath(path) ? unresolved : issues).push({ path, message: r.error, code: 'EFX_CONFIG_ENV' });
      return v;
    }
    if (Array.isArray(v)) return v.map((item, i) => walk(item, [...path, i]));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v)) out[k] = walk(item, [...path, k]);
      return out;
    }
    return v;
  };
  return { value: walk(value, []), issues, unresolved };
}

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

/** Schema field for a `*_file` key: the path as written, the file's contents once parsed. */
function secretFile(opts: ReadSecretOptions) {
  return z
    .string()
    .min(1)
    .transform(async (path, ctx) => {
      const r = await readSecretPerPolicy(path, opts);
      if (r === undefined) return UNREAD_SECRET;
      if (!r.ok) ctx.addIssue({ code: 'custom', message: r.error, input: path });
      return r.ok ? r.value : z.NEVER;
    });
}

type SecretFields<N extends string> = { [K in N]: z.ZodOptional<z.ZodString> } & {
  [K in `${N}_file`]: z.ZodOptional<ReturnType<typeof secretFile>>;
};

/** Schema fields for a secret given inline (`<name>`, e.g. a `${ENV}` reference) or by file (`<name>_file`). */
export function secretFields<N extends string>(name: N, about: string, opts: ReadSecretOptions): SecretFields<N> {
  const trim = opts.trimNewline ? ' (trailing newline ignored)' : '';
  return {
    [name]: z.string().min(1).optional().describe(`${about} Prefer ${name}_file or a \${ENV} reference to writing it inline.`),
    [`${name}_file`]: secretFile(opts)
      .optional()
      .describe(`File holding the ${name}${trim}, relative to the config file; e.g. \${CREDENTIALS_DIRECTORY}/${name} with systemd LoadCredential=.`),
  } as SecretFields<N>;
}

/**
 * `superRefine` arguments checking that `<name>` and `<name>_file` are not both set; runs
 * even when sibling keys failed, so that this error is reported with the others.
 */
export function notBoth(...names: string[]) {
  return [
    (o: unknown, ctx: z.core.$RefinementCtx) => {
      if (typeof o !== 'object' || o === null) return;
      const rec = o as Record<string, unknown>;
      for (const n of names) {
        if (rec[n] !== undefined && rec[`${n}_file`] !== undefined) {
          ctx.addIssue({ code: 'custom', message: `set either ${n} or ${n}_file, not both`, path: [`${n}_file`] });
        }
      }
    },
    { when: () => true },
  ] as const;
}
