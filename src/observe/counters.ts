/**
 * Named counters with labels: the daemon's own figures (received, decoded, failed by
 * reason, written, retried, dropped by reason). Plain numbers now; the metrics endpoint
 * reads them through `snapshot()`.
 */
export class Counters {
  private readonly values = new Map<string, number>();

  inc(name: string, labels?: Readonly<Record<string, string>>, by = 1): void {
    const key = counterKey(name, labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  /**
   * A counter's incrementer with its label key built once: for hot paths that count per
   * message (`inc` builds the key on every call).
   */
  counter(name: string, labels?: Readonly<Record<string, string>>): (by?: number) => void {
    const key = counterKey(name, labels);
    return (by = 1) => void this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  get(name: string, labels?: Readonly<Record<string, string>>): number {
    return this.values.get(counterKey(name, labels)) ?? 0;
  }

  /** Sum of a counter over every label set. */
  total(name: string): number {
    let sum = 0;
    for (const [k, v] of this.values) if (k === name || k.startsWith(name + '{')) sum += v;
    return sum;
  }

  snapshot(): ReadonlyMap<string, number> {
    return new Map(this.values);
  }
}

function counterKey(name: string, labels?: Readonly<Record<string, string>>): string {
  if (!labels) return name;
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return name;
  return `${name}{${keys.map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',')}}`;
}
