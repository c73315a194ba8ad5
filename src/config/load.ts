/**
 * Loading the config file: YAML → `${ENV}` substitution → schema (defaults, units,
 * `*_file` secrets) → a deeply frozen `Config`, or the list of EVERY problem found, each
 * with file:line:column and the dotted key (`outputs[0].batch.max_age`).
 */
import { readFile, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node, type YAMLError } from 'yaml';
import type { z } from 'zod';
import { configJsonSchema, createConfigSchema } from './schema.js';
import { isSecretPath, substituteEnv, type Path, type PathIssue, type SecretPolicy } from './secrets.js';
import { buildDevices, checkDeviceConfig } from './schema-profiles.js';
import { loadProfiles } from '../devices/profiles/load.js';
import { RuleSet } from '../devices/rules.js';
import { compileTopicTemplate, coveringFilters, filterCovers, isTemplateError } from '../util/topic-template.js';
import { SELF_SOURCE_ID } from '../types.js';
import type { Config } from './types.js';

export interface ConfigIssue {
  readonly file: string;
  /** 1-based; 0 when the problem is the file itself (unreadable). */
  readonly line: number;
  readonly column: number;
  /** Dotted path such as `outputs[0].batch.max_age`; empty for the whole file. */
  readonly key: string;
  readonly message: string;
}

/** `warnings`, each at its place: secrets left unread under `LoadOptions.secrets: 'warn'`, `ignore:` filters that shadow a rule. */
export type LoadResult = { readonly ok: true; readonly config: Config; readonly warnings?: readonly ConfigIssue[] } | { readonly ok: false; readonly errors: readonly ConfigIssue[] };

export interface LoadOptions {
  /**
   * `read` (default, the daemon): every secret is read, an unreadable one or an unset
   * `${ENV}` in one is an error. `warn` (`edgeflux check` from a shell): those are warnings
   * naming the reference or file, the rest is validated as usual. `skip` (tools that need
   * no secrets, e.g. `spool status`): secrets are not read at all.
   */
  readonly secrets?: 'read' | 'warn' | 'skip';
}

const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
const READ_TIMEOUT_MS = 5000;

/** `edgeflux.yaml:12:5 outputs[0].batch.max_age: invalid duration "1x" (use e.g. ...)` */
export function formatIssue(i: ConfigIssue): string {
  const place = i.line > 0 ? `${i.file}:${i.line}:${i.column}` : i.file;
  return i.key ? `${place} ${i.key}: ${i.message}` : `${place}: ${i.message}`;
}

/** Reads and validates a config file. `env` defaults to `process.env`. */
export async function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env, opts: LoadOptions = {}): Promise<LoadResult> {
  let text: string;
  try {
    const st = await stat(path);
    if (st.isFile() && st.size > MAX_CONFIG_BYTES) throw Object.assign(new Error(), { code: 'E2BIG' });
    text = await readFile(path, { encoding: 'utf8', signal: AbortSignal.timeout(READ_TIMEOUT_MS) });
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'E2BIG' ? `larger than ${MAX_CONFIG_BYTES} bytes` : code === 'ABORT_ERR' ? 'timed out' : (code ?? 'read failed');
    return { ok: false, errors: [{ file: path, line: 0, column: 0, key: '', message: `cannot read the config file: ${why}` }] };
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
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: true });
  const at = (offset: number, key = '') => {
    const p = lineCounter.linePos(offset);
    return { file, line: p.line, column: p.col, key };
  };
  // YAML messages may quote source text (which may hold a secret): keep only the description.
  const unclosed = unclosedQuote(doc, text, doc.errors);
  const yamlIssues = unclosed
    ? [{ ...at(unclosed.offset), message: `this ${unclosed.quote} quote is never closed (the string runs on to the end of the file)` }]
    : [...doc.errors, ...doc.warnings].map((e) => ({ ...at(e.pos[0]), message: e.message.replace(/:\s*".*$/s, '') }));
  if (yamlIssues.length) return { ok: false, errors: sortIssues(yamlIssues) };

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { ok: false, errors: [{ ...at(0), message: (err as Error).message }] };
  }
  if (raw === null || raw === undefined) return { ok: false, errors: [{ ...at(0), message: 'the config file is empty' }] };
  const mode = opts.secrets ?? 'read';
  const substituted = substituteEnv(raw, env, mode !== 'read');
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
  const parsed = await schema.safeParseAsync(substituted.value, { error: zodMessage });

  const issues: PathIssue[] = [...substituted.issues];
  if (!parsed.success) {
    for (const zi of parsed.error.issues) {
      // A value whose ${ENV} failed also fails the schema: report the cause only.
      if (substituted.issues.some((e) => startsWith(zi.path, e.path))) continue;
      issues.push(...splitIssue(zi, substituted.value));
    }
  }
  if (issues.length) {
    // The profile checks need a valid config; their main findings (a broken profile file,
    // an unknown profile name) are still reported in this same pass.
    const early = await profileNameIssues(substituted.value, baseDir);
    issues.push(...early.issues);
    return { ok: false, errors: sortIssues([...early.profileErrors, ...issues.map((i) => ({ ...locate(doc, i.path, at), message: i.message }))]) };
  }
  if (!parsed.success) throw new Error('unreachable: schema failed without issues');
  const devices = await withDevices(parsed.data, substituted.value);
  if (!devices.ok) {
    return { ok: false, errors: sortIssues([...devices.profileErrors, ...devices.issues.map((i) => ({ ...locate(doc, i.path, at), message: i.message }))]) };
  }
  const warnings = sortIssues([
    ...unread.map((i) => ({ ...locate(doc, i.path, at), message: `${i.message} (not read: the daemon reads it where it runs)` })),
    ...shadowedRules(devices.config).map((i) => ({ ...locate(doc, i.path, at), message: i.message })),
  ]);
  return { ok: true, config: freeze(devices.config) as Config, ...(warnings.length > 0 && { warnings }) };
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

/**
 * The YAML parser reports a missing closing quote where the text ends, and whatever else
 * the runaway string breaks after it: find the quoted scalar that swallowed the rest and
 * report only its opening quote.
 */
function unclosedQuote(doc: Document, text: string, errors: readonly YAMLError[]): { offset: number; quote: string } | undefined {
  if (!errors.some((e) => e.code === 'MISSING_CHAR' && /closing .?quote/i.test(e.message))) return undefined;
  let found: { offset: number; quote: string } | undefined;
  visit(doc, {
    Scalar(_key, node) {
      if ((node.type !== 'QUOTE_DOUBLE' && node.type !== 'QUOTE_SINGLE') || !node.range) return;
      const quote = node.type === 'QUOTE_DOUBLE' ? '"' : "'";
      const source = text.slice(node.range[0], node.range[1]).trimEnd();
      if (source.length < 2 || !source.endsWith(quote)) found ??= { offset: node.range[0], quote };
    },
  });
  return found;
}

/**
 * For a config that failed the schema: the user's profile files' own errors, and
 * `devices[].profile` / `serial[].profile` names that no profile has, read from the raw
 * input (the full device checks run once the rest is valid).
 */
async function profileNameIssues(input: unknown, baseDir: string): Promise<{ profileErrors: readonly ConfigIssue[]; issues: PathIssue[] }> {
  const raw = (input ?? {}) as { device_profiles?: { dirs?: unknown }; devices?: unknown; serial?: unknown };
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  const dirs = list(raw.device_profiles?.dirs).filter((d): d is string => typeof d === 'string' && d !== '').map((d) => resolve(baseDir, d));
  const named = [
    ...list(raw.devices).map((d, i) => ({ path: ['devices', i, 'profile'], name: (d as { profile?: unknown } | null)?.profile })),
    ...list(raw.serial).map((s, i) => ({ path: ['serial', i, 'profile'], name: (s as { profile?: unknown } | null)?.profile })),
  ].filter((n): n is { path: (string | number)[]; name: string } => typeof n.name === 'string' && n.name !== '');
  if (dirs.length === 0 && named.length === 0) return { profileErrors: [], issues: [] };
  const loaded = await loadProfiles({ dirs });
  if (!loaded.ok) return { profileErrors: loaded.errors, issues: [] };
  const known = [...loaded.catalog.profiles.keys()].sort().join(', ');
  const issues = named.filter((n) => !loaded.catalog.profiles.has(n.name)).map((n) => ({ path: n.path, message: `unknown profile "${n.name}" (available: ${known})` }));
  return { profileErrors: [], issues };
}

/** The parts of the config that the device checks read. */
type DevicesPart = Pick<Config, 'device_profiles' | 'devices' | 'serial' | 'broker' | 'rules' | 'limits'> & {
  readonly mqtt: readonly { readonly id: string; readonly subscriptions: Config['mqtt'][number]['subscriptions'] }[];
};

type DevicesResult<C> = { readonly ok: true; readonly config: C } | { readonly ok: false; readonly profileErrors: readonly ConfigIssue[]; readonly issues: readonly PathIssue[] };

/**
 * The checks that need the device profiles (loaded only when the config uses or adds
 * some): profile files' own errors (at their file:line), then `devices[]` / `serial[]`
 * against the catalog. MQTT sources without explicit `subscriptions` get the profiles'
 * filters besides the rules' (one covering set, so no message arrives twice).
 */
async function withDevices<C extends DevicesPart>(c: C, input: unknown): Promise<DevicesResult<C>> {
  if (c.devices.length === 0 && c.serial.length === 0 && c.device_profiles.dirs.length === 0) return { ok: true, config: c };
  const loaded = await loadProfiles({ dirs: c.device_profiles.dirs });
  if (!loaded.ok) return { ok: false, profileErrors: loaded.errors, issues: [] };
  const otherIds = ['broker', SELF_SOURCE_ID, ...c.mqtt.map((m) => m.id)]; // serial ids must not reuse a source id
  const issues = checkDeviceConfig(c, loaded.catalog, otherIds);
  if (issues.length > 0) return { ok: false, profileErrors: [], issues };
  if (c.devices.length === 0) return { ok: true, config: c };
  const { filters } = buildDevices(c, loaded.catalog, { maxPayload: c.limits.max_payload });
  const rawMqtt = (input as { mqtt?: unknown } | null)?.mqtt;
  const explicit = (i: number) => Array.isArray(rawMqtt) && (rawMqtt[i] as { subscriptions?: unknown } | null)?.subscriptions !== undefined;
  const defaults = coveringFilters([...new RuleSet(c.rules, c.limits).filters(), ...filters]).map((topic) => ({ topic, qos: 1 as const }));
  return { ok: true, config: { ...c, mqtt: c.mqtt.map((m, i) => (explicit(i) ? m : { ...m, subscriptions: defaults })) } };
}

/** Unknown keys come as one issue per object: report each at its own key, with a suggestion. */
function splitIssue(zi: z.core.$ZodIssue, input: unknown): PathIssue[] {
  const path = zi.path.filter((s): s is string | number => typeof s !== 'symbol');
  if (zi.code !== 'unrecognized_keys') return [{ path, message: zi.message }];
  const known = knownKeys(path, input);
  return zi.keys.map((k) => {
    const near = closest(k, known);
    return { path: [...path, k], message: `unknown key "${k}"${near ? ` (did you mean "${near}"?)` : ''}` };
  });
}

/** Messages for schema issues. Never quotes the input: it may be a secret. */
function zodMessage(iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'required';
      return `expected ${iss.expected === 'int' ? 'an integer' : kindName(iss.expected)}, got ${kindOf(iss.input)}`;
    case 'too_small':
    case 'too_big': {
      const small = iss.code === 'too_small';
      const bound = Number(small ? iss.minimum : iss.maximum);
      if (iss.origin === 'array') return `needs at ${small ? 'least' : 'most'} ${bound} entr${bound === 1 ? 'y' : 'ies'}`;
      if (iss.origin === 'string') return small && bound === 1 ? 'must not be empty' : `must have at ${small ? 'least' : 'most'} ${bound} characters`;
      return `must be ${small ? '>' : '<'}${iss.inclusive ? '=' : ''} ${bound}`;
    }
    case 'invalid_value':
      return `expected one of: ${iss.values.map((v) => String(v)).join(', ')}`;
    case 'invalid_union': {
      const options = (iss as { options?: unknown[] }).options;
      if (Array.isArray(options)) return `must be one of: ${options.join(', ')}`;
      return undefined;
    }
    default:
      return undefined;
  }
}

function kindName(expected: string): string {
  return expected === 'object' ? 'a mapping' : expected === 'array' ? 'a list' : `a ${expected}`;
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'a mapping' : `a ${typeof v}`;
}

/** Position of the deepest node of `path` that exists: the key itself, or its nearest parent. */
export function locate(doc: Document, path: Path, at: (offset: number, key: string) => Omit<ConfigIssue, 'message'>) {
  let node: unknown = doc.contents;
  let offset = (doc.contents as Node | null)?.range?.[0] ?? 0;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      offset = (pair.key as Node).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number' && node.items[seg]) {
      offset = (node.items[seg] as Node).range?.[0] ?? offset;
      node = node.items[seg];
    } else {
      break;
    }
  }
  return at(offset, keyOf(path));
}

/** `outputs[0].batch.max_age`; keys that are not identifiers in brackets: `tags["a.b"]`. */
export function keyOf(path: Path): string {
  let s = '';
  for (const seg of path) {
    if (typeof seg === 'number') s += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) s += s ? `.${seg}` : seg;
    else s += `[${JSON.stringify(seg)}]`;
  }
  return s;
}

function sortIssues(list: ConfigIssue[]): ConfigIssue[] {
  return list.map((x, i) => [x, i] as const).sort(([a, i], [b, j]) => a.line - b.line || a.column - b.column || i - j).map(([x]) => x);
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

function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDist = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDist) [best, bestDist] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] as number;
}

/** Deep-freezes plain data, dropping keys whose value is undefined. */
function freeze<T>(v: T): T {
  if (Array.isArray(v)) return Object.freeze(v.map(freeze)) as T;
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = freeze(x);
    return Object.freeze(out) as T;
  }
  return v;
}
