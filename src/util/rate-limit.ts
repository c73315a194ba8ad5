/**
 * Lets one event per key through every `intervalMs`, and counts how many were held back,
 * so a storm of bad messages costs one log line per topic per interval, not one per message.
 */
export class RateLimiter {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxKeys = 10_000,
  ) {}

  /** Returns the number of suppressed events since the last pass when the event may pass, else -1. */
  take(key: string): number {
    const t = this.now();
    const e = this.last.get(key);
    if (e === undefined) {
      if (this.last.size >= this.maxKeys) this.last.clear();
      this.last.set(key, { at: t, suppressed: 0 });
      return 0;
    }
    if (t - e.at >= this.intervalMs) {
      const s = e.suppressed;
      e.at = t;
      e.suppressed = 0;
      return s;
    }
    e.suppressed++;
    return -1;
  }
}
