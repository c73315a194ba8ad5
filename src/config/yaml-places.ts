/**
 * YAML → data with every problem placed at file:line:column and a dotted key, for the
 * config file (load.ts) and the device profiles (devices/profiles/load.ts) alike: parse
 * with a LineCounter, validate with zod (messages that never quote the input), then
 * locate each issue's path in the document (the deepest existing node of the path).
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node, type YAMLError } from 'yaml';
import type { z } from 'zod';
import type { ErrorCode } from '../util/errors.js';
import type { ConfigIssue, IssuePath } from './issues.js';

export { formatIssue, formatIssueWithCode, issueCode, type ConfigIssue, type IssuePath } from './issues.js';

export interface ParsedYaml {
  readonly doc: Document;
  /** The document as plain data (undefined when it has YAML errors). */
  readonly data: unknown;
  /** YAML syntax errors, placed. */
  readonly issues: ConfigIssue[];
  /** Places a path of the document (for semantic checks after the schema). */
  place(path: IssuePath, message: string, code?: ErrorCode): ConfigIssue;
}

/** Parses YAML text; `merge` allows `<<:` merge keys (the config file does, profiles do not). */
export function parseYaml(text: string, file: string, opts: { readonly merge?: boolean } = {}): ParsedYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, ...(opts.merge && { merge: true }) });
  const at = (offset: number, key = '') => {
    const p = lineCounter.linePos(offset);
    return { file, line: p.line, column: p.col, key };
  };
  // YAML messages may quote source text (which may hold a secret): keep only the description.
  const unclosed = unclosedQuote(doc, text, doc.errors);
  const issues: ConfigIssue[] = unclosed
    ? [
        {
          ...at(unclosed.offset),
          message: `this ${unclosed.quote} quote is never closed (the string runs on to the end of the file)`,
          code: 'EFX_CONFIG_SYNTAX',
        },
      ]
    : [...doc.errors, ...doc.warnings].map((e) => ({ ...at(e.pos[0]), message: e.message.replace(/:\s*".*$/s, ''), code: 'EFX_CONFIG_SYNTAX' }));
  let data: unknown;
  if (issues.length === 0) {
    try {
      data = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      issues.push({ ...at(0), message: (err as Error).message, code: 'EFX_CONFIG_SYNTAX' });
    }
  }
  return { doc, data, issues, place: (path, message, code) => ({ ...locate(doc, path, at), message, ...(code && { code }) }) };
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

/** Position of the deepest node of `path` that exists: the key itself, or its nearest parent. */
export function locate(doc: Document, path: IssuePath, at: (offset: number, key: string) => Omit<ConfigIssue, 'message'>) {
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
export function keyOf(path: IssuePath): string {
  let s = '';
  for (const seg of path) {
    if (typeof seg === 'number') s += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) s += s ? `.${seg}` : seg;
    else s += `[${JSON.stringify(seg)}]`;
  }
  return s;
}

/** Issues in file order (line, then column), stable otherwise. */
export function sortIssues(list: readonly ConfigIssue[]): ConfigIssue[] {
  return list
    .map((x, i) => [x, i] as const)
    .sort(([a, i], [b, j]) => a.line - b.line || a.column - b.column || i - j)
    .map(([x]) => x);
}

/**
 * zod issue → message in edgeflux's words, for the config file and the profiles alike
 * (pass as `{ error: zodIssueMessage }`). Never quotes the input: it may be a secret.
 */
export function zodIssueMessage(iss: z.core.$ZodRawIssue): string | undefined {
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

/** Schema issues as path + message; unknown keys become one issue per key. */
export function zodIssues(error: z.ZodError, prefix: IssuePath = []): { path: IssuePath; message: string; code?: ErrorCode }[] {
  const out: { path: IssuePath; message: string; code?: ErrorCode }[] = [];
  for (const zi of error.issues) {
    const path = [...prefix, ...zi.path.filter((s): s is string | number => typeof s !== 'symbol')];
    if (zi.code === 'unrecognized_keys')
      for (const k of zi.keys) out.push({ path: [...path, k], message: `unknown key "${k}"`, code: 'EFX_CONFIG_UNKNOWN_KEY' });
    else out.push({ path, message: zi.message });
  }
  return out;
}
