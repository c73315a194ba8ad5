/**
 * Loading device profiles: the shipped ones (devices/*.yaml in the package) and the
 * user's (`device_profiles.dirs` in the config), each file validated with every problem
 * reported at file:line:column and key, like the config file.
 *
 * A user profile with the name of a shipped one replaces it (listed in `replaced`); two
 * user profiles with one name are an error. Only `*.yaml` / `*.yml` files are read.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { packageRoot } from '../../util/package-root.js';
import { checkProfile, type Profile } from './profile.js';
import { profileSchema } from './schema.js';
import { parseYaml, zodIssueMessage, zodIssues, type ConfigIssue } from '../../config/yaml-places.js';

/** devices/ at the package root. */
export const SHIPPED_PROFILES_DIR = join(packageRoot(), 'devices') + sep;

const MAX_PROFILE_BYTES = 1024 * 1024;
const IO_TIMEOUT_MS = 5000;

export interface LoadProfilesOptions {
  /** User profile directories (absolute, or relative to `baseDir`). */
  readonly dirs?: readonly string[];
  readonly baseDir?: string;
  /** Default: the package's devices/ directory. */
  readonly shippedDir?: string;
}

export interface ProfileCatalog {
  readonly profiles: ReadonlyMap<string, Profile>;
  /** Shipped profiles that a user profile of the same name replaced: name → user file. */
  readonly replaced: ReadonlyMap<string, string>;
}

export type LoadProfilesResult =
  { readonly ok: true; readonly catalog: ProfileCatalog } | { readonly ok: false; readonly errors: readonly ConfigIssue[]; readonly catalog: ProfileCatalog };

export async function loadProfiles(opts: LoadProfilesOptions = {}): Promise<LoadProfilesResult> {
  const errors: ConfigIssue[] = [];
  const profiles = new Map<string, Profile>();
  const replaced = new Map<string, string>();
  const shipped = await readDir(opts.shippedDir ?? SHIPPED_PROFILES_DIR, errors);
  for (const f of shipped) {
    const p = await loadProfileFile(f, 'shipped', errors);
    if (p === undefined) continue;
    if (profiles.has(p.spec.name))
      errors.push({ file: f, line: 1, column: 1, key: 'name', message: `duplicate profile "${p.spec.name}" (also in ${profiles.get(p.spec.name)?.file})` });
    else profiles.set(p.spec.name, p);
  }
  for (const dir of opts.dirs ?? []) {
    for (const f of await readDir(resolve(opts.baseDir ?? '.', dir), errors)) {
      const p = await loadProfileFile(f, 'user', errors);
      if (p === undefined) continue;
      const prev = profiles.get(p.spec.name);
      if (prev?.origin === 'user') {
        errors.push({ file: f, line: 1, column: 1, key: 'name', message: `duplicate profile "${p.spec.name}" (also in ${prev.file})` });
        continue;
      }
      if (prev !== undefined) replaced.set(p.spec.name, f);
      profiles.set(p.spec.name, p);
    }
  }
  const catalog = { profiles, replaced };
  return errors.length === 0 ? { ok: true, catalog } : { ok: false, errors, catalog };
}

async function readDir(dir: string, errors: ConfigIssue[]): Promise<string[]> {
  try {
    const names = await readdir(dir);
    return names
      .filter((n) => /\.ya?ml$/i.test(n))
      .sort()
      .map((n) => join(dir, n));
  } catch (err) {
    const code = (err as { code?: string }).code;
    errors.push({
      file: dir,
      line: 0,
      column: 0,
      key: '',
      message: `cannot read the profile directory: ${code === 'ENOENT' ? 'no such directory' : (code ?? 'read failed')}`,
    });
    return [];
  }
}

/** Reads and checks one profile file; problems go to `errors`. */
export async function loadProfileFile(file: string, origin: Profile['origin'], errors: ConfigIssue[]): Promise<Profile | undefined> {
  let text: string;
  try {
    const st = await stat(file);
    if (st.size > MAX_PROFILE_BYTES) throw Object.assign(new Error(), { code: 'E2BIG' });
    text = await readFile(file, { encoding: 'utf8', signal: AbortSignal.timeout(IO_TIMEOUT_MS) });
  } catch (err) {
    const code = (err as { code?: string }).code;
    errors.push({
      file,
      line: 0,
      column: 0,
      key: '',
      message: `cannot read the profile: ${code === 'E2BIG' ? `larger than ${MAX_PROFILE_BYTES} bytes` : (code ?? 'read failed')}`,
    });
    return undefined;
  }
  return parseProfileText(text, file, origin, errors);
}

/** Validates profile text; problems (placed in `file`) go to `errors`. */
export function parseProfileText(text: string, file: string, origin: Profile['origin'], errors: ConfigIssue[]): Profile | undefined {
  const y = parseYaml(text, file);
  if (y.issues.length > 0) {
    errors.push(...y.issues);
    return undefined;
  }
  if (y.data === null || y.data === undefined) {
    errors.push(y.place([], 'the profile file is empty'));
    return undefined;
  }
  const parsed = profileSchema.safeParse(y.data, { error: zodIssueMessage });
  if (!parsed.success) {
    errors.push(
      ...zodIssues(parsed.error)
        .map((i) => y.place(i.path, i.message, i.code))
        .sort((a, b) => a.line - b.line || a.column - b.column),
    );
    return undefined;
  }
  const p = checkProfile(parsed.data, file, origin);
  if (Array.isArray(p)) {
    errors.push(...p.map((i) => y.place(i.path, i.message)).sort((a, b) => a.line - b.line || a.column - b.column));
    return undefined;
  }
  return p;
}
