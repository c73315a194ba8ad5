/**
 * A JSON rule's options compiled once (decode-json.ts): the sets and maps its options name,
 * the time key in each form a payload may carry it, and what the value under each flattened
 * key becomes (`planOf`).
 */
import type { JsonOptions, TimeUnit } from '../config/types.js';

export interface JsonPlan {
  readonly sep: string;
  readonly rename: ReadonlyMap<string, string>;
  readonly only: ReadonlySet<string> | undefined;
  readonly integers: ReadonlySet<string>;
  readonly tagKeys: ReadonlySet<string>;
  readonly keepStrings: boolean;
  readonly timeKey: string | undefined;
  /** `"time_key"` as it appears in a payload that does not escape it. */
  readonly timeNeedle: string;
  readonly timePath: readonly string[];
  readonly timeFlat: string;
  readonly unit: TimeUnit;
  /**
   * The fast path's plan for the key at each position of the last flat payload: a device
   * sends the same keys in the same order, and the scanner hands back the same key strings,
   * so most messages find every plan here by identity instead of four lookups per key.
   */
  readonly plans: (KeyPlan | undefined)[];
}

/** What a value under one flattened key becomes: the key after `rename`, and its role. */
export interface KeyPlan {
  readonly flat: string;
  readonly name: string;
  /** skip: an empty name (not written); drop: not among `fields`; tag; integer; field. */
  readonly kind: 'skip' | 'drop' | 'tag' | 'integer' | 'field';
}

export function compileJsonPlan(opts: JsonOptions): JsonPlan {
  return {
    sep: opts.separator,
    rename: new Map(Object.entries(opts.rename)),
    only: opts.fields.length > 0 ? new Set(opts.fields) : undefined,
    integers: new Set(opts.integers),
    tagKeys: new Set(opts.tag_keys),
    keepStrings: opts.strings !== 'drop',
    timeKey: opts.time_key,
    timeNeedle: JSON.stringify(opts.time_key ?? ''),
    timePath: opts.time_key?.split('.') ?? [],
    timeFlat: opts.time_key?.split('.').join(opts.separator) ?? '',
    unit: opts.time_unit,
    plans: [],
  };
}

/**
 * The role of the value under `flat` (the flattened key): renamed first, then a tag if
 * `tag_keys` names it (a tag even when `fields` does not list it), else dropped when
 * `fields` lists others, else an integer or a field. An empty key is skipped.
 */
export function planOf(c: JsonPlan, flat: string): KeyPlan {
  const name = c.rename.get(flat) ?? flat;
  let kind: KeyPlan['kind'];
  if (flat === '') kind = 'skip';
  else if (c.tagKeys.has(name)) kind = 'tag';
  else if (c.only !== undefined && !c.only.has(name)) kind = 'drop';
  else if (c.integers.has(name)) kind = 'integer';
  else kind = 'field';
  return { flat, name, kind };
}
