import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { readFile } from 'node:fs/promises';
import { parseDocument, isMap, isScalar, isSeq, type Node } from 'yaml';

/** Keys whose value is a secret, inline or as a file. */
const SECRET_KEYS = new Set(['password', 'token']);
const SECRET_FILE_KEYS = new Set(['password_file', 'token_file', 'key_file']);

export interface PermissionWarning {
  readonly path: string;
  readonly message: string;
}

/**
 * Files holding secrets that anyone on the host may read: the config file when it holds
 * a secret inline, and every `password_file`, `token_file` and `key_file` it names (also
 * the broker's password file). Each should be readable by the service user only (e.g.
 * mode 0640 root:edgeflux, or a systemd credential). Never throws; unreadable files are
 * left to the loader, which reports them.
 */
export async function worldReadableSecrets(configPath: string, env: NodeJS.ProcessEnv = process.env): Promise<PermissionWarning[]> {
  const warnings: PermissionWarning[] = [];
  let text: string;
  try {
    text = await readFile(configPath, 'utf8');
  } catch {
    return warnings;
  }
  const base = dirname(resolve(configPath));
  let inline = false;
  const files: string[] = [];
  const walk = (node: unknown): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : '';
        const value = pair.value as Node | null;
        if (isScalar(value) && typeof value.value === 'string') {
          if (SECRET_KEYS.has(key) && !/^\$\{[^}]+\}$/.test(value.value)) inline = true;
          if (SECRET_FILE_KEYS.has(key)) files.push(value.value);
        }
        walk(value);
      }
    } else if (isSeq(node)) for (const item of node.items) walk(item);
  };
  walk(parseDocument(text).contents);

  const check = async (path: string, why: string) => {
    try {
      const st = await stat(path);
      if ((st.mode & 0o004) !== 0) {
        warnings.push({
          path,
          message: `${path} ${why} and is readable by every user on this host (mode ${(st.mode & 0o777).toString(8)}): make it readable by the service user only, e.g. chmod 640 and chgrp edgeflux`,
        });
      }
    } catch {
      // missing or unreadable: the config loader reports it
    }
  };
  if (inline) await check(resolve(configPath), 'holds a password or token inline');
  for (const f of files) {
    const expanded = f.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, n: string) => env[n] ?? '');
    await check(isAbsolute(expanded) ? expanded : resolve(base, expanded), 'holds a secret');
  }
  return warnings;
}
