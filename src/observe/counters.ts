/**
 * The daemon's event counts (received, decoded, failed by reason, written, retried,
 * dropped by reason…), one series per counter and label set, kept as plain numbers.
 * Names and labels come from COUNTER_TABLE (counter-table.ts), so TypeScript checks every
 * call. The metrics endpoint and the status figures read the series as they are (name,
 * labels, value): nothing is turned into a string key and parsed back.
 */
import { labelNames, type CounterArgs, type CounterLabels, type CounterName } from './counter-table.js';

export type { CounterArgs, CounterLabels, CounterName } from './counter-table.js';

/** One counter series at one instant. */
export interface CounterEntry<N extends CounterName = CounterName> {
  readonly name: N;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

interface Series {
  readonly name: CounterName;
  readonly labels: Readonly<Record<string, string>>;
  value: number;
}

export class Counters {
  /** Per counter, its series by label values (declared order). */
  private readonly byName = new Map<CounterName, Map<string, Series>>();
  /** Every series, in the order first counted. */
  private readonly all: Series[] = [];

  inc<N extends CounterName>(name: N, ...[labels, by = 1]: CounterArgs<N>): void {
    this.series(name, labels).value += by;
  }

  /**
   * A counter's incrementer bound to its series: for hot paths that count per message
   * (`inc` finds the series on every call).
   */
  counter<N extends CounterName>(name: N, ...[labels]: CounterArgs<N>): (by?: number) => void {
    const s = this.series(name, labels);
    return (by = 1) => void (s.value += by);
  }

  /** The value of one series (0 when never counted). */
  get<N extends CounterName>(name: N, ...[labels]: CounterArgs<N>): number {
    return this.byName.get(name)?.get(seriesKey(name, labels))?.value ?? 0;
  }

  /** Sum of a counter over every label set. */
  total(name: CounterName): number {
    let sum = 0;
    for (const s of this.byName.get(name)?.values() ?? []) sum += s.value;
    return sum;
  }

  /** The names counted so far, in the order first counted. */
  names(): CounterName[] {
    return [...this.byName.keys()];
  }

  /** Every series of `name` now (copies). */
  entries<N extends CounterName>(name: N): CounterEntry<N>[] {
    return [...(this.byName.get(name)?.values() ?? [])].map((s) => ({ name, labels: s.labels, value: s.value }));
  }

  /** Every series now (copies), in the order first counted. */
  snapshot(): CounterEntry[] {
    return this.all.map((s) => ({ name: s.name, labels: s.labels, value: s.value }));
  }

  private series<N extends CounterName>(name: N, labels: CounterLabels<N> | undefined): Series {
    let named = this.byName.get(name);
    if (named === undefined) this.byName.set(name, (named = new Map()));
    const key = seriesKey(name, labels);
    let s = named.get(key);
    if (s === undefined) {
      const own: Record<string, string> = {};
      const given = labels as Readonly<Record<string, string | undefined>> | undefined;
      // Sorted, so that /metrics prints them in the order it always has.
      for (const k of [...labelNames(name)].sort()) {
        const v = given?.[k];
        if (v !== undefined) own[k] = v;
      }
      s = { name, labels: Object.freeze(own), value: 0 };
      named.set(key, s);
      this.all.push(s);
    }
    return s;
  }
}

/** Sum of counter `name` over the entries whose labels include every pair in `match`. */
export function sumEntries<N extends CounterName>(entries: readonly CounterEntry[], name: N, match: Partial<CounterLabels<N>> = {}): number {
  let sum = 0;
  for (const e of entries) {
    if (e.name !== name) continue;
    let ok = true;
    for (const [k, v] of Object.entries(match)) if (e.labels[k] !== v) ok = false;
    if (ok) sum += e.value;
  }
  return sum;
}

/** The label values of a series in declared order (a left-out optional label as null). */
function seriesKey(name: CounterName, labels: object | undefined): string {
  const names = labelNames(name);
  if (names.length === 0) return '';
  const given = labels as Readonly<Record<string, string | undefined>> | undefined;
  return JSON.stringify(names.map((k) => given?.[k] ?? null));
}
