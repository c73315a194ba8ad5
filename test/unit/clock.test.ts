import { describe, expect, it } from 'vitest';
import { ARRIVAL_STEP_NS, systemClock } from '../../src/clock.js';

describe('systemClock', () => {
  it('stamps arrival times from the wall clock in ns', () => {
    const c = systemClock(() => 1_700_000_000_123);
    expect(c.arrivalNs()).toBe(1_700_000_000_123_000_000n);
    expect(c.nowMs()).toBe(1_700_000_000_123);
  });

  it('never repeats a stamp within one ms: steps by 1 µs, then follows the wall clock again', () => {
    let now = 1000;
    const c = systemClock(() => now);
    const a = c.arrivalNs();
    const b = c.arrivalNs();
    const d = c.arrivalNs();
    expect([b - a, d - b]).toEqual([ARRIVAL_STEP_NS, ARRIVAL_STEP_NS]);
    now = 1001;
    expect(c.arrivalNs()).toBe(1_001_000_000n);
  });

  it('does not go backwards when the wall clock does', () => {
    let now = 5000;
    const c = systemClock(() => now);
    const a = c.arrivalNs();
    now = 4000;
    expect(c.arrivalNs()).toBe(a + ARRIVAL_STEP_NS);
  });
});
