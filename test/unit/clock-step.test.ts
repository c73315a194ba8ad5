import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { ClockStepMonitor } from '../../src/observe/clock-check.js';
import type { Logger } from '../../src/observe/logger.js';

describe('ClockStepMonitor on virtual time', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('reports a forward and a backward step once each, ignoring drift below the threshold', async () => {
    let wall = Date.UTC(2025, 5, 1); // fake-hwclock's saved time
    let mono = 0;
    const warn = vi.fn();
    const steps: number[] = [];
    const m = new ClockStepMonitor({
      logger: { warn } as unknown as Logger,
      thresholdMs: 2000,
      everyMs: 1000,
      wall: () => wall,
      monotonic: () => mono,
      onStep: (s) => steps.push(s.stepMs),
    });
    m.start();
    const tick = async (ms: number, wallExtra = 0) => {
      mono += ms;
      wall += ms + wallExtra;
      await vi.advanceTimersByTimeAsync(ms);
    };
    await tick(1000, 500); // slew: below threshold
    await tick(1000, 1000); // 1.5 s total: still below
    await tick(1000, 150 * 86_400_000); // NTP sync: 150 days forward
    await tick(1000);
    await tick(1000, -5000);
    expect(steps).toEqual([150 * 86_400_000 + 1500, -5000]);
    expect(m.steps).toBe(2);
    expect(String(warn.mock.calls[0]?.[1])).toMatch(/^clock: stepped forward by 150 days; arrival timestamps follow it/);
    expect(String(warn.mock.calls[1]?.[1])).toMatch(/^clock: stepped backward by 5 s; arrival timestamps hold/);
    m.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('arrival timestamps across clock steps (the documented strategy, src/clock.ts)', () => {
  it('follow a forward step at once; hold on a backward step, never repeating a stamp', () => {
    let now = 1_000_000;
    const clock = systemClock(() => now);
    const a = clock.arrivalNs();
    now += 86_400_000; // forward a day
    const b = clock.arrivalNs();
    expect(b - a).toBe(86_400_000n * 1_000_000n);
    now -= 60_000; // back a minute
    const c = clock.arrivalNs();
    const d = clock.arrivalNs();
    expect(c).toBe(b + 1000n);
    expect(d).toBe(c + 1000n);
    now += 60_001; // the wall clock passes the last stamp again: followed
    expect(clock.arrivalNs()).toBe(BigInt(now) * 1_000_000n);
  });
});
