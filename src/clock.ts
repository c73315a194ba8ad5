/**
 * Arrival timestamps in ns since the epoch. InfluxDB keeps one point per series and
 * timestamp, so two readings of one series stamped with the same arrival time would
 * silently collapse into one; this clock never returns the same value twice within a
 * process (wall-clock ms scaled to ns, bumped by 1 ns when it would not increase).
 */
export interface Clock {
  /** Wall-clock time in ms (may be virtual in tests). */
  nowMs(): number;
  /** A unique, increasing arrival time in ns. */
  arrivalNs(): bigint;
}

export function systemClock(now: () => number = Date.now): Clock {
  let last = 0n;
  return {
    nowMs: now,
    arrivalNs() {
      let t = BigInt(now()) * 1_000_000n;
      if (t <= last) t = last + 1n;
      last = t;
      return t;
    },
  };
}
