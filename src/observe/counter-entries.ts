/**
 * Reads `Counters` (counters.ts) as structured entries for metrics: its snapshot keys are
 * `name` or `name{k="v",...}` with label values JSON-quoted; this parses them back.
 */
import type { Counters } from './counters.js';

export interface CounterEntry {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Every counter value with its name and labels, in the snapshot's order. */
export function counterEntries(counters: Counters): CounterEntry[] {
  const out: CounterEntry[] = [];
  for (const [key, value] of counters.snapshot()) {
    const parsed = parseCounterKey(key);
    if (parsed) out.push({ ...parsed, value });
  }
  return out;
}

/** `name{a="x",b="y"}` → `{ name, labels }`; undefined when the key is not in that form. */
export function parseCounterKey(key: string): { name: string; labels: Record<string, string> } | undefined {
  const brace = key.indexOf('{');
  if (brace < 0) return key ? { name: key, labels: {} } : undefined;
  if (!key.endsWith('}')) return undefined;
  const name = key.slice(0, brace);
  const labels: Record<string, string> = {};
  let i = brace + 1;
  const end = key.length - 1;
  while (i < end) {
    const eq = key.indexOf('=', i);
    if (eq < 0 || key[eq + 1] !== '"') return undefined;
    const label = key.slice(i, eq);
    let j = eq + 2;
    while (j < end && key[j] !== '"') j += key[j] === '\\' ? 2 : 1;
    if (j >= end) return undefined;
    try {
      labels[label] = JSON.parse(key.slice(eq + 1, j + 1)) as string;
    } catch {
      return undefined;
    }
    i = j + 1;
    if (i < end) {
      if (key[i] !== ',') return undefined;
      i++;
    }
  }
  return name ? { name, labels } : undefined;
}

/** Sum of `name` over entries whose labels include every pair in `match`. */
export function sumEntries(entries: readonly CounterEntry[], name: string, match: Readonly<Record<string, string>> = {}): number {
  let sum = 0;
  for (const e of entries) {
    if (e.name !== name) continue;
    let ok = true;
    for (const k in match) if (e.labels[k] !== match[k]) ok = false;
    if (ok) sum += e.value;
  }
  return sum;
}
