/**
 * YAML → data with every problem placed at file:line:column and a dotted key, the way the
 * config loader (src/config/load.ts) reports them: parse with a LineCounter, validate
 * with zod (messages that never quote the input), then locate each issue's path in the
 * document (the deepest existing node of the path).
 */
import { LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { locate, type ConfigIssue } from '../../config/load.js';

export type { ConfigIssue } from '../../config/load.js';
export type IssuePath = readonly (string | number)[];

export interface ParsedYaml {
  readonly doc: Document;
  /** The document as plain data (undefined when it has YAML errors). */
  readonly data: unknown;
  /** YAML syntax errors, placed. */
  readonly issues: ConfigIssue[];
  /** Places a path of the document (for semantic checks after the schema). */
  place(path: IssuePath, message: string): ConfigIssue;
}

export function parseYaml(text: string, file: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number, key = '') => {
    const p = lineCounter.linePos(offset);
    return { file, line: p.line, column: p.col, key };
  };
  const issues: ConfigIssue[] = [...doc.errors, ...doc.warnings].map((e) => ({ ...at(e.pos[0]), message: e.message.replace(/:\s*".*$/s, '') }));
  let data: unknown;
  if (issues.length === 0) {
    try {
      data = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      issues.push({ ...at(0), message: (err as Error).message });
    }
  }
  return { doc, data, issues, place: (path, message) => ({ ...locate(doc, path, at), message }) };
}

/** zod issue → messages in the config loader's words (never quoting the input). */
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
export function zodIssues(error: z.ZodError, prefix: IssuePath = []): { path: IssuePath; message: string }[] {
  const out: { path: IssuePath; message: string }[] = [];
  for (const zi of error.issues) {
    const path = [...prefix, ...zi.path.filter((s): s is string | number => typeof s !== 'symbol')];
    if (zi.code === 'unrecognized_keys') for (const k of zi.keys) out.push({ path: [...path, k], message: `unknown key "${k}"` });
    else out.push({ path, message: zi.message });
  }
  return out;
}
