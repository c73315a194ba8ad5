/**
 * What a window or throttle step remembers of a series it forgot for being idle: one
 * event time (for a window, the series' newest reading; for throttle, its last bucket's
 * start). Forgetting a series writes all its open windows (buckets), so without this a
 * returning series with a reading for one of them (a device flushing what it buffered
 * while offline, or one late reading after a quiet spell) would open that window again
 * and overwrite the written point with one built from the late readings alone.
 *
 * Bounded twice: an entry expires at the processing time the step gives (its last
 * reading's time + idle + the step's memory, at least GONE_MEMORY_MS: a restart computes
 * the same from the saved state), and at most `cap` entries are kept: past it the oldest
 * is dropped early (`remember` returns it so the step can report it: that series, if it
 * comes back, may overwrite a written point again).
 */

/** How long a gone series is remembered at least: a day (docs/shaping.md, "A quiet series that comes back"). */
export const GONE_MEMORY_MS = 86_400_000;

/** How long a step whose windows (buckets) last `periodMs` remembers a gone series: a day, or 7 periods if longer. */
export function goneMemoryMs(periodMs: number): number {
  return Math.max(GONE_MEMORY_MS, 7 * periodMs);
}

interface Gone {
  readonly time: bigint;
  /** Processing time (ms) from which on the series is forgotten altogether. */
  readonly until: number;
}

export class GoneSeries {
  /** By `remember` order, which is the order of `until` as the table forgets series in order. */
  private readonly map = new Map<string, Gone>();

  constructor(private readonly cap: number) {
    if (!(cap >= 1)) throw new RangeError(`gone series: cap must be >= 1, got ${cap}`);
  }

  /**
   * Remembers `key` with event time `time` until processing time `until`. Returns the key
   * and time of an entry dropped early to stay within the cap, if any.
   */
  remember(key: string, time: bigint, until: number, now: number): { key: string; time: bigint } | undefined {
    this.map.delete(key);
    // Expired entries at the front go first (the order is by `until`, up to ties).
    for (const [k, g] of this.map) {
      if (g.until > now) break;
      this.map.delete(k);
    }
    let dropped: { key: string; time: bigint } | undefined;
    if (this.map.size >= this.cap) {
      const [k, g] = this.map.entries().next().value as [string, Gone];
      this.map.delete(k);
      dropped = { key: k, time: g.time };
    }
    this.map.set(key, { time, until });
    return dropped;
  }

  /** The time remembered for `key`, or undefined (never gone, or expired by `now`: then dropped). */
  recall(key: string, now: number): bigint | undefined {
    if (this.map.size === 0) return undefined;
    const g = this.map.get(key);
    if (g === undefined) return undefined;
    if (g.until <= now) {
      this.map.delete(key);
      return undefined;
    }
    return g.time;
  }

  /** The series is back (its state lives in the step's table again). */
  delete(key: string): void {
    this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }
}
