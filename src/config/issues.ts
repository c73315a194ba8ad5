/**
 * A config or profile file's problems as data, and how they are printed. Free of the YAML
 * and schema libraries, so that the daemon process can print what the config loader (run
 * apart from it, cli/config-apart.ts) found without loading them.
 */
import type { ErrorCode } from '../util/errors.js';

/** One problem of a config or profile file, with its place. */
export interface ConfigIssue {
  readonly file: string;
  /** 1-based; 0 when the problem is the file itself (unreadable). */
  readonly line: number;
  readonly column: number;
  /** Dotted path such as `outputs[0].batch.max_age`; empty for the whole file. */
  readonly key: string;
  readonly message: string;
  /** What kind of problem (docs/troubleshooting.md); absent: EFX_CONFIG_INVALID. */
  readonly code?: ErrorCode;
}

export type IssuePath = readonly (string | number)[];

/** `edgeflux.yaml:12:5 outputs[0].batch.max_age: invalid duration "1x" (use e.g. ...)` */
export function formatIssue(i: ConfigIssue): string {
  const place = i.line > 0 ? `${i.file}:${i.line}:${i.column}` : i.file;
  return i.key ? `${place} ${i.key}: ${i.message}` : `${place}: ${i.message}`;
}

/** `formatIssue` followed by the issue's code, ` [EFX_CONFIG_INVALID]`: what the CLI prints. */
export function formatIssueWithCode(i: ConfigIssue): string {
  return `${formatIssue(i)} [${issueCode(i)}]`;
}

/** The code of a config issue. */
export function issueCode(i: ConfigIssue): ErrorCode {
  return i.code ?? 'EFX_CONFIG_INVALID';
}
