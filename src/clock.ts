/**
 * Arrival timestamps in ns since the epoch. InfluxDB keeps one point per series and
 * timestamp, so two readings of one series stamped with the same arrival time would
 * silently collapse into one; this clock never returns the same value twice within a
 * process (wall-clock ms scaled to ns, bumped by 1 µs when it would not increase).
 * The µs step leaves each message 999 ns of its own: a line-protocol payload with several
 * untimed lines of one series stamps them t, t+1 ns, t+2 ns… without meeting the next
 * message's time. Up to 1000 messages per ms keep to the wall clock; beyond that the
 * stamps run briefly ahead and fall back in step when the rate drops.
 */
export interface Clock {
  /** Wall-clock time in ms (may be virtual in tests). */
  nowMs(): number;
  /** A unique, increasing arrival time in ns. */
  arrivalNs(): bigint;
}

/** Smallest distance between two arrival times. */
export const ARRIVAL_STEP_NS = 1000n;

export function systemClock(now: () => number = Date.now): Clock {
  let last = 0n;
  return {
    nowMs: now,
    arrivalNs() {
      let t = BigInt(now()) * 1_000_000n;
      if (t <= last) t = last + ARRIVAL_STEP_NS;
      last = t;
      return t;
    },
  };
}
