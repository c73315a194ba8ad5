/**
 * Loading the config file: YAML → `${ENV}` substitution → schema (defaults, units,
 * `*_file` secrets) → a deeply frozen `Config`, or the list of EVERY problem found, each
 * with file:line:column and the dotted key (`outputs[0].batch.max_age`).
 */
import { readFile, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { z } from 'zod';
import { configJsonSchema, createConfigSchema } from './schema.js';
import { isSecretPath, substituteEnv, type Path, type PathIssue, type SecretPolicy } from './secrets.js';
import { compileTopicTemplate, filterCovers, isTemplateError } from '../util/topic-template.js';
import type { Config } from './types.js';
import { parseYaml, sortIssues, zodIssueMessage, type ConfigIssue } from './yaml-places.js';
import { closest } from '../util/closest.js';
import { deepFreeze } from '../util/freeze.js';

export { formatIssue, formatIssueWithCode, issueCode, keyOf, type ConfigIssue } from './yaml-places.js';

/** What a check found: problems at config paths (placed by the loader) or placed already (a profile file's own errors). */
export interface CheckResult {
  readonly issues: readonly PathIssue[];
  readonly placed?: readonly ConfigIssue[];
}

/**
 * A check that needs more than the schema (e.g. the device profiles, devices/device-config.ts).
 * Passed in by whoever composes the loader (cli/load-config.ts), so that config/ imports
 * nothing above it.
 */
export interface ConfigCheck {
  /** Runs on the validated config. */
  valid(config: Config): Promise<CheckResult>;
  /**
   * Runs on the raw input (after `${ENV}`) when the schema failed, so that the check's main
   * findings are reported in the same pass; `baseDir` anchors relative paths.
   */
  invalid?(input: unknown, baseDir: string): Promise<CheckResult>;
}

export interface LoadOptions {
  readonly checks?: readonly ConfigCheck[];
  /**
   * `read` (default, the daemon): every secret is read, an unreadable one or an unset
   * `${ENV}` in one is an error. `warn` (`edgeflux check` from a shell): those are warnings
   * naming the reference or file, the rest is validated as usual. `skip` (tools that need
   * no secrets, e.g. `spool status`): secrets are not read at all.
   */
  readonly secrets?: 'read' | 'warn' | 'skip';
}

/** `warnings`, each at its place: secrets left unread under `LoadOptions.secrets: 'warn'`, `ignore:` filters that shadow a rule. */
export type LoadResult =
  { readonly ok: true; readonly config: Config; readonly warnings?: readonly ConfigIssue[] } | { readonly ok: false; readonly errors: readonly ConfigIssue[] };

const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
const READ_TIMEOUT_MS = 5000;

/** Reads and validates a config file. `env` defaults to `process.env`. */
export async function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env, opts: LoadOptions = {}): Promise<LoadResult> {
  let text: string;
  try {
    const st = await stat(path);
    if (st.isFile() && st.size > MAX_CONFIG_BYTES) throw Object.assign(new Error(), { code: 'E2BIG' });
    text = await readFile(path, { encoding: 'utf8', signal: AbortSignal.timeout(READ_TIMEOUT_MS) });
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'E2BIG'
          ? `larger than ${MAX_CONFIG_BYTES} bytes`
          : code === 'ABORT_ERR'
            ? 'timed out'
            : (code ?? 'read failed');
    return { ok: false, errors: [{ file: path, line: 0, column: 0, key: '', message: `cannot read the config file: ${why}`, code: 'EFX_CONFIG_UNREADABLE' }] };
  }
  return parseConfigText(text, path, env, undefined, opts);
}

/**
 * Validates config text. `file` names it in issues; `baseDir` (default: `file`'s directory)
 * anchors relative paths (`*_file`, `dead_letter.path`).
 */
export async function parseConfigText(
  text: string,
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  baseDir: string = dirname(resolve(file)),
  opts: LoadOptions = {},
): Promise<LoadResult> {
  const y = parseYaml(text, file, { merge: true });
  if (y.issues.length) return { ok: false, errors: sortIssues(y.issues) };
  if (y.data === null || y.data === undefined) return { ok: false, errors: [y.place([], 'the config file is empty')] };
  const mode = opts.secrets ?? 'read';
  const substituted = substituteEnv(y.data, env, mode !== 'read');
  const unread: PathIssue[] = mode === 'warn' ? [...substituted.unresolved] : [];
  const secrets: SecretPolicy | undefined =
    mode === 'read'
      ? undefined
      : {
          mode,
          unresolved: new Set(substituted.unresolved.map((u) => valueAt(substituted.value, u.path)).filter((v): v is string => typeof v === 'string')),
          warn: (value, message) => unread.push({ path: secretPathOf(substituted.value, value) ?? [], message }),
        };
  const schema = createConfigSchema({ baseDir, hostname: hostname(), ...(secrets && { secrets }) });
  const parsed = await schema.safeParseAsync(substituted.value, { error: zodIssueMessage });

  const issues: PathIssue[] = [...substituted.issues];
  if (!parsed.success) {
    for (const zi of parsed.error.issues) {
      // A value whose ${ENV} failed also fails the schema: report the cause only.
      if (substituted.issues.some((e) => startsWith(zi.path, e.path))) continue;
      issues.push(...splitIssue(zi, substituted.value));
    }
  }
  if (issues.length) {
    // The checks need a valid config; their main findings (e.g. a broken profile file, an
    // unknown profile name) are still reported in this same pass.
    const placed: ConfigIssue[] = [];
    for (const check of opts.checks ?? []) {
      const r = await check.invalid?.(substituted.value, baseDir);
      if (r === undefined) continue;
      placed.push(...(r.placed ?? []));
      issues.push(...r.issues);
    }
    return { ok: false, errors: sortIssues([...placed, ...issues.map((i) => y.place(i.path, i.message, i.code))]) };
  }
  if (!parsed.success) throw new Error('unreachable: schema failed without issues');
  const config = parsed.data as Config;
  for (const check of opts.checks ?? []) {
    const r = await check.valid(config);
    if (r.issues.length > 0 || (r.placed?.length ?? 0) > 0) {
      return { ok: false, errors: sortIssues([...(r.placed ?? []), ...r.issues.map((i) => y.place(i.path, i.message, i.code))]) };
    }
  }
  const warnings = sortIssues([
    ...unread.map((i) => y.place(i.path, `${i.message} (not read: the daemon reads it where it runs)`, i.code)),
    ...shadowedRules(config).map((i) => y.place(i.path, i.message)),
  ]);
  return { ok: true, config: deepFreeze(config), ...(warnings.length > 0 && { warnings }) };
}

/** An `ignore:` filter that covers a rule's whole topic leaves that rule nothing to decode. */
function shadowedRules(c: Pick<Config, 'ignore' | 'rules'>): PathIssue[] {
  const issues: PathIssue[] = [];
  c.ignore.forEach((f, i) => {
    c.rules.forEach((r, j) => {
      const tpl = compileTopicTemplate(r.topic);
      if (!isTemplateError(tpl) && filterCovers(f, tpl.filter)) {
        issues.push({ path: ['ignore', i], message: `"${f}" shadows rules[${j}] ("${r.topic}"): its messages are ignored before the rule sees them` });
      }
    });
  });
  return issues;
}

function valueAt(tree: unknown, path: Path): unknown {
  let v = tree;
  for (const seg of path) v = (v as Record<string | number, unknown> | null)?.[seg];
  return v;
}

/** Where the secret whose value (a file name) is `value` stands in the tree. */
function secretPathOf(tree: unknown, value: string, path: (string | number)[] = []): Path | undefined {
  if (typeof tree === 'string') return tree === value && isSecretPath(path) ? path : undefined;
  if (tree === null || typeof tree !== 'object') return undefined;
  for (const [k, v] of Array.isArray(tree) ? tree.entries() : Object.entries(tree)) {
    const found = secretPathOf(v, value, [...path, k]);
    if (found) return found;
  }
  return undefined;
}

/** Unknown keys come as one issue per object: report each at its own key, with a suggestion. */
function splitIssue(zi: z.core.$ZodIssue, input: unknown): PathIssue[] {
  const path = zi.path.filter((s): s is string | number => typeof s !== 'symbol');
  if (zi.code !== 'unrecognized_keys') return [{ path, message: zi.message }];
  const known = knownKeys(path, input);
  return zi.keys.map((k) => {
    const near = closest(k, known);
    return { path: [...path, k], message: `unknown key "${k}"${near ? ` (did you mean "${near}"?)` : ''}`, code: 'EFX_CONFIG_UNKNOWN_KEY' as const };
  });
}

function startsWith(path: readonly PropertyKey[], prefix: Path): boolean {
  return prefix.length <= path.length && prefix.every((s, i) => s === path[i]);
}

let jsonSchemaCache: object | undefined;

/** Keys the JSON Schema allows at `path` (for "did you mean"). */
function knownKeys(path: Path, input: unknown): string[] {
  type S = { properties?: Record<string, S>; items?: S; oneOf?: S[]; anyOf?: S[]; const?: unknown };
  const branch = (s: S | undefined, v: unknown): S | undefined => {
    const options = s?.oneOf ?? s?.anyOf;
    if (!options) return s;
    const type = (v as { type?: unknown } | null)?.type;
    return options.find((o) => o.properties?.type?.const === type) ?? options.find((o) => o.properties);
  };
  let s = branch((jsonSchemaCache ??= configJsonSchema()) as S, input);
  let v = input;
  for (const seg of path) {
    s = typeof seg === 'number' ? s?.items : s?.properties?.[seg];
    v = (v as Record<string | number, unknown> | null)?.[seg];
    s = branch(s, v);
  }
  return Object.keys(s?.properties ?? {});
}
