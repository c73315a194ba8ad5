/**
 * Secrets are never required inline in the config file:
 * - `${NAME}` in any string value is replaced by the environment variable NAME
 *   (`${NAME:-default}` when unset or empty; `$${` writes a literal `${`). This also makes
 *   systemd credentials work: `password_file: ${CREDENTIALS_DIRECTORY}/mqtt-password`.
 * - `*_file` keys (password_file, token_file, tls.ca_file/cert_file/key_file) are read
 *   from disk, relative paths against the config file's directory.
 * Error messages name the variable or the file, never a secret's value.
 */
import { z } from 'zod';
import type { ErrorCode } from '../util/errors.js';
import { readSecretPerPolicy, UNREAD_SECRET, type ReadSecretOptions, type TextResult } from './secret-file.js';

export {
  MAX_SECRET_FILE_BYTES,
  readSecretFile,
  readSecretPerPolicy,
  UNREAD_SECRET,
  type ReadSecretOptions,
  type SecretPolicy,
  type TextResult,
} from './secret-file.js';

export type Path = readonly (string | number)[];

export interface PathIssue {
  readonly path: Path;
  readonly message: string;
  /** Absent: EFX_CONFIG_INVALID. */
  readonly code?: ErrorCode;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

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
